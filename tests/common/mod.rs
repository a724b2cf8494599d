//! The end-to-end test kit: each [`Stack`] runs its own Fastly API emulator and its own Viceroy
//! serving the release wasm, so tests are isolated and can run in parallel. Requests are real
//! HTTP.
//!
//! `make e2e` builds the artifacts and points at them with `SCIM_EDGE_WASM` and
//! `SCIM_EDGE_EMULATOR`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SUPERUSER: &str = "dev-superuser-token";
pub const ENGINEER: &str = "dev-engineer-token";
pub const READONLY: &str = "dev-readonly-token";
pub const LIMITED: &str = "dev-limited-token";
pub const EXPIRED: &str = "dev-expired-token";
pub const OTHER_SUPERUSER: &str = "dev-other-superuser-token";
pub const CUSTOMER_A: &str = "51MumwLiSJyFTWhtbByYgR";
pub const CUSTOMER_B: &str = "2NfYQKW1WOyZAHfx5vHUz9";
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const FASTLY_USER: &str = "urn:ietf:params:scim:schemas:extension:fastly:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artifact(var: &str, default: &str) -> PathBuf {
    let p = std::env::var(var).map(PathBuf::from).unwrap_or_else(|_| root().join(default));
    assert!(p.exists(), "{} not found: run `make build` (or `make e2e`) first", p.display());
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A response: status, headers (lowercase names), JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct Stack {
    emulator: Child,
    viceroy: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT/scim/v2`
    pub base: String,
    pub origin: String,
    /// The emulated Fastly API and its control API.
    pub api: String,
    pub control: String,
    agent: ureq::Agent,
}

impl Stack {
    pub fn start() -> Stack {
        Self::start_with(|toml| toml)
    }

    /// Starts a stack whose fastly.toml is first passed through `edit`.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> Stack {
        let wasm = artifact("SCIM_EDGE_WASM", "target/wasm32-wasip1/release/scim-edge.wasm");
        let emulator_bin = artifact("SCIM_EDGE_EMULATOR", "target/release/emulator");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("scim-edge-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let mut emulator = Command::new(emulator_bin)
            .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(emulator.stdout.take().unwrap()).lines();
        let mut api = String::new();
        let mut control = String::new();
        while api.is_empty() || control.is_empty() {
            let line = lines.next().expect("emulator exited").unwrap();
            if let Some(a) = line.strip_prefix("api listening on ") {
                api = a.trim().to_owned();
            } else if let Some(c) = line.strip_prefix("control listening on ") {
                control = c.trim().to_owned();
            }
        }
        // Keep draining the emulator's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});

        let toml = std::fs::read_to_string(root().join("fastly.toml")).unwrap();
        let toml = edit(toml.replace("http://127.0.0.1:8787/", &format!("{api}/")));
        let config = dir.join("fastly.toml");
        std::fs::write(&config, toml).unwrap();

        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("viceroy.log")).unwrap();
        let viceroy = Command::new("viceroy")
            .args(["serve", "--addr", &addr, "-C"])
            .arg(&config)
            .arg(&wasm)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("viceroy not found: run scripts/setup.sh");
        let origin = format!("http://{addr}");
        let stack = Stack {
            emulator,
            viceroy,
            dir,
            base: format!("{origin}/scim/v2"),
            origin,
            api,
            control,
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while stack.raw("GET", &format!("{}/health", stack.origin), &[], None).is_none() {
            assert!(Instant::now() < deadline, "viceroy did not start: {}", stack.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        stack
    }

    fn raw(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Option<Reply> {
        let mut req = self.agent.request(method, url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(_)) => return None,
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .iter()
            .map(|n| (n.to_ascii_lowercase(), resp.header(n).unwrap_or("").to_owned()))
            .collect();
        let text = resp.into_string().unwrap_or_default();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Some(Reply { status, headers, body })
    }

    /// A SCIM request with `Authorization: Bearer <token>` and SCIM JSON content type.
    pub fn scim(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {token}");
        self.scim_with(method, path, &[("Authorization", &auth)], body)
    }

    /// A SCIM request with exactly these headers (plus a JSON content type when there is a body).
    pub fn scim_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if body.is_some() && !h.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            h.push(("Content-Type", "application/scim+json; charset=utf-8"));
        }
        let text = body.map(Value::to_string);
        self.raw(method, &format!("{}{path}", self.base), &h, text.as_deref()).expect("scim-edge unreachable")
    }

    /// A SCIM request with a raw body, sent as is with exactly these headers. `None` when the
    /// connection failed (for tests of hostile input, where that is an answer too).
    pub fn scim_text(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Option<Reply> {
        self.raw(method, &format!("{}{path}", self.base), headers, body)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.scim("GET", path, SUPERUSER, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.scim("POST", path, SUPERUSER, Some(body))
    }

    /// The emulated Fastly API, as a client of api.fastly.com would call it.
    pub fn fastly(&self, method: &str, path: &str, token: &str) -> Reply {
        self.raw(method, &format!("{}{path}", self.api), &[("Fastly-Key", token)], None).expect("emulator unreachable")
    }

    /// The emulated Fastly API with a form body, as the control panel (or a script) would call it.
    pub fn fastly_form(&self, method: &str, path: &str, token: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let headers = [("Fastly-Key", token), ("Content-Type", "application/x-www-form-urlencoded")];
        self.raw(method, &format!("{}{path}", self.api), &headers, Some(&body)).expect("emulator unreachable")
    }

    /// The users the emulated Fastly account really has.
    pub fn fastly_users(&self, customer: &str) -> Vec<Value> {
        let token = if customer == CUSTOMER_B { OTHER_SUPERUSER } else { SUPERUSER };
        let r = self.fastly("GET", &format!("/customer/{customer}/users"), token);
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body.as_array().cloned().unwrap_or_default()
    }

    pub fn fastly_user_by_login(&self, customer: &str, login: &str) -> Option<Value> {
        self.fastly_users(customer).into_iter().find(|u| u["login"].as_str() == Some(login))
    }

    /// The emulator's control API.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let text = body.map(Value::to_string);
        self.raw(
            method,
            &format!("{}/_emulator{path}", self.control),
            &[("Content-Type", "application/json")],
            text.as_deref(),
        )
        .expect("emulator control unreachable")
    }

    /// API requests the emulator received (since start or the last clear).
    pub fn upstream_requests(&self) -> Vec<Value> {
        self.control("GET", "/requests", None).body.as_array().cloned().unwrap_or_default()
    }

    pub fn clear_upstream_requests(&self) {
        self.control("DELETE", "/requests", None);
    }

    /// Upstream writes (POST/PUT/PATCH/DELETE) since the last clear.
    pub fn upstream_writes(&self) -> Vec<Value> {
        self.upstream_requests().into_iter().filter(|r| r["method"] != "GET").collect()
    }

    pub fn fault(&self, fault: Value) {
        let r = self.control("POST", "/faults", Some(&fault));
        assert!(r.status < 300, "{:?}", r.body);
    }

    /// What Viceroy and the app printed (audit lines included).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("viceroy.log")).unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.viceroy.kill();
        let _ = self.emulator.kill();
        let _ = self.viceroy.wait();
        let _ = self.emulator.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Percent-encodes a query parameter value the way Okta does (`%20`, `%22`, `%40`, …): everything
/// but unreserved characters.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A unique email for one test.
pub fn unique_email(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{tag}.{}.{n}@example.com", std::process::id())
}

/// An Okta-shaped create body (okta-expectations.md P1).
pub fn okta_user(email: &str, given: &str, family: &str) -> Value {
    serde_json::json!({
        "schemas": [CORE_USER],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": format!("00u{}", email.len()),
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}
