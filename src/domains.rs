//! Verified email domains. Fastly's rule: users are provisioned only in email domains the
//! account has verified. An account superuser adds a domain, publishes the DNS TXT challenge it
//! is given, and asks scim-edge to verify it; from then on SCIM may create Fastly users whose
//! login is in that domain ([`require_verified`], called on create and reactivation).
//!
//! - One KV record per domain, `t/{customer}/domain/{digest(domain)}`, so the create path pays
//!   exactly one read. Records are listed by prefix (a tenant has a handful).
//! - A domain is exactly one DNS name: verifying `example.com` does not cover `eu.example.com`.
//! - The challenge is `TXT _scim-edge.<domain> = "scim-edge-verification=<random>"`, random per
//!   tenant and per add; a domain counts as verified only after a lookup that returns exactly it.
//! - Once verified, a domain stays verified until it is deleted; deleting it removes no user, it
//!   only stops new Fastly users in that domain.
//!
//! The admin API (`/admin/domains…`, [`handle_admin`]) answers `application/json`; its errors
//! are SCIM error JSON like every other error.

pub mod doh;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Tenant;
use crate::http::{Method, Request, Response};
use crate::provision::Audit;
use crate::scim::error::{ScimError, ScimResult};
use crate::store::{keys, Store, StoreError, Write};

pub use doh::{DnsError, DnsResolver, TxtLookup};

/// The admin API's root; `/admin/domains…` lives under it.
pub const ADMIN_PREFIX: &str = "/admin";
/// The label the challenge record is published under: `_scim-edge.<domain>`.
pub const CHALLENGE_LABEL: &str = "_scim-edge";
/// What the challenge value starts with.
pub const CHALLENGE_PREFIX: &str = "scim-edge-verification=";
/// RFC 1035 §2.3.4: a name is at most 253 characters in text form, a label at most 63.
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
const MAX_ATTEMPTS: usize = 4;
/// How much of what DNS returned is echoed back in a refusal.
const MAX_FOUND_SHOWN: usize = 10;
const MAX_FOUND_LEN: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Verified,
}

/// One domain of one tenant, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// Normalised (see [`normalize`]).
    pub domain: String,
    pub status: Status,
    /// The full TXT value expected at [`challenge_name`].
    pub challenge: String,
    pub created: String,
    #[serde(default)]
    pub verified_at: Option<String>,
}

impl DomainRecord {
    /// The admin API's view.
    pub fn to_json(&self) -> Value {
        json!({
            "domain": self.domain,
            "status": self.status,
            "created": self.created,
            "verified": self.verified_at,
            "challenge": {"type": "TXT", "name": challenge_name(&self.domain), "value": self.challenge},
        })
    }
}

/// The DNS name that holds the challenge of `domain`.
pub fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// A domain name as stored and compared: trimmed, lowercase, without a trailing dot. Refuses
/// anything that is not a DNS host name with at least two labels (letters, digits and hyphens;
/// no IDNA: write internationalised names in their `xn--` form).
pub fn normalize(input: &str) -> ScimResult<String> {
    let d = input.trim().to_ascii_lowercase();
    let d = d.strip_suffix('.').unwrap_or(&d).to_owned();
    let refuse = |why: &str| {
        let shown: String = input.trim().chars().take(80).collect();
        ScimError::invalid_value(format!("'{shown}' is not a valid email domain: {why}"))
    };
    if d.is_empty() {
        return Err(refuse("it is empty"));
    }
    if d.len() > MAX_NAME_LEN {
        return Err(refuse("a domain name is at most 253 characters"));
    }
    if !d.contains('.') {
        return Err(refuse("a domain name has at least one dot (e.g. example.com)"));
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(refuse("it has an empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(refuse("a label is at most 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(refuse(
                "labels are letters, digits and hyphens (write internationalised names in their xn-- form)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(refuse("a label cannot start or end with a hyphen"));
        }
    }
    if d.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(refuse("an IP address is not a domain"));
    }
    if challenge_name(&d).len() > MAX_NAME_LEN {
        return Err(refuse("the challenge record _scim-edge.<domain> would be longer than 253 characters"));
    }
    Ok(d)
}

/// The config-store value of `require_verified_domain`. Unset means `true`, and so does anything
/// that is not clearly off: a typo keeps the rule on.
pub fn require_setting(value: Option<&str>) -> bool {
    !matches!(value.map(|v| v.trim().to_ascii_lowercase()).as_deref(), Some("false" | "0" | "no" | "off"))
}

fn store_err(e: StoreError) -> ScimError {
    match e {
        StoreError::Conflict => ScimError::uniqueness("a concurrent change won; retry the request"),
        StoreError::Unavailable(_) => ScimError::service_unavailable("the state store is unavailable; retry"),
    }
}

fn parse(bytes: &[u8]) -> ScimResult<DomainRecord> {
    serde_json::from_slice(bytes).map_err(|_| ScimError::internal())
}

fn load(store: &dyn Store, customer_id: &str, domain: &str) -> ScimResult<Option<(DomainRecord, u64)>> {
    match store.get(&keys::domain(customer_id, domain)).map_err(store_err)? {
        Some(e) => Ok(Some((parse(&e.value)?, e.generation))),
        None => Ok(None),
    }
}

fn how_to_verify(domain: &str) -> String {
    format!(
        "an account superuser verifies it with POST /admin/domains {{\"domain\":\"{domain}\"}}, publishes the TXT \
         record {} it returns, then calls POST /admin/domains/{domain}/verify",
        challenge_name(domain)
    )
}

/// The create-path rule: the login's email domain must be verified for the tenant. One KV read.
pub fn require_verified(store: &dyn Store, customer_id: &str, login: &str) -> ScimResult<()> {
    let raw = login.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let refused = |state: &str, domain: &str| {
        ScimError::invalid_value(format!(
            "the email domain '{domain}' of login '{login}' {state}: Fastly users are only provisioned in email \
             domains the account has verified; {}",
            how_to_verify(domain)
        ))
    };
    let Ok(domain) = normalize(raw) else {
        return Err(refused("cannot be verified", raw));
    };
    match load(store, customer_id, &domain)? {
        Some((r, _)) if r.status == Status::Verified => Ok(()),
        Some(_) => Err(refused("is added but not verified yet", &domain)),
        None => Err(refused("is not verified for this Fastly account", &domain)),
    }
}

/// Everything a domain operation needs, for one request of one tenant.
pub struct Domains<'a> {
    pub store: &'a dyn Store,
    pub tenant: &'a Tenant,
    pub dns: &'a dyn DnsResolver,
    pub audit: &'a dyn Audit,
    /// Randomness for challenges.
    pub new_id: &'a dyn Fn() -> String,
    /// Unix seconds.
    pub now: u64,
}

impl Domains<'_> {
    fn key(&self, domain: &str) -> String {
        keys::domain(&self.tenant.customer_id, domain)
    }

    fn save(&self, r: &DomainRecord, write: Write) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(r).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.store.put(&self.key(&r.domain), &bytes, write)
    }

    fn audit(&self, op: &str, domain: &str, result: &str) {
        self.audit.record(&json!({
            "time": crate::time::format(self.now),
            "account": self.tenant.customer_id,
            "actor": self.tenant.actor,
            "operation": op,
            "domain": domain,
            "result": result,
        }));
    }

    fn not_added(domain: &str) -> ScimError {
        ScimError::not_found(format!(
            "the domain '{domain}' has not been added; add it with POST /admin/domains {{\"domain\":\"{domain}\"}}"
        ))
    }

    /// Every domain of the tenant, by name.
    pub fn list(&self) -> ScimResult<Vec<DomainRecord>> {
        let prefix = keys::domains_prefix(&self.tenant.customer_id);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.store.list(&prefix, cursor.as_deref(), 1000).map_err(store_err)?;
            for key in &page.keys {
                // A record deleted between the listing and the read is simply gone.
                if let Some(e) = self.store.get(key).map_err(store_err)? {
                    out.push(parse(&e.value)?);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out.sort_by(|a, b| a.domain.cmp(&b.domain));
        Ok(out)
    }

    pub fn get(&self, domain: &str) -> ScimResult<DomainRecord> {
        let domain = normalize(domain)?;
        load(self.store, &self.tenant.customer_id, &domain)?.map(|(r, _)| r).ok_or_else(|| Self::not_added(&domain))
    }

    /// Adds a pending domain with a fresh challenge. Adding one that exists changes nothing and
    /// returns it as it is (`false`: not created now).
    pub fn add(&self, domain: &str) -> ScimResult<(DomainRecord, bool)> {
        let domain = normalize(domain)?;
        for _ in 0..MAX_ATTEMPTS {
            let record = DomainRecord {
                domain: domain.clone(),
                status: Status::Pending,
                challenge: format!("{CHALLENGE_PREFIX}{}", (self.new_id)()),
                created: crate::time::format(self.now),
                verified_at: None,
            };
            match self.save(&record, Write::IfAbsent) {
                Ok(()) => {
                    self.audit("domain_add", &domain, "ok");
                    return Ok((record, true));
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(store_err(e)),
            }
            if let Some((existing, _)) = load(self.store, &self.tenant.customer_id, &domain)? {
                return Ok((existing, false));
            }
            // Deleted between the two calls: try again.
        }
        Err(ScimError::uniqueness(format!("the domain '{domain}' is being changed concurrently; retry")))
    }

    /// Looks the challenge up in DNS; on a match the domain becomes verified. A domain that is
    /// verified already is returned without a lookup.
    pub fn verify(&self, domain: &str) -> ScimResult<DomainRecord> {
        let domain = normalize(domain)?;
        let name = challenge_name(&domain);
        let mut found: Option<TxtLookup> = None;
        for _ in 0..MAX_ATTEMPTS {
            let Some((mut record, generation)) = load(self.store, &self.tenant.customer_id, &domain)? else {
                return Err(Self::not_added(&domain));
            };
            if record.status == Status::Verified {
                return Ok(record);
            }
            if found.is_none() {
                found = Some(self.dns.txt(&name).map_err(|e| dns_error(&name, e))?);
            }
            let proven = matches!(&found, Some(TxtLookup::Records(r)) if r.contains(&record.challenge));
            if !proven {
                self.audit("domain_verify", &domain, "refused");
                return Err(ScimError::conflict(format!(
                    "the domain '{domain}' is not verified: expected a TXT record at {name} with the value \"{}\"; \
                     found {}. Publish the record and retry (DNS changes can take some minutes to be visible)",
                    record.challenge,
                    describe(found.as_ref()),
                )));
            }
            record.status = Status::Verified;
            record.verified_at = Some(crate::time::format(self.now));
            match self.save(&record, Write::IfGeneration(generation)) {
                Ok(()) => {
                    self.audit("domain_verify", &domain, "ok");
                    return Ok(record);
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(ScimError::uniqueness(format!("the domain '{domain}' is being changed concurrently; retry")))
    }

    /// Removes the domain. Users already in it keep their access; new ones cannot be created.
    pub fn delete(&self, domain: &str) -> ScimResult<()> {
        let domain = normalize(domain)?;
        if load(self.store, &self.tenant.customer_id, &domain)?.is_none() {
            return Err(Self::not_added(&domain));
        }
        self.store.delete(&self.key(&domain)).map_err(store_err)?;
        self.audit("domain_delete", &domain, "ok");
        Ok(())
    }
}

fn dns_error(name: &str, e: DnsError) -> ScimError {
    match e {
        DnsError::Timeout => {
            ScimError::gateway_timeout(format!("the DNS resolver did not answer for {name} in time; retry"))
        }
        DnsError::Unreachable(_) => ScimError::service_unavailable("the DNS resolver is unreachable; retry"),
        DnsError::Failed(why) => ScimError::bad_gateway(format!("the DNS lookup of {name} failed: {why}; retry")),
    }
}

/// What DNS returned, for a refusal. Bounded: the resolver's answer is not ours to trust.
fn describe(found: Option<&TxtLookup>) -> String {
    match found {
        None | Some(TxtLookup::NoSuchName) => "no such DNS name (NXDOMAIN)".to_owned(),
        Some(TxtLookup::Records(r)) if r.is_empty() => "no TXT record at that name".to_owned(),
        Some(TxtLookup::Records(r)) => {
            let shown: Vec<String> = r
                .iter()
                .take(MAX_FOUND_SHOWN)
                .map(|t| format!("\"{}\"", t.chars().take(MAX_FOUND_LEN).collect::<String>()))
                .collect();
            let more = r.len().saturating_sub(MAX_FOUND_SHOWN);
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!("only {}{tail}", shown.join(", "))
        }
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(status).with_header("content-type", "application/json");
    r.body = body.to_string().into_bytes();
    r
}

/// The admin API; `segments` are the path's parts after [`ADMIN_PREFIX`]. The caller has
/// authenticated the tenant's superuser token, as for SCIM.
///
/// - `GET /admin/domains` → 200 `{"domains": [...]}`
/// - `POST /admin/domains {"domain": "example.com"}` → 201 with the challenge (200 if it exists)
/// - `GET /admin/domains/{domain}` → 200
/// - `POST /admin/domains/{domain}/verify` → 200 verified, or 409 saying what DNS holds
/// - `DELETE /admin/domains/{domain}` → 204
pub fn handle_admin(d: &Domains<'_>, req: &Request, segments: &[&str]) -> ScimResult<Response> {
    let m = req.method;
    match (m, segments) {
        (Method::Get, ["domains"]) => {
            let all: Vec<Value> = d.list()?.iter().map(DomainRecord::to_json).collect();
            Ok(json_response(200, &json!({ "domains": all })))
        }
        (Method::Post, ["domains"]) => {
            let body = req.json_body()?;
            let Some(domain) = body.get("domain").and_then(Value::as_str) else {
                return Err(ScimError::invalid_value("send {\"domain\": \"example.com\"}"));
            };
            let (record, created) = d.add(domain)?;
            Ok(json_response(if created { 201 } else { 200 }, &record.to_json()))
        }
        (Method::Get, ["domains", domain]) => Ok(json_response(200, &d.get(domain)?.to_json())),
        (Method::Delete, ["domains", domain]) => {
            d.delete(domain)?;
            Ok(Response::new(204))
        }
        (Method::Post, ["domains", domain, "verify"]) => Ok(json_response(200, &d.verify(domain)?.to_json())),
        (_, ["domains"] | ["domains", _] | ["domains", _, "verify"]) => {
            Err(ScimError::method_not_allowed(format!("{m:?} is not allowed on {}", req.path)))
        }
        _ => Err(ScimError::not_found(format!("no such endpoint '{}'; the admin API is /admin/domains", req.path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::{self, Ctx, Policy};
    use crate::store::memory::MemoryStore;
    use crate::upstream::fake::{json as api_json, Scripted};
    use crate::upstream::FastlyApi;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakeDns {
        names: RefCell<HashMap<String, Vec<String>>>,
        fail: Cell<bool>,
        lookups: Cell<usize>,
    }

    impl FakeDns {
        fn publish(&self, name: &str, txt: &[&str]) {
            self.names.borrow_mut().insert(name.to_owned(), txt.iter().map(|t| (*t).to_owned()).collect());
        }
    }

    impl DnsResolver for FakeDns {
        fn txt(&self, fqdn: &str) -> Result<TxtLookup, DnsError> {
            self.lookups.set(self.lookups.get() + 1);
            if self.fail.get() {
                return Err(DnsError::Failed("the resolver answered DNS status 2 (SERVFAIL)".into()));
            }
            Ok(match self.names.borrow().get(fqdn) {
                Some(t) => TxtLookup::Records(t.clone()),
                None => TxtLookup::NoSuchName,
            })
        }
    }

    #[derive(Default)]
    struct Lines(RefCell<Vec<Value>>);

    impl Audit for Lines {
        fn record(&self, line: &Value) {
            self.0.borrow_mut().push(line.clone());
        }
    }

    fn tenant(c: &str) -> Tenant {
        Tenant { customer_id: c.into(), upstream_token: "tok".into(), actor: "actor123".into() }
    }

    fn counter() -> impl Fn() -> String {
        let n = Cell::new(0u32);
        move || {
            n.set(n.get() + 1);
            format!("token-{}", n.get())
        }
    }

    struct World {
        store: MemoryStore,
        cache: crate::cache::MemoryCache,
        dns: FakeDns,
        audit: Lines,
        new_id: Box<dyn Fn() -> String>,
    }

    impl World {
        fn new() -> World {
            World {
                store: MemoryStore::new(),
                cache: crate::cache::MemoryCache::new(),
                dns: FakeDns::default(),
                audit: Lines::default(),
                new_id: Box::new(counter()),
            }
        }

        fn domains<'a>(&'a self, t: &'a Tenant) -> Domains<'a> {
            Domains {
                store: &self.store,
                tenant: t,
                dns: &self.dns,
                audit: &self.audit,
                new_id: &*self.new_id,
                now: 1000,
            }
        }
    }

    #[test]
    fn names_are_normalised_and_validated() {
        assert_eq!(normalize("  Example.COM. ").unwrap(), "example.com");
        assert_eq!(normalize("xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(normalize("a-b.c1.io").unwrap(), "a-b.c1.io");
        let long_label = format!("{}.com", "a".repeat(64));
        let too_long = format!("{}com", "abcdefghi.".repeat(25));
        let challenge_too_long = format!("{}com", "abcdefgh.".repeat(27));
        assert!(challenge_too_long.len() <= 253);
        for bad in [
            "",
            "  ",
            "localhost",
            "example..com",
            ".example.com",
            "-a.com",
            "a-.com",
            "exa_mple.com",
            "bücher.example",
            "a@b.com",
            "10.0.0.1",
            "example.com/x",
            long_label.as_str(),
            too_long.as_str(),
            challenge_too_long.as_str(),
        ] {
            let e = normalize(bad).unwrap_err();
            assert_eq!((e.status, e.scim_type), (400, Some(crate::scim::error::ScimType::InvalidValue)), "{bad}");
        }
    }

    #[test]
    fn require_setting_is_on_unless_clearly_off() {
        assert!(require_setting(None));
        assert!(require_setting(Some("true")));
        assert!(require_setting(Some("flase")));
        assert!(!require_setting(Some("false")));
        assert!(!require_setting(Some(" FALSE ")));
        assert!(!require_setting(Some("0")));
    }

    #[test]
    fn add_gives_a_pending_domain_with_a_challenge_and_is_idempotent() {
        let w = World::new();
        let t = tenant("C1");
        let d = w.domains(&t);
        let (r, created) = d.add("Example.com").unwrap();
        assert!(created);
        assert_eq!(r.domain, "example.com");
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.challenge, "scim-edge-verification=token-1");
        let view = r.to_json();
        assert_eq!(view["challenge"], json!({"type": "TXT", "name": "_scim-edge.example.com", "value": r.challenge}));
        assert_eq!(view["status"], "pending");

        let (again, created) = d.add("EXAMPLE.COM.").unwrap();
        assert!(!created);
        assert_eq!(again, r, "the challenge does not change");
        assert_eq!(d.list().unwrap(), vec![r]);
        assert_eq!(w.audit.0.borrow().len(), 1, "only the real add is audited");
        // The key holds a digest, never the name.
        assert!(w.store.keys().iter().all(|k| !k.contains("example")));
    }

    #[test]
    fn verify_needs_the_exact_challenge_in_dns() {
        let w = World::new();
        let t = tenant("C1");
        let d = w.domains(&t);
        let (r, _) = d.add("example.com").unwrap();

        let e = d.verify("example.com").unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.detail.contains("_scim-edge.example.com") && e.detail.contains(&r.challenge), "{}", e.detail);
        assert!(e.detail.contains("NXDOMAIN"), "{}", e.detail);

        w.dns.publish("_scim-edge.example.com", &[]);
        assert!(d.verify("example.com").unwrap_err().detail.contains("no TXT record"));

        // Someone else's challenge, and a near miss, are not ours.
        w.dns.publish(
            "_scim-edge.example.com",
            &["scim-edge-verification=dev-example-com", "scim-edge-verification=token-1 "],
        );
        let e = d.verify("example.com").unwrap_err();
        assert!(e.detail.contains("found only \"scim-edge-verification=dev-example-com\""), "{}", e.detail);
        assert_eq!(d.get("example.com").unwrap().status, Status::Pending);

        w.dns.fail.set(true);
        assert_eq!(d.verify("example.com").unwrap_err().status, 502);
        w.dns.fail.set(false);

        w.dns.publish("_scim-edge.example.com", &["v=spf1 -all", &r.challenge]);
        let v = d.verify("Example.com").unwrap();
        assert_eq!(v.status, Status::Verified);
        assert_eq!(v.verified_at.as_deref(), Some("1970-01-01T00:16:40Z"));
        assert_eq!(d.get("example.com").unwrap(), v);

        // Verified stays verified, without another lookup.
        let lookups = w.dns.lookups.get();
        w.dns.publish("_scim-edge.example.com", &[]);
        assert_eq!(d.verify("example.com").unwrap().status, Status::Verified);
        assert_eq!(w.dns.lookups.get(), lookups);
        assert_eq!(d.add("example.com").unwrap(), (v, false));

        assert_eq!(d.verify("other.example").unwrap_err().status, 404);
        assert_eq!(d.verify("not a domain").unwrap_err().status, 400);
    }

    #[test]
    fn delete_removes_the_domain_and_a_new_add_has_a_new_challenge() {
        let w = World::new();
        let t = tenant("C1");
        let d = w.domains(&t);
        let (r, _) = d.add("example.com").unwrap();
        d.delete("example.com").unwrap();
        assert!(d.list().unwrap().is_empty());
        assert_eq!(d.delete("example.com").unwrap_err().status, 404);
        assert_eq!(d.get("example.com").unwrap_err().status, 404);
        let (again, created) = d.add("example.com").unwrap();
        assert!(created);
        assert_ne!(again.challenge, r.challenge);
    }

    #[test]
    fn tenants_are_isolated() {
        let w = World::new();
        let (a, b) = (tenant("CA"), tenant("CB"));
        let (ra, _) = w.domains(&a).add("example.com").unwrap();
        w.dns.publish("_scim-edge.example.com", &[&ra.challenge]);
        w.domains(&a).verify("example.com").unwrap();

        assert!(w.domains(&b).list().unwrap().is_empty());
        assert_eq!(w.domains(&b).verify("example.com").unwrap_err().status, 404);
        assert_eq!(w.domains(&b).delete("example.com").unwrap_err().status, 404);
        assert!(require_verified(&w.store, "CA", "x@example.com").is_ok());
        assert_eq!(require_verified(&w.store, "CB", "x@example.com").unwrap_err().status, 400);

        // B adds the same domain: its own challenge, and A's published record does not prove it.
        let (rb, _) = w.domains(&b).add("example.com").unwrap();
        assert_ne!(rb.challenge, ra.challenge);
        assert_eq!(w.domains(&b).verify("example.com").unwrap_err().status, 409);
        assert_eq!(w.domains(&a).list().unwrap().len(), 1);
        assert_eq!(w.domains(&a).list().unwrap()[0].status, Status::Verified);
    }

    #[test]
    fn require_verified_names_the_domain_and_costs_one_read() {
        let w = World::new();
        let t = tenant("C1");
        let e = require_verified(&w.store, "C1", "Ann@Corp.Example").unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(crate::scim::error::ScimType::InvalidValue)));
        assert!(e.detail.contains("'corp.example'") && e.detail.contains("/admin/domains"), "{}", e.detail);
        w.domains(&t).add("corp.example").unwrap();
        assert!(require_verified(&w.store, "C1", "ann@corp.example").unwrap_err().detail.contains("not verified yet"));
        let (r, _) = w.domains(&t).add("corp.example").unwrap();
        w.dns.publish("_scim-edge.corp.example", &[&r.challenge]);
        w.domains(&t).verify("corp.example").unwrap();
        let before = w.store.counts.snapshot();
        require_verified(&w.store, "C1", "Ann@CORP.example").unwrap();
        let after = w.store.counts.snapshot();
        assert_eq!((after.0 - before.0, after.1 - before.1, after.3 - before.3), (1, 0, 0));
        // Exactly that domain: a subdomain is another domain.
        assert_eq!(require_verified(&w.store, "C1", "ann@eu.corp.example").unwrap_err().status, 400);
    }

    #[test]
    fn admin_routes_answer_json() {
        let w = World::new();
        let t = tenant("C1");
        let d = w.domains(&t);
        let post = |body: &str| {
            Request::new(Method::Post, "/admin/domains").with_header("content-type", "application/json").with_body(body)
        };
        let r = handle_admin(&d, &post(r#"{"domain":"Example.com"}"#), &["domains"]).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let challenge = r.json().unwrap()["challenge"]["value"].as_str().unwrap().to_owned();
        assert_eq!(handle_admin(&d, &post(r#"{"domain":"example.com"}"#), &["domains"]).unwrap().status, 200);
        assert_eq!(handle_admin(&d, &post(r#"{"name":"example.com"}"#), &["domains"]).unwrap_err().status, 400);

        let list = handle_admin(&d, &Request::new(Method::Get, "/admin/domains"), &["domains"]).unwrap();
        assert_eq!(list.json().unwrap()["domains"][0]["domain"], "example.com");

        let verify = Request::new(Method::Post, "/admin/domains/example.com/verify");
        assert_eq!(handle_admin(&d, &verify, &["domains", "example.com", "verify"]).unwrap_err().status, 409);
        w.dns.publish("_scim-edge.example.com", &[&challenge]);
        let r = handle_admin(&d, &verify, &["domains", "example.com", "verify"]).unwrap();
        assert_eq!((r.status, r.json().unwrap()["status"].clone()), (200, json!("verified")));

        let one = Request::new(Method::Get, "/admin/domains/example.com");
        assert_eq!(handle_admin(&d, &one, &["domains", "example.com"]).unwrap().status, 200);
        let put = Request::new(Method::Put, "/admin/domains/example.com");
        assert_eq!(handle_admin(&d, &put, &["domains", "example.com"]).unwrap_err().status, 405);
        let del = Request::new(Method::Delete, "/admin/domains/example.com");
        assert_eq!(handle_admin(&d, &del, &["domains", "example.com"]).unwrap().status, 204);
        assert_eq!(handle_admin(&d, &del, &["domains", "example.com"]).unwrap_err().status, 404);
        assert_eq!(handle_admin(&d, &Request::new(Method::Get, "/admin/x"), &["x"]).unwrap_err().status, 404);
    }

    // The rule on the provisioning path: create and reactivation.

    const CREATED: &str = r#"{"id":"1NewUser00000000000000","login":"ann@corp.example","name":"Ann Lee","role":"user","customer_id":"C1"}"#;

    fn ctx<'a>(w: &'a World, t: &'a Tenant, policy: &'a Policy, transport: &'a Scripted) -> Ctx<'a> {
        Ctx {
            store: &w.store,
            cache: &w.cache,
            api: FastlyApi::new(transport, "tok", 1000),
            tenant: t,
            policy,
            audit: &w.audit,
            now: 1000,
            new_id: &*w.new_id,
            base: "https://scim.example/scim/v2",
            request_id: "req-1",
        }
    }

    fn ann(active: bool) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@corp.example",
               "name": {"givenName": "Ann", "familyName": "Lee"}, "active": active})
    }

    fn verify_corp(w: &World, t: &Tenant) {
        let (r, _) = w.domains(t).add("corp.example").unwrap();
        w.dns.publish("_scim-edge.corp.example", &[&r.challenge]);
        w.domains(t).verify("corp.example").unwrap();
    }

    #[test]
    fn create_in_an_unverified_domain_is_refused_before_fastly_is_called() {
        let w = World::new();
        let t = tenant("C1");
        let policy = Policy { require_verified_domain: true, ..Policy::default() };
        let transport = Scripted::new(vec![]);
        let e = provision::create(&ctx(&w, &t, &policy, &transport), &ann(true)).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(crate::scim::error::ScimType::InvalidValue)));
        assert!(e.detail.contains("'corp.example'") && e.detail.contains("POST /admin/domains"), "{}", e.detail);
        assert!(transport.sent.borrow().is_empty(), "no Fastly call");
        assert!(w.store.keys().iter().all(|k| !k.contains("/user/") && !k.contains("/name/")), "{:?}", w.store.keys());

        // Verified: the same create goes through.
        verify_corp(&w, &t);
        let transport = Scripted::new(vec![api_json(200, CREATED)]);
        let rec = provision::create(&ctx(&w, &t, &policy, &transport), &ann(true)).unwrap();
        assert_eq!(rec.fastly_id.as_deref(), Some("1NewUser00000000000000"));
        assert_eq!(transport.sent.borrow()[0].path, "/user");
    }

    #[test]
    fn the_check_costs_one_read_and_is_off_when_not_required() {
        let reads = |require: bool| {
            let w = World::new();
            let t = tenant("C1");
            verify_corp(&w, &t);
            let policy = Policy { require_verified_domain: require, ..Policy::default() };
            let transport = Scripted::new(vec![api_json(200, CREATED)]);
            let before = w.store.counts.snapshot().0;
            provision::create(&ctx(&w, &t, &policy, &transport), &ann(true)).unwrap();
            w.store.counts.snapshot().0 - before
        };
        assert_eq!(reads(true), reads(false) + 1);

        let w = World::new();
        let t = tenant("C1");
        let off = Policy::default();
        let transport = Scripted::new(vec![api_json(200, CREATED)]);
        assert!(provision::create(&ctx(&w, &t, &off, &transport), &ann(true)).is_ok(), "unverified, but not required");
    }

    #[test]
    fn reactivation_needs_a_verified_domain() {
        let w = World::new();
        let t = tenant("C1");
        let policy = Policy { require_verified_domain: true, ..Policy::default() };
        // Inactive: no Fastly user is made, so there is nothing to refuse yet.
        let none = Scripted::new(vec![]);
        let rec = provision::create(&ctx(&w, &t, &policy, &none), &ann(false)).unwrap();
        let activate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                              "Operations": [{"op": "replace", "value": {"active": true}}]});
        let e = provision::patch(&ctx(&w, &t, &policy, &none), &rec.id, &activate, None).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("'corp.example'"), "{}", e.detail);
        assert!(none.sent.borrow().is_empty());
        assert!(!provision::get(&ctx(&w, &t, &policy, &none), &rec.id).unwrap().active);

        verify_corp(&w, &t);
        let transport = Scripted::new(vec![api_json(200, CREATED)]);
        let back = provision::patch(&ctx(&w, &t, &policy, &transport), &rec.id, &activate, None).unwrap();
        assert!(back.active);
        assert_eq!(back.id, rec.id);
        assert_eq!(transport.sent.borrow()[0].path, "/user");
    }
}
