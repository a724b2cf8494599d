//! The Fastly API's hourly write limit: a spent budget answers 429 with `Retry-After`, and once
//! scim-edge knows the window is spent it stops spending calls that could only fail.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_spent_budget_is_429_without_another_upstream_call() {
    let s = Stack::start();
    // One write left for the bot user; its answer says the window is now spent.
    s.control("POST", "/rate_limit", Some(&json!({"user_id": "1ScimBotSuperuserA0000", "remaining": 1})));
    let first = s.post("/Users", &okta_user(&unique_email("budget"), "Budget", "One"));
    assert_eq!(first.status, 201, "{:?}", first.body);

    s.clear_upstream_requests();
    let second = s.post("/Users", &okta_user(&unique_email("budget"), "Budget", "Two"));
    assert_eq!(second.status, 429, "{:?}", second.body);
    let wait: u64 = second.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert!(s.upstream_writes().is_empty(), "no write was spent: {:?}", s.upstream_writes());
}

#[test]
fn fastly_429_becomes_scim_429_with_retry_after() {
    let s = Stack::start();
    s.control("POST", "/rate_limit", Some(&json!({"user_id": "1ScimBotSuperuserA0000", "remaining": 0})));
    let r = s.post("/Users", &okta_user(&unique_email("limited"), "Rate", "Limited"));
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.body["status"], "429");
    assert!(r.header("retry-after").is_some());
    // Reads are never limited.
    assert_eq!(s.get("/Users?count=1").status, 200);
}
