//! The control API (the `--control` socket only): reset, faults, rate limits, clock,
//! request log, DNS records. Documented in `emulator/README.md`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{dns_key, Shared};
use crate::http::{Request, Response};
use crate::seed;
use crate::state::{Budget, Fault, State};
use crate::time::{iso, next_top_of_hour, Clock};

fn ok(v: Value) -> Response {
    Response::json(200, &v)
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

fn body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Response> {
    let text = if req.body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { req.body.as_slice() };
    serde_json::from_slice(text).map_err(|e| error(400, &format!("invalid JSON body: {e}")))
}

pub fn handle(shared: &Arc<Shared>, req: Request) -> Response {
    let Some(what) = req.path.strip_prefix("/_emulator/") else {
        return error(404, "not found");
    };
    let result = match (req.method.as_str(), what) {
        ("GET", "health") => Ok(ok(json!({"status": "ok"}))),
        ("POST", "reset") => reset(shared),
        ("GET", "faults") => Ok(ok(json!(shared.lock().faults))),
        ("POST", "faults") => add_fault(shared, &req),
        ("DELETE", "faults") => {
            shared.lock().faults.clear();
            Ok(ok(json!({"status": "ok"})))
        }
        ("GET", "rate_limit") => Ok(ok(budgets(&mut shared.lock()))),
        ("POST", "rate_limit") => set_rate_limit(shared, &req),
        ("GET", "clock") => Ok(ok(clock(&shared.lock()))),
        ("POST", "clock") => set_clock(shared, &req),
        ("GET", "requests") => Ok(ok(Value::Array(shared.lock().log.clone()))),
        ("DELETE", "requests") => {
            shared.lock().log.clear();
            Ok(ok(json!({"status": "ok"})))
        }
        ("GET", "dns") => Ok(ok(json!(shared.lock().dns))),
        ("POST", "dns") => set_dns(shared, &req),
        ("GET", "customers") => Ok(ok(json!(shared.lock().customers))),
        ("GET", "users") => {
            let st = shared.lock();
            let users: Vec<_> = st.users.iter().map(|u| u.view()).collect();
            Ok(Response::json_ser(200, &users))
        }
        (_, "health" | "reset" | "faults" | "rate_limit" | "clock" | "requests" | "dns" | "customers" | "users") => {
            Err(error(405, "method not allowed"))
        }
        _ => Err(error(404, "not found")),
    };
    match result {
        Ok(r) | Err(r) => r,
    }
}

fn reset(shared: &Shared) -> Result<Response, Response> {
    let fresh = seed::build(&shared.seed).map_err(|e| error(500, &e))?;
    *shared.lock() = fresh;
    Ok(ok(json!({"status": "ok"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    drop_response: bool,
    #[serde(default)]
    body: Option<String>,
}

fn one() -> u32 {
    1
}

fn add_fault(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let spec: FaultSpec = body(req)?;
    if spec.count == 0 {
        return Err(error(400, "count must be at least 1"));
    }
    if spec.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(error(400, "status must be between 100 and 599"));
    }
    if spec.body.is_some() && spec.status.is_none() {
        return Err(error(400, "body needs a status"));
    }
    if spec.method.as_deref().is_some_and(str::is_empty) {
        return Err(error(400, "method must not be empty"));
    }
    let fault = Fault {
        method: spec.method.map(|m| m.to_ascii_uppercase()),
        path_prefix: spec.path_prefix,
        count: spec.count,
        status: spec.status,
        delay_ms: spec.delay_ms,
        drop_response: spec.drop_response,
        body: spec.body,
    };
    let mut st = shared.lock();
    st.faults.push(fault);
    Ok(ok(json!({"status": "ok", "queued": st.faults.len()})))
}

fn budgets(st: &mut State) -> Value {
    let ids: Vec<String> = st.users.iter().map(|u| u.id.clone()).collect();
    let mut out = serde_json::Map::new();
    for id in ids {
        let b = *st.budget(&id);
        out.insert(id, json!({"limit": b.limit, "remaining": b.remaining, "reset": b.reset}));
    }
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSpec {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    remaining: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

fn set_rate_limit(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let spec: RateLimitSpec = body(req)?;
    if spec.remaining.is_none() && spec.limit.is_none() {
        return Err(error(400, "give remaining and/or limit"));
    }
    let mut st = shared.lock();
    let ids: Vec<String> = match &spec.user_id {
        Some(id) if st.user(id).is_some() => vec![id.clone()],
        Some(id) => return Err(error(404, &format!("no user '{id}'"))),
        None => st.users.iter().map(|u| u.id.clone()).collect(),
    };
    let reset = next_top_of_hour(st.now());
    for id in ids {
        if let Some(limit) = spec.limit {
            st.budget_limits.insert(id.clone(), limit);
        }
        let limit = st.limit_of(&id);
        let current = *st.budget(&id);
        st.budgets
            .insert(id, Budget { limit, remaining: spec.remaining.unwrap_or(current.remaining.min(limit)), reset });
    }
    if spec.user_id.is_none() {
        if let Some(limit) = spec.limit {
            st.default_budget = limit;
        }
    }
    Ok(ok(budgets(&mut st)))
}

fn clock(st: &State) -> Value {
    let now = st.now();
    json!({"now": now, "iso": iso(now), "fixed": matches!(st.clock, Clock::Fixed(_))})
}

fn set_clock(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let spec: serde_json::Map<String, Value> = body(req)?;
    let mut st = shared.lock();
    match (spec.get("now"), spec.get("advance"), spec.len()) {
        (Some(Value::Null), None, 1) => st.clock = Clock::default(),
        (Some(now), None, 1) => {
            let t = now.as_i64().ok_or_else(|| error(400, "now must be epoch seconds or null"))?;
            st.clock = Clock::Fixed(t);
        }
        (None, Some(adv), 1) => {
            let s = adv.as_i64().ok_or_else(|| error(400, "advance must be an integer of seconds"))?;
            st.clock.advance(s);
        }
        _ => return Err(error(400, "give exactly one of {\"now\": <epoch seconds>|null} or {\"advance\": <seconds>}")),
    }
    Ok(ok(clock(&st)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSpec {
    name: String,
    txt: Vec<String>,
}

fn set_dns(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let spec: DnsSpec = body(req)?;
    let key = dns_key(&spec.name);
    if key.is_empty() {
        return Err(error(400, "name must not be empty"));
    }
    let mut st = shared.lock();
    if spec.txt.is_empty() {
        st.dns.remove(&key);
    } else {
        st.dns.insert(key, spec.txt);
    }
    Ok(ok(json!(st.dns)))
}
