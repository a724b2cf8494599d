//! An in-memory [`Store`] whose conditional writes are atomic. It also counts operations, so
//! tests can assert what each SCIM operation costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Entry, Page, Store, StoreError, Write};

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<String, Entry>>,
    next_generation: AtomicU64,
    pub counts: Counts,
}

#[derive(Default, Debug)]
pub struct Counts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub deletes: AtomicU64,
    pub lists: AtomicU64,
}

impl Counts {
    /// (reads, writes, deletes, lists)
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.reads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
            self.deletes.load(Ordering::SeqCst),
            self.lists.load(Ordering::SeqCst),
        )
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Entry>>, StoreError> {
        self.items.lock().map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }

    pub fn keys(&self) -> Vec<String> {
        self.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.counts.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.lock()?.get(key).cloned())
    }

    fn put(&self, key: &str, value: &[u8], write: Write) -> Result<(), StoreError> {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        let mut items = self.lock()?;
        let current = items.get(key).map(|e| e.generation);
        let allowed = match write {
            Write::Overwrite => true,
            Write::IfAbsent => current.is_none(),
            Write::IfGeneration(g) => current == Some(g),
        };
        if !allowed {
            return Err(StoreError::Conflict);
        }
        let generation = self.next_generation.fetch_add(1, Ordering::SeqCst) + 1;
        items.insert(key.to_owned(), Entry { value: value.to_vec(), generation });
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.counts.deletes.fetch_add(1, Ordering::SeqCst);
        self.lock()?.remove(key);
        Ok(())
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        let items = self.lock()?;
        let start = cursor.unwrap_or(prefix).to_owned();
        let mut keys: Vec<String> = items
            .range(start..)
            .map(|(k, _)| k)
            .filter(|k| Some(k.as_str()) != cursor)
            .take_while(|k| k.starts_with(prefix))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let next_cursor = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().cloned()
        } else {
            None
        };
        Ok(Page { keys, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_writes() {
        let s = MemoryStore::new();
        s.put("a", b"1", Write::IfAbsent).unwrap();
        assert_eq!(s.put("a", b"2", Write::IfAbsent), Err(StoreError::Conflict));
        let g = s.get("a").unwrap().unwrap().generation;
        assert_eq!(s.put("a", b"3", Write::IfGeneration(g + 7)), Err(StoreError::Conflict));
        s.put("a", b"3", Write::IfGeneration(g)).unwrap();
        assert_eq!(s.get("a").unwrap().unwrap().value, b"3");
    }

    #[test]
    fn list_pages_through_a_prefix() {
        let s = MemoryStore::new();
        for k in ["p/1", "p/2", "p/3", "q/1"] {
            s.put(k, b"", Write::Overwrite).unwrap();
        }
        let first = s.list("p/", None, 2).unwrap();
        assert_eq!(first.keys, vec!["p/1", "p/2"]);
        let second = s.list("p/", first.next_cursor.as_deref(), 2).unwrap();
        assert_eq!(second.keys, vec!["p/3"]);
        assert!(second.next_cursor.is_none());
    }

    #[test]
    fn concurrent_claims_have_one_winner() {
        let s = std::sync::Arc::new(MemoryStore::new());
        let winners: usize = (0..16)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.put("claim", b"x", Write::IfAbsent).is_ok())
            })
            .map(|h| h.join().unwrap() as usize)
            .sum();
        assert_eq!(winners, 1);
    }
}
