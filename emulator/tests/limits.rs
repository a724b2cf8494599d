//! The hourly rate limit on modifying requests (reference §1.3 / §7.7).

mod common;

use common::*;
use serde_json::json;

const RATE_LIMITED: &str = r#"{"msg":"You have exceeded your hourly rate limit. Please contact support@fastly.com if you think this is a mistake."}"#;

/// 2030-01-01T10:30:00Z and the tops of the next hours.
const T_1030: i64 = 1_893_493_800;
const T_1100: i64 = 1_893_495_600;
const T_1200: i64 = 1_893_499_200;

fn remaining(r: &Resp) -> i64 {
    r.int_header("Fastly-RateLimit-Remaining")
}

fn reset(r: &Resp) -> i64 {
    r.int_header("Fastly-RateLimit-Reset")
}

#[test]
fn writes_carry_the_headers_and_gets_do_not() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": T_1030})));
    let r = emu.call("POST", "/user", SUPER, Some("login=rl@example.com&name=RL"));
    assert_eq!(r.status, 200);
    assert_eq!(remaining(&r), 999, "the seed's default budget is 1000");
    assert_eq!(reset(&r), T_1100);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = emu.call("PUT", &format!("/user/{id}"), SUPER, Some("name=RL2"));
    assert_eq!(remaining(&r), 998);
    let r = emu.call("DELETE", &format!("/user/{id}"), SUPER, None);
    assert_eq!(remaining(&r), 997);
    for path in [
        "/current_user".to_string(),
        format!("/user/{BOB}"),
        format!("/customer/{CUSTOMER_A}/users"),
        "/tokens/self".into(),
        "/nope".into(),
    ] {
        let r = emu.get(&path, SUPER);
        assert_eq!(r.header("Fastly-RateLimit-Remaining"), None, "{path}");
        assert_eq!(r.header("Fastly-RateLimit-Reset"), None, "{path}");
    }
    // GETs did not spend anything.
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=B"));
    assert_eq!(remaining(&r), 996);
}

#[test]
fn failed_writes_count_too() {
    let emu = Emulator::start();
    let cases: Vec<(&str, String, Option<&str>, u16)> = vec![
        ("POST", "/user".into(), Some("login=bad"), 400),
        ("POST", "/user".into(), Some("login=alice@example.com&name=A"), 409),
        ("PUT", "/user/0000000000000000000000".into(), Some("name=X"), 404),
        ("DELETE", "/user/0000000000000000000000".into(), None, 404),
        ("PATCH", format!("/user/{BOB}"), Some("name=X"), 405),
        ("POST", "/nope".into(), Some(""), 404),
    ];
    let mut expected = 1000;
    for (method, path, form, status) in cases {
        let r = emu.call(method, &path, SUPER, form);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        expected -= 1;
        assert_eq!(remaining(&r), expected, "{method} {path}");
    }
    // Forbidden writes count for the token's owner.
    let r = emu.call("POST", "/user", ENG, Some("login=e@example.com&name=E"));
    assert_eq!(r.status, 403);
    assert_eq!(remaining(&r), 999);
    // No token, no owner: 401 without the headers.
    let r = emu.raw("POST", "/user", &[("Content-Type", FORM)], Some("login=e@example.com&name=E"));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), None);
}

#[test]
fn spent_budget_gives_429_and_applies_nothing() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": T_1030})));
    let r = emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"user_id": SCIM_BOT, "remaining": 1})));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = emu.call("POST", "/user", SUPER, Some("login=last@example.com&name=Last"));
    assert_eq!(r.status, 200);
    assert_eq!(remaining(&r), 0);
    for (method, path, form) in [
        ("POST", "/user".to_string(), Some("login=over@example.com&name=Over")),
        ("PUT", format!("/user/{BOB}"), Some("name=Over")),
        ("DELETE", format!("/user/{DAVE}"), None),
    ] {
        let r = emu.call(method, &path, SUPER, form);
        assert_eq!(r.status, 429, "{method}");
        assert_eq!(r.body, RATE_LIMITED);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(remaining(&r), 0);
        assert_eq!(reset(&r), T_1100);
    }
    let logins = emu.logins();
    assert!(logins.contains(&"last@example.com".to_string()));
    assert!(!logins.contains(&"over@example.com".to_string()));
    assert!(logins.contains(&"dave@example.org".to_string()));
    assert_eq!(emu.get(&format!("/user/{BOB}"), SUPER).json()["name"], "Bob Example");
    // The same owner's other tokens share the budget; reads still work.
    let r = emu.call("POST", "/user", READONLY, Some("login=x@example.com&name=X"));
    assert_eq!(r.status, 429);
    assert_eq!(emu.get("/current_user", SUPER).status, 200);
}

#[test]
fn budgets_are_per_user() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"user_id": SCIM_BOT, "remaining": 0})));
    assert_eq!(emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=X")).status, 429);
    let r = emu.call("PUT", &format!("/user/{ENGINEER}"), ENG, Some("name=Eng"));
    assert_eq!(r.status, 200);
    assert_eq!(remaining(&r), 999);
    let r = emu.call("PUT", &format!("/user/{ERIN_B}"), OTHER, Some("name=Erin"));
    assert_eq!(r.status, 200);
    assert_eq!(remaining(&r), 999);
}

#[test]
fn window_resets_at_the_top_of_the_hour() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": T_1030})));
    emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"user_id": SCIM_BOT, "remaining": 0})));
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=X"));
    assert_eq!(r.status, 429);
    assert_eq!(reset(&r), T_1100);
    // One second before the top of the hour: still spent.
    emu.ctl("POST", "/_emulator/clock", Some(json!({"advance": 1799})));
    assert_eq!(emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=X")).status, 429);
    // At 11:00 a new window with the full budget.
    let r = emu.ctl("POST", "/_emulator/clock", Some(json!({"advance": 1})));
    assert_eq!(r.json()["now"], T_1100);
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=X"));
    assert_eq!(r.status, 200);
    assert_eq!(remaining(&r), 999);
    assert_eq!(reset(&r), T_1200);
}

#[test]
fn rate_limit_control_for_all_users_and_limits() {
    let emu = Emulator::start();
    let r = emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"remaining": 2})));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[ADMIN_B]["remaining"], 2);
    for key in [SUPER, ENG, OTHER] {
        let me = emu.get("/current_user", key).json()["id"].as_str().unwrap().to_string();
        let r = emu.call("PUT", &format!("/user/{me}"), key, Some("name=Me"));
        assert_eq!(remaining(&r), 1, "{key}");
    }
    // A new hourly budget for one user.
    emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"user_id": ENGINEER, "limit": 5, "remaining": 5})));
    let r = emu.call("PUT", &format!("/user/{ENGINEER}"), ENG, Some("name=Me"));
    assert_eq!(remaining(&r), 4);
    let state = emu.ctl("GET", "/_emulator/rate_limit", None).json();
    assert_eq!(state[ENGINEER]["limit"], 5);
    assert_eq!(state[ENGINEER]["remaining"], 4);
    // Bad requests to the control API.
    assert_eq!(emu.ctl("POST", "/_emulator/rate_limit", Some(json!({}))).status, 400);
    assert_eq!(
        emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"user_id": "nobody", "remaining": 1}))).status,
        404
    );
    assert_eq!(emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"remaining": -1}))).status, 400);
}
