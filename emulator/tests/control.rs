//! The control API: reset, faults, clock, request log, DNS, health; and the command line.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn health() {
    let emu = Emulator::start();
    let r = emu.ctl("GET", "/_emulator/health", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(emu.ctl("GET", "/_emulator/nope", None).status, 404);
    assert_eq!(emu.ctl("POST", "/_emulator/health", None).status, 405);
}

#[test]
fn control_is_not_on_the_api_socket_and_api_not_on_control() {
    let emu = Emulator::start();
    for path in ["/_emulator/health", "/_emulator/requests"] {
        assert_eq!(emu.get(path, SUPER).status, 404, "{path}");
    }
    let r = emu.call("POST", "/_emulator/reset", SUPER, Some(""));
    assert_eq!(r.status, 404);
    assert_eq!(emu.ctl("GET", "/current_user", None).status, 404);
}

#[test]
fn reset_restores_the_seed() {
    let emu = Emulator::start();
    let first = emu.create("login=first@example.com&name=First")["id"].clone();
    emu.call("DELETE", &format!("/user/{BOB}"), SUPER, None);
    emu.call("PUT", &format!("/user/{ALICE}"), SUPER, Some("name=Changed"));
    emu.ctl("POST", "/_emulator/dns", Some(json!({"name": "x.example.com", "txt": ["y"]})));
    emu.ctl("POST", "/_emulator/faults", Some(json!({"path_prefix": "/user", "count": 5, "status": 500})));
    emu.ctl("POST", "/_emulator/clock", Some(json!({"now": 0})));
    emu.ctl("POST", "/_emulator/rate_limit", Some(json!({"remaining": 0})));

    let r = emu.ctl("POST", "/_emulator/reset", None);
    assert_eq!(r.status, 200);
    assert_eq!(emu.requests(), Vec::<serde_json::Value>::new());
    assert_eq!(emu.ctl("GET", "/_emulator/faults", None).json(), json!([]));
    assert_eq!(emu.ctl("GET", "/_emulator/clock", None).json()["fixed"], false);
    assert_eq!(
        emu.ctl("GET", "/_emulator/dns", None).json(),
        json!({"_scim-edge.example.com": ["scim-edge-verification=dev-example-com"]})
    );
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
    assert_eq!(emu.get(&format!("/user/{ALICE}"), SUPER).json()["name"], "Alice Example");
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=B"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), Some("999"));
    // The id generator restarts too, so runs replay.
    let again = emu.create("login=first@example.com&name=First")["id"].clone();
    assert_eq!(first, again);
}

#[test]
fn ids_replay_across_runs() {
    let a = Emulator::start();
    let b = Emulator::start();
    for i in 0..3 {
        let form = format!("login=u{i}@example.com&name=U");
        assert_eq!(a.create(&form)["id"], b.create(&form)["id"]);
    }
}

#[test]
fn fault_status_answers_without_applying() {
    let emu = Emulator::start();
    let r = emu.ctl("POST", "/_emulator/faults", Some(json!({"method": "POST", "path_prefix": "/user", "count": 2, "status": 503, "delay_ms": 0, "drop_response": false})));
    assert_eq!(r.status, 200, "{}", r.body);
    for i in 0..2 {
        let r = emu.call("POST", "/user", SUPER, Some("login=f@example.com&name=F"));
        assert_eq!(r.status, 503, "try {i}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert!(r.json()["msg"].is_string());
    }
    assert!(!emu.logins().contains(&"f@example.com".to_string()));
    let r = emu.call("POST", "/user", SUPER, Some("login=f@example.com&name=F"));
    assert_eq!(r.status, 200);
    // A custom body.
    emu.ctl(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": null, "path_prefix": null, "count": 1, "status": 500, "body": "{\"msg\":\"boom\"}"})),
    );
    let r = emu.get("/current_user", SUPER);
    assert_eq!(r.status, 500);
    assert_eq!(r.body, r#"{"msg":"boom"}"#);
    assert_eq!(emu.get("/current_user", SUPER).status, 200);
}

#[test]
fn faults_match_method_and_path_prefix() {
    let emu = Emulator::start();
    emu.ctl(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "delete", "path_prefix": "/user/", "count": 1, "status": 502})),
    );
    assert_eq!(emu.call("POST", "/user", SUPER, Some("login=m@example.com&name=M")).status, 200);
    assert_eq!(emu.get(&format!("/user/{DAVE}"), SUPER).status, 200);
    assert_eq!(emu.call("DELETE", &format!("/user/{BOB}"), SUPER, None).status, 502);
    assert!(emu.logins().contains(&"bob@example.com".to_string()));
    assert_eq!(emu.call("DELETE", &format!("/user/{BOB}"), SUPER, None).status, 200);
    // Queued faults are listed, and DELETE clears them.
    emu.ctl("POST", "/_emulator/faults", Some(json!({"path_prefix": "/tokens", "count": 3, "status": 500})));
    let faults = emu.ctl("GET", "/_emulator/faults", None).json();
    assert_eq!(faults.as_array().unwrap().len(), 1);
    assert_eq!(faults[0]["count"], 3);
    assert_eq!(emu.ctl("DELETE", "/_emulator/faults", None).status, 200);
    assert_eq!(emu.get("/tokens/self", SUPER).status, 200);
    // Bad fault specs.
    for bad in
        [json!({"count": 0, "status": 500}), json!({"status": 1000}), json!({"statuss": 500}), json!({"body": "x"})]
    {
        assert_eq!(emu.ctl("POST", "/_emulator/faults", Some(bad.clone())).status, 400, "{bad}");
    }
}

#[test]
fn fault_delay_does_not_block_other_requests() {
    let emu = Emulator::start();
    emu.ctl("POST", "/_emulator/faults", Some(json!({"path_prefix": "/current_user", "count": 1, "delay_ms": 1500})));
    let api = emu.api_addr().to_string();
    let slow = std::thread::spawn(move || {
        let start = Instant::now();
        let mut s = TcpStream::connect(&api).unwrap();
        s.write_all(b"GET /current_user HTTP/1.1\r\nHost: api.fastly.com\r\nFastly-Key: dev-superuser-token\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        (start.elapsed(), out)
    });
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(emu.get(&format!("/user/{BOB}"), SUPER).status, 200);
    assert!(start.elapsed() < Duration::from_millis(1000), "blocked by the delayed request");
    let (elapsed, out) = slow.join().unwrap();
    assert!(elapsed >= Duration::from_millis(1500));
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
}

#[test]
fn drop_response_applies_the_change_and_sends_nothing() {
    let emu = Emulator::start();
    emu.ctl(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "POST", "path_prefix": "/user", "count": 1, "drop_response": true})),
    );
    let body = "login=dropped%40example.com&name=Dropped";
    let mut s = TcpStream::connect(emu.api_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /user HTTP/1.1\r\nHost: api.fastly.com\r\nFastly-Key: dev-superuser-token\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let n = s.read_to_end(&mut out).expect("the connection is closed, not left hanging");
    assert_eq!(n, 0, "got bytes: {:?}", String::from_utf8_lossy(&out));
    // The change was applied...
    assert!(emu.logins().contains(&"dropped@example.com".to_string()));
    // ...and counted against the budget (the create, then this PUT).
    let r = emu.call("PUT", &format!("/user/{BOB}"), SUPER, Some("name=B"));
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), Some("998"));
    // The log says what happened.
    let log = emu.requests();
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["fault"]["drop_response"], true);
    // A retry now meets the duplicate.
    assert_eq!(emu.call("POST", "/user", SUPER, Some(body)).status, 409);
}

#[test]
fn request_log_records_every_api_request() {
    let emu = Emulator::start();
    emu.raw(
        "POST",
        "/user",
        &[("Fastly-Key", SUPER), ("Content-Type", FORM), ("X-Trace", "t1")],
        Some("login=log%2B1%40example.com&name=Log+One&roles[]=engineer&roles[]=billing"),
    );
    emu.ctl("POST", "/_emulator/faults", Some(json!({"method": "GET", "count": 1, "status": 503})));
    emu.raw("GET", "/user/abc?x=1&y=two", &[("Fastly-Key", ENG)], None);
    emu.raw("GET", "/dns-query?name=a.example.com&type=TXT", &[], None);
    let log = emu.requests();
    assert_eq!(log.len(), 3);
    let e = &log[0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["method"], "POST");
    assert_eq!(e["path"], "/user");
    assert_eq!(e["query"], "");
    assert_eq!(e["headers"]["fastly-key"], SUPER);
    assert_eq!(e["headers"]["x-trace"], "t1");
    assert_eq!(e["headers"]["content-type"], FORM);
    assert_eq!(e["form"], json!({"login": "log+1@example.com", "name": "Log One", "roles[]": ["engineer", "billing"]}));
    assert_eq!(e["status"], 200);
    assert!(e.get("fault").is_none());
    let e = &log[1];
    assert_eq!(e["seq"], 2);
    assert_eq!(e["path"], "/user/abc");
    assert_eq!(e["query"], "x=1&y=two");
    assert_eq!(e["form"], json!({}));
    assert_eq!(e["status"], 503);
    assert_eq!(e["fault"]["status"], 503);
    assert_eq!(log[2]["path"], "/dns-query");
    // Control requests are not logged; DELETE clears.
    assert_eq!(emu.ctl("DELETE", "/_emulator/requests", None).status, 200);
    assert_eq!(emu.requests().len(), 0);
    emu.get("/current_user", SUPER);
    let log = emu.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["seq"], 4, "seq keeps counting after a clear, restarts at a reset");
}

#[test]
fn clock_set_advance_and_back_to_system() {
    let emu = Emulator::start();
    let r = emu.ctl("POST", "/_emulator/clock", Some(json!({"now": 1_767_225_600})));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["iso"], "2026-01-01T00:00:00Z");
    assert_eq!(emu.create("login=c1@example.com&name=C")["created_at"], "2026-01-01T00:00:00Z");
    emu.ctl("POST", "/_emulator/clock", Some(json!({"advance": 3661})));
    assert_eq!(emu.create("login=c2@example.com&name=C")["created_at"], "2026-01-01T01:01:01Z");
    let r = emu.get("/current_user", SUPER);
    assert_eq!(r.header("Date"), Some("Thu, 01 Jan 2026 01:01:01 GMT"));
    let r = emu.ctl("POST", "/_emulator/clock", Some(json!({"now": null})));
    assert_eq!(r.json()["fixed"], false);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((r.json()["now"].as_i64().unwrap() - now).abs() < 5);
    // advance on the system clock shifts it.
    let r = emu.ctl("POST", "/_emulator/clock", Some(json!({"advance": 86_400})));
    assert!((r.json()["now"].as_i64().unwrap() - now - 86_400).abs() < 5);
    assert_eq!(r.json()["fixed"], false);
    for bad in [json!({}), json!({"now": "soon"}), json!({"now": 1, "advance": 1}), json!({"advance": null})] {
        assert_eq!(emu.ctl("POST", "/_emulator/clock", Some(bad.clone())).status, 400, "{bad}");
    }
}

#[test]
fn dns_control_endpoint() {
    let emu = Emulator::start();
    let r = emu.ctl(
        "POST",
        "/_emulator/dns",
        Some(json!({"name": "_scim-edge.corp.example.", "txt": ["scim-edge-verification=abc"]})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["_scim-edge.corp.example"], json!(["scim-edge-verification=abc"]));
    let v = emu.raw("GET", "/dns-query?name=_scim-edge.corp.example&type=TXT", &[], None).json();
    assert_eq!(v["Answer"][0]["data"], "\"scim-edge-verification=abc\"");
    assert_eq!(v["Answer"][0]["name"], "_scim-edge.corp.example.");
    assert_eq!(emu.ctl("POST", "/_emulator/dns", Some(json!({"name": "x"}))).status, 400);
    assert_eq!(emu.ctl("POST", "/_emulator/dns", Some(json!({"name": "", "txt": ["a"]}))).status, 400);
}

#[test]
fn control_users_and_customers_views() {
    let emu = Emulator::start();
    let users = emu.ctl("GET", "/_emulator/users", None).json();
    assert_eq!(users.as_array().unwrap().len(), 8);
    let customers = emu.ctl("GET", "/_emulator/customers", None).json();
    assert!(customers.get(CUSTOMER_A).is_some());
    assert!(customers.get(CUSTOMER_B).is_some());
}

#[test]
fn seed_option_loads_a_custom_seed() {
    let dir = std::env::temp_dir().join(format!("emu-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(
        &path,
        json!({
            "rng_seed": 1,
            "rate_limit": {"default_budget": 3},
            "customers": [{
                "id": CUSTOMER_A, "name": "Tiny",
                "users": [{"id": SCIM_BOT, "login": "root@example.com", "name": "Root", "role": "superuser", "created_at": "2025-01-01T00:00:00Z"}],
                "tokens": [{"id": "7TokenSuperuserA000000", "token": "tiny-token", "user_id": SCIM_BOT, "name": "t", "created_at": "2025-01-01T00:00:00Z"}]
            }],
            "dns": {}
        })
        .to_string(),
    )
    .unwrap();
    let emu = Emulator::start_with(&["--seed", path.to_str().unwrap()]);
    let r = emu.get("/current_user", "tiny-token");
    assert_eq!(r.json()["login"], "root@example.com");
    assert_eq!(emu.get("/current_user", SUPER).status, 401);
    let r = emu.call("PUT", &format!("/user/{SCIM_BOT}"), "tiny-token", Some("name=R"));
    assert_eq!(r.header("Fastly-RateLimit-Remaining"), Some("2"));

    // A bad seed stops the emulator with an error.
    std::fs::write(&path, r#"{"rng_seed": 1, "customers": [{"id": "short", "name": "x"}]}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--seed", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("short"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keep_alive_and_chunked_bodies() {
    let emu = Emulator::start();
    let mut s = TcpStream::connect(emu.api_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Two requests on one connection, the second with a chunked body.
    let req = "GET /current_user HTTP/1.1\r\nHost: api.fastly.com\r\nFastly-Key: dev-superuser-token\r\n\r\n\
               POST /user HTTP/1.1\r\nHost: api.fastly.com\r\nFastly-Key: dev-superuser-token\r\n\
               Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
               10\r\nlogin=ch%40examp\r\n12\r\nle.com&name=Chunky\r\n0\r\n\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{out}");
    assert!(emu.logins().contains(&"ch@example.com".to_string()));
}
