//! The emulated account data and the emulator's own bookkeeping.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::time::{iso, next_top_of_hour, Clock};

/// The roles `role` and `roles[]` accept.
pub const ROLES: [&str; 6] = ["user", "billing", "engineer", "superuser", "tls_viewer", "tls_admin"];

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub login: String,
    pub name: String,
    pub customer_id: String,
    pub role: String,
    pub roles: Vec<String>,
    pub require_new_password: Option<bool>,
    pub locked: Option<bool>,
    pub two_factor_auth_enabled: Option<bool>,
    pub limit_services: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_active_at: Option<i64>,
}

impl User {
    pub fn is_superuser(&self) -> bool {
        self.role == "superuser" || self.roles.iter().any(|r| r == "superuser")
    }

    /// The user object as the API renders it (serialized in the recorded field order).
    pub fn view(&self) -> UserView<'_> {
        UserView {
            id: &self.id,
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
            name: &self.name,
            customer_id: &self.customer_id,
            require_new_password: self.require_new_password,
            role: &self.role,
            roles: &self.roles,
            login: &self.login,
            deleted_at: None,
            locked: self.locked,
            two_factor_auth_enabled: self.two_factor_auth_enabled,
            limit_services: self.limit_services,
            last_active_at: self.last_active_at.map(iso),
        }
    }
}

#[derive(Serialize)]
pub struct UserView<'a> {
    id: &'a str,
    created_at: String,
    updated_at: String,
    name: &'a str,
    customer_id: &'a str,
    require_new_password: Option<bool>,
    role: &'a str,
    roles: &'a [String],
    login: &'a str,
    deleted_at: Option<String>,
    locked: Option<bool>,
    two_factor_auth_enabled: Option<bool>,
    limit_services: bool,
    last_active_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    /// The secret sent in `Fastly-Key`.
    pub secret: String,
    pub user_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub services: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Token {
    /// The token object as `GET /tokens/self` renders it.
    pub fn view<'a>(&'a self, customer_id: &'a str) -> TokenView<'a> {
        TokenView {
            id: &self.id,
            user_id: &self.user_id,
            customer_id,
            name: &self.name,
            last_used_at: self.last_used_at.map(iso),
            created_at: iso(self.created_at),
            expires_at: self.expires_at.map(iso),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            sudo_expires_at: None,
            scopes: &self.scopes,
            scope: self.scopes.join(" "),
            services: &self.services,
            service_id: self.services.first().map(String::as_str),
        }
    }
}

#[derive(Serialize)]
pub struct TokenView<'a> {
    id: &'a str,
    user_id: &'a str,
    customer_id: &'a str,
    name: &'a str,
    last_used_at: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    sudo_expires_at: Option<String>,
    scopes: &'a [String],
    scope: String,
    services: &'a [String],
    service_id: Option<&'a str>,
}

/// One user's hourly budget of modifying requests.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// End of the window `remaining` belongs to (epoch seconds, top of an hour).
    pub reset: i64,
}

impl Budget {
    /// Refills the budget when its window has passed.
    pub fn roll(&mut self, now: i64) {
        if now >= self.reset {
            self.remaining = self.limit;
            self.reset = next_top_of_hour(now);
        }
    }
}

/// A queued fault, as posted to `/_emulator/faults`.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub method: Option<String>,
    pub path_prefix: Option<String>,
    /// Matching requests this fault still applies to.
    pub count: u32,
    pub status: Option<u16>,
    pub delay_ms: u64,
    pub drop_response: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Fault {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
    }
}

/// SplitMix64: small, deterministic, good enough for ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A 22-character base62 id (a 128-bit number, zero-padded).
    pub fn id(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut n = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        let mut out = vec![b'0'; 22];
        for slot in out.iter_mut().rev() {
            let digit = usize::try_from(n % 62).unwrap_or(0);
            *slot = ALPHABET.get(digit).copied().unwrap_or(b'0');
            n /= 62;
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The users, in creation order, indexed by id and by lowercased login: `GET /user/{id}` and
/// the login check of a create must not scan an account of 100,000 users.
#[derive(Debug, Clone, Default)]
pub struct Users {
    /// Creation sequence → user; iterating it gives creation order.
    by_seq: BTreeMap<u64, User>,
    by_id: HashMap<String, u64>,
    /// Lowercased logins; logins are unique and never change.
    logins: HashSet<String>,
    next_seq: u64,
}

impl Users {
    /// In creation order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_seq.values()
    }

    pub fn get(&self, id: &str) -> Option<&User> {
        self.by_seq.get(self.by_id.get(id)?)
    }

    /// Callers must not change `id` or `login`: the indexes hold them.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut User> {
        self.by_seq.get_mut(self.by_id.get(id)?)
    }

    /// Adds a user last; the caller has checked that its id and login are unused.
    pub fn push(&mut self, user: User) {
        self.by_id.insert(user.id.clone(), self.next_seq);
        self.logins.insert(user.login.to_lowercase());
        self.by_seq.insert(self.next_seq, user);
        self.next_seq += 1;
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(u) = self.by_id.remove(id).and_then(|seq| self.by_seq.remove(&seq)) {
            self.logins.remove(&u.login.to_lowercase());
        }
    }

    pub fn login_taken(&self, login: &str) -> bool {
        self.logins.contains(&login.to_lowercase())
    }
}

/// Everything `/_emulator/reset` restores.
#[derive(Debug, Clone)]
pub struct State {
    /// Customer id → name.
    pub customers: BTreeMap<String, String>,
    /// In creation order; deleted users are removed.
    pub users: Users,
    pub tokens: Vec<Token>,
    /// Budget per user id, created on first use.
    pub budgets: BTreeMap<String, Budget>,
    /// Hourly budget for users without an entry in `budget_limits`.
    pub default_budget: u32,
    pub budget_limits: BTreeMap<String, u32>,
    /// Lowercased fqdn without trailing dot → TXT strings.
    pub dns: BTreeMap<String, Vec<String>>,
    pub faults: Vec<Fault>,
    pub log: Vec<Value>,
    pub next_seq: u64,
    pub clock: Clock,
    pub rng: Rng,
}

impl State {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.get_mut(id)
    }

    pub fn login_taken(&self, login: &str) -> bool {
        self.users.login_taken(login)
    }

    /// A fresh id not used by any user or token.
    pub fn new_id(&mut self) -> String {
        loop {
            let id = self.rng.id();
            if self.user(&id).is_none() && !self.tokens.iter().any(|t| t.id == id) {
                return id;
            }
        }
    }

    pub fn limit_of(&self, user_id: &str) -> u32 {
        self.budget_limits.get(user_id).copied().unwrap_or(self.default_budget)
    }

    /// The user's budget, rolled to the current window.
    pub fn budget(&mut self, user_id: &str) -> &mut Budget {
        let now = self.now();
        let limit = self.limit_of(user_id);
        let b = self.budgets.entry(user_id.to_string()).or_insert(Budget {
            limit,
            remaining: limit,
            reset: next_top_of_hour(now),
        });
        b.roll(now);
        b
    }

    /// Takes the first fault matching the request, counting one use of it.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let idx = self.faults.iter().position(|f| f.matches(method, path))?;
        let fault = self.faults.get_mut(idx)?;
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            self.faults.remove(idx);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, login: &str) -> User {
        User {
            id: id.into(),
            login: login.into(),
            name: id.into(),
            customer_id: "C".into(),
            role: "user".into(),
            roles: vec!["user".into()],
            require_new_password: None,
            locked: None,
            two_factor_auth_enabled: None,
            limit_services: false,
            created_at: 0,
            updated_at: 0,
            last_active_at: None,
        }
    }

    #[test]
    fn users_keep_creation_order_and_their_indexes() {
        let mut users = Users::default();
        for (id, login) in [("b", "B@x.com"), ("a", "a@x.com"), ("c", "c@x.com")] {
            users.push(user(id, login));
        }
        users.remove("a");
        users.push(user("a", "a2@x.com"));
        let order: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(order, ["b", "c", "a"]);
        assert_eq!(users.get("a").map(|u| u.login.as_str()), Some("a2@x.com"));
        assert!(users.login_taken("b@X.com") && users.login_taken("A2@x.com"));
        assert!(!users.login_taken("a@x.com"));
        users.remove("missing");
        assert!(users.get("missing").is_none());
    }

    #[test]
    fn ids_are_22_base62_and_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            let id = a.id();
            assert_eq!(id.len(), 22);
            assert!(id.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(id, b.id());
        }
    }
}
