//! [`Cache`] over Fastly's POP-local cache (the Core Cache API): short-lived facts that every
//! request would otherwise fetch again, such as token verdicts. Not durable, and not shared
//! between POPs, which is what such facts need.

use std::io::Write;
use std::time::Duration;

use fastly::cache::core::{self, CacheKey};

use crate::cache::Cache;

/// Values up to this size (token verdicts, snapshot heads) are kept in the item's user metadata,
/// which the lookup answers in one host call; larger ones (snapshot chunks) are its body, which
/// takes a body handle and a stream. Under Viceroy, reading a body costs a token check about a
/// fifth of a request's time.
const IN_METADATA: usize = 4 * 1024;

pub struct EdgeCache;

impl Cache for EdgeCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let found = core::lookup(CacheKey::copy_from_slice(key.as_bytes())).execute().ok().flatten()?;
        // Values are never empty (JSON): empty metadata means the value is the body.
        let metadata = found.user_metadata();
        if !metadata.is_empty() {
            return Some(metadata.to_vec());
        }
        Some(found.to_stream().ok()?.into_bytes())
    }

    fn put(&self, key: &str, value: &[u8], ttl_seconds: u64) {
        let insert = core::insert(CacheKey::copy_from_slice(key.as_bytes()), Duration::from_secs(ttl_seconds));
        let (insert, body) = if value.len() <= IN_METADATA && !value.is_empty() {
            (insert.user_metadata(value.to_vec().into()).known_length(0), &[][..])
        } else {
            (insert.known_length(value.len() as u64), value)
        };
        if let Ok(mut stream) = insert.execute() {
            // A value that cannot be cached only costs a later request a fresh check.
            if stream.write_all(body).is_ok() {
                let _ = stream.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_cache() {
        let c = EdgeCache;
        assert_eq!(c.get("test/cache/missing"), None);
        c.put("test/cache/k", b"verdict", 60);
        assert_eq!(c.get("test/cache/k").as_deref(), Some(&b"verdict"[..]));
        // Past the metadata's share: the body.
        let chunk: Vec<u8> = (0..IN_METADATA + 1).map(|i| b'a' + (i % 26) as u8).collect();
        c.put("test/cache/chunk", &chunk, 60);
        assert_eq!(c.get("test/cache/chunk"), Some(chunk));
    }
}
