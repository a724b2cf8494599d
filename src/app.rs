//! Routing: method and path to handler. Every response, errors and unknown routes included, is
//! SCIM JSON (the admin API's successes, `/admin/domains…`, are plain JSON); errors become
//! responses in one place (`Response::from(&ScimError)`).

use serde_json::{json, Value};

use crate::auth::{self, AuthConfig, AuthMode, Secrets};
use crate::cache::Cache;
use crate::domains::{self, DnsResolver, Domains};
use crate::http::{Method, Request, Response};
use crate::provision::{self, Audit, Ctx, Policy, UserRecord};
use crate::scim::discovery;
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter;
use crate::scim::list::{ListResponse, Paging, Projection, SEARCH_REQUEST};
use crate::store::Store;
use crate::upstream::{Budget, FastlyApi, Transport};

pub const SCIM_PREFIX: &str = "/scim/v2";
/// Largest request body accepted; a SCIM User is a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The world one request runs in. The edge adapter builds it from the Compute SDK; tests build
/// it from in-memory parts.
pub struct Env<'a> {
    pub store: &'a dyn Store,
    /// POP-local cache of token verdicts.
    pub cache: &'a dyn Cache,
    pub transport: &'a dyn Transport,
    /// TXT lookups for domain verification (DNS over HTTPS at the edge).
    pub dns: &'a dyn DnsResolver,
    pub audit: &'a dyn Audit,
    /// Unix seconds.
    pub now: u64,
    pub new_id: &'a dyn Fn() -> String,
    pub auth: AuthConfig,
    /// The secret store (JWT mode: the HS256 key and each customer's upstream Fastly token).
    pub secrets: &'a dyn Secrets,
    pub policy: Policy,
    /// `scheme://host` as the client reached us.
    pub origin: String,
    pub request_id: String,
}

pub fn handle(env: &Env<'_>, req: &Request) -> Response {
    match route(env, req) {
        Ok(r) => r,
        Err(e) => Response::from(&e),
    }
}

fn route(env: &Env<'_>, req: &Request) -> ScimResult<Response> {
    let path = req.path.trim_end_matches('/');
    if path == "/health" {
        return Ok(Response::scim(200, &json!({"status": "ok"})));
    }
    // The admin API (`/admin/domains…`) shares the body limit and the authentication.
    let admin = path.strip_prefix(domains::ADMIN_PREFIX).filter(|r| r.is_empty() || r.starts_with('/'));
    let Some(rest) = path.strip_prefix(SCIM_PREFIX).or(admin) else {
        return Err(ScimError::not_found(format!("no such endpoint '{}'; the SCIM base is {SCIM_PREFIX}", req.path)));
    };
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ScimError::payload_too_large(format!("the request body exceeds {MAX_BODY_BYTES} bytes")));
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // Authenticate before telling anything, even which endpoints exist.
    let tenant = auth::authenticate_request(
        req.header("authorization"),
        env.cache,
        env.transport,
        env.secrets,
        env.now,
        &env.auth,
    )?;
    if admin.is_some() {
        let d = Domains {
            store: env.store,
            tenant: &tenant,
            dns: env.dns,
            audit: env.audit,
            new_id: env.new_id,
            now: env.now,
        };
        return domains::handle_admin(&d, req, &segments);
    }
    let base = format!("{}{SCIM_PREFIX}", env.origin);
    let m = req.method;
    // Discovery needs no context: it spends nothing on the Fastly client and its write budget.
    match (m, segments.as_slice()) {
        (Method::Get, ["ServiceProviderConfig"]) => {
            return Ok(Response::scim(200, &discovery::service_provider_config(&base)))
        }
        (Method::Get, ["ResourceTypes"]) => return Ok(Response::scim(200, &discovery::resource_types(&base))),
        (Method::Get, ["ResourceTypes", "User"]) => {
            return Ok(Response::scim(200, &discovery::user_resource_type(&base)))
        }
        (Method::Get, ["ResourceTypes", id]) => return Err(ScimError::not_found(format!("no resource type '{id}'"))),
        (Method::Get, ["Schemas"]) => return Ok(Response::scim(200, &discovery::schemas(&base))),
        (Method::Get, ["Schemas", id]) => {
            return match discovery::find_schema(id) {
                Some(s) => Ok(Response::scim(200, &discovery::schema(s, &base))),
                None => Err(ScimError::not_found(format!("no schema '{id}'"))),
            }
        }
        _ => {}
    }
    // In fastly_token mode the actor already is the upstream token's digest: no second SHA-256.
    let budget_id = match env.auth.mode {
        AuthMode::FastlyToken => tenant.actor.clone(),
        _ => tenant.budget_id(),
    };
    let ctx = Ctx {
        store: env.store,
        cache: env.cache,
        api: FastlyApi::new(env.transport, &tenant.upstream_token, env.now).with_budget(Budget::new(
            env.store,
            &tenant.customer_id,
            &budget_id,
        )),
        tenant: &tenant,
        policy: &env.policy,
        audit: env.audit,
        now: env.now,
        new_id: env.new_id,
        base: &base,
        request_id: &env.request_id,
    };
    match (m, segments.as_slice()) {
        (Method::Get, ["Users"]) => list_users(&ctx, req),
        (Method::Post, ["Users"]) => create_user(&ctx, req),
        // Users are the only resource type, so a search at the root is a search of Users.
        (Method::Post, ["Users", ".search"] | [".search"]) => search_users(&ctx, req),
        (Method::Get, ["Users", id]) => get_user(&ctx, req, id),
        (Method::Put, ["Users", id]) => {
            let rec = provision::replace(&ctx, id, &req.json_body()?, req.header("if-match"))?;
            Ok(user_response(&ctx, req, 200, rec))
        }
        (Method::Patch, ["Users", id]) => {
            let rec = provision::patch(&ctx, id, &req.json_body()?, req.header("if-match"))?;
            Ok(user_response(&ctx, req, 200, rec))
        }
        (Method::Delete, ["Users", id]) => {
            provision::delete(&ctx, id, req.header("if-match"))?;
            Ok(Response::new(204))
        }
        (_, ["Users"] | ["Users", _] | ["ServiceProviderConfig"] | ["ResourceTypes", ..] | ["Schemas", ..]) => {
            Err(ScimError::method_not_allowed(format!("{m:?} is not allowed on {}", req.path)))
        }
        (_, ["Groups", ..]) => {
            Err(ScimError::not_found("scim-edge serves Users only; Fastly has no groups to provision"))
        }
        _ => Err(ScimError::not_found(format!("no such endpoint '{}'", req.path))),
    }
}

fn projection(req: &Request) -> Projection {
    Projection::parse(req.query_param("attributes").as_deref(), req.query_param("excludedAttributes").as_deref())
}

/// The whole representation is written straight from the record; a projection cuts down a `Value`.
fn user_response(ctx: &Ctx<'_>, req: &Request, status: u16, rec: UserRecord) -> Response {
    let etag = rec.version();
    let location = (status == 201).then(|| format!("{}/Users/{}", ctx.base, rec.id));
    let projection = projection(req);
    let mut r = if projection.is_whole() {
        Response::scim(status, &rec.resource(ctx))
    } else {
        Response::scim(status, &projection.apply_owned(rec.render(ctx)))
    }
    .with_header("etag", etag);
    if let Some(location) = location {
        r = r.with_header("location", location);
    }
    r
}

fn get_user(ctx: &Ctx<'_>, req: &Request, id: &str) -> ScimResult<Response> {
    let rec = provision::get(ctx, id)?;
    if let Some(tags) = req.header("if-none-match") {
        let v = rec.version();
        if tags.split(',').any(|t| t.trim() == v || t.trim() == "*") {
            return Ok(Response::new(304).with_header("etag", v));
        }
    }
    Ok(user_response(ctx, req, 200, rec))
}

fn create_user(ctx: &Ctx<'_>, req: &Request) -> ScimResult<Response> {
    let rec = provision::create(ctx, &req.json_body()?)?;
    Ok(user_response(ctx, req, 201, rec))
}

fn run_list(
    ctx: &Ctx<'_>,
    filter: Option<&str>,
    start: Option<&str>,
    count: Option<&str>,
    projection: &Projection,
) -> ScimResult<Response> {
    let filter = filter.map(str::trim).filter(|f| !f.is_empty()).map(filter::parse).transpose()?;
    let paging = Paging::parse(start, count)?;
    let result = provision::list(ctx, filter.as_ref(), &paging, projection)?;
    Ok(Response::scim(200, &ListResponse::new(result.total, paging.start_index, result.count, &result.resources)))
}

fn list_users(ctx: &Ctx<'_>, req: &Request) -> ScimResult<Response> {
    if let Some(by) = req.query_param("sortBy") {
        return Err(ScimError::invalid_value(format!("sorting (sortBy={by}) is not supported")));
    }
    run_list(
        ctx,
        req.query_param("filter").as_deref(),
        req.query_param("startIndex").as_deref(),
        req.query_param("count").as_deref(),
        &projection(req),
    )
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the query parameters, in a body.
fn search_users(ctx: &Ctx<'_>, req: &Request) -> ScimResult<Response> {
    let body = req.json_body()?;
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(SEARCH_REQUEST)));
    if !schemas_ok {
        return Err(ScimError::invalid_value(format!("a search request must list the schema {SEARCH_REQUEST}")));
    }
    let text = |k: &str| -> ScimResult<Option<String>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Array(a)) => Ok(Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))),
            Some(_) => Err(ScimError::invalid_value(format!("'{k}' has the wrong type"))),
        }
    };
    if text("sortBy")?.is_some() {
        return Err(ScimError::invalid_value("sorting is not supported"));
    }
    let projection = Projection::parse(text("attributes")?.as_deref(), text("excludedAttributes")?.as_deref());
    run_list(ctx, text("filter")?.as_deref(), text("startIndex")?.as_deref(), text("count")?.as_deref(), &projection)
}

#[cfg(test)]
mod tests {
    use crate::auth::{authenticate, AuthConfig};
    use crate::cache::MemoryCache;
    use crate::upstream::fake::{json, Scripted};
    use crate::upstream::FastlyApi;

    /// `route` keys the write budget by the actor in fastly_token mode.
    #[test]
    fn a_fastly_token_actor_is_its_budget_id() {
        let t = Scripted::new(vec![
            json(200, r#"{"user_id":"u1","customer_id":"C1","scope":"global","services":[]}"#),
            json(200, r#"{"id":"u1","login":"bot@example.com","role":"superuser","customer_id":"C1"}"#),
        ]);
        let api = FastlyApi::new(&t, "tok", 0);
        let tenant = authenticate("tok", &MemoryCache::new(), &api, 0, &AuthConfig::default()).unwrap();
        assert_eq!(tenant.actor, tenant.budget_id());
    }
}
