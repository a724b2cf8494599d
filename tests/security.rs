//! Security end to end, beyond what tests/auth.rs (tokens, tenancy of ids and userName filters)
//! and tests/limits.rs (malformed ids, bounds) cover:
//! - tenant isolation for what those leave out: A's Fastly user ids, deactivated users, every kind
//!   of filter (indexed or not), and a create of A's login by customer B;
//! - injection and traversal in filters, ids (sent raw, not normalised by an HTTP client), PATCH
//!   paths and values: 400 or 404, nothing applied, and scim-edge calls only Fastly's fixed routes;
//! - Unicode case folding of userName;
//! - no credential or password in any log line after full lifecycles with Basic and Bearer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const ALICE_A: &str = "1AliceEngineerA0000000";
const ERIN_B: &str = "2ErinUserB000000000000";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn deactivate() -> Value {
    patch_body(json!([{"op": "replace", "value": {"active": false}}]))
}

fn user_names(r: &Reply) -> Vec<String> {
    r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_lowercase()).collect()
}

/// The logins of a customer, lowercased.
fn logins(s: &Stack, customer: &str) -> Vec<String> {
    s.fastly_users(customer).iter().map(|u| u["login"].as_str().unwrap().to_lowercase()).collect()
}

/// A request sent as raw bytes, so that the target reaches Viceroy exactly as written (an HTTP
/// client library would resolve `..` and `%2e%2e` first). Status 0: no answer.
fn raw(s: &Stack, method: &str, target: &str, body: Option<&str>) -> (u16, String) {
    let addr = s.origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {SUPERUSER}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A request scim-edge sent upstream (Viceroy also probes each backend's `/` at startup).
fn from_scim_edge(r: &Value) -> bool {
    r["headers"]["user-agent"].as_str().is_some_and(|a| a.starts_with("scim-edge/"))
}

/// Every upstream request scim-edge made went to one of the Fastly routes it uses, with an id
/// shaped as Fastly's (21 or 22 base62 characters) and no query string.
fn assert_only_fastly_routes(s: &Stack) {
    let fastly_id = |x: &str| (21..=22).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_alphanumeric());
    for r in s.upstream_requests().iter().filter(|r| from_scim_edge(r)) {
        let path = r["path"].as_str().unwrap();
        let ok = match path.split('/').collect::<Vec<_>>().as_slice() {
            ["", "user"] | ["", "tokens", "self"] | ["", "current_user"] => true,
            ["", "user", id] => fastly_id(id),
            ["", "customer", id, "users"] => fastly_id(id),
            _ => false,
        };
        assert!(ok && r["query"] == "", "an upstream request to an unexpected target: {r}");
    }
}

fn create(s: &Stack, email: &str) -> (String, String) {
    let r = s.post("/Users", &okta_user(email, "Ten", "Ant"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let fid = s.fastly_user_by_login(CUSTOMER_A, email).unwrap()["id"].as_str().unwrap().to_owned();
    (r.body["id"].as_str().unwrap().to_owned(), fid)
}

#[test]
fn customer_b_reaches_none_of_a_by_fastly_id_filter_or_login() {
    let s = Stack::start();
    let email = unique_email("isolated");
    let (a_id, a_fid) = create(&s, &email);
    let parked = unique_email("parked");
    let (parked_id, parked_fid) = create(&s, &parked);
    assert_eq!(s.scim("PATCH", &format!("/Users/{parked_id}"), SUPERUSER, Some(&deactivate())).status, 200);
    let b_names = user_names(&s.scim("GET", "/Users?count=200", OTHER_SUPERUSER, None));
    let a_before = s.fastly_users(CUSTOMER_A);
    s.clear_upstream_requests();

    let b = |method: &str, path: &str, body: Option<&Value>| s.scim(method, path, OTHER_SUPERUSER, body);
    // A's Fastly ids (not SCIM ids, but a control-panel user's SCIM id is its Fastly id), and a
    // deactivated user, whatever the method.
    let put = okta_user(&email, "Took", "Over");
    let role = patch_body(json!([{"op": "replace", "path": format!("{FASTLY_USER}:role"), "value": "superuser"}]));
    for id in [a_fid.as_str(), parked_id.as_str(), parked_fid.as_str(), "1ScimBotSuperuserA0000"] {
        let path = format!("/Users/{id}");
        assert_eq!(b("GET", &path, None).status, 404, "{id}");
        assert_eq!(b("PUT", &path, Some(&put)).status, 404, "{id}");
        assert_eq!(b("PATCH", &path, Some(&role)).status, 404, "{id}");
        assert_eq!(b("PATCH", &path, Some(&deactivate())).status, 404, "{id}");
        assert_eq!(b("DELETE", &path, None).status, 404, "{id}");
    }
    // Filters of every kind (indexed equalities and full scans, on each attribute that names a
    // user) match only B's users.
    for filter in [
        format!("userName eq \"{}\"", email.to_uppercase()),
        format!("emails.value eq \"{email}\""),
        format!("emails[value eq \"{email}\"]"),
        format!("externalId eq \"00u{}\"", email.len()),
        format!("id eq \"{a_fid}\""),
        format!("id eq \"{ALICE_A}\""),
        format!("{FASTLY_USER}:userId eq \"{a_fid}\""),
        format!("{FASTLY_USER}:customerId eq \"{CUSTOMER_A}\""),
        "userName co \"example.com\"".into(),
        "userName sw \"alice\"".into(),
        "userName pr".into(),
        "active eq false".into(),
        format!("{FASTLY_USER}:role eq \"engineer\""),
        "roles[value eq \"billing\"]".into(),
        "meta.created gt \"2000-01-01T00:00:00Z\"".into(),
        "not (userName eq \"nobody@example.net\")".into(),
    ] {
        let r = b("GET", &format!("/Users?filter={}&count=200", enc(&filter)), None);
        assert!(matches!(r.status, 200 | 400), "{filter}: {:?}", r.body);
        if r.status == 200 {
            let names = user_names(&r);
            assert!(names.iter().all(|n| b_names.contains(n)), "{filter} shows A's users to B: {names:?}");
        }
        let search = json!({"schemas": [SEARCH], "filter": filter, "count": 200});
        for at in ["/Users/.search", "/.search"] {
            let r = b("POST", at, Some(&search));
            if r.status == 200 {
                assert!(user_names(&r).iter().all(|n| b_names.contains(n)), "{at} {filter}: {:?}", r.body);
            }
        }
    }
    // B's import pages never hold A's users either.
    for start in 1..=4 {
        let r = b("GET", &format!("/Users?startIndex={start}&count=1"), None);
        assert!(user_names(&r).iter().all(|n| b_names.contains(n)), "{:?}", r.body);
    }
    // Creating A's logins in B: Fastly's logins are global, and B must not adopt A's user.
    for login in [email.as_str(), "alice@example.com", &parked] {
        let r = b("POST", "/Users", Some(&okta_user(login, "Stolen", "Login")));
        if login == parked {
            // A deactivated user has no Fastly user: the login is free in Fastly, and B may take it.
            assert_eq!(r.status, 201, "{:?}", r.body);
            assert_eq!(b("DELETE", &format!("/Users/{}", r.body["id"].as_str().unwrap()), None).status, 204);
            continue;
        }
        assert_eq!(r.status, 409, "{login}: {:?}", r.body);
        assert!(
            b("GET", &format!("/Users?filter={}", enc(&format!("userName eq \"{login}\""))), None).body["totalResults"]
                == 0
        );
    }
    // A is as it was, and the only writes B caused were its own user's.
    assert_eq!(s.fastly_users(CUSTOMER_A), a_before);
    for w in s.upstream_writes() {
        assert!(!w["path"].as_str().unwrap().starts_with(&format!("/user/{a_fid}")), "{w}");
        assert_eq!(w["headers"]["fastly-key"], OTHER_SUPERUSER, "{w}");
    }
    let g = s.get(&format!("/Users/{a_id}"));
    assert_eq!(
        (g.status, g.body["active"].clone(), g.body["name"]["givenName"].clone()),
        (200, json!(true), json!("Ten"))
    );
    assert_eq!(s.get(&format!("/Users/{parked_id}")).body["active"], false);
    // And B's user is not A's.
    assert_eq!(s.get(&format!("/Users/{ERIN_B}")).status, 404);
    assert!(!logins(&s, CUSTOMER_A).contains(&"erin@example.net".to_owned()));
    assert_only_fastly_routes(&s);
}

#[test]
fn injection_and_traversal_are_400_or_404_and_reach_only_fastly_routes() {
    let s = Stack::start();
    let email = unique_email("target");
    let (id, fid) = create(&s, &email);
    let users_before = s.fastly_users(CUSTOMER_A);
    s.clear_upstream_requests();

    // Filters that try to break out of a string or the grammar: an error, or a literal match of
    // nothing; never every user.
    for filter in [
        r#"userName eq "x\" or 1 eq 1""#,
        r#"userName eq "x" or 1 eq 1"#,
        r#"userName eq "x" or "1" eq "1""#,
        r#"userName eq "alice@example.com\") or (userName pr""#,
        r#"userName eq "\u0022 or userName pr \u0022""#,
        r#"userName eq "x"; DELETE /user"#,
        "userName eq \"x\"\u{0}",
        r#"userName eq "x" ) or ( userName pr"#,
        r#"userName eq "../../_emulator/reset""#,
        r#"id eq "../../_emulator/reset""#,
        r#"id eq "%2e%2e%2f_emulator""#,
        r#"emails[value eq "x\"] or userName pr or [\""].value"#,
        r#"userName eq 'x' or 'a' eq 'a'"#,
        r#"userName eq "x" \or userName pr"#,
    ] {
        let r = s.get(&format!("/Users?filter={}", enc(filter)));
        assert!(matches!(r.status, 200 | 400), "{filter}: {:?}", r.body);
        if r.status == 200 {
            assert_eq!(r.body["totalResults"], 0, "{filter}: {:?}", r.body);
        } else {
            assert_eq!(r.body["scimType"], "invalidFilter", "{filter}: {:?}", r.body);
        }
    }

    // Ids and paths, sent raw: traversal (plain, percent-encoded, double-encoded, overlong UTF-8,
    // backslashes), and the characters a KV key or a URL treats specially.
    let targets = [
        "/scim/v2/Users/..",
        "/scim/v2/Users/../../_emulator/reset",
        "/scim/v2/Users/../../../user",
        "/scim/v2/Users/%2e%2e",
        "/scim/v2/Users/%2e%2e%2f%2e%2e%2f_emulator%2freset",
        "/scim/v2/Users/%2E%2E%2F%2E%2E%2Fuser",
        "/scim/v2/Users/%252e%252e%252f_emulator",
        "/scim/v2/Users/%C0%AE%C0%AE%C0%AF_emulator",
        "/scim/v2/Users/..%5C..%5C_emulator",
        "/scim/v2/Users/..;/_emulator/reset",
        "/scim/v2/Users/abc;def",
        "/scim/v2/Users/a%3Bb",
        "/scim/v2/Users/a%23b",
        "/scim/v2/Users/a%3Fb%3Dc",
        "/scim/v2/Users/a%7Cb",
        "/scim/v2/Users/a%5Eb",
        "/scim/v2/Users/a|b",
        "/scim/v2/Users/a^b",
        "/scim/v2/Users/%00",
        "/scim/v2/Users/%2Fuser",
        "/scim/v2/Users/%20",
        "/scim/v2/Users/00000000-0000-0000-0000-000000000000",
        "/scim/v2/Users/user",
        "/scim/v2/../../_emulator/reset",
        "/scim/v2/%2e%2e/_emulator/reset",
        "/_emulator/reset",
        "/scim/v2/Users/x/../../_emulator/reset",
    ];
    let put = okta_user(&email, "Put", "Over").to_string();
    let ops = deactivate().to_string();
    for target in targets {
        for (method, body) in
            [("GET", None), ("PUT", Some(put.as_str())), ("PATCH", Some(ops.as_str())), ("DELETE", None)]
        {
            let (status, text) = raw(&s, method, target, body);
            assert!(matches!(status, 400 | 404 | 405), "{method} {target}: {text}");
        }
    }
    // Ids in PATCH paths and attribute names that try to reach further.
    for path in [
        "../role",
        "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:role/../../login",
        "userName/../../user",
        "roles[value eq \"x\" or 1 eq 1].value",
        "emails[value eq \"x\\\" or 1 eq 1\"].value",
        "meta.location",
        "id",
        "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:userId",
        "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:customerId",
    ] {
        let r = s.scim(
            "PATCH",
            &format!("/Users/{id}"),
            SUPERUSER,
            Some(&patch_body(json!([{"op": "replace", "path": path, "value": "2NfYQKW1WOyZAHfx5vHUz9"}]))),
        );
        assert!(matches!(r.status, 200 | 400), "{path}: {:?}", r.body);
    }
    // Role values that try to smuggle a second field into Fastly's form.
    for role in ["user&role=superuser", "superuser\u{0}", "user\r\nFastly-Key: x", "USER", "engineer,superuser"] {
        for body in [
            patch_body(json!([{"op": "replace", "path": format!("{FASTLY_USER}:role"), "value": role}])),
            patch_body(json!([{"op": "replace", "path": "roles", "value": [{"value": role}]}])),
        ] {
            let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&body));
            assert_eq!((r.status, r.body["scimType"].clone()), (400, json!("invalidValue")), "{role}: {:?}", r.body);
        }
    }
    assert!(s.upstream_writes().is_empty(), "{:#?}", s.upstream_writes());
    assert_eq!(s.fastly_users(CUSTOMER_A), users_before, "nothing changed, nothing reset");

    // Names are data: form-encoded into Fastly's body, never a second field or header.
    let sneaky = "Eve&role=superuser&login=eve@evil.example\r\nFastly-Key: dev-other-superuser-token";
    let r = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        SUPERUSER,
        Some(&patch_body(json!([{"op": "replace", "path": "name.formatted", "value": sneaky}]))),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let writes = s.upstream_writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0]["path"], format!("/user/{fid}"));
    assert_eq!(writes[0]["form"], json!({"name": sneaky}), "{}", writes[0]);
    assert_eq!(writes[0]["headers"]["fastly-key"], SUPERUSER);
    let f = s.fastly_user_by_login(CUSTOMER_A, &email).unwrap();
    assert_eq!((f["role"].as_str(), f["name"].as_str()), (Some("user"), Some(sneaky)));
    // A login with form metacharacters is one login.
    let odd = format!("a&role=superuser+{}", unique_email("odd"));
    let r = s.post("/Users", &okta_user(&odd, "Odd", "Login"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let created = s.upstream_writes().into_iter().find(|w| w["method"] == "POST").unwrap();
    assert_eq!(created["form"], json!({"login": odd, "name": "Odd Login", "role": "user"}), "{created}");
    assert_eq!(s.fastly_user_by_login(CUSTOMER_A, &odd).unwrap()["role"], "user");
    assert_only_fastly_routes(&s);
}

#[test]
fn user_names_that_differ_only_in_unicode_case_are_one_user() {
    let s = Stack::start();
    let upper = "ÅSA.ÖSTLUND@example.com";
    let lower = "åsa.östlund@example.com";
    let r = s.post("/Users", &okta_user(upper, "Åsa", "Östlund"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    s.clear_upstream_requests();
    for name in [lower, "Åsa.Östlund@example.com", "åSA.öSTLUND@EXAMPLE.COM"] {
        let r = s.post("/Users", &okta_user(name, "Åsa", "Again"));
        assert_eq!((r.status, r.body["scimType"].clone()), (409, json!("uniqueness")), "{name}: {:?}", r.body);
        // Okta's lookup finds the one user, whatever the case.
        let found = s.get(&format!("/Users?filter={}", enc(&format!("userName eq \"{name}\""))));
        assert_eq!(found.body["totalResults"], 1, "{name}: {:?}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }
    assert!(s.upstream_writes().is_empty(), "the claim refuses before Fastly: {:#?}", s.upstream_writes());
    let folded: Vec<String> = logins(&s, CUSTOMER_A).into_iter().filter(|l| *l == lower).collect();
    assert_eq!(folded.len(), 1, "one Fastly user");
    // The Kelvin sign lowercases to `k`: one user too.
    let r = s.post("/Users", &okta_user("ken.k@example.com", "Ken", "K"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = s.post("/Users", &okta_user("\u{212A}en.\u{212A}@example.com", "Kelvin", "K"));
    assert_eq!(r.status, 409, "{:?}", r.body);
    // A change of case only is no change of the login.
    let r = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        SUPERUSER,
        Some(&patch_body(json!([{"op": "replace", "path": "userName", "value": lower}]))),
    );
    assert_eq!((r.status, r.body["userName"].clone()), (200, json!(upper)), "{:?}", r.body);
    assert_eq!(s.scim("DELETE", &format!("/Users/{id}"), SUPERUSER, None).status, 204);
    assert!(!logins(&s, CUSTOMER_A).contains(&lower.to_owned()));
    let r = s.post("/Users", &okta_user(lower, "Åsa", "Östlund"));
    assert_eq!(r.status, 201, "the login is free again: {:?}", r.body);
}

#[test]
fn no_credential_or_password_reaches_a_log_or_fastly() {
    let s = Stack::start();
    let basic_cred = format!("okta-connector:{SUPERUSER}");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&basic_cred));
    let bearer = format!("Bearer {SUPERUSER}");
    let wrong = "dev-wrong-token-that-must-not-be-logged";
    let wrong_basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("okta:{wrong}")));
    let mut secrets = vec![
        SUPERUSER.to_owned(),
        basic.clone(),
        basic["Basic ".len()..].to_owned(),
        wrong.to_owned(),
        wrong_basic["Basic ".len()..].to_owned(),
    ];
    for (auth, tag) in [(basic.as_str(), "basic"), (bearer.as_str(), "bearer")] {
        let call = |method: &str, path: &str, body: Option<&Value>| {
            s.scim_with(method, path, &[("Authorization", auth), ("User-Agent", "Okta SCIM Client 1.0.0")], body)
        };
        let email = unique_email(tag);
        let password = format!("Pw-{tag}-Zq81x!");
        secrets.push(password.clone());
        let mut body = okta_user(&email, "Log", "Hygiene");
        body["password"] = json!(password);
        let r = call("POST", "/Users", Some(&body));
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let path = format!("/Users/{id}");
        let filter = format!("/Users?filter={}", enc(&format!("userName eq \"{email}\"")));
        let new_password = format!("Pw2-{tag}-Yk27v?");
        secrets.push(new_password.clone());
        body["password"] = json!(new_password);
        body["name"]["givenName"] = json!("Logged");
        let steps = [
            ("GET", filter.clone(), None),
            ("GET", path.clone(), None),
            ("PUT", path.clone(), Some(body.clone())),
            (
                "PATCH",
                path.clone(),
                Some(patch_body(json!([{"op": "replace", "path": "password", "value": new_password}]))),
            ),
            (
                "PATCH",
                path.clone(),
                Some(patch_body(json!([{"op": "replace", "path": format!("{FASTLY_USER}:role"), "value": "billing"}]))),
            ),
            ("PATCH", path.clone(), Some(deactivate())),
            ("PATCH", path.clone(), Some(patch_body(json!([{"op": "replace", "value": {"active": true}}])))),
            ("GET", "/Users?startIndex=1&count=3".into(), None),
            ("DELETE", path.clone(), None),
        ];
        for (method, p, b) in &steps {
            let r = call(method, p, b.as_ref());
            assert!(r.status < 300, "{method} {p}: {:?}", r.body);
            let shown = format!("{:?} {}", r.headers, r.body);
            assert!(!shown.contains(&password) && !shown.contains(&new_password), "{method} {p} echoes: {shown}");
            assert!(!shown.contains(SUPERUSER), "{method} {p} echoes the token: {shown}");
        }
    }
    // Refused credentials, in both schemes.
    assert_eq!(s.scim_with("GET", "/Users", &[("Authorization", &wrong_basic)], None).status, 401);
    assert_eq!(s.scim("GET", "/Users", wrong, None).status, 401);

    let logs = s.logs();
    let audit_lines = logs.lines().filter(|l| l.contains("\"operation\"")).count();
    assert!(audit_lines >= 12, "the lifecycles were audited ({audit_lines} lines):\n{logs}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a log line has '{secret}'");
    }
    assert!(!logs.contains("Authorization") && !logs.contains("authorization:"), "{logs}");
    // Upstream, the token goes only as Fastly-Key, and no password is ever sent.
    for r in s.upstream_requests().iter().filter(|r| from_scim_edge(r)) {
        let text = r.to_string();
        for secret in secrets.iter().filter(|x| x.starts_with("Pw")) {
            assert!(!text.contains(secret.as_str()), "a password went to Fastly: {text}");
        }
        assert!(r["headers"].get("authorization").is_none(), "{r}");
        // The refused token was checked with Fastly (GET /tokens/self), as a Fastly-Key too.
        let key = r["headers"]["fastly-key"].as_str().unwrap();
        assert!(key == SUPERUSER || (key == wrong && r["path"] == "/tokens/self"), "{r}");
    }
}
