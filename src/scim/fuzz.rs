//! The four entry points that take hostile input, as the fuzz targets (`fuzz/`) and the fuzz
//! smoke (`fuzz_smoke.rs`) drive them: the filter parser and evaluator, the PATCH engine, the
//! User reader and the `Authorization` header parser.
//!
//! Each function feeds raw bytes to the same code a request reaches and checks what must hold
//! whatever the input:
//! - no panic (the caller notices that by itself);
//! - every error is a 4xx [`ScimError`], never a 500: a client's input is the client's fault;
//! - the entry point's own invariants (PATCH is all or nothing; a token is well-formed).
//!
//! A broken property comes back as `Err(description)`, so this module has no panic of its own:
//! the fuzz target panics on it (so libFuzzer records the input) and the smoke test asserts.
//!
//! Compiled for tests and with the `fuzzing` feature only.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::error::ScimError;
use super::list::Projection;
use super::schema::{self, Attribute};
use super::{filter, patch, user};

/// A broken property, described for the person reading the crash.
pub type Violation = String;

/// The attributes a value filter may follow (`emails[type eq "work"]`): the complex ones.
fn complex_attributes() -> Vec<&'static Attribute> {
    let mut out: Vec<&'static Attribute> = schema::USER_SCHEMA.attributes.iter().filter(|a| a.is_complex()).collect();
    out.extend(schema::COMMON_ATTRIBUTES.iter().filter(|a| a.is_complex()));
    for ext in schema::USER_EXTENSIONS {
        out.extend(ext.attributes.iter().filter(|a| a.is_complex()));
    }
    out
}

/// A User as `provision` renders it before a PATCH: every kind of attribute, both extensions.
pub fn fixed_user() -> Value {
    json!({
        "schemas": [schema::CORE_USER, schema::ENTERPRISE_USER, schema::FASTLY_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00u1ab2cd3",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "locale": "en-US",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "type": "work"}],
        "roles": [{"value": "engineer", "primary": true}],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3\"",
            "location": "https://example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"
        },
        schema::ENTERPRISE_USER: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        schema::FASTLY_USER: {"role": "engineer", "userId": "4dMvZHRyCwNVAsbVhcBSTa", "customerId": "51MumwLiSJyFTWhtbByYgR"}
    })
}

/// A second user, sparse and oddly typed, as a record read back from the store might be.
fn sparse_user() -> Value {
    json!({
        "id": "x", "userName": "Zoë", "active": "False", "emails": {"value": 7},
        "roles": ["user", null], "name": null, "meta": {"created": "not a date"}
    })
}

fn client_error(what: &str, e: &ScimError) -> Result<(), Violation> {
    if (400..500).contains(&e.status) {
        Ok(())
    } else {
        Err(format!("{what} answered {} (not a 4xx): {}", e.status, e.detail))
    }
}

/// The filter parser and evaluator: `GET /Users?filter=…` and PATCH value filters.
/// The input is the filter text after URL decoding (which is lossy UTF-8).
pub fn filter(data: &[u8]) -> Result<(), Violation> {
    static USERS: OnceLock<[Value; 4]> = OnceLock::new();
    let text = String::from_utf8_lossy(data);
    let users = USERS.get_or_init(|| [fixed_user(), sparse_user(), json!({}), json!([1, 2])]);
    match filter::parse(&text) {
        Ok(f) => {
            // `not (F)` is the negation of F, and `(F)`, `F and F`, `F or F` are F, wherever the
            // wrapped filter is still within the bounds.
            let wrapped = |w: String| filter::parse(&w).ok();
            let not = wrapped(format!("not ({text})"));
            let same = [format!("({text})"), format!("{text} and {text}"), format!("({text}) or ({text})")];
            let same: Vec<filter::Filter> = same.into_iter().filter_map(wrapped).collect();
            for u in users {
                let m = f.matches(u);
                f.matches_element(u);
                if not.as_ref().is_some_and(|n| n.matches(u) == m) {
                    return Err(format!("not ({text}) is not the negation of {text} on {u}"));
                }
                if same.iter().any(|g| g.matches(u) != m) {
                    return Err(format!("a grouping or repetition of {text} changes its result on {u}"));
                }
            }
            f.index_key();
        }
        Err(e) => {
            client_error("filter::parse", &e)?;
            if e.scim_type != Some(super::error::ScimType::InvalidFilter) {
                return Err(format!("filter::parse failed without invalidFilter: {e:?}"));
            }
        }
    }
    // The same text inside brackets, for each attribute that can carry a value filter.
    static PARENTS: OnceLock<Vec<&'static Attribute>> = OnceLock::new();
    for &parent in PARENTS.get_or_init(complex_attributes) {
        match filter::parse_value_filter(parent, &text) {
            Ok(f) => {
                for u in users {
                    f.matches(u);
                    if let Some(Value::Array(items)) = u.get(parent.name) {
                        for el in items {
                            f.matches_element(el);
                        }
                    }
                }
                f.index_key();
            }
            Err(e) => client_error("filter::parse_value_filter", &e)?,
        }
    }
    Ok(())
}

/// The PATCH engine as `provision::patch` runs it: parse the body, apply it to the rendered user,
/// read the result back as a User. The input is the request body.
pub fn patch(data: &[u8]) -> Result<(), Violation> {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return Ok(());
    };
    let ops = match patch::parse(&body) {
        Ok(ops) => ops,
        Err(e) => return client_error("patch::parse", &e),
    };
    static STARTS: OnceLock<[Value; 3]> = OnceLock::new();
    for start in STARTS.get_or_init(|| [fixed_user(), json!({"userName": "u"}), json!({})]) {
        let mut target = start.clone();
        match patch::apply(&mut target, &ops) {
            Ok(()) => {
                if let Some(path) = unassigned_value(&target, "") {
                    return Err(format!("patch::apply left an unassigned (null or empty) value at {path}"));
                }
                if let Err(e) = user::read(&target) {
                    client_error("user::read after patch::apply", &e)?;
                }
            }
            Err(e) => {
                client_error("patch::apply", &e)?;
                if target != *start {
                    return Err(format!("patch::apply failed ({}) but changed the user", e.detail));
                }
            }
        }
    }
    // Paths on their own, as the `path` member gives them.
    for op in body.get("Operations").and_then(Value::as_array).into_iter().flatten() {
        if let Some(p) = op.get("path").and_then(Value::as_str) {
            if let Err(e) = patch::parse_path(p) {
                client_error("patch::parse_path", &e)?;
            }
        }
    }
    Ok(())
}

/// The first null, empty array or empty object inside `v` (RFC 7643 §2.5: unassigned), by path.
fn unassigned_value(v: &Value, at: &str) -> Option<String> {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, x)| (format!("{at}/{k}"), x)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, x)| (format!("{at}/{i}"), x)).collect(),
        _ => return None,
    };
    children.into_iter().find_map(|(here, x)| {
        let empty = match x {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            Some(here)
        } else {
            unassigned_value(x, &here)
        }
    })
}

/// The User reader (`POST`/`PUT /Users` bodies), and the rendering of what it accepted.
pub fn user(data: &[u8]) -> Result<(), Violation> {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return Ok(());
    };
    match user::read(&body) {
        Ok(attrs) => {
            // What was accepted reads back unchanged: the normal form is a fixed point.
            let again = user::read(&Value::Object(attrs.clone()))
                .map_err(|e| format!("user::read rejected its own output ({}): {}", e.status, e.detail))?;
            if again != attrs {
                return Err(format!("user::read is not idempotent: {attrs:?} then {again:?}"));
            }
            let detail = serde_json::Map::new();
            let facts = user::Facts {
                id: "2819c223",
                active: true,
                role: Some("user"),
                role_detail: &detail,
                roles: &[],
                fastly_user_id: None,
                customer_id: "C1",
                created: "2024-01-01T00:00:00Z",
                last_modified: "2024-01-01T00:00:00Z",
                version: "W/\"1\"".into(),
                location: "https://example.com/scim/v2/Users/2819c223".into(),
            };
            // The bytes a response is written with are the representation filters and projections
            // see, less what is returned on request only.
            let value = Projection::parse(None, None).apply_owned(user::render(&attrs, facts.clone()));
            let written = serde_json::to_vec(&user::Resource::returned(&attrs, facts))
                .map_err(|e| format!("a User does not serialise: {e}"))?;
            match serde_json::from_slice::<serde_json::Value>(&written) {
                Ok(v) if v == value => Ok(()),
                _ => Err(format!("the written User differs from the rendered one: {value}")),
            }
        }
        Err(e) => client_error("user::read", &e),
    }
}

/// The `Authorization` header parser. Header values reach the core as UTF-8 text.
pub fn authorization(data: &[u8]) -> Result<(), Violation> {
    let header = String::from_utf8_lossy(data);
    match crate::auth::token_from_header(Some(&header)) {
        Ok(token) => {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) || token.len() > header.len() {
                return Err(format!("token_from_header accepted a malformed token {token:?}"));
            }
            // Whichever way it came, the same token as a Bearer or as a Basic password reads back.
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("okta:{token}"));
            for again in [format!("Bearer {token}"), format!("Basic {basic}")] {
                match crate::auth::token_from_header(Some(&again)) {
                    Ok(t) if t == token => {}
                    other => return Err(format!("{again:?} does not read back as {token:?}: {other:?}")),
                }
            }
            Ok(())
        }
        Err(e) => client_error("auth::token_from_header", &e),
    }
}
