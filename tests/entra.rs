//! Entra ID (Azure AD) shapes end to end, from /work/shared/reference/idp-quirks.md: capitalised
//! ops, string booleans, value-filter paths that create elements, dotted and URN keys in
//! path-less values, form-encoded filters, and `Content-Type: application/json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const AUTH: &str = "Bearer dev-superuser-token";

/// Entra's provisioning service sends `application/json` bodies.
fn entra(s: &Stack, method: &str, path: &str, body: Option<&Value>) -> Reply {
    s.scim_with(method, path, &[("Authorization", AUTH), ("Content-Type", "application/json")], body)
}

fn patch(s: &Stack, id: &str, ops: Value) -> Reply {
    let r = entra(s, "PATCH", &format!("/Users/{id}"), Some(&json!({"schemas": [PATCH_OP], "Operations": ops})));
    if r.status == 200 {
        // PATCH answers 200 with the resource (idp-quirks 15), as SCIM JSON.
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert_eq!(r.body["id"], id);
        assert!(r.body["schemas"].as_array().is_some_and(|s| s.contains(&json!(CORE_USER))), "{:?}", r.body);
        assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
    }
    r
}

/// The create body Microsoft's SCIM validator and provisioning service send.
fn entra_user(email: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": format!("ext-{email}"),
        "userName": email,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "roles": []
    })
}

fn create(s: &Stack, body: &Value) -> String {
    let r = entra(s, "POST", "/Users", Some(body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    r.body["id"].as_str().unwrap().to_owned()
}

fn total(s: &Stack, query: &str) -> u64 {
    let r = entra(s, "GET", &format!("/Users?{query}"), None);
    assert_eq!(r.status, 200, "{query}: {:?}", r.body);
    r.body["totalResults"].as_u64().unwrap()
}

#[test]
fn connection_test_with_a_random_guid_is_an_empty_list() {
    let s = Stack::start();
    let r = entra(&s, "GET", "/Users?filter=userName+eq+%22d5bd3a0f-5b3b-4a5d-8f45-7b2f1c0e4a11%22", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body, json!({"schemas":[LIST],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}));
    // Entra's other lookup: by externalId.
    assert_eq!(total(&s, "filter=externalId+eq+%22d5bd3a0f-5b3b-4a5d-8f45-7b2f1c0e4a11%22"), 0);
}

#[test]
fn create_then_find_by_user_name_and_external_id() {
    let s = Stack::start();
    let email = unique_email("entra");
    let id = create(&s, &entra_user(&email, "Entra", "Person"));
    let fastly = s.fastly_user_by_login(CUSTOMER_A, &email).expect("created in Fastly");
    assert_eq!(fastly["role"], "user", "roles: [] means the default role");
    assert_eq!(fastly["name"], "Entra Person");

    let r = entra(&s, "GET", &format!("/Users?filter=userName+eq+%22{}%22", enc(&email)), None);
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    let r = entra(&s, "GET", &format!("/Users?filter=externalId+eq+%22{}%22", enc(&format!("ext-{email}"))), None);
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    // externalId is caseExact.
    let upper = enc(&format!("ext-{email}").to_uppercase());
    assert_eq!(total(&s, &format!("filter=externalId+eq+%22{upper}%22")), 0);
}

#[test]
fn capitalised_ops_and_string_booleans_deactivate_and_reactivate() {
    let s = Stack::start();
    let email = unique_email("entra-active");
    let id = create(&s, &entra_user(&email, "Off", "Boarding"));

    // "Replace" with path `active` and the string "False".
    let r = patch(&s, &id, json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none(), "offboarding removed the Fastly user");
    // Disabled users still appear in GET and filter results.
    let got = entra(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.body["active"], false);
    let r = entra(&s, "GET", &format!("/Users?filter=userName+eq+%22{}%22", enc(&email)), None);
    assert_eq!(r.body["Resources"][0]["active"], false, "{:?}", r.body);

    // Path-less, "Replace", "True".
    let r = patch(&s, &id, json!([{"op": "Replace", "value": {"active": "True"}}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], true);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());

    // Path-less "False".
    let r = patch(&s, &id, json!([{"op": "Replace", "value": {"active": "False"}}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());

    // Anything else is a precise 400, not a silent 200.
    let r = patch(&s, &id, json!([{"op": "Replace", "path": "active", "value": "Nope"}]));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = patch(&s, &id, json!([{"op": "Upsert", "path": "active", "value": true}]));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["status"], "400");
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
}

#[test]
fn add_through_a_value_filter_creates_the_element() {
    let s = Stack::start();
    let email = unique_email("entra-mail");
    // No emails at all: the userName is the login.
    let id = create(
        &s,
        &json!({"schemas": [CORE_USER], "userName": email, "name": {"givenName": "No", "familyName": "Mail"}}),
    );

    let work = unique_email("entra-work");
    let r = patch(&s, &id, json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": work}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["emails"], json!([{"type": "work", "value": work}]));

    // Again, with "Replace": the element is updated in place, not duplicated.
    let work2 = unique_email("entra-work2");
    let r = patch(&s, &id, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": work2}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["emails"], json!([{"type": "work", "value": work2}]));

    // Another type is a second element.
    let r =
        patch(&s, &id, json!([{"op": "Add", "path": "emails[type eq \"home\"].value", "value": "home@example.org"}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2);

    // "Remove" through the filter takes out just that element.
    let r = patch(&s, &id, json!([{"op": "Remove", "path": "emails[type eq \"home\"]"}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["emails"], json!([{"type": "work", "value": work2}]));

    let got = entra(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.body["emails"], json!([{"type": "work", "value": work2}]));
    // The login is the userName and does not follow the email.
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());
}

#[test]
fn path_less_dotted_and_urn_keys() {
    let s = Stack::start();
    let email = unique_email("entra-keys");
    let id = create(&s, &entra_user(&email, "Old", "Name"));

    let r = patch(
        &s,
        &id,
        json!([{"op": "Replace", "value": {
            "name.givenName": "Grace",
            "name.familyName": "Hopper",
            "name.formatted": "Grace Hopper",
            "displayName": "Grace Hopper",
            format!("{ENTERPRISE}:employeeNumber"): "701984",
        }}]),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Grace");
    assert_eq!(r.body["name"]["familyName"], "Hopper");
    assert_eq!(r.body[ENTERPRISE]["employeeNumber"], "701984");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)));
    assert!(r.body.get("name.givenName").is_none() && r.body.get(format!("{ENTERPRISE}:employeeNumber")).is_none());
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["name"], "Grace Hopper");

    // "Add" path-less with a URN key, and the manager as a plain id (Entra's shape), then "Remove".
    let r = patch(
        &s,
        &id,
        json!([
            {"op": "Add", "value": {format!("{ENTERPRISE}:department"): "Navy"}},
            {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "mgr-4711"},
            {"op": "Add", "path": "title", "value": "Rear Admiral"}
        ]),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[ENTERPRISE]["department"], "Navy");
    assert_eq!(r.body[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "mgr-4711");
    let r = patch(
        &s,
        &id,
        json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}, {"op": "Remove", "path": "title"}]),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body[ENTERPRISE].get("manager").is_none(), "{:?}", r.body);
    assert!(r.body.get("title").is_none());

    let got = entra(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.body["name"]["givenName"], "Grace");
    assert_eq!(got.body[ENTERPRISE]["department"], "Navy");
    assert_eq!(got.body[ENTERPRISE]["employeeNumber"], "701984");
}

#[test]
fn role_through_a_capitalised_add_with_a_string_primary() {
    let s = Stack::start();
    let email = unique_email("entra-role");
    let id = create(&s, &entra_user(&email, "Role", "Entra"));
    let r =
        patch(&s, &id, json!([{"op": "Add", "path": "roles", "value": [{"value": "engineer", "primary": "True"}]}]));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[FASTLY_USER]["role"], "engineer");
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["role"], "engineer");
}

#[test]
fn plus_in_filters_is_decoded_exactly_once() {
    let s = Stack::start();
    let email = unique_email("first+tag");
    assert!(email.contains('+'));
    let id = create(&s, &entra_user(&email, "Plus", "Sign"));
    let (local, domain) = email.split_once('@').unwrap();
    let (before, after) = local.split_once('+').unwrap();

    // `%2B` is a plus.
    let r = entra(&s, "GET", &format!("/Users?filter=userName+eq+%22{before}%2B{after}%40{domain}%22"), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    // A bare `+` is a space, so it names another user.
    assert_eq!(total(&s, &format!("filter=userName+eq+%22{before}+{after}%40{domain}%22")), 0);
    // `%252B` decodes once to the text `%2B`, not to a plus.
    assert_eq!(total(&s, &format!("filter=userName+eq+%22{before}%252B{after}%40{domain}%22")), 0);
    // Also through the full-listing path (not the userName index).
    let r = entra(&s, "GET", &format!("/Users?filter=userName+sw+%22{before}%2B{after}%22"), None);
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
    assert_eq!(total(&s, &format!("filter=userName+sw+%22{before}+{after}%22")), 0);
}
