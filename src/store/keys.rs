//! The KV key layout. Every key is scoped to the tenant (the Fastly customer id), and every part
//! that comes from a request is hashed, so keys are always valid for the KV store (no `#;?^|`,
//! no `./`) and never built from raw input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// base64url(sha256(s)): a fixed-length, key-safe stand-in for user-supplied text.
pub fn digest(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(s.as_bytes()))
}

/// Whether a string may appear in a key verbatim: ids we minted or that Fastly minted.
pub fn is_safe_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The lowercase form used for userName and email uniqueness (userName is caseExact=false).
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

pub fn user(tenant: &str, id: &str) -> String {
    format!("t/{tenant}/user/{id}")
}

pub fn users_prefix(tenant: &str) -> String {
    format!("t/{tenant}/user/")
}

pub fn user_name(tenant: &str, user_name: &str) -> String {
    format!("t/{tenant}/name/{}", digest(&fold(user_name)))
}

/// The holders of one externalId (not unique: RFC 7643 §3.1), one key per holder.
pub fn external_id_prefix(tenant: &str, external_id: &str) -> String {
    format!("t/{tenant}/ext/{}/", digest(external_id))
}

pub fn external_id(tenant: &str, external_id: &str, id: &str) -> String {
    format!("{}{id}", external_id_prefix(tenant, external_id))
}

/// The holders of one email address (case-insensitive), one key per holder.
pub fn email_prefix(tenant: &str, email: &str) -> String {
    format!("t/{tenant}/email/{}/", digest(&fold(email)))
}

pub fn email_holder(tenant: &str, email: &str, id: &str) -> String {
    format!("{}{id}", email_prefix(tenant, email))
}

pub fn fastly_users_prefix(tenant: &str) -> String {
    format!("t/{tenant}/fastly/")
}

pub fn fastly_user(tenant: &str, fastly_id: &str) -> String {
    format!("t/{tenant}/fastly/{}", digest(fastly_id))
}

/// One of the account's directory documents (see `provision::directory`).
pub fn directory_shard(tenant: &str, n: usize) -> String {
    format!("t/{tenant}/dir/{n:02}")
}

/// Changes whenever the directory does: import snapshots name the version they were built from.
pub fn directory_version(tenant: &str) -> String {
    format!("t/{tenant}/dirversion")
}

/// The exhausted Fastly API write window of one token.
pub fn budget(tenant: &str, token_digest: &str) -> String {
    format!("t/{tenant}/budget/{token_digest}")
}

/// One email domain of the tenant (see `crate::domains`), by a digest of its normalised name.
pub fn domain(tenant: &str, domain: &str) -> String {
    format!("t/{tenant}/domain/{}", digest(domain))
}

pub fn domains_prefix(tenant: &str) -> String {
    format!("t/{tenant}/domain/")
}

/// Cached token verdicts, keyed by a digest of the token (never the token itself).
pub fn token(token_digest: &str) -> String {
    format!("auth/{token_digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_supplied_parts_are_hashed_and_folded() {
        let a = user_name("c1", "Alice@Example.com ");
        assert_eq!(a, user_name("c1", "alice@example.com"));
        assert_ne!(a, user_name("c2", "alice@example.com"));
        assert!(!a.contains('@'));
        let hostile = user_name("c1", "../#;?^|./x");
        assert!(!hostile.contains("./") && !hostile.contains('#'));
    }

    #[test]
    fn safe_ids() {
        assert!(is_safe_id("1Iyp7cXku3sEDtOBxnhLaL"));
        assert!(is_safe_id("0b5b3f6e-2f55-4c0b-9d7a-7a0c2d8a9f10"));
        assert!(!is_safe_id("../x"));
        assert!(!is_safe_id(""));
    }
}
