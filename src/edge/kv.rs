//! [`Store`] over a Fastly KV store. Conditional writes map to `InsertMode::Add` and
//! `if_generation_match`; both fail with `ItemPreconditionFailed` when the condition is false.

use fastly::kv_store::{InsertMode, KVStore, KVStoreError};

use crate::store::{Entry, Page, Store, StoreError, Write};

pub struct KvStore {
    kv: KVStore,
}

impl KvStore {
    pub fn open(name: &str) -> Result<Self, String> {
        match KVStore::open(name) {
            Ok(Some(kv)) => Ok(KvStore { kv }),
            Ok(None) => Err(format!("KV store '{name}' is not linked to this service")),
            Err(e) => Err(format!("KV store '{name}' could not be opened: {e}")),
        }
    }
}

/// Lookups [`Store::get_many`] keeps in flight together.
const LOOKUPS_IN_FLIGHT: usize = 32;

fn unavailable(e: KVStoreError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Store for KvStore {
    fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        match self.kv.lookup(key) {
            Ok(mut r) => Ok(Some(Entry { value: r.take_body_bytes(), generation: r.current_generation() })),
            Err(KVStoreError::ItemNotFound) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        // A few dozen in flight at a time: Fastly documents no limit on pending lookups.
        for batch in keys.chunks(LOOKUPS_IN_FLIGHT) {
            let pending: Vec<_> = batch.iter().map(|k| self.kv.build_lookup().execute_async(k)).collect();
            for lookup in pending {
                out.push(match lookup.and_then(|h| self.kv.pending_lookup_wait(h)) {
                    Ok(mut r) => Some(Entry { value: r.take_body_bytes(), generation: r.current_generation() }),
                    Err(KVStoreError::ItemNotFound) => None,
                    Err(e) => return Err(unavailable(e)),
                });
            }
        }
        Ok(out)
    }

    fn put(&self, key: &str, value: &[u8], write: Write) -> Result<(), StoreError> {
        let builder = self.kv.build_insert();
        let builder = match write {
            Write::Overwrite => builder,
            Write::IfAbsent => builder.mode(InsertMode::Add),
            Write::IfGeneration(g) => builder.if_generation_match(g),
        };
        match builder.execute(key, value.to_vec()) {
            Ok(()) => Ok(()),
            Err(KVStoreError::ItemPreconditionFailed) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.kv.delete(key) {
            Ok(()) | Err(KVStoreError::ItemNotFound) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let mut b = self.kv.build_list().prefix(prefix).limit(u32::try_from(limit).unwrap_or(u32::MAX));
        if let Some(c) = cursor {
            b = b.cursor(c);
        }
        let page = b.execute().map_err(unavailable)?;
        Ok(Page { keys: page.keys().to_vec(), next_cursor: page.next_cursor().filter(|c| !c.is_empty()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KvStore {
        KvStore::open(crate::edge::KV_STORE).unwrap()
    }

    #[test]
    fn conditional_writes_hold_in_the_kv_store() {
        let s = store();
        s.put("test/claim", b"a", Write::IfAbsent).unwrap();
        assert_eq!(s.put("test/claim", b"b", Write::IfAbsent), Err(StoreError::Conflict));
        let e = s.get("test/claim").unwrap().unwrap();
        assert_eq!(e.value, b"a");
        assert_eq!(s.put("test/claim", b"c", Write::IfGeneration(e.generation + 1)), Err(StoreError::Conflict));
        s.put("test/claim", b"c", Write::IfGeneration(e.generation)).unwrap();
        assert_eq!(s.get("test/claim").unwrap().unwrap().value, b"c");
        s.delete("test/claim").unwrap();
        assert_eq!(s.get("test/claim").unwrap(), None);
        s.delete("test/claim").unwrap();
    }

    #[test]
    fn many_lookups_in_flight_answer_in_order() {
        let s = store();
        // More than one batch, every other key missing.
        let keys: Vec<String> = (0..LOOKUPS_IN_FLIGHT * 2 + 5).map(|i| format!("test/many/{i}")).collect();
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            s.put(k, i.to_string().as_bytes(), Write::Overwrite).unwrap();
        }
        let found = s.get_many(&keys).unwrap();
        assert_eq!(found.len(), keys.len());
        for (i, (k, e)) in keys.iter().zip(&found).enumerate() {
            match e {
                Some(e) => {
                    assert_eq!(e.value, i.to_string().as_bytes(), "{k}");
                    assert_eq!(e.generation, s.get(k).unwrap().unwrap().generation);
                }
                None => assert_eq!(i % 2, 1, "{k}"),
            }
        }
        assert_eq!(s.get_many(&[]).unwrap(), Vec::<Option<Entry>>::new());
    }

    #[test]
    fn list_pages_by_prefix() {
        let s = store();
        for i in 0..5 {
            s.put(&format!("test/list/{i}"), b"", Write::Overwrite).unwrap();
        }
        s.put("test/other", b"", Write::Overwrite).unwrap();
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = s.list("test/list/", cursor.as_deref(), 2).unwrap();
            assert!(page.keys.len() <= 2);
            all.extend(page.keys);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(all, (0..5).map(|i| format!("test/list/{i}")).collect::<Vec<_>>());
    }
}
