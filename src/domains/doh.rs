//! TXT lookups over DNS-over-HTTPS, JSON flavour: `GET <resolver>?name=<fqdn>&type=TXT` with
//! `Accept: application/dns-json`, as cloudflare-dns.com/dns-query and dns.google/resolve answer.
//!
//! The HTTP exchange is a [`DohHttp`] (a named backend at the edge); everything else — the query,
//! the answer's `Status`, and TXT `data` with its quoting — is plain Rust here, tested on the host.
//! The lookup is a separate trait from the Fastly [`crate::upstream::Transport`] on purpose: that
//! one sends `Fastly-Key`, and no token may ever reach a DNS resolver.

use serde::Deserialize;

use crate::upstream::TransportError;

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtLookup {
    /// The name exists; one string per TXT record (a record's character-strings joined). Empty
    /// when the name has no TXT record.
    Records(Vec<String>),
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    Timeout,
    Unreachable(String),
    /// The resolver answered, but not with an answer (SERVFAIL, HTTP error, not DNS JSON).
    Failed(String),
}

/// Looks up TXT records. The edge implements it over DoH ([`DohResolver`]); tests fake it.
pub trait DnsResolver {
    fn txt(&self, fqdn: &str) -> Result<TxtLookup, DnsError>;
}

/// One DoH answer as HTTP gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DohReply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `GET <the resolver URL>?<query>` with `Accept: application/dns-json`, uncached.
pub trait DohHttp {
    fn get(&self, query: &str) -> Result<DohReply, TransportError>;
}

pub struct DohResolver<'a> {
    http: &'a dyn DohHttp,
}

impl<'a> DohResolver<'a> {
    pub fn new(http: &'a dyn DohHttp) -> Self {
        DohResolver { http }
    }
}

/// RFC 1035 §3.2.2: the TXT record type.
const TXT: u16 = 16;

#[derive(Deserialize)]
struct DohAnswer {
    #[serde(rename = "Status")]
    status: u32,
    #[serde(rename = "Answer", default)]
    answer: Vec<DohRecord>,
}

#[derive(Deserialize)]
struct DohRecord {
    #[serde(rename = "type")]
    rtype: u16,
    #[serde(default)]
    data: String,
}

/// RFC 6895 §2.3 RCODE names, for messages.
fn rcode_name(status: u32) -> &'static str {
    match status {
        1 => "FORMERR",
        2 => "SERVFAIL",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "an error",
    }
}

/// Parses a DoH JSON answer to a TXT question.
pub fn parse_answer(body: &[u8]) -> Result<TxtLookup, DnsError> {
    let a: DohAnswer = serde_json::from_slice(body)
        .map_err(|_| DnsError::Failed("the resolver's answer is not DNS JSON (application/dns-json)".into()))?;
    match a.status {
        0 => Ok(TxtLookup::Records(a.answer.iter().filter(|r| r.rtype == TXT).map(|r| txt_data(&r.data)).collect())),
        3 => Ok(TxtLookup::NoSuchName),
        n => Err(DnsError::Failed(format!("the resolver answered DNS status {n} ({})", rcode_name(n)))),
    }
}

/// The text of a TXT record from a DoH `data` field. Cloudflare writes the record's
/// character-strings quoted (`"\"a\" \"b\""`, with `\"`, `\\` and `\DDD` escapes); Google writes
/// the text bare. Character-strings are joined without a separator, as for SPF (RFC 7208 §3.3).
pub fn txt_data(data: &str) -> String {
    let s = data.trim();
    if !s.starts_with('"') {
        return s.to_owned();
    }
    let mut out: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut bytes = s.bytes().peekable();
    while let Some(b) = bytes.next() {
        match (in_string, b) {
            (false, b'"') | (true, b'"') => in_string = !in_string,
            (false, _) => {}
            (true, b'\\') => {
                let digits: Vec<u8> = std::iter::from_fn(|| bytes.next_if(u8::is_ascii_digit)).take(3).collect();
                if digits.is_empty() {
                    if let Some(next) = bytes.next() {
                        out.push(next);
                    }
                } else {
                    let n = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                }
            }
            (true, _) => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DnsResolver for DohResolver<'_> {
    fn txt(&self, fqdn: &str) -> Result<TxtLookup, DnsError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", fqdn)
            .append_pair("type", "TXT")
            .finish();
        let reply = self.http.get(&query).map_err(|e| match e {
            TransportError::Timeout => DnsError::Timeout,
            TransportError::Unreachable(d) => DnsError::Unreachable(d),
        })?;
        if reply.status != 200 {
            return Err(DnsError::Failed(format!("the DNS-over-HTTPS resolver answered HTTP {}", reply.status)));
        }
        parse_answer(&reply.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// The emulator's answer, as documented in emulator/README.md (Cloudflare's shape).
    const CLOUDFLARE: &str = r#"{"Status":0,"TC":false,"RD":true,"RA":true,"AD":false,"CD":false,
        "Question":[{"name":"_scim-edge.example.com.","type":16}],
        "Answer":[{"name":"_scim-edge.example.com.","type":16,"TTL":300,"data":"\"scim-edge-verification=dev-example-com\""},
                  {"name":"_scim-edge.example.com.","type":16,"TTL":300,"data":"\"v=spf1 \" \"-all\""}]}"#;

    #[test]
    fn reads_cloudflare_and_google_shapes() {
        assert_eq!(
            parse_answer(CLOUDFLARE.as_bytes()).unwrap(),
            TxtLookup::Records(vec!["scim-edge-verification=dev-example-com".into(), "v=spf1 -all".into()])
        );
        // dns.google/resolve: bare data, a CNAME followed on the way.
        let google = r#"{"Status":0,"Answer":[{"name":"_scim-edge.a.com.","type":5,"data":"b.com."},
            {"name":"b.com.","type":16,"data":"scim-edge-verification=x"}]}"#;
        assert_eq!(
            parse_answer(google.as_bytes()).unwrap(),
            TxtLookup::Records(vec!["scim-edge-verification=x".into()])
        );
        // A name without TXT records answers NOERROR with no Answer at all.
        assert_eq!(parse_answer(br#"{"Status":0}"#).unwrap(), TxtLookup::Records(vec![]));
        assert_eq!(parse_answer(br#"{"Status":3,"Question":[]}"#).unwrap(), TxtLookup::NoSuchName);
        let e = parse_answer(br#"{"Status":2}"#).unwrap_err();
        assert_eq!(e, DnsError::Failed("the resolver answered DNS status 2 (SERVFAIL)".into()));
        assert!(matches!(parse_answer(b"<html>"), Err(DnsError::Failed(_))));
    }

    #[test]
    fn txt_escapes_are_decoded() {
        assert_eq!(txt_data(r#""a \"quoted\" \\ back""#), r#"a "quoted" \ back"#);
        assert_eq!(txt_data(r#""caf\195\169""#), "café");
        assert_eq!(txt_data(r#""one" "two""#), "onetwo");
        assert_eq!(txt_data("bare text"), "bare text");
        // Hostile escapes and unterminated strings are not a panic.
        assert_eq!(txt_data(r#""\999""#), "?");
        assert_eq!(txt_data(r#""a\"#), "a");
        assert_eq!(txt_data(r#""a\""#), "a\"");
    }

    struct Recorder {
        queries: RefCell<Vec<String>>,
        reply: Result<DohReply, TransportError>,
    }

    impl DohHttp for Recorder {
        fn get(&self, query: &str) -> Result<DohReply, TransportError> {
            self.queries.borrow_mut().push(query.to_owned());
            self.reply.clone()
        }
    }

    #[test]
    fn resolver_asks_for_txt_and_maps_failures() {
        let ok = Recorder {
            queries: RefCell::new(vec![]),
            reply: Ok(DohReply { status: 200, body: CLOUDFLARE.as_bytes().to_vec() }),
        };
        let found = DohResolver::new(&ok).txt("_scim-edge.example.com").unwrap();
        assert!(matches!(found, TxtLookup::Records(r) if r.len() == 2));
        assert_eq!(ok.queries.borrow().as_slice(), ["name=_scim-edge.example.com&type=TXT"]);

        let http_error = Recorder { queries: RefCell::new(vec![]), reply: Ok(DohReply { status: 400, body: vec![] }) };
        assert!(matches!(DohResolver::new(&http_error).txt("a.b"), Err(DnsError::Failed(d)) if d.contains("HTTP 400")));
        let timeout = Recorder { queries: RefCell::new(vec![]), reply: Err(TransportError::Timeout) };
        assert_eq!(DohResolver::new(&timeout).txt("a.b"), Err(DnsError::Timeout));
    }
}
