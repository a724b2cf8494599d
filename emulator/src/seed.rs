//! The seed file: the account data the emulator starts from and resets to.
//! Its format is documented in `emulator/README.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::state::{Rng, State, Token, User, Users, ROLES};
use crate::time::{parse_iso, Clock};

/// The seed compiled into the binary.
pub const DEFAULT_SEED: &str = include_str!("../seed.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Seeds the id generator (ids of created users), so runs replay.
    pub rng_seed: u64,
    #[serde(default)]
    pub rate_limit: RateLimitSeed,
    pub customers: Vec<CustomerSeed>,
    /// fqdn → TXT strings.
    #[serde(default)]
    pub dns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSeed {
    /// Modifying requests per user per hour.
    #[serde(default = "default_budget")]
    pub default_budget: u32,
    /// user id → budget, overriding the default.
    #[serde(default)]
    pub users: BTreeMap<String, u32>,
}

impl Default for RateLimitSeed {
    fn default() -> Self {
        RateLimitSeed { default_budget: default_budget(), users: BTreeMap::new() }
    }
}

fn default_budget() -> u32 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSeed {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub users: Vec<UserSeed>,
    #[serde(default)]
    pub tokens: Vec<TokenSeed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub id: String,
    pub login: String,
    pub name: String,
    pub role: String,
    /// Defaults to `[role]`.
    pub roles: Option<Vec<String>>,
    pub created_at: String,
    /// Defaults to `created_at`.
    pub updated_at: Option<String>,
    #[serde(default)]
    pub require_new_password: Option<bool>,
    #[serde(default)]
    pub locked: Option<bool>,
    #[serde(default)]
    pub two_factor_auth_enabled: Option<bool>,
    #[serde(default)]
    pub limit_services: bool,
    #[serde(default)]
    pub last_active_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSeed {
    pub id: String,
    /// The secret clients send in `Fastly-Key`.
    pub token: String,
    pub user_id: String,
    pub name: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    pub created_at: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["global".into()]
}

const SCOPES: [&str; 4] = ["global", "global:read", "purge_select", "purge_all"];

pub fn is_fastly_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn time(what: &str, text: &str) -> Result<i64, String> {
    parse_iso(text).ok_or_else(|| format!("{what}: '{text}' is not YYYY-MM-DDTHH:MM:SSZ"))
}

fn opt_time(what: &str, text: Option<&str>) -> Result<Option<i64>, String> {
    text.map(|t| time(what, t)).transpose()
}

/// Parses and checks a seed.
pub fn parse(text: &str) -> Result<Seed, String> {
    let seed: Seed = serde_json::from_str(text).map_err(|e| format!("seed: {e}"))?;
    build(&seed)?;
    Ok(seed)
}

/// The initial state a seed describes.
pub fn build(seed: &Seed) -> Result<State, String> {
    let mut customers = BTreeMap::new();
    let mut users = Users::default();
    let mut tokens: Vec<Token> = Vec::new();
    let mut ids = BTreeSet::new();
    let mut logins = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for c in &seed.customers {
        if !is_fastly_id(&c.id) || customers.insert(c.id.clone(), c.name.clone()).is_some() {
            return Err(format!("customer id '{}' is not a unique 22-char base62 id", c.id));
        }
        for u in &c.users {
            let what = format!("user '{}'", u.id);
            if !is_fastly_id(&u.id) || !ids.insert(u.id.clone()) {
                return Err(format!("{what}: id is not a unique 22-char base62 id"));
            }
            if !crate::api::valid_login(&u.login) || !logins.insert(u.login.to_lowercase()) {
                return Err(format!("{what}: login '{}' is invalid or taken", u.login));
            }
            let roles = u.roles.clone().unwrap_or_else(|| vec![u.role.clone()]);
            if !ROLES.contains(&u.role.as_str())
                || roles.iter().any(|r| !ROLES.contains(&r.as_str()))
                || !roles.contains(&u.role)
            {
                return Err(format!("{what}: bad role/roles"));
            }
            let created_at = time(&what, &u.created_at)?;
            users.push(User {
                id: u.id.clone(),
                login: u.login.clone(),
                name: u.name.clone(),
                customer_id: c.id.clone(),
                role: u.role.clone(),
                roles,
                require_new_password: u.require_new_password,
                locked: u.locked,
                two_factor_auth_enabled: u.two_factor_auth_enabled,
                limit_services: u.limit_services,
                created_at,
                updated_at: opt_time(&what, u.updated_at.as_deref())?.unwrap_or(created_at),
                last_active_at: opt_time(&what, u.last_active_at.as_deref())?,
            });
        }
        for t in &c.tokens {
            let what = format!("token '{}'", t.id);
            if !is_fastly_id(&t.id) || !ids.insert(t.id.clone()) {
                return Err(format!("{what}: id is not a unique 22-char base62 id"));
            }
            if t.token.is_empty() || !secrets.insert(t.token.clone()) {
                return Err(format!("{what}: secret is empty or not unique"));
            }
            if users.get(&t.user_id).is_none_or(|u| u.customer_id != c.id) {
                return Err(format!("{what}: owner '{}' is not a user of customer '{}'", t.user_id, c.id));
            }
            if t.scopes.is_empty() || t.scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
                return Err(format!("{what}: scopes must be among {SCOPES:?}"));
            }
            tokens.push(Token {
                id: t.id.clone(),
                secret: t.token.clone(),
                user_id: t.user_id.clone(),
                name: t.name.clone(),
                scopes: t.scopes.clone(),
                services: t.services.clone(),
                created_at: time(&what, &t.created_at)?,
                expires_at: opt_time(&what, t.expires_at.as_deref())?,
                last_used_at: opt_time(&what, t.last_used_at.as_deref())?,
                ip: t.ip.clone(),
                user_agent: t.user_agent.clone(),
            });
        }
    }
    for id in seed.rate_limit.users.keys() {
        if users.get(id).is_none() {
            return Err(format!("rate_limit.users: unknown user '{id}'"));
        }
    }
    Ok(State {
        customers,
        users,
        tokens,
        budgets: BTreeMap::new(),
        default_budget: seed.rate_limit.default_budget,
        budget_limits: seed.rate_limit.users.clone(),
        dns: seed.dns.iter().map(|(k, v)| (crate::api::dns_key(k), v.clone())).collect(),
        faults: Vec::new(),
        log: Vec::new(),
        next_seq: 1,
        clock: Clock::default(),
        rng: Rng::new(seed.rng_seed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_is_valid() {
        let seed = parse(DEFAULT_SEED).unwrap();
        let state = build(&seed).unwrap();
        assert!(state.customers.contains_key("51MumwLiSJyFTWhtbByYgR"));
        assert!(state.customers.contains_key("2NfYQKW1WOyZAHfx5vHUz9"));
        for secret in [
            "dev-superuser-token",
            "dev-engineer-token",
            "dev-readonly-token",
            "dev-limited-token",
            "dev-expired-token",
            "dev-other-superuser-token",
        ] {
            assert!(state.tokens.iter().any(|t| t.secret == secret), "{secret}");
        }
    }
}
