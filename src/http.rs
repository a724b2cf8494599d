//! The plain HTTP types the core speaks. The edge adapter converts `fastly::Request` and
//! `fastly::Response` to and from these, so the core never touches the Compute SDK.

use serde_json::Value;

use crate::scim::error::ScimError;

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            _ => Method::Other,
        }
    }
}

#[derive(Clone)]
pub struct Request {
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// `Debug` never shows credentials: `Authorization` and `Fastly-Key` values are redacted.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| match n.as_str() {
                "authorization" | "fastly-key" | "proxy-authorization" => (n.as_str(), "[redacted]"),
                _ => (n.as_str(), v.as_str()),
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Request {
    pub fn new(method: Method, path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request { method, path: path.to_owned(), query: query.to_owned(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Query parameters, form-decoded exactly once (`+` is a space, `%2B` a plus).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// The first query parameter with this name (case-insensitive, as SCIM parameter names are).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The body as JSON. Only JSON media types are accepted (RFC 7644 §3.1: `application/scim+json`,
    /// and `application/json` which IdPs send); any charset parameter is fine.
    pub fn json_body(&self) -> Result<Value, ScimError> {
        if let Some(ct) = self.header("content-type") {
            if !is_json_media_type(ct) {
                return Err(ScimError::unsupported_media_type(format!(
                    "Content-Type '{ct}' is not supported; send application/scim+json or application/json"
                )));
            }
        }
        if self.body.is_empty() {
            return Err(ScimError::invalid_syntax("the request body is empty; a JSON object is required"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
    }
}

/// `application/scim+json`, `application/json` (any parameters, any case).
pub fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(essence.as_str(), "application/scim+json" | "application/json")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A SCIM JSON response.
    pub fn scim(status: u16, body: &impl serde::Serialize) -> Self {
        let mut r = Response::new(status);
        // `to_vec` writes straight into the buffer (`to_string` goes through `fmt`); bodies are
        // maps with string keys, which always serialise.
        r.body = serde_json::to_vec(body).unwrap_or_default();
        r.headers.push(("content-type".into(), SCIM_JSON.into()));
        r
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl From<&ScimError> for Response {
    /// The one place a `ScimError` becomes an HTTP response.
    fn from(e: &ScimError) -> Self {
        let mut r = Response::scim(e.status, &e.body());
        if let Some(secs) = e.retry_after {
            r = r.with_header("retry-after", secs.to_string());
        }
        if e.status == 401 {
            r = r.with_header("www-authenticate", "Bearer realm=\"scim-edge\"");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded_once() {
        let r = Request::new(Method::Get, "/Users?filter=userName+eq+%22a%2Bb%40x.com%22&count=2");
        assert_eq!(r.query_param("filter").unwrap(), "userName eq \"a+b@x.com\"");
        assert_eq!(r.query_param("COUNT").unwrap(), "2");
    }

    #[test]
    fn json_media_types_with_any_charset_are_accepted() {
        assert!(is_json_media_type("application/scim+json; charset=utf-8"));
        assert!(is_json_media_type("Application/JSON"));
        assert!(!is_json_media_type("text/plain"));
        let r = Request::new(Method::Post, "/Users").with_header("Content-Type", "text/xml").with_body("{}");
        assert_eq!(r.json_body().unwrap_err().status, 415);
    }

    #[test]
    fn error_response_carries_retry_after() {
        let r = Response::from(&ScimError::too_many_requests("slow down", 30));
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("30"));
        assert_eq!(r.header("content-type"), Some(SCIM_JSON));
    }

    #[test]
    fn debug_redacts_credentials() {
        let r = Request::new(Method::Get, "/Users")
            .with_header("Authorization", "Bearer secret-token-1")
            .with_header("Fastly-Key", "secret-token-2")
            .with_header("Accept", "application/scim+json");
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("application/scim+json") && shown.contains("[redacted]"));
    }
}
