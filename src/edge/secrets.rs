//! [`Secrets`] over the `scim_secrets` secret store. Opened on the first read, which only the
//! core's JWT mode makes, so other requests spend no host call on it; a missing store or entry is
//! simply no secret.

use std::cell::OnceCell;

use fastly::secret_store::SecretStore;

use crate::auth::Secrets;

pub struct SecretStoreSecrets {
    name: &'static str,
    store: OnceCell<Option<SecretStore>>,
}

impl SecretStoreSecrets {
    pub fn open(name: &'static str) -> Self {
        SecretStoreSecrets { name, store: OnceCell::new() }
    }
}

impl Secrets for SecretStoreSecrets {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        let store = self.store.get_or_init(|| SecretStore::open(self.name).ok());
        let secret = store.as_ref()?.try_get(name).ok()??;
        secret.try_plaintext().ok().map(|b| b.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_local_secret_store() {
        let s = SecretStoreSecrets::open(crate::edge::SECRET_STORE);
        // fastly.toml [local_server.secret_stores] holds the dev HS256 key.
        let key = s.get(crate::auth::HS256_KEY_SECRET).unwrap();
        assert!(key.len() >= crate::auth::jwt::MIN_HS256_KEY_BYTES);
        assert_eq!(s.get("no_such_secret"), None);
        assert_eq!(SecretStoreSecrets::open("no_such_store").get(crate::auth::HS256_KEY_SECRET), None);
    }
}
