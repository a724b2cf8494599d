//! Import snapshots: the ordered list of every user of the account (stored records and
//! control-panel users), kept in the POP cache in chunks, so that a page of an import reads
//! one or two chunks and the records on the page, whatever the size of the account.
//!
//! Fastly's user list has no paging, so knowing the account's users (and `totalResults`) means
//! reading all of it: a snapshot does that once and serves the pages that follow.
//! - A snapshot is served only while the directory version it was built from is current, so
//!   a change made through scim-edge is never hidden from an import.
//! - The first page of an import (`startIndex=1`) starts from a snapshot at most
//!   `fastly_sync_seconds` old, as reads do; later pages use the same snapshot for up to
//!   [`IMPORT_WINDOW_SECS`], so an import sees one consistent account.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{directory, Ctx};
use crate::scim::error::{ScimError, ScimResult};
use crate::store::keys;
use crate::text::Text;
use crate::upstream::{FastlyUser, ListedUser};

/// How long the pages after the first may follow one snapshot (an import of 100,000 users
/// at a page a second takes about 17 minutes).
pub const IMPORT_WINDOW_SECS: u64 = 30 * 60;
/// Entries per cached chunk: Okta's pages of 100 read one chunk each (any other page, two).
const CHUNK: usize = 100;

/// One user of the account, in import order. Short field names: a snapshot of 100,000 users
/// is parsed a chunk at a time, and a chunk per page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// A stored record (else a control-panel user, shown from `unlinked`).
    #[serde(rename = "s", default, skip_serializing_if = "std::ops::Not::not")]
    pub stored: bool,
    /// For a stored record: the Fastly id it was linked to when the snapshot was built.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<String>,
    /// What Fastly's list said of that linked user; `None` when the list did not have it.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
    /// A control-panel user, as Fastly's list gave it.
    /// Boxed: most entries are stored records, and 100,000 entries are held at once.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub unlinked: Option<Box<FastlyUser>>,
}

/// The part of a linked Fastly user that its record takes in: the roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
}

impl Seen {
    pub fn as_user(&self) -> FastlyUser {
        FastlyUser {
            id: String::new(),
            login: String::new(),
            name: None,
            role: self.role.clone(),
            roles: self.roles.clone(),
            customer_id: None,
            created_at: None,
            updated_at: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    /// The directory version the snapshot was built from.
    version: String,
    /// Unix seconds; also names the chunks, so a newer snapshot never mixes with an older one.
    built: u64,
    total: usize,
}

/// How long lookups by login follow one census of the control-panel users (Okta and Entra look
/// a userName up before each create). A user made in the control panel since is not found by
/// such a lookup; the create that follows it adopts that user (Fastly answers 409 to its login),
/// so the check-then-create still links it. Within this time a push of many users reads
/// Fastly's whole list once, not once per `fastly_sync_seconds`.
pub const CENSUS_SECS: u64 = IMPORT_WINDOW_SECS;
/// Control-panel users per census shard, about: a lookup by login parses one shard.
const CENSUS_SHARD_USERS: usize = 256;

/// The census of control-panel users: when it was taken, and into how many shards (by login)
/// it was cut.
#[derive(Debug, Serialize, Deserialize)]
struct CensusHead {
    built: u64,
    shards: usize,
}

fn census_key(tenant: &str) -> String {
    format!("import/{tenant}/unlinked")
}

fn census_shard_key(tenant: &str, head: &CensusHead, n: usize) -> String {
    format!("import/{tenant}/unlinked/{}/{n}", head.built)
}

/// The census shard of a login, folded as [`keys::fold`] folds it.
fn census_shard_of(folded_login: &str, shards: usize) -> usize {
    let hash = Sha256::digest(folded_login.as_bytes()).iter().take(4).fold(0usize, |h, b| h << 8 | usize::from(*b));
    hash % shards.max(1)
}

fn head_key(tenant: &str) -> String {
    format!("import/{tenant}/head")
}

fn chunk_key(tenant: &str, head: &Head, n: usize) -> String {
    format!("import/{tenant}/{}/{}/{n}", head.version, head.built)
}

/// An entry as a snapshot build holds it: borrowed from Fastly's answer and the directory, and
/// written as an [`Entry`] (the same names), so that only the entries a request returns are
/// ever made owned.
#[derive(Serialize)]
struct Built<'a> {
    id: &'a str,
    #[serde(rename = "s", skip_serializing_if = "std::ops::Not::not")]
    stored: bool,
    #[serde(rename = "l", skip_serializing_if = "Option::is_none")]
    linked: Option<&'a str>,
    #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
    seen: Option<SeenRef<'a>>,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    unlinked: Option<&'a ListedUser<'a>>,
}

#[derive(Serialize)]
struct SeenRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [Text<'a>]>,
}

impl Built<'_> {
    fn to_entry(&self) -> Entry {
        Entry {
            id: self.id.to_owned(),
            stored: self.stored,
            linked: self.linked.map(str::to_owned),
            seen: self.seen.as_ref().map(|s| Seen {
                role: s.role.map(|r| r.to_string()),
                roles: s.roles.map(|r| r.iter().map(|t| t.to_string()).collect()),
            }),
            unlinked: self.unlinked.map(|u| Box::new(u.to_owned())),
        }
    }
}

/// Reads the account afresh (the directory's shards and Fastly's user list) and hands its
/// entries, sorted by id (so pages are stable whatever their size), to `take`. At 100,000 users
/// Fastly's answer is tens of MB: its strings and the directory's are borrowed, never copied,
/// and each user becomes one entry.
fn with_built<R>(ctx: &Ctx<'_>, take: impl FnOnce(&[Built<'_>]) -> R) -> ScimResult<R> {
    let (mut take, mut out) = (Some(take), None);
    build_into(ctx, &mut |entries| out = take.take().map(|take| take(entries)))?;
    out.ok_or_else(ScimError::internal)
}

/// [`with_built`]'s work, not generic: one copy in the module, whatever its callers want.
fn build_into(ctx: &Ctx<'_>, take: &mut dyn FnMut(&[Built<'_>])) -> ScimResult<()> {
    let list = ctx.api.list_users(&ctx.tenant.customer_id)?;
    let fastly = list.users()?;
    let directory = directory::read_all(ctx)?;
    let stored = directory.users()?;
    let index: HashMap<&str, usize> = fastly.iter().enumerate().map(|(i, u)| (&*u.id, i)).collect();
    // Fastly users that belong to a stored record; the others are control-panel users.
    let mut taken = vec![false; fastly.len()];
    let mut take_user = |id: &str| {
        let i = *index.get(id)?;
        *taken.get_mut(i)? = true;
        fastly.get(i)
    };
    let mut entries: Vec<Built<'_>> = Vec::with_capacity(stored.len() + fastly.len());
    for (id, linked) in &stored {
        let seen = linked
            .as_deref()
            .and_then(&mut take_user)
            .map(|u| SeenRef { role: u.role.as_ref(), roles: u.roles.as_deref() });
        // A control-panel user adopted under its Fastly id is the record, not a second user.
        take_user(id);
        entries.push(Built { id, stored: true, linked: linked.as_deref(), seen, unlinked: None });
    }
    for (u, _) in fastly.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        entries.push(Built { id: &u.id, stored: false, linked: None, seen: None, unlinked: Some(u) });
    }
    // Ids are unique: a record and a Fastly user with one id became one entry above.
    entries.sort_unstable_by(|a, b| a.id.cmp(b.id));
    take(&entries);
    Ok(())
}

/// Keeps a snapshot in the POP cache (best effort: an uncached snapshot is only built again).
fn keep(ctx: &Ctx<'_>, version: String, entries: &[Built<'_>]) {
    let tenant = &ctx.tenant.customer_id;
    let head = Head { version, built: ctx.now, total: entries.len() };
    for (n, chunk) in entries.chunks(CHUNK).enumerate() {
        match serde_json::to_vec(chunk) {
            Ok(bytes) => ctx.cache.put(&chunk_key(tenant, &head, n), &bytes, IMPORT_WINDOW_SECS),
            Err(_) => return,
        }
    }
    if let Ok(bytes) = serde_json::to_vec(&head) {
        ctx.cache.put(&head_key(tenant), &bytes, IMPORT_WINDOW_SECS);
    }
    keep_census(ctx, entries);
}

/// Writes the census of control-panel users in shards of about [`CENSUS_SHARD_USERS`], then its
/// head: a lookup reads the head and the one shard its login falls in.
fn keep_census(ctx: &Ctx<'_>, entries: &[Built<'_>]) {
    let tenant = &ctx.tenant.customer_id;
    let users: Vec<&ListedUser<'_>> = entries.iter().filter_map(|e| e.unlinked).collect();
    let head = CensusHead { built: ctx.now, shards: users.len().div_ceil(CENSUS_SHARD_USERS).max(1) };
    let mut shards: Vec<Vec<&ListedUser<'_>>> = vec![Vec::new(); head.shards];
    for u in users {
        if let Some(shard) = shards.get_mut(census_shard_of(&keys::fold(&u.login), head.shards)) {
            shard.push(u);
        }
    }
    for (n, shard) in shards.iter().enumerate() {
        match serde_json::to_vec(shard) {
            Ok(bytes) => ctx.cache.put(&census_shard_key(tenant, &head, n), &bytes, CENSUS_SECS),
            Err(_) => return,
        }
    }
    if let Ok(bytes) = serde_json::to_vec(&head) {
        ctx.cache.put(&census_key(tenant), &bytes, CENSUS_SECS);
    }
}

/// The census's control-panel users with this login, as of at most [`CENSUS_SECS`] ago.
fn census_with_login(ctx: &Ctx<'_>, folded_login: &str) -> Option<Vec<FastlyUser>> {
    let tenant = &ctx.tenant.customer_id;
    let head: CensusHead = serde_json::from_slice(&ctx.cache.get(&census_key(tenant))?).ok()?;
    if ctx.now.saturating_sub(head.built) >= CENSUS_SECS {
        return None;
    }
    let shard = ctx.cache.get(&census_shard_key(tenant, &head, census_shard_of(folded_login, head.shards)))?;
    let users: Vec<FastlyUser> = serde_json::from_slice(&shard).ok()?;
    Some(users.into_iter().filter(|u| keys::fold(&u.login) == folded_login).collect())
}

/// The account's control-panel users with this login (there is at most one, unless Fastly's
/// logins differ only in case), and whether they were read from Fastly in this request. From the
/// census when it is younger than [`CENSUS_SECS`]; not tied to the directory version (every
/// create changes it): the caller leaves out users adopted since, and confirms a cached one is
/// still there.
pub fn unlinked_with_login(ctx: &Ctx<'_>, login: &str) -> ScimResult<(Vec<FastlyUser>, bool)> {
    let folded = keys::fold(login);
    if let Some(users) = census_with_login(ctx, &folded) {
        return Ok((users, false));
    }
    let version = directory::version(ctx)?;
    let users = with_built(ctx, |entries| {
        keep(ctx, version, entries);
        let mut found: Vec<FastlyUser> = Vec::new();
        for u in entries.iter().filter_map(|e| e.unlinked) {
            if keys::fold(&u.login) == folded {
                found.push(u.to_owned());
            }
        }
        found
    })?;
    Ok((users, true))
}

/// The cached snapshot's entries in `range`, or `None` when a chunk is missing.
fn cached_range(ctx: &Ctx<'_>, head: &Head, range: Range<usize>) -> Option<Vec<Entry>> {
    let tenant = &ctx.tenant.customer_id;
    let mut out = Vec::with_capacity(range.len());
    if range.is_empty() {
        return Some(out);
    }
    let (first, last) = (range.start / CHUNK, (range.end - 1) / CHUNK);
    for n in first..=last {
        let chunk: Vec<Entry> = serde_json::from_slice(&ctx.cache.get(&chunk_key(tenant, head, n))?).ok()?;
        let from = range.start.saturating_sub(n * CHUNK);
        let to = (range.end - n * CHUNK).min(chunk.len());
        out.extend(chunk.into_iter().take(to).skip(from));
    }
    Some(out)
}

/// One page of an import.
pub struct Page {
    pub total: usize,
    pub entries: Vec<Entry>,
    /// Unix seconds when the snapshot read Fastly's list.
    pub built: u64,
    /// Read from Fastly in this request (not from the cache).
    pub fresh: bool,
}

/// One page of the account: its total and the entries in the page's range.
pub fn page(ctx: &Ctx<'_>, start_index: usize, range_of: impl Fn(usize) -> Range<usize>) -> ScimResult<Page> {
    let version = directory::version(ctx)?;
    let head: Option<Head> =
        ctx.cache.get(&head_key(&ctx.tenant.customer_id)).and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(head) = head.filter(|h| h.version == version) {
        let age = ctx.now.saturating_sub(head.built);
        let limit = if start_index <= 1 { ctx.policy.sync_seconds } else { IMPORT_WINDOW_SECS };
        if age < limit {
            if let Some(entries) = cached_range(ctx, &head, range_of(head.total)) {
                return Ok(Page { total: head.total, entries, built: head.built, fresh: false });
            }
        }
    }
    let (total, entries) = with_built(ctx, |entries| {
        keep(ctx, version, entries);
        let range = range_of(entries.len());
        (entries.len(), entries.get(range).unwrap_or_default().iter().map(Built::to_entry).collect())
    })?;
    Ok(Page { total, entries, built: ctx.now, fresh: true })
}
