//! Where SCIM state lives: a key-value store with compare-and-set. The edge uses a Fastly KV
//! store; tests use [`memory::MemoryStore`], whose compare-and-set is atomic, so concurrency
//! rules are proven on the host.

pub mod keys;
pub mod memory;

/// One stored value and the generation that a conditional write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub generation: u64,
}

/// How an insert treats an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Replace whatever is there.
    Overwrite,
    /// Only if the key does not exist (claims, e.g. userName uniqueness).
    IfAbsent,
    /// Only if the stored generation is still this one (read-modify-write).
    IfGeneration(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The condition of a [`Write`] did not hold.
    Conflict,
    /// The store refused or failed; the text is for the log, not the client.
    Unavailable(String),
}

pub struct Page {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Entry>, StoreError>;
    /// Several keys at once, in order. At the edge the lookups are in flight together (a page of
    /// an import reads 100 records; each lookup waited for in turn would add its latency).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    fn put(&self, key: &str, value: &[u8], write: Write) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Keys with this prefix, in lexicographic order, `limit` at a time.
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError>;
}
