//! An in-memory Fastly user API behind [`Transport`], so the lifecycle rules are proven on the
//! host, threads included. It is `emulator/` in small, with the same routes, status codes and
//! bodies: users per customer; logins unique across all customers, compared case-insensitively;
//! `role`/`roles[]` resolved as Fastly does; the hourly write budget and its headers; a log of
//! every request; and faults injected per request: a status answer (nothing applied), a lost
//! answer (applied, then the connection breaks) and a timeout (applied after the client gave up,
//! as the emulator's `delay_ms` past the backend timeout).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use super::{ApiRequest, ApiResponse, Transport, TransportError};
use crate::http::Method;
use crate::scim::schema::FASTLY_ROLES;

/// Customer A of the emulator's seed.
pub const CUSTOMER: &str = "51MumwLiSJyFTWhtbByYgR";
/// Customer B of the emulator's seed.
pub const OTHER_CUSTOMER: &str = "2NfYQKW1WOyZAHfx5vHUz9";
/// The superuser token of customer A (owned by [`BOT_ID`]).
pub const TOKEN: &str = "dev-superuser-token";
pub const BOT_ID: &str = "1ScimBotSuperuserA0000";
/// 2026-01-01T00:00:00Z, the clock until [`MemoryFastly::set_now`].
pub const EPOCH: u64 = 1_767_225_600;
const DEFAULT_BUDGET: u64 = 1000;

pub const MSG_UNAUTHORIZED: &str = "Provided credentials are missing or invalid";
pub const MSG_RATE_LIMITED: &str =
    "You have exceeded your hourly rate limit. Please contact support@fastly.com if you think this is a mistake.";

/// A Fastly user as the account holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemUser {
    pub id: String,
    pub login: String,
    pub name: String,
    pub customer_id: String,
    pub role: String,
    pub roles: Vec<String>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl MemUser {
    fn view(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": crate::time::format(self.created_at),
            "updated_at": crate::time::format(self.updated_at),
            "name": self.name,
            "customer_id": self.customer_id,
            "require_new_password": null,
            "role": self.role,
            "roles": self.roles,
            "login": self.login,
            "deleted_at": null,
            "locked": null,
            "two_factor_auth_enabled": null,
            "limit_services": false,
            "last_active_at": null,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with `{"msg": "<reason>"}`; nothing is applied, no budget is spent.
    Status(u16),
    /// Handle the request normally, then break the connection: the caller gets no answer.
    LostAnswer,
    /// Handle the request normally, but the caller's timeout fires first.
    Timeout,
}

/// A fault for the next `count` requests that match `method` and `path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_prefix: String,
    pub count: usize,
    pub kind: FaultKind,
}

impl Fault {
    pub fn status(method: Method, path_prefix: &str, status: u16) -> Fault {
        Fault { method: Some(method), path_prefix: path_prefix.to_owned(), count: 1, kind: FaultKind::Status(status) }
    }

    pub fn lost_answer(method: Method, path_prefix: &str) -> Fault {
        Fault { method: Some(method), path_prefix: path_prefix.to_owned(), count: 1, kind: FaultKind::LostAnswer }
    }

    pub fn timeout(method: Method, path_prefix: &str) -> Fault {
        Fault { method: Some(method), path_prefix: path_prefix.to_owned(), count: 1, kind: FaultKind::Timeout }
    }

    pub fn times(self, count: usize) -> Fault {
        Fault { count, ..self }
    }

    fn matches(&self, req: &ApiRequest) -> bool {
        self.count > 0 && self.method.is_none_or(|m| m == req.method) && req.path.starts_with(&self.path_prefix)
    }
}

struct State {
    users: Vec<MemUser>,
    /// (secret, owner's user id)
    tokens: Vec<(String, String)>,
    next_id: u64,
    faults: Vec<Fault>,
    log: Vec<ApiRequest>,
    now: u64,
    remaining: u64,
    reset: u64,
}

impl State {
    fn user(&self, id: &str) -> Option<&MemUser> {
        self.users.iter().find(|u| u.id == id)
    }

    fn roll_budget(&mut self) {
        if self.now >= self.reset {
            self.remaining = DEFAULT_BUDGET;
            self.reset = next_top_of_hour(self.now);
        }
    }
}

/// The in-memory account. `Sync`: share one between threads.
pub struct MemoryFastly {
    state: Mutex<State>,
    latency: Mutex<Duration>,
}

fn next_top_of_hour(now: u64) -> u64 {
    (now / 3600 + 1) * 3600
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn answer(status: u16, body: &Value) -> ApiResponse {
    ApiResponse { status, body: body.to_string().into_bytes(), rate_limit_remaining: None, rate_limit_reset: None }
}

fn msg(status: u16, msg: &str) -> ApiResponse {
    answer(status, &json!({ "msg": msg }))
}

fn err(status: u16, msg: &str, detail: &str) -> ApiResponse {
    answer(status, &json!({ "msg": msg, "detail": detail }))
}

fn bad_request(detail: &str) -> ApiResponse {
    err(400, "Bad request", detail)
}

fn user_not_found(id: &str) -> ApiResponse {
    err(404, "Record not found", &format!("Couldn't find User '{id}'"))
}

fn method_not_allowed(route: &str, allow: &str) -> ApiResponse {
    err(405, "Method not allowed", &format!("the method is not allowed on {route}; allowed: {allow}"))
}

/// Whether a login looks like an email address (as the emulator checks it).
fn valid_login(login: &str) -> bool {
    let mut parts = login.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && !login.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

#[derive(Default)]
struct Form {
    login: Option<String>,
    name: Option<String>,
    role: Option<String>,
    roles: Option<Vec<String>>,
    other: bool,
}

fn parse_form(body: Option<&str>) -> Result<Form, ApiResponse> {
    let Some(body) = body else {
        return Err(bad_request("Content-Type must be application/x-www-form-urlencoded, not '(none)'"));
    };
    let mut form = Form::default();
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        let once = |slot: &mut Option<String>| {
            if slot.is_some() {
                return Err(bad_request(&format!("{k} is given more than once")));
            }
            *slot = Some(v.clone());
            Ok(())
        };
        match k.as_str() {
            "login" => once(&mut form.login)?,
            "name" => once(&mut form.name)?,
            "role" => once(&mut form.role)?,
            "roles[]" => form.roles.get_or_insert_with(Vec::new).push(v),
            "limit_services" | "locked" | "require_new_password" => {
                if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                    return Err(bad_request(&format!("{k} must be true or false, not '{v}'")));
                }
                form.other = true;
            }
            "two_factor_auth_enabled" | "two_factor_setup_required" => {
                return Err(bad_request(&format!("{k} is not editable through this endpoint")))
            }
            _ => return Err(bad_request(&format!("Unknown field '{k}'"))),
        }
    }
    Ok(form)
}

/// The final `(role, roles)` from what a form sent (the emulator's `resolve_roles`).
fn resolve_roles(
    current: Option<(&str, &[String])>,
    role: Option<&str>,
    roles: Option<&[String]>,
) -> Result<(String, Vec<String>), ApiResponse> {
    for r in role.iter().copied().chain(roles.unwrap_or_default().iter().map(String::as_str)) {
        if !FASTLY_ROLES.contains(&r) {
            return Err(bad_request(&format!("Invalid role '{r}'; must be one of {}", FASTLY_ROLES.join(", "))));
        }
    }
    let (role, roles) = match (role, roles) {
        (None, None) => match current {
            Some((r, rs)) => (r.to_owned(), rs.to_vec()),
            None => ("user".to_owned(), vec!["user".to_owned()]),
        },
        (Some(r), None) => (r.to_owned(), vec![r.to_owned()]),
        (role, Some(rs)) => {
            let Some(first) = rs.first() else {
                return Err(bad_request("roles[] must not be empty"));
            };
            let role = match role {
                Some(r) if rs.iter().any(|x| x == r) => r.to_owned(),
                Some(r) => return Err(bad_request(&format!("role '{r}' is not among roles[]"))),
                None => match current {
                    Some((r, _)) if rs.iter().any(|x| x == r) => r.to_owned(),
                    _ => first.clone(),
                },
            };
            (role, rs.to_vec())
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    if !roles.iter().all(|r| seen.insert(r)) {
        return Err(bad_request("roles[] lists a role twice"));
    }
    if roles.len() > 1 && roles.iter().any(|r| r == "superuser") {
        return Err(bad_request("The superuser role cannot be combined with other roles"));
    }
    Ok((role, roles))
}

impl Default for MemoryFastly {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryFastly {
    /// Customer A with only its superuser (scim-bot, who owns [`TOKEN`]); customer B with its admin.
    pub fn new() -> Self {
        let bot = MemUser {
            id: BOT_ID.into(),
            login: "scim-bot@example.com".into(),
            name: "SCIM Bot".into(),
            customer_id: CUSTOMER.into(),
            role: "superuser".into(),
            roles: vec!["superuser".into()],
            created_at: EPOCH,
            updated_at: EPOCH,
        };
        let admin = MemUser {
            id: "2AdminSuperuserB000000".into(),
            login: "admin@example.net".into(),
            name: "Other Admin".into(),
            customer_id: OTHER_CUSTOMER.into(),
            ..bot.clone()
        };
        MemoryFastly {
            state: Mutex::new(State {
                users: vec![bot, admin],
                tokens: vec![
                    (TOKEN.into(), BOT_ID.into()),
                    ("dev-other-superuser-token".into(), "2AdminSuperuserB000000".into()),
                ],
                next_id: 0,
                faults: Vec::new(),
                log: Vec::new(),
                now: EPOCH,
                remaining: DEFAULT_BUDGET,
                reset: next_top_of_hour(EPOCH),
            }),
            latency: Mutex::new(Duration::ZERO),
        }
    }

    /// [`Self::new`] plus the control-panel users of the emulator's default seed (same ids).
    pub fn seeded() -> Self {
        let f = Self::new();
        for (id, login, name, roles) in [
            ("1EngineerUserA00000000", "engineer@example.com", "Dev Engineer", &["engineer"][..]),
            ("1AliceEngineerA0000000", "alice@example.com", "Alice Example", &["engineer"][..]),
            ("1BobUserA0000000000000", "bob@example.com", "Bob Example", &["user"][..]),
            ("1CarolTwoRolesA0000000", "carol@example.com", "Carol Example", &["engineer", "billing"][..]),
            ("1DaveBillingA000000000", "dave@example.org", "Dave Example", &["billing"][..]),
        ] {
            f.insert(CUSTOMER, Some(id), login, name, roles);
        }
        f.insert(OTHER_CUSTOMER, Some("2ErinUserB000000000000"), "erin@example.net", "Erin Other", &["user"]);
        f
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, customer: &str, id: Option<&str>, login: &str, name: &str, roles: &[&str]) -> String {
        let mut st = self.lock();
        let id = id.map(str::to_owned).unwrap_or_else(|| {
            st.next_id += 1;
            format!("M{:021}", st.next_id)
        });
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let now = st.now;
        st.users.push(MemUser {
            id: id.clone(),
            login: login.into(),
            name: name.into(),
            customer_id: customer.into(),
            role: roles.first().cloned().unwrap_or_else(|| "user".into()),
            roles,
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// A user made in the control panel (its first role is `role`). Returns its id.
    pub fn add_user(&self, customer: &str, login: &str, name: &str, roles: &[&str]) -> String {
        self.insert(customer, None, login, name, roles)
    }

    /// Roles changed in the control panel.
    pub fn set_roles(&self, id: &str, role: &str, roles: &[&str]) {
        let mut st = self.lock();
        let now = st.now;
        if let Some(u) = st.users.iter_mut().find(|u| u.id == id) {
            u.role = role.into();
            u.roles = roles.iter().map(|r| (*r).to_owned()).collect();
            u.updated_at = now;
        }
    }

    /// A user deleted in the control panel.
    pub fn remove_user(&self, id: &str) {
        self.lock().users.retain(|u| u.id != id);
    }

    pub fn user(&self, id: &str) -> Option<MemUser> {
        self.lock().user(id).cloned()
    }

    pub fn user_by_login(&self, login: &str) -> Option<MemUser> {
        self.lock().users.iter().find(|u| u.login.eq_ignore_ascii_case(login)).cloned()
    }

    pub fn users(&self, customer: &str) -> Vec<MemUser> {
        self.lock().users.iter().filter(|u| u.customer_id == customer).cloned().collect()
    }

    /// Every request received since the start or [`Self::clear_requests`], faulted ones included.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.lock().log.clone()
    }

    /// The writes (POST/PUT/PATCH/DELETE) among [`Self::requests`].
    pub fn write_requests(&self) -> Vec<ApiRequest> {
        self.requests().into_iter().filter(|r| r.method != Method::Get).collect()
    }

    /// How many writes were sent: what the hourly budget pays for.
    pub fn writes(&self) -> usize {
        self.write_requests().len()
    }

    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    pub fn fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Sets what is left of the hourly write budget in the current window.
    pub fn set_remaining(&self, remaining: u64) {
        let mut st = self.lock();
        st.roll_budget();
        st.remaining = remaining;
    }

    pub fn set_now(&self, now: u64) {
        self.lock().now = now;
    }

    pub fn now(&self) -> u64 {
        self.lock().now
    }

    /// Time each request takes (a real API call takes ~100 ms): widens race windows.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = latency;
    }

    fn handle(&self, req: &ApiRequest) -> (ApiResponse, Option<FaultKind>) {
        let mut st = self.lock();
        st.log.push(req.clone());
        let fault = st.faults.iter_mut().find(|f| f.matches(req)).map(|f| {
            f.count -= 1;
            f.kind
        });
        st.faults.retain(|f| f.count > 0);
        if let Some(FaultKind::Status(s)) = fault {
            return (msg(s, reason(s)), fault);
        }
        let Some(caller) = st.tokens.iter().find(|(t, _)| *t == req.token).map(|(_, u)| u.clone()) else {
            return (msg(401, MSG_UNAUTHORIZED), fault);
        };
        let Some(caller) = st.user(&caller).cloned() else {
            return (msg(401, MSG_UNAUTHORIZED), fault);
        };
        if req.method == Method::Get {
            return (route(&mut st, req, &caller), fault);
        }
        st.roll_budget();
        let mut resp = if st.remaining == 0 {
            msg(429, MSG_RATE_LIMITED)
        } else {
            st.remaining -= 1;
            route(&mut st, req, &caller)
        };
        resp.rate_limit_remaining = Some(st.remaining);
        resp.rate_limit_reset = Some(st.reset);
        (resp, fault)
    }
}

fn route(st: &mut State, req: &ApiRequest, caller: &MemUser) -> ApiResponse {
    let segments: Vec<&str> = req.path.split('/').collect();
    let result = match (segments.as_slice(), req.method) {
        (["", "user"], Method::Post) => create_user(st, req, caller),
        (["", "user"], _) => Err(method_not_allowed("/user", "POST")),
        (["", "user", id], Method::Get) => find(st, caller, id).map(|u| answer(200, &u.view())),
        (["", "user", id], Method::Put) => update_user(st, req, caller, id),
        (["", "user", id], Method::Delete) => delete_user(st, req, caller, id),
        (["", "user", _], _) => Err(method_not_allowed("/user/{id}", "GET, PUT, DELETE")),
        (["", "customer", cid, "users"], Method::Get) => {
            if *cid == caller.customer_id {
                let users: Vec<Value> = st.users.iter().filter(|u| u.customer_id == *cid).map(MemUser::view).collect();
                Ok(answer(200, &Value::Array(users)))
            } else {
                Err(err(403, "Forbidden", &format!("You are not authorized to access the users of customer '{cid}'")))
            }
        }
        (["", "current_user"], Method::Get) => Ok(answer(200, &caller.view())),
        (["", "tokens", "self"], Method::Get) => Ok(answer(
            200,
            &json!({"id": "7TokenSuperuserA000000", "user_id": caller.id, "customer_id": caller.customer_id,
                    "name": "scim-edge", "scope": "global", "scopes": ["global"], "services": [],
                    "service_id": null, "expires_at": null}),
        )),
        _ => Err(msg(404, "Not found")),
    };
    result.unwrap_or_else(|e| e)
}

fn find<'s>(st: &'s State, caller: &MemUser, id: &str) -> Result<&'s MemUser, ApiResponse> {
    st.user(id).filter(|u| u.customer_id == caller.customer_id).ok_or_else(|| user_not_found(id))
}

fn create_user(st: &mut State, req: &ApiRequest, caller: &MemUser) -> Result<ApiResponse, ApiResponse> {
    if caller.role != "superuser" {
        return Err(err(403, "Forbidden", "Only superusers can create users"));
    }
    let form = parse_form(req.form.as_deref())?;
    let login = form.login.as_deref().ok_or_else(|| bad_request("login is required"))?;
    if !valid_login(login) {
        return Err(bad_request(&format!("login '{login}' is not a valid email address")));
    }
    let name = form.name.as_deref().ok_or_else(|| bad_request("name is required"))?;
    if name.trim().is_empty() {
        return Err(bad_request("Name can't be blank"));
    }
    let (role, roles) = resolve_roles(None, form.role.as_deref(), form.roles.as_deref())?;
    if st.users.iter().any(|u| u.login.to_lowercase() == login.to_lowercase()) {
        return Err(err(409, "Duplicate record", &format!("Duplicate user: '{login}'")));
    }
    st.next_id += 1;
    let user = MemUser {
        id: format!("M{:021}", st.next_id),
        login: login.into(),
        name: name.into(),
        customer_id: caller.customer_id.clone(),
        role,
        roles,
        created_at: st.now,
        updated_at: st.now,
    };
    let resp = answer(200, &user.view());
    st.users.push(user);
    Ok(resp)
}

fn update_user(st: &mut State, req: &ApiRequest, caller: &MemUser, id: &str) -> Result<ApiResponse, ApiResponse> {
    let target = find(st, caller, id)?.clone();
    if caller.role != "superuser" {
        return Err(err(403, "Forbidden", "Only superusers can change other users"));
    }
    let form = parse_form(req.form.as_deref())?;
    if form.login.is_none() && form.name.is_none() && form.role.is_none() && form.roles.is_none() && !form.other {
        return Err(bad_request("No fields to update"));
    }
    if form.login.as_deref().is_some_and(|l| l != target.login) {
        return Err(bad_request("login is read-only and cannot be changed"));
    }
    if form.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(bad_request("Name can't be blank"));
    }
    let (role, roles) =
        resolve_roles(Some((&target.role, &target.roles)), form.role.as_deref(), form.roles.as_deref())?;
    let now = st.now;
    let user = st.users.iter_mut().find(|u| u.id == id).ok_or_else(|| user_not_found(id))?;
    if let Some(name) = form.name {
        user.name = name;
    }
    user.role = role;
    user.roles = roles;
    user.updated_at = now;
    Ok(answer(200, &user.view()))
}

fn delete_user(st: &mut State, req: &ApiRequest, caller: &MemUser, id: &str) -> Result<ApiResponse, ApiResponse> {
    find(st, caller, id)?;
    if caller.role != "superuser" {
        return Err(err(403, "Forbidden", "Only superusers can delete users"));
    }
    if req.form.is_some() {
        return Err(bad_request("DELETE /user/{id} takes no body"));
    }
    if id == caller.id {
        return Err(bad_request("You cannot delete yourself"));
    }
    if st.tokens.iter().any(|(_, owner)| owner == id) {
        return Err(bad_request(&format!("User '{id}' still owns API tokens; revoke them before deleting the user")));
    }
    st.users.retain(|u| u.id != id);
    Ok(answer(200, &json!({"status": "ok"})))
}

impl Transport for MemoryFastly {
    fn send(&self, req: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let latency = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        match self.handle(req) {
            (_, Some(FaultKind::LostAnswer)) => {
                Err(TransportError::Unreachable("the connection closed before the answer".into()))
            }
            (_, Some(FaultKind::Timeout)) => Err(TransportError::Timeout),
            (resp, _) => Ok(resp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{FastlyApi, UserFields};

    fn fields(login: &str, role: Option<&str>) -> UserFields {
        UserFields { login: Some(login.into()), name: Some("A B".into()), role: role.map(str::to_owned) }
    }

    #[test]
    fn users_are_created_read_updated_and_deleted_as_fastly_does() {
        let f = MemoryFastly::new();
        let api = FastlyApi::new(&f, TOKEN, EPOCH);
        let u = api.create_user(&fields("a@example.com", None)).unwrap();
        assert_eq!((u.role.as_deref(), u.role_list()), (Some("user"), vec!["user".to_owned()]));
        assert_eq!(u.customer_id.as_deref(), Some(CUSTOMER));
        assert_eq!(api.get_user(&u.id).unwrap().unwrap().login, "a@example.com");
        let dup = api.create_user(&fields("A@EXAMPLE.COM", Some("engineer"))).unwrap_err();
        assert_eq!(dup.status, 409);
        assert!(dup.detail.contains("Duplicate user: 'A@EXAMPLE.COM'"), "{}", dup.detail);
        let changed = api.update_user(&u.id, &UserFields { role: Some("engineer".into()), ..Default::default() });
        assert_eq!(changed.unwrap().role_list(), vec!["engineer".to_owned()]);
        assert_eq!(api.list_users(CUSTOMER).unwrap().users().unwrap().len(), 2);
        api.delete_user(&u.id).unwrap();
        assert_eq!(api.get_user(&u.id).unwrap(), None);
        assert_eq!(f.writes(), 4);
    }

    #[test]
    fn refusals_match_the_emulator() {
        let f = MemoryFastly::seeded();
        let api = FastlyApi::new(&f, TOKEN, EPOCH);
        assert_eq!(api.create_user(&fields("not-an-email", None)).unwrap_err().status, 400);
        assert_eq!(api.create_user(&fields("z@example.com", Some("admin"))).unwrap_err().status, 400);
        // Logins are unique across customers.
        assert_eq!(api.create_user(&fields("erin@example.net", None)).unwrap_err().status, 409);
        assert_eq!(api.get_user("2ErinUserB000000000000").unwrap(), None);
        assert_eq!(api.list_users(OTHER_CUSTOMER).unwrap_err().status, 403);
        assert_eq!(api.delete_user(BOT_ID).unwrap_err().status, 400);
        let bad = FastlyApi::new(&f, "nope", EPOCH);
        assert_eq!(bad.list_users(CUSTOMER).unwrap_err().status, 401);
        assert_eq!(api.current_user().unwrap().role.as_deref(), Some("superuser"));
        assert_eq!(api.token_self().unwrap().customer_id, CUSTOMER);
        let carol = api.get_user("1CarolTwoRolesA0000000").unwrap().unwrap();
        assert_eq!(carol.role_list(), vec!["engineer".to_owned(), "billing".to_owned()]);
    }

    #[test]
    fn faults_and_the_hourly_budget() {
        let f = MemoryFastly::new();
        let api = FastlyApi::new(&f, TOKEN, EPOCH);
        f.fault(Fault::status(Method::Post, "/user", 503).times(2));
        assert_eq!(api.create_user(&fields("a@example.com", None)).unwrap_err().status, 502);
        assert_eq!(api.create_user(&fields("a@example.com", None)).unwrap_err().status, 502);
        assert!(f.user_by_login("a@example.com").is_none());
        f.fault(Fault::lost_answer(Method::Post, "/user"));
        assert_eq!(api.create_user(&fields("a@example.com", None)).unwrap_err().status, 503);
        assert!(f.user_by_login("a@example.com").is_some(), "a lost answer was applied");
        f.fault(Fault::timeout(Method::Post, "/user"));
        assert_eq!(api.create_user(&fields("b@example.com", None)).unwrap_err().status, 504);
        assert!(f.user_by_login("b@example.com").is_some(), "a timed-out request went through");

        f.set_remaining(1);
        let id = f.user_by_login("a@example.com").unwrap().id;
        api.update_user(&id, &UserFields { name: Some("X".into()), ..Default::default() }).unwrap();
        let spent = api.update_user(&id, &UserFields { name: Some("Y".into()), ..Default::default() }).unwrap_err();
        assert_eq!((spent.status, spent.retry_after), (429, Some(3600)));
        assert_eq!(f.user(&id).unwrap().name, "X");
        // Reads are never limited.
        assert!(api.get_user(&id).unwrap().is_some());
        f.set_now(EPOCH + 3600);
        assert!(api.update_user(&id, &UserFields { name: Some("Y".into()), ..Default::default() }).is_ok());
    }
}
