//! The User resource: reading what a client sends (validated and normalised against the
//! schema tables) and rendering what the server returns.

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{self, Attribute, Kind, Mutability, CORE_USER, ENTERPRISE_USER, FASTLY_USER};
use crate::text::Text;

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
#[derive(Clone)]
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
    pub version: String,
    pub location: String,
}

/// Names the server writes itself: a stored attribute of the same name is never shown.
const SERVER_WRITTEN: [&str; 6] = ["id", "active", "roles", "schemas", "meta", FASTLY_USER];

/// A user's stored attributes, however they were read.
pub trait Attributes {
    type Value: Serialize + ?Sized;
    fn entries(&self) -> impl Iterator<Item = (&str, &Self::Value)>;
    fn contains(&self, name: &str) -> bool {
        self.entries().any(|(k, _)| k == name)
    }
}

impl Attributes for Map<String, Value> {
    type Value = Value;
    fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn contains(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

/// Stored attributes left as raw JSON, borrowed from the stored bytes: an import page writes
/// them out as they are, without building a `Value` for each.
pub struct RawAttributes<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl Attributes for RawAttributes<'_> {
    type Value = RawValue;
    fn entries(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawAttributes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = RawAttributes<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((Text(k), v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(RawAttributes(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// A User's representation, serialised straight from the stored attributes and the server's
/// facts: a page of users is written without building a `Value` per user.
pub struct Resource<'a, A: Attributes = Map<String, Value>> {
    pub attributes: &'a A,
    pub facts: Facts<'a>,
    /// Left out (schema id, attribute name): [`schema::REQUEST_ONLY`] in the representation a
    /// response returns by default, nothing in the full one. Each is a core attribute or in a
    /// container the server writes itself (a test checks it), never inside stored attributes.
    pub hidden: &'static [(&'static str, &'static str)],
}

impl<'a, A: Attributes> Resource<'a, A> {
    /// What a response returns when no attributes are asked for or excluded.
    pub fn returned(attributes: &'a A, facts: Facts<'a>) -> Self {
        Resource { attributes, facts, hidden: schema::REQUEST_ONLY }
    }

    fn hides(&self, container: &str, name: &str) -> bool {
        self.hidden.iter().any(|(c, n)| *c == container && *n == name)
    }
}

/// The full representation of a User, as a `Value` (to filter, patch or project). Written and
/// read back, so that one serialiser of [`Resource`] (the one responses use) is in the module.
pub fn render<A: Attributes>(attributes: &A, facts: Facts<'_>) -> Value {
    let written = serde_json::to_vec(&Resource { attributes, facts, hidden: &[] }).unwrap_or_default();
    serde_json::from_slice(&written).unwrap_or_default()
}

impl<A: Attributes> Serialize for Resource<'_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = &self.facts;
        let mut out = s.serialize_map(None)?;
        for (k, v) in self.attributes.entries() {
            if !SERVER_WRITTEN.contains(&k) && !self.hides(CORE_USER, k) {
                out.serialize_entry(k, v)?;
            }
        }
        out.serialize_entry("id", f.id)?;
        out.serialize_entry("active", &f.active)?;
        // The managed role first, then every other role Fastly shows.
        let managed = f.role.filter(|r| !f.roles.iter().any(|x| x == r));
        let roles: Vec<&str> = managed.into_iter().chain(f.roles.iter().map(String::as_str)).collect();
        if !roles.is_empty() {
            let elements = roles.iter().map(|r| RoleElement {
                value: r,
                primary: Some(*r) == f.role || (f.role.is_none() && roles.len() == 1),
                detail: f.role_detail,
            });
            out.serialize_entry("roles", &Seq(elements))?;
        }
        let shown = |name: &str| !self.hides(FASTLY_USER, name);
        out.serialize_entry(
            FASTLY_USER,
            &FastlyFacts {
                role: f.role.filter(|_| shown("role")),
                user_id: f.fastly_user_id.filter(|_| shown("userId")),
                customer_id: Some(f.customer_id).filter(|_| shown("customerId")),
            },
        )?;
        let enterprise = self.attributes.contains(ENTERPRISE_USER);
        let schemas = [Some(CORE_USER), enterprise.then_some(ENTERPRISE_USER), Some(FASTLY_USER)];
        out.serialize_entry("schemas", &Seq(schemas.iter().flatten()))?;
        out.serialize_entry(
            "meta",
            &Meta {
                resource_type: "User",
                created: f.created,
                last_modified: f.last_modified,
                location: &f.location,
                version: &f.version,
            },
        )?;
        out.end()
    }
}

/// A sequence serialised from an iterator, without collecting it.
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

/// One element of `roles`. The managed (primary) role carries the client's own `display`,
/// `type` and `primary`.
struct RoleElement<'a> {
    value: &'a str,
    primary: bool,
    detail: &'a Map<String, Value>,
}

impl Serialize for RoleElement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(None)?;
        out.serialize_entry("value", self.value)?;
        let detail = self.detail.iter().filter(|_| self.primary);
        match detail.clone().find(|(k, _)| *k == "primary") {
            Some((_, client_primary)) => out.serialize_entry("primary", client_primary)?,
            None => out.serialize_entry("primary", &self.primary)?,
        }
        for (k, v) in detail.filter(|(k, _)| *k != "primary" && *k != "value") {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FastlyFacts<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    resource_type: &'static str,
    created: &'a str,
    last_modified: &'a str,
    location: &'a str,
    version: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::list::Projection;
    use serde_json::json;

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
            &attrs,
            Facts {
                id: "u1",
                active: true,
                role: Some("engineer"),
                role_detail: &Map::new(),
                roles: &roles,
                fastly_user_id: Some("F1"),
                customer_id: "C1",
                created: "2024-01-01T00:00:00Z",
                last_modified: "2024-01-01T00:00:00Z",
                version: "W/\"1\"".into(),
                location: "https://h/scim/v2/Users/u1".into(),
            },
        );
        assert_eq!(r["roles"], json!([{"value":"engineer","primary":true}]));
        assert_eq!(r[FASTLY_USER], json!({"role":"engineer","userId":"F1","customerId":"C1"}));
        assert_eq!(r["schemas"], json!([CORE_USER, FASTLY_USER]));
        assert_eq!(r["meta"]["version"], "W/\"1\"");
    }

    #[test]
    fn request_only_attributes_are_never_inside_stored_attributes() {
        for (container, _) in schema::REQUEST_ONLY {
            assert!(*container == CORE_USER || SERVER_WRITTEN.contains(container), "{container}");
        }
    }

    /// Raw attributes, borrowed from the stored bytes, are written as the parsed ones are.
    #[test]
    fn raw_attributes_write_as_parsed_ones() {
        let attrs = read(&json!({"userName": "a\"b@x.com", "name": {"givenName": "Ådа"},
            ENTERPRISE_USER: {"department": "Ops"}, "emails": [{"value": "a@x.com", "primary": true}]}))
        .unwrap();
        let bytes = serde_json::to_vec(&attrs).unwrap();
        let raw: RawAttributes<'_> = serde_json::from_slice(&bytes).unwrap();
        let detail = Map::new();
        let facts = || Facts {
            id: "u1",
            active: false,
            role: Some("user"),
            role_detail: &detail,
            roles: &[],
            fastly_user_id: None,
            customer_id: "C1",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-01T00:00:00Z",
            version: "W/\"1\"".into(),
            location: "https://h/scim/v2/Users/u1".into(),
        };
        let parsed = serde_json::to_vec(&Resource::returned(&attrs, facts())).unwrap();
        let from_raw = serde_json::to_vec(&Resource::returned(&raw, facts())).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&from_raw).unwrap(),
            serde_json::from_slice::<Value>(&parsed).unwrap()
        );
        assert_eq!(render(&raw, facts()), render(&attrs, facts()));
        // A name with escapes is unescaped (copied), not borrowed.
        let escaped: RawAttributes<'_> = serde_json::from_str(r#"{"user\u004eame": "x"}"#).unwrap();
        assert_eq!(escaped.entries().map(|(k, _)| k).collect::<Vec<_>>(), ["userName"]);
    }

    /// The bytes a response writes are the `Value` filters and projections see, less what is
    /// returned on request only: server-written
    /// names in the stored attributes give way to the facts (no key appears twice), the managed
    /// role comes first, and only it carries the client's `display`, `type` and `primary`.
    #[test]
    fn the_written_user_is_the_rendered_user() {
        let mut attrs = read(&json!({"userName":"a@x.com", ENTERPRISE_USER: {"department": "Ops"}})).unwrap();
        for (k, v) in [("id", json!("spoof")), ("meta", json!({})), ("roles", json!(["x"])), ("active", json!(false))] {
            attrs.insert(k.into(), v);
        }
        attrs.insert(FASTLY_USER.into(), json!({"role": "spoof"}));
        let detail = json!({"display": "Engineer", "primary": false, "value": "spoof"});
        let roles = vec!["billing".to_string(), "user".to_string()];
        let facts = Facts {
            id: "u1",
            active: true,
            role: Some("engineer"),
            role_detail: detail.as_object().unwrap(),
            roles: &roles,
            fastly_user_id: None,
            customer_id: "C1",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-02T00:00:00Z",
            version: "W/\"3\"".into(),
            location: "https://h/scim/v2/Users/u1".into(),
        };
        let written = serde_json::to_vec(&Resource::returned(&attrs, facts.clone())).unwrap();
        let text = String::from_utf8(written.clone()).unwrap();
        for key in ["\"id\"", "\"meta\"", "\"roles\"", "\"active\"", "\"value\":\"spoof\""] {
            assert!(text.matches(key).count() <= 1, "{key} twice in {text}");
        }
        let r: Value = serde_json::from_slice(&written).unwrap();
        let full = render(&attrs, facts);
        assert_eq!(full[FASTLY_USER], json!({"role": "engineer", "customerId": "C1"}));
        assert_eq!(r, Projection::parse(None, None).apply_owned(full));
        assert_eq!(r["id"], "u1");
        assert_eq!(r["active"], true);
        assert_eq!(
            r["roles"],
            json!([
                {"value": "engineer", "primary": false, "display": "Engineer"},
                {"value": "billing", "primary": false},
                {"value": "user", "primary": false}
            ])
        );
        // `customerId` and `userId` are returned on request only.
        assert_eq!(r[FASTLY_USER], json!({"role": "engineer"}));
        assert_eq!(r["schemas"], json!([CORE_USER, ENTERPRISE_USER, FASTLY_USER]));
        assert_eq!(r["meta"]["lastModified"], "2024-01-02T00:00:00Z");
    }
}
