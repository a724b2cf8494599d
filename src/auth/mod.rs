//! Who is calling, and for which Fastly account. Two modes, chosen per deployment by the
//! `auth_mode` setting and dispatched in one place ([`authenticate_request`]):
//!
//! - `fastly_token` (default): the bearer is a Fastly API token (also accepted as the password
//!   of HTTP Basic). It is checked against the Fastly API — a superuser's token, `global` scope,
//!   all services, not expired — and the verdict is cached in the POP's cache under a digest of the
//!   token, so the warm path makes no upstream call. The tenant is the token's Fastly customer.
//! - `jwt`: the bearer is a JWT minted by the operator ([`jwt`]). Its `fastly_customer_id` claim
//!   names the tenant; the upstream Fastly token for that customer comes from the secret store
//!   (`fastly_token_<customer id>`) and goes through the same check as in `fastly_token` mode,
//!   which also proves that it belongs to the customer the JWT names.
//!
//! Hygiene: tokens are never logged, echoed or stored — the store and the audit log only see
//! digests — and only `Fastly-Key` goes upstream. This module compares no secrets itself: the
//! cache is keyed by a SHA-256 digest, and the HS256 signature is checked by `hmac`'s
//! constant-time `verify_slice`.

pub mod jwt;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::scim::error::{ScimError, ScimResult};
use crate::store::keys;
use crate::upstream::{FastlyApi, Transport};

/// The account a request acts on, and the token its upstream calls use.
#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    pub customer_id: String,
    pub upstream_token: String,
    /// Who acted, for the audit log: a short digest of a Fastly token, or `jwt:<jti>`. Never a
    /// token.
    pub actor: String,
}

impl Tenant {
    /// Identifies the Fastly user whose hourly write limit upstream calls spend: a short digest
    /// of the upstream token (in `fastly_token` mode, the same as `actor`). Key-safe.
    pub fn budget_id(&self) -> String {
        short_digest(&self.upstream_token)
    }
}

/// The first 12 characters of the token's digest: enough to tell tokens apart in logs.
fn short_digest(token: &str) -> String {
    keys::digest(token).chars().take(12).collect()
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("customer_id", &self.customer_id)
            .field("upstream_token", &"[redacted]")
            .field("actor", &self.actor)
            .finish()
    }
}

/// Secrets by name: the `scim_secrets` secret store at the edge, a map in tests. The values are
/// secrets: never log or echo them.
pub trait Secrets {
    fn get(&self, name: &str) -> Option<Vec<u8>>;
}

/// No secrets at all (`fastly_token` mode needs none).
pub struct NoSecrets;

impl Secrets for NoSecrets {
    fn get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

impl Secrets for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        BTreeMap::get(self, name).map(|v| v.as_bytes().to_vec())
    }
}

/// The secret that holds the HS256 key of JWT mode.
pub const HS256_KEY_SECRET: &str = "jwt_hs256_key";

/// The secret that holds the Fastly API token used upstream for a customer in JWT mode.
pub fn upstream_token_secret(customer_id: &str) -> String {
    format!("fastly_token_{customer_id}")
}

/// The `auth_mode` setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// `fastly_token` (or unset): the bearer is a Fastly API token.
    #[default]
    FastlyToken,
    /// `jwt`: the bearer is a JWT (see [`jwt`]).
    Jwt,
    /// Anything else: every request is refused (503) rather than guessing.
    Unknown(String),
}

impl AuthMode {
    pub fn parse(setting: Option<&str>) -> AuthMode {
        match setting.map(str::trim) {
            None | Some("") | Some("fastly_token") => AuthMode::FastlyToken,
            Some("jwt") => AuthMode::Jwt,
            Some(other) => AuthMode::Unknown(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Seconds a positive verdict is reused.
    pub ttl_ok: u64,
    /// Seconds a refusal (401/403) is reused.
    pub ttl_denied: u64,
    pub mode: AuthMode,
    pub jwt: jwt::JwtSettings,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { ttl_ok: 300, ttl_denied: 30, mode: AuthMode::FastlyToken, jwt: jwt::JwtSettings::default() }
    }
}

impl AuthConfig {
    /// Reads the settings (the `scim_config` store at the edge): `auth_mode`,
    /// `auth_cache_ttl_seconds`, `auth_negative_cache_ttl_seconds`, and in JWT mode only
    /// `jwt_issuer`, `jwt_audience`, `jwt_jwks`, `jwt_revoked_jti` (each read is a host call, paid
    /// on every request).
    pub fn from_settings(setting: &dyn Fn(&str) -> Option<String>) -> AuthConfig {
        let defaults = AuthConfig::default();
        let text = |key: &str| setting(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mode = AuthMode::parse(setting("auth_mode").as_deref());
        let jwt = match mode {
            AuthMode::Jwt => jwt::JwtSettings {
                issuer: text("jwt_issuer"),
                audience: text("jwt_audience"),
                jwks: text("jwt_jwks"),
                revoked_jti: jwt::JwtSettings::parse_revoked(setting("jwt_revoked_jti").as_deref()),
            },
            _ => defaults.jwt,
        };
        AuthConfig {
            ttl_ok: text("auth_cache_ttl_seconds").and_then(|v| v.parse().ok()).unwrap_or(defaults.ttl_ok),
            ttl_denied: text("auth_negative_cache_ttl_seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(defaults.ttl_denied),
            mode,
            jwt,
        }
    }
}

/// The one place that picks the auth mode: the `Authorization` header to a tenant.
pub fn authenticate_request(
    header: Option<&str>,
    cache: &dyn Cache,
    transport: &dyn Transport,
    secrets: &dyn Secrets,
    now: u64,
    config: &AuthConfig,
) -> ScimResult<Tenant> {
    let token = token_from_header(header)?;
    match &config.mode {
        AuthMode::FastlyToken => {
            let api = FastlyApi::new(transport, &token, now);
            authenticate(&token, cache, &api, now, config)
        }
        AuthMode::Jwt => authenticate_jwt(&token, cache, transport, secrets, now, config),
        AuthMode::Unknown(_) => Err(ScimError::service_unavailable(
            "authentication is misconfigured: the auth_mode setting must be 'fastly_token' or 'jwt'",
        )),
    }
}

/// JWT mode: verify the JWT, then find and check the customer's upstream token.
fn authenticate_jwt(
    token: &str,
    cache: &dyn Cache,
    transport: &dyn Transport,
    secrets: &dyn Secrets,
    now: u64,
    config: &AuthConfig,
) -> ScimResult<Tenant> {
    // The HS256 key is only read for HS256 tokens.
    let hs256_key = if jwt::algorithm(token)? == Algorithm::HS256 { secrets.get(HS256_KEY_SECRET) } else { None };
    let claims = jwt::verify(token, hs256_key.as_deref(), &config.jwt, now)?;
    let customer = claims.fastly_customer_id;
    let secret_name = upstream_token_secret(&customer);
    let upstream = secrets
        .get(&secret_name)
        .and_then(|b| String::from_utf8(b).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ScimError::forbidden(format!(
                "this deployment holds no Fastly API token for customer '{customer}' (secret '{secret_name}')"
            ))
        })?;
    let api = FastlyApi::new(transport, &upstream, now);
    let tenant = authenticate(&upstream, cache, &api, now, config).map_err(|e| match e.status {
        401 | 403 => ScimError::forbidden(format!(
            "the Fastly API token stored for customer '{customer}' is not usable: {}",
            e.detail
        )),
        _ => e,
    })?;
    if tenant.customer_id != customer {
        return Err(ScimError::forbidden(format!(
            "the Fastly API token stored for customer '{customer}' belongs to another customer"
        )));
    }
    Ok(Tenant { actor: format!("jwt:{}", claims.jti), ..tenant })
}

const MAX_TOKEN_LEN: usize = 4096;

/// The token from `Authorization: Bearer <token>` or `Authorization: Basic base64(user:token)`.
pub fn token_from_header(header: Option<&str>) -> ScimResult<String> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ScimError::unauthorized("authentication required: send 'Authorization: Bearer <token>'"))?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded =
            STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                ScimError::unauthorized("the Basic credentials are not valid base64 of 'user:password'")
            })?;
        let (_, password) = decoded
            .split_once(':')
            .ok_or_else(|| ScimError::unauthorized("the Basic credentials must be 'user:password'"))?;
        password.to_owned()
    } else {
        return Err(ScimError::unauthorized("unsupported Authorization scheme: use Bearer (or Basic)"));
    };
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ScimError::unauthorized("the token is malformed"));
    }
    Ok(token)
}

/// A cached verdict.
#[derive(Debug, Serialize, Deserialize)]
struct Verdict {
    expires: u64,
    customer_id: Option<String>,
    status: u16,
    detail: String,
}

pub fn authenticate(
    token: &str,
    cache: &dyn Cache,
    api: &FastlyApi<'_>,
    now: u64,
    config: &AuthConfig,
) -> ScimResult<Tenant> {
    let digest = keys::digest(token);
    let key = keys::token(&digest);
    let actor = short_digest(token);
    let cached = cache.get(&key).and_then(|bytes| serde_json::from_slice::<Verdict>(&bytes).ok());
    let verdict = match cached {
        Some(v) if v.expires > now => v,
        _ => {
            let result = check_upstream(api, now);
            let verdict = match &result {
                Ok(customer_id) => Verdict {
                    expires: now + config.ttl_ok,
                    customer_id: Some(customer_id.clone()),
                    status: 200,
                    detail: String::new(),
                },
                Err(e) if e.status == 401 || e.status == 403 => Verdict {
                    expires: now + config.ttl_denied,
                    customer_id: None,
                    status: e.status,
                    detail: e.detail.clone(),
                },
                // Outages are not verdicts: say so now and ask again next time.
                Err(e) => return Err(e.clone()),
            };
            if let Ok(bytes) = serde_json::to_vec(&verdict) {
                // A cache that cannot be written only costs the next request a re-check.
                cache.put(&key, &bytes, verdict.expires.saturating_sub(now));
            }
            verdict
        }
    };
    match verdict.customer_id {
        Some(customer_id) if verdict.status == 200 && keys::is_safe_id(&customer_id) => {
            Ok(Tenant { customer_id, upstream_token: token.to_owned(), actor })
        }
        _ if verdict.status == 403 => Err(ScimError::forbidden(verdict.detail)),
        _ => Err(ScimError::unauthorized(if verdict.detail.is_empty() {
            "the token is not valid".to_owned()
        } else {
            verdict.detail
        })),
    }
}

/// Asks Fastly whether the token may manage users. `Ok(customer_id)` when it may.
fn check_upstream(api: &FastlyApi<'_>, now: u64) -> ScimResult<String> {
    let token = api.token_self().map_err(|e| match e.status {
        401 | 403 | 404 => ScimError::unauthorized("the Fastly API token is unknown, revoked or expired"),
        _ => e,
    })?;
    if let Some(expires) = token.expires_at.as_deref().and_then(crate::time::parse) {
        if expires <= now {
            return Err(ScimError::unauthorized("the Fastly API token has expired"));
        }
    }
    let scopes = token.scope_list();
    if !scopes.iter().any(|s| s == "global") {
        return Err(ScimError::forbidden(format!(
            "the Fastly API token needs the 'global' scope to manage users (it has '{}')",
            scopes.join(" ")
        )));
    }
    if token.services.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(ScimError::forbidden(
            "the Fastly API token is limited to some services; a token with access to all services is required",
        ));
    }
    let user = api.current_user().map_err(|e| match e.status {
        401 | 403 | 404 => ScimError::unauthorized("the Fastly API token is unknown, revoked or expired"),
        _ => e,
    })?;
    let superuser = user.role.as_deref() == Some("superuser") || user.role_list().iter().any(|r| r == "superuser");
    if !superuser {
        return Err(ScimError::forbidden(
            "the Fastly API token must belong to a superuser: only superusers can manage users",
        ));
    }
    Ok(token.customer_id)
}

#[cfg(test)]
mod tenancy_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::upstream::fake::{json, Scripted};

    const SELF_OK: &str = r#"{"id":"t1","user_id":"u1","customer_id":"C1","scope":"global","scopes":["global"],"services":[],"expires_at":null}"#;
    const SUPERUSER: &str = r#"{"id":"u1","login":"bot@example.com","role":"superuser","customer_id":"C1"}"#;

    #[test]
    fn parses_bearer_and_basic() {
        assert_eq!(token_from_header(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(token_from_header(Some("bearer  abc ")).unwrap(), "abc");
        let basic = format!("Basic {}", STANDARD.encode("okta:tok123"));
        assert_eq!(token_from_header(Some(&basic)).unwrap(), "tok123");
        for bad in [None, Some(""), Some("non-token"), Some("Bearer "), Some("Basic !!!"), Some("Token x")] {
            assert_eq!(token_from_header(bad).unwrap_err().status, 401, "{bad:?}");
        }
    }

    #[test]
    fn superuser_token_is_accepted_then_cached() {
        let store = MemoryCache::new();
        let t = Scripted::new(vec![json(200, SELF_OK), json(200, SUPERUSER)]);
        let api = FastlyApi::new(&t, "tok", 1000);
        let tenant = authenticate("tok", &store, &api, 1000, &AuthConfig::default()).unwrap();
        assert_eq!(tenant.customer_id, "C1");
        assert_eq!(t.sent.borrow().len(), 2);
        // Warm: no upstream call at all.
        authenticate("tok", &store, &api, 1100, &AuthConfig::default()).unwrap();
        assert_eq!(t.sent.borrow().len(), 2);
        assert!(store.keys().iter().all(|k| !k.contains("tok")));
    }

    #[test]
    fn requirements_are_named() {
        let cases = [
            (r#"{"user_id":"u","customer_id":"C1","scope":"global:read"}"#, SUPERUSER, 403, "global"),
            (
                r#"{"user_id":"u","customer_id":"C1","scope":"global","services":["S1"]}"#,
                SUPERUSER,
                403,
                "all services",
            ),
            (SELF_OK, r#"{"id":"u","login":"e@x.com","role":"engineer"}"#, 403, "superuser"),
            (
                r#"{"user_id":"u","customer_id":"C1","scope":"global","expires_at":"2000-01-01T00:00:00Z"}"#,
                SUPERUSER,
                401,
                "expired",
            ),
        ];
        for (token_self, current, status, words) in cases {
            let t = Scripted::new(vec![json(200, token_self), json(200, current)]);
            let api = FastlyApi::new(&t, "tok", 1_700_000_000);
            let e = authenticate("tok", &MemoryCache::new(), &api, 1_700_000_000, &AuthConfig::default()).unwrap_err();
            assert_eq!(e.status, status, "{token_self}");
            assert!(e.detail.contains(words), "{}", e.detail);
        }
    }

    #[test]
    fn unknown_token_is_401_and_outage_is_not_cached() {
        let store = MemoryCache::new();
        let t = Scripted::new(vec![json(401, r#"{"msg":"Provided credentials are missing or invalid"}"#)]);
        let api = FastlyApi::new(&t, "bad", 0);
        assert_eq!(authenticate("bad", &store, &api, 0, &AuthConfig::default()).unwrap_err().status, 401);
        let t = Scripted::new(vec![json(503, "{}"), json(200, SELF_OK), json(200, SUPERUSER)]);
        let api = FastlyApi::new(&t, "tok", 0);
        assert_eq!(authenticate("tok", &store, &api, 0, &AuthConfig::default()).unwrap_err().status, 502);
        assert!(authenticate("tok", &store, &api, 0, &AuthConfig::default()).is_ok());
    }

    const NOW: u64 = 1_800_000_000;
    const HS_KEY: &str = "a-test-key-of-at-least-thirty-two-bytes!";

    fn jwt_config() -> AuthConfig {
        let settings = BTreeMap::from([
            ("auth_mode".to_owned(), "jwt".to_owned()),
            ("jwt_issuer".to_owned(), "scim-edge-test".to_owned()),
            ("jwt_audience".to_owned(), "scim-edge".to_owned()),
        ]);
        AuthConfig::from_settings(&|k| settings.get(k).cloned())
    }

    fn jwt_for(customer: &str) -> String {
        let claims = jwt::Claims::new(customer, "scim-edge-test", "scim-edge", NOW, 3600, "okta-1");
        jwt::sign(&claims, &jwt::SigningKey::hs256(HS_KEY.as_bytes()).unwrap(), None).unwrap()
    }

    fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn settings_are_read_with_defaults() {
        let c = AuthConfig::from_settings(&|_| None);
        assert_eq!((c.ttl_ok, c.ttl_denied, c.mode), (300, 30, AuthMode::FastlyToken));
        let c = jwt_config();
        assert_eq!(c.mode, AuthMode::Jwt);
        assert_eq!(c.jwt.issuer.as_deref(), Some("scim-edge-test"));
        assert_eq!(AuthMode::parse(Some(" fastly_token ")), AuthMode::FastlyToken);
        assert_eq!(AuthMode::parse(Some("JWT")), AuthMode::Unknown("JWT".into()));
        // Outside JWT mode the jwt_* settings are not even read: each read costs a host call.
        let read = std::cell::RefCell::new(Vec::new());
        AuthConfig::from_settings(&|k| {
            read.borrow_mut().push(k.to_owned());
            None
        });
        assert!(read.borrow().iter().all(|k| !k.starts_with("jwt_")), "{:?}", read.borrow());
    }

    #[test]
    fn unknown_mode_refuses_everything() {
        let config = AuthConfig { mode: AuthMode::parse(Some("none")), ..AuthConfig::default() };
        let t = Scripted::new(vec![json(200, SELF_OK), json(200, SUPERUSER)]);
        let e =
            authenticate_request(Some("Bearer tok"), &MemoryCache::new(), &t, &NoSecrets, NOW, &config).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(t.sent.borrow().is_empty());
    }

    #[test]
    fn jwt_mode_uses_the_stored_upstream_token_and_caches_its_check() {
        let store = MemoryCache::new();
        let s = secrets(&[(HS256_KEY_SECRET, HS_KEY), ("fastly_token_C1", "stored-superuser-token\n")]);
        let t = Scripted::new(vec![json(200, SELF_OK), json(200, SUPERUSER)]);
        let header = format!("Bearer {}", jwt_for("C1"));
        let tenant = authenticate_request(Some(&header), &store, &t, &s, NOW, &jwt_config()).unwrap();
        assert_eq!(tenant.customer_id, "C1");
        assert_eq!(tenant.upstream_token, "stored-superuser-token");
        assert_eq!(tenant.actor, "jwt:okta-1");
        // The stored token (not the JWT) was checked upstream, with Fastly-Key only.
        assert_eq!(t.sent.borrow().len(), 2);
        assert!(t.sent.borrow().iter().all(|r| r.token == "stored-superuser-token"));
        // Warm: no upstream call.
        authenticate_request(Some(&header), &store, &t, &s, NOW + 10, &jwt_config()).unwrap();
        assert_eq!(t.sent.borrow().len(), 2);
        // Debug output never shows a token, neither the tenant's nor an upstream request's.
        assert!(!format!("{tenant:?}").contains("stored-superuser-token"));
        assert!(!format!("{:?}", t.sent.borrow()).contains("stored-superuser-token"));
        // A Fastly token is not a JWT in this mode.
        let e = authenticate_request(Some("Bearer stored-superuser-token"), &store, &t, &s, NOW, &jwt_config())
            .unwrap_err();
        assert_eq!(e.status, 401);
        assert_eq!(t.sent.borrow().len(), 2);
    }

    #[test]
    fn jwt_mode_refuses_customers_without_a_usable_token() {
        let header = format!("Bearer {}", jwt_for("C1"));
        // No stored token for the customer.
        let t = Scripted::new(vec![]);
        let s = secrets(&[(HS256_KEY_SECRET, HS_KEY), ("fastly_token_C2", "t2")]);
        let e = authenticate_request(Some(&header), &MemoryCache::new(), &t, &s, NOW, &jwt_config()).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.detail.contains("fastly_token_C1"), "{}", e.detail);
        assert!(t.sent.borrow().is_empty());
        // The stored token belongs to another customer: never act on the wrong account.
        let other_self = SELF_OK.replace("\"C1\"", "\"C2\"");
        let t = Scripted::new(vec![json(200, &other_self), json(200, SUPERUSER)]);
        let s = secrets(&[(HS256_KEY_SECRET, HS_KEY), ("fastly_token_C1", "t2")]);
        let e = authenticate_request(Some(&header), &MemoryCache::new(), &t, &s, NOW, &jwt_config()).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.detail.contains("another customer"), "{}", e.detail);
        // The stored token is not a superuser's.
        let t = Scripted::new(vec![json(200, SELF_OK), json(200, r#"{"id":"u","login":"e@x.com","role":"engineer"}"#)]);
        let e = authenticate_request(Some(&header), &MemoryCache::new(), &t, &s, NOW, &jwt_config()).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.detail.contains("superuser"), "{}", e.detail);
    }

    #[test]
    fn jwt_mode_refuses_bad_tokens_before_any_upstream_call() {
        let t = Scripted::new(vec![]);
        let s = secrets(&[(HS256_KEY_SECRET, HS_KEY), ("fastly_token_C1", "t1")]);
        let wrong_key = jwt::sign(
            &jwt::Claims::new("C1", "scim-edge-test", "scim-edge", NOW, 3600, "x"),
            &jwt::SigningKey::hs256(b"not-the-deployment-key-but-long-enough").unwrap(),
            None,
        )
        .unwrap();
        for header in [format!("Bearer {wrong_key}"), "Bearer x.y.z".into(), "non-token".into()] {
            let e = authenticate_request(Some(&header), &MemoryCache::new(), &t, &s, NOW, &jwt_config()).unwrap_err();
            assert_eq!(e.status, 401, "{header}");
            assert!(!e.detail.contains(&wrong_key));
        }
        assert!(t.sent.borrow().is_empty());
    }
}
