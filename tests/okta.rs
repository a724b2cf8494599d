//! The Okta lifecycle end to end, as /work/shared/reference/okta-expectations.md describes it:
//! the requests Okta (and its SPEC test) sends, with Okta's headers, and the answers it needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// What Okta's provisioning client sends (H1), with the token configured as `Bearer …`.
fn okta_headers(auth: &str) -> Vec<(&str, &str)> {
    vec![
        ("Authorization", auth),
        ("User-Agent", "Okta SCIM Client 1.0.0"),
        ("Accept", "application/scim+json"),
        ("Accept-Charset", "utf-8"),
    ]
}

const AUTH: &str = "Bearer dev-superuser-token";

fn okta(s: &Stack, method: &str, path: &str, body: Option<&Value>) -> Reply {
    s.scim_with(method, path, &okta_headers(AUTH), body)
}

/// `GET /Users?filter=userName eq "<user_name>"&startIndex=1&count=100`, percent-encoded as Okta does (H4).
fn lookup(s: &Stack, user_name: &str) -> Reply {
    let filter = enc(&format!("userName eq \"{user_name}\""));
    let r = okta(s, "GET", &format!("/Users?filter={filter}&startIndex=1&count=100"), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_counters_are_integers(&r.body);
    r
}

fn assert_counters_are_integers(body: &Value) {
    assert_eq!(body["schemas"], json!([LIST]), "{body}");
    for k in ["totalResults", "startIndex", "itemsPerPage"] {
        assert!(body[k].is_u64(), "{k} must be a JSON integer: {body}");
    }
    let returned = body["Resources"].as_array().map_or(0, Vec::len);
    assert_eq!(body["itemsPerPage"].as_u64(), Some(returned as u64), "itemsPerPage is the number returned: {body}");
}

fn assert_scim_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert!(r.body["schemas"].as_array().unwrap().iter().any(|s| s == ERROR), "{:?}", r.body);
    assert_eq!(r.body["status"], status.to_string());
    assert!(!r.body["detail"].as_str().unwrap_or("").is_empty(), "{:?}", r.body);
}

#[test]
fn connection_test_and_lookup_miss() {
    let s = Stack::start();
    // C1: "Test API Credentials".
    let r = okta(&s, "GET", "/Users?startIndex=1&count=2", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_counters_are_integers(&r.body);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["itemsPerPage"], 2, "the seed has more than two users");
    assert!(r.body["totalResults"].as_u64().unwrap() >= 6);

    // L1: the SPEC's invalid user, exactly as sent on the wire.
    let r = okta(&s, "GET", "/Users?filter=userName%20eq%20%22abcdefgh%40atko.com%22&startIndex=1&count=100", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"schemas":[LIST],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}),
        "Okta needs an empty list, not a 404"
    );

    // H2: the Runscope SPEC test sends a SCIM content type even on GETs without a body.
    let headers = [
        ("Authorization", AUTH),
        ("User-Agent", "OKTA SCIM Integration"),
        ("Content-Type", "application/scim+json; charset=utf-8"),
        ("Accept", "application/scim+json; charset=utf-8"),
    ];
    let r = s.scim_with("GET", "/Users?count=1&startIndex=1", &headers, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_counters_are_integers(&r.body);
    let first = &r.body["Resources"][0];
    for field in ["id", "userName"] {
        assert!(!first[field].as_str().unwrap_or("").is_empty(), "R1 needs {field}: {first}");
    }
    assert!(first["active"].is_boolean());
    assert!(!first["emails"][0]["value"].as_str().unwrap_or("").is_empty());
}

#[test]
fn full_lifecycle_create_lookup_update_deactivate_reactivate() {
    let s = Stack::start();
    let email = unique_email("Runscope123Abcdefghi123");

    // L1 then P1.
    assert_eq!(lookup(&s, &email).body["totalResults"], 0);
    let r = okta(&s, "POST", "/Users", Some(&okta_user(&email, "Runscope123", "Abcdefghi123")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("an id").to_owned();
    assert!(!id.is_empty());
    assert_eq!(r.header("location"), Some(format!("{}/Users/{id}", s.base).as_str()));
    assert_eq!(r.body["meta"]["location"], format!("{}/Users/{id}", s.base));
    assert!(r.body.get("password").is_none(), "the password is never returned: {}", r.body);
    assert!(r.body.get("groups").is_none(), "groups: [] is accepted and not stored: {}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], email.as_str());
    assert_eq!(r.body["name"]["givenName"], "Runscope123");
    assert_eq!(r.body["name"]["familyName"], "Abcdefghi123");
    assert_eq!(r.body["emails"][0]["value"], email.as_str());
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(CORE_USER)));
    let fastly = s.fastly_user_by_login(CUSTOMER_A, &email).expect("created in Fastly");
    assert_eq!(fastly["role"], "user");
    assert!(!s.logs().contains("1mz050nq"), "the password must never reach a log");
    let sent_password = s.upstream_requests().iter().any(|q| q["body"].as_str().unwrap_or("").contains("1mz050nq"));
    assert!(!sent_password, "the password is never forwarded to Fastly");

    // L2 / L3: found by userName, also upper-cased.
    for name in [email.clone(), email.to_uppercase()] {
        let r = lookup(&s, &name);
        assert_eq!(r.body["totalResults"], 1, "{name}: {:?}", r.body);
        let u = &r.body["Resources"][0];
        assert_eq!(u["id"], id.as_str());
        assert_eq!(u["userName"], email.as_str());
        assert_eq!(u["name"]["givenName"], "Runscope123");
        assert_eq!(u["name"]["familyName"], "Abcdefghi123");
        assert_eq!(u["emails"][0]["value"], email.as_str());
        assert_eq!(u["active"], true);
    }

    // P4: the same userName again, also differing only in case → 409 uniqueness, no Fastly write.
    s.clear_upstream_requests();
    for name in [email.clone(), email.to_uppercase()] {
        let spec_body = json!({"schemas":[CORE_USER],"userName":name,"name":{"givenName":"Runscope123","familyName":"Abcdefghi123"},
            "emails":[{"primary":true,"value":name,"type":"work"}],"displayName":"Runscope123 Abcdefghi123","active":true});
        let r = s.scim_with(
            "POST",
            "/Users",
            &[("Authorization", AUTH), ("Content-Type", "application/json")],
            Some(&spec_body),
        );
        assert_scim_error(&r, 409);
        assert_eq!(r.body["scimType"], "uniqueness");
    }
    assert!(s.upstream_writes().is_empty(), "a duplicate spends no Fastly write: {:?}", s.upstream_writes());

    // P3 / R2.
    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["id"], id.as_str());
    assert_eq!(got.body["userName"], email.as_str());
    assert_eq!(got.body["name"]["givenName"], "Runscope123");

    // U1: the fetched object, with Okta's changes merged in; id, meta, groups and password echoed.
    let mut put = got.body.clone();
    put["name"] = json!({"givenName": "Runscope123update", "middleName": "Excited", "familyName": "Abcdefghi123"});
    put["groups"] = json!([]);
    put["password"] = json!("1mz050nq");
    put["title"] = json!("Engineer");
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["name"]["givenName"], "Runscope123update");
    assert!(r.body.get("password").is_none());
    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.body["name"]["givenName"], "Runscope123update", "CRUD 'Verify firstname update'");
    assert_eq!(got.body["name"]["middleName"], "Excited");
    assert_eq!(got.body["title"], "Engineer");
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["name"], "Runscope123update Abcdefghi123");

    // P5: the role as an Okta custom attribute in the Fastly extension namespace, in a PUT of
    // the fetched object (which also echoes roles[] and the extension's read-only facts).
    let mut put = got.body.clone();
    put["schemas"] = json!([CORE_USER, FASTLY_USER]);
    put[FASTLY_USER]["role"] = json!("engineer");
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[FASTLY_USER]["role"], "engineer");
    let fastly = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap();
    assert_eq!(fastly["role"], "engineer");
    assert_eq!(okta(&s, "GET", &format!("/Users/{id}"), None).body[FASTLY_USER]["role"], "engineer");

    // D1: path-less deactivation.
    let deactivate = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":false}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&deactivate));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["id"], id.as_str());
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none(), "deactivation removes the Fastly user");
    // D3: still there, inactive.
    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200, "a deactivated user must not 404: {:?}", got.body);
    assert_eq!(got.body["active"], false);
    // D4: reassignment starts with the filter, which must still find the inactive user.
    let r = lookup(&s, &email);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    assert_eq!(r.body["Resources"][0]["active"], false);

    // D4: reactivation, same SCIM id, Fastly user back with the last role.
    let reactivate = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":true}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&reactivate));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], true);
    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.body["id"], id.as_str());
    assert_eq!(got.body["active"], true);
    assert_eq!(got.body[FASTLY_USER]["role"], "engineer");
    let fastly = s.fastly_user_by_login(CUSTOMER_A, &email).expect("the Fastly user is back");
    assert_eq!(fastly["role"], "engineer", "reactivation restores the last role");
    assert_eq!(fastly["name"], "Runscope123update Abcdefghi123");
}

#[test]
fn wizard_apps_deactivate_and_reactivate_with_put() {
    let s = Stack::start();
    let email = unique_email("aiw");
    let r = okta(&s, "POST", "/Users", Some(&okta_user(&email, "Wiz", "Ard")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    // D2: the whole object with active:false.
    let mut put = okta(&s, "GET", &format!("/Users/{id}"), None).body;
    put["active"] = json!(false);
    put["password"] = json!("secret-okta-sends");
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
    assert_eq!(okta(&s, "GET", &format!("/Users/{id}"), None).body["active"], false);

    // U2: empty values ("push empty values") are no error.
    let mut put = okta(&s, "GET", &format!("/Users/{id}"), None).body;
    put["active"] = json!(true);
    put["title"] = json!("");
    put["nickName"] = json!("");
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["id"], id.as_str());
    assert!(r.body.get("title").is_none());
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).expect("back in Fastly")["role"], "user");
}

#[test]
fn create_with_role_in_the_okta_custom_attribute_form() {
    let s = Stack::start();
    let email = unique_email("okta-role");
    let mut body = okta_user(&email, "Role", "Holder");
    body["schemas"] = json!([CORE_USER, FASTLY_USER]);
    body[FASTLY_USER] = json!({"role": "engineer"});
    let r = okta(&s, "POST", "/Users", Some(&body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body[FASTLY_USER]["role"], "engineer");
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["role"], "engineer");

    // An unknown role is refused with the roles that exist, and nothing is created.
    let other = unique_email("okta-badrole");
    let mut body = okta_user(&other, "Bad", "Role");
    body[FASTLY_USER] = json!({"role": "admin"});
    let r = okta(&s, "POST", "/Users", Some(&body));
    assert_scim_error(&r, 400);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(r.body["detail"].as_str().unwrap().contains("engineer"), "{:?}", r.body);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &other).is_none());
    assert_eq!(lookup(&s, &other).body["totalResults"], 0);
}

#[test]
fn bad_credentials_are_401_scim_errors() {
    let s = Stack::start();
    let filter = enc("userName eq \"RUNSCOPE123ABCDEFGHI123@ATKO.COM\"");
    let path = format!("/Users?filter={filter}");
    // A1: the SPEC's literal "non-token".
    let r = s.scim_with("GET", &path, &okta_headers("non-token"), None);
    assert_scim_error(&r, 401);
    // A2: no Authorization, and a bearer token Fastly does not know.
    assert_scim_error(&s.scim_with("GET", &path, &[("User-Agent", "Okta SCIM Client 1.0.0")], None), 401);
    assert_scim_error(&s.scim_with("GET", &path, &okta_headers("Bearer not-a-fastly-token"), None), 401);
    // H3: the same token sent as Basic works.
    let r = s.scim_with("GET", &path, &okta_headers("Basic b2t0YTpkZXYtc3VwZXJ1c2VyLXRva2Vu"), None);
    assert_eq!(r.status, 200, "Basic okta:dev-superuser-token: {:?}", r.body);
}

#[test]
fn unknown_ids_are_404_scim_errors() {
    let s = Stack::start();
    // R3: the SPEC's ids.
    for id in ["010101001010101011001010101011", "00919288221112222"] {
        let r = okta(&s, "GET", &format!("/Users/{id}"), None);
        assert_scim_error(&r, 404);
    }
    // G1: a Users-only server answers the optional Groups step with 404.
    assert_scim_error(&okta(&s, "GET", "/Groups?startIndex=1&count=100", None), 404);
}

/// R4: every page of an import, `count` at a time.
fn import(s: &Stack, count: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = 1;
    loop {
        let r = okta(s, "GET", &format!("/Users?startIndex={start}&count={count}"), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_counters_are_integers(&r.body);
        assert_eq!(r.body["startIndex"], start);
        let total = r.body["totalResults"].as_u64().unwrap() as usize;
        let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
        let expected = count.min(total.saturating_sub(start - 1));
        assert_eq!(page.len(), expected, "page at {start} of {total}");
        all.extend(page);
        start += count;
        if start > total {
            assert_eq!(all.len(), total);
            return all;
        }
    }
}

#[test]
fn import_pages_cover_every_user_stably() {
    let s = Stack::start();
    let mut ours = Vec::new();
    for i in 0..3 {
        let email = unique_email(&format!("import{i}"));
        let r = okta(&s, "POST", "/Users", Some(&okta_user(&email, "Import", &format!("User{i}"))));
        assert_eq!(r.status, 201, "{:?}", r.body);
        ours.push((r.body["id"].as_str().unwrap().to_owned(), email));
    }
    // One of them deactivated: the record stays and is listed, inactive.
    let deactivate = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":false}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{}", ours[2].0), Some(&deactivate));
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A user made in the control panel after the stack started.
    let panel_login = unique_email("panel");
    let r = s.fastly_form(
        "POST",
        "/user",
        SUPERUSER,
        &[("login", &panel_login), ("name", "Panel Made"), ("role", "billing")],
    );
    assert_eq!(r.status, 200, "{:?}", r.body);

    let pages = import(&s, 2);
    let ids: Vec<&str> = pages.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no user on two pages: {ids:?}");
    let by_name = |name: &str| pages.iter().find(|u| u["userName"] == name).unwrap_or_else(|| panic!("{name} missing"));
    for seed in [
        "scim-bot@example.com",
        "engineer@example.com",
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.org",
    ] {
        let u = by_name(seed);
        assert_eq!(u["active"], true, "{u}");
    }
    assert_eq!(by_name("alice@example.com")[FASTLY_USER]["role"], "engineer");
    assert_eq!(by_name("alice@example.com")["name"]["givenName"], "Alice");
    assert_eq!(by_name("dave@example.org")[FASTLY_USER]["role"], "billing");
    assert_eq!(by_name(&panel_login)[FASTLY_USER]["role"], "billing");
    assert!(!pages.iter().any(|u| u["userName"] == "erin@example.net"), "another customer's users never show");
    for (i, (id, email)) in ours.iter().enumerate() {
        let u = by_name(email);
        assert_eq!(u["id"], id.as_str());
        assert_eq!(u["active"], i != 2, "{u}");
    }
    assert_eq!(pages.len(), 6 + 3 + 1);

    // Stable, and independent of the page size.
    let again: Vec<Value> = import(&s, 2);
    assert_eq!(again, pages);
    let big = import(&s, 100);
    let big_ids: Vec<&str> = big.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(big_ids, ids);
    let threes = import(&s, 3);
    let three_ids: Vec<&str> = threes.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(three_ids, ids);

    // Past the end: an empty page, counters still right.
    let r = okta(&s, "GET", "/Users?startIndex=500&count=2", None);
    assert_eq!(r.status, 200);
    assert_counters_are_integers(&r.body);
    assert_eq!(r.body["totalResults"], 10);
    assert_eq!(r.body["itemsPerPage"], 0);

    // count=0: the total only.
    let r = okta(&s, "GET", "/Users?count=0", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_counters_are_integers(&r.body);
    assert_eq!(r.body["totalResults"], 10);
    assert_eq!(r.body["itemsPerPage"], 0);
    assert!(r.body["Resources"].as_array().is_none_or(Vec::is_empty), "{:?}", r.body);
}

#[test]
fn role_changed_in_the_control_panel_shows_in_scim() {
    let s = Stack::start();
    let email = unique_email("panel-role");
    let r = okta(&s, "POST", "/Users", Some(&okta_user(&email, "Panel", "Role")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let fid = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["id"].as_str().unwrap().to_owned();
    let r = s.fastly_form("PUT", &format!("/user/{fid}"), SUPERUSER, &[("role", "billing")]);
    assert_eq!(r.status, 200, "{:?}", r.body);

    assert_eq!(okta(&s, "GET", &format!("/Users/{id}"), None).body[FASTLY_USER]["role"], "billing");
    let r = lookup(&s, &email);
    assert_eq!(r.body["Resources"][0][FASTLY_USER]["role"], "billing");
    let listed = import(&s, 100);
    let u = listed.iter().find(|u| u["id"] == id.as_str()).unwrap();
    assert_eq!(u[FASTLY_USER]["role"], "billing");
}

#[test]
fn control_panel_user_found_by_lookup_is_linked_and_managed() {
    let s = Stack::start();
    // L1 matches a user made in the Fastly control panel: Okta links to it (PLAN C9335).
    let r = lookup(&s, "Alice@Example.com");
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
    let alice = r.body["Resources"][0].clone();
    let id = alice["id"].as_str().unwrap().to_owned();
    assert_eq!(alice["userName"], "alice@example.com");
    assert_eq!(alice["active"], true);
    assert_eq!(alice[FASTLY_USER]["role"], "engineer");

    // Okta pushes its profile with a PUT of the fetched object.
    let mut put = okta(&s, "GET", &format!("/Users/{id}"), None).body;
    put["name"] = json!({"givenName": "Alicia", "familyName": "Example"});
    put["externalId"] = json!("00ualice");
    put["groups"] = json!([]);
    put["password"] = json!("whatever");
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let fastly = s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").unwrap();
    assert_eq!(fastly["name"], "Alicia Example");
    assert_eq!(fastly["role"], "engineer", "an echoed role changes nothing");
    let r = lookup(&s, "alice@example.com");
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    assert_eq!(r.body["Resources"][0]["externalId"], "00ualice");

    // Deactivate and reactivate: same SCIM id, the role it had.
    let op = |active: bool| json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":active}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&op(false)));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").is_none());
    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["active"], false);
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&op(true)));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let fastly = s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").expect("alice is back");
    assert_eq!(fastly["role"], "engineer");
    assert_eq!(fastly["name"], "Alicia Example");
    // Listed once, under the id Okta knows.
    let all = import(&s, 100);
    let alices: Vec<&Value> = all.iter().filter(|u| u["userName"] == "alice@example.com").collect();
    assert_eq!(alices.len(), 1, "{alices:?}");
    assert_eq!(alices[0]["id"], id.as_str());
}

#[test]
fn echoing_several_control_panel_roles_keeps_them() {
    let s = Stack::start();
    let r = lookup(&s, "carol@example.com");
    let id = r.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    let mut put = okta(&s, "GET", &format!("/Users/{id}"), None).body;
    let roles: HashSet<&str> = put["roles"].as_array().unwrap().iter().map(|r| r["value"].as_str().unwrap()).collect();
    assert_eq!(roles, HashSet::from(["engineer", "billing"]));
    put["title"] = json!("Accountant");
    s.clear_upstream_requests();
    let r = okta(&s, "PUT", &format!("/Users/{id}"), Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["title"], "Accountant");
    assert!(s.upstream_writes().is_empty(), "a title is not a Fastly field: {:?}", s.upstream_writes());
    let carol = s.fastly_user_by_login(CUSTOMER_A, "carol@example.com").unwrap();
    assert_eq!(carol["roles"], json!(["engineer", "billing"]), "roles are never collapsed behind the admin's back");

    // Password sync (D5): accepted, never returned, never forwarded.
    let op = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"password":"n3w-Passw0rd"}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&op));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get("password").is_none());
    assert!(s.upstream_writes().is_empty(), "{:?}", s.upstream_writes());
    assert!(!s.logs().contains("n3w-Passw0rd"));
}

#[test]
fn creating_a_login_that_exists_in_the_control_panel_adopts_it() {
    let s = Stack::start();
    // The login exists in Fastly but not in SCIM's store (made in the control panel, or an
    // earlier create whose answer was lost): the create adopts that Fastly user.
    let r = okta(&s, "POST", "/Users", Some(&okta_user("bob@example.com", "Bob", "Example")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let in_fastly: Vec<Value> =
        s.fastly_users(CUSTOMER_A).into_iter().filter(|u| u["login"] == "bob@example.com").collect();
    assert_eq!(in_fastly.len(), 1);
    assert_eq!(in_fastly[0]["id"], "1BobUserA0000000000000", "the same Fastly user, not a new one");
    // Listed once, under the new SCIM id.
    let all = import(&s, 100);
    let bobs: Vec<&Value> = all.iter().filter(|u| u["userName"] == "bob@example.com").collect();
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["id"], id.as_str());
    let r = lookup(&s, "bob@example.com");
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    // And a second create is a duplicate.
    let r = okta(&s, "POST", "/Users", Some(&okta_user("BOB@example.com", "Bob", "Example")));
    assert_scim_error(&r, 409);
}

#[test]
fn user_deleted_in_the_control_panel_reads_inactive_and_comes_back() {
    let s = Stack::start();
    let email = unique_email("panel-deleted");
    let r = okta(&s, "POST", "/Users", Some(&okta_user(&email, "Gone", "Away")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let fid = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap()["id"].as_str().unwrap().to_owned();
    let r = s.fastly_form("DELETE", &format!("/user/{fid}"), SUPERUSER, &[]);
    assert_eq!(r.status, 200, "{:?}", r.body);

    let got = okta(&s, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.body["active"], false, "no Fastly user means no access");
    assert_eq!(lookup(&s, &email).body["Resources"][0]["active"], false);
    let listed = import(&s, 100);
    assert_eq!(listed.iter().find(|u| u["id"] == id.as_str()).unwrap()["active"], false);

    let op = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":true}}]});
    let r = okta(&s, "PATCH", &format!("/Users/{id}"), Some(&op));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], true);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());
}
