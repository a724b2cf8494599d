//! Lists (RFC 7644 §3.4.2): paging parameters, the ListResponse envelope, and attribute
//! projection (§3.4.2.5 / §3.9), which applies to every response that returns users.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{self, Resolved, Returned, Schema};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Page size when the client gives no `count`, and the largest page served. Both are advertised
/// in `/ServiceProviderConfig` (`filter.maxResults`).
pub const DEFAULT_COUNT: usize = 100;
pub const MAX_COUNT: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
}

impl Paging {
    /// RFC 7644 §3.4.2.4: a startIndex below 1 means 1; a negative count means 0. Values that
    /// are not integers are a client error. `count` is capped at [`MAX_COUNT`], however large:
    /// an integer beyond `i64` saturates rather than failing.
    pub fn parse(start_index: Option<&str>, count: Option<&str>) -> ScimResult<Paging> {
        let int = |name: &str, v: Option<&str>| -> ScimResult<Option<i64>> {
            match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => s.parse::<i64>().map(Some).or_else(|_| {
                    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(Some(if s.starts_with('-') { i64::MIN } else { i64::MAX }))
                    } else {
                        Err(ScimError::invalid_value(format!("'{name}' must be an integer, not '{}'", clip(s))))
                    }
                }),
            }
        };
        let start = int("startIndex", start_index)?.unwrap_or(1).max(1);
        let count = int("count", count)?.map_or(DEFAULT_COUNT as i64, |c| c.max(0));
        Ok(Paging {
            start_index: usize::try_from(start).unwrap_or(usize::MAX),
            count: usize::try_from(count).unwrap_or(usize::MAX).min(MAX_COUNT),
        })
    }

    /// The slice of `total` items this page covers, as a range of 0-based indexes.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let from = (self.start_index - 1).min(total);
        from..from.saturating_add(self.count).min(total)
    }
}

/// At most 40 characters of client text, for error details.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// The ListResponse envelope. Counters are JSON integers; `itemsPerPage` is what is returned.
/// The ListResponse envelope around `resources`, serialised as they are (a page of users comes
/// already written, as raw JSON).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<R> {
    schemas: [&'static str; 1],
    total_results: usize,
    start_index: usize,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: R,
}

impl<R: Serialize> ListResponse<R> {
    /// `resources`: a JSON array of `count` resources.
    pub fn new(total: usize, start_index: usize, count: usize, resources: R) -> Self {
        ListResponse { schemas: [LIST_RESPONSE], total_results: total, start_index, items_per_page: count, resources }
    }
}

pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    // Strings, numbers and values: the conversion cannot fail.
    serde_json::to_value(ListResponse::new(total, start_index, resources.len(), resources)).unwrap_or_default()
}

/// `attributes` / `excludedAttributes` as requested.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    attributes: Vec<Resolved>,
    excluded: Vec<Resolved>,
    /// Extensions named by their bare URN: the whole extension object.
    attribute_extensions: Vec<&'static Schema>,
    excluded_extensions: Vec<&'static Schema>,
}

impl Projection {
    /// Comma-separated attribute paths. Names the server does not know are ignored: they
    /// cannot be returned, and excluding them changes nothing.
    /// A bare extension URN (`urn:…:enterprise:2.0:User`) names the whole extension object.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let names = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
        };
        let paths = |s: Option<&str>| -> Vec<Resolved> { names(s).iter().filter_map(|p| schema::resolve(p)).collect() };
        let extensions = |s: Option<&str>| -> Vec<&'static Schema> {
            names(s).iter().filter_map(|p| schema::extension(p)).collect()
        };
        Projection {
            attributes: paths(attributes),
            excluded: paths(excluded),
            attribute_extensions: extensions(attributes),
            excluded_extensions: extensions(excluded),
        }
    }

    /// Like [`Projection::apply`], without copying the resource when nothing is projected (the
    /// usual import page).
    pub fn apply_owned(&self, resource: Value) -> Value {
        match resource {
            Value::Object(mut obj) if self.is_whole() => {
                strip_request_only(&mut obj);
                Value::Object(obj)
            }
            other => self.apply(&other),
        }
    }

    /// Whether the default representation is returned: nothing asked for or left out.
    pub fn is_whole(&self) -> bool {
        self.attributes.is_empty()
            && self.attribute_extensions.is_empty()
            && self.excluded.is_empty()
            && self.excluded_extensions.is_empty()
    }

    pub fn apply(&self, resource: &Value) -> Value {
        let Some(obj) = resource.as_object() else { return resource.clone() };
        let mut out = if self.attributes.is_empty() && self.attribute_extensions.is_empty() {
            let mut out = obj.clone();
            strip_request_only(&mut out);
            for path in &self.excluded {
                remove(&mut out, path);
            }
            for ext in &self.excluded_extensions {
                out.remove(ext.id);
            }
            out
        } else {
            let mut out = Map::new();
            // A whole extension brings its default attributes; `returned: request` ones only
            // when named themselves.
            let mut defaults = obj.clone();
            strip_request_only(&mut defaults);
            for ext in &self.attribute_extensions {
                if let Some(v) = defaults.remove(ext.id) {
                    out.insert(ext.id.to_owned(), v);
                }
            }
            for path in &self.attributes {
                copy(obj, &mut out, path);
            }
            out
        };
        // Attributes returned "always" cannot be left out (RFC 7643 §7); `schemas` neither.
        for key in ["schemas", "id"] {
            if let Some(v) = obj.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        always(obj, &mut out);
        Value::Object(out)
    }
}

fn container<'a>(obj: &'a Map<String, Value>, path: &Resolved) -> Option<&'a Map<String, Value>> {
    match path.extension {
        Some(ext) => obj.get(ext.id)?.as_object(),
        None => Some(obj),
    }
}

fn copy(obj: &Map<String, Value>, out: &mut Map<String, Value>, path: &Resolved) {
    let Some(src) = container(obj, path) else { return };
    let Some(value) = src.get(path.attribute.name) else { return };
    let picked = match path.sub {
        None => Some(value.clone()),
        Some(sub) => pick_sub(value, sub.name),
    };
    let Some(picked) = picked else { return };
    let dst = match path.extension {
        Some(ext) => match out.entry(ext.id).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(m) => m,
            _ => return,
        },
        None => out,
    };
    match (dst.get_mut(path.attribute.name), picked) {
        (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
        (Some(Value::Array(have)), Value::Array(more)) => {
            for (h, m) in have.iter_mut().zip(more) {
                if let (Value::Object(h), Value::Object(m)) = (h, m) {
                    h.extend(m);
                }
            }
        }
        (_, picked) => {
            dst.insert(path.attribute.name.to_owned(), picked);
        }
    }
}

fn pick_sub(value: &Value, sub: &str) -> Option<Value> {
    match value {
        Value::Object(m) => m.get(sub).map(|v| json!({ sub: v })),
        Value::Array(items) => Some(Value::Array(
            items.iter().map(|i| i.get(sub).map_or_else(|| json!({}), |v| json!({ sub: v }))).collect(),
        )),
        _ => None,
    }
}

fn remove(out: &mut Map<String, Value>, path: &Resolved) {
    if path.target().returned == Returned::Always {
        return;
    }
    let dst = match path.extension {
        Some(ext) => match out.get_mut(ext.id) {
            Some(Value::Object(m)) => m,
            _ => return,
        },
        None => out,
    };
    match path.sub {
        None => {
            dst.remove(path.attribute.name);
        }
        Some(sub) => match dst.get_mut(path.attribute.name) {
            Some(Value::Object(m)) => {
                m.remove(sub.name);
            }
            Some(Value::Array(items)) => {
                for i in items.iter_mut().filter_map(Value::as_object_mut) {
                    i.remove(sub.name);
                }
            }
            _ => {}
        },
    }
}

/// Drops attributes that are returned only when asked for by name (`returned: request`).
fn strip_request_only(out: &mut Map<String, Value>) {
    for (container, name) in schema::REQUEST_ONLY {
        let container = if *container == schema::CORE_USER {
            Some(&mut *out)
        } else {
            out.get_mut(*container).and_then(Value::as_object_mut)
        };
        if let Some(container) = container {
            container.remove(*name);
        }
    }
}

/// Copies attributes whose `returned` is `always` (beyond `id`), should a schema define any.
fn always(obj: &Map<String, Value>, out: &mut Map<String, Value>) {
    for attr in schema::USER_SCHEMA.attributes.iter().filter(|a| a.returned == Returned::Always) {
        if let Some(v) = obj.get(attr.name) {
            out.insert(attr.name.to_owned(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, FASTLY_USER};

    fn user() -> Value {
        json!({"schemas":["s"],"id":"1","userName":"a@x.com","name":{"givenName":"A","familyName":"B"},
            "emails":[{"value":"a@x.com","type":"work"}],"active":true,"meta":{"version":"W/\"1\""},
            ENTERPRISE_USER:{"department":"D","costCenter":"C"}, FASTLY_USER:{"role":"user"}})
    }

    #[test]
    fn paging_follows_rfc_rules() {
        assert_eq!(Paging::parse(None, None).unwrap(), Paging { start_index: 1, count: DEFAULT_COUNT });
        assert_eq!(Paging::parse(Some("0"), Some("-3")).unwrap(), Paging { start_index: 1, count: 0 });
        assert_eq!(Paging::parse(Some("5"), Some("100000")).unwrap().count, MAX_COUNT);
        // Integers beyond i64 saturate instead of failing; a long non-integer is clipped in the detail.
        let huge = Paging::parse(Some("99999999999999999999999"), Some("+18446744073709551616")).unwrap();
        assert_eq!((huge.start_index, huge.count), (usize::try_from(i64::MAX).unwrap(), MAX_COUNT));
        assert_eq!(huge.range(10), 10..10);
        assert_eq!(Paging::parse(Some("-99999999999999999999999"), Some("-99999999999999999999")).unwrap().count, 0);
        for bad in ["1e3", "12.0", "+", "-", "0x10", "١٢"] {
            assert_eq!(Paging::parse(None, Some(bad)).unwrap_err().status, 400, "{bad}");
        }
        let long = Paging::parse(None, Some(&"x".repeat(5000))).unwrap_err();
        assert!(long.detail.len() < 200, "{}", long.detail);
        assert_eq!(Paging::parse(Some("x"), None).unwrap_err().status, 400);
        let p = Paging { start_index: 3, count: 2 };
        assert_eq!(p.range(10), 2..4);
        assert_eq!(p.range(3), 2..3);
        assert_eq!(p.range(1), 1..1);
    }

    #[test]
    fn attributes_keep_only_what_was_asked_plus_always() {
        let p = Projection::parse(Some("userName,name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        let r = p.apply(&user());
        assert_eq!(
            r,
            json!({"schemas":["s"],"id":"1","userName":"a@x.com","name":{"givenName":"A"},"emails":[{"value":"a@x.com"}],
                ENTERPRISE_USER:{"department":"D"}})
        );
    }

    #[test]
    fn bare_extension_urns_name_the_whole_extension() {
        let p = Projection::parse(None, Some(&format!("{ENTERPRISE_USER},name")));
        let r = p.apply(&user());
        assert!(r.get(ENTERPRISE_USER).is_none() && r.get("name").is_none());
        assert_eq!(r[FASTLY_USER], json!({"role":"user"}));

        let p = Projection::parse(Some(&format!("userName,{ENTERPRISE_USER}")), None);
        assert_eq!(
            p.apply(&user()),
            json!({"schemas":["s"],"id":"1","userName":"a@x.com",ENTERPRISE_USER:{"department":"D","costCenter":"C"}})
        );

        // The whole Fastly extension leaves out its `returned: request` facts unless named.
        let mut u = user();
        u[FASTLY_USER] = json!({"role":"user","userId":"F1","customerId":"C1"});
        let r = Projection::parse(Some(FASTLY_USER), None).apply(&u);
        assert_eq!(r[FASTLY_USER], json!({"role":"user"}));
        let r = Projection::parse(Some(&format!("{FASTLY_USER},{FASTLY_USER}:userId")), None).apply(&u);
        assert_eq!(r[FASTLY_USER], json!({"role":"user","userId":"F1"}));
    }

    #[test]
    fn excluded_attributes_never_drop_id() {
        let p = Projection::parse(None, Some("id,name,emails.type,meta"));
        let r = p.apply(&user());
        assert_eq!(r["id"], "1");
        assert!(r.get("name").is_none() && r.get("meta").is_none());
        assert_eq!(r["emails"], json!([{"value":"a@x.com"}]));
    }
}
