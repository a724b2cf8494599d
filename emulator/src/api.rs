//! The emulated api.fastly.com routes (the `--listen` socket).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::http::{decode_form, Outcome, Request, Response};
use crate::seed::Seed;
use crate::state::{Fault, State, Token, User, ROLES};
use crate::time::{http_date, iso};

/// State shared by both sockets.
pub struct Shared {
    pub state: Mutex<State>,
    pub seed: Seed,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub const MSG_UNAUTHORIZED: &str = "Provided credentials are missing or invalid";
pub const MSG_RATE_LIMITED: &str =
    "You have exceeded your hourly rate limit. Please contact support@fastly.com if you think this is a mistake.";

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

fn msg(status: u16, msg: &str) -> Response {
    Response::json_ser(status, &ErrorBody { msg, detail: None })
}

fn err(status: u16, msg: &str, detail: &str) -> Response {
    Response::json_ser(status, &ErrorBody { msg, detail: Some(detail) })
}

fn bad_request(detail: &str) -> Response {
    err(400, "Bad request", detail)
}

fn forbidden(detail: &str) -> Response {
    err(403, "Forbidden", detail)
}

fn user_not_found(id: &str) -> Response {
    err(404, "Record not found", &format!("Couldn't find User '{id}'"))
}

fn method_not_allowed(method: &str, path: &str, allow: &str) -> Response {
    err(405, "Method not allowed", &format!("{method} is not allowed on {path}; allowed: {allow}"))
        .with_header("Allow", allow)
}

/// Handles one request on the API socket: faults, then the API itself, then the log.
pub fn handle(shared: &Arc<Shared>, req: Request) -> Outcome {
    let fault = shared.lock().take_fault(&req.method, &req.path);
    if let Some(f) = &fault {
        if f.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(f.delay_ms));
        }
    }
    let mut st = shared.lock();
    let mut resp = match &fault {
        Some(Fault { status: Some(status), body, .. }) => match body {
            Some(b) => Response::json_text(*status, b.clone()),
            None => msg(*status, crate::http::reason(*status)),
        },
        _ => dispatch(&mut st, &req),
    };
    let now = st.now();
    resp = resp.with_header("Date", http_date(now));
    log(&mut st, &req, &resp, fault.as_ref());
    drop(st);
    if fault.is_some_and(|f| f.drop_response) {
        Outcome::Drop
    } else {
        Outcome::Respond(resp)
    }
}

/// Records a request in the log that `/_emulator/requests` returns.
fn log(st: &mut State, req: &Request, resp: &Response, fault: Option<&Fault>) {
    let mut headers = Map::new();
    for (n, v) in &req.headers {
        let joined = match headers.get(n).and_then(Value::as_str) {
            Some(prev) => format!("{prev}, {v}"),
            None => v.clone(),
        };
        headers.insert(n.clone(), Value::String(joined));
    }
    let mut form = Map::new();
    if req.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(&req.body);
        for (k, v) in decode_form(&text).unwrap_or_default() {
            match form.get_mut(&k) {
                Some(Value::Array(items)) => items.push(Value::String(v)),
                Some(prev) => {
                    let first = prev.take();
                    *prev = Value::Array(vec![first, Value::String(v)]);
                }
                None if k.ends_with("[]") => {
                    form.insert(k, Value::Array(vec![Value::String(v)]));
                }
                None => {
                    form.insert(k, Value::String(v));
                }
            }
        }
    }
    let mut entry = json!({
        "seq": st.next_seq,
        "time": iso(st.now()),
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": headers,
        "form": form,
        "body": String::from_utf8_lossy(&req.body),
        "status": resp.status,
    });
    if let (Some(f), Some(obj)) = (fault, entry.as_object_mut()) {
        obj.insert("fault".into(), serde_json::to_value(f).unwrap_or(Value::Null));
    }
    st.next_seq += 1;
    st.log.push(entry);
}

/// The authenticated caller.
struct Caller {
    token: Token,
    user: User,
}

impl Caller {
    fn can_read(&self) -> bool {
        self.token.scopes.iter().any(|s| s == "global" || s == "global:read")
    }
}

fn authenticate(st: &mut State, req: &Request) -> Result<Caller, Response> {
    let unauthorized = || msg(401, MSG_UNAUTHORIZED);
    let key = req.header("fastly-key").ok_or_else(unauthorized)?;
    let now = st.now();
    let token = st.tokens.iter_mut().find(|t| t.secret == key).ok_or_else(unauthorized)?;
    if token.expires_at.is_some_and(|e| e <= now) {
        return Err(err(401, MSG_UNAUTHORIZED, "Token has expired"));
    }
    token.last_used_at = Some(now);
    token.ip = req.peer.map(|p| p.ip().to_string());
    token.user_agent = req.header("user-agent").map(str::to_string);
    let token = token.clone();
    let user = st.user(&token.user_id).cloned().ok_or_else(unauthorized)?;
    Ok(Caller { token, user })
}

fn dispatch(st: &mut State, req: &Request) -> Response {
    if req.path == "/dns-query" {
        return dns_query(st, req);
    }
    let caller = match authenticate(st, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        return route(st, req, &caller);
    }
    let budget = st.budget(&caller.user.id);
    let reset = budget.reset;
    let resp = if budget.remaining == 0 {
        msg(429, MSG_RATE_LIMITED)
    } else {
        budget.remaining -= 1;
        route(st, req, &caller)
    };
    let remaining = st.budget(&caller.user.id).remaining;
    resp.with_header("Fastly-RateLimit-Remaining", remaining.to_string())
        .with_header("Fastly-RateLimit-Reset", reset.to_string())
}

fn route(st: &mut State, req: &Request, caller: &Caller) -> Response {
    let segments: Vec<&str> = req.path.split('/').collect();
    let m = req.method.as_str();
    match segments.as_slice() {
        ["", "user"] => match m {
            "POST" => create_user(st, req, caller),
            _ => method_not_allowed(m, "/user", "POST"),
        },
        ["", "user", id] if !id.is_empty() => match m {
            "GET" => get_user(st, caller, id),
            "PUT" => update_user(st, req, caller, id),
            "DELETE" => delete_user(st, req, caller, id),
            _ => method_not_allowed(m, "/user/{id}", "GET, PUT, DELETE"),
        },
        ["", "customer", cid, "users"] if !cid.is_empty() => match m {
            "GET" => list_users(st, caller, cid),
            _ => method_not_allowed(m, "/customer/{id}/users", "GET"),
        },
        ["", "current_user"] => match m {
            "GET" if caller.can_read() => Response::json_ser(200, &caller.user.view()),
            "GET" => forbidden("This token's scope does not allow reading account data"),
            _ => method_not_allowed(m, "/current_user", "GET"),
        },
        ["", "tokens", "self"] => match m {
            "GET" => Response::json_ser(200, &caller.token.view(&caller.user.customer_id)),
            _ => method_not_allowed(m, "/tokens/self", "GET"),
        },
        _ => msg(404, "Not found"),
    }
}

/// The token requirements of every user write.
fn check_write_token(caller: &Caller) -> Result<(), Response> {
    if !caller.token.scopes.iter().any(|s| s == "global") {
        return Err(forbidden(&format!(
            "This operation requires a token with the 'global' scope; this token has scope '{}'",
            caller.token.scopes.join(" ")
        )));
    }
    if !caller.token.services.is_empty() {
        return Err(forbidden("Service-limited tokens cannot create, modify or delete users"));
    }
    Ok(())
}

/// The caller's customer's user with this id.
fn find_user<'a>(st: &'a State, caller: &Caller, id: &str) -> Result<&'a User, Response> {
    st.user(id).filter(|u| u.customer_id == caller.user.customer_id).ok_or_else(|| user_not_found(id))
}

fn get_user(st: &State, caller: &Caller, id: &str) -> Response {
    if !caller.can_read() {
        return forbidden("This token's scope does not allow reading account data");
    }
    match find_user(st, caller, id) {
        Ok(u) => Response::json_ser(200, &u.view()),
        Err(r) => r,
    }
}

fn list_users(st: &State, caller: &Caller, cid: &str) -> Response {
    if !caller.can_read() {
        return forbidden("This token's scope does not allow reading account data");
    }
    if cid != caller.user.customer_id {
        return forbidden(&format!("You are not authorized to access the users of customer '{cid}'"));
    }
    let users: Vec<_> = st.users.iter().filter(|u| u.customer_id == cid).map(User::view).collect();
    Response::json_ser(200, &users)
}

/// The user fields of a POST/PUT form.
#[derive(Default)]
struct UserForm {
    login: Option<String>,
    name: Option<String>,
    role: Option<String>,
    roles: Option<Vec<String>>,
    limit_services: Option<bool>,
    locked: Option<bool>,
    require_new_password: Option<bool>,
}

impl UserForm {
    fn is_empty(&self) -> bool {
        self.login.is_none()
            && self.name.is_none()
            && self.role.is_none()
            && self.roles.is_none()
            && self.limit_services.is_none()
            && self.locked.is_none()
            && self.require_new_password.is_none()
    }

    /// Whether it sets anything but `name` (and an unchanged `login`).
    fn beyond_name(&self) -> bool {
        self.role.is_some()
            || self.roles.is_some()
            || self.limit_services.is_some()
            || self.locked.is_some()
            || self.require_new_password.is_some()
    }
}

fn parse_bool(field: &str, v: &str) -> Result<bool, Response> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad_request(&format!("{field} must be true or false, not '{v}'"))),
    }
}

/// Decodes a form body; only `application/x-www-form-urlencoded` is accepted.
fn parse_user_form(req: &Request) -> Result<UserForm, Response> {
    let media = req.media_type();
    if media.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(bad_request(&format!(
            "Content-Type must be application/x-www-form-urlencoded, not '{}'",
            req.header("content-type").unwrap_or("(none)")
        )));
    }
    let text = std::str::from_utf8(&req.body).map_err(|_| bad_request("The request body is not UTF-8"))?;
    let fields = decode_form(text).map_err(|e| bad_request(&e))?;
    let mut form = UserForm::default();
    for (k, v) in fields {
        fn set<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), Response> {
            if slot.is_some() {
                return Err(bad_request(&format!("{key} is given more than once")));
            }
            *slot = Some(value);
            Ok(())
        }
        match k.as_str() {
            "login" => set(&mut form.login, &k, v)?,
            "name" => set(&mut form.name, &k, v)?,
            "role" => set(&mut form.role, &k, v)?,
            "roles[]" => form.roles.get_or_insert_with(Vec::new).push(v),
            "limit_services" => set(&mut form.limit_services, &k, parse_bool(&k, &v)?)?,
            "locked" => set(&mut form.locked, &k, parse_bool(&k, &v)?)?,
            "require_new_password" => set(&mut form.require_new_password, &k, parse_bool(&k, &v)?)?,
            "two_factor_auth_enabled" | "two_factor_setup_required" => {
                return Err(bad_request(&format!("{k} is not editable through this endpoint")))
            }
            _ => return Err(bad_request(&format!("Unknown field '{k}'"))),
        }
    }
    Ok(form)
}

/// Whether a login looks like an email address.
pub fn valid_login(login: &str) -> bool {
    let mut parts = login.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && !login.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

/// The final `(role, roles)` of a user from what a form sent.
fn resolve_roles(
    current: Option<(&str, &[String])>,
    role: Option<&str>,
    roles: Option<&[String]>,
) -> Result<(String, Vec<String>), Response> {
    for r in role.iter().copied().chain(roles.unwrap_or_default().iter().map(String::as_str)) {
        if !ROLES.contains(&r) {
            return Err(bad_request(&format!("Invalid role '{r}'; must be one of {}", ROLES.join(", "))));
        }
    }
    let (role, roles) = match (role, roles) {
        (None, None) => match current {
            Some((r, rs)) => (r.to_string(), rs.to_vec()),
            None => ("user".to_string(), vec!["user".to_string()]),
        },
        (Some(r), None) => (r.to_string(), vec![r.to_string()]),
        (role, Some(rs)) => {
            let Some(first) = rs.first() else {
                return Err(bad_request("roles[] must not be empty"));
            };
            let role = match role {
                Some(r) if rs.iter().any(|x| x == r) => r.to_string(),
                Some(r) => return Err(bad_request(&format!("role '{r}' is not among roles[]"))),
                None => match current {
                    Some((r, _)) if rs.iter().any(|x| x == r) => r.to_string(),
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

fn check_name(name: &str) -> Result<(), Response> {
    if name.trim().is_empty() {
        return Err(bad_request("Name can't be blank"));
    }
    Ok(())
}

fn create_user(st: &mut State, req: &Request, caller: &Caller) -> Response {
    match try_create_user(st, req, caller) {
        Ok(r) | Err(r) => r,
    }
}

fn try_create_user(st: &mut State, req: &Request, caller: &Caller) -> Result<Response, Response> {
    check_write_token(caller)?;
    if !caller.user.is_superuser() {
        return Err(forbidden("Only superusers can create users"));
    }
    let form = parse_user_form(req)?;
    let login = form.login.as_deref().ok_or_else(|| bad_request("login is required"))?;
    if !valid_login(login) {
        return Err(bad_request(&format!("login '{login}' is not a valid email address")));
    }
    let name = form.name.as_deref().ok_or_else(|| bad_request("name is required"))?;
    check_name(name)?;
    let (role, roles) = resolve_roles(None, form.role.as_deref(), form.roles.as_deref())?;
    if st.login_taken(login) {
        return Err(err(409, "Duplicate record", &format!("Duplicate user: '{login}'")));
    }
    let now = st.now();
    let user = User {
        id: st.new_id(),
        login: login.to_string(),
        name: name.to_string(),
        customer_id: caller.user.customer_id.clone(),
        role,
        roles,
        require_new_password: form.require_new_password,
        locked: form.locked,
        two_factor_auth_enabled: None,
        limit_services: form.limit_services.unwrap_or(false),
        created_at: now,
        updated_at: now,
        last_active_at: None,
    };
    let resp = Response::json_ser(200, &user.view());
    st.users.push(user);
    Ok(resp)
}

fn update_user(st: &mut State, req: &Request, caller: &Caller, id: &str) -> Response {
    match try_update_user(st, req, caller, id) {
        Ok(r) | Err(r) => r,
    }
}

fn try_update_user(st: &mut State, req: &Request, caller: &Caller, id: &str) -> Result<Response, Response> {
    check_write_token(caller)?;
    let target = find_user(st, caller, id)?.clone();
    let form = parse_user_form(req)?;
    if !caller.user.is_superuser() {
        if target.id != caller.user.id {
            return Err(forbidden("Only superusers can change other users"));
        }
        if form.beyond_name() {
            return Err(forbidden(
                "Only superusers can change role, roles, limit_services, locked or require_new_password",
            ));
        }
    }
    if form.is_empty() {
        return Err(bad_request("No fields to update"));
    }
    if form.login.as_deref().is_some_and(|l| l != target.login) {
        return Err(bad_request("login is read-only and cannot be changed"));
    }
    if let Some(name) = &form.name {
        check_name(name)?;
    }
    let (role, roles) =
        resolve_roles(Some((&target.role, &target.roles)), form.role.as_deref(), form.roles.as_deref())?;
    let now = st.now();
    let user = st.user_mut(id).ok_or_else(|| user_not_found(id))?;
    if let Some(name) = form.name {
        user.name = name;
    }
    user.role = role;
    user.roles = roles;
    if let Some(v) = form.limit_services {
        user.limit_services = v;
    }
    if let Some(v) = form.locked {
        user.locked = Some(v);
    }
    if let Some(v) = form.require_new_password {
        user.require_new_password = Some(v);
    }
    user.updated_at = now;
    Ok(Response::json_ser(200, &user.view()))
}

fn delete_user(st: &mut State, req: &Request, caller: &Caller, id: &str) -> Response {
    match try_delete_user(st, req, caller, id) {
        Ok(r) | Err(r) => r,
    }
}

fn try_delete_user(st: &mut State, req: &Request, caller: &Caller, id: &str) -> Result<Response, Response> {
    check_write_token(caller)?;
    find_user(st, caller, id)?;
    if !caller.user.is_superuser() {
        return Err(forbidden("Only superusers can delete users"));
    }
    if !req.body.is_empty() {
        return Err(bad_request("DELETE /user/{id} takes no body"));
    }
    if id == caller.user.id {
        return Err(bad_request("You cannot delete yourself"));
    }
    if st.tokens.iter().any(|t| t.user_id == id) {
        return Err(bad_request(&format!("User '{id}' still owns API tokens; revoke them before deleting the user")));
    }
    st.users.remove(id);
    st.budgets.remove(id);
    Ok(Response::json(200, &json!({"status": "ok"})))
}

/// The DNS table's key for a name: lowercased, without the trailing dot.
pub fn dns_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// DNS over HTTPS, JSON flavour (as dns.google/resolve and cloudflare-dns.com answer).
fn dns_query(st: &State, req: &Request) -> Response {
    let json_dns = |status: u16, v: Value| {
        let mut r = Response::json(status, &v);
        r.set_content_type("application/dns-json");
        r
    };
    if req.method != "GET" {
        return method_not_allowed(&req.method, "/dns-query", "GET");
    }
    let params = match decode_form(&req.query) {
        Ok(p) => p,
        Err(e) => return json_dns(400, json!({ "error": e })),
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(name) = get("name").filter(|n| !n.trim_end_matches('.').is_empty()) else {
        return json_dns(400, json!({"error": "missing or empty 'name'"}));
    };
    let qtype: u16 = match get("type").unwrap_or("A").to_ascii_uppercase().as_str() {
        "A" | "1" => 1,
        "TXT" | "16" => 16,
        "AAAA" | "28" => 28,
        "CNAME" | "5" => 5,
        "MX" | "15" => 15,
        "NS" | "2" => 2,
        other => match other.parse::<u16>() {
            Ok(n) => n,
            Err(_) => return json_dns(400, json!({"error": format!("invalid type '{other}'")})),
        },
    };
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let (status, answer) = match st.dns.get(&dns_key(name)) {
        None => (3, None),
        Some(txts) if qtype == 16 => (
            0,
            Some(
                txts.iter()
                    .map(|t| DohRecord {
                        name: fqdn.clone(),
                        rtype: 16,
                        ttl: 300,
                        data: format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
                    })
                    .collect(),
            ),
        ),
        Some(_) => (0, None), // the name exists, but has no record of that type
    };
    let body = DohResponse {
        status,
        tc: false,
        rd: true,
        ra: true,
        ad: false,
        cd: false,
        question: vec![DohQuestion { name: fqdn.clone(), qtype }],
        answer,
    };
    let mut r = Response::json_ser(200, &body);
    r.set_content_type("application/dns-json");
    r
}

/// The JSON shape of dns.google/resolve and cloudflare-dns.com/dns-query.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DohResponse {
    status: u8,
    #[serde(rename = "TC")]
    tc: bool,
    #[serde(rename = "RD")]
    rd: bool,
    #[serde(rename = "RA")]
    ra: bool,
    #[serde(rename = "AD")]
    ad: bool,
    #[serde(rename = "CD")]
    cd: bool,
    question: Vec<DohQuestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<Vec<DohRecord>>,
}

#[derive(serde::Serialize)]
struct DohQuestion {
    name: String,
    #[serde(rename = "type")]
    qtype: u16,
}

#[derive(serde::Serialize)]
struct DohRecord {
    name: String,
    #[serde(rename = "type")]
    rtype: u16,
    #[serde(rename = "TTL")]
    ttl: u32,
    data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert!(valid_login("a@example.com"));
        assert!(valid_login("go-fastly-test+user+20221104@example.com"));
        for bad in ["", "a", "@example.com", "a@b", "a@@b.com", "a b@example.com", "a@b.", "a@.b", "a@b@c.com"] {
            assert!(!valid_login(bad), "{bad}");
        }
    }
}
