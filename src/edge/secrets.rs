//! [`Secrets`] over the `scim_secrets` secret store. Opened once per request, read only when the
//! core asks (JWT mode); a missing store or entry is simply no secret.

use fastly::secret_store::SecretStore;

use crate::auth::Secrets;

pub struct SecretStoreSecrets {
    store: Option<SecretStore>,
}

impl SecretStoreSecrets {
    pub fn open(name: &str) -> Self {
        SecretStoreSecrets { store: SecretStore::open(name).ok() }
    }
}

impl Secrets for SecretStoreSecrets {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        let secret = self.store.as_ref()?.try_get(name).ok()??;
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
