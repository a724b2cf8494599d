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

use super::{directory, Ctx};
use crate::scim::error::ScimResult;
use crate::upstream::FastlyUser;

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

/// The control-panel users of the last snapshot, for lookups by login (Okta's check before a
/// create) that would otherwise read Fastly's whole list each time.
#[derive(Debug, Serialize, Deserialize)]
struct Unlinked {
    built: u64,
    users: Vec<FastlyUser>,
}

fn unlinked_key(tenant: &str) -> String {
    format!("import/{tenant}/unlinked")
}

fn head_key(tenant: &str) -> String {
    format!("import/{tenant}/head")
}

fn chunk_key(tenant: &str, head: &Head, n: usize) -> String {
    format!("import/{tenant}/{}/{}/{n}", head.version, head.built)
}

/// The entries of the account, sorted by id (so pages are stable whatever their size), read
/// afresh: the directory's shards and Fastly's user list. A snapshot to be kept is labelled
/// with the directory version read before it, so a change that lands meanwhile makes it stale.
pub fn build(ctx: &Ctx<'_>) -> ScimResult<Vec<Entry>> {
    let fastly = ctx.api.list_users(&ctx.tenant.customer_id)?;
    let stored = directory::read_all(ctx)?;
    // Each Fastly user is moved into one entry, not copied: at 100,000 users the list is tens of MB.
    let mut by_id: HashMap<String, FastlyUser> = fastly.into_iter().map(|u| (u.id.clone(), u)).collect();
    let mut entries: Vec<Entry> = Vec::with_capacity(stored.len() + by_id.len());
    for (id, linked) in stored {
        let seen = linked.as_deref().and_then(|f| by_id.remove(f)).map(|u| Seen { role: u.role, roles: u.roles });
        // A control-panel user adopted under its Fastly id is the record, not a second user.
        by_id.remove(&id);
        entries.push(Entry { id, stored: true, linked, seen, unlinked: None });
    }
    for (id, u) in by_id {
        entries.push(Entry { id, stored: false, linked: None, seen: None, unlinked: Some(Box::new(u)) });
    }
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(entries)
}

/// Keeps a snapshot in the POP cache (best effort: an uncached snapshot is only built again).
fn keep(ctx: &Ctx<'_>, version: String, entries: &[Entry]) {
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
    let users = entries.iter().filter_map(|e| e.unlinked.as_deref().cloned()).collect();
    if let Ok(bytes) = serde_json::to_vec(&Unlinked { built: ctx.now, users }) {
        ctx.cache.put(&unlinked_key(tenant), &bytes, IMPORT_WINDOW_SECS);
    }
}

/// The account's control-panel users as of at most `fastly_sync_seconds` ago, and whether they
/// were read from Fastly in this request. Not tied to the directory version (every create changes
/// it): the caller leaves out users adopted since, and confirms a cached one is still there.
pub fn unlinked(ctx: &Ctx<'_>) -> ScimResult<(Vec<FastlyUser>, bool)> {
    let cached: Option<Unlinked> =
        ctx.cache.get(&unlinked_key(&ctx.tenant.customer_id)).and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(u) = cached.filter(|u| ctx.now.saturating_sub(u.built) < ctx.policy.sync_seconds) {
        return Ok((u.users, false));
    }
    let version = directory::version(ctx)?;
    let entries = build(ctx)?;
    keep(ctx, version, &entries);
    Ok((entries.into_iter().filter_map(|e| e.unlinked.map(|u| *u)).collect(), true))
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
    let entries = build(ctx)?;
    keep(ctx, version, &entries);
    let total = entries.len();
    let range = range_of(total);
    let entries = entries.into_iter().skip(range.start).take(range.len()).collect();
    Ok(Page { total, entries, built: ctx.now, fresh: true })
}
