//! The first vertical slice, end to end: discovery, create (stored and created in Fastly), read,
//! and SCIM JSON for every answer.

mod common;

use common::*;
use serde_json::json;

#[test]
fn service_provider_config_needs_a_token_and_is_scim_json() {
    let s = Stack::start();
    let r = s.get("/ServiceProviderConfig");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);

    let r = s.scim_with("GET", "/ServiceProviderConfig", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(r.body["status"], "401");
}

#[test]
fn created_user_exists_in_fastly_and_reads_back() {
    let s = Stack::start();
    let email = unique_email("slice");
    let r = s.post("/Users", &okta_user(&email, "Slice", "Tester"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), Some(format!("{}/Users/{id}", s.base).as_str()));
    assert!(r.body.get("password").is_none());

    let fastly = s.fastly_user_by_login(CUSTOMER_A, &email).expect("the user exists in Fastly");
    assert_eq!(fastly["role"], "user");
    assert_eq!(fastly["name"], "Slice Tester");
    // The Fastly facts are returned on request (`returned: request`).
    assert!(r.body[FASTLY_USER].get("userId").is_none());
    let facts = s.get(&format!("/Users/{id}?attributes={FASTLY_USER}:userId,{FASTLY_USER}:customerId"));
    assert_eq!(facts.body[FASTLY_USER]["userId"], fastly["id"]);
    assert_eq!(facts.body[FASTLY_USER]["customerId"], CUSTOMER_A);

    let g = s.get(&format!("/Users/{id}"));
    assert_eq!(g.status, 200);
    assert_eq!(g.body["userName"], email.as_str());
    assert_eq!(g.body["name"]["givenName"], "Slice");
    assert_eq!(g.body["active"], true);
    assert_eq!(g.header("etag"), g.body["meta"]["version"].as_str());
}

#[test]
fn unknown_routes_and_ids_are_scim_errors() {
    let s = Stack::start();
    for path in ["/Nope", "/Users/does-not-exist"] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert_eq!(r.body["status"], "404");
    }
    let r = s.scim("POST", "/Users", SUPERUSER, Some(&json!({"userName": 7})));
    assert_eq!(r.status, 400);
    assert_eq!(r.body["scimType"], "invalidValue");
}
