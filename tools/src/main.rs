//! `scim-edge-token`: mints the JWT bearer token an IdP (Okta, Entra ID) sends to a scim-edge
//! deployment that runs with `auth_mode = jwt`, so no Fastly superuser token leaves the operator.
//! The token is printed on stdout, a summary on stderr.
//!
//! ```text
//! scim-edge-token [mint] --customer <id> --issuer <iss> --audience <aud>
//!                 (--hs256-key <key> | --hs256-key-file <path> | --key-file <private.pem>)
//!                 [--kid <key id>] [--ttl-days <days>] [--jti <token id>] [--subject <label>]
//! scim-edge-token jwks --key-file <private.pem> [--kid <key id>]
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use scim_edge::auth::jwt::{self, Claims, SigningKey};

const USAGE: &str = "usage:
  scim-edge-token [mint] --customer <Fastly customer id> --issuer <jwt_issuer> --audience <jwt_audience>
                  (--hs256-key <key> | --hs256-key-file <path> | --key-file <private key PEM>)
                  [--kid <key id>] [--ttl-days <days, default 365>] [--jti <token id>] [--subject <label>]
  scim-edge-token jwks --key-file <private key PEM> [--kid <key id>]

  mint  prints a token for the IdP's Authorization header (Bearer <token>).
  jwks  prints the public JWKS for the jwt_jwks setting (RS256 / ES256 / EdDSA keys).
  The key type of --key-file picks the algorithm: RSA -> RS256, P-256 -> ES256, Ed25519 -> EdDSA.";

/// The longest lifetime a token may be minted with.
const MAX_TTL_DAYS: u64 = 3650;

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    command: String,
    customer: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    hs256_key: Option<String>,
    hs256_key_file: Option<String>,
    key_file: Option<String>,
    kid: Option<String>,
    ttl_days: Option<String>,
    jti: Option<String>,
    subject: Option<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args { command: "mint".to_owned(), ..Args::default() };
    let mut rest = args.iter();
    let mut first = true;
    while let Some(arg) = rest.next() {
        if first && !arg.starts_with('-') {
            if arg != "mint" && arg != "jwks" {
                return Err(format!("unknown command '{arg}'"));
            }
            out.command = arg.clone();
            first = false;
            continue;
        }
        first = false;
        if arg == "-h" || arg == "--help" {
            return Err(String::new());
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let slot = match name {
            "--customer" => &mut out.customer,
            "--issuer" => &mut out.issuer,
            "--audience" => &mut out.audience,
            "--hs256-key" => &mut out.hs256_key,
            "--hs256-key-file" => &mut out.hs256_key_file,
            "--key-file" => &mut out.key_file,
            "--kid" => &mut out.kid,
            "--ttl-days" => &mut out.ttl_days,
            "--jti" => &mut out.jti,
            "--subject" => &mut out.subject,
            _ => return Err(format!("unknown option '{arg}'")),
        };
        let value = match inline {
            Some(v) => v,
            None => rest.next().cloned().ok_or_else(|| format!("{name} needs a value"))?,
        };
        if slot.replace(value).is_some() {
            return Err(format!("{name} is given twice"));
        }
    }
    Ok(out)
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn signing_key(args: &Args) -> Result<SigningKey, String> {
    match (&args.hs256_key, &args.hs256_key_file, &args.key_file) {
        (Some(k), None, None) => SigningKey::hs256(k.as_bytes()),
        (None, Some(path), None) => {
            // A trailing newline from `echo` or an editor is not part of the key.
            let bytes = read(path)?;
            let text = String::from_utf8(bytes).map_err(|_| format!("{path} is not text"))?;
            SigningKey::hs256(text.trim_end_matches(['\r', '\n']).as_bytes())
        }
        (None, None, Some(path)) => SigningKey::from_pem(&read(path)?),
        _ => Err("give exactly one of --hs256-key, --hs256-key-file and --key-file".to_owned()),
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value.as_deref().filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{name} is required"))
}

/// A fresh token id: 128 random bits, as 32 hex digits.
fn random_jti() -> Result<String, String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for the jti: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What to print: the result (stdout) and a summary for the operator (stderr).
#[derive(Debug)]
struct Output {
    stdout: String,
    stderr: String,
}

fn run(args: &[String], now: u64, new_jti: &dyn Fn() -> Result<String, String>) -> Result<Output, String> {
    let args = parse(args)?;
    let key = signing_key(&args)?;
    if args.command == "jwks" {
        return Ok(Output {
            stdout: format!("{}\n", key.public_jwks(args.kid.as_deref())?),
            stderr: "Put this JSON in the scim_config store as jwt_jwks.\n".to_owned(),
        });
    }
    let customer = required(&args.customer, "--customer")?;
    let issuer = required(&args.issuer, "--issuer")?;
    let audience = required(&args.audience, "--audience")?;
    let ttl_days: u64 = match &args.ttl_days {
        None => 365,
        Some(d) => d.trim().parse().map_err(|_| format!("--ttl-days '{d}' is not a whole number of days"))?,
    };
    if ttl_days == 0 || ttl_days > MAX_TTL_DAYS {
        return Err(format!("--ttl-days must be between 1 and {MAX_TTL_DAYS}"));
    }
    let jti = match &args.jti {
        Some(j) => j.clone(),
        None => new_jti()?,
    };
    let mut claims = Claims::new(customer, issuer, audience, now, ttl_days * 86_400, &jti);
    claims.sub = args.subject.clone();
    let token = jwt::sign(&claims, &key, args.kid.as_deref())?;
    let stderr = format!(
        "Minted a {alg:?} token for Fastly customer {customer}\n  \
         jti: {jti} (audit actor 'jwt:{jti}'; revoke it by adding the jti to jwt_revoked_jti)\n  \
         expires: {exp} ({ttl_days} days)\n\
         Paste it into the IdP as the bearer token; the Fastly API token for this customer goes in \
         the secret store as {secret}.\n",
        alg = key.algorithm(),
        exp = scim_edge::time::format(claims.exp),
        secret = scim_edge::auth::upstream_token_secret(customer),
    );
    Ok(Output { stdout: format!("{token}\n"), stderr })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match run(&args, now, &random_jti) {
        Ok(out) => {
            eprint!("{}", out.stderr);
            print!("{}", out.stdout);
            ExitCode::SUCCESS
        }
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scim-edge-token: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_edge::auth::jwt::JwtSettings;

    const NOW: u64 = 1_800_000_000;
    const KEY: &str = "a-test-key-of-at-least-thirty-two-bytes!";

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn fixed_jti() -> Result<String, String> {
        Ok("fixed-jti".to_owned())
    }

    fn settings() -> JwtSettings {
        JwtSettings { issuer: Some("ops".into()), audience: Some("scim".into()), ..JwtSettings::default() }
    }

    #[test]
    fn mints_a_token_the_service_accepts() {
        let out = run(
            &args(&format!("--customer 51MumwLiSJyFTWhtbByYgR --issuer ops --audience=scim --hs256-key {KEY} --ttl-days 30 --subject okta")),
            NOW,
            &fixed_jti,
        )
        .unwrap();
        let token = out.stdout.trim();
        let claims = jwt::verify(token, Some(KEY.as_bytes()), &settings(), NOW).unwrap();
        assert_eq!(claims.fastly_customer_id, "51MumwLiSJyFTWhtbByYgR");
        assert_eq!(claims.jti, "fixed-jti");
        assert_eq!(claims.exp, NOW + 30 * 86_400);
        assert_eq!(claims.sub.as_deref(), Some("okta"));
        // The summary names the jti and the secret, never the key or the token.
        assert!(out.stderr.contains("fixed-jti") && out.stderr.contains("fastly_token_51MumwLiSJyFTWhtbByYgR"));
        assert!(!out.stderr.contains(KEY) && !out.stderr.contains(token));
        // Expired after 30 days (plus the leeway).
        assert!(jwt::verify(token, Some(KEY.as_bytes()), &settings(), NOW + 31 * 86_400).is_err());
    }

    #[test]
    fn random_jtis_differ() {
        let a = random_jti().unwrap();
        assert_eq!(a.len(), 32);
        assert!(jwt::is_token_id(&a));
        assert_ne!(a, random_jti().unwrap());
    }

    #[test]
    fn refuses_bad_arguments() {
        let base = format!("--customer 51MumwLiSJyFTWhtbByYgR --issuer ops --audience scim --hs256-key {KEY}");
        for (extra, words) in [
            ("--ttl-days 0", "ttl-days"),
            ("--ttl-days 9999", "ttl-days"),
            ("--ttl-days soon", "ttl-days"),
            ("--jti a/b", "jti"),
            ("--key-file x.pem", "exactly one"),
            ("--customer other", "twice"),
            ("--nope 1", "unknown option"),
            ("--kid", "needs a value"),
        ] {
            let e = run(&args(&format!("{base} {extra}")), NOW, &fixed_jti).unwrap_err();
            assert!(e.contains(words), "{extra}: {e}");
        }
        let e =
            run(&args("--customer C1 --issuer ops --audience scim --hs256-key short"), NOW, &fixed_jti).unwrap_err();
        assert!(e.contains("32 bytes"), "{e}");
        let e = run(&args(&format!("--issuer ops --audience scim --hs256-key {KEY}")), NOW, &fixed_jti).unwrap_err();
        assert!(e.contains("--customer"), "{e}");
        assert!(run(&args("frobnicate"), NOW, &fixed_jti).unwrap_err().contains("unknown command"));
        assert_eq!(run(&args("--help"), NOW, &fixed_jti).unwrap_err(), "");
    }
}
