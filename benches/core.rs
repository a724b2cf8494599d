//! CPU per request of the core handler on the host: `cargo bench --bench core` (`make bench-cpu`).
//!
//! Each operation goes through `scim_edge::app::handle` exactly as the edge calls it, with the host
//! fakes: `MemoryStore` (KV), `MemoryCache` (token verdicts, warm before anything is measured) and
//! `MemoryFastly` (api.fastly.com), a fixed clock and deterministic ids. The policy is the deployed
//! default: a verified email domain is required, and a stored user is served as stored for 10 s after
//! the last comparison with Fastly (the clock does not move, so reads stay in that window).
//!
//! A sample is the wall time of one `handle` call on this thread, minus the time spent inside the
//! fakes of the Fastly API, the KV store and the POP cache: at the edge those are host calls that
//! Fastly answers (the Fastly fake scans a list of users; the KV fake is one `BTreeMap` of every
//! key), not the handler's CPU. Building the calls and parsing their answers stays in.
//!
//! The account is seeded through the handler (`POST /Users`, as Okta creates users); while seeding,
//! `POST /user` is answered by this file in O(1) (the fake checks logins by scanning every user),
//! and the users are then added to the fake with the same ids.
//!
//! Settings (environment):
//! - `BENCH_CPU_USERS="1000 100000"`: the account sizes;
//! - `BENCH_CPU_SECONDS=1`: time spent measuring each operation at each size (at least 10 and at
//!   most 5,000 iterations, after a warm-up);
//! - `BENCH_CPU_OUT=path`: also write the section (heading, command, table) as markdown to this file
//!   (`scripts/bench.sh` puts it in docs/PERFORMANCE.md).
//!
//! Arguments: `cargo bench --bench core -- startIndex PATCH` measures only the operations whose name
//! contains one of them (the account is seeded all the same).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use scim_edge::app::{self, Env};
use scim_edge::auth::{AuthConfig, NoSecrets};
use scim_edge::cache::{Cache, MemoryCache};
use scim_edge::domains::{DnsError, DnsResolver, TxtLookup};
use scim_edge::http::{Method, Request, Response};
use scim_edge::provision::{Audit, Policy};
use scim_edge::store::memory::MemoryStore;
use scim_edge::store::{Entry, Page, Store, StoreError, Write};
use scim_edge::upstream::memory::{MemoryFastly, CUSTOMER, EPOCH, TOKEN};
use scim_edge::upstream::{ApiRequest, ApiResponse, Transport, TransportError};

const FASTLY_USER: &str = "urn:ietf:params:scim:schemas:extension:fastly:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ROLES: [&str; 3] = ["user", "engineer", "billing"];
/// Seconds a stored user is served without asking Fastly: the deployed default (`fastly_sync_seconds`).
const SYNC_SECONDS: u64 = 10;
const VERDICT_TTL: u64 = 10 * 365 * 86_400;
const MIN_ITERS: usize = 10;
const MAX_ITERS: usize = 5000;
const WARMUP_ITERS: usize = 10;
const WARMUP_TIME: Duration = Duration::from_millis(200);

// --- the world one request runs in ------------------------------------------------------------------

/// `MemoryFastly` behind a stopwatch, plus the O(1) `POST /user` used while seeding.
struct Upstream {
    fastly: MemoryFastly,
    seeding: Cell<bool>,
    /// Users answered while seeding: (id, login, name, role).
    minted: RefCell<Vec<(String, String, String, String)>>,
    spent: Cell<Duration>,
    calls: Cell<u64>,
}

impl Upstream {
    fn mint(&self, req: &ApiRequest) -> ApiResponse {
        let mut minted = self.minted.borrow_mut();
        let form: HashMap<String, String> = form_urlencoded::parse(req.form.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // MemoryFastly's id sequence: `add_user` replays these in order and must give the same ids.
        let id = format!("M{:021}", minted.len() + 1);
        let (login, name) = (form["login"].clone(), form["name"].clone());
        let role = form.get("role").cloned().unwrap_or_else(|| "user".into());
        let stamp = scim_edge::time::format(EPOCH);
        let body = json!({
            "id": id, "created_at": stamp, "updated_at": stamp, "name": name, "customer_id": CUSTOMER,
            "require_new_password": null, "role": role, "roles": [role], "login": login, "deleted_at": null,
            "locked": null, "two_factor_auth_enabled": null, "limit_services": false, "last_active_at": null,
        });
        minted.push((id, login, name, role));
        ApiResponse {
            status: 200,
            body: body.to_string().into_bytes(),
            rate_limit_remaining: Some(1_000_000),
            rate_limit_reset: Some(EPOCH + 3600),
        }
    }

    /// Adds the users answered while seeding to the fake, under the same ids.
    fn finish_seeding(&self) {
        self.seeding.set(false);
        for (id, login, name, role) in self.minted.take() {
            assert_eq!(self.fastly.add_user(CUSTOMER, &login, &name, &[role.as_str()]), id);
        }
    }
}

impl Transport for Upstream {
    fn send(&self, req: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let t = Instant::now();
        let out = if self.seeding.get() && req.method == Method::Post && req.path == "/user" {
            Ok(self.mint(req))
        } else {
            self.fastly.send(req)
        };
        self.spent.set(self.spent.get() + t.elapsed());
        self.calls.set(self.calls.get() + 1);
        out
    }
}

/// DNS that publishes whatever challenge it is given.
#[derive(Default)]
struct Dns(RefCell<Vec<String>>);

impl DnsResolver for Dns {
    fn txt(&self, _: &str) -> Result<TxtLookup, DnsError> {
        Ok(TxtLookup::Records(self.0.borrow().clone()))
    }
}

/// Audit lines are serialised, as the edge does before writing them to its log endpoint, and dropped.
struct Sink;

impl Audit for Sink {
    fn record(&self, line: &Value) {
        black_box(line.to_string());
    }
}

/// A KV store or POP cache fake behind a stopwatch: at the edge these are host calls, answered by
/// Fastly, so a lookup in a map of 100,000 users is the platform's time, not the handler's.
struct Timed<T> {
    inner: T,
    spent: Cell<Duration>,
}

impl<T> Timed<T> {
    fn new(inner: T) -> Self {
        Timed { inner, spent: Cell::new(Duration::ZERO) }
    }

    fn time<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let t = Instant::now();
        let out = f(&self.inner);
        self.spent.set(self.spent.get() + t.elapsed());
        out
    }
}

impl Store for Timed<MemoryStore> {
    fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.time(|s| s.get(key))
    }
    fn put(&self, key: &str, value: &[u8], write: Write) -> Result<(), StoreError> {
        self.time(|s| s.put(key, value, write))
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.time(|s| s.delete(key))
    }
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.time(|s| s.list(prefix, cursor, limit))
    }
}

impl Cache for Timed<MemoryCache> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.time(|c| c.get(key))
    }
    fn put(&self, key: &str, value: &[u8], ttl_seconds: u64) {
        self.time(|c| c.put(key, value, ttl_seconds))
    }
}

/// One handler call: its time minus the fakes', the Fastly fake's time, the KV and cache fakes'
/// time, and the calls it made.
#[derive(Clone, Copy)]
struct Sample {
    core: Duration,
    fake: Duration,
    stores: Duration,
    kv: u64,
    fastly: u64,
}

struct World {
    store: Timed<MemoryStore>,
    cache: Timed<MemoryCache>,
    upstream: Upstream,
    dns: Dns,
    ids: Cell<u64>,
    /// Unix seconds: EPOCH, until the last operation moves it on.
    now: Cell<u64>,
}

impl World {
    fn new() -> World {
        World {
            store: Timed::new(MemoryStore::new()),
            cache: Timed::new(MemoryCache::new()),
            upstream: Upstream {
                fastly: MemoryFastly::new(),
                seeding: Cell::new(false),
                minted: RefCell::default(),
                spent: Cell::new(Duration::ZERO),
                calls: Cell::new(0),
            },
            dns: Dns::default(),
            ids: Cell::new(0),
            now: Cell::new(EPOCH),
        }
    }

    /// Deterministic, UUID-shaped, and spread over the key space as random ids are (splitmix64).
    fn new_id(&self) -> String {
        let n = self.ids.get() + 1;
        self.ids.set(n);
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let (a, b) = (mix(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)), mix(n ^ 0x5851_f42d_4c95_7f2d));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48 & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn kv_calls(&self) -> u64 {
        let (r, w, d, l) = self.store.inner.counts.snapshot();
        r + w + d + l
    }

    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (Response, Sample) {
        let new_id = || self.new_id();
        let env = Env {
            store: &self.store,
            cache: &self.cache,
            transport: &self.upstream,
            dns: &self.dns,
            audit: &Sink,
            now: self.now.get(),
            new_id: &new_id,
            // The verdict is cached for longer than the deployed 300 s, so that moving the clock on
            // (the last operation) never makes a request verify the token again.
            auth: AuthConfig { ttl_ok: VERDICT_TTL, ..AuthConfig::default() },
            secrets: &NoSecrets,
            policy: Policy { sync_seconds: SYNC_SECONDS, require_verified_domain: true, ..Policy::default() },
            origin: "https://scim.example.com".into(),
            request_id: "bench".into(),
        };
        let mut req = Request::new(method, path).with_header("authorization", &format!("Bearer {TOKEN}"));
        if let Some(b) = body {
            req = req.with_header("content-type", "application/scim+json").with_body(b.to_string());
        }
        let (kv0, fake0, calls0) = (self.kv_calls(), self.upstream.spent.get(), self.upstream.calls.get());
        let stores0 = self.store.spent.get() + self.cache.spent.get();
        let t = Instant::now();
        let resp = black_box(app::handle(&env, black_box(&req)));
        let wall = t.elapsed();
        let fake = self.upstream.spent.get() - fake0;
        let stores = self.store.spent.get() + self.cache.spent.get() - stores0;
        let sample = Sample {
            core: wall.saturating_sub(fake + stores),
            fake,
            stores,
            kv: self.kv_calls() - kv0,
            fastly: self.upstream.calls.get() - calls0,
        };
        (resp, sample)
    }

    /// A call that must answer `status`; its JSON body.
    fn expect(&self, status: u16, method: Method, path: &str, body: Option<&Value>) -> (Value, Sample) {
        let (r, s) = self.call(method, path, body);
        let json = r.json().unwrap_or(Value::Null);
        assert_eq!(r.status, status, "{method:?} {path}: {json}");
        (json, s)
    }
}

fn login(i: usize) -> String {
    format!("bench.user{i:06}@example.com")
}

/// What Okta sends to create user `i` (as bench/seed.py describes the seeded users).
fn okta_user(i: usize) -> Value {
    let given = format!("Bench{i:06}");
    json!({
        "schemas": [CORE_USER, FASTLY_USER],
        "userName": login(i),
        "name": {"givenName": given, "familyName": "User"},
        "displayName": format!("{given} User"),
        "emails": [{"value": login(i), "type": "work", "primary": true}],
        "active": true,
        FASTLY_USER: {"role": ROLES[i % ROLES.len()]},
    })
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn filter_path(user_name: &str) -> String {
    let f: String = form_urlencoded::byte_serialize(format!("userName eq \"{user_name}\"").as_bytes()).collect();
    format!("/scim/v2/Users?filter={f}")
}

// --- measuring ---------------------------------------------------------------------------------------

/// One operation's samples, and its first call (the first of the warm-up: cold caches).
struct Measured {
    first: Sample,
    samples: Vec<Sample>,
}

struct Row {
    op: String,
    users: usize,
    m: Measured,
}

/// Runs `step` (which makes K timed calls) for a warm-up, then until the time budget is spent, and
/// returns each call's samples. `step` gets a counter that never repeats, for unique names.
fn drive<const K: usize>(budget: Duration, mut step: impl FnMut(usize) -> [Sample; K]) -> [Measured; K] {
    let warm = Instant::now();
    let mut out = step(0).map(|first| Measured { first, samples: Vec::new() });
    let mut i = 1;
    while i < WARMUP_ITERS && warm.elapsed() < WARMUP_TIME {
        step(i);
        i += 1;
    }
    let start = Instant::now();
    while out[0].samples.len() < MAX_ITERS && (out[0].samples.len() < MIN_ITERS || start.elapsed() < budget) {
        for (k, s) in step(i).into_iter().enumerate() {
            out[k].samples.push(s);
        }
        i += 1;
    }
    out
}

/// The operations in the order of the table; a row goes after the last one its name starts with.
const ORDER: &[&str] = &[
    "GET /Users/{id}",
    "GET ?filter=userName eq (hit)",
    "GET ?filter=userName eq (miss",
    "GET ?startIndex",
    "POST /Users (create)",
    "PATCH role",
    "PUT /Users/{id} (no-op)",
    "PATCH active:false",
    "PATCH active:true",
    "DELETE /Users/{id}",
];

/// Seeds an account of `n` users and measures every operation on it (those whose name contains one of
/// `only`, if any).
fn run_size(n: usize, budget: Duration, only: &[String], out: &mut Vec<Row>, seeding: &mut Vec<(usize, Duration)>) {
    assert!(n >= 200, "BENCH_CPU_USERS: an account needs at least 200 users");
    let w = World::new();
    w.upstream.fastly.set_remaining(u64::MAX / 2);
    // The verified email domain (the first request also caches the token verdict).
    let (added, _) = w.expect(201, Method::Post, "/admin/domains", Some(&json!({"domain": "example.com"})));
    w.dns.0.borrow_mut().push(added["challenge"]["value"].as_str().unwrap().to_owned());
    w.expect(200, Method::Post, "/admin/domains/example.com/verify", None);

    eprintln!("core bench: seeding {n} users through POST /Users");
    let t = Instant::now();
    w.upstream.seeding.set(true);
    let ids: Vec<String> = (0..n)
        .map(|i| {
            w.expect(201, Method::Post, "/scim/v2/Users", Some(&okta_user(i))).0["id"].as_str().unwrap().to_owned()
        })
        .collect();
    w.upstream.finish_seeding();
    w.upstream.fastly.clear_requests();
    let took = t.elapsed();
    eprintln!("core bench: seeded {n} users in {:.1} s", took.as_secs_f64());
    seeding.push((n, took));

    let mut rows = Vec::new();
    let mut add = |op: &str, m: Measured| {
        eprintln!("core bench: {n} users, {op}: {} iterations", m.samples.len());
        rows.push(Row { op: op.to_owned(), users: n, m });
        w.upstream.fastly.clear_requests();
    };
    let want = |ops: &[&str]| only.is_empty() || ops.iter().any(|op| only.iter().any(|o| op.contains(o.as_str())));
    // Seeded users by role: the role change, no-op PUT and (de)activation each get their own.
    let spread = |k: usize| (k.wrapping_mul(7919) + 97) % n;

    if want(&["GET /Users/{id}"]) {
        let [get] =
            drive(budget, |k| [w.expect(200, Method::Get, &format!("/scim/v2/Users/{}", ids[spread(k)]), None).1]);
        add("GET /Users/{id}", get);
    }

    if want(&["GET ?filter=userName eq (hit)"]) {
        let [hit] = drive(budget, |k| {
            let (body, s) = w.expect(200, Method::Get, &filter_path(&login(spread(k))), None);
            assert_eq!(body["totalResults"], 1);
            [s]
        });
        add("GET ?filter=userName eq (hit)", hit);
    }

    if want(&["GET ?filter=userName eq (miss)"]) {
        let [miss] = drive(budget, |k| {
            let (body, s) = w.expect(200, Method::Get, &filter_path(&format!("nobody{k}@example.com")), None);
            assert_eq!(body["totalResults"], 0);
            [s]
        });
        add("GET ?filter=userName eq (miss)", miss);
    }

    let (first, _) = w.expect(200, Method::Get, "/scim/v2/Users?count=1", None);
    let total = first["totalResults"].as_u64().unwrap() as usize;
    for start in [1, total / 2, total - 99] {
        let op = format!("GET ?startIndex={start}&count=100");
        if !want(&[op.as_str()]) {
            continue;
        }
        let path = format!("/scim/v2/Users?startIndex={start}&count=100");
        let [page] = drive(budget, |_| {
            let (body, s) = w.expect(200, Method::Get, &path, None);
            assert_eq!(body["Resources"].as_array().map(Vec::len), Some(100));
            [s]
        });
        add(&op, page);
    }

    // Create a new user, then delete it: the account keeps its size.
    if want(&["POST /Users (create)", "DELETE /Users/{id}"]) {
        let [create, delete] = drive(budget, |k| {
            let (body, created) = w.expect(201, Method::Post, "/scim/v2/Users", Some(&okta_user(n + k)));
            let id = body["id"].as_str().unwrap();
            let (_, deleted) = w.expect(204, Method::Delete, &format!("/scim/v2/Users/{id}"), None);
            [created, deleted]
        });
        add("POST /Users (create)", create);
        add("DELETE /Users/{id}", delete);
    }

    // The role moves on to the next one, on 16 users in turn.
    if want(&["PATCH role (role change)"]) {
        let mut roles: HashMap<usize, usize> = (0..16).map(|j| (j, j % ROLES.len())).collect();
        let [role] = drive(budget, |k| {
            let j = k % 16;
            let next = (roles[&j] + 1) % ROLES.len();
            roles.insert(j, next);
            let op = json!([{"op": "replace", "path": format!("{FASTLY_USER}:role"), "value": ROLES[next]}]);
            let (body, s) = w.expect(200, Method::Patch, &format!("/scim/v2/Users/{}", ids[j]), Some(&patch(op)));
            assert_eq!(body[FASTLY_USER]["role"], ROLES[next]);
            [s]
        });
        add("PATCH role (role change)", role);
    }

    // A PUT of the user as it is: no write anywhere, the version stays. The first PUT of a created
    // user's own representation is not one: it stores the `primary` of its `roles` element (role_detail)
    // and bumps the version, so that one is made before measuring.
    if want(&["PUT /Users/{id} (no-op)"]) {
        let current: Vec<(String, Value, String)> = (16..32)
            .map(|j| {
                let path = format!("/scim/v2/Users/{}", ids[j]);
                let (first, _) = w.expect(200, Method::Get, &path, None);
                w.expect(200, Method::Put, &path, Some(&first));
                let (r, _) = w.call(Method::Get, &path, None);
                (path, r.json().unwrap(), r.header("etag").unwrap().to_owned())
            })
            .collect();
        let [put] = drive(budget, |k| {
            let (path, body, etag) = &current[k % current.len()];
            let (r, s) = w.call(Method::Put, path, Some(body));
            assert_eq!((r.status, r.header("etag")), (200, Some(etag.as_str())), "a no-op PUT wrote");
            [s]
        });
        add("PUT /Users/{id} (no-op)", put);
    }

    // Deactivate, then reactivate, users in turn (32 onwards).
    if want(&["PATCH active:false (deactivate)", "PATCH active:true (reactivate)"]) {
        let [off, on] = drive(budget, |k| {
            let path = format!("/scim/v2/Users/{}", ids[32 + k % (n - 32)]);
            let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
            let (body, off) = w.expect(200, Method::Patch, &path, Some(&deactivate));
            assert_eq!(body["active"], false);
            let reactivate = patch(json!([{"op": "replace", "value": {"active": true}}]));
            let (body, on) = w.expect(200, Method::Patch, &path, Some(&reactivate));
            assert_eq!(body["active"], true);
            [off, on]
        });
        add("PATCH active:false (deactivate)", off);
        add("PATCH active:true (reactivate)", on);
    }

    // Okta's check before each create of a push, the sync window passed between any two: the
    // census of control-panel users serves them (Fastly's list is read once per census).
    if want(&["GET ?filter=userName eq (miss, sync window passed)"]) {
        let [miss] = drive(budget, |k| {
            w.now.set(w.now.get() + SYNC_SECONDS + 1);
            let (body, s) = w.expect(200, Method::Get, &filter_path(&format!("new{k}@example.com")), None);
            assert_eq!(body["totalResults"], 0);
            [s]
        });
        add("GET ?filter=userName eq (miss, sync window passed)", miss);
    }

    // The first page of an import once the sync window has passed: the clock moves on by more than
    // the window before each. Last, since every stored user is then out of its window too.
    if want(&["GET ?startIndex=1&count=100 (sync window passed)"]) {
        let [stale] = drive(budget, |_| {
            w.now.set(w.now.get() + SYNC_SECONDS + 1);
            let (body, s) = w.expect(200, Method::Get, "/scim/v2/Users?startIndex=1&count=100", None);
            assert_eq!(body["Resources"].as_array().map(Vec::len), Some(100));
            [s]
        });
        add("GET ?startIndex=1&count=100 (sync window passed)", stale);
    }
    // In the order of the table (a stable sort: pages keep theirs, the stale one last).
    rows.sort_by_key(|r| ORDER.iter().rposition(|o| r.op.starts_with(o)).unwrap_or(ORDER.len()));
    out.extend(rows);
}

// --- the report --------------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        thousands(us.round() as usize)
    } else if us >= 10.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.1}")
    }
}

fn median_of(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn core_sorted(r: &Row) -> Vec<Duration> {
    let mut core: Vec<Duration> = r.m.samples.iter().map(|s| s.core).collect();
    core.sort_unstable();
    core
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| operation | users | median µs | p99 µs | iterations | first call µs | KV calls | Fastly calls \
         | in the Fastly fake µs | in the KV and cache fakes µs |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let core = core_sorted(r);
        let mut fake: Vec<Duration> = r.m.samples.iter().map(|s| s.fake).collect();
        fake.sort_unstable();
        let mut stores: Vec<Duration> = r.m.samples.iter().map(|s| s.stores).collect();
        stores.sort_unstable();
        let kv = median_of(r.m.samples.iter().map(|s| s.kv).collect());
        let fastly = median_of(r.m.samples.iter().map(|s| s.fastly).collect());
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {kv} | {fastly} | {} | {} |",
            r.op,
            thousands(r.users),
            micros(percentile(&core, 0.5)),
            micros(percentile(&core, 0.99)),
            thousands(r.m.samples.len()),
            micros(r.m.first.core),
            if fastly == 0 { "–".to_owned() } else { micros(percentile(&fake, 0.5)) },
            micros(percentile(&stores, 0.5)),
        );
    }
    out
}

/// The goal of the Performance issue: at most 500 µs of core CPU for a page of 100 (the slowest
/// offset's median, at each size), for pages read within the sync window and for the first page after it.
fn goal(rows: &[Row]) -> String {
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.users).collect();
    sizes.dedup();
    let worst = |n: usize, stale: bool| {
        rows.iter()
            .filter(|r| r.users == n && r.op.starts_with("GET ?startIndex") && r.op.contains("passed") == stale)
            .map(|r| percentile(&core_sorted(r), 0.5))
            .max()
            .map(|d| {
                let verdict = if d <= Duration::from_micros(500) { "met" } else { "not met" };
                format!("{} µs at {} users ({verdict})", micros(d), thousands(n))
            })
    };
    let within: Vec<String> = sizes.iter().filter_map(|&n| worst(n, false)).collect();
    let after: Vec<String> = sizes.iter().filter_map(|&n| worst(n, true)).collect();
    format!(
        "Goal, a page of 100 in at most 500 µs of core CPU (median, slowest offset): within the sync window {}; \
         the first page after it {}.",
        if within.is_empty() { "not measured".to_owned() } else { within.join(", ") },
        if after.is_empty() { "not measured".to_owned() } else { after.join(", ") },
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_CPU_USERS")
        .unwrap_or_else(|_| "1000 100000".into())
        .split_whitespace()
        .map(|s| s.parse().expect("BENCH_CPU_USERS: numbers of users, e.g. \"1000 100000\""))
        .collect();
    let seconds: f64 = std::env::var("BENCH_CPU_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut seeding = Vec::new();
    // `cargo bench --bench core -- startIndex PATCH` runs only the operations whose name contains one
    // of the words (cargo adds `--bench`).
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for &n in &sizes {
        run_size(n, budget, &only, &mut rows, &mut seeding);
    }
    let body = format!("{}\n{}\n", table(&rows), goal(&rows));
    println!("{body}");
    let elapsed = started.elapsed();
    eprintln!("core bench: {:.0} s in all", elapsed.as_secs_f64());
    if let Ok(path) = std::env::var("BENCH_CPU_OUT") {
        if !path.is_empty() {
            std::fs::write(&path, section(&body, &seeding, seconds, elapsed)).expect("BENCH_CPU_OUT: cannot write");
            eprintln!("core bench: written to {path}");
        }
    }
}

/// 1234567 → "1,234,567".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn section(body: &str, seeding: &[(usize, Duration)], seconds: f64, elapsed: Duration) -> String {
    let sizes: Vec<String> = seeding.iter().map(|(n, _)| n.to_string()).collect();
    let build = if cfg!(debug_assertions) {
        "an unoptimised build (not `cargo bench`: these figures are not the optimised ones)"
    } else {
        "the bench profile (the release settings: `opt-level = 2`, fat LTO)"
    };
    let seeded: Vec<String> =
        seeding.iter().map(|(n, d)| format!("{} users in {:.1} s", thousands(*n), d.as_secs_f64())).collect();
    format!(
        "## CPU per request (host, core handler)\n\n\
         `cargo bench --bench core` (`benches/core.rs`; `make bench-cpu`), with BENCH_CPU_USERS=\"{}\" and \
         BENCH_CPU_SECONDS={seconds}: {:.0} s in all. Each request goes through `app::handle` on one thread of \
         the host, built with {build}, against the in-memory KV store, token cache and Fastly API \
         (`MemoryStore`, `MemoryCache`, `MemoryFastly`). The token verdict is cached, the clock is fixed, and \
         the policy is the deployed one: a verified email domain, and 10 s in which a stored user is served \
         without asking Fastly (so reads of a user make no Fastly call). The account is seeded through \
         `POST /Users` ({}).\n\n\
         - **median / p99 µs**: wall time of one `handle` call, minus the time spent inside the fakes of the \
         Fastly API, the KV store and the POP cache: at the edge these are host calls that Fastly answers \
         (building the calls and parsing the answers are counted). p99 of fewer than \
         100 iterations is close to the slowest. **first call µs**: the first call of the warm-up, with cold \
         caches.\n\
         - **KV calls** and **Fastly calls** per request (median); **in the Fastly fake µs** and **in the KV and \
         cache fakes µs**: the median time excluded (the Fastly fake scans a list of every user, and \
         serialises them all for a user list; the KV fake is one ordered map of every key of the account).\n\
         - Pages are read at the first, the middle and the last full page, the clock standing still; then the \
         first page again, the clock moved on past the sync window before each request. Create is followed \
         by a delete of the new user, and deactivation by reactivation, so the account keeps its size. The \
         no-op PUT sends the user's own representation, as a GET showed it.\n\n\
         {body}",
        sizes.join(" "),
        elapsed.as_secs_f64(),
        seeded.join(", "),
    )
}
