//! The Fastly Compute adapter: the only code that touches the `fastly` crate. It turns the
//! SDK's request into [`crate::http::Request`], runs [`crate::app::handle`], and gives the core
//! its KV store, Fastly API backend, clock, randomness and audit log.

mod cache;
mod doh;
mod kv;
mod secrets;
mod transport;

use std::cell::OnceCell;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use fastly::config_store::ConfigStore;
use fastly::{Request, Response};
use serde_json::Value;

use crate::app::{self, Env, MAX_BODY_BYTES};
use crate::auth::AuthConfig;
use crate::domains::doh::{DohHttp, DohReply, DohResolver};
use crate::http;
use crate::provision::{Audit, Policy};
use crate::scim::error::ScimError;
use crate::upstream::TransportError;

pub use doh::DohBackend;
pub use kv::KvStore;
pub use secrets::SecretStoreSecrets;
pub use transport::BackendTransport;

pub const KV_STORE: &str = "scim_state";
pub const CONFIG_STORE: &str = "scim_config";
pub const SECRET_STORE: &str = "scim_secrets";
pub const API_BACKEND: &str = "fastly_api";
pub const AUDIT_ENDPOINT: &str = "scim_audit";
/// Seconds a stored user is served without asking Fastly (the `fastly_sync_seconds` setting).
pub const DEFAULT_SYNC_SECONDS: u64 = 10;

pub fn handle(mut req: Request) -> Response {
    let core_req = match read_request(&mut req) {
        Ok(r) => r,
        Err(e) => return write_response(http::Response::from(&e)),
    };
    let store = match KvStore::open(KV_STORE) {
        Ok(s) => s,
        Err(detail) => {
            eprintln!("scim-edge: {detail}");
            return write_response(http::Response::from(&ScimError::service_unavailable(
                "the state store is not configured",
            )));
        }
    };
    let config = ConfigStore::try_open(CONFIG_STORE).ok();
    let setting = |key: &str| config.as_ref().and_then(|c| c.try_get(key).ok().flatten());
    let auth = AuthConfig::from_settings(&setting);
    let secrets = SecretStoreSecrets::open(SECRET_STORE);
    let policy = Policy {
        allowed_roles: setting("allowed_roles")
            .map(|v| v.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect()),
        fallback_login_domain: setting("fallback_login_domain").filter(|d| !d.trim().is_empty()),
        sync_seconds: setting("fastly_sync_seconds")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_SYNC_SECONDS),
        require_verified_domain: crate::domains::require_setting(setting("require_verified_domain").as_deref()),
    };
    let doh = LazyDoh { setting: &setting, backend: OnceCell::new() };
    let dns = DohResolver::new(&doh);
    let transport = BackendTransport::new(API_BACKEND);
    let audit = LogAudit;
    let new_id = new_id;
    let origin = format!(
        "{}://{}",
        req.get_url().scheme(),
        req.get_header_str("host").unwrap_or_else(|| req.get_url().host_str().unwrap_or("localhost"))
    );
    let env = Env {
        store: &store,
        cache: &cache::EdgeCache,
        transport: &transport,
        dns: &dns,
        audit: &audit,
        now: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        new_id: &new_id,
        auth,
        secrets: &secrets,
        policy,
        origin,
        // Only audit lines carry it, and reading the environment costs a GET a quarter of its own
        // work: LogAudit adds it to the rare line instead.
        request_id: String::new(),
    };
    write_response(app::handle(&env, &core_req))
}

fn read_request(req: &mut Request) -> Result<http::Request, ScimError> {
    let method = http::Method::parse(req.get_method_str());
    let mut body = Vec::new();
    // No route reads the body of a GET, HEAD or DELETE, and reading even an empty one costs
    // host calls on the requests that matter most.
    if !matches!(method, http::Method::Get | http::Method::Head | http::Method::Delete) {
        // Read one byte past the limit, so an oversized body is refused without buffering it all.
        req.take_body()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(ScimError::payload_too_large(format!("the request body exceeds {MAX_BODY_BYTES} bytes")));
        }
    }
    // Names are lowercase already; a repeated header keeps its first value first. A value that is
    // not UTF-8 is kept lossily rather than aborting the request.
    let headers = req
        .get_headers()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(http::Request {
        method,
        path: req.get_path().to_owned(),
        query: req.get_query_str().unwrap_or("").to_owned(),
        headers,
        body,
    })
}

fn write_response(r: http::Response) -> Response {
    let mut out = Response::from_status(r.status);
    for (name, value) in &r.headers {
        out.set_header(name.as_str(), value.as_str());
    }
    if !r.body.is_empty() {
        out.set_body(r.body);
    }
    out
}

/// The DNS-over-HTTPS backend, built from its settings on first use: only domain verification
/// asks DNS, and every settings read is a host call.
struct LazyDoh<'a> {
    setting: &'a dyn Fn(&str) -> Option<String>,
    backend: OnceCell<DohBackend>,
}

impl DohHttp for LazyDoh<'_> {
    fn get(&self, query: &str) -> Result<DohReply, TransportError> {
        let setting = self.setting;
        self.backend.get_or_init(|| DohBackend::new(setting("doh_backend"), setting("doh_url"))).get(query)
    }
}

/// A fresh SCIM id: a random UUID (version 4) from the host's randomness.
fn new_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No randomness means no safe ids: fall back to the clock, which is unique enough for
        // a single POP and never reached on Compute, where WASI randomness always exists.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

/// Audit lines go to the `scim_audit` log endpoint; locally Viceroy prints them. A line's empty
/// `request_id` is filled in here (`FASTLY_TRACE_ID`), read only when a line is written.
struct LogAudit;

impl Audit for LogAudit {
    fn record(&self, line: &Value) {
        use std::io::Write;
        let mut line = line.clone();
        if let Some(id) = line.get_mut("request_id").filter(|v| v.as_str() == Some("")) {
            *id = Value::String(std::env::var("FASTLY_TRACE_ID").unwrap_or_default());
        }
        match fastly::log::Endpoint::try_from_name(AUDIT_ENDPOINT) {
            Ok(mut ep) => {
                // Each write is one log line: `writeln!` would split the JSON at every token.
                let _ = ep.write_all(line.to_string().as_bytes());
            }
            Err(_) => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4() {
        let a = new_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_ne!(a, new_id());
        assert!(crate::store::keys::is_safe_id(&a));
    }

    #[test]
    fn error_responses_are_scim_json() {
        let r = write_response(http::Response::from(&ScimError::not_found("x")));
        assert_eq!(r.get_status(), 404);
        assert_eq!(r.get_header_str("content-type"), Some("application/scim+json"));
    }
}
