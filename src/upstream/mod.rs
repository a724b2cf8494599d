//! The Fastly REST API client. It builds form-encoded requests with `Fastly-Key`, sends them
//! through a [`Transport`] (the named backend at the edge, a fake in tests), and maps every
//! Fastly answer to typed results or a [`ScimError`].

use serde::{Deserialize, Serialize};

use crate::http::Method;
use crate::scim::error::ScimError;
use crate::store::keys::is_safe_id;
use crate::text::Text;

pub mod budget;
pub mod memory;

pub use budget::Budget;

#[derive(Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: Method,
    /// Always one of the fixed Fastly API routes with validated ids: never built from raw input.
    pub path: String,
    /// `application/x-www-form-urlencoded` body, if any.
    pub form: Option<String>,
    /// Sent as `Fastly-Key` (the only credential that goes upstream); redacted from `Debug`.
    pub token: String,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("form", &self.form)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub rate_limit_remaining: Option<u64>,
    pub rate_limit_reset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Timeout,
    Unreachable(String),
}

pub trait Transport {
    fn send(&self, req: &ApiRequest) -> Result<ApiResponse, TransportError>;
}

/// A Fastly user as the API returns it. Unknown fields are ignored; roles stay open strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastlyUser {
    pub id: String,
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl FastlyUser {
    /// The user's roles: the `roles` list when Fastly gives one, else the single `role`.
    pub fn role_list(&self) -> Vec<String> {
        match (&self.roles, &self.role) {
            (Some(list), _) if !list.is_empty() => list.clone(),
            (_, Some(role)) => vec![role.clone()],
            _ => Vec::new(),
        }
    }
}

/// Fastly's list of every user of an account, as it answered (tens of MB for a large account).
pub struct UserList(Vec<u8>);

impl std::fmt::Debug for UserList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserList({} bytes)", self.0.len())
    }
}

impl UserList {
    /// The users, their strings borrowed from the answer rather than copied.
    pub fn users(&self) -> Result<Vec<ListedUser<'_>>, ScimError> {
        serde_json::from_slice(&self.0)
            .map_err(|_| ScimError::bad_gateway("the Fastly API answered with an unexpected body"))
    }
}

/// A user of [`UserList`]: what scim-edge shows of a Fastly user, borrowed. Written with the
/// names of [`FastlyUser`], so it reads back as one.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListedUser<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub login: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Text<'a>>>,
}

impl ListedUser<'_> {
    pub fn to_owned(&self) -> FastlyUser {
        FastlyUser {
            id: self.id.to_string(),
            login: self.login.to_string(),
            name: self.name.as_deref().map(str::to_owned),
            role: self.role.as_deref().map(str::to_owned),
            roles: self.roles.as_ref().map(|r| r.iter().map(|t| t.to_string()).collect()),
            customer_id: None,
            created_at: None,
            updated_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    #[serde(default)]
    pub id: Option<String>,
    pub user_id: String,
    pub customer_id: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub services: Option<Vec<String>>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl TokenInfo {
    pub fn scope_list(&self) -> Vec<String> {
        match (&self.scopes, &self.scope) {
            (Some(list), _) if !list.is_empty() => list.clone(),
            (_, Some(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }
}

/// The fields of a create or update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFields {
    pub login: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
}

impl UserFields {
    fn form(&self) -> String {
        let mut f = form_urlencoded::Serializer::new(String::new());
        if let Some(v) = &self.login {
            f.append_pair("login", v);
        }
        if let Some(v) = &self.name {
            f.append_pair("name", v);
        }
        if let Some(v) = &self.role {
            f.append_pair("role", v);
        }
        f.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.login.is_none() && self.name.is_none() && self.role.is_none()
    }
}

/// A Fastly API error body: `{"msg": "...", "detail": "..."}`.
#[derive(Debug, Default, Deserialize)]
struct FastlyErrorBody {
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

pub struct FastlyApi<'a> {
    transport: &'a dyn Transport,
    token: &'a str,
    /// Unix seconds, for `Retry-After`.
    now: u64,
    budget: Option<Budget<'a>>,
}

impl<'a> FastlyApi<'a> {
    pub fn new(transport: &'a dyn Transport, token: &'a str, now: u64) -> Self {
        FastlyApi { transport, token, now, budget: None }
    }

    /// Writes check and record the hourly write budget.
    pub fn with_budget(mut self, budget: Budget<'a>) -> Self {
        self.budget = Some(budget);
        self
    }

    fn call(&self, method: Method, path: String, form: Option<String>) -> Result<ApiResponse, ScimError> {
        let write = method != Method::Get && method != Method::Head;
        if let (true, Some(budget)) = (write, &self.budget) {
            if let Some(wait) = budget.wait(self.now) {
                return Err(ScimError::too_many_requests(
                    format!("the Fastly API hourly write limit is spent; retry in {wait} seconds"),
                    wait,
                ));
            }
        }
        let req = ApiRequest { method, path, form, token: self.token.to_owned() };
        let resp = self.transport.send(&req).map_err(|e| match e {
            TransportError::Timeout => ScimError::gateway_timeout("the Fastly API did not answer in time"),
            TransportError::Unreachable(_) => ScimError::service_unavailable("the Fastly API is unreachable"),
        })?;
        if let (true, Some(budget)) = (write, &self.budget) {
            budget.observe(resp.rate_limit_remaining, resp.rate_limit_reset, resp.status);
        }
        Ok(resp)
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, resp: &ApiResponse) -> Result<T, ScimError> {
        serde_json::from_slice(&resp.body)
            .map_err(|_| ScimError::bad_gateway("the Fastly API answered with an unexpected body"))
    }

    /// Maps a non-2xx Fastly answer to the SCIM error the client should see.
    pub fn error(&self, resp: &ApiResponse) -> ScimError {
        let body: FastlyErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
        let text = match (body.msg, body.detail) {
            (Some(m), Some(d)) => format!("{m}: {d}"),
            (Some(m), None) => m,
            (None, Some(d)) => d,
            (None, None) => format!("status {}", resp.status),
        };
        match resp.status {
            400 | 422 => ScimError::invalid_value(format!("Fastly refused the change: {text}")),
            401 => ScimError::unauthorized(format!("Fastly rejected the token: {text}")),
            403 => ScimError::forbidden(format!("Fastly refused the change: {text}")),
            404 => ScimError::not_found(format!("Fastly has no such user: {text}")),
            409 => ScimError::uniqueness(format!("Fastly already has this login: {text}")),
            429 => {
                let wait = resp.rate_limit_reset.map(|r| r.saturating_sub(self.now)).unwrap_or(60).max(1);
                ScimError::too_many_requests(
                    format!("the Fastly API hourly write limit is spent; retry in {wait} seconds"),
                    wait,
                )
            }
            500..=599 => ScimError::bad_gateway(format!("the Fastly API failed: {text}")),
            _ => ScimError::bad_gateway(format!("the Fastly API answered unexpectedly: {text}")),
        }
    }

    fn ok<T: for<'de> Deserialize<'de>>(&self, resp: ApiResponse) -> Result<T, ScimError> {
        if (200..300).contains(&resp.status) {
            self.parse(&resp)
        } else {
            Err(self.error(&resp))
        }
    }

    pub fn current_user(&self) -> Result<FastlyUser, ScimError> {
        let r = self.call(Method::Get, "/current_user".into(), None)?;
        self.ok(r)
    }

    pub fn token_self(&self) -> Result<TokenInfo, ScimError> {
        let r = self.call(Method::Get, "/tokens/self".into(), None)?;
        self.ok(r)
    }

    pub fn list_users(&self, customer_id: &str) -> Result<UserList, ScimError> {
        let r = self.call(Method::Get, format!("/customer/{}/users", safe(customer_id)?), None)?;
        if (200..300).contains(&r.status) {
            Ok(UserList(r.body))
        } else {
            Err(self.error(&r))
        }
    }

    /// `None` when Fastly has no such user.
    pub fn get_user(&self, id: &str) -> Result<Option<FastlyUser>, ScimError> {
        let r = self.call(Method::Get, format!("/user/{}", safe(id)?), None)?;
        if r.status == 404 {
            return Ok(None);
        }
        self.ok(r).map(Some)
    }

    pub fn create_user(&self, fields: &UserFields) -> Result<FastlyUser, ScimError> {
        let r = self.call(Method::Post, "/user".into(), Some(fields.form()))?;
        self.ok(r)
    }

    pub fn update_user(&self, id: &str, fields: &UserFields) -> Result<FastlyUser, ScimError> {
        let r = self.call(Method::Put, format!("/user/{}", safe(id)?), Some(fields.form()))?;
        self.ok(r)
    }

    /// Deleting a user Fastly no longer has is a success: the goal (no access) holds.
    pub fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        let r = self.call(Method::Delete, format!("/user/{}", safe(id)?), None)?;
        if r.status == 404 || (200..300).contains(&r.status) {
            Ok(())
        } else {
            Err(self.error(&r))
        }
    }
}

fn safe(id: &str) -> Result<&str, ScimError> {
    if is_safe_id(id) {
        Ok(id)
    } else {
        Err(ScimError::bad_gateway("the Fastly API returned an id scim-edge cannot use"))
    }
}

#[cfg(test)]
pub mod fake {
    //! A scripted transport for unit tests of the client's mapping.
    use super::*;
    use std::cell::RefCell;

    pub struct Scripted {
        pub answers: RefCell<Vec<Result<ApiResponse, TransportError>>>,
        pub sent: RefCell<Vec<ApiRequest>>,
    }

    impl Scripted {
        pub fn new(answers: Vec<Result<ApiResponse, TransportError>>) -> Self {
            Scripted { answers: RefCell::new(answers), sent: RefCell::new(Vec::new()) }
        }
    }

    pub fn json(status: u16, body: &str) -> Result<ApiResponse, TransportError> {
        Ok(ApiResponse { status, body: body.as_bytes().to_vec(), rate_limit_remaining: None, rate_limit_reset: None })
    }

    impl Transport for Scripted {
        fn send(&self, req: &ApiRequest) -> Result<ApiResponse, TransportError> {
            self.sent.borrow_mut().push(req.clone());
            let mut a = self.answers.borrow_mut();
            if a.is_empty() {
                Err(TransportError::Unreachable("no scripted answer".into()))
            } else {
                a.remove(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{json, Scripted};
    use super::*;

    const USER: &str = r#"{"id":"1Iyp7cXku3sEDtOBxnhLaL","created_at":"2022-11-04T18:02:15Z","updated_at":"2022-11-04T18:02:15Z","name":"test user","customer_id":"51MumwLiSJyFTWhtbByYgR","require_new_password":null,"role":"engineer","login":"go-fastly-test+user+20221104@example.com","deleted_at":null,"locked":null,"two_factor_auth_enabled":null,"limit_services":false,"last_active_at":null}"#;

    #[test]
    fn create_sends_a_form_with_the_token() {
        let t = Scripted::new(vec![json(200, USER)]);
        let api = FastlyApi::new(&t, "tok", 0);
        let fields = UserFields {
            login: Some("a+b@example.com".into()),
            name: Some("A B".into()),
            role: Some("engineer".into()),
        };
        let u = api.create_user(&fields).unwrap();
        assert_eq!(u.role.as_deref(), Some("engineer"));
        let sent = t.sent.borrow();
        assert_eq!(sent[0].path, "/user");
        assert_eq!(sent[0].form.as_deref(), Some("login=a%2Bb%40example.com&name=A+B&role=engineer"));
        assert_eq!(sent[0].token, "tok");
    }

    #[test]
    fn rate_limit_becomes_429_with_retry_after() {
        let t = Scripted::new(vec![Ok(ApiResponse {
            status: 429,
            body: br#"{"msg":"You have exceeded your hourly rate limit."}"#.to_vec(),
            rate_limit_remaining: Some(0),
            rate_limit_reset: Some(1_000_600),
        })]);
        let err = FastlyApi::new(&t, "tok", 1_000_000).delete_user("abc").unwrap_err();
        assert_eq!(err.status, 429);
        assert_eq!(err.retry_after, Some(600));
    }

    #[test]
    fn transport_failures_map_to_gateway_errors() {
        let t = Scripted::new(vec![Err(TransportError::Timeout), Err(TransportError::Unreachable("x".into()))]);
        let api = FastlyApi::new(&t, "tok", 0);
        assert_eq!(api.get_user("abc").unwrap_err().status, 504);
        assert_eq!(api.get_user("abc").unwrap_err().status, 503);
    }

    #[test]
    fn server_errors_are_bad_gateway_and_missing_users_are_none() {
        let t = Scripted::new(vec![json(503, r#"{"msg":"oops"}"#), json(404, r#"{"msg":"Record not found"}"#)]);
        let api = FastlyApi::new(&t, "tok", 0);
        assert_eq!(api.get_user("abc").unwrap_err().status, 502);
        assert_eq!(api.get_user("abc").unwrap(), None);
    }

    #[test]
    fn ids_are_never_spliced_into_paths_unchecked() {
        let t = Scripted::new(vec![]);
        let api = FastlyApi::new(&t, "tok", 0);
        assert!(api.get_user("../_emulator/reset").is_err());
        assert!(t.sent.borrow().is_empty());
    }
}
