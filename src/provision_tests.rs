//! The lifecycle rules, proven on the host against the atomic [`MemoryStore`] and the in-memory
//! Fastly ([`MemoryFastly`]). Upstream writes are counted through the Fastly request log (they are
//! what the hourly budget pays for); KV operations through `MemoryStore::counts`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::http::Method;
use crate::scim::error::ScimType;
use crate::scim::schema::CORE_USER;
use crate::store::memory::MemoryStore;
use crate::upstream::memory::{Fault, MemoryFastly, CUSTOMER, EPOCH, TOKEN};
use crate::upstream::{ApiRequest, FastlyApi};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CAROL: &str = "1CarolTwoRolesA0000000";
const BOB: &str = "1BobUserA0000000000000";

#[derive(Default)]
struct Lines(Mutex<Vec<Value>>);

impl Audit for Lines {
    fn record(&self, line: &Value) {
        self.0.lock().unwrap().push(line.clone());
    }
}

/// One account: the store, Fastly, the audit log, and what a request's `Ctx` is made of.
struct World {
    store: MemoryStore,
    cache: crate::cache::MemoryCache,
    fastly: MemoryFastly,
    audit: Lines,
    tenant: Tenant,
    policy: Policy,
    /// The clock (starts at EPOCH).
    now: AtomicU64,
    new_id: Box<dyn Fn() -> String + Send + Sync>,
}

impl World {
    fn new() -> World {
        Self::with_policy(Policy::default())
    }

    fn with_policy(policy: Policy) -> World {
        let counter = Arc::new(AtomicU64::new(0));
        World {
            store: MemoryStore::new(),
            cache: crate::cache::MemoryCache::new(),
            fastly: MemoryFastly::seeded(),
            audit: Lines::default(),
            tenant: Tenant { customer_id: CUSTOMER.into(), upstream_token: TOKEN.into(), actor: "actor123".into() },
            policy,
            now: AtomicU64::new(EPOCH),
            new_id: Box::new(move || format!("scim-{:04}", counter.fetch_add(1, Ordering::SeqCst) + 1)),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &self.store,
            cache: &self.cache,
            api: FastlyApi::new(&self.fastly, TOKEN, self.now.load(Ordering::SeqCst)),
            tenant: &self.tenant,
            policy: &self.policy,
            audit: &self.audit,
            now: self.now.load(Ordering::SeqCst),
            new_id: &*self.new_id,
            base: "https://scim.example/scim/v2",
            request_id: "req-1",
        }
    }

    fn create(&self, body: &Value) -> ScimResult<UserRecord> {
        create(&self.ctx(), body)
    }

    fn get(&self, id: &str) -> ScimResult<UserRecord> {
        get(&self.ctx(), id)
    }

    fn put(&self, id: &str, body: &Value) -> ScimResult<UserRecord> {
        replace(&self.ctx(), id, body, None)
    }

    fn patch(&self, id: &str, ops: Value) -> ScimResult<UserRecord> {
        patch(&self.ctx(), id, &json!({"schemas": [PATCH_OP], "Operations": ops}), None)
    }

    fn delete(&self, id: &str) -> ScimResult<()> {
        delete(&self.ctx(), id, None)
    }

    fn render(&self, rec: &UserRecord) -> Value {
        rec.render(&self.ctx())
    }

    /// The resources a filtered list returns.
    fn list(&self, filter: Option<&str>) -> Vec<Value> {
        let f = filter.map(|f| crate::scim::filter::parse(f).unwrap());
        let paging = Paging::parse(None, None).unwrap();
        let projection = Projection::parse(None, None);
        self.shown(list(&self.ctx(), f.as_ref(), &paging, &projection).unwrap())
    }

    /// A list's users, as the response's bytes show them.
    fn shown(&self, result: ListResult) -> Vec<Value> {
        let users: Vec<Value> = serde_json::from_str(result.resources.get()).unwrap();
        assert_eq!(users.len(), result.count);
        users
    }

    /// The upstream writes made by `f`.
    fn writes<T>(&self, f: impl FnOnce() -> T) -> (T, Vec<ApiRequest>) {
        self.fastly.clear_requests();
        let out = f();
        (out, self.fastly.write_requests())
    }

    /// KV operations (reads, writes, deletes, lists) made by `f`.
    fn kv<T>(&self, f: impl FnOnce() -> T) -> (T, (u64, u64, u64, u64)) {
        let (r0, w0, d0, l0) = self.store.counts.snapshot();
        let out = f();
        let (r1, w1, d1, l1) = self.store.counts.snapshot();
        (out, (r1 - r0, w1 - w0, d1 - d0, l1 - l0))
    }

    fn fastly_user(&self, login: &str) -> Option<crate::upstream::memory::MemUser> {
        self.fastly.user_by_login(login)
    }

    fn fastly_users_with_login(&self, login: &str) -> usize {
        self.fastly.users(CUSTOMER).iter().filter(|u| u.login.eq_ignore_ascii_case(login)).count()
    }

    /// The account's keys, but for an empty directory (its version, and shards with no entry).
    fn tenant_keys(&self) -> Vec<String> {
        let empty_directory = |k: &str| {
            k == keys::directory_version(CUSTOMER)
                || (k.starts_with(&format!("t/{CUSTOMER}/dir/"))
                    && self.store.get(k).unwrap().is_some_and(|e| e.value == b"{}"))
        };
        self.store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&format!("t/{CUSTOMER}/")) && !empty_directory(k))
            .collect()
    }

    fn audit_lines(&self) -> Vec<Value> {
        self.audit.0.lock().unwrap().clone()
    }
}

/// An Okta-shaped create body.
fn okta_user(email: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": format!("00u-{email}"),
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn form(req: &ApiRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.form.as_deref().unwrap_or("").as_bytes()).into_owned().collect()
}

fn one_write(writes: &[ApiRequest], method: Method, path: &str) -> Vec<(String, String)> {
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!((writes[0].method, writes[0].path.as_str()), (method, path), "{writes:#?}");
    form(&writes[0])
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn role_values(resource: &Value) -> Vec<String> {
    resource["roles"].as_array().unwrap().iter().map(|r| r["value"].as_str().unwrap().to_owned()).collect()
}

fn fastly_role(resource: &Value) -> &str {
    resource[FASTLY_USER]["role"].as_str().unwrap()
}

fn fid(rec: &UserRecord) -> String {
    rec.fastly_id.clone().unwrap()
}

// ---- create ----

#[test]
fn create_makes_one_fastly_user_with_login_name_and_default_role() {
    let w = World::new();
    let (rec, writes) = w.writes(|| w.create(&okta_user("ada@example.com")).unwrap());
    let sent = one_write(&writes, Method::Post, "/user");
    assert_eq!(sent, pairs(&[("login", "ada@example.com"), ("name", "Ada Lovelace"), ("role", "user")]));
    let u = w.fastly_user("ada@example.com").unwrap();
    assert_eq!((u.role.as_str(), u.name.as_str()), ("user", "Ada Lovelace"));
    assert_eq!(rec.fastly_id.as_deref(), Some(u.id.as_str()));
    assert!(rec.active);
    let r = w.render(&rec);
    assert_eq!(role_values(&r), ["user"]);
    assert!(r.get("password").is_none());
    // The record is stored: it reads back by its SCIM id, which is not the Fastly id.
    assert_ne!(rec.id, u.id);
    assert_eq!(w.get(&rec.id).unwrap().fastly_id, rec.fastly_id);
}

#[test]
fn role_comes_from_roles_objects_plain_strings_or_the_fastly_extension() {
    let w = World::new();
    let cases = [
        ("a@example.com", "roles", json!([{"value": "engineer", "display": "Engineer"}]), "engineer"),
        ("b@example.com", "roles", json!(["billing"]), "billing"),
        ("c@example.com", FASTLY_USER, json!({"role": "tls_viewer"}), "tls_viewer"),
    ];
    for (login, key, value, role) in cases {
        let (rec, writes) = w.writes(|| w.create(&with(okta_user(login), key, value.clone())).unwrap());
        let sent = one_write(&writes, Method::Post, "/user");
        assert!(sent.contains(&("role".into(), role.into())), "{sent:?}");
        assert_eq!(w.fastly_user(login).unwrap().role, role);
        let r = w.render(&rec);
        assert_eq!((role_values(&r), fastly_role(&r)), (vec![role.to_owned()], role));
    }
    // The client's `display` of its role is shown back.
    let a = w.list(Some("userName eq \"a@example.com\""));
    assert_eq!(a[0]["roles"][0]["display"], "Engineer");
}

#[test]
fn unknown_role_is_refused_with_the_roles_that_exist() {
    let w = World::new();
    for role in ["admin", "Engineer"] {
        let body = with(okta_user("ada@example.com"), "roles", json!([{"value": role}]));
        let (e, writes) = w.writes(|| w.create(&body).unwrap_err());
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)), "{e}");
        assert!(writes.is_empty());
        assert!(w.tenant_keys().is_empty(), "nothing claimed: {:?}", w.tenant_keys());
    }
    let e = w.create(&with(okta_user("ada@example.com"), "roles", json!(["admin"]))).unwrap_err();
    assert!(e.detail.contains("user, billing, engineer, superuser, tls_viewer, tls_admin"), "{}", e.detail);
    let e = w.create(&with(okta_user("ada@example.com"), FASTLY_USER, json!({"role": "root"}))).unwrap_err();
    assert!(e.detail.contains("unknown role 'root'"), "{}", e.detail);
    assert!(w.create(&okta_user("ada@example.com")).is_ok());
}

#[test]
fn two_roles_are_refused_naming_the_control_panel() {
    let w = World::new();
    let body = with(okta_user("ada@example.com"), "roles", json!(["engineer", "billing"]));
    let (e, writes) = w.writes(|| w.create(&body).unwrap_err());
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
    assert!(e.detail.contains("control panel"), "{}", e.detail);
    assert!(writes.is_empty());

    // Same for a PUT that names two roles the user does not have.
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let body = with(okta_user("ada@example.com"), "roles", json!(["engineer", "billing"]));
    let (e, writes) = w.writes(|| w.put(&rec.id, &body).unwrap_err());
    assert!(e.status == 400 && e.detail.contains("control panel"), "{e}");
    assert!(writes.is_empty());
}

#[test]
fn roles_the_policy_does_not_allow_are_refused() {
    let w =
        World::with_policy(Policy { allowed_roles: Some(vec!["user".into(), "engineer".into()]), ..Policy::default() });
    let body = with(okta_user("ada@example.com"), "roles", json!(["superuser"]));
    let (e, writes) = w.writes(|| w.create(&body).unwrap_err());
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
    assert!(e.detail.contains("cannot be granted through SCIM") && e.detail.contains("user, engineer"), "{e}");
    assert!(writes.is_empty());
    let rec = w.create(&with(okta_user("ada@example.com"), "roles", json!(["engineer"]))).unwrap();
    let (e, writes) = w.writes(|| {
        w.patch(&rec.id, json!([{"op": "replace", "path": "roles", "value": [{"value": "billing"}]}])).unwrap_err()
    });
    assert_eq!(e.status, 400, "{e}");
    assert!(writes.is_empty());
    assert_eq!(w.fastly_user("ada@example.com").unwrap().role, "engineer");
}

#[test]
fn a_login_that_another_account_holds_is_a_conflict() {
    let w = World::new();
    let (e, _) = w.writes(|| w.create(&okta_user("erin@example.net")).unwrap_err());
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::Uniqueness)));
    assert!(w.tenant_keys().is_empty(), "{:?}", w.tenant_keys());
}

#[test]
fn a_duplicate_user_name_is_409_whatever_its_case() {
    let w = World::new();
    w.create(&okta_user("ada@example.com")).unwrap();
    let (e, writes) = w.writes(|| w.create(&okta_user("ADA@Example.com")).unwrap_err());
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::Uniqueness)));
    assert!(writes.is_empty());
}

// ---- updates: only role and name reach Fastly ----

#[test]
fn a_role_change_is_exactly_one_write() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let path = format!("/user/{}", fid(&rec));

    // PATCH of roles[] (Okta with a role attribute mapped to roles).
    let (r, writes) = w.writes(|| {
        w.patch(&rec.id, json!([{"op": "replace", "path": "roles", "value": [{"value": "engineer"}]}])).unwrap()
    });
    assert_eq!(one_write(&writes, Method::Put, &path), pairs(&[("role", "engineer")]));
    assert_eq!((r.role.as_str(), w.fastly_user("ada@example.com").unwrap().role.as_str()), ("engineer", "engineer"));

    // PATCH of the Fastly extension's role.
    let (_, writes) = w.writes(|| {
        w.patch(&rec.id, json!([{"op": "replace", "path": format!("{FASTLY_USER}:role"), "value": "billing"}])).unwrap()
    });
    assert_eq!(one_write(&writes, Method::Put, &path), pairs(&[("role", "billing")]));

    // A full PUT naming a new role.
    let body = with(okta_user("ada@example.com"), "roles", json!([{"value": "tls_admin"}]));
    let (r, writes) = w.writes(|| w.put(&rec.id, &body).unwrap());
    assert_eq!(one_write(&writes, Method::Put, &path), pairs(&[("role", "tls_admin")]));
    assert_eq!(role_values(&w.render(&r)), ["tls_admin"]);
    assert_eq!(w.fastly_user("ada@example.com").unwrap().roles, ["tls_admin"]);
    let audit = w.audit_lines();
    let last = audit.last().unwrap();
    assert_eq!((last["operation"].as_str(), last["old_role"].as_str()), (Some("update"), Some("billing")));
    assert_eq!(last["new_role"], "tls_admin");
}

#[test]
fn a_name_change_is_one_write() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let (_, writes) =
        w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "path": "name.familyName", "value": "King"}])).unwrap());
    assert_eq!(one_write(&writes, Method::Put, &format!("/user/{}", fid(&rec))), pairs(&[("name", "Ada King")]));
    assert_eq!(w.fastly_user("ada@example.com").unwrap().name, "Ada King");
}

#[test]
fn an_update_fastly_does_not_see_spends_no_write() {
    let w = World::new();
    let body = okta_user("ada@example.com");
    let rec = w.create(&body).unwrap();

    let (r, writes) = w.writes(|| w.patch(&rec.id, json!([{"op": "add", "path": "title", "value": "CTO"}])).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(w.render(&r)["title"], "CTO");
    assert_eq!(r.revision, rec.revision + 1);

    // An identical PUT: nothing changes, not even the version.
    let body = with(body, "title", json!("CTO"));
    let (same, writes) = w.writes(|| w.put(&rec.id, &body).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(same.revision, r.revision);

    // The GET representation echoed back (Okta's wizard-built apps PUT what they read).
    let echo = w.render(&w.get(&rec.id).unwrap());
    let (same, writes) = w.writes(|| w.put(&rec.id, &echo).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(same.revision, r.revision, "an echo is no change");

    // Re-sending the current role, either way, is no change either.
    let (_, writes) = w.writes(|| {
        w.patch(
            &rec.id,
            json!([{"op": "replace", "value": {"roles": [{"value": "user"}], FASTLY_USER: {"role": "user"}}}]),
        )
        .unwrap()
    });
    assert!(writes.is_empty(), "{writes:#?}");
}

#[test]
fn a_control_panel_user_with_two_roles_echoed_back_is_left_alone() {
    let w = World::new();
    let carol = w.get(CAROL).unwrap();
    let shown = w.render(&carol);
    assert_eq!(role_values(&shown), ["engineer", "billing"]);
    assert_eq!(fastly_role(&shown), "engineer");

    let (r, writes) = w.writes(|| w.put(CAROL, &shown).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(role_values(&w.render(&r)), ["engineer", "billing"]);
    // Okta's path-less PATCH echoing the extension role and roles[].
    let (r, writes) = w.writes(|| {
        w.patch(
            CAROL,
            json!([{"op": "replace", "value": {"roles": shown["roles"].clone(), FASTLY_USER: {"role": "engineer"}}}]),
        )
        .unwrap()
    });
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(role_values(&w.render(&r)), ["engineer", "billing"]);
    // A change Fastly does not hold adopts her, still without a write and with both roles.
    let (r, writes) = w.writes(|| w.patch(CAROL, json!([{"op": "add", "path": "title", "value": "Ops"}])).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(role_values(&w.render(&r)), ["engineer", "billing"]);
    assert_eq!(w.fastly.user(CAROL).unwrap().roles, ["engineer", "billing"]);
    assert_eq!(role_values(&w.render(&w.get(CAROL).unwrap())), ["engineer", "billing"]);
}

#[test]
fn a_patch_that_removes_the_role_is_refused() {
    let w = World::new();
    let rec = w.create(&with(okta_user("ada@example.com"), "roles", json!(["engineer"]))).unwrap();
    for ops in [
        json!([{"op": "remove", "path": "roles"}]),
        json!([{"op": "remove", "path": "roles[value eq \"engineer\"]"}]),
        json!([{"op": "remove", "path": format!("{FASTLY_USER}:role")}]),
        json!([{"op": "replace", "path": "roles", "value": []}]),
    ] {
        let (e, writes) = w.writes(|| w.patch(&rec.id, ops.clone()).unwrap_err());
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)), "{ops}: {e}");
        assert!(e.detail.contains("needs a role"), "{e}");
        assert!(writes.is_empty());
    }
    assert_eq!(w.fastly_user("ada@example.com").unwrap().role, "engineer");
    assert_eq!(w.get(&rec.id).unwrap().revision, rec.revision);
}

// ---- deactivate, reactivate, delete ----

#[test]
fn deactivation_removes_the_fastly_user_and_keeps_the_record() {
    let w = World::new();
    for (login, how) in [("ada@example.com", "patch"), ("bea@example.com", "put")] {
        let rec = w.create(&with(okta_user(login), "roles", json!(["engineer"]))).unwrap();
        let (r, writes) = w.writes(|| match how {
            "patch" => w.patch(&rec.id, json!([{"op": "replace", "value": {"active": false}}])).unwrap(),
            _ => w.put(&rec.id, &with(okta_user(login), "active", json!(false))).unwrap(),
        });
        assert_eq!(one_write(&writes, Method::Delete, &format!("/user/{}", fid(&rec))), pairs(&[]), "{how}");
        assert!(!r.active);
        assert!(w.fastly_user(login).is_none(), "{how}: no access left");
        let by_id = w.render(&w.get(&rec.id).unwrap());
        assert_eq!((by_id["active"].clone(), by_id["userName"].clone()), (json!(false), json!(login)));
        let found = w.list(Some(&format!("userName eq \"{}\"", login.to_uppercase())));
        assert_eq!(found.len(), 1, "{how}");
        assert_eq!((found[0]["id"].as_str(), found[0]["active"].clone()), (Some(rec.id.as_str()), json!(false)));
        // And it is still listed, once, inactive.
        let all: Vec<Value> = w.list(None).into_iter().filter(|u| u["userName"] == login).collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["active"], false);
        let line = w.audit_lines().last().cloned().unwrap();
        assert_eq!((line["operation"].as_str(), line["active"].clone()), (Some("deactivate"), json!(false)));
        // Deactivating again spends nothing.
        let (_, writes) = w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "path": "active", "value": false}])));
        assert!(writes.is_empty());
    }
}

#[test]
fn reactivation_creates_the_fastly_user_again_with_the_last_role_under_the_same_id() {
    let w = World::new();
    let rec = w.create(&with(okta_user("ada@example.com"), "roles", json!(["engineer"]))).unwrap();
    let old_fastly_id = fid(&rec);
    w.patch(&rec.id, json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    let (r, writes) =
        w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "path": "active", "value": "True"}])).unwrap());
    let sent = one_write(&writes, Method::Post, "/user");
    assert_eq!(sent, pairs(&[("login", "ada@example.com"), ("name", "Ada Lovelace"), ("role", "engineer")]));
    assert_eq!(r.id, rec.id);
    assert!(r.active);
    let u = w.fastly_user("ada@example.com").unwrap();
    assert_eq!((u.role.as_str(), Some(u.id.clone())), ("engineer", r.fastly_id.clone()));
    assert_ne!(u.id, old_fastly_id);
    let shown = w.render(&w.get(&rec.id).unwrap());
    assert_eq!((shown["active"].clone(), role_values(&shown)), (json!(true), vec!["engineer".to_owned()]));
    assert_eq!(w.audit_lines().last().unwrap()["operation"], "reactivate");
    // The new Fastly id is the one linked: the old one is not a SCIM id.
    assert_eq!(w.get(&old_fastly_id).unwrap_err().status, 404);
    assert_eq!(w.get(&u.id).unwrap_err().status, 404);
}

#[test]
fn delete_removes_the_fastly_user_the_record_and_every_index() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    assert!(!w.tenant_keys().is_empty());
    let (_, writes) = w.writes(|| w.delete(&rec.id).unwrap());
    one_write(&writes, Method::Delete, &format!("/user/{}", fid(&rec)));
    assert!(w.fastly_user("ada@example.com").is_none());
    assert!(w.tenant_keys().is_empty(), "left behind: {:?}", w.tenant_keys());
    assert_eq!(w.get(&rec.id).unwrap_err().status, 404);
    assert!(w.list(Some("userName eq \"ada@example.com\"")).is_empty());
    assert!(w.list(Some("externalId eq \"00u-ada@example.com\"")).is_empty());
    assert_eq!(w.audit_lines().last().unwrap()["operation"], "delete");
    // The userName is free again.
    let again = w.create(&okta_user("ada@example.com")).unwrap();
    assert_ne!(again.id, rec.id);
    assert_eq!(w.fastly_users_with_login("ada@example.com"), 1);

    // A deactivated user is deleted without an upstream write.
    w.patch(&again.id, json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    let (_, writes) = w.writes(|| w.delete(&again.id).unwrap());
    assert!(writes.is_empty());
    assert!(w.tenant_keys().is_empty(), "left behind: {:?}", w.tenant_keys());
}

#[test]
fn a_user_name_that_is_the_login_cannot_change() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let (e, writes) = w.writes(|| {
        w.patch(&rec.id, json!([{"op": "replace", "path": "userName", "value": "ada.l@example.com"}])).unwrap_err()
    });
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::Mutability)));
    assert!(e.detail.contains("Fastly support"), "{e}");
    assert!(writes.is_empty());
    let e = w.put(&rec.id, &okta_user("ada.l@example.com")).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    // A change of case only is no change.
    let (r, writes) = w.writes(|| w.put(&rec.id, &okta_user("ADA@example.com")).unwrap());
    assert!(writes.is_empty());
    assert_eq!(w.render(&r)["userName"], "ada@example.com");
}

// ---- failures upstream ----

#[test]
fn a_failed_upstream_create_leaves_nothing_and_the_retry_works() {
    let w = World::new();
    w.fastly.fault(Fault::status(Method::Post, "/user", 503));
    let e = w.create(&okta_user("ada@example.com")).unwrap_err();
    assert_eq!(e.status, 502);
    assert!(w.tenant_keys().is_empty(), "half-done: {:?}", w.tenant_keys());
    assert!(w.list(Some("userName eq \"ada@example.com\"")).is_empty());
    let line = w.audit_lines().last().cloned().unwrap();
    assert_eq!((line["result"].as_str(), line["upstream_status"].as_u64()), (Some("failed"), Some(502)));
    let (rec, writes) = w.writes(|| w.create(&okta_user("ada@example.com")).unwrap());
    one_write(&writes, Method::Post, "/user");
    assert_eq!(w.fastly_users_with_login("ada@example.com"), 1);
    assert_eq!(w.get(&rec.id).unwrap().fastly_id, rec.fastly_id);
}

#[test]
fn failed_updates_and_deletes_are_audited_and_change_nothing() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let path = format!("/user/{}", fid(&rec));
    let attempts = [
        ("update", Method::Put, json!([{"op": "replace", "path": "roles", "value": ["engineer"]}])),
        ("deactivate", Method::Delete, json!([{"op": "replace", "path": "active", "value": false}])),
    ];
    for (op, method, ops) in attempts {
        w.fastly.fault(Fault::status(method, &path, 503));
        assert_eq!(w.patch(&rec.id, ops).unwrap_err().status, 502);
        let line = w.audit_lines().last().cloned().unwrap();
        assert_eq!(line["operation"], op);
        assert_eq!((line["result"].as_str(), line["upstream_status"].as_u64()), (Some("failed"), Some(502)));
        assert_eq!(w.get(&rec.id).unwrap(), rec, "{op} left a change behind");
    }
    w.fastly.fault(Fault::status(Method::Delete, &path, 503));
    assert_eq!(w.delete(&rec.id).unwrap_err().status, 502);
    let line = w.audit_lines().last().cloned().unwrap();
    assert_eq!((line["operation"].as_str(), line["result"].as_str()), (Some("delete"), Some("failed")));
    assert_eq!(w.get(&rec.id).unwrap(), rec);
}

#[test]
fn a_lost_answer_on_create_converges_to_one_fastly_user() {
    let w = World::new();
    for (login, fault) in [
        ("ada@example.com", Fault::lost_answer(Method::Post, "/user")),
        ("bea@example.com", Fault::timeout(Method::Post, "/user")),
    ] {
        w.fastly.fault(fault);
        let body = with(okta_user(login), "roles", json!(["engineer"]));
        let e = w.create(&body).unwrap_err();
        assert!(matches!(e.status, 503 | 504), "{e}");
        assert_eq!(w.fastly_users_with_login(login), 1, "the lost create was applied");
        let rec = w.create(&body).unwrap();
        assert_eq!(w.fastly_users_with_login(login), 1);
        let u = w.fastly_user(login).unwrap();
        assert_eq!((rec.fastly_id.as_deref(), u.role.as_str()), (Some(u.id.as_str()), "engineer"));
        // Adopted: the Fastly id is linked to the record, so it is not listed twice.
        let listed: Vec<Value> = w.list(None).into_iter().filter(|r| r["userName"] == login).collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"].as_str(), Some(rec.id.as_str()));
    }
}

#[test]
fn a_spent_hourly_budget_is_429_with_retry_after_and_nothing_half_done() {
    let w = World::new();
    w.fastly.set_remaining(0);
    let e = w.create(&okta_user("ada@example.com")).unwrap_err();
    assert_eq!((e.status, e.retry_after), (429, Some(3600)));
    assert!(w.tenant_keys().is_empty(), "{:?}", w.tenant_keys());
}

// ---- concurrency ----

#[test]
fn concurrent_creates_of_one_user_name_make_one_fastly_user() {
    const N: usize = 8;
    for round in 0..5 {
        let w = World::new();
        // A real API call takes ~100 ms: the creates overlap while the first one is in Fastly.
        w.fastly.set_latency(Duration::from_millis(5));
        let login = format!("race{round}@example.com");
        let (results, writes) = w.writes(|| {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..N).map(|_| s.spawn(|| w.create(&okta_user(&login)))).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<ScimResult<UserRecord>>>()
            })
        });
        let ok: Vec<&UserRecord> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(ok.len(), 1, "round {round}: {results:#?}");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!((e.status, e.scim_type), (409, Some(ScimType::Uniqueness)), "round {round}: {e}");
        }
        // The losers spend no Fastly write: they lose on the userName claim.
        assert_eq!(writes.len(), 1, "round {round}: {writes:#?}");
        assert_eq!(w.fastly_users_with_login(&login), 1);
        let stored = w.tenant_keys().iter().filter(|k| k.contains("/user/")).count();
        assert_eq!(stored, 1, "round {round}: {:?}", w.tenant_keys());
        let listed: Vec<Value> = w.list(None).into_iter().filter(|r| r["userName"] == login.as_str()).collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"].as_str(), Some(ok[0].id.as_str()));
        // The winner still holds the userName: the losers did not release it.
        let found = w.list(Some(&format!("userName eq \"{login}\"")));
        assert_eq!(found.len(), 1, "round {round}");
        assert_eq!(found[0]["id"].as_str(), Some(ok[0].id.as_str()));
        assert!(w.create(&okta_user(&login)).unwrap_err().detail.contains("already exists"));
    }
}

#[test]
fn a_user_name_claim_without_a_record_blocks_creates_until_its_lease_runs_out() {
    let w = World::new();
    let key = keys::user_name(CUSTOMER, "ada@example.com");
    // A create in flight (claimed just now, no record yet): another create loses, spending nothing.
    w.store.put(&key, format!("scim-ghost {EPOCH}").as_bytes(), crate::store::Write::Overwrite).unwrap();
    let (e, writes) = w.writes(|| w.create(&okta_user("ada@example.com")).unwrap_err());
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::Uniqueness)), "{e}");
    assert!(writes.is_empty());
    assert!(w.list(Some("userName eq \"ada@example.com\"")).is_empty(), "a claim alone is no user");
    // A create that died half-way, longer ago than the lease: its claim is taken over.
    w.store.put(&key, format!("scim-ghost {}", EPOCH - 61).as_bytes(), crate::store::Write::Overwrite).unwrap();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    assert_eq!(w.list(Some("userName eq \"ada@example.com\""))[0]["id"].as_str(), Some(rec.id.as_str()));
    // A claim written before claims carried their time counts as old.
    let key = keys::user_name(CUSTOMER, "bea@example.com");
    w.store.put(&key, b"scim-ghost", crate::store::Write::Overwrite).unwrap();
    assert!(w.create(&okta_user("bea@example.com")).is_ok());
}

#[test]
fn concurrent_patches_of_one_user_lose_no_update() {
    const N: usize = 6;
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    w.fastly.set_latency(Duration::from_millis(1));
    let results: Vec<(String, ScimResult<UserRecord>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (w, id) = (&w, rec.id.clone());
                s.spawn(move || {
                    let phone = format!("+1 555 0100 {i}");
                    let r = w.patch(&id, json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": phone}]}]));
                    (phone, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored = w.render(&w.get(&rec.id).unwrap());
    let phones: Vec<&str> =
        stored["phoneNumbers"].as_array().unwrap().iter().map(|p| p["value"].as_str().unwrap()).collect();
    let mut succeeded = 0;
    for (phone, r) in &results {
        match r {
            Ok(_) => {
                succeeded += 1;
                assert!(phones.contains(&phone.as_str()), "lost update {phone}: {stored}");
            }
            Err(e) => assert_eq!(e.status, 409, "{e}"),
        }
    }
    assert!(succeeded >= 1);
    assert_eq!(phones.len(), succeeded, "{results:#?}");
    assert_eq!(w.get(&rec.id).unwrap().revision, rec.revision + succeeded as u64);
}

// ---- control-panel users and changes made in Fastly ----

#[test]
fn control_panel_users_are_listed_by_fastly_id_and_adopted_on_first_change() {
    let w = World::new();
    let all = w.list(None);
    let bob = all.iter().find(|u| u["userName"] == "bob@example.com").unwrap();
    assert_eq!(bob["id"], BOB);
    assert_eq!((role_values(bob), bob["active"].clone()), (vec!["user".to_owned()], json!(true)));
    let carol = all.iter().find(|u| u["id"] == CAROL).unwrap();
    assert_eq!(role_values(carol), ["engineer", "billing"]);
    // Every Fastly user of the account, and no other account's.
    assert_eq!(all.len(), w.fastly.users(CUSTOMER).len());
    assert!(all.iter().all(|u| u["userName"] != "erin@example.net"));
    assert!(w.tenant_keys().is_empty(), "listing stores nothing");
    assert_eq!(w.list(Some("userName eq \"BOB@example.com\""))[0]["id"], BOB);

    // The first change stores him, under his Fastly id, and only a role change is written.
    let (r, writes) =
        w.writes(|| w.patch(BOB, json!([{"op": "replace", "path": "roles", "value": ["engineer"]}])).unwrap());
    assert_eq!(one_write(&writes, Method::Put, &format!("/user/{BOB}")), pairs(&[("role", "engineer")]));
    assert_eq!((r.id.as_str(), r.fastly_id.as_deref()), (BOB, Some(BOB)));
    assert!(w.store.get(&keys::user(CUSTOMER, BOB)).unwrap().is_some());
    let all = w.list(None);
    assert_eq!(all.iter().filter(|u| u["userName"] == "bob@example.com").count(), 1);
    assert_eq!(w.list(Some("userName eq \"bob@example.com\""))[0]["roles"][0]["value"], "engineer");
    // His userName is claimed now: a create of it is a conflict.
    assert_eq!(w.create(&okta_user("bob@example.com")).unwrap_err().status, 409);
}

#[test]
fn a_role_changed_in_fastly_shows_on_the_next_read() {
    let w = World::new();
    let rec =
        w.create(&with(okta_user("ada@example.com"), "roles", json!([{"value": "user", "display": "User"}]))).unwrap();
    w.fastly.set_roles(&fid(&rec), "engineer", &["engineer"]);
    let shown = w.render(&w.get(&rec.id).unwrap());
    assert_eq!((role_values(&shown), fastly_role(&shown)), (vec!["engineer".to_owned()], "engineer"));
    assert!(shown["roles"][0].get("display").is_none(), "the old role's display is not the new one's: {shown}");
    let listed = w.list(Some("userName eq \"ada@example.com\""));
    assert_eq!(role_values(&listed[0]), ["engineer"]);
    let all = w.list(None);
    assert_eq!(role_values(all.iter().find(|u| u["id"] == rec.id.as_str()).unwrap()), ["engineer"]);
    // A second role added in the control panel is shown, the first kept as the SCIM role.
    w.fastly.set_roles(&fid(&rec), "engineer", &["engineer", "billing"]);
    let shown = w.render(&w.get(&rec.id).unwrap());
    assert_eq!((role_values(&shown), fastly_role(&shown)), (vec!["engineer".into(), "billing".into()], "engineer"));
    // Okta re-asserting its role is one write.
    let (_, writes) =
        w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "path": "roles", "value": ["user"]}])).unwrap());
    assert_eq!(one_write(&writes, Method::Put, &format!("/user/{}", fid(&rec))), pairs(&[("role", "user")]));
    assert_eq!(w.fastly_user("ada@example.com").unwrap().roles, ["user"]);
}

#[test]
fn a_user_deleted_in_fastly_shows_inactive_and_reactivates_in_one_write() {
    let w = World::new();
    let rec = w.create(&with(okta_user("ada@example.com"), "roles", json!(["billing"]))).unwrap();
    w.fastly.remove_user(&fid(&rec));
    assert_eq!(w.render(&w.get(&rec.id).unwrap())["active"], false);
    assert_eq!(w.list(Some("userName eq \"ada@example.com\""))[0]["active"], false);
    assert_eq!(w.list(None).iter().find(|u| u["id"] == rec.id.as_str()).unwrap()["active"], false);
    let (r, writes) = w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "value": {"active": true}}])).unwrap());
    let sent = one_write(&writes, Method::Post, "/user");
    assert!(sent.contains(&("role".into(), "billing".into())), "{sent:?}");
    assert!(r.active);
    assert_eq!(r.fastly_id.as_deref(), Some(w.fastly_user("ada@example.com").unwrap().id.as_str()));
    // The deleted Fastly user's link went with it: a DELETE leaves no key behind.
    w.delete(&rec.id).unwrap();
    assert!(w.tenant_keys().is_empty(), "left behind: {:?}", w.tenant_keys());
}

#[test]
fn a_lost_answer_on_deactivate_converges_on_retry() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    w.fastly.fault(Fault::lost_answer(Method::Delete, "/user/"));
    let off = json!([{"op": "replace", "value": {"active": false}}]);
    assert_eq!(w.patch(&rec.id, off.clone()).unwrap_err().status, 503);
    assert!(w.fastly_user("ada@example.com").is_none(), "Fastly applied it");
    let (r, writes) = w.writes(|| w.patch(&rec.id, off).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(!r.active);
    assert_eq!(w.render(&w.get(&rec.id).unwrap())["active"], false);
    let (r, writes) = w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "value": {"active": true}}])).unwrap());
    assert_eq!(writes.len(), 1);
    assert!(r.active);
    w.delete(&rec.id).unwrap();
    assert!(w.tenant_keys().is_empty(), "left behind: {:?}", w.tenant_keys());
}

/// Found by tests/chaos.rs: reads within the sync window are served from the store, so the retry
/// of a change whose answer was lost must store what Fastly now holds, though it sends nothing.
#[test]
fn a_lost_answer_on_an_update_is_stored_by_the_retry_so_reads_show_it() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let engineer = with(okta_user("ada@example.com"), FASTLY_USER, json!({"role": "engineer"}));
    w.fastly.fault(Fault::lost_answer(Method::Put, "/user/"));
    assert_eq!(w.put(&rec.id, &engineer).unwrap_err().status, 503);
    let (r, writes) = w.writes(|| w.put(&rec.id, &engineer).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(r.role, "engineer");
    assert_eq!(w.get(&rec.id).unwrap().role, "engineer", "a read within the sync window");
    assert_eq!(w.get(&rec.id).unwrap().version(), r.version());

    let off = with(engineer, "active", json!(false));
    w.fastly.fault(Fault::lost_answer(Method::Delete, "/user/"));
    assert_eq!(w.put(&rec.id, &off).unwrap_err().status, 503);
    let (r, writes) = w.writes(|| w.put(&rec.id, &off).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(!r.active);
    let read = w.get(&rec.id).unwrap();
    assert!(!read.active && read.fastly_id.is_none(), "{read:?}");
    let ops: Vec<(Value, Value)> =
        w.audit_lines().iter().map(|l| (l["operation"].clone(), l["result"].clone())).collect();
    let expected =
        [("create", "ok"), ("update", "failed"), ("update", "ok"), ("deactivate", "failed"), ("deactivate", "ok")];
    let expected: Vec<(Value, Value)> = expected.iter().map(|(o, r)| (json!(o), json!(r))).collect();
    assert_eq!(ops, expected, "each lost answer is audited as failed, and its retry records what Fastly applied");
    w.delete(&rec.id).unwrap();
    assert!(w.tenant_keys().is_empty(), "left behind: {:?}", w.tenant_keys());
}

#[test]
fn a_user_created_inactive_gets_no_fastly_user_until_activated() {
    let w = World::new();
    let (rec, writes) = w.writes(|| w.create(&with(okta_user("ada@example.com"), "active", json!(false))).unwrap());
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(!rec.active && rec.fastly_id.is_none());
    assert!(w.fastly_user("ada@example.com").is_none());
    let (r, writes) =
        w.writes(|| w.patch(&rec.id, json!([{"op": "replace", "path": "active", "value": true}])).unwrap());
    one_write(&writes, Method::Post, "/user");
    assert_eq!(r.fastly_id.as_deref(), Some(w.fastly_user("ada@example.com").unwrap().id.as_str()));
}

#[test]
fn a_stale_if_match_is_412_and_changes_nothing() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let body =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "roles", "value": ["engineer"]}]});
    let ctx = w.ctx();
    let (e, writes) = w.writes(|| patch(&ctx, &rec.id, &body, Some("W/\"999\"")).unwrap_err());
    assert_eq!(e.status, 412);
    assert!(writes.is_empty());
    assert_eq!(replace(&ctx, &rec.id, &okta_user("ada@example.com"), Some("W/\"0\"")).unwrap_err().status, 412);
    assert_eq!(delete(&ctx, &rec.id, Some("\"7\"")).unwrap_err().status, 412);
    assert!(w.fastly_user("ada@example.com").is_some());
    let r = patch(&ctx, &rec.id, &body, Some(&rec.version())).unwrap();
    assert_eq!(r.role, "engineer");
    // The precondition holds for a request that turns out to change nothing, too.
    assert_eq!(patch(&ctx, &rec.id, &body, Some(&rec.version())).unwrap_err().status, 412);
    assert!(patch(&ctx, &rec.id, &body, Some(&r.version())).is_ok());
    let e = delete(&ctx, &rec.id, Some(&rec.version())).unwrap_err();
    assert_eq!(e.status, 412);
    delete(&ctx, &rec.id, Some(&r.version())).unwrap();
}

#[test]
fn audit_lines_name_each_change_and_never_a_secret() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    w.patch(&rec.id, json!([{"op": "replace", "path": "roles", "value": ["engineer"]}])).unwrap();
    w.patch(&rec.id, json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    w.patch(&rec.id, json!([{"op": "replace", "value": {"active": true}}])).unwrap();
    w.delete(&rec.id).unwrap();
    let lines = w.audit_lines();
    let ops: Vec<&str> = lines.iter().map(|l| l["operation"].as_str().unwrap()).collect();
    assert_eq!(ops, ["create", "update", "deactivate", "reactivate", "delete"]);
    for l in &lines {
        let text = l.to_string();
        assert!(!text.contains(TOKEN) && !text.contains("1mz050nq"), "{text}");
        assert_eq!((l["account"].as_str(), l["actor"].as_str()), (Some(CUSTOMER), Some("actor123")));
        assert_eq!(l["scim_id"], rec.id.as_str());
    }
}

// ---- what each operation costs in KV operations (reads, writes, deletes, lists) ----
// Current costs, asserted as upper bounds so a regression shows; tune them down freely.

#[test]
fn kv_cost_of_create_is_at_most_2_reads_7_writes() {
    let w = World::new();
    w.create(&okta_user("first@example.com")).unwrap();
    let (_, cost) = w.kv(|| w.create(&okta_user("ada@example.com")).unwrap());
    // The userName claim, the record, the Fastly-id index, the externalId and email holder keys;
    // the directory's version and shard, read and written.
    assert!(cost.0 <= 2 && cost.1 <= 7 && cost.2 == 0 && cost.3 == 0, "{cost:?}");
}

#[test]
fn kv_cost_of_a_role_change_is_at_most_1_read_3_writes() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let (_, cost) =
        w.kv(|| w.patch(&rec.id, json!([{"op": "replace", "path": "roles", "value": ["engineer"]}])).unwrap());
    // The record; then the record and both indexes written again.
    assert!(cost.0 <= 1 && cost.1 <= 3 && cost.2 == 0 && cost.3 == 0, "{cost:?}");
}

#[test]
fn kv_cost_of_get_is_at_most_1_read() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let (_, cost) = w.kv(|| w.get(&rec.id).unwrap());
    assert!(cost.0 <= 1 && cost.1 == 0 && cost.2 == 0 && cost.3 == 0, "{cost:?}");
    // A control-panel user: a record miss and a Fastly-id index miss.
    let (_, cost) = w.kv(|| w.get(BOB).unwrap());
    assert!(cost.0 <= 2 && cost.1 == 0 && cost.2 == 0 && cost.3 == 0, "{cost:?}");
}

#[test]
fn kv_cost_of_a_user_name_filter_hit_is_at_most_2_reads() {
    let w = World::new();
    w.create(&okta_user("ada@example.com")).unwrap();
    let (found, cost) = w.kv(|| w.list(Some("userName eq \"ada@example.com\"")));
    assert_eq!(found.len(), 1);
    assert!(cost.0 <= 2 && cost.1 == 0 && cost.2 == 0 && cost.3 == 0, "{cost:?}");
    // A miss (Okta's pre-create lookup): the claim miss, then a snapshot of the account (the
    // directory and Fastly's list) for its control-panel users.
    let (found, cost) = w.kv(|| w.list(Some("userName eq \"nobody@example.com\"")));
    assert!(found.is_empty());
    assert!(cost.0 <= 2 + directory::SHARDS as u64 && cost.1 == 0 && cost.3 == 0, "{cost:?}");
}

/// What one operation cost: KV reads, writes, deletes and lists; Fastly API reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cost {
    kv_reads: u64,
    kv_writes: u64,
    kv_deletes: u64,
    kv_lists: u64,
    fastly_reads: usize,
    fastly_writes: usize,
}

impl Cost {
    /// `kv`: reads, writes, deletes and lists, as [`World::kv`] counts them.
    fn new(
        (kv_reads, kv_writes, kv_deletes, kv_lists): (u64, u64, u64, u64),
        fastly_reads: usize,
        fastly_writes: usize,
    ) -> Cost {
        Cost { kv_reads, kv_writes, kv_deletes, kv_lists, fastly_reads, fastly_writes }
    }
}

impl World {
    fn cost<T>(&self, f: impl FnOnce() -> T) -> (T, Cost) {
        self.fastly.clear_requests();
        let (out, kv) = self.kv(f);
        let (calls, writes) = (self.fastly.requests().len(), self.fastly.writes());
        (out, Cost::new(kv, calls - writes, writes))
    }

    fn page(&self, start: usize) -> Vec<Value> {
        let paging = Paging::parse(Some(&start.to_string()), Some("100")).unwrap();
        self.shown(list(&self.ctx(), None, &paging, &Projection::parse(None, None)).unwrap())
    }
}

/// The cost of each SCIM operation with the deployed sync window (10 s), for accounts of two
/// sizes: the table of docs/PERFORMANCE.md, exact, so that any change in cost shows here. Nothing
/// depends on the account's size but the first page of an import after the window (it reads the
/// directory and Fastly's list, see `provision::snapshot`).
#[test]
fn cost_of_each_operation_does_not_grow_with_the_account() {
    // No operation lists keys.
    let c = |kv_reads, kv_writes, kv_deletes, fastly_reads, fastly_writes| {
        Cost::new((kv_reads, kv_writes, kv_deletes, 0), fastly_reads, fastly_writes)
    };
    let expected = [
        ("get", c(1, 0, 0, 0, 0)),
        // The userName index, the record.
        ("filter userName eq: hit", c(2, 0, 0, 0, 0)),
        // The index miss; the control-panel users come from the cached snapshot.
        ("filter userName eq: miss", c(1, 0, 0, 0, 0)),
        // The directory's version and the page's records; the snapshot is in the POP cache. The
        // first page holds the seed's six control-panel users, shown from the snapshot itself.
        ("page of 100 at startIndex=1", c(95, 0, 0, 0, 0)),
        ("page of 100 at startIndex=101", c(101, 0, 0, 0, 0)),
        ("page of 100 at startIndex=151 (two chunks)", c(101, 0, 0, 0, 0)),
        // The directory's version and shard read; the userName claim, the record, the Fastly-id,
        // externalId and email keys, the shard and the version written; one Fastly write.
        ("create", c(2, 7, 0, 0, 1)),
        // The record; Fastly read before it is changed, and written once.
        ("role change", c(1, 2, 0, 1, 1)),
        // Fastly is read (a change is made only against what Fastly holds now); nothing is written.
        ("no-op PUT", c(1, 0, 0, 1, 0)),
        // The record, the directory's version and shard. The Fastly user is deleted (access
        // removed); the record is kept, unlinked (its Fastly-id key deleted).
        ("deactivate", c(3, 3, 1, 1, 1)),
        // A new Fastly user with the same login and role.
        ("reactivate", c(3, 4, 0, 0, 1)),
        // The Fastly user; the record and its four index keys deleted, the directory updated.
        ("delete", c(3, 2, 5, 0, 1)),
    ];
    for users in [250, 500] {
        let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
        let ids: Vec<String> =
            (0..users).map(|n| w.create(&okta_user(&format!("user{n:04}@example.com"))).unwrap().id).collect();
        let id = ids[users / 2].as_str();
        // An import that has started: its snapshot is in the POP cache.
        w.page(1);
        let found = |r: Vec<Value>, n: usize| assert_eq!(r.len(), n);
        let mut costs = Vec::new();
        costs.push(("get", w.cost(|| w.get(id).unwrap()).1));
        let hit = format!("userName eq \"user{:04}@example.com\"", users / 2);
        costs.push(("filter userName eq: hit", w.cost(|| found(w.list(Some(&hit)), 1)).1));
        costs.push(("filter userName eq: miss", w.cost(|| found(w.list(Some("userName eq \"no@example.com\"")), 0)).1));
        for (name, start) in [
            ("page of 100 at startIndex=1", 1),
            ("page of 100 at startIndex=101", 101),
            ("page of 100 at startIndex=151 (two chunks)", 151),
        ] {
            costs.push((name, w.cost(|| found(w.page(start), 100)).1));
        }
        let (new, cost) = w.cost(|| w.create(&okta_user("new@example.com")).unwrap());
        costs.push(("create", cost));
        let role = json!([{"op": "replace", "path": "roles", "value": [{"value": "engineer"}]}]);
        costs.push(("role change", w.cost(|| w.patch(&new.id, role).unwrap()).1));
        let shown = w.render(&w.get(&new.id).unwrap());
        costs.push(("no-op PUT", w.cost(|| w.put(&new.id, &shown).unwrap()).1));
        let active = |on: bool| json!([{"op": "replace", "path": "active", "value": on}]);
        costs.push(("deactivate", w.cost(|| w.patch(&new.id, active(false)).unwrap()).1));
        costs.push(("reactivate", w.cost(|| w.patch(&new.id, active(true)).unwrap()).1));
        costs.push(("delete", w.cost(|| w.delete(&new.id).unwrap()).1));
        assert_eq!(costs, expected, "at {users} users");
    }
}

#[test]
fn reads_within_the_sync_window_ask_fastly_nothing_and_later_reads_catch_up() {
    let w = World::with_policy(Policy { sync_seconds: 60, ..Policy::default() });
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    w.fastly.set_roles(&fid(&rec), "engineer", &["engineer"]);
    w.fastly.clear_requests();
    // Within the window: the stored view, no call to Fastly, one KV read.
    let (shown, cost) = w.kv(|| w.get(&rec.id).unwrap());
    assert_eq!(shown.role, "user");
    assert!(w.fastly.requests().is_empty(), "{:?}", w.fastly.requests());
    assert!(cost.0 <= 1 && cost.1 == 0, "{cost:?}");
    // After it: Fastly is asked once, the change shows with a new version, and is stored.
    w.now.fetch_add(61, Ordering::SeqCst);
    let caught_up = w.get(&rec.id).unwrap();
    assert_eq!(caught_up.role, "engineer");
    assert!(caught_up.revision > rec.revision);
    assert_eq!(w.fastly.requests().len(), 1);
    w.fastly.clear_requests();
    assert_eq!(w.get(&rec.id).unwrap().role, "engineer");
    assert!(w.fastly.requests().is_empty(), "the refreshed record was stored");
}

#[test]
fn an_import_page_reads_only_the_records_on_the_page() {
    let w = World::new();
    for n in 0..6 {
        w.create(&okta_user(&format!("user{n}@example.com"))).unwrap();
    }
    let paging = Paging::parse(Some("3"), Some("2")).unwrap();
    let projection = Projection::parse(None, None);
    let (page, cost) = w.kv(|| list(&w.ctx(), None, &paging, &projection).unwrap());
    assert_eq!(page.count, 2);
    // Six stored users plus the seed's control-panel users, all counted.
    assert!(page.total >= 6, "{}", page.total);
    // Built afresh (a first page): the directory's version and shards, and two record reads.
    assert!(cost.0 <= 3 + directory::SHARDS as u64 && cost.1 == 0 && cost.3 == 0, "{cost:?}");
    // The next page follows the snapshot: the version and the page's records, no listing.
    let next = Paging::parse(Some("5"), Some("2")).unwrap();
    w.fastly.clear_requests();
    let (_, cost) = w.kv(|| list(&w.ctx(), None, &next, &projection).unwrap());
    assert!(cost.0 <= 3 && cost.1 == 0 && cost.3 == 0, "{cost:?}");
    assert!(w.fastly.requests().is_empty(), "{:?}", w.fastly.requests());
    // The same ids in the same order whatever the page size.
    let all = list(&w.ctx(), None, &Paging::parse(None, Some("100")).unwrap(), &projection).unwrap();
    let ids = |rs: &[Value]| rs.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&w.shown(page)), ids(w.shown(all).get(2..4).unwrap()));
}

// ---- import snapshots ----

fn page_ids(w: &World, start: &str, count: &str) -> (usize, Vec<String>) {
    let paging = Paging::parse(Some(start), Some(count)).unwrap();
    let page = list(&w.ctx(), None, &paging, &Projection::parse(None, None)).unwrap();
    (page.total, w.shown(page).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect())
}

#[test]
fn an_import_sees_one_account_and_the_next_import_sees_control_panel_changes() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    let (total, _) = page_ids(&w, "1", "2");
    let dave = w.fastly.add_user(CUSTOMER, "dave@example.com", "Dave Doe", &["user"]);
    // Later pages of the same import follow its snapshot: no Fastly call, the same total.
    w.now.fetch_add(60, Ordering::SeqCst);
    w.fastly.clear_requests();
    assert_eq!(page_ids(&w, "3", "2").0, total);
    assert!(w.fastly.requests().is_empty());
    // A new import (startIndex=1) after the sync window reads Fastly again.
    let (total2, _) = page_ids(&w, "1", "100");
    assert_eq!(total2, total + 1);
    assert!(page_ids(&w, "1", "100").1.contains(&dave));
}

#[test]
fn a_page_from_the_cached_snapshot_is_the_page_the_fresh_build_gave() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    w.fastly.add_user(CUSTOMER, "zoe@example.com", "Zo\u{eb} \"Q\" Doe", &["engineer", "billing"]);
    let ada = w.create(&okta_user("ada@example.com")).unwrap();
    w.now.fetch_add(5, Ordering::SeqCst);
    w.fastly.set_roles(&fid(&ada), "engineer", &["engineer"]);
    let page = || {
        let paging = Paging::parse(Some("1"), Some("100")).unwrap();
        w.shown(list(&w.ctx(), None, &paging, &Projection::parse(None, None)).unwrap())
    };
    w.fastly.clear_requests();
    let fresh = page();
    assert_eq!(w.fastly.requests().len(), 1, "the first page reads Fastly's list");
    let cached = page();
    assert_eq!(w.fastly.requests().len(), 1, "the same page within the sync window is the snapshot's");
    assert_eq!(cached, fresh);
    let zoe = fresh.iter().find(|u| u["userName"] == "zoe@example.com").unwrap();
    assert_eq!(
        (zoe["displayName"].as_str(), role_values(zoe)),
        (Some("Zo\u{eb} \"Q\" Doe"), vec!["engineer".into(), "billing".into()])
    );
    let shown = fresh.iter().find(|u| u["id"] == ada.id.as_str()).unwrap();
    assert_eq!(role_values(shown), ["engineer"]);
}

#[test]
fn a_change_through_scim_is_never_hidden_by_a_snapshot() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    let (total, _) = page_ids(&w, "1", "100");
    let ada = w.create(&okta_user("ada@example.com")).unwrap();
    let (total2, ids) = page_ids(&w, "2", "100");
    assert_eq!(total2, total + 1);
    assert!(ids.contains(&ada.id) || page_ids(&w, "1", "1").1.contains(&ada.id));
    // A role changed through SCIM after the snapshot is shown, not the snapshot's older one.
    let (_, all) = page_ids(&w, "1", "100");
    assert!(all.contains(&ada.id));
    w.patch(&ada.id, json!([{"op": "replace", "path": "roles", "value": ["engineer"]}])).unwrap();
    let paging = Paging::parse(Some("1"), Some("100")).unwrap();
    let page = list(&w.ctx(), None, &paging, &Projection::parse(None, None)).unwrap();
    let shown = w.shown(page).into_iter().find(|r| r["id"] == ada.id.as_str()).unwrap();
    assert_eq!(role_values(&shown), ["engineer"]);
    // Deleted through SCIM: gone from the next page at once.
    w.delete(&ada.id).unwrap();
    assert_eq!(page_ids(&w, "2", "100").0, total);
}

#[test]
fn records_stored_before_the_directory_existed_are_found_by_imports() {
    let w = World::new();
    let ada = w.create(&okta_user("ada@example.com")).unwrap();
    // An account from before the directory: its documents are not there.
    for k in w.store.keys().into_iter().filter(|k| k.contains("/dir/") || k.ends_with("/dirversion")) {
        w.store.delete(&k).unwrap();
    }
    let (_, ids) = page_ids(&w, "1", "100");
    assert!(ids.contains(&ada.id));
    assert_eq!(ids.iter().filter(|i| **i == ada.id || **i == fid(&ada)).count(), 1, "linked, so shown once");
}

#[test]
fn lookups_by_login_reuse_the_census_of_control_panel_users() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    assert!(w.list(Some("userName eq \"nobody@example.com\"")).is_empty());
    w.fastly.clear_requests();
    let (found, cost) = w.kv(|| w.list(Some("userName eq \"bob@example.com\"")));
    assert_eq!(found[0]["id"], BOB);
    // Not the whole list again: Bob alone, to confirm he is still there.
    let asked: Vec<String> = w.fastly.requests().iter().map(|r| format!("{:?} {}", r.method, r.path)).collect();
    assert_eq!(asked, [format!("Get /user/{BOB}")]);
    // The claim miss, and Bob's Fastly-id index (not adopted).
    assert!(cost.0 <= 2 && cost.1 == 0 && cost.3 == 0, "{cost:?}");
    // Adopted since: no longer a control-panel user, though the census still has him.
    w.patch(BOB, json!([{"op": "replace", "path": "displayName", "value": "Bob B"}])).unwrap();
    let found = w.list(Some("userName eq \"bob@example.com\""));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["displayName"], "Bob B");
    // Past the sync window, a push of users still reads Fastly's list only once per census.
    w.now.fetch_add(11, Ordering::SeqCst);
    w.fastly.clear_requests();
    w.list(Some("userName eq \"nobody@example.com\""));
    assert!(w.fastly.requests().is_empty());
    w.now.fetch_add(snapshot::CENSUS_SECS, Ordering::SeqCst);
    w.list(Some("userName eq \"nobody@example.com\""));
    assert_eq!(w.fastly.requests().len(), 1);
}

#[test]
fn every_control_panel_user_of_a_large_census_is_found_by_login() {
    let w = World::new();
    let logins: Vec<String> = (0..700).map(|i| format!("Panel.{i}@Example.com")).collect();
    let ids: Vec<String> = logins.iter().map(|l| w.fastly.add_user(CUSTOMER, l, "P", &["engineer"])).collect();
    assert!(w.list(Some("userName eq \"nobody@example.com\"")).is_empty());
    w.fastly.clear_requests();
    for (login, id) in logins.iter().zip(&ids) {
        let found = w.list(Some(&format!("userName eq \"{}\"", login.to_lowercase())));
        assert_eq!(found.len(), 1, "{login}");
        assert_eq!(found[0]["id"], *id);
    }
    // Each found from the census and confirmed alone: Fastly's list was not read again.
    assert!(w.fastly.requests().iter().all(|r| r.path.starts_with("/user/")));
}

#[test]
fn a_control_panel_user_made_after_the_census_is_adopted_by_the_create_after_the_lookup() {
    let w = World::new();
    assert!(w.list(Some("userName eq \"nobody@example.com\"")).is_empty());
    let dan = w.fastly.add_user(CUSTOMER, "dan@example.com", "Dan", &["engineer"]);
    // Okta's check before a create: the census predates Dan.
    assert!(w.list(Some("userName eq \"dan@example.com\"")).is_empty());
    let rec = w.create(&okta_user("dan@example.com")).unwrap();
    assert_eq!(rec.fastly_id.as_deref(), Some(dan.as_str()));
    assert_eq!(w.fastly.users(CUSTOMER).iter().filter(|u| u.login == "dan@example.com").count(), 1);
    assert_eq!(w.list(Some("userName eq \"dan@example.com\""))[0]["id"], rec.id);
}

#[test]
fn a_user_deleted_through_scim_is_not_found_again_as_a_control_panel_user() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    // The cached list of control-panel users has Bob; he is adopted, then deleted.
    assert_eq!(w.list(Some("userName eq \"bob@example.com\"")).len(), 1);
    w.patch(BOB, json!([{"op": "replace", "path": "displayName", "value": "Bob B"}])).unwrap();
    w.delete(BOB).unwrap();
    assert!(w.list(Some("userName eq \"bob@example.com\"")).is_empty());
    assert!(w.list(Some("emails.value eq \"bob@example.com\"")).is_empty());
}

#[test]
fn a_control_panel_user_deleted_through_scim_leaves_the_next_page_at_once() {
    let w = World::with_policy(Policy { sync_seconds: 10, ..Policy::default() });
    let (total, ids) = page_ids(&w, "1", "100");
    assert!(ids.contains(&BOB.to_owned()));
    w.delete(BOB).unwrap();
    let (after, ids) = page_ids(&w, "2", "100");
    assert_eq!(after, total - 1);
    assert!(!ids.contains(&BOB.to_owned()));
}

#[test]
fn putting_back_what_a_get_showed_writes_nothing() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    let shown = w.render(&w.get(&rec.id).unwrap());
    let ((r, writes), cost) = w.kv(|| w.writes(|| w.put(&rec.id, &shown).unwrap()));
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!((r.revision, cost.1), (rec.revision, 0), "{cost:?}");
}

#[test]
fn a_filter_no_index_answers_is_refused_on_an_account_too_large_to_read() {
    let w = World::new();
    let rec = w.create(&okta_user("ada@example.com")).unwrap();
    assert_eq!(w.list(Some("userName sw \"ada@\""))[0]["id"], rec.id);
    for i in 0..MAX_UNINDEXED_FILTER_USERS {
        w.fastly.add_user(CUSTOMER, &format!("panel{i}@example.com"), "P", &["user"]);
    }
    let filter = crate::scim::filter::parse("userName sw \"ada@\"").unwrap();
    let paging = Paging::parse(None, None).unwrap();
    let Err(e) = list(&w.ctx(), Some(&filter), &paging, &Projection::parse(None, None)) else {
        panic!("a filter over every user of a large account was answered");
    };
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::TooMany)), "{e}");
    // What an index answers still works, and so do pages.
    assert_eq!(w.list(Some("userName eq \"ada@example.com\""))[0]["id"], rec.id);
    assert_eq!(w.list(None).len(), 100);
}
