//! [`Transport`] over the named backend that points at api.fastly.com (or, locally, at the
//! emulator). Only `Fastly-Key` authenticates upstream; the client's headers are never forwarded.

use fastly::http::Method as FMethod;
use fastly::Request;

use crate::http::Method;
use crate::upstream::{ApiRequest, ApiResponse, Transport, TransportError};

/// A failure that came only after this long is a timeout, whatever its cause says: Fastly
/// names timeouts (`HttpResponseTimeout`), but Viceroy reports every backend failure alike.
/// Refused, reset and dropped connections fail well before it.
const SLOW_FAILURE: std::time::Duration = std::time::Duration::from_secs(2);

pub struct BackendTransport {
    backend: String,
}

impl BackendTransport {
    pub fn new(backend: &str) -> Self {
        BackendTransport { backend: backend.to_owned() }
    }
}

/// The whole answer, in a buffer sized from `Content-Length` when Fastly gives one: a growing
/// buffer would double past the heap limit on the user list of a large account (tens of MB).
fn read_body(resp: &mut fastly::Response) -> Result<Vec<u8>, TransportError> {
    use std::io::Read;
    let known = header_u64(resp, "Content-Length").unwrap_or(0).min(MAX_PRESIZED_BODY);
    let mut body = Vec::with_capacity(usize::try_from(known).unwrap_or(0));
    resp.take_body()
        .read_to_end(&mut body)
        .map_err(|e| TransportError::Unreachable(format!("the answer could not be read: {e}")))?;
    Ok(body)
}

/// The largest buffer reserved up front (more than Fastly's user list of 100,000 users).
const MAX_PRESIZED_BODY: u64 = 64 * 1024 * 1024;

fn header_u64(r: &fastly::Response, name: &str) -> Option<u64> {
    r.get_header_str(name).and_then(|v| v.trim().parse().ok())
}

impl Transport for BackendTransport {
    fn send(&self, req: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let method = match req.method {
            Method::Get => FMethod::GET,
            Method::Post => FMethod::POST,
            Method::Put => FMethod::PUT,
            Method::Patch => FMethod::PATCH,
            Method::Delete => FMethod::DELETE,
            Method::Head => FMethod::HEAD,
            Method::Other => return Err(TransportError::Unreachable("unsupported method".into())),
        };
        let url = format!("https://api.fastly.com{}", req.path);
        let url = fastly::http::Url::parse(&url).map_err(|e| TransportError::Unreachable(e.to_string()))?;
        let mut up = Request::new(method, url)
            .with_header("Fastly-Key", req.token.as_str())
            .with_header("Accept", "application/json")
            .with_header("User-Agent", concat!("scim-edge/", env!("CARGO_PKG_VERSION")))
            .with_pass(true);
        if let Some(form) = &req.form {
            up.set_header("Content-Type", "application/x-www-form-urlencoded");
            up.set_body(form.as_str());
        }
        let started = std::time::Instant::now();
        match up.send(self.backend.as_str()) {
            Ok(mut resp) => Ok(ApiResponse {
                status: resp.get_status().as_u16(),
                rate_limit_remaining: header_u64(&resp, "Fastly-RateLimit-Remaining"),
                rate_limit_reset: header_u64(&resp, "Fastly-RateLimit-Reset"),
                body: read_body(&mut resp)?,
            }),
            Err(e) => {
                let text = format!("{:?}", e.root_cause());
                if text.to_ascii_lowercase().contains("timeout") || started.elapsed() >= SLOW_FAILURE {
                    Err(TransportError::Timeout)
                } else {
                    Err(TransportError::Unreachable(text))
                }
            }
        }
    }
}
