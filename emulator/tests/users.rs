//! The emulated Fastly user/token API: auth, shapes, validation, permissions, isolation.

mod common;

use common::*;
use serde_json::json;

const UNAUTHORIZED: &str = r#"{"msg":"Provided credentials are missing or invalid"}"#;

#[test]
fn missing_key_is_401() {
    let emu = Emulator::start();
    let r = emu.raw("GET", "/current_user", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.body, UNAUTHORIZED);
    let r = emu.raw("POST", "/user", &[("Content-Type", FORM)], Some("login=x@example.com&name=x"));
    assert_eq!(r.status, 401);
    assert_eq!(r.body, UNAUTHORIZED);
    assert!(!emu.logins().contains(&"x@example.com".to_string()));
}

#[test]
fn unknown_key_is_401() {
    let emu = Emulator::start();
    let r = emu.get("/current_user", "not-a-token");
    assert_eq!(r.status, 401);
    assert_eq!(r.body, UNAUTHORIZED);
    // The key travels in Fastly-Key only.
    let r = emu.raw("GET", "/current_user", &[("Authorization", "Bearer dev-superuser-token")], None);
    assert_eq!(r.status, 401);
}

#[test]
fn expired_token_is_401() {
    let emu = Emulator::start();
    let r = emu.get("/current_user", EXPIRED);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["msg"], "Provided credentials are missing or invalid");
    let r = emu.call("POST", "/user", EXPIRED, Some("login=x@example.com&name=x"));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), None);
    // Expiry follows the emulator clock: before expires_at the same token works.
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": 1_704_067_200}))); // 2024-01-01
    assert_eq!(emu.get("/current_user", EXPIRED).status, 200);
}

#[test]
fn responses_are_json_and_no_store_and_any_host() {
    let emu = Emulator::start();
    for r in [
        emu.raw("GET", "/current_user", &[("Fastly-Key", SUPER), ("Host", "api.fastly.com")], None),
        emu.call("POST", "/user", SUPER, Some("login=h@example.com&name=H")),
        emu.get("/user/nope", SUPER),
        emu.get("/nope", SUPER),
        emu.raw("GET", "/current_user", &[], None),
    ] {
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{r:?}");
        assert_eq!(r.header("Cache-Control"), Some("no-store"), "{r:?}");
    }
}

#[test]
fn create_user_returns_the_full_object() {
    let emu = Emulator::start();
    let r = emu.call(
        "POST",
        "/user",
        SUPER,
        Some("login=go-fastly-test%2Buser%2B20221104%40example.com&name=test+user&role=engineer"),
    );
    assert_eq!(r.status, 200);
    // Field order as recorded (plus `roles` after `role`).
    let order = [
        "id",
        "created_at",
        "updated_at",
        "name",
        "customer_id",
        "require_new_password",
        "role",
        "roles",
        "login",
        "deleted_at",
        "locked",
        "two_factor_auth_enabled",
        "limit_services",
        "last_active_at",
    ];
    let positions: Vec<usize> =
        order.iter().map(|k| r.body.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k}"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", r.body);
    let u = r.json();
    assert!(is_base62_id(u["id"].as_str().unwrap()), "{u}");
    assert!(is_timestamp(u["created_at"].as_str().unwrap()));
    assert_eq!(u["created_at"], u["updated_at"]);
    assert_eq!(u["name"], "test user");
    assert_eq!(u["login"], "go-fastly-test+user+20221104@example.com");
    assert_eq!(u["customer_id"], CUSTOMER_A);
    assert_eq!(u["role"], "engineer");
    assert_eq!(u["roles"], json!(["engineer"]));
    for null in ["require_new_password", "deleted_at", "locked", "two_factor_auth_enabled", "last_active_at"] {
        assert!(u[null].is_null(), "{null}: {u}");
    }
    assert_eq!(u["limit_services"], false);
    assert_eq!(u.as_object().unwrap().len(), 14);
    // It is stored: GET returns the same object.
    let g = emu.get(&format!("/user/{}", u["id"].as_str().unwrap()), SUPER);
    assert_eq!(g.status, 200);
    assert_eq!(g.json(), u);
}

#[test]
fn create_user_defaults_role_to_user_and_takes_options() {
    let emu = Emulator::start();
    let u = emu.create("login=plain@example.com&name=Plain");
    assert_eq!(u["role"], "user");
    assert_eq!(u["roles"], json!(["user"]));
    let u = emu.create(
        "login=opts@example.com&name=Opts&roles%5B%5D=engineer&roles[]=billing&locked=true&require_new_password=false&limit_services=1",
    );
    assert_eq!(u["role"], "engineer");
    assert_eq!(u["roles"], json!(["engineer", "billing"]));
    assert_eq!(u["locked"], true);
    assert_eq!(u["require_new_password"], false);
    assert_eq!(u["limit_services"], true);
    for role in ["user", "billing", "engineer", "superuser", "tls_viewer", "tls_admin"] {
        let u = emu.create(&format!("login={role}-r@example.com&name=R&role={role}"));
        assert_eq!(u["role"], role);
    }
}

#[test]
fn create_user_validation_is_400() {
    let emu = Emulator::start();
    let before = emu.logins();
    for form in [
        "name=No+Login",
        "login=&name=Empty",
        "login=no-at.example.com&name=X",
        "login=two@@example.com&name=X",
        "login=a@b@example.com&name=X",
        "login=@example.com&name=X",
        "login=x@localhost&name=X",
        "login=x@example.&name=X",
        "login=with+space@example.com&name=X",
        "login=ok@example.com",
        "login=ok@example.com&name=",
        "login=ok@example.com&name=+++",
        "login=ok@example.com&name=X&role=admin",
        "login=ok@example.com&name=X&role=Engineer",
        "login=ok@example.com&name=X&roles[]=owner",
        "login=ok@example.com&name=X&role=billing&roles[]=engineer",
        "login=ok@example.com&name=X&roles[]=superuser&roles[]=billing",
        "login=ok@example.com&name=X&roles[]=engineer&roles[]=engineer",
        "login=ok@example.com&name=X&roles[]=engineer,billing",
        "login=ok@example.com&name=X&locked=yes",
        "login=ok@example.com&name=X&nickname=x",
        "login=ok@example.com&name=X&name=Y",
        "login=ok@example.com&name=X&two_factor_auth_enabled=true",
        "login=ok@example.com&name=%zz",
    ] {
        let r = emu.call("POST", "/user", SUPER, Some(form));
        assert_eq!(r.status, 400, "{form}: {}", r.body);
        assert_eq!(r.json()["msg"], "Bad request", "{form}");
        assert!(r.json()["detail"].is_string(), "{form}");
    }
    assert_eq!(emu.logins(), before);
}

#[test]
fn duplicate_login_is_409_case_insensitive_and_global() {
    let emu = Emulator::start();
    let r = emu.call("POST", "/user", SUPER, Some("login=ALICE%40Example.COM&name=Alice+Again"));
    assert_eq!(r.status, 409);
    assert_eq!(r.body, r#"{"msg":"Duplicate record","detail":"Duplicate user: 'ALICE@Example.COM'"}"#);
    // Across customers: customer B cannot take a login of customer A...
    let r = emu.call("POST", "/user", OTHER, Some("login=bob@example.com&name=Bob+B"));
    assert_eq!(r.status, 409);
    // ...nor A one of B.
    let r = emu.call("POST", "/user", SUPER, Some("login=Erin@Example.net&name=Erin+A"));
    assert_eq!(r.status, 409);
    // A new one, then the same in another case.
    emu.create("login=new@example.com&name=New");
    let r = emu.call("POST", "/user", SUPER, Some("login=NEW@example.com&name=New"));
    assert_eq!(r.status, 409);
    // After deletion the login is free again.
    let id = emu.create("login=gone@example.com&name=Gone")["id"].as_str().unwrap().to_string();
    assert_eq!(emu.call("DELETE", &format!("/user/{id}"), SUPER, None).status, 200);
    emu.create("login=gone@example.com&name=Back");
}

#[test]
fn bodies_must_be_form_urlencoded() {
    let emu = Emulator::start();
    let json_body = r#"{"login":"j@example.com","name":"J"}"#;
    for (ct, body) in [
        (Some("application/json"), json_body),
        (None, "login=j@example.com&name=J"),
        (Some("text/plain"), "login=j@example.com&name=J"),
        (Some("multipart/form-data; boundary=x"), "login=j@example.com&name=J"),
    ] {
        let mut headers = vec![("Fastly-Key", SUPER)];
        if let Some(ct) = ct {
            headers.push(("Content-Type", ct));
        }
        for (method, path) in [("POST", "/user".to_string()), ("PUT", format!("/user/{BOB}"))] {
            let r = emu.raw(method, &path, &headers, Some(body));
            assert_eq!(r.status, 400, "{method} {ct:?}: {}", r.body);
            assert_eq!(r.json()["msg"], "Bad request");
            assert!(r.json()["detail"].as_str().unwrap().contains("x-www-form-urlencoded"));
        }
    }
    assert!(!emu.logins().contains(&"j@example.com".to_string()));
    assert_eq!(emu.get(&format!("/user/{BOB}"), SUPER).json()["name"], "Bob Example");
    // A charset parameter is fine; `+` is a space and %XX is decoded.
    let r = emu.raw(
        "POST",
        "/user",
        &[("Fastly-Key", SUPER), ("Content-Type", "Application/X-WWW-Form-URLEncoded; charset=UTF-8")],
        Some("login=j%2Bk%40example.com&name=J+K%C3%A9"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["login"], "j+k@example.com");
    assert_eq!(r.json()["name"], "J Ké");
}

#[test]
fn get_user_200_and_404() {
    let emu = Emulator::start();
    let r = emu.get(&format!("/user/{CAROL}"), SUPER);
    assert_eq!(r.status, 200);
    let u = r.json();
    assert_eq!(u["login"], "carol@example.com");
    assert_eq!(u["role"], "engineer");
    assert_eq!(u["roles"], json!(["engineer", "billing"]));
    assert_eq!(u["customer_id"], CUSTOMER_A);
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), None);
    let r = emu.get("/user/0000000000000000000000", SUPER);
    assert_eq!(r.status, 404);
    assert_eq!(r.body, r#"{"msg":"Record not found","detail":"Couldn't find User '0000000000000000000000'"}"#);
}

#[test]
fn put_user_updates_only_the_sent_fields() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": 1_767_225_600}))); // 2026-01-01T00:00:00Z
    let before = emu.get(&format!("/user/{ALICE}"), SUPER).json();
    emu.ctl("POST", "/_emulator/clock", Some(json!({"advance": 2})));
    let r = emu.call("PUT", &format!("/user/{ALICE}"), SUPER, Some("name=Alice+Renamed"));
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.json();
    assert_eq!(after["name"], "Alice Renamed");
    assert_eq!(after["updated_at"], "2026-01-01T00:00:02Z");
    for same in [
        "id",
        "created_at",
        "customer_id",
        "role",
        "roles",
        "login",
        "locked",
        "two_factor_auth_enabled",
        "limit_services",
        "require_new_password",
        "last_active_at",
    ] {
        assert_eq!(after[same], before[same], "{same}");
    }
    assert_eq!(emu.get(&format!("/user/{ALICE}"), SUPER).json(), after);

    // role alone replaces roles; roles[] alone keeps role when listed.
    let u = emu.call("PUT", &format!("/user/{CAROL}"), SUPER, Some("roles[]=billing&roles[]=engineer")).json();
    assert_eq!((u["role"].clone(), u["roles"].clone()), (json!("engineer"), json!(["billing", "engineer"])));
    let u = emu.call("PUT", &format!("/user/{CAROL}"), SUPER, Some("role=user")).json();
    assert_eq!((u["role"].clone(), u["roles"].clone()), (json!("user"), json!(["user"])));
    let u = emu
        .call(
            "PUT",
            &format!("/user/{CAROL}"),
            SUPER,
            Some("locked=true&limit_services=false&require_new_password=true"),
        )
        .json();
    assert_eq!(
        (u["locked"].clone(), u["limit_services"].clone(), u["require_new_password"].clone()),
        (json!(true), json!(false), json!(true))
    );

    // login is read-only (sending it unchanged is harmless).
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("login=robert@example.com"));
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("login"));
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("login=bob@example.com&name=Bobby"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["login"], "bob@example.com");
    for bad in ["", "name=", "role=root", "locked=maybe", "two_factor_auth_enabled=false", "email=x@example.com"] {
        let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some(bad));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = emu.call("PUT", "/user/0000000000000000000000", SUPER, Some("name=X"));
    assert_eq!(r.status, 404);
}

#[test]
fn delete_user_removes_it() {
    let emu = Emulator::start();
    let r = emu.call("DELETE", &format!("/user/{DAVE}"), SUPER, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ok"}"#);
    assert!(!emu.logins().contains(&"dave@example.org".to_string()));
    assert_eq!(emu.get(&format!("/user/{DAVE}"), SUPER).status, 404);
    let r = emu.call("DELETE", &format!("/user/{DAVE}"), SUPER, None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["msg"], "Record not found");
}

#[test]
fn delete_refuses_token_owners_and_yourself() {
    let emu = Emulator::start();
    let r = emu.call("DELETE", &format!("/user/{SCIM_BOT}"), SUPER, None);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["msg"], "Bad request");
    assert!(r.json()["detail"].as_str().unwrap().contains("yourself"));
    let r = emu.call("DELETE", &format!("/user/{ENGINEER}"), SUPER, None);
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("token"));
    assert!(emu.logins().contains(&"engineer@example.com".to_string()));
}

#[test]
fn list_users_is_a_bare_array_in_creation_order() {
    let emu = Emulator::start();
    assert_eq!(
        emu.logins(),
        [
            "scim-bot@example.com",
            "engineer@example.com",
            "alice@example.com",
            "bob@example.com",
            "carol@example.com",
            "dave@example.org"
        ]
    );
    emu.create("login=zed@example.com&name=Zed");
    emu.create("login=amy@example.com&name=Amy");
    let logins = emu.logins();
    assert_eq!(logins[6..], ["zed@example.com", "amy@example.com"]);
    // Read-only tokens list too; users of B are not in A's list.
    let r = emu.get(&format!("/customer/{CUSTOMER_A}/users"), READONLY);
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 8);
    assert!(r.json().as_array().unwrap().iter().all(|u| u["customer_id"] == CUSTOMER_A));
}

#[test]
fn current_user_and_tokens_self() {
    let emu = Emulator::start();
    let u = emu.get("/current_user", SUPER).json();
    assert_eq!(u["id"], SCIM_BOT);
    assert_eq!(u["login"], "scim-bot@example.com");
    assert_eq!(u["name"], "SCIM Bot");
    assert_eq!(u["role"], "superuser");
    assert_eq!(u["customer_id"], CUSTOMER_A);
    assert_eq!(emu.get("/current_user", ENG).json()["id"], ENGINEER);
    assert_eq!(emu.get("/current_user", OTHER).json()["customer_id"], CUSTOMER_B);

    let r = emu.raw("GET", "/tokens/self", &[("Fastly-Key", SUPER), ("User-Agent", "scim-edge-test")], None);
    assert_eq!(r.status, 200);
    let t = r.json();
    let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
    let mut expected = [
        "id",
        "user_id",
        "customer_id",
        "name",
        "last_used_at",
        "created_at",
        "expires_at",
        "ip",
        "user_agent",
        "sudo_expires_at",
        "scopes",
        "scope",
        "services",
        "service_id",
    ];
    expected.sort_unstable();
    let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert!(is_base62_id(t["id"].as_str().unwrap()));
    assert_eq!(t["user_id"], SCIM_BOT);
    assert_eq!(t["customer_id"], CUSTOMER_A);
    assert_eq!(t["scopes"], json!(["global"]));
    assert_eq!(t["scope"], "global");
    assert_eq!(t["services"], json!([]));
    assert!(t["service_id"].is_null());
    assert!(t["expires_at"].is_null());
    assert!(t["sudo_expires_at"].is_null());
    assert!(is_timestamp(t["last_used_at"].as_str().unwrap()));
    assert_eq!(t["ip"], "127.0.0.1");
    assert_eq!(t["user_agent"], "scim-edge-test");

    let t = emu.get("/tokens/self", LIMITED).json();
    assert_eq!(t["services"], json!(["6SvcLimitedScope000000"]));
    assert_eq!(t["service_id"], "6SvcLimitedScope000000");
    let t = emu.get("/tokens/self", READONLY).json();
    assert_eq!(t["scopes"], json!(["global:read"]));
    assert_eq!(t["scope"], "global:read");
    assert_eq!(t["user_id"], SCIM_BOT);
}

#[test]
fn global_read_token_reads_but_cannot_write() {
    let emu = Emulator::start();
    assert_eq!(emu.get(&format!("/user/{ALICE}"), READONLY).status, 200);
    assert_eq!(emu.get("/current_user", READONLY).status, 200);
    for (method, path, form) in [
        ("POST", "/user".to_string(), Some("login=ro@example.com&name=RO")),
        ("PUT", format!("/user/{ALICE}"), Some("name=RO")),
        ("DELETE", format!("/user/{DAVE}"), None),
    ] {
        let r = emu.call(method, &path, READONLY, form);
        assert_eq!(r.status, 403, "{method}: {}", r.body);
        assert_eq!(r.json()["msg"], "Forbidden");
        assert!(r.json()["detail"].as_str().unwrap().contains("global"));
    }
    assert_eq!(emu.logins().len(), 6);
    assert_eq!(emu.get(&format!("/user/{ALICE}"), SUPER).json()["name"], "Alice Example");
}

#[test]
fn service_limited_token_cannot_write() {
    let emu = Emulator::start();
    assert_eq!(emu.get(&format!("/user/{ALICE}"), LIMITED).status, 200);
    for (method, path, form) in [
        ("POST", "/user".to_string(), Some("login=sl@example.com&name=SL")),
        ("PUT", format!("/user/{ALICE}"), Some("name=SL")),
        ("DELETE", format!("/user/{DAVE}"), None),
    ] {
        let r = emu.call(method, &path, LIMITED, form);
        assert_eq!(r.status, 403, "{method}: {}", r.body);
        assert_eq!(r.json()["msg"], "Forbidden");
        assert!(r.json()["detail"].as_str().unwrap().contains("Service-limited"));
    }
    assert_eq!(emu.logins().len(), 6);
}

#[test]
fn non_superusers_may_only_rename_themselves() {
    let emu = Emulator::start();
    let r = emu.call("POST", "/user", ENG, Some("login=byeng@example.com&name=X"));
    assert_eq!(r.status, 403);
    assert!(r.json()["detail"].as_str().unwrap().contains("superuser"));
    let r = emu.call("PUT", &format!("/user/{ALICE}"), ENG, Some("name=X"));
    assert_eq!(r.status, 403);
    let r = emu.call("PUT", &format!("/user/{ENGINEER}"), ENG, Some("role=superuser"));
    assert_eq!(r.status, 403);
    let r = emu.call("PUT", &format!("/user/{ENGINEER}"), ENG, Some("name=Renamed+Engineer&locked=false"));
    assert_eq!(r.status, 403);
    let r = emu.call("DELETE", &format!("/user/{DAVE}"), ENG, None);
    assert_eq!(r.status, 403);
    let r = emu.call("PUT", &format!("/user/{ENGINEER}"), ENG, Some("name=Renamed+Engineer"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "Renamed Engineer");
    assert_eq!(r.json()["role"], "engineer");
    assert_eq!(emu.logins().len(), 6);
    // Reads work for a non-superuser.
    assert_eq!(emu.get(&format!("/customer/{CUSTOMER_A}/users"), ENG).status, 200);
}

#[test]
fn customers_are_isolated() {
    let emu = Emulator::start();
    // B's superuser cannot see or touch A's users.
    assert_eq!(emu.get(&format!("/user/{ALICE}"), OTHER).status, 404);
    assert_eq!(emu.get(&format!("/user/{ALICE}"), OTHER).json()["msg"], "Record not found");
    assert_eq!(emu.call("PUT", &format!("/user/{ALICE}"), OTHER, Some("name=Hacked")).status, 404);
    assert_eq!(emu.call("DELETE", &format!("/user/{DAVE}"), OTHER, None).status, 404);
    let r = emu.get(&format!("/customer/{CUSTOMER_A}/users"), OTHER);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["msg"], "Forbidden");
    assert!(r.json()["detail"].is_string());
    // And the other way round.
    assert_eq!(emu.get(&format!("/user/{ERIN_B}"), SUPER).status, 404);
    assert_eq!(emu.get(&format!("/customer/{CUSTOMER_B}/users"), SUPER).status, 403);
    assert_eq!(emu.get(&format!("/customer/{CUSTOMER_B}/users"), READONLY).status, 403);
    // Nothing changed, and B sees its own.
    assert_eq!(emu.get(&format!("/user/{ALICE}"), SUPER).json()["name"], "Alice Example");
    assert!(emu.logins().contains(&"dave@example.org".to_string()));
    let b = emu.get(&format!("/customer/{CUSTOMER_B}/users"), OTHER).json();
    let ids: Vec<&str> = b.as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ADMIN_B, ERIN_B]);
    // A user created by B belongs to B.
    let r = emu.call("POST", "/user", OTHER, Some("login=newb@example.net&name=New+B"));
    assert_eq!(r.json()["customer_id"], CUSTOMER_B);
    assert!(!emu.logins().contains(&"newb@example.net".to_string()));
}

#[test]
fn unknown_routes_404_and_wrong_methods_405() {
    let emu = Emulator::start();
    for path in
        ["/", "/users", "/user/", "/user/x/y", "/service", "/customer/51MumwLiSJyFTWhtbByYgR", "/_emulator/health"]
    {
        let r = emu.get(path, SUPER);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, r#"{"msg":"Not found"}"#, "{path}");
    }
    for (method, path) in [
        ("GET", "/user".to_string()),
        ("DELETE", "/user".to_string()),
        ("PATCH", format!("/user/{BOB}")),
        ("POST", format!("/user/{BOB}")),
        ("POST", format!("/customer/{CUSTOMER_A}/users")),
        ("DELETE", "/current_user".to_string()),
        ("PUT", "/tokens/self".to_string()),
    ] {
        let r = emu.call(method, &path, SUPER, Some(""));
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        assert!(r.json()["msg"].is_string());
        assert!(r.header("Allow").is_some());
    }
    assert_eq!(emu.get(&format!("/user/{BOB}"), SUPER).json()["name"], "Bob Example");
}

#[test]
fn dns_query_answers_txt_without_a_key() {
    let emu = Emulator::start();
    let r =
        emu.raw("GET", "/dns-query?name=_scim-edge.example.com&type=TXT", &[("Accept", "application/dns-json")], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/dns-json"));
    let v = r.json();
    assert_eq!(v["Status"], 0);
    assert_eq!(
        v["Answer"],
        json!([{"name": "_scim-edge.example.com.", "type": 16, "TTL": 300, "data": "\"scim-edge-verification=dev-example-com\""}])
    );
    // Trailing dot, case and `type=16` are the same question.
    let v = emu.raw("GET", "/dns-query?name=_SCIM-edge.Example.com.&type=16", &[], None).json();
    assert_eq!(v["Answer"][0]["data"], "\"scim-edge-verification=dev-example-com\"");
    // Unknown name: NXDOMAIN, no Answer.
    let v = emu.raw("GET", "/dns-query?name=_scim-edge.example.org&type=TXT", &[], None).json();
    assert_eq!(v["Status"], 3);
    assert!(v.get("Answer").is_none());
    // Known name, other type: NOERROR without answers.
    let v = emu.raw("GET", "/dns-query?name=_scim-edge.example.com&type=A", &[], None).json();
    assert_eq!(v["Status"], 0);
    assert!(v.get("Answer").is_none());
    assert_eq!(emu.raw("GET", "/dns-query?type=TXT", &[], None).status, 400);
    // Records set through the control API.
    let r = emu.ctl(
        "POST",
        "/_emulator/dns",
        Some(json!({"name": "_scim-edge.example.org", "txt": ["a=1", "say \"hi\""]})),
    );
    assert_eq!(r.status, 200);
    let v = emu.raw("GET", "/dns-query?name=_scim-edge.example.org&type=TXT", &[], None).json();
    assert_eq!(v["Status"], 0);
    assert_eq!(v["Answer"][0]["data"], "\"a=1\"");
    assert_eq!(v["Answer"][1]["data"], r#""say \"hi\"""#);
    emu.ctl("POST", "/_emulator/dns", Some(json!({"name": "_scim-edge.example.org", "txt": []})));
    let v = emu.raw("GET", "/dns-query?name=_scim-edge.example.org&type=TXT", &[], None).json();
    assert_eq!(v["Status"], 3);
}
