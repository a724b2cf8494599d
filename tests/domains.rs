//! Verified email domains, end to end: with `require_verified_domain = "true"`, users are only
//! created in a domain the account proved it owns with a DNS TXT record (looked up over DNS over
//! HTTPS, here the emulator's `/dns-query`).

mod common;

use common::*;
use serde_json::{json, Value};

/// A stack that enforces the rule, as a production deployment does by default.
fn enforcing() -> Stack {
    Stack::start_with(|toml| {
        let on = toml.replace("require_verified_domain = \"false\"", "require_verified_domain = \"true\"");
        assert_ne!(on, toml, "fastly.toml sets require_verified_domain locally");
        on
    })
}

/// A request to the admin API (`/admin…`, beside the SCIM base).
fn admin(s: &Stack, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
    let url = format!("{}/admin{path}", s.origin);
    let auth = format!("Bearer {token}");
    let mut req = ureq::request(method, &url).set("Authorization", &auth);
    let result = match body {
        Some(b) => {
            req = req.set("Content-Type", "application/json");
            req.send_string(&b.to_string())
        }
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        // Status 0: the assertion that follows shows why.
        Err(e) => return Reply { status: 0, headers: Vec::new(), body: Value::String(e.to_string()) },
    };
    let status = resp.status();
    let headers = resp.headers_names().iter().map(|n| (n.clone(), resp.header(n).unwrap_or("").to_owned())).collect();
    let text = resp.into_string().unwrap_or_default();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, headers, body }
}

#[test]
fn users_are_created_only_in_a_domain_verified_over_dns() {
    let s = enforcing();
    let email = unique_email("domains");

    // Not verified: refused before Fastly is asked, with the way out.
    s.clear_upstream_requests();
    let r = s.post("/Users", &okta_user(&email, "Dee", "Main"));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("'example.com'") && detail.contains("/admin/domains"), "{detail}");
    assert!(s.upstream_writes().is_empty(), "no Fastly user was created");
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());

    // Add: a pending domain and its challenge.
    let r = admin(&s, "POST", "/domains", SUPERUSER, Some(&json!({"domain": "Example.COM"})));
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["domain"], "example.com");
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["challenge"]["type"], "TXT");
    assert_eq!(r.body["challenge"]["name"], "_scim-edge.example.com");
    let challenge = r.body["challenge"]["value"].as_str().unwrap().to_owned();
    assert!(challenge.starts_with("scim-edge-verification=") && challenge.len() > 40, "{challenge}");
    // Adding again changes nothing.
    let again = admin(&s, "POST", "/domains", SUPERUSER, Some(&json!({"domain": "example.com"})));
    assert_eq!((again.status, again.body["challenge"]["value"].as_str()), (200, Some(challenge.as_str())));

    // Verify before the record exists: DNS holds only the seed's value, and the detail says so.
    let r = admin(&s, "POST", "/domains/example.com/verify", SUPERUSER, None);
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("_scim-edge.example.com") && detail.contains(&challenge), "{detail}");
    assert!(detail.contains("scim-edge-verification=dev-example-com"), "what was found is named: {detail}");
    let dns_lookups: Vec<Value> = s.upstream_requests().into_iter().filter(|q| q["path"] == "/dns-query").collect();
    assert!(!dns_lookups.is_empty());
    let last = dns_lookups.last().unwrap();
    assert!(last["query"].as_str().unwrap().contains("name=_scim-edge.example.com"), "{last}");
    assert_eq!(last["headers"]["accept"], "application/dns-json");
    assert!(last["headers"].get("fastly-key").is_none(), "no token goes to the resolver");
    let list = admin(&s, "GET", "/domains", SUPERUSER, None);
    assert_eq!(list.body["domains"][0]["status"], "pending");
    assert!(s.post("/Users", &okta_user(&email, "Dee", "Main")).status == 400, "pending is not verified");

    // Publish the record (beside another TXT value), then verify.
    let r =
        s.control("POST", "/dns", Some(&json!({"name": "_scim-edge.example.com", "txt": ["v=spf1 -all", challenge]})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = admin(&s, "POST", "/domains/example.com/verify", SUPERUSER, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "verified");
    assert!(r.body["verified"].is_string());
    let list = admin(&s, "GET", "/domains", SUPERUSER, None);
    assert_eq!(list.status, 200);
    assert_eq!(list.body["domains"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["domains"][0]["status"], "verified");

    // Now the same create goes through, and Fastly has the user.
    let r = s.post("/Users", &okta_user(&email, "Dee", "Main"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());

    // A domain that was never published answers NXDOMAIN, which the refusal names.
    admin(&s, "POST", "/domains", SUPERUSER, Some(&json!({"domain": "nowhere.example.org"})));
    let r = admin(&s, "POST", "/domains/nowhere.example.org/verify", SUPERUSER, None);
    assert_eq!(r.status, 409);
    assert!(r.body["detail"].as_str().unwrap().contains("NXDOMAIN"), "{:?}", r.body);

    // Deleting the domain keeps existing users but stops reactivation, which creates the
    // Fastly user again.
    let r = admin(&s, "DELETE", "/domains/example.com", SUPERUSER, None);
    assert_eq!(r.status, 204, "{:?}", r.body);
    let active = |on: bool| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": on}}]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&active(false)));
    assert_eq!((r.status, r.body["active"].clone()), (200, json!(false)), "{:?}", r.body);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&active(true)));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("'example.com'"), "{:?}", r.body);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
    assert_eq!(s.get(&format!("/Users/{id}")).body["active"], false);

    // Other bad input is a SCIM error, not a crash.
    let r = admin(&s, "POST", "/domains", SUPERUSER, Some(&json!({"domain": "not a domain"})));
    assert_eq!((r.status, r.body["scimType"].as_str()), (400, Some("invalidValue")));
    assert_eq!(admin(&s, "DELETE", "/domains/example.com", SUPERUSER, None).status, 404);
}

#[test]
fn the_admin_api_is_per_tenant_and_for_superusers_only() {
    let s = enforcing();
    let r = admin(&s, "POST", "/domains", SUPERUSER, Some(&json!({"domain": "a-only.example"})));
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Customer B sees none of A's domains and cannot touch them.
    let r = admin(&s, "GET", "/domains", OTHER_SUPERUSER, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["domains"], json!([]));
    assert_eq!(admin(&s, "POST", "/domains/a-only.example/verify", OTHER_SUPERUSER, None).status, 404);
    assert_eq!(admin(&s, "DELETE", "/domains/a-only.example", OTHER_SUPERUSER, None).status, 404);
    assert_eq!(admin(&s, "GET", "/domains", SUPERUSER, None).body["domains"][0]["domain"], "a-only.example");

    // Same authentication as SCIM: a non-superuser's token is refused, no token is 401.
    for (method, path) in
        [("GET", "/domains"), ("POST", "/domains/a-only.example/verify"), ("DELETE", "/domains/a-only.example")]
    {
        let r = admin(&s, method, path, ENGINEER, None);
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.body);
        assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    }
    let r = ureq::get(&format!("{}/admin/domains", s.origin)).call();
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    assert_eq!(admin(&s, "GET", "/domains", SUPERUSER, None).body["domains"].as_array().unwrap().len(), 1);
    assert_eq!(admin(&s, "PUT", "/domains", SUPERUSER, None).status, 405);
}
