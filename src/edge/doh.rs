//! [`DohHttp`] over a named backend (`doh`, or the config-store setting `doh_backend`): the
//! DNS-over-HTTPS resolver that domain verification asks for TXT records. Only the query and
//! `Accept: application/dns-json` are sent; never a token, never the client's headers. Answers
//! are not cached: a verification must see the record as DNS has it now.

use fastly::Request;

use crate::domains::doh::{DohHttp, DohReply};
use crate::upstream::TransportError;

/// The backend's name when `doh_backend` is not set.
pub const DEFAULT_BACKEND: &str = "doh";
/// The resolver's JSON endpoint when `doh_url` is not set. Its host is the `Host` the resolver
/// sees (for dns.google, set `doh_url` to `https://dns.google/resolve`).
pub const DEFAULT_URL: &str = "https://cloudflare-dns.com/dns-query";

pub struct DohBackend {
    backend: String,
    url: String,
}

impl DohBackend {
    pub fn new(backend: Option<String>, url: Option<String>) -> Self {
        let set = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        DohBackend {
            backend: set(backend).unwrap_or_else(|| DEFAULT_BACKEND.to_owned()),
            url: set(url).unwrap_or_else(|| DEFAULT_URL.to_owned()),
        }
    }
}

impl DohHttp for DohBackend {
    fn get(&self, query: &str) -> Result<DohReply, TransportError> {
        let url = fastly::http::Url::parse(&format!("{}?{query}", self.url))
            .map_err(|e| TransportError::Unreachable(format!("doh_url is not a URL: {e}")))?;
        let req = Request::get(url)
            .with_header("Accept", "application/dns-json")
            .with_header("User-Agent", concat!("scim-edge/", env!("CARGO_PKG_VERSION")))
            .with_pass(true);
        match req.send(self.backend.as_str()) {
            Ok(mut resp) => Ok(DohReply { status: resp.get_status().as_u16(), body: resp.take_body_bytes() }),
            Err(e) => {
                let text = format!("{:?}", e.root_cause());
                if text.to_ascii_lowercase().contains("timeout") {
                    Err(TransportError::Timeout)
                } else {
                    Err(TransportError::Unreachable(text))
                }
            }
        }
    }
}
