//! The User resource: reading what a client sends (validated and normalised against the
//! schema tables) and rendering what the server returns.

use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{self, Attribute, Kind, Mutability, CORE_USER, ENTERPRISE_USER, FASTLY_USER};

/// Reads a User sent by a client (POST, PUT, or the result of a PATCH) into its normalised
/// writable form: canonical attribute names, only known attributes, read-only ones (`id`,
/// `meta`, `groups`, the Fastly facts) and `password` dropped, booleans given as strings
/// coerced, empty strings and empty lists treated as absent, types checked.
pub fn read(input: &Value) -> ScimResult<Map<String, Value>> {
    let obj = input.as_object().ok_or_else(|| ScimError::invalid_syntax("a User must be a JSON object"))?;
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema::extension(key) {
            let Some(ext_obj) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!("'{}' must be a JSON object", ext.id)));
            };
            let mut ext_out = Map::new();
            for (k, v) in ext_obj {
                if let Some(attr) = ext.attribute(k) {
                    if let Some(v) = read_attribute(attr, v)? {
                        ext_out.insert(attr.name.to_owned(), v);
                    }
                }
            }
            if !ext_out.is_empty() {
                out.insert(ext.id.to_owned(), Value::Object(ext_out));
            }
            continue;
        }
        // Attributes may be URN-qualified with the core schema; other URNs are other apps'
        // extensions, which are not ours to keep.
        let Some((None, name)) = schema::split_urn(key) else { continue };
        let attr = schema::USER_SCHEMA
            .attribute(name)
            .or_else(|| schema::find(schema::COMMON_ATTRIBUTES, name).filter(|a| a.mutability != Mutability::ReadOnly));
        if let Some(attr) = attr {
            if let Some(v) = read_attribute(attr, value)? {
                out.insert(attr.name.to_owned(), v);
            }
        }
    }
    for attr in schema::USER_SCHEMA.attributes.iter().filter(|a| a.required && !a.server_default) {
        if !out.contains_key(attr.name) {
            return Err(ScimError::invalid_value(format!("'{}' is required", attr.name)));
        }
    }
    Ok(out)
}

/// One attribute's value, or `None` when it is absent, empty or not writable.
pub fn read_attribute(attr: &Attribute, value: &Value) -> ScimResult<Option<Value>> {
    if matches!(attr.mutability, Mutability::ReadOnly | Mutability::WriteOnly) || value.is_null() {
        return Ok(None);
    }
    if !attr.multi_valued {
        return read_single(attr, value);
    }
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.len() > schema::MAX_VALUES {
        return Err(too_many_values(attr.name, items.len()));
    }
    let mut out = Vec::new();
    for item in items {
        if let Some(v) = read_single(attr, item)? {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    let primaries = out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!("at most one of '{}' may be primary", attr.name)));
    }
    Ok(if out.is_empty() { None } else { Some(Value::Array(out)) })
}

/// More than [`schema::MAX_VALUES`] values for one attribute.
pub fn too_many_values(name: &str, given: usize) -> ScimError {
    ScimError::invalid_value(format!("'{name}' may hold at most {} values, not {given}", schema::MAX_VALUES))
}

fn read_single(attr: &Attribute, value: &Value) -> ScimResult<Option<Value>> {
    if attr.kind != Kind::Complex {
        return read_scalar(attr, value, attr.name);
    }
    let obj = match value {
        // A plain string stands for the `value` sub-attribute (e.g. `"roles": ["engineer"]`).
        Value::String(_) if attr.sub("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), value.clone());
            m
        }
        Value::Object(m) => m.clone(),
        Value::Null => return Ok(None),
        _ => return Err(ScimError::invalid_value(format!("'{}' must be a JSON object", attr.name))),
    };
    let mut out = Map::new();
    for (k, v) in &obj {
        if let Some(sub) = attr.sub(k) {
            if sub.mutability == Mutability::ReadOnly {
                continue;
            }
            let label = format!("{}.{}", attr.name, sub.name);
            if let Some(v) = read_scalar(sub, v, &label)? {
                out.insert(sub.name.to_owned(), v);
            }
        }
    }
    // An element that only says `primary: false` (or nothing) carries no data.
    let meaningful = out.iter().any(|(k, v)| k != "primary" || v == &Value::Bool(true));
    Ok(if meaningful { Some(Value::Object(out)) } else { None })
}

fn read_scalar(attr: &Attribute, value: &Value, label: &str) -> ScimResult<Option<Value>> {
    let wrong = |what: &str| ScimError::invalid_value(format!("'{label}' must be {what}"));
    match attr.kind {
        Kind::String | Kind::Reference | Kind::Binary => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("a string")),
        },
        Kind::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) if crate::time::parse(s).is_some() => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("a dateTime like 2024-01-31T12:00:00Z")),
        },
        Kind::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            Value::String(s) => parse_bool(s).map(|b| Some(Value::Bool(b))).ok_or_else(|| wrong("true or false")),
            Value::Null => Ok(None),
            _ => Err(wrong("true or false")),
        },
        Kind::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("an integer")),
        },
        Kind::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("a number")),
        },
        Kind::Complex => Err(wrong("a simple value")),
    }
}

/// `true`/`false` in any case: Entra sends `"True"` and `"False"`.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// What the server knows of a user beyond its client-written attributes.
pub struct Facts<'a> {
    pub id: &'a str,
    pub active: bool,
    /// The role SCIM manages, and every role Fastly shows for the user.
    pub role: Option<&'a str>,
    /// `display`/`type` of the role as the client sent it.
    pub role_detail: &'a Map<String, Value>,
    pub roles: &'a [String],
    pub fastly_user_id: Option<&'a str>,
    pub customer_id: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub version: &'a str,
    pub location: String,
}

/// The full representation of a User, before projection.
pub fn render(attributes: Map<String, Value>, facts: &Facts<'_>) -> Value {
    let mut out = attributes;
    out.insert("id".into(), json!(facts.id));
    out.insert("active".into(), json!(facts.active));
    let mut roles: Vec<String> = facts.roles.to_vec();
    if let Some(role) = facts.role {
        if !roles.iter().any(|r| r == role) {
            roles.insert(0, role.to_owned());
        }
    }
    if roles.is_empty() {
        out.remove("roles");
    } else {
        let list: Vec<Value> = roles
            .iter()
            .map(|r| {
                let primary = Some(r.as_str()) == facts.role || (facts.role.is_none() && roles.len() == 1);
                let mut element = Map::new();
                element.insert("value".into(), json!(r));
                element.insert("primary".into(), json!(primary));
                if primary {
                    // The client's own `display`, `type` and `primary` for the role it set.
                    element.extend(facts.role_detail.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                Value::Object(element)
            })
            .collect();
        out.insert("roles".into(), Value::Array(list));
    }
    let mut fastly = Map::new();
    if let Some(role) = facts.role {
        fastly.insert("role".into(), json!(role));
    }
    if let Some(uid) = facts.fastly_user_id {
        fastly.insert("userId".into(), json!(uid));
    }
    fastly.insert("customerId".into(), json!(facts.customer_id));
    out.insert(FASTLY_USER.into(), Value::Object(fastly));
    let mut schemas = vec![json!(CORE_USER)];
    if out.contains_key(ENTERPRISE_USER) {
        schemas.push(json!(ENTERPRISE_USER));
    }
    schemas.push(json!(FASTLY_USER));
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": facts.created,
            "lastModified": facts.last_modified,
            "location": facts.location,
            "version": facts.version,
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_okta_create_body() {
        let body = json!({"schemas":[CORE_USER],"userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true});
        let u = read(&body).unwrap();
        assert_eq!(u["userName"], "test.user@okta.local");
        assert!(u.get("password").is_none());
        assert!(u.get("groups").is_none());
        assert_eq!(u["externalId"], "00ujl29u0le5T6Aj10h7");
        assert_eq!(u["active"], true);
    }

    #[test]
    fn canonicalises_names_and_coerces_string_booleans() {
        let u = read(&json!({"USERNAME":"a@x.com","Active":"False","emails":{"Value":"a@x.com","Primary":"TRUE"}}))
            .unwrap();
        assert_eq!(u["userName"], "a@x.com");
        assert_eq!(u["active"], false);
        assert_eq!(u["emails"], json!([{"value":"a@x.com","primary":true}]));
    }

    #[test]
    fn read_only_attributes_and_unknown_extensions_are_dropped() {
        let u = read(&json!({"userName":"a@x.com","id":"x","meta":{"version":"1"},
            "urn:example:params:scim:schemas:extension:other:2.0:User":{"a":1},
            FASTLY_USER:{"role":"engineer","userId":"spoofed"}}))
        .unwrap();
        assert!(u.get("id").is_none() && u.get("meta").is_none());
        assert_eq!(u[FASTLY_USER], json!({"role":"engineer"}));
        assert_eq!(u.len(), 2);
    }

    /// Found by fuzzing: 9,000 emails in a POST body cost seconds of CPU in de-duplication.
    #[test]
    fn multi_valued_attributes_hold_a_bounded_number_of_values() {
        let emails = |n: usize| -> Vec<Value> { (0..n).map(|i| json!(format!("u{i}@x.io"))).collect() };
        let e = read(&json!({"userName": "a@x.com", "emails": emails(9_000)})).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(crate::scim::error::ScimType::InvalidValue)));
        assert_eq!(e.detail, "'emails' may hold at most 100 values, not 9000");
        let e = read(&json!({"userName": "a@x.com", "roles": vec!["user"; schema::MAX_VALUES + 1]})).unwrap_err();
        assert!(e.detail.contains("'roles'"), "{}", e.detail);
        let u = read(&json!({"userName": "a@x.com", "emails": emails(schema::MAX_VALUES)})).unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), schema::MAX_VALUES);
    }

    #[test]
    fn plain_string_roles_become_objects() {
        let u = read(&json!({"userName":"a@x.com","roles":["engineer"]})).unwrap();
        assert_eq!(u["roles"], json!([{"value":"engineer"}]));
    }

    #[test]
    fn empty_values_are_absent_and_user_name_is_required() {
        let u = read(&json!({"userName":"a@x.com","title":"","emails":[],"name":{"givenName":""}})).unwrap();
        assert_eq!(u.len(), 1);
        let e = read(&json!({"userName":""})).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::error::ScimType::InvalidValue));
    }

    #[test]
    fn type_errors_are_invalid_value() {
        for body in [
            json!({"userName": 5}),
            json!({"userName":"a@x.com","active":"maybe"}),
            json!({"userName":"a@x.com","name":"Alice"}),
            json!({"userName":"a@x.com","emails":[{"value":"a@x.com","primary":true},{"value":"b@x.com","primary":true}]}),
        ] {
            assert_eq!(read(&body).unwrap_err().status, 400, "{body}");
        }
    }

    #[test]
    fn render_shows_role_in_roles_and_extension() {
        let attrs = read(&json!({"userName":"a@x.com"})).unwrap();
        let roles = vec!["engineer".to_string()];
        let r = render(
            attrs.clone(),
            &Facts {
                id: "u1",
                active: true,
                role: Some("engineer"),
                role_detail: &Map::new(),
                roles: &roles,
                fastly_user_id: Some("F1"),
                customer_id: "C1",
                created: "2024-01-01T00:00:00Z",
                last_modified: "2024-01-01T00:00:00Z",
                version: "W/\"1\"",
                location: "https://h/scim/v2/Users/u1".into(),
            },
        );
        assert_eq!(r["roles"], json!([{"value":"engineer","primary":true}]));
        assert_eq!(r[FASTLY_USER], json!({"role":"engineer","userId":"F1","customerId":"C1"}));
        assert_eq!(r["schemas"], json!([CORE_USER, FASTLY_USER]));
        assert_eq!(r["meta"]["version"], "W/\"1\"");
    }
}
