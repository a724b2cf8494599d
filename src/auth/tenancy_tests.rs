//! Tenancy through the whole app, on the host: every KV key a request reads, writes, deletes or
//! lists is under its own tenant's `t/<customer>/` (or is a token verdict, `auth/<digest>`), and
//! nothing a customer's token does reaches another customer's users. Both auth modes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::*;
use crate::app::{self, Env};
use crate::domains::doh::{DnsError, DnsResolver, TxtLookup};
use crate::http::{Method, Request};
use crate::provision::{Audit, Policy};
use crate::store::memory::MemoryStore;
use crate::store::{Entry, Page, Store, StoreError, Write};
use crate::upstream::memory::{MemoryFastly, CUSTOMER, OTHER_CUSTOMER, TOKEN};

const OTHER_TOKEN: &str = "dev-other-superuser-token";
const ALICE_A: &str = "1AliceEngineerA0000000";
const NOW: u64 = 1_767_225_600;

/// A store that remembers every key (and list prefix) it was asked about.
#[derive(Default)]
struct Recording {
    inner: MemoryStore,
    touched: Mutex<Vec<String>>,
}

impl Recording {
    fn note(&self, key: &str) {
        self.touched.lock().unwrap().push(key.to_owned());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.touched.lock().unwrap())
    }
}

impl Store for Recording {
    fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.note(key);
        self.inner.get(key)
    }
    fn put(&self, key: &str, value: &[u8], write: Write) -> Result<(), StoreError> {
        self.note(key);
        self.inner.put(key, value, write)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.note(key);
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.note(prefix);
        self.inner.list(prefix, cursor, limit)
    }
}

struct NoDns;

impl DnsResolver for NoDns {
    fn txt(&self, _: &str) -> Result<TxtLookup, DnsError> {
        Err(DnsError::Unreachable("no DNS in this test".into()))
    }
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl Audit for Lines {
    fn record(&self, line: &Value) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

struct World {
    store: Recording,
    cache: crate::cache::MemoryCache,
    fastly: MemoryFastly,
    audit: Lines,
    secrets: BTreeMap<String, String>,
    auth: AuthConfig,
    ids: std::sync::atomic::AtomicU32,
}

impl World {
    fn new(auth: AuthConfig) -> World {
        let secrets = BTreeMap::from([
            (HS256_KEY_SECRET.to_owned(), "a-test-key-of-at-least-thirty-two-bytes!".to_owned()),
            (upstream_token_secret(CUSTOMER), TOKEN.to_owned()),
            (upstream_token_secret(OTHER_CUSTOMER), OTHER_TOKEN.to_owned()),
        ]);
        World {
            store: Recording::default(),
            cache: crate::cache::MemoryCache::new(),
            fastly: MemoryFastly::seeded(),
            audit: Lines::default(),
            secrets,
            auth,
            ids: Default::default(),
        }
    }

    fn call(&self, method: Method, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        let new_id = || {
            let n = self.ids.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            format!("00000000-0000-4000-8000-{n:012}")
        };
        let env = Env {
            store: &self.store,
            cache: &self.cache,
            transport: &self.fastly,
            dns: &NoDns,
            audit: &self.audit,
            now: NOW,
            new_id: &new_id,
            auth: self.auth.clone(),
            secrets: &self.secrets,
            policy: Policy::default(),
            origin: "https://scim.example.com".into(),
            request_id: "req".into(),
        };
        let mut req =
            Request::new(method, &format!("/scim/v2{path}")).with_header("authorization", &format!("Bearer {bearer}"));
        if let Some(b) = body {
            req = req.with_header("content-type", "application/scim+json").with_body(b.to_string());
        }
        let resp = app::handle(&env, &req);
        (resp.status, resp.json().unwrap_or(Value::Null))
    }

    /// Every key touched since the last call is the tenant's (or a token verdict).
    fn assert_scoped_to(&self, customer: &str) {
        let touched = self.store.take();
        assert!(!touched.is_empty());
        for key in touched {
            assert!(
                key.starts_with(&format!("t/{customer}/")) || key.starts_with("auth/"),
                "{key} is not {customer}'s"
            );
        }
    }
}

fn okta_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": "Ten", "familyName": "Ant"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "externalId": "00u-tenant",
        "active": true
    })
}

fn deactivate() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})
}

fn user_names(list: &Value) -> Vec<String> {
    list["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect()
}

/// A's life cycle, then B trying everything on A's users; `a` and `b` are the two bearers.
fn run(w: &World, a: &str, b: &str) {
    let (status, created) = w.call(Method::Post, "/Users", a, Some(okta_user("tenant@example.com")));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    assert_eq!(w.call(Method::Get, &path, a, None).0, 200);
    assert_eq!(w.call(Method::Get, "/Users?filter=userName%20eq%20%22tenant%40example.com%22", a, None).0, 200);
    assert_eq!(w.call(Method::Get, "/Users?filter=externalId%20eq%20%2200u-tenant%22", a, None).0, 200);
    assert_eq!(w.call(Method::Get, "/Users", a, None).0, 200);
    w.assert_scoped_to(CUSTOMER);

    w.fastly.clear_requests();
    let (status, list) = w.call(Method::Get, "/Users", b, None);
    assert_eq!(status, 200);
    let names = user_names(&list);
    assert!(names.contains(&"erin@example.net".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n == "tenant@example.com" || n == "alice@example.com"), "{names:?}");
    for filter in [
        "userName%20eq%20%22tenant%40example.com%22",
        "userName%20eq%20%22alice%40example.com%22",
        "externalId%20eq%20%2200u-tenant%22",
    ] {
        let (status, found) = w.call(Method::Get, &format!("/Users?filter={filter}"), b, None);
        assert_eq!((status, found["totalResults"].clone()), (200, json!(0)), "{filter}");
    }
    for target in [path.clone(), format!("/Users/{ALICE_A}")] {
        assert_eq!(w.call(Method::Get, &target, b, None).0, 404, "{target}");
        assert_eq!(w.call(Method::Put, &target, b, Some(okta_user("tenant@example.com"))).0, 404, "{target}");
        assert_eq!(w.call(Method::Patch, &target, b, Some(deactivate())).0, 404, "{target}");
        assert_eq!(w.call(Method::Delete, &target, b, None).0, 404, "{target}");
    }
    w.assert_scoped_to(OTHER_CUSTOMER);
    assert_eq!(w.fastly.writes(), 0, "B changed nothing in Fastly");
    assert!(w.fastly.user_by_login("alice@example.com").is_some());
    let (status, again) = w.call(Method::Get, &path, a, None);
    assert_eq!((status, again["active"].clone()), (200, json!(true)));

    // Nothing stored or audited holds a bearer or an upstream token.
    let secrets = [a, b, TOKEN, OTHER_TOKEN];
    for key in w.store.inner.keys() {
        assert!(secrets.iter().all(|s| !key.contains(s)), "{key}");
        if let Some(e) = w.store.inner.get(&key).unwrap() {
            let text = String::from_utf8_lossy(&e.value);
            assert!(secrets.iter().all(|s| !text.contains(s)), "{key}: {text}");
        }
    }
    let lines = w.audit.0.lock().unwrap();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| secrets.iter().all(|s| !l.contains(s))), "{lines:?}");
}

#[test]
fn fastly_token_mode_keeps_tenants_apart() {
    let w = World::new(AuthConfig::default());
    run(&w, TOKEN, OTHER_TOKEN);
}

#[test]
fn jwt_mode_keeps_tenants_apart() {
    let settings = BTreeMap::from([
        ("auth_mode".to_owned(), "jwt".to_owned()),
        ("jwt_issuer".to_owned(), "ops".to_owned()),
        ("jwt_audience".to_owned(), "scim".to_owned()),
    ]);
    let w = World::new(AuthConfig::from_settings(&|k| settings.get(k).cloned()));
    let key = jwt::SigningKey::hs256(b"a-test-key-of-at-least-thirty-two-bytes!").unwrap();
    let mint = |customer: &str, jti: &str| {
        jwt::sign(&jwt::Claims::new(customer, "ops", "scim", NOW, 3600, jti), &key, None).unwrap()
    };
    let (a, b) = (mint(CUSTOMER, "okta-a"), mint(OTHER_CUSTOMER, "okta-b"));
    run(&w, &a, &b);
    assert!(w.audit.0.lock().unwrap().iter().any(|l| l.contains("jwt:okta-a")));
}
