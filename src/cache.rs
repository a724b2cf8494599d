//! A short-lived, POP-local cache for facts that are cheap to recompute but costly to fetch on
//! every request (token verdicts). At the edge it is Fastly's cache; in tests, memory.

use std::collections::HashMap;
use std::sync::Mutex;

pub trait Cache {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Best effort: a value that cannot be cached is simply fetched again later.
    fn put(&self, key: &str, value: &[u8], ttl_seconds: u64);
}

/// An in-memory cache that ignores time-to-live (callers check their own expiry).
#[derive(Default)]
pub struct MemoryCache {
    items: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn keys(&self) -> Vec<String> {
        self.items.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

impl Cache for MemoryCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.items.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: &str, value: &[u8], _ttl_seconds: u64) {
        if let Ok(mut items) = self.items.lock() {
            items.insert(key.to_owned(), value.to_vec());
        }
    }
}
