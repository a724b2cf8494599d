//! JWT bearer tokens (`auth_mode = jwt`). An operator mints a token once (`scim-edge-token`, in
//! `tools/`) and pastes it into the IdP, so no Fastly superuser token ever leaves the operator.
//!
//! A token is accepted when:
//! - its `alg` is HS256 (key: the `jwt_hs256_key` secret, at least 32 bytes) or RS256 / ES256 /
//!   EdDSA (keys: the public JWKS in the `jwt_jwks` setting, chosen by `kid` and key type);
//! - its signature verifies;
//! - `exp` is in the future and `nbf` (if any) in the past, both with [`LEEWAY_SECONDS`];
//! - `iss` is the `jwt_issuer` setting and `aud` (a string or a list) holds `jwt_audience`;
//! - it has a `jti` that is not in `jwt_revoked_jti`, and a [`CUSTOMER_CLAIM`] with a Fastly
//!   customer id.
//!
//! Everything here is plain values in and out: the clock, the keys and the settings are
//! parameters, so the rules are tested on the host. The minting half ([`sign`], [`Claims::new`])
//! lives here too, so the tool and the verifier cannot disagree on a claim name.

use std::collections::HashSet;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scim::error::{ScimError, ScimResult};
use crate::store::keys;

/// The claim that names the Fastly customer the token acts for.
pub const CUSTOMER_CLAIM: &str = "fastly_customer_id";
/// The only algorithms accepted or minted.
pub const ALGORITHMS: [Algorithm; 4] = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
/// An HS256 key shorter than this is refused (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_KEY_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// `aud`: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(list) => list.iter().any(|a| a == audience),
        }
    }

    fn contains_any(&self) -> bool {
        match self {
            Audience::One(a) => !a.is_empty(),
            Audience::Many(list) => list.iter().any(|a| !a.is_empty()),
        }
    }
}

/// The claims of a scim-edge token: what the mint tool writes and what the verifier reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// A label for the holder (e.g. `okta-production`), for people reading the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub aud: Audience,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The token id: what `jwt_revoked_jti` lists to revoke it, and the audit log's actor.
    pub jti: String,
    /// The Fastly customer ([`CUSTOMER_CLAIM`]).
    pub fastly_customer_id: String,
}

impl Claims {
    /// Claims valid from `now` for `ttl_seconds`.
    pub fn new(customer_id: &str, issuer: &str, audience: &str, now: u64, ttl_seconds: u64, jti: &str) -> Claims {
        Claims {
            iss: issuer.to_owned(),
            sub: None,
            aud: Audience::One(audience.to_owned()),
            exp: now.saturating_add(ttl_seconds),
            nbf: Some(now),
            iat: Some(now),
            jti: jti.to_owned(),
            fastly_customer_id: customer_id.to_owned(),
        }
    }
}

/// What a deployment accepts (from the `scim_config` store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtSettings {
    /// `jwt_issuer`: the only accepted `iss`.
    pub issuer: Option<String>,
    /// `jwt_audience`: the value `aud` must hold.
    pub audience: Option<String>,
    /// `jwt_jwks`: a JWKS (JSON) of public keys for RS256 / ES256 / EdDSA.
    pub jwks: Option<String>,
    /// `jwt_revoked_jti`: token ids that are refused (comma-separated in the store).
    pub revoked_jti: Vec<String>,
}

impl JwtSettings {
    /// Parses the comma-separated `jwt_revoked_jti` value.
    pub fn parse_revoked(list: Option<&str>) -> Vec<String> {
        list.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }
}

/// A `jti` scim-edge accepts: 1 to 64 of `A-Z a-z 0-9 - _ .` (it is listed in
/// `jwt_revoked_jti` and written to the audit log as `jwt:<jti>`).
pub fn is_token_id(jti: &str) -> bool {
    !jti.is_empty() && jti.len() <= 64 && jti.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn denied(detail: &str) -> ScimError {
    ScimError::unauthorized(detail)
}

fn misconfigured(detail: &str) -> ScimError {
    ScimError::service_unavailable(format!("JWT authentication is misconfigured: {detail}"))
}

/// The `alg` of a token's header, if it is a JWT with an accepted algorithm.
pub fn algorithm(token: &str) -> ScimResult<Algorithm> {
    header(token).map(|h| h.alg)
}

fn header(token: &str) -> ScimResult<Header> {
    if token.split('.').count() != 3 {
        return Err(denied("the bearer token is not a JWT (this deployment uses auth_mode = jwt)"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| denied("the JWT header is malformed"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(denied("the JWT algorithm is not accepted: use HS256, RS256, ES256 or EdDSA"));
    }
    Ok(header)
}

/// Whether a JWKS key may verify `alg` for a token whose header names `kid`.
fn usable(jwk: &Jwk, alg: Algorithm, kid: Option<&str>) -> bool {
    let family_ok = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => p.curve == EllipticCurve::Ed25519,
        // Symmetric keys never come from the (public) config store: HS256 uses the secret store.
        _ => false,
    };
    let alg_ok = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => alg == Algorithm::EdDSA,
        Some(_) => false,
    };
    let use_ok = matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature));
    let kid_ok = match kid {
        Some(k) => jwk.common.key_id.as_deref() == Some(k),
        None => true,
    };
    family_ok && alg_ok && use_ok && kid_ok
}

/// The keys that may have signed a token with this header.
fn candidate_keys(header: &Header, hs256_key: Option<&[u8]>, jwks: Option<&str>) -> ScimResult<Vec<DecodingKey>> {
    if header.alg == Algorithm::HS256 {
        let key = hs256_key
            .filter(|k| k.len() >= MIN_HS256_KEY_BYTES)
            .ok_or_else(|| denied("HS256 tokens are not accepted by this deployment"))?;
        let key =
            DecodingKey::from_secret(key).map_err(|_| denied("HS256 tokens are not accepted by this deployment"))?;
        return Ok(vec![key]);
    }
    let jwks = jwks.filter(|j| !j.trim().is_empty()).ok_or_else(|| {
        denied("RS256, ES256 and EdDSA tokens are not accepted by this deployment (no jwt_jwks is configured)")
    })?;
    let set: JwkSet = serde_json::from_str(jwks).map_err(|_| misconfigured("jwt_jwks is not a JWKS"))?;
    let keys: Vec<DecodingKey> = set
        .keys
        .iter()
        .filter(|k| usable(k, header.alg, header.kid.as_deref()))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect();
    if keys.is_empty() {
        return Err(denied("no key in jwt_jwks matches the token's algorithm and key id"));
    }
    Ok(keys)
}

fn numeric_date(claims: &Value, name: &str) -> ScimResult<Option<u64>> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)) {
            Some(n) => Ok(Some(n)),
            None => Err(denied(&format!("the JWT claim '{name}' is not a NumericDate"))),
        },
    }
}

/// Verifies a token and returns its claims. `hs256_key` is the secret-store key (only needed for
/// HS256 tokens); `now` is Unix seconds.
pub fn verify(token: &str, hs256_key: Option<&[u8]>, settings: &JwtSettings, now: u64) -> ScimResult<Claims> {
    let issuer = settings.issuer.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| misconfigured("set jwt_issuer"))?;
    let audience =
        settings.audience.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| misconfigured("set jwt_audience"))?;
    let header = header(token)?;
    let keys = candidate_keys(&header, hs256_key, settings.jwks.as_deref())?;

    // The signature only: time, issuer and audience are checked below against `now` and the
    // settings, so that the clock stays a parameter.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let mut claims = None;
    for key in &keys {
        if let Ok(data) = jsonwebtoken::decode::<Value>(token, key, &validation) {
            claims = Some(data.claims);
            break;
        }
    }
    let claims = claims.ok_or_else(|| denied("the JWT signature does not verify"))?;

    let exp = numeric_date(&claims, "exp")?.ok_or_else(|| denied("the JWT has no 'exp' claim"))?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(denied("the JWT has expired"));
    }
    if numeric_date(&claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS)) {
        return Err(denied("the JWT is not valid yet ('nbf' is in the future)"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(denied("the JWT issuer ('iss') is not the one this deployment accepts"));
    }
    let aud_ok = serde_json::from_value::<Audience>(claims.get("aud").cloned().unwrap_or(Value::Null))
        .is_ok_and(|a| a.contains(audience));
    if !aud_ok {
        return Err(denied("the JWT audience ('aud') is not this deployment"));
    }
    if claims.get(CUSTOMER_CLAIM).is_none() {
        return Err(denied(&format!("the JWT has no '{CUSTOMER_CLAIM}' claim naming the Fastly customer")));
    }
    let claims: Claims = serde_json::from_value(claims)
        .map_err(|e| denied(&format!("the JWT claims are incomplete or malformed: {e}")))?;
    if !keys::is_safe_id(&claims.fastly_customer_id) {
        return Err(denied(&format!("the JWT claim '{CUSTOMER_CLAIM}' is not a Fastly customer id")));
    }
    if !is_token_id(&claims.jti) {
        return Err(denied("the JWT 'jti' must be 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    if settings.revoked_jti.contains(&claims.jti) {
        return Err(denied("the JWT has been revoked"));
    }
    Ok(claims)
}

/// A key to mint tokens with.
pub enum SigningKey {
    /// The `jwt_hs256_key` secret.
    Hs256(Vec<u8>),
    /// A private key (PKCS#8 or PKCS#1 PEM) whose public half is in `jwt_jwks`.
    Private { alg: Algorithm, key: EncodingKey },
}

impl SigningKey {
    pub fn hs256(secret: &[u8]) -> Result<SigningKey, String> {
        if secret.len() < MIN_HS256_KEY_BYTES {
            return Err(format!("an HS256 key must be at least {MIN_HS256_KEY_BYTES} bytes"));
        }
        Ok(SigningKey::Hs256(secret.to_vec()))
    }

    /// A PEM private key; the algorithm follows from the key type (Ed25519 → EdDSA, P-256 →
    /// ES256, RSA → RS256).
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, String> {
        if let Ok(key) = EncodingKey::from_ed_pem(pem) {
            return Ok(SigningKey::Private { alg: Algorithm::EdDSA, key });
        }
        if let Ok(key) = EncodingKey::from_ec_pem(pem) {
            return Ok(SigningKey::Private { alg: Algorithm::ES256, key });
        }
        if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            return Ok(SigningKey::Private { alg: Algorithm::RS256, key });
        }
        Err("the key file is not an Ed25519, P-256 or RSA private key in PEM".to_owned())
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Hs256(_) => Algorithm::HS256,
            SigningKey::Private { alg, .. } => *alg,
        }
    }

    /// The public key as a JWKS (the `jwt_jwks` setting), for private keys.
    pub fn public_jwks(&self, kid: Option<&str>) -> Result<String, String> {
        let SigningKey::Private { alg, key } = self else {
            return Err("an HS256 key is secret: it goes in the secret store, not in jwt_jwks".to_owned());
        };
        let mut jwk = Jwk::from_encoding_key(key, *alg).map_err(|e| format!("cannot derive the public key: {e}"))?;
        jwk.common.key_id = kid.map(str::to_owned);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_string_pretty(&JwkSet { keys: vec![jwk] }).map_err(|e| e.to_string())
    }
}

/// Signs claims into a compact JWT. `kid` names the JWKS key (asymmetric keys).
pub fn sign(claims: &Claims, key: &SigningKey, kid: Option<&str>) -> Result<String, String> {
    if !keys::is_safe_id(&claims.fastly_customer_id) {
        return Err(format!("'{}' is not a Fastly customer id", claims.fastly_customer_id));
    }
    if claims.iss.is_empty() || !claims.aud.contains_any() {
        return Err("the issuer and audience must not be empty".to_owned());
    }
    if !is_token_id(&claims.jti) {
        return Err("the jti must be 1 to 64 letters, digits, '-', '_' or '.'".to_owned());
    }
    let mut header = Header::new(key.algorithm());
    header.kid = kid.map(str::to_owned);
    let encoding = match key {
        SigningKey::Hs256(secret) => EncodingKey::from_secret(secret).map_err(|e| format!("bad HS256 key: {e}"))?,
        SigningKey::Private { key, .. } => key.clone(),
    };
    jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| format!("signing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const HS_KEY: &[u8] = b"a-test-key-of-at-least-thirty-two-bytes!";
    const CUSTOMER: &str = "51MumwLiSJyFTWhtbByYgR";
    const RS_PRIVATE: &str = include_str!("../../tests/keys/rs256-private.pem");
    const ED_PRIVATE: &str = include_str!("../../tests/keys/ed25519-private.pem");
    const ES_PRIVATE: &str = include_str!("../../tests/keys/es256-private.pem");
    const ED_OTHER_PRIVATE: &str = include_str!("../../tests/keys/ed25519-other-private.pem");

    fn settings() -> JwtSettings {
        JwtSettings {
            issuer: Some("scim-edge-test".into()),
            audience: Some("https://scim.example.com/scim/v2".into()),
            jwks: None,
            revoked_jti: Vec::new(),
        }
    }

    fn claims() -> Claims {
        Claims::new(CUSTOMER, "scim-edge-test", "https://scim.example.com/scim/v2", NOW - 10, 3600, "jti-1")
    }

    fn hs(claims: &Claims) -> String {
        sign(claims, &SigningKey::hs256(HS_KEY).unwrap(), None).unwrap()
    }

    fn with_jwks(pem: &str, kid: &str) -> JwtSettings {
        let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
        JwtSettings { jwks: Some(key.public_jwks(Some(kid)).unwrap()), ..settings() }
    }

    fn refused(token: &str, key: Option<&[u8]>, s: &JwtSettings, words: &str) {
        let e = verify(token, key, s, NOW).unwrap_err();
        assert_eq!(e.status, 401, "{}", e.detail);
        assert!(e.detail.contains(words), "'{}' lacks '{words}'", e.detail);
    }

    #[test]
    fn hs256_token_is_accepted_and_claims_round_trip() {
        let c = claims();
        let got = verify(&hs(&c), Some(HS_KEY), &settings(), NOW).unwrap();
        assert_eq!(got, c);
        assert_eq!(got.fastly_customer_id, CUSTOMER);
        // The claim name the tool writes is the one the verifier reads.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json[CUSTOMER_CLAIM], CUSTOMER);
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let mut c = claims();
        c.exp = NOW - LEEWAY_SECONDS - 1;
        refused(&hs(&c), Some(HS_KEY), &settings(), "expired");
        // Within the leeway, a just-expired token still passes (clock skew).
        c.exp = NOW - LEEWAY_SECONDS + 5;
        assert!(verify(&hs(&c), Some(HS_KEY), &settings(), NOW).is_ok());
        let mut c = claims();
        c.nbf = Some(NOW + LEEWAY_SECONDS + 100);
        refused(&hs(&c), Some(HS_KEY), &settings(), "not valid yet");
    }

    #[test]
    fn wrong_audience_or_issuer() {
        let mut c = claims();
        c.aud = Audience::One("https://other.example.com/scim/v2".into());
        refused(&hs(&c), Some(HS_KEY), &settings(), "audience");
        // A list that holds ours is fine.
        c.aud = Audience::Many(vec!["x".into(), "https://scim.example.com/scim/v2".into()]);
        assert!(verify(&hs(&c), Some(HS_KEY), &settings(), NOW).is_ok());
        let mut c = claims();
        c.iss = "someone-else".into();
        refused(&hs(&c), Some(HS_KEY), &settings(), "issuer");
    }

    #[test]
    fn wrong_key_or_tampered_claims() {
        let other = SigningKey::hs256(b"another-key-of-at-least-thirty-two-bytes").unwrap();
        let token = sign(&claims(), &other, None).unwrap();
        refused(&token, Some(HS_KEY), &settings(), "signature");
        // Swap in the claims of another customer, keep the signature.
        let token = hs(&claims());
        let mut c = claims();
        c.fastly_customer_id = "2NfYQKW1WOyZAHfx5vHUz9".into();
        let forged_body = hs(&c).split('.').nth(1).unwrap().to_owned();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        refused(&forged, Some(HS_KEY), &settings(), "signature");
    }

    #[test]
    fn short_or_missing_hs256_key_refuses_hs256() {
        let token = hs(&claims());
        refused(&token, None, &settings(), "HS256");
        refused(&token, Some(b"short"), &settings(), "HS256");
        assert!(SigningKey::hs256(b"short").is_err());
    }

    #[test]
    fn revoked_jti_is_refused() {
        let token = hs(&claims());
        let s = JwtSettings { revoked_jti: JwtSettings::parse_revoked(Some(" old-1 , jti-1,")), ..settings() };
        assert_eq!(s.revoked_jti, vec!["old-1", "jti-1"]);
        refused(&token, Some(HS_KEY), &s, "revoked");
        let s = JwtSettings { revoked_jti: vec!["jti-10".into()], ..settings() };
        assert!(verify(&token, Some(HS_KEY), &s, NOW).is_ok());
    }

    #[test]
    fn missing_or_bad_claims() {
        let key = EncodingKey::from_secret(HS_KEY).unwrap();
        let header = Header::new(Algorithm::HS256);
        let base = serde_json::to_value(claims()).unwrap();
        let without = |name: &str| {
            let mut v = base.clone();
            v.as_object_mut().unwrap().remove(name);
            jsonwebtoken::encode(&header, &v, &key).unwrap()
        };
        refused(&without(CUSTOMER_CLAIM), Some(HS_KEY), &settings(), CUSTOMER_CLAIM);
        refused(&without("jti"), Some(HS_KEY), &settings(), "jti");
        refused(&without("exp"), Some(HS_KEY), &settings(), "exp");
        refused(&without("aud"), Some(HS_KEY), &settings(), "audience");
        refused(&without("iss"), Some(HS_KEY), &settings(), "issuer");
        let mut v = base.clone();
        v[CUSTOMER_CLAIM] = Value::String("../t/other".into());
        refused(&jsonwebtoken::encode(&header, &v, &key).unwrap(), Some(HS_KEY), &settings(), "customer id");
        let mut v = base.clone();
        v["jti"] = Value::String("a/b#c".into());
        refused(&jsonwebtoken::encode(&header, &v, &key).unwrap(), Some(HS_KEY), &settings(), "jti");
        let mut v = base;
        v["exp"] = Value::String("tomorrow".into());
        refused(&jsonwebtoken::encode(&header, &v, &key).unwrap(), Some(HS_KEY), &settings(), "NumericDate");
    }

    #[test]
    fn not_a_jwt_or_unaccepted_algorithm() {
        refused("dev-superuser-token", Some(HS_KEY), &settings(), "not a JWT");
        refused("a.b.c", Some(HS_KEY), &settings(), "malformed");
        // `alg: none` and HS512 are never accepted.
        let none = format!(
            "{}.{}.",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r#"{"alg":"none","typ":"JWT"}"#),
            hs(&claims()).split('.').nth(1).unwrap()
        );
        assert_eq!(verify(&none, Some(HS_KEY), &settings(), NOW).unwrap_err().status, 401);
        let hs512 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(), &EncodingKey::from_secret(HS_KEY).unwrap())
                .unwrap();
        refused(&hs512, Some(HS_KEY), &settings(), "algorithm");
    }

    #[test]
    fn issuer_and_audience_must_be_configured() {
        let token = hs(&claims());
        let s = JwtSettings { issuer: None, ..settings() };
        assert_eq!(verify(&token, Some(HS_KEY), &s, NOW).unwrap_err().status, 503);
        let s = JwtSettings { audience: Some(String::new()), ..settings() };
        assert_eq!(verify(&token, Some(HS_KEY), &s, NOW).unwrap_err().status, 503);
    }

    #[test]
    fn rs256_es256_and_eddsa_with_a_jwks() {
        for (pem, alg) in
            [(RS_PRIVATE, Algorithm::RS256), (ES_PRIVATE, Algorithm::ES256), (ED_PRIVATE, Algorithm::EdDSA)]
        {
            let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(key.algorithm(), alg);
            let token = sign(&claims(), &key, Some("k1")).unwrap();
            let s = with_jwks(pem, "k1");
            assert_eq!(verify(&token, None, &s, NOW).unwrap(), claims(), "{alg:?}");
            // The same token is refused when the JWKS holds another key, or the key id differs.
            let other = if alg == Algorithm::EdDSA { RS_PRIVATE } else { ED_PRIVATE };
            refused(&token, None, &with_jwks(other, "k1"), "no key");
            refused(&token, None, &with_jwks(pem, "k2"), "no key");
            // Without a JWKS, asymmetric tokens are not accepted at all.
            refused(&token, Some(HS_KEY), &settings(), "jwt_jwks");
        }
    }

    #[test]
    fn asymmetric_token_signed_by_another_key_of_the_same_type() {
        // Another Ed25519 key under the same kid: the signature must not verify.
        let other = SigningKey::from_pem(ED_OTHER_PRIVATE.as_bytes()).unwrap();
        let token = sign(&claims(), &other, Some("k1")).unwrap();
        refused(&token, None, &with_jwks(ED_PRIVATE, "k1"), "signature");
        // The JWKS may hold both: then the token verifies with the matching one.
        let mut set: JwkSet = serde_json::from_str(&with_jwks(ED_PRIVATE, "k1").jwks.unwrap()).unwrap();
        let theirs: JwkSet = serde_json::from_str(&with_jwks(ED_OTHER_PRIVATE, "k1").jwks.unwrap()).unwrap();
        set.keys.extend(theirs.keys);
        let s = JwtSettings { jwks: Some(serde_json::to_string(&set).unwrap()), ..settings() };
        assert!(verify(&token, None, &s, NOW).is_ok());
    }

    #[test]
    fn hs256_token_cannot_use_the_public_jwks_as_a_secret() {
        // Algorithm confusion: an HS256 token "signed" with the public JWKS text is refused,
        // because HS256 only ever uses the secret-store key.
        let s = with_jwks(RS_PRIVATE, "k1");
        let public = s.jwks.clone().unwrap();
        let token = sign(&claims(), &SigningKey::hs256(public.as_bytes()).unwrap(), None).unwrap();
        refused(&token, None, &s, "HS256");
        // A symmetric key placed in the JWKS is ignored.
        let oct = r#"{"keys":[{"kty":"oct","k":"YS10ZXN0LWtleS1vZi1hdC1sZWFzdC10aGlydHktdHdvLWJ5dGVzIQ"}]}"#;
        let s = JwtSettings { jwks: Some(oct.into()), ..settings() };
        refused(&hs(&claims()), None, &s, "HS256");
    }

    #[test]
    fn a_broken_jwks_is_a_configuration_error() {
        let key = SigningKey::from_pem(RS_PRIVATE.as_bytes()).unwrap();
        let token = sign(&claims(), &key, None).unwrap();
        let s = JwtSettings { jwks: Some("{not json".into()), ..settings() };
        assert_eq!(verify(&token, None, &s, NOW).unwrap_err().status, 503);
    }

    #[test]
    fn minting_refuses_bad_input() {
        let key = SigningKey::hs256(HS_KEY).unwrap();
        let mut c = claims();
        c.fastly_customer_id = "not/an id".into();
        assert!(sign(&c, &key, None).is_err());
        for bad in ["", "a b", "../x", &"x".repeat(65)] {
            let mut c = claims();
            c.jti = bad.to_owned();
            assert!(sign(&c, &key, None).is_err(), "{bad:?}");
        }
        assert!(SigningKey::from_pem(b"-----BEGIN NOTHING-----").is_err());
        assert!(key.public_jwks(None).is_err());
    }
}
