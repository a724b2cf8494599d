//! The directory: which users the store holds, and the Fastly user each is linked to, kept in
//! [`SHARDS`] documents per account so that an import can enumerate the account with a fixed
//! number of reads instead of a key listing (KV key listings are slow at the edge and grow
//! with the account).
//!
//! Every change to the directory also writes a fresh version token. Import snapshots (see
//! `snapshot`) name the version they were built from, so a snapshot older than a change of ours
//! is never served. Writers write the shard before the version, and snapshot builds read the
//! version before the shards, so a snapshot can only be labelled older than what it holds.

use std::borrow::Cow;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{load_stored, store_err, Ctx, MAX_ATTEMPTS};
use crate::scim::error::{ScimError, ScimResult};
use crate::store::{keys, Write};
use crate::text::Text;

/// Documents per account: at 100,000 users each holds about 1,600 entries (~90 KB).
pub const SHARDS: usize = 64;

/// SCIM id → the linked Fastly id ("" when the record is not linked, e.g. deactivated), borrowed
/// from the shard's bytes: at 100,000 users a shard holds ~1,600 entries, and every create,
/// deactivation or delete reads and writes one.
type Shard<'a> = BTreeMap<Text<'a>, Text<'a>>;

fn shard_of(id: &str) -> usize {
    Sha256::digest(id.as_bytes()).first().map_or(0, |b| usize::from(*b) % SHARDS)
}

/// A shard's bytes and generation (no bytes and `None` when it was never written).
fn read_shard(ctx: &Ctx<'_>, n: usize) -> ScimResult<(Vec<u8>, Option<u64>)> {
    match ctx.store.get(&keys::directory_shard(&ctx.tenant.customer_id, n)).map_err(store_err)? {
        Some(e) => Ok((e.value, Some(e.generation))),
        None => Ok((Vec::new(), None)),
    }
}

fn parse_shard(bytes: &[u8]) -> ScimResult<Shard<'_>> {
    if bytes.is_empty() {
        return Ok(Shard::new());
    }
    // A shard that does not parse is a bug, not a client error: say so rather than lose it.
    serde_json::from_slice(bytes).map_err(|_| ScimError::internal())
}

fn owned(s: &str) -> Text<'static> {
    Text(Cow::Owned(s.to_owned()))
}

/// The current version token; builds the directory first when this account has none yet.
pub fn version(ctx: &Ctx<'_>) -> ScimResult<String> {
    let key = keys::directory_version(&ctx.tenant.customer_id);
    if let Some(e) = ctx.store.get(&key).map_err(store_err)? {
        return Ok(String::from_utf8_lossy(&e.value).into_owned());
    }
    bootstrap(ctx)
}

fn bump(ctx: &Ctx<'_>) -> ScimResult<String> {
    let token = format!("{}-{}", ctx.now, (ctx.new_id)());
    let key = keys::directory_version(&ctx.tenant.customer_id);
    ctx.store.put(&key, token.as_bytes(), Write::Overwrite).map_err(store_err)?;
    Ok(token)
}

/// Applies `change` to the shard of `id` with compare-and-set; a change that changes nothing
/// writes nothing.
fn update(ctx: &Ctx<'_>, id: &str, change: impl Fn(&mut Shard<'_>) -> bool) -> ScimResult<()> {
    version(ctx)?;
    let n = shard_of(id);
    let key = keys::directory_shard(&ctx.tenant.customer_id, n);
    for _ in 0..MAX_ATTEMPTS {
        let (bytes, generation) = read_shard(ctx, n)?;
        let mut shard = parse_shard(&bytes)?;
        if !change(&mut shard) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&shard).map_err(|_| ScimError::internal())?;
        let write = generation.map_or(Write::IfAbsent, Write::IfGeneration);
        match ctx.store.put(&key, &bytes, write) {
            Ok(()) => return bump(ctx).map(drop),
            Err(crate::store::StoreError::Conflict) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(ScimError::uniqueness("the account's directory is being changed concurrently; retry the request"))
}

/// The store holds `id`, linked to `fastly_id`.
pub fn record(ctx: &Ctx<'_>, id: &str, fastly_id: Option<&str>) -> ScimResult<()> {
    let linked = fastly_id.unwrap_or_default();
    update(ctx, id, |shard| {
        if shard.get(id).map(|l| &**l) == Some(linked) {
            return false;
        }
        shard.insert(owned(id), owned(linked));
        true
    })
}

/// The store no longer holds `id`.
pub fn forget(ctx: &Ctx<'_>, id: &str) -> ScimResult<()> {
    update(ctx, id, |shard| shard.remove(id).is_some())
}

/// The account's users changed without a change to the store (a control-panel user deleted
/// through SCIM): snapshots built before must not be served.
pub fn touch(ctx: &Ctx<'_>) -> ScimResult<()> {
    bump(ctx).map(drop)
}

/// The directory's shards as stored, read in one pass by [`read_all`].
pub struct Stored(Vec<Vec<u8>>);

impl Stored {
    /// Every stored user of the account and its Fastly link (`None` when not linked), borrowed
    /// from the shards, in no particular order.
    pub fn users(&self) -> ScimResult<Vec<(Text<'_>, Option<Text<'_>>)>> {
        let mut out = Vec::new();
        for bytes in &self.0 {
            out.extend(parse_shard(bytes)?.into_iter().map(|(id, fid)| (id, Some(fid).filter(|f| !f.is_empty()))));
        }
        Ok(out)
    }
}

/// Every shard of the account's directory.
pub fn read_all(ctx: &Ctx<'_>) -> ScimResult<Stored> {
    let tenant = &ctx.tenant.customer_id;
    let shard_keys: Vec<String> = (0..SHARDS).map(|n| keys::directory_shard(tenant, n)).collect();
    let shards = ctx.store.get_many(&shard_keys).map_err(store_err)?;
    Ok(Stored(shards.into_iter().map(|e| e.map(|e| e.value).unwrap_or_default()).collect()))
}

/// Builds the directory of an account whose records were stored before it existed: one key
/// listing and one read per record, once. Merges into the shards, so a concurrent change is
/// kept.
fn bootstrap(ctx: &Ctx<'_>) -> ScimResult<String> {
    let tenant = &ctx.tenant.customer_id;
    let prefix = keys::users_prefix(tenant);
    let mut shards: BTreeMap<usize, Shard<'static>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx.store.list(&prefix, cursor.as_deref(), 1000).map_err(store_err)?;
        for id in page.keys.iter().filter_map(|k| k.strip_prefix(&prefix)) {
            if let Some(l) = load_stored(ctx, id)? {
                let fid = l.record.fastly_id.unwrap_or_default();
                shards.entry(shard_of(id)).or_default().insert(owned(id), Text(Cow::Owned(fid)));
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for (n, found) in shards {
        let key = keys::directory_shard(tenant, n);
        let mut merged = false;
        for _ in 0..MAX_ATTEMPTS {
            let (bytes, generation) = read_shard(ctx, n)?;
            let mut shard = parse_shard(&bytes)?;
            for (id, fid) in &found {
                shard.entry(id.clone()).or_insert_with(|| fid.clone());
            }
            let bytes = serde_json::to_vec(&shard).map_err(|_| ScimError::internal())?;
            match ctx.store.put(&key, &bytes, generation.map_or(Write::IfAbsent, Write::IfGeneration)) {
                Ok(()) => {
                    merged = true;
                    break;
                }
                Err(crate::store::StoreError::Conflict) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        if !merged {
            return Err(ScimError::service_unavailable("the account's directory could not be built; retry"));
        }
    }
    bump(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_ids() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..1000 {
            let s = shard_of(&format!("id-{n}"));
            assert!(s < SHARDS);
            seen.insert(s);
        }
        assert_eq!(seen.len(), SHARDS);
    }
}
