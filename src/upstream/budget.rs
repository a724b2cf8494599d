//! The Fastly API allows 1,000 writes an hour per user, in fixed windows that end at the top of
//! the hour. When Fastly says the budget is spent, scim-edge remembers until when, and answers
//! 429 with `Retry-After` without spending a call that would only fail.

use serde::{Deserialize, Serialize};

use crate::store::{keys, Store, Write};

/// Where the exhausted window of one token is remembered.
pub struct Budget<'a> {
    store: &'a dyn Store,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct Spent {
    /// Unix seconds at which Fastly resets the window.
    reset: u64,
}

impl<'a> Budget<'a> {
    /// `token_digest` identifies the Fastly user the limit applies to (via its token).
    pub fn new(store: &'a dyn Store, customer_id: &str, token_digest: &str) -> Self {
        Budget { store, key: keys::budget(customer_id, token_digest) }
    }

    /// `Some(seconds)` to wait when the window is known to be spent.
    pub fn wait(&self, now: u64) -> Option<u64> {
        let entry = self.store.get(&self.key).ok().flatten()?;
        let spent: Spent = serde_json::from_slice(&entry.value).ok()?;
        (spent.reset > now).then(|| spent.reset - now)
    }

    /// Takes in what a write's answer said. Only a spent budget is stored: that is the only
    /// state that changes a decision, so a healthy write costs no extra store write.
    pub fn observe(&self, remaining: Option<u64>, reset: Option<u64>, status: u16) {
        let spent = remaining == Some(0) || status == 429;
        if let (true, Some(reset)) = (spent, reset) {
            if let Ok(bytes) = serde_json::to_vec(&Spent { reset }) {
                // Losing this only costs one refused call later.
                let _ = self.store.put(&self.key, &bytes, Write::Overwrite);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn remembers_a_spent_window_until_it_resets() {
        let store = MemoryStore::new();
        let b = Budget::new(&store, "C1", "tok");
        assert_eq!(b.wait(100), None);
        b.observe(Some(5), Some(3600), 200);
        assert_eq!(b.wait(100), None, "a healthy budget is not stored");
        assert_eq!(store.counts.snapshot().1, 0);
        b.observe(Some(0), Some(3600), 200);
        assert_eq!(b.wait(100), Some(3500));
        assert_eq!(b.wait(3600), None, "the next window is open");
        assert_eq!(Budget::new(&store, "C2", "tok").wait(100), None, "budgets are per tenant");
    }
}
