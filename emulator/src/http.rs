//! A small HTTP/1.1 server on `std::net`: one thread per connection, keep-alive,
//! `Content-Length` and chunked request bodies, `Expect: 100-continue`.
//!
//! It is hand-made (rather than tiny_http) so that a handler can close a connection
//! without sending any response byte (the `drop_response` fault).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const MAX_LINE: u64 = 16 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 1024 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, as sent (not percent-decoded).
    pub path: String,
    /// The raw query string (after `?`), empty when absent.
    pub query: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// The first value of a header (name lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response with `Cache-Control: no-store`.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::json_text(status, value.to_string())
    }

    /// A JSON response serializing `value` (struct field order is kept).
    pub fn json_ser<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_string(value) {
            Ok(text) => Response::json_text(status, text),
            Err(e) => Response::json(500, &serde_json::json!({"msg": e.to_string()})),
        }
    }

    /// A JSON response from already serialized text.
    pub fn json_text(status: u16, text: String) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Cache-Control".into(), "no-store".into()),
            ],
            body: text.into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn set_content_type(&mut self, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case("content-type") {
                *v = value.to_string();
            }
        }
    }
}

/// What a handler decided.
pub enum Outcome {
    Respond(Response),
    /// Close the connection without sending anything.
    Drop,
}

pub type Handler = Arc<dyn Fn(Request) -> Outcome + Send + Sync>;

/// Accepts connections forever, each on its own thread.
pub fn serve(listener: TcpListener, handler: Handler) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let handler = Arc::clone(&handler);
        let spawned = std::thread::Builder::new().name("conn".into()).spawn(move || connection(stream, &handler));
        if let Err(e) = spawned {
            eprintln!("emulator: cannot spawn a connection thread: {e}");
        }
    }
}

fn connection(stream: TcpStream, handler: &Handler) {
    let peer = stream.peer_addr().ok();
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let parsed = match read_request(&mut reader, &mut writer, peer) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(resp) => {
                let _ = write_response(&mut writer, &resp, true);
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        };
        let close = parsed.close;
        match handler(parsed.request) {
            Outcome::Respond(resp) => {
                if write_response(&mut writer, &resp, close).is_err() || close {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
            Outcome::Drop => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

struct Parsed {
    request: Request,
    close: bool,
}

fn bad_request(status: u16, detail: &str) -> Response {
    Response::json(status, &serde_json::json!({"msg": reason(status), "detail": detail}))
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, Response> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf).map_err(|_| bad_request(400, "read error"))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(bad_request(431, "line too long or truncated"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| bad_request(400, "request line or header is not UTF-8"))
}

/// Reads one request; `Ok(None)` when the peer closed an idle connection.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    peer: Option<SocketAddr>,
) -> Result<Option<Parsed>, Response> {
    // Skip empty lines between requests (RFC 9112 §2.2).
    let line = loop {
        match read_line(reader) {
            Ok(None) => return Ok(None),
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => break l,
            // A timed-out or reset idle connection: just close it.
            Err(_) if reader.buffer().is_empty() => return Ok(None),
            Err(e) => return Err(e),
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_request(400, "malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad_request(505, "only HTTP/1.0 and HTTP/1.1")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad_request(400, "malformed method"));
    }
    // Absolute-form targets (proxies) are reduced to origin-form.
    let target = match target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        Some(rest) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => target,
    };
    if !target.starts_with('/') {
        return Err(bad_request(400, "request target must start with '/'"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };

    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(bad_request(400, "connection closed inside the headers"));
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(bad_request(431, "too many headers"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad_request(400, "malformed header line"));
        };
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(bad_request(400, "malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let connection = get("connection").unwrap_or_default().to_ascii_lowercase();
    let close = if http10 { !connection.contains("keep-alive") } else { connection.contains("close") };

    let chunked = match get("transfer-encoding") {
        None => false,
        Some(te) if te.eq_ignore_ascii_case("chunked") => true,
        Some(_) => return Err(bad_request(501, "unsupported Transfer-Encoding")),
    };
    let length = match get("content-length") {
        Some(_) if chunked => return Err(bad_request(400, "both Content-Length and Transfer-Encoding")),
        Some(v) => Some(v.parse::<usize>().map_err(|_| bad_request(400, "invalid Content-Length"))?),
        None => None,
    };
    if length.is_some_and(|n| n > MAX_BODY) {
        return Err(bad_request(413, "request body too large"));
    }
    let wants_body = chunked || length.is_some_and(|n| n > 0);
    if wants_body
        && get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return Ok(None);
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0u8; length.unwrap_or(0)];
        reader.read_exact(&mut body).map_err(|_| bad_request(400, "body shorter than Content-Length"))?;
        body
    };

    Ok(Some(Parsed { request: Request { method: method.to_string(), path, query, headers, body, peer }, close }))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, Response> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| bad_request(400, "truncated chunk"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad_request(400, "invalid chunk size"))?;
        if size == 0 {
            // Trailers until the empty line.
            loop {
                let t = read_line(reader)?.ok_or_else(|| bad_request(400, "truncated trailer"))?;
                if t.is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(bad_request(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        let chunk = body.get_mut(start..).ok_or_else(|| bad_request(400, "chunk"))?;
        reader.read_exact(chunk).map_err(|_| bad_request(400, "truncated chunk"))?;
        let end = read_line(reader)?;
        if end.as_deref() != Some("") {
            return Err(bad_request(400, "chunk not followed by CRLF"));
        }
    }
}

fn write_response(writer: &mut TcpStream, resp: &Response, close: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !resp.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("date")) {
        let now = crate::time::http_date(crate::time::system_now());
        head.push_str(&format!("Date: {now}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    writer.write_all(&out)?;
    writer.flush()
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Decodes `application/x-www-form-urlencoded` text strictly: `+` is a space,
/// `%XX` must be two hex digits, and the decoded bytes must be UTF-8.
pub fn decode_form(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)?;
        if k.is_empty() {
            return Err("a form field has an empty name".into());
        }
        out.push((k, percent_decode(v)?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = it.next().and_then(hex);
                let lo = it.next().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => bytes.push(h * 16 + l),
                    _ => return Err(format!("invalid percent-encoding in '{s}'")),
                }
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("'{s}' does not decode to UTF-8"))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let f = decode_form("login=a%2Bb%40example.com&name=test+user&roles[]=x&roles%5B%5D=y").unwrap();
        assert_eq!(
            f,
            vec![
                ("login".to_string(), "a+b@example.com".to_string()),
                ("name".to_string(), "test user".to_string()),
                ("roles[]".to_string(), "x".to_string()),
                ("roles[]".to_string(), "y".to_string()),
            ]
        );
        assert!(decode_form("a=%zz").is_err());
        assert!(decode_form("a=%ff").is_err());
        assert!(decode_form("=x").is_err());
        assert_eq!(decode_form("").unwrap(), vec![]);
    }
}
