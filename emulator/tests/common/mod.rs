//! Spawns the built emulator on free ports and talks real HTTP to it.
// Test support: failing loudly is its job (clippy.toml only covers `#[test]` fns).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const CUSTOMER_A: &str = "51MumwLiSJyFTWhtbByYgR";
pub const CUSTOMER_B: &str = "2NfYQKW1WOyZAHfx5vHUz9";
pub const SCIM_BOT: &str = "1ScimBotSuperuserA0000";
pub const ENGINEER: &str = "1EngineerUserA00000000";
pub const ALICE: &str = "1AliceEngineerA0000000";
pub const BOB: &str = "1BobUserA0000000000000";
pub const CAROL: &str = "1CarolTwoRolesA0000000";
pub const DAVE: &str = "1DaveBillingA000000000";
pub const ADMIN_B: &str = "2AdminSuperuserB000000";
pub const ERIN_B: &str = "2ErinUserB000000000000";

pub const SUPER: &str = "dev-superuser-token";
pub const ENG: &str = "dev-engineer-token";
pub const READONLY: &str = "dev-readonly-token";
pub const LIMITED: &str = "dev-limited-token";
pub const EXPIRED: &str = "dev-expired-token";
pub const OTHER: &str = "dev-other-superuser-token";

pub const FORM: &str = "application/x-www-form-urlencoded";

pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub api: String,
    pub control: String,
    agent: ureq::Agent,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// An integer header that must be present.
    pub fn int_header(&self, name: &str) -> i64 {
        self.header(name).unwrap_or_else(|| panic!("no {name}: {self:?}")).parse().unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emulator"))
            .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut api = None;
        let mut control = None;
        while api.is_none() || control.is_none() {
            let line = lines.next().expect("emulator exited before printing its ports").expect("read stdout");
            if let Some(a) = line.strip_prefix("api listening on ") {
                api = Some(a.to_string());
            } else if let Some(c) = line.strip_prefix("control listening on ") {
                control = Some(c.to_string());
            } else {
                panic!("unexpected stdout line: {line}");
            }
        }
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(20)).build();
        Emulator { child, api: api.unwrap(), control: control.unwrap(), agent }
    }

    /// `host:port` of the API socket.
    pub fn api_addr(&self) -> &str {
        self.api.trim_start_matches("http://")
    }

    fn finish(result: Result<ureq::Response, ureq::Error>) -> Resp {
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or_default().to_string();
                (n, v)
            })
            .collect();
        let body = resp.into_string().expect("body");
        Resp { status, headers, body }
    }

    /// Any request to the API socket.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
        let mut req = self.agent.request(method, &format!("{}{}", self.api, path));
        for (n, v) in headers {
            req = req.set(n, v);
        }
        Emulator::finish(match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        })
    }

    /// An API request with a token and, optionally, a form body (raw encoded text).
    pub fn call(&self, method: &str, path: &str, key: &str, form: Option<&str>) -> Resp {
        match form {
            Some(f) => self.raw(method, path, &[("Fastly-Key", key), ("Content-Type", FORM)], Some(f)),
            None => self.raw(method, path, &[("Fastly-Key", key)], None),
        }
    }

    pub fn get(&self, path: &str, key: &str) -> Resp {
        self.call("GET", path, key, None)
    }

    /// A control API request with an optional JSON body.
    pub fn ctl(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let req = self.agent.request(method, &format!("{}{}", self.control, path));
        Emulator::finish(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    }

    /// Creates a user with the superuser token; returns the user object.
    pub fn create(&self, form: &str) -> Value {
        let r = self.call("POST", "/user", SUPER, Some(form));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Logins of customer A's users, in list order.
    pub fn logins(&self) -> Vec<String> {
        let r = self.get(&format!("/customer/{CUSTOMER_A}/users"), SUPER);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap().to_string()).collect()
    }

    pub fn requests(&self) -> Vec<Value> {
        let r = self.ctl("GET", "/_emulator/requests", None);
        assert_eq!(r.status, 200);
        r.json().as_array().unwrap().clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn is_base62_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
