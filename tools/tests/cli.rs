//! The `scim-edge-token` binary as an operator runs it: a key file in, a token (or a JWKS) out,
//! and the service's verifier accepts the token with that JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

use scim_edge::auth::jwt::{self, JwtSettings};

const CUSTOMER: &str = "51MumwLiSJyFTWhtbByYgR";

fn key(name: &str) -> String {
    format!("{}/../tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scim-edge-token")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn key_file_token_verifies_against_the_printed_jwks() {
    for (file, alg) in
        [("rs256-private.pem", "RS256"), ("es256-private.pem", "ES256"), ("ed25519-private.pem", "EdDSA")]
    {
        let (code, jwks, _) = run(&["jwks", "--key-file", &key(file), "--kid", "ops-2026"]);
        assert_eq!(code, 0);
        assert!(!jwks.contains("\"d\""), "a JWKS holds no private part: {jwks}");
        let (code, token, summary) = run(&[
            "mint",
            "--customer",
            CUSTOMER,
            "--issuer",
            "ops",
            "--audience",
            "scim",
            "--key-file",
            &key(file),
            "--kid",
            "ops-2026",
            "--ttl-days",
            "7",
        ]);
        assert_eq!(code, 0, "{summary}");
        assert!(summary.contains(alg), "{summary}");
        let settings = JwtSettings {
            issuer: Some("ops".into()),
            audience: Some("scim".into()),
            jwks: Some(jwks),
            revoked_jti: Vec::new(),
        };
        let claims = jwt::verify(token.trim(), None, &settings, now()).unwrap();
        assert_eq!(claims.fastly_customer_id, CUSTOMER);
        assert!(summary.contains(&claims.jti), "{summary}");
    }
}

#[test]
fn hs256_key_file_and_errors() {
    let dir = std::env::temp_dir().join(format!("scim-edge-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hs256.key");
    std::fs::write(&path, "a-test-key-of-at-least-thirty-two-bytes!\n").unwrap();
    let (code, token, _) = run(&[
        "--customer",
        CUSTOMER,
        "--issuer",
        "ops",
        "--audience",
        "scim",
        "--hs256-key-file",
        path.to_str().unwrap(),
        "--jti",
        "okta-prod-1",
    ]);
    assert_eq!(code, 0);
    let settings = JwtSettings { issuer: Some("ops".into()), audience: Some("scim".into()), ..JwtSettings::default() };
    let claims =
        jwt::verify(token.trim(), Some(b"a-test-key-of-at-least-thirty-two-bytes!"), &settings, now()).unwrap();
    assert_eq!(claims.jti, "okta-prod-1");
    // Bad input: exit status 2, the reason and the usage on stderr, nothing on stdout.
    let (code, out, err) = run(&["--customer", CUSTOMER, "--issuer", "ops", "--audience", "scim"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("exactly one") && err.contains("usage:"), "{err}");
    let (code, _, err) = run(&["jwks", "--hs256-key-file", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("secret"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
