//! Authentication and tenancy, end to end: which tokens get in (and why the others do not), the
//! verdict cache, credentials hygiene, customer isolation, and JWT mode with tokens minted by the
//! mint command's library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use base64::Engine;
use common::*;
use scim_edge::auth::jwt::{self, Claims, SigningKey};
use serde_json::{json, Value};

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// fastly.toml `[local_server.secret_stores]`: the dev HS256 key.
const LOCAL_HS256_KEY: &str = "dev-only-jwt-signing-key-change-me";
/// fastly.toml `[local_server.config_stores]`: `jwt_issuer` and `jwt_audience`.
const LOCAL_ISSUER: &str = "scim-edge-local";
const LOCAL_AUDIENCE: &str = "scim-edge-local";
const ALICE_A: &str = "1AliceEngineerA0000000";

/// A request to any path of the service (not only under /scim/v2).
fn at_origin(s: &Stack, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = ureq::request(method, &format!("{}{path}", s.origin));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

fn assert_scim_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["schemas"], json!([ERROR_SCHEMA]));
    assert_eq!(r.body["status"], status.to_string());
    assert!(!r.body["detail"].as_str().unwrap_or("").is_empty());
}

/// Upstream calls that validate a token.
fn validation_calls(s: &Stack) -> usize {
    s.upstream_requests().iter().filter(|r| r["path"] == "/tokens/self" || r["path"] == "/current_user").count()
}

/// A call to a Fastly API route (not a connection probe or a DNS query).
fn is_api_call(r: &Value) -> bool {
    let path = r["path"].as_str().unwrap_or("");
    ["/user", "/customer/", "/tokens", "/current_user"].iter().any(|p| path.starts_with(p))
}

fn user_names(r: &Reply) -> Vec<String> {
    r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_lowercase()).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn deactivate() -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]})
}

#[test]
fn only_a_superusers_global_all_services_token_gets_in() {
    let s = Stack::start();
    let r = s.scim("GET", "/Users", SUPERUSER, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    for (token, words) in [(ENGINEER, "superuser"), (READONLY, "'global' scope"), (LIMITED, "all services")] {
        let r = s.scim("GET", "/Users", token, None);
        assert_scim_error(&r, 403);
        assert!(r.body["detail"].as_str().unwrap().contains(words), "{token}: {:?}", r.body);
    }
    let r = s.scim("GET", "/Users", EXPIRED, None);
    assert_scim_error(&r, 401);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"), "{:?}", r.body);
    let r = s.scim("GET", "/Users", "no-such-token-anywhere", None);
    assert_scim_error(&r, 401);
    // Okta's SPEC test A1: `Authorization: non-token`.
    let r = s.scim_with("GET", "/Users?filter=userName%20eq%20%22X%22", &[("Authorization", "non-token")], None);
    assert_scim_error(&r, 401);
    // Another customer's superuser is a superuser too.
    assert_eq!(s.scim("GET", "/Users", OTHER_SUPERUSER, None).status, 200);
}

#[test]
fn basic_auth_carries_the_token_as_password() {
    let s = Stack::start();
    let basic = |user_pass: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass));
    let r =
        s.scim_with("GET", "/ServiceProviderConfig", &[("Authorization", &basic(&format!("okta:{SUPERUSER}")))], None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s.scim_with("GET", "/Users", &[("Authorization", &basic(&format!("okta:{ENGINEER}")))], None);
    assert_scim_error(&r, 403);
    let r = s.scim_with("GET", "/Users", &[("Authorization", &basic("okta:wrong"))], None);
    assert_scim_error(&r, 401);
    let r = s.scim_with("GET", "/Users", &[("Authorization", "Basic not-base64!")], None);
    assert_scim_error(&r, 401);
}

#[test]
fn every_endpoint_but_health_needs_a_token() {
    let s = Stack::start();
    s.clear_upstream_requests();
    let user = okta_user("nobody@example.com", "No", "Body");
    for (method, path, body) in [
        ("GET", "/ServiceProviderConfig", None),
        ("GET", "/ResourceTypes", None),
        ("GET", "/ResourceTypes/User", None),
        ("GET", "/Schemas", None),
        ("GET", &format!("/Schemas/{CORE_USER}") as &str, None),
        ("GET", "/Users", None),
        ("GET", "/Users?filter=userName%20eq%20%22alice%40example.com%22", None),
        ("POST", "/Users", Some(&user)),
        ("POST", "/Users/.search", Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}))),
        ("GET", &format!("/Users/{ALICE_A}") as &str, None),
        ("PUT", &format!("/Users/{ALICE_A}") as &str, Some(&user)),
        ("PATCH", &format!("/Users/{ALICE_A}") as &str, Some(&deactivate())),
        ("DELETE", &format!("/Users/{ALICE_A}") as &str, None),
        ("GET", "/Groups", None),
        ("GET", "/NoSuchThing", None),
    ] {
        let r = s.scim_with(method, path, &[], body);
        assert_scim_error(&r, 401);
        let r = s.scim(method, path, "dev-unknown-token", body);
        assert_eq!(r.status, 401, "{method} {path}");
    }
    // The admin API too.
    let (status, body) = at_origin(&s, "GET", "/admin/domains", &[]);
    assert_eq!(status, 401, "{body}");
    // Nothing was read or written in Fastly for the anonymous requests.
    assert!(s.upstream_writes().is_empty());
    assert!(s.upstream_requests().iter().all(|r| r["path"] == "/tokens/self"), "{:?}", s.upstream_requests());
    let (status, body) = at_origin(&s, "GET", "/health", &[]);
    assert_eq!((status, body.contains("ok")), (200, true), "{body}");
    // Alice is untouched.
    assert!(s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").is_some());
}

#[test]
fn a_verdict_is_reused_so_the_warm_path_makes_no_validation_call() {
    let s = Stack::start();
    s.clear_upstream_requests();
    assert_eq!(s.get("/ServiceProviderConfig").status, 200);
    assert_eq!(validation_calls(&s), 2, "GET /tokens/self and GET /current_user");
    s.clear_upstream_requests();
    assert_eq!(s.get("/ServiceProviderConfig").status, 200);
    assert_eq!(s.get("/Users?count=1").status, 200);
    assert_eq!(validation_calls(&s), 0);
    // Refusals are cached too.
    s.clear_upstream_requests();
    assert_eq!(s.scim("GET", "/Users", ENGINEER, None).status, 403);
    let first = validation_calls(&s);
    assert!(first >= 1);
    assert_eq!(s.scim("GET", "/Users", ENGINEER, None).status, 403);
    assert_eq!(validation_calls(&s), first);
}

#[test]
fn credentials_are_never_logged_echoed_or_sent_upstream_as_authorization() {
    let s = Stack::start();
    let email = unique_email("hygiene");
    let r = s.post("/Users", &okta_user(&email, "Hy", "Giene"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&deactivate())).status, 200);
    let secret = "dev-secret-that-must-not-echo";
    let replies = [
        s.scim("GET", "/Users", secret, None),
        s.scim("GET", "/Users", ENGINEER, None),
        s.scim_with("GET", "/Users", &[("Authorization", &format!("Token {secret}"))], None),
        s.scim_with("GET", "/Users", &[("Authorization", &format!("Bearer {secret} extra"))], None),
    ];
    for r in &replies {
        assert!(r.status == 401 || r.status == 403);
        let text = format!("{:?} {:?}", r.headers, r.body);
        assert!(!text.contains(secret) && !text.contains(ENGINEER), "{text}");
    }
    // Upstream: Fastly-Key only, never the client's Authorization header.
    let upstream = s.upstream_requests();
    let api_calls: Vec<&Value> = upstream.iter().filter(|r| is_api_call(r)).collect();
    assert!(api_calls.len() >= 4, "{upstream:?}");
    for r in &upstream {
        let headers = r["headers"].as_object().unwrap();
        assert!(!headers.contains_key("authorization"), "{r}");
        assert!(!is_api_call(r) || headers.contains_key("fastly-key"), "{r}");
    }
    // Logs (audit lines included) name the actor by digest, never by token.
    let logs = s.logs();
    assert!(logs.contains(&id), "the audit log has the change: {logs}");
    for token in [SUPERUSER, ENGINEER, secret] {
        assert!(!logs.contains(token), "{token} appears in the logs");
    }
}

#[test]
fn customer_b_sees_and_touches_nothing_of_customer_a() {
    let s = Stack::start();
    let email = unique_email("tenant-a");
    let r = s.post("/Users", &okta_user(&email, "Ten", "Ant"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let a_id = r.body["id"].as_str().unwrap().to_owned();
    s.clear_upstream_requests();

    let b = |method: &str, path: &str, body: Option<&Value>| s.scim(method, path, OTHER_SUPERUSER, body);
    let list = b("GET", "/Users?count=500", None);
    assert_eq!(list.status, 200, "{:?}", list.body);
    let names = user_names(&list);
    assert!(names.contains(&"erin@example.net".to_owned()), "{names:?}");
    for a_name in [email.as_str(), "alice@example.com", "scim-bot@example.com", "bob@example.com"] {
        assert!(!names.contains(&a_name.to_lowercase()), "B sees {a_name}");
    }
    assert!(list.body["Resources"].as_array().unwrap().iter().all(|u| u["id"] != a_id.as_str()));
    for filter in
        [format!("userName eq \"{email}\""), "userName eq \"alice@example.com\"".into(), format!("id eq \"{a_id}\"")]
    {
        let r = b("GET", &format!("/Users?filter={}", enc(&filter)), None);
        assert_eq!(r.status, 200, "{filter}: {:?}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{filter}");
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": format!("userName eq \"{email}\"")});
    assert_eq!(b("POST", "/Users/.search", Some(&search)).body["totalResults"], 0);
    // A's SCIM user and A's control-panel user are 404 for B, whatever the method.
    let put = okta_user(&email, "Took", "Over");
    for id in [a_id.as_str(), ALICE_A] {
        let path = format!("/Users/{id}");
        assert_scim_error(&b("GET", &path, None), 404);
        assert_scim_error(&b("PUT", &path, Some(&put)), 404);
        assert_scim_error(&b("PATCH", &path, Some(&deactivate())), 404);
        assert_scim_error(&b("DELETE", &path, None), 404);
    }
    // B wrote nothing, and A's users are as they were.
    assert!(s.upstream_writes().is_empty(), "{:?}", s.upstream_writes());
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());
    assert!(s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").is_some());
    let g = s.get(&format!("/Users/{a_id}"));
    assert_eq!((g.status, g.body["active"].clone()), (200, json!(true)));
    assert_eq!(g.body["name"]["givenName"], "Ten");
    // And the other way round: A does not see B's users.
    let names = user_names(&s.get("/Users?count=500"));
    assert!(!names.contains(&"erin@example.net".to_owned()));
    assert_scim_error(&s.get("/Users/2ErinUserB000000000000"), 404);
}

// ---- JWT mode -------------------------------------------------------------------------------

/// The fastly.toml of a JWT-mode deployment; `extra` lines go into the local config store.
fn jwt_toml(toml: String, extra: &[String]) -> String {
    let from = "auth_mode = \"fastly_token\"";
    assert!(toml.contains(from), "fastly.toml sets auth_mode in [local_server.config_stores]");
    let mut to = "auth_mode = \"jwt\"".to_owned();
    for line in extra {
        to.push_str("\n      ");
        to.push_str(line);
    }
    toml.replacen(from, &to, 1)
}

fn hs256_token(customer: &str, jti: &str, edit: impl FnOnce(&mut Claims)) -> String {
    let mut claims = Claims::new(customer, LOCAL_ISSUER, LOCAL_AUDIENCE, now(), 3600, jti);
    edit(&mut claims);
    jwt::sign(&claims, &SigningKey::hs256(LOCAL_HS256_KEY.as_bytes()).unwrap(), None).unwrap()
}

#[test]
fn jwt_mode_admits_minted_tokens_and_acts_with_the_stored_fastly_token() {
    let s = Stack::start_with(|t| jwt_toml(t, &["jwt_revoked_jti = \"okta-revoked-1\"".into()]));
    let token = hs256_token(CUSTOMER_A, "okta-prod-1", |_| {});
    s.clear_upstream_requests();
    let email = unique_email("jwt");
    let r = s.scim("POST", "/Users", &token, Some(&okta_user(&email, "Jay", "Wit")));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());
    // Upstream saw the stored Fastly token, as Fastly-Key only; the JWT never left the edge.
    let upstream = s.upstream_requests();
    assert!(upstream.iter().any(|r| r["path"] == "/tokens/self"));
    for r in &upstream {
        let headers = r["headers"].as_object().unwrap();
        assert!(!headers.contains_key("authorization"), "{r}");
        assert!(!is_api_call(r) || headers["fastly-key"] == SUPERUSER, "{r}");
        assert!(!r.to_string().contains(&token));
    }
    // Warm: the stored token's verdict is cached.
    s.clear_upstream_requests();
    assert_eq!(s.scim("GET", &format!("/Users/{id}"), &token, None).status, 200);
    assert_eq!(validation_calls(&s), 0);
    // The audit log names the JWT by its jti, and no log line has the JWT or the Fastly token.
    let logs = s.logs();
    assert!(logs.contains("jwt:okta-prod-1"), "{logs}");
    assert!(!logs.contains(&token) && !logs.contains(SUPERUSER));

    // Refusals: a Fastly token is not a JWT here; expired, not yet valid, wrong audience, wrong
    // issuer, wrong key, revoked; a customer with no stored token is forbidden.
    let key = SigningKey::hs256(b"some-other-key-that-is-long-enough!!").unwrap();
    let wrong_key =
        jwt::sign(&Claims::new(CUSTOMER_A, LOCAL_ISSUER, LOCAL_AUDIENCE, now(), 3600, "x"), &key, None).unwrap();
    for (bearer, status, words) in [
        (SUPERUSER.to_owned(), 401, "not a JWT"),
        (hs256_token(CUSTOMER_A, "old", |c| c.exp = now() - 3600), 401, "expired"),
        (hs256_token(CUSTOMER_A, "early", |c| c.nbf = Some(now() + 3600)), 401, "not valid yet"),
        (hs256_token(CUSTOMER_A, "aud", |c| c.aud = jwt::Audience::One("elsewhere".into())), 401, "audience"),
        (hs256_token(CUSTOMER_A, "iss", |c| c.iss = "someone".into()), 401, "issuer"),
        (wrong_key, 401, "signature"),
        (hs256_token(CUSTOMER_A, "okta-revoked-1", |_| {}), 401, "revoked"),
        (hs256_token("3NoTokenStoredForThis0", "c", |_| {}), 403, "fastly_token_3NoTokenStoredForThis0"),
    ] {
        let r = s.scim("GET", "/Users", &bearer, None);
        assert_scim_error(&r, status);
        assert!(r.body["detail"].as_str().unwrap().contains(words), "{words}: {:?}", r.body);
    }
    assert_scim_error(&s.scim_with("GET", "/Users", &[], None), 401);

    // Tenancy follows the claim: customer B's token acts on B only.
    let b_token = hs256_token(CUSTOMER_B, "okta-b-1", |_| {});
    let names = user_names(&s.scim("GET", "/Users?count=500", &b_token, None));
    assert!(names.contains(&"erin@example.net".to_owned()) && !names.contains(&email.to_lowercase()), "{names:?}");
    assert_scim_error(&s.scim("GET", &format!("/Users/{id}"), &b_token, None), 404);
    assert_scim_error(&s.scim("DELETE", &format!("/Users/{ALICE_A}"), &b_token, None), 404);
    assert!(s.fastly_user_by_login(CUSTOMER_A, "alice@example.com").is_some());
}

#[test]
fn jwt_mode_accepts_asymmetric_tokens_from_the_jwks() {
    let ed = SigningKey::from_pem(include_bytes!("keys/ed25519-private.pem")).unwrap();
    let rs = SigningKey::from_pem(include_bytes!("keys/rs256-private.pem")).unwrap();
    let mut jwks: Value = serde_json::from_str(&ed.public_jwks(Some("ed-1")).unwrap()).unwrap();
    let rs_jwks: Value = serde_json::from_str(&rs.public_jwks(Some("rs-1")).unwrap()).unwrap();
    jwks["keys"].as_array_mut().unwrap().push(rs_jwks["keys"][0].clone());
    let line = format!("jwt_jwks = '{}'", serde_json::to_string(&jwks).unwrap());
    let s = Stack::start_with(|t| jwt_toml(t, &[line]));
    let claims = Claims::new(CUSTOMER_A, LOCAL_ISSUER, LOCAL_AUDIENCE, now(), 3600, "okta-ed-1");
    for (key, kid) in [(&ed, "ed-1"), (&rs, "rs-1")] {
        let token = jwt::sign(&claims, key, Some(kid)).unwrap();
        let r = s.scim("GET", "/Users?count=1", &token, None);
        assert_eq!(r.status, 200, "{kid}: {:?}", r.body);
        // Under the other key's id, the signature does not match any usable key.
        let other = if kid == "ed-1" { "rs-1" } else { "ed-1" };
        let r = s.scim("GET", "/Users", &jwt::sign(&claims, key, Some(other)).unwrap(), None);
        assert_scim_error(&r, 401);
    }
    // A key that is not in the JWKS.
    let stranger = SigningKey::from_pem(include_bytes!("keys/ed25519-other-private.pem")).unwrap();
    let r = s.scim("GET", "/Users", &jwt::sign(&claims, &stranger, Some("ed-1")).unwrap(), None);
    assert_scim_error(&r, 401);
    assert!(r.body["detail"].as_str().unwrap().contains("signature"), "{:?}", r.body);
    // HS256 still works alongside (the dev key is in the local secret store).
    assert_eq!(s.scim("GET", "/Users?count=1", &hs256_token(CUSTOMER_A, "hs", |_| {}), None).status, 200);
}
