//! The Fastly lifecycle rules end to end: what each SCIM change costs in Fastly API writes (the
//! emulator's request log), control-panel users and changes seen through SCIM, and how failures
//! of the Fastly API (status, lost answer, rate limit, timeout) reach the client without leaving
//! anything half-done.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::{json, Value};

fn patch(s: &Stack, id: &str, ops: Value) -> Reply {
    s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&json!({"schemas": [PATCH_OP], "Operations": ops})))
}

/// The upstream writes `f` caused.
fn writes_of(s: &Stack, f: impl FnOnce() -> Reply) -> (Reply, Vec<Value>) {
    s.clear_upstream_requests();
    let r = f();
    (r, s.upstream_writes())
}

fn by_user_name(s: &Stack, user_name: &str) -> Vec<Value> {
    let r = s.get(&format!("/Users?filter={}", enc(&format!("userName eq \"{user_name}\""))));
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["Resources"].as_array().cloned().unwrap_or_default()
}

fn fastly_users_with_login(s: &Stack, login: &str) -> usize {
    s.fastly_users(CUSTOMER_A)
        .iter()
        .filter(|u| u["login"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(login)))
        .count()
}

fn role_values(user: &Value) -> Vec<String> {
    user["roles"].as_array().unwrap().iter().map(|r| r["value"].as_str().unwrap().to_owned()).collect()
}

fn audit_lines(s: &Stack) -> Vec<Value> {
    s.logs()
        .lines()
        .filter_map(|l| l.find("{\"").map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("operation").is_some())
        .collect()
}

fn assert_no_secret_in_logs(s: &Stack) {
    let logs = s.logs();
    for secret in [SUPERUSER, "1mz050nq"] {
        assert!(!logs.contains(secret), "the logs show '{secret}':\n{logs}");
    }
}

fn assert_scim_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["status"], status.to_string());
}

#[test]
fn each_change_costs_the_writes_fastly_needs_and_no_more() {
    let s = Stack::start();
    let email = unique_email("counted");
    let body = okta_user(&email, "Count", "Writes");

    let (r, w) = writes_of(&s, || s.post("/Users", &body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(w.len(), 1, "create: {w:#?}");
    assert_eq!((w[0]["method"].as_str(), w[0]["path"].as_str()), (Some("POST"), Some("/user")));
    assert_eq!(w[0]["form"], json!({"login": email, "name": "Count Writes", "role": "user"}));
    let fastly_id = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["id"].as_str().unwrap().to_owned();

    let (r, w) =
        writes_of(&s, || patch(&s, &id, json!([{"op": "replace", "path": "roles", "value": [{"value": "engineer"}]}])));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(w.len(), 1, "role change: {w:#?}");
    assert_eq!(
        (w[0]["method"].as_str(), w[0]["path"].as_str()),
        (Some("PUT"), Some(format!("/user/{fastly_id}").as_str()))
    );
    assert_eq!(w[0]["form"], json!({"role": "engineer"}));
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["role"], "engineer");

    // Changes Fastly does not hold, and a PUT of what GET shows, spend nothing.
    let (r, w) = writes_of(&s, || patch(&s, &id, json!([{"op": "add", "path": "title", "value": "Counter"}])));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(w.is_empty(), "title: {w:#?}");
    let shown = s.get(&format!("/Users/{id}")).body;
    let (r, w) = writes_of(&s, || s.scim("PUT", &format!("/Users/{id}"), SUPERUSER, Some(&shown)));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(w.is_empty(), "identical PUT: {w:#?}");
    assert_eq!(r.body["meta"]["version"], shown["meta"]["version"], "an echo is no change");

    let (r, w) = writes_of(&s, || patch(&s, &id, json!([{"op": "replace", "value": {"active": false}}])));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(w.len(), 1, "deactivate: {w:#?}");
    assert_eq!(
        (w[0]["method"].as_str(), w[0]["path"].as_str()),
        (Some("DELETE"), Some(format!("/user/{fastly_id}").as_str()))
    );
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none(), "no access left");
    assert_eq!(s.get(&format!("/Users/{id}")).body["active"], false);
    let found = by_user_name(&s, &email);
    assert_eq!((found.len(), found[0]["active"].clone()), (1, json!(false)));

    let (r, w) = writes_of(&s, || patch(&s, &id, json!([{"op": "replace", "value": {"active": true}}])));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["id"].as_str(), r.body["active"].clone()), (Some(id.as_str()), json!(true)));
    assert_eq!(w.len(), 1, "reactivate: {w:#?}");
    assert_eq!(w[0]["form"], json!({"login": email, "name": "Count Writes", "role": "engineer"}));
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["role"], "engineer");

    let (r, w) = writes_of(&s, || s.scim("DELETE", &format!("/Users/{id}"), SUPERUSER, None));
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(w.len(), 1, "delete: {w:#?}");
    assert_eq!(s.get(&format!("/Users/{id}")).status, 404);
    assert_eq!(fastly_users_with_login(&s, &email), 0);

    // One audit line per change, naming it; none carries a token or a password.
    let ops: Vec<String> = audit_lines(&s)
        .iter()
        .filter(|l| l["scim_id"] == id.as_str())
        .map(|l| l["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["create", "update", "update", "deactivate", "reactivate", "delete"], "{}", s.logs());
    assert_no_secret_in_logs(&s);
}

#[test]
fn import_shows_control_panel_users_and_changes_made_in_fastly() {
    let s = Stack::start();
    let r = s.get("/Users?startIndex=1&count=100");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let users = r.body["Resources"].as_array().unwrap().clone();
    assert_eq!(users.len(), s.fastly_users(CUSTOMER_A).len());
    let carol = users.iter().find(|u| u["userName"] == "carol@example.com").unwrap();
    assert_eq!(carol["id"], "1CarolTwoRolesA0000000");
    assert_eq!(role_values(carol), ["engineer", "billing"]);
    assert!(users.iter().all(|u| u["userName"] != "erin@example.net"), "another account's user");

    // A role changed in the control panel shows on the next GET, for a control-panel user…
    let bob = "1BobUserA0000000000000";
    let r = s.fastly_form("PUT", &format!("/user/{bob}"), SUPERUSER, &[("role", "billing")]);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let g = s.get(&format!("/Users/{bob}"));
    assert_eq!(
        (role_values(&g.body), g.body[FASTLY_USER]["role"].clone()),
        (vec!["billing".to_owned()], json!("billing"))
    );

    // …and for one SCIM created.
    let email = unique_email("changed");
    let r = s.post("/Users", &okta_user(&email, "Changed", "Elsewhere"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let fastly_id = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["id"].as_str().unwrap().to_owned();
    let r = s.fastly_form(
        "PUT",
        &format!("/user/{fastly_id}"),
        SUPERUSER,
        &[("roles[]", "engineer"), ("roles[]", "tls_viewer")],
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let g = s.get(&format!("/Users/{id}"));
    assert_eq!(role_values(&g.body), ["engineer", "tls_viewer"]);
    let listed = s.get("/Users?count=100").body["Resources"].as_array().unwrap().clone();
    assert_eq!(role_values(listed.iter().find(|u| u["id"] == id.as_str()).unwrap()), ["engineer", "tls_viewer"]);

    // A user deleted in Fastly shows active:false, by id, by userName and in the import.
    let r = s.fastly("DELETE", &format!("/user/{fastly_id}"), SUPERUSER);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(s.get(&format!("/Users/{id}")).body["active"], false);
    assert_eq!(by_user_name(&s, &email)[0]["active"], false);
    let listed = s.get("/Users?count=100").body["Resources"].as_array().unwrap().clone();
    assert_eq!(listed.iter().find(|u| u["id"] == id.as_str()).unwrap()["active"], false);
    // Reactivating brings access back in one write.
    let (r, w) = writes_of(&s, || patch(&s, &id, json!([{"op": "replace", "value": {"active": true}}])));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(fastly_users_with_login(&s, &email), 1);
}

#[test]
fn a_fastly_5xx_on_create_is_502_and_leaves_nothing_half_done() {
    let s = Stack::start();
    let email = unique_email("fivexx");
    s.fault(json!({"method": "POST", "path_prefix": "/user", "status": 503}));
    let r = s.post("/Users", &okta_user(&email, "Five", "Hundred"));
    assert_scim_error(&r, 502);
    assert_eq!(fastly_users_with_login(&s, &email), 0);
    assert!(by_user_name(&s, &email).is_empty(), "no SCIM user either");

    let r = s.post("/Users", &okta_user(&email, "Five", "Hundred"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(fastly_users_with_login(&s, &email), 1);
    assert_eq!(by_user_name(&s, &email).len(), 1);
    let failed = audit_lines(&s).into_iter().find(|l| l["result"] == "failed").expect("the failure is audited");
    assert_eq!(failed["operation"], "create");
    assert_no_secret_in_logs(&s);
}

#[test]
fn a_lost_answer_on_create_converges_to_one_fastly_user_on_retry() {
    let s = Stack::start();
    let email = unique_email("dropped");
    let body = okta_user(&email, "Lost", "Answer");
    s.fault(json!({"method": "POST", "path_prefix": "/user", "drop_response": true}));
    let r = s.post("/Users", &body);
    assert_scim_error(&r, 503);
    assert_eq!(fastly_users_with_login(&s, &email), 1, "Fastly applied the create");

    let r = s.post("/Users", &body);
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(fastly_users_with_login(&s, &email), 1);
    let id = r.body["id"].as_str().unwrap();
    let fastly_id = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["id"].clone();
    let facts = s.get(&format!("/Users/{id}?attributes={FASTLY_USER}:userId"));
    assert_eq!(facts.body[FASTLY_USER]["userId"], fastly_id);
    // Listed once, under the SCIM id.
    let listed = s.get("/Users?count=100").body["Resources"].as_array().unwrap().clone();
    assert_eq!(listed.iter().filter(|u| u["userName"] == email.as_str()).count(), 1);
}

#[test]
fn a_spent_hourly_budget_is_429_with_retry_after() {
    let s = Stack::start();
    let email = unique_email("limited");
    let r = s.control("POST", "/rate_limit", Some(&json!({"remaining": 0})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s.post("/Users", &okta_user(&email, "Rate", "Limited"));
    assert_scim_error(&r, 429);
    let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(fastly_users_with_login(&s, &email), 0);
    assert!(by_user_name(&s, &email).is_empty());
}

#[test]
fn a_fastly_api_slower_than_the_backend_timeout_is_504() {
    let s = Stack::start_with(|toml| {
        toml.replace(
            "[local_server.backends.fastly_api]\n",
            "[local_server.backends.fastly_api]\n    first_byte_timeout_ms = 3000\n",
        )
    });
    let email = unique_email("slow");
    let body = okta_user(&email, "Slow", "Api");
    assert_eq!(s.get("/ServiceProviderConfig").status, 200, "authenticated before the delay");
    s.fault(json!({"method": "POST", "path_prefix": "/user", "delay_ms": 5000}));
    let r = s.post("/Users", &body);
    assert_scim_error(&r, 504);
    // The emulator applies the create once its delay is over; the retry adopts that user.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fastly_users_with_login(&s, &email) == 0 {
        assert!(std::time::Instant::now() < deadline, "the delayed create never landed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = s.post("/Users", &body);
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(fastly_users_with_login(&s, &email), 1);
}
