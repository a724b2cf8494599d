//! Who is calling: the bearer is a Fastly API token (also accepted as the password of HTTP Basic).
//! It is checked against the Fastly API — a superuser's token, `global` scope, all services, not
//! expired — and the verdict is cached in the store under a digest of the token, so the warm
//! path makes no upstream call. The tenant is the token's Fastly customer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::scim::error::{ScimError, ScimResult};
use crate::store::{keys, Store, Write};
use crate::upstream::FastlyApi;

/// The account a request acts on, and the token its upstream calls use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub customer_id: String,
    pub upstream_token: String,
    /// A short digest of the caller's token for the audit log: never the token itself.
    pub actor: String,
}

#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    /// Seconds a positive verdict is reused.
    pub ttl_ok: u64,
    /// Seconds a refusal (401/403) is reused.
    pub ttl_denied: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { ttl_ok: 300, ttl_denied: 30 }
    }
}

const MAX_TOKEN_LEN: usize = 4096;

/// The token from `Authorization: Bearer <token>` or `Authorization: Basic base64(user:token)`.
pub fn token_from_header(header: Option<&str>) -> ScimResult<String> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or_else(|| {
        ScimError::unauthorized("authentication required: send 'Authorization: Bearer <Fastly API token>'")
    })?;
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
    store: &dyn Store,
    api: &FastlyApi<'_>,
    now: u64,
    config: &AuthConfig,
) -> ScimResult<Tenant> {
    let digest = keys::digest(token);
    let key = keys::token(&digest);
    let actor: String = digest.chars().take(12).collect();
    let cached = store.get(&key).ok().flatten().and_then(|e| serde_json::from_slice::<Verdict>(&e.value).ok());
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
                let _ = store.put(&key, &bytes, Write::Overwrite);
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
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
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
        let store = MemoryStore::new();
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
            let e = authenticate("tok", &MemoryStore::new(), &api, 1_700_000_000, &AuthConfig::default()).unwrap_err();
            assert_eq!(e.status, status, "{token_self}");
            assert!(e.detail.contains(words), "{}", e.detail);
        }
    }

    #[test]
    fn unknown_token_is_401_and_outage_is_not_cached() {
        let store = MemoryStore::new();
        let t = Scripted::new(vec![json(401, r#"{"msg":"Provided credentials are missing or invalid"}"#)]);
        let api = FastlyApi::new(&t, "bad", 0);
        assert_eq!(authenticate("bad", &store, &api, 0, &AuthConfig::default()).unwrap_err().status, 401);
        let t = Scripted::new(vec![json(503, "{}"), json(200, SELF_OK), json(200, SUPERUSER)]);
        let api = FastlyApi::new(&t, "tok", 0);
        assert_eq!(authenticate("tok", &store, &api, 0, &AuthConfig::default()).unwrap_err().status, 502);
        assert!(authenticate("tok", &store, &api, 0, &AuthConfig::default()).is_ok());
    }
}
