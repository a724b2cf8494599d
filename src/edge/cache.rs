//! [`Cache`] over Fastly's POP-local cache (the Core Cache API): short-lived facts that every
//! request would otherwise fetch again, such as token verdicts. Not durable, and not shared
//! between POPs, which is what such facts need.

use std::io::Write;
use std::time::Duration;

use fastly::cache::core::{self, CacheKey};

use crate::cache::Cache;

pub struct EdgeCache;

impl Cache for EdgeCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let found = core::lookup(CacheKey::copy_from_slice(key.as_bytes())).execute().ok().flatten()?;
        let body = found.to_stream().ok()?;
        Some(body.into_bytes())
    }

    fn put(&self, key: &str, value: &[u8], ttl_seconds: u64) {
        let insert = core::insert(CacheKey::copy_from_slice(key.as_bytes()), Duration::from_secs(ttl_seconds))
            .known_length(value.len() as u64)
            .execute();
        if let Ok(mut body) = insert {
            // A value that cannot be cached only costs a later request a fresh check.
            if body.write_all(value).is_ok() {
                let _ = body.finish();
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
    }
}
