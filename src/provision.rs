//! The Fastly lifecycle rules: the only place that knows both SCIM and Fastly.
//!
//! - A SCIM user created (or reactivated) becomes a Fastly user with one role (default `user`).
//! - Only the role and the name are forwarded on update; a change that Fastly would not see
//!   spends no write.
//! - `active:false` removes the Fastly user but keeps the SCIM record; `active:true` creates it
//!   again with the last role, under the same SCIM id.
//! - Users made in the Fastly control panel appear with their Fastly id as SCIM id, and are
//!   adopted (stored) on their first change through SCIM.
//! - The userName (the Fastly login) never changes through SCIM.

mod directory;
mod snapshot;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::auth::Tenant;
use crate::cache::Cache;
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{Filter, IndexKey};
use crate::scim::list::{Paging, Projection};
use crate::scim::schema::{FASTLY_ROLES, FASTLY_USER};
use crate::scim::user::{Attributes, RawAttributes};
use crate::scim::{patch, user};
use crate::store::{keys, Store, StoreError, Write};
use crate::upstream::{FastlyApi, FastlyUser, ListedUser, UserFields};

pub const DEFAULT_ROLE: &str = "user";
/// Attempts of a read-modify-write before a concurrent writer wins with 409.
const MAX_ATTEMPTS: usize = 4;
/// Seconds a userName claim without a record protects the create that holds it (its Fastly
/// calls take at most a few backend timeouts). An older one was left by a create that failed
/// half-way, and is taken over.
const CLAIM_LEASE_SECS: u64 = 60;
/// The most users a filter that no index answers may read. Such a filter reads and renders every
/// user of the account, which a request at the edge affords for a thousand users, not for many
/// thousands; beyond it the filter is refused (`tooMany`, RFC 7644 §3.4.2.2).
pub const MAX_UNINDEXED_FILTER_USERS: usize = 1000;

/// What one account allows. Loaded per request by the caller.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Roles SCIM may grant; `None` means every role Fastly knows.
    pub allowed_roles: Option<Vec<String>>,
    /// Seconds a stored record is served without asking Fastly again (0: always ask). Imports
    /// always reconcile with Fastly's user list.
    pub sync_seconds: u64,
    /// For test and staging accounts only: a user whose userName is not an email and who has no
    /// email gets the login `<userName>@<this domain>`. Unset (the default), such a user is refused.
    pub fallback_login_domain: Option<String>,
    /// Fastly's rule: a Fastly user is only created (or re-created on reactivation) in an email
    /// domain the account has verified (see [`crate::domains`]). The edge reads the setting
    /// `require_verified_domain` and defaults to `true`; `Policy::default()` (tests) leaves it off.
    pub require_verified_domain: bool,
}

/// Receives one JSON line per change. Never given a token or a password.
pub trait Audit {
    fn record(&self, line: &Value);
}

/// Everything an operation needs, for one request.
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    /// The POP cache, for import snapshots.
    pub cache: &'a dyn Cache,
    pub api: FastlyApi<'a>,
    pub tenant: &'a Tenant,
    pub policy: &'a Policy,
    pub audit: &'a dyn Audit,
    /// Unix seconds.
    pub now: u64,
    /// A fresh, unguessable SCIM id for each call.
    pub new_id: &'a dyn Fn() -> String,
    /// `https://host/scim/v2`, for `meta.location`.
    pub base: &'a str,
    pub request_id: &'a str,
}

/// The stored SCIM view of one user. Its attributes are parsed, except on an import page, which
/// leaves them raw ([`user::RawAttributes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord<A = Map<String, Value>> {
    pub id: String,
    /// What the client wrote, normalised, without `active` and the role attributes.
    pub attributes: A,
    pub active: bool,
    /// The role SCIM manages.
    pub role: String,
    /// The `display` and `type` the client gave the role in `roles[]`.
    #[serde(default)]
    pub role_detail: Map<String, Value>,
    /// Unix seconds when Fastly was last asked about this user.
    #[serde(default)]
    pub synced_at: u64,
    /// Every role Fastly last showed (several when set in the control panel).
    pub fastly_roles: Vec<String>,
    pub fastly_id: Option<String>,
    pub login: String,
    pub created: String,
    pub last_modified: String,
    pub revision: u64,
}

impl<A: Attributes> UserRecord<A> {
    pub fn version(&self) -> String {
        format!("W/\"{}\"", self.revision)
    }

    /// The full SCIM representation as a `Value` (to filter, patch or project).
    pub fn render(&self, ctx: &Ctx<'_>) -> Value {
        user::render(&self.attributes, self.facts(ctx))
    }

    /// The representation a response returns by default, serialised straight from the record.
    pub fn resource<'r>(&'r self, ctx: &'r Ctx<'_>) -> user::Resource<'r, A> {
        user::Resource::returned(&self.attributes, self.facts(ctx))
    }

    fn facts<'r>(&'r self, ctx: &'r Ctx<'_>) -> user::Facts<'r> {
        user::Facts {
            id: &self.id,
            active: self.active,
            role: Some(&self.role),
            role_detail: &self.role_detail,
            roles: &self.fastly_roles,
            fastly_user_id: self.fastly_id.as_deref(),
            customer_id: &ctx.tenant.customer_id,
            created: &self.created,
            last_modified: &self.last_modified,
            version: self.version(),
            location: format!("{}/Users/{}", ctx.base, self.id),
        }
    }

    /// Takes in what Fastly now says about the user (a role changed in the control panel).
    fn refresh_from(&mut self, u: &FastlyUser) {
        let roles = u.role_list();
        if let Some(role) = &u.role {
            if !roles.contains(&self.role) || roles.len() == 1 {
                if *role != self.role {
                    // The client's `display` and `type` were for the role it set, not this one.
                    self.role_detail = Map::new();
                }
                self.role = role.clone();
            }
        }
        self.fastly_roles = roles;
    }

    /// Takes in what an import snapshot saw of the record's Fastly user (roles changed, or the
    /// user deleted, in the control panel), unless the record has looked at Fastly since: `fresh`
    /// when the snapshot was read from Fastly in this request.
    fn reconcile(&mut self, e: &snapshot::Entry, built: u64, fresh: bool) {
        let seen_since = fresh || self.synced_at < built;
        if self.active && self.fastly_id.is_some() && self.fastly_id == e.linked && seen_since {
            match &e.seen {
                Some(seen) => self.refresh_from(&seen.as_user()),
                None => {
                    self.active = false;
                    self.fastly_id = None;
                }
            }
        }
    }
}

impl UserRecord {
    fn user_name(&self) -> &str {
        self.attributes.get("userName").and_then(Value::as_str).unwrap_or(&self.login)
    }

    /// A user made in the control panel, seen through SCIM: its SCIM id is its Fastly id.
    fn from_fastly(u: &FastlyUser, now: u64) -> UserRecord {
        let name = u.name.clone().unwrap_or_default();
        let mut attributes = Map::new();
        attributes.insert("userName".into(), json!(u.login));
        if !name.is_empty() {
            let (given, family) = match name.trim().rsplit_once(' ') {
                Some((g, f)) => (g.trim(), f.trim()),
                None => (name.trim(), ""),
            };
            let mut n = Map::new();
            n.insert("formatted".into(), json!(name));
            if !given.is_empty() {
                n.insert("givenName".into(), json!(given));
            }
            if !family.is_empty() {
                n.insert("familyName".into(), json!(family));
            }
            attributes.insert("name".into(), Value::Object(n));
            attributes.insert("displayName".into(), json!(name));
        }
        attributes.insert("emails".into(), json!([{"value": u.login, "type": "work", "primary": true}]));
        let roles = u.role_list();
        let stamp = crate::time::format(now);
        UserRecord {
            id: u.id.clone(),
            attributes,
            active: true,
            role: u.role.clone().or_else(|| roles.first().cloned()).unwrap_or_else(|| DEFAULT_ROLE.into()),
            role_detail: Map::new(),
            synced_at: now,
            fastly_roles: roles,
            fastly_id: Some(u.id.clone()),
            login: u.login.clone(),
            created: u.created_at.clone().unwrap_or_else(|| stamp.clone()),
            last_modified: u.updated_at.clone().unwrap_or(stamp),
            revision: 0,
        }
    }
}

/// A record as loaded, with the generation a conditional write must name (`None`: not stored,
/// i.e. a control-panel user not yet adopted).
struct Loaded {
    record: UserRecord,
    generation: Option<u64>,
}

fn store_err(e: StoreError) -> ScimError {
    match e {
        StoreError::Conflict => ScimError::uniqueness("a concurrent change won; retry the request"),
        StoreError::Unavailable(_) => ScimError::service_unavailable("the state store is unavailable; retry"),
    }
}

fn parse_record(bytes: &[u8]) -> ScimResult<UserRecord> {
    serde_json::from_slice(bytes).map_err(|_| ScimError::internal())
}

fn read_id_key(ctx: &Ctx<'_>, key: &str) -> ScimResult<Option<(String, u64)>> {
    Ok(read_claim(ctx, key)?.map(|c| (c.holder, c.generation)))
}

/// An index entry: `<scim id>`, or for a userName claim `<scim id> <unix seconds of the claim>`.
struct Claim {
    holder: String,
    /// 0 when the entry carries no time.
    at: u64,
    generation: u64,
}

fn read_claim(ctx: &Ctx<'_>, key: &str) -> ScimResult<Option<Claim>> {
    Ok(ctx.store.get(key).map_err(store_err)?.and_then(|e| {
        let text = String::from_utf8(e.value).ok()?;
        let mut parts = text.split(' ');
        let holder = parts.next().filter(|h| !h.is_empty())?.to_owned();
        let at = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        Some(Claim { holder, at, generation: e.generation })
    }))
}

fn load_stored(ctx: &Ctx<'_>, id: &str) -> ScimResult<Option<Loaded>> {
    let key = keys::user(&ctx.tenant.customer_id, id);
    match ctx.store.get(&key).map_err(store_err)? {
        Some(e) => Ok(Some(Loaded { record: parse_record(&e.value)?, generation: Some(e.generation) })),
        None => Ok(None),
    }
}

/// Fastly ids are base62, 22 characters in every recorded answer (21 when one starts with a
/// zero); the range is wider so that a change of length would not hide control-panel users.
fn may_be_fastly_id(id: &str) -> bool {
    (16..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The user with this SCIM id, stored or (for control-panel users) straight from Fastly.
fn load(ctx: &Ctx<'_>, id: &str) -> ScimResult<Loaded> {
    let not_found = || ScimError::not_found(format!("no user with id '{id}'"));
    if !keys::is_safe_id(id) {
        return Err(not_found());
    }
    if let Some(l) = load_stored(ctx, id)? {
        return Ok(l);
    }
    // Only a Fastly id names a control-panel user: any other id (the UUIDs scim-edge mints, say
    // of a deleted user) is not sent to Fastly.
    if !may_be_fastly_id(id) {
        return Err(not_found());
    }
    // A Fastly id that is linked to a record under another SCIM id is not a SCIM id.
    if read_id_key(ctx, &keys::fastly_user(&ctx.tenant.customer_id, id))?.is_some() {
        return Err(not_found());
    }
    match ctx.api.get_user(id)? {
        Some(u) if u.customer_id.as_deref() == Some(ctx.tenant.customer_id.as_str()) => {
            Ok(Loaded { record: UserRecord::from_fastly(&u, ctx.now), generation: None })
        }
        _ => Err(not_found()),
    }
}

/// Brings a stored record up to date with Fastly (roles changed or user deleted in the
/// control panel). Always asks Fastly: used before a change.
fn refreshed(ctx: &Ctx<'_>, mut rec: UserRecord) -> ScimResult<UserRecord> {
    if let (true, Some(fid)) = (rec.active, rec.fastly_id.clone()) {
        match ctx.api.get_user(&fid)? {
            Some(u) => rec.refresh_from(&u),
            None => {
                // Deleted in the control panel: the person has no access, so say so.
                rec.active = false;
                rec.fastly_id = None;
            }
        }
    }
    rec.synced_at = ctx.now;
    Ok(rec)
}

/// A stored record as a read should show it. Within `Policy::sync_seconds` of the last look at
/// Fastly the record is served as stored, so reads cost no Fastly call; after that Fastly is
/// asked, and what it says is written back (best effort) so the next reads are cheap again.
fn fresh_for_read(ctx: &Ctx<'_>, loaded: Loaded) -> ScimResult<UserRecord> {
    let Some(generation) = loaded.generation else { return Ok(loaded.record) };
    let rec = loaded.record;
    let linked = rec.active && rec.fastly_id.is_some();
    if !linked || ctx.now.saturating_sub(rec.synced_at) < ctx.policy.sync_seconds {
        return Ok(rec);
    }
    let mut next = refreshed(ctx, rec.clone())?;
    let changed = UserRecord { synced_at: rec.synced_at, ..next.clone() } != rec;
    if changed {
        next.revision = rec.revision + 1;
        next.last_modified = crate::time::format(ctx.now);
    }
    if changed || ctx.policy.sync_seconds > 0 {
        // Losing this write (a concurrent change won) only means the next read asks again.
        if save(ctx, &next, Write::IfGeneration(generation)).is_ok() && changed {
            write_indexes(ctx, &next, Some(&rec))?;
        }
    }
    Ok(next)
}

pub fn get(ctx: &Ctx<'_>, id: &str) -> ScimResult<UserRecord> {
    fresh_for_read(ctx, load(ctx, id)?)
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
}

/// The Fastly login: the userName when it is an email (Okta's default), else the primary email.
fn login_for(attrs: &Map<String, Value>, policy: &Policy) -> ScimResult<String> {
    let user_name = attrs.get("userName").and_then(Value::as_str).unwrap_or_default();
    if is_email(user_name) {
        return Ok(user_name.to_owned());
    }
    let emails = attrs.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
    let primary = emails.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| emails.first());
    let local_part_safe = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
    };
    match primary.and_then(|e| e.get("value")).and_then(Value::as_str) {
        Some(e) if is_email(e) => Ok(e.to_owned()),
        None if local_part_safe(user_name) && policy.fallback_login_domain.is_some() => {
            Ok(format!("{user_name}@{}", policy.fallback_login_domain.as_deref().unwrap_or_default()))
        }
        _ => Err(ScimError::invalid_value(format!(
            "a Fastly login is an email address: userName '{user_name}' is not one, and no email is given"
        ))),
    }
}

/// The Fastly name: the formatted name, else given and family names, else displayName, else the login.
fn fastly_name(attrs: &Map<String, Value>, login: &str) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let name = attrs.get("name");
    s(name.and_then(|n| n.get("formatted")))
        .or_else(|| {
            let parts: Vec<String> =
                ["givenName", "familyName"].iter().filter_map(|k| s(name.and_then(|n| n.get(*k)))).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .or_else(|| s(attrs.get("displayName")))
        .unwrap_or_else(|| login.to_owned())
}

/// The roles a client asked for: `roles[]` (objects or plain strings) and the Fastly extension's `role`.
struct RoleRequest {
    roles: Vec<String>,
    /// The `roles[]` elements as sent, for their `display` and `type`.
    elements: Vec<Map<String, Value>>,
    extension: Option<String>,
}

impl RoleRequest {
    /// What the client said about `role` beyond its name (`display`, `type`), if it sent it.
    /// `primary: true` is what every managed role shows anyway, so echoing a GET changes nothing.
    fn detail(&self, role: &str) -> Option<Map<String, Value>> {
        self.elements.iter().find(|e| e.get("value").and_then(Value::as_str) == Some(role)).map(|e| {
            e.iter()
                .filter(|(k, v)| match k.as_str() {
                    "display" | "type" => true,
                    "primary" => **v != Value::Bool(true),
                    _ => false,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }
}

fn take_roles(attrs: &mut Map<String, Value>) -> RoleRequest {
    let elements: Vec<Map<String, Value>> = attrs
        .remove("roles")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    let mut roles: Vec<String> = Vec::new();
    for r in elements.iter().filter_map(|e| e.get("value").and_then(Value::as_str)) {
        if !roles.iter().any(|x| x == r) {
            roles.push(r.to_owned());
        }
    }
    let mut extension = None;
    if let Some(Value::Object(mut ext)) = attrs.remove(FASTLY_USER) {
        extension = ext.remove("role").and_then(|v| v.as_str().map(str::to_owned));
    }
    RoleRequest { roles, elements, extension }
}

fn check_role(role: &str, policy: &Policy) -> ScimResult<()> {
    if role.is_empty() || !role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(ScimError::invalid_value(format!(
            "role '{role}' is not a Fastly role name: role names are lowercase letters and underscores"
        )));
    }
    if !FASTLY_ROLES.contains(&role) {
        return Err(ScimError::invalid_value(format!(
            "unknown role '{role}'; the roles that exist are: {}",
            FASTLY_ROLES.join(", ")
        )));
    }
    if let Some(allowed) = &policy.allowed_roles {
        if !allowed.iter().any(|a| a == role) {
            return Err(ScimError::invalid_value(format!(
                "role '{role}' cannot be granted through SCIM in this account; allowed: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn multiple_roles(roles: &[String]) -> ScimError {
    ScimError::invalid_value(format!(
        "a Fastly user has one role through SCIM, but {} were given ({}); multiple roles can only be assigned in the Fastly control panel",
        roles.len(),
        roles.join(", ")
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Replace,
    Patch,
}

/// The role to set, or `None` to keep the current one (or the default on create).
///
/// - A request that only echoes what the user has (several roles set in the control panel
///   included) changes nothing: roles are never collapsed behind the admin's back.
/// - `roles[]` may name one role. A PATCH that adds a role to a user replaces the role, since a
///   user has one; a PUT or POST naming several is refused.
/// - When `roles[]` and the Fastly extension's `role` both ask for a change, the extension's
///   `role` (the Fastly-specific attribute, the one Okta maps) wins.
fn decide_role(
    req: &RoleRequest,
    current: Option<&UserRecord>,
    mode: Mode,
    policy: &Policy,
) -> ScimResult<Option<String>> {
    let mut have: Vec<&String> = Vec::new();
    if let Some(cur) = current {
        have = cur.fastly_roles.iter().collect();
        if !have.contains(&&cur.role) {
            have.push(&cur.role);
        }
    }
    let echoes = current.is_some()
        && (req.roles.len() == have.len() && req.roles.iter().all(|r| have.contains(&r))
            || current.is_some_and(|c| req.roles == [c.role.clone()]));
    let from_roles = if req.roles.is_empty() || echoes {
        None
    } else if let [only] = req.roles.as_slice() {
        Some(only.clone())
    } else {
        let added: Vec<&String> = req.roles.iter().filter(|r| !have.contains(r)).collect();
        match (mode, added.as_slice(), current) {
            (Mode::Patch, [one], _) => Some((*one).clone()),
            (Mode::Patch, [], Some(cur)) if req.roles.contains(&cur.role) => None,
            _ => return Err(multiple_roles(&req.roles)),
        }
    };
    let from_extension = req.extension.clone().filter(|e| current.is_none_or(|c| *e != c.role));
    let chosen = from_extension.or(from_roles);
    if let Some(r) = &chosen {
        check_role(r, policy)?;
    }
    Ok(chosen)
}

fn audit(ctx: &Ctx<'_>, op: &str, rec: &UserRecord, old_role: Option<&str>, result: &str, upstream: Option<u16>) {
    ctx.audit.record(&json!({
        "time": crate::time::format(ctx.now),
        "account": ctx.tenant.customer_id,
        "actor": ctx.tenant.actor,
        "operation": op,
        "scim_id": rec.id,
        "fastly_id": rec.fastly_id,
        "old_role": old_role,
        "new_role": rec.role,
        "active": rec.active,
        "result": result,
        "upstream_status": upstream,
        "request_id": ctx.request_id,
    }));
}

/// Creates the Fastly user, or — when Fastly already has this login in the account (a lost
/// answer to an earlier attempt, or a control-panel user) — adopts it.
fn create_upstream(ctx: &Ctx<'_>, rec: &mut UserRecord) -> ScimResult<()> {
    if ctx.policy.require_verified_domain {
        crate::domains::require_verified(ctx.store, &ctx.tenant.customer_id, &rec.login)?;
    }
    let name = fastly_name(&rec.attributes, &rec.login);
    let fields = UserFields { login: Some(rec.login.clone()), name: Some(name), role: Some(rec.role.clone()) };
    match ctx.api.create_user(&fields) {
        Ok(u) => {
            rec.fastly_id = Some(u.id.clone());
            rec.fastly_roles = u.role_list();
            Ok(())
        }
        Err(e) if e.status == 409 => {
            let list = ctx.api.list_users(&ctx.tenant.customer_id)?;
            let existing = list
                .users()?
                .iter()
                .find(|u| keys::fold(&u.login) == keys::fold(&rec.login))
                .map(ListedUser::to_owned)
                .ok_or_else(|| {
                    ScimError::uniqueness(format!("the login '{}' belongs to another Fastly account", rec.login))
                })?;
            if let Some((other, _)) = read_id_key(ctx, &keys::fastly_user(&ctx.tenant.customer_id, &existing.id))? {
                if other != rec.id {
                    return Err(ScimError::uniqueness(format!(
                        "the Fastly user '{}' is already linked to SCIM user '{other}'",
                        rec.login
                    )));
                }
            }
            rec.fastly_id = Some(existing.id.clone());
            rec.fastly_roles = existing.role_list();
            if existing.role.as_deref() != Some(rec.role.as_str()) {
                let u = ctx
                    .api
                    .update_user(&existing.id, &UserFields { role: Some(rec.role.clone()), ..UserFields::default() })?;
                rec.fastly_roles = u.role_list();
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The multi-holder index keys of a record: its externalId and its email addresses.
fn holder_keys(tenant: &str, rec: &UserRecord) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ext) = rec.attributes.get("externalId").and_then(Value::as_str) {
        keys.push(keys::external_id(tenant, ext, &rec.id));
    }
    let emails = rec.attributes.get("emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for email in emails.iter().filter_map(|e| e.get("value").and_then(Value::as_str)) {
        let key = keys::email_holder(tenant, email, &rec.id);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn write_indexes(ctx: &Ctx<'_>, rec: &UserRecord, old: Option<&UserRecord>) -> ScimResult<()> {
    let tenant = &ctx.tenant.customer_id;
    if let Some(fid) = &rec.fastly_id {
        ctx.store.put(&keys::fastly_user(tenant, fid), rec.id.as_bytes(), Write::Overwrite).map_err(store_err)?;
    }
    let new_keys = holder_keys(tenant, rec);
    let old_keys = old.map(|o| holder_keys(tenant, o)).unwrap_or_default();
    for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
        ctx.store.put(key, b"", Write::Overwrite).map_err(store_err)?;
    }
    for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
        ctx.store.delete(key).map_err(store_err)?;
    }
    if let Some(old) = old {
        if let Some(fid) = old.fastly_id.as_ref().filter(|f| rec.fastly_id.as_ref() != Some(*f)) {
            ctx.store.delete(&keys::fastly_user(tenant, fid)).map_err(store_err)?;
        }
    }
    if old.is_none_or(|o| o.fastly_id != rec.fastly_id) {
        directory::record(ctx, &rec.id, rec.fastly_id.as_deref())?;
    }
    Ok(())
}

fn save(ctx: &Ctx<'_>, rec: &UserRecord, write: Write) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    ctx.store.put(&keys::user(&ctx.tenant.customer_id, &rec.id), &bytes, write)
}

/// Claims the userName for `id`. A claim without a record is a create in flight, which wins;
/// once its lease has run out it is one that failed half-way, and is taken over.
fn claim_user_name(ctx: &Ctx<'_>, user_name: &str, id: &str) -> ScimResult<()> {
    let key = keys::user_name(&ctx.tenant.customer_id, user_name);
    let value = format!("{id} {}", ctx.now);
    for _ in 0..MAX_ATTEMPTS {
        match ctx.store.put(&key, value.as_bytes(), Write::IfAbsent) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(store_err(e)),
        }
        let Some(claim) = read_claim(ctx, &key)? else { continue };
        if claim.holder == id {
            return Ok(());
        }
        if load_stored(ctx, &claim.holder)?.is_some() {
            return Err(ScimError::uniqueness(format!("a user with userName '{user_name}' already exists")));
        }
        if claim.at.saturating_add(CLAIM_LEASE_SECS) > ctx.now {
            // Taking it over now would send a second create to Fastly and link both to one user.
            return Err(ScimError::uniqueness(format!(
                "a user with userName '{user_name}' is being created by another request; retry the request"
            )));
        }
        match ctx.store.put(&key, value.as_bytes(), Write::IfGeneration(claim.generation)) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(ScimError::uniqueness(format!("a user with userName '{user_name}' is being created concurrently")))
}

/// Gives up `id`'s claim of a userName; a claim another request holds is left alone.
fn release_user_name(ctx: &Ctx<'_>, user_name: &str, id: &str) {
    // Best effort: a claim left behind is taken over once its lease runs out (see claim_user_name).
    let key = keys::user_name(&ctx.tenant.customer_id, user_name);
    if let Ok(Some(claim)) = read_claim(ctx, &key) {
        if claim.holder == id {
            let _ = ctx.store.delete(&key);
        }
    }
}

pub fn create(ctx: &Ctx<'_>, body: &Value) -> ScimResult<UserRecord> {
    let mut attrs = user::read(body)?;
    let role_req = take_roles(&mut attrs);
    let role = decide_role(&role_req, None, Mode::Create, ctx.policy)?.unwrap_or_else(|| DEFAULT_ROLE.to_owned());
    let role_detail = role_req.detail(&role).unwrap_or_default();
    let active = attrs.remove("active").and_then(|v| v.as_bool()).unwrap_or(true);
    let login = login_for(&attrs, ctx.policy)?;
    let user_name = attrs.get("userName").and_then(Value::as_str).unwrap_or_default().to_owned();
    // A login Fastly already has (a control-panel user, or a lost answer) is adopted by create_upstream.
    let id = (ctx.new_id)();
    claim_user_name(ctx, &user_name, &id)?;
    let stamp = crate::time::format(ctx.now);
    let mut rec = UserRecord {
        id,
        attributes: attrs,
        active,
        role,
        role_detail,
        synced_at: ctx.now,
        fastly_roles: Vec::new(),
        fastly_id: None,
        login,
        created: stamp.clone(),
        last_modified: stamp,
        revision: 1,
    };
    if active {
        if let Err(e) = create_upstream(ctx, &mut rec) {
            release_user_name(ctx, &user_name, &rec.id);
            audit(ctx, "create", &rec, None, "failed", Some(e.status));
            return Err(e);
        }
    }
    save(ctx, &rec, Write::IfAbsent).map_err(store_err)?;
    write_indexes(ctx, &rec, None)?;
    audit(ctx, "create", &rec, None, "ok", None);
    Ok(rec)
}

/// Checks `If-Match` against the current version (RFC 7644 §3.14).
fn check_if_match(rec: &UserRecord, if_match: Option<&str>) -> ScimResult<()> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tags) => {
            let v = rec.version();
            let strip = |t: &str| t.trim().trim_start_matches("W/").trim_matches('"').to_owned();
            if tags.split(',').any(|t| strip(t) == strip(&v)) {
                Ok(())
            } else {
                Err(ScimError::precondition_failed(format!("the user's version is {v}")))
            }
        }
    }
}

/// How a PUT or PATCH body turned into a new state.
enum Change<'b> {
    Replace(&'b Value),
    Patch(&'b [patch::Operation]),
}

/// The new record a change asks for, from the current one. No I/O.
fn desired(ctx: &Ctx<'_>, cur: &UserRecord, change: &Change<'_>) -> ScimResult<UserRecord> {
    let (mut attrs, role_removed) = match change {
        Change::Replace(body) => (user::read(body)?, false),
        Change::Patch(ops) => {
            // The rendered user always shows its role twice, in `roles` and in the extension:
            // a PATCH that leaves either one empty removed the role.
            let mut resource = cur.render(ctx);
            patch::apply(&mut resource, ops)?;
            let attrs = user::read(&resource)?;
            let has_role = attrs.get("roles").is_some() && attrs.get(FASTLY_USER).and_then(|e| e.get("role")).is_some();
            (attrs, !has_role)
        }
    };
    if role_removed {
        return Err(ScimError::invalid_value("a Fastly user needs a role: replace the role instead of removing it"));
    }
    let new_user_name = attrs.get("userName").and_then(Value::as_str).unwrap_or_default().to_owned();
    if keys::fold(&new_user_name) == keys::fold(cur.user_name()) {
        // A change of case only is no change: keep the stored spelling.
        attrs.insert("userName".into(), json!(cur.user_name()));
    } else if keys::fold(cur.user_name()) == keys::fold(&cur.login) {
        // The Fastly login is fixed when the user is created. A userName that is the login
        // cannot change; one that is not (the login came from the email) is only a SCIM label.
        return Err(ScimError::mutability(format!(
            "userName cannot change from '{}' to '{new_user_name}': it is the Fastly login, which only Fastly support can change",
            cur.user_name()
        )));
    }
    let role_req = take_roles(&mut attrs);
    let mode = if matches!(change, Change::Patch(_)) { Mode::Patch } else { Mode::Replace };
    let role = decide_role(&role_req, Some(cur), mode, ctx.policy)?;
    let active = attrs.remove("active").and_then(|v| v.as_bool()).unwrap_or(cur.active);
    let mut next = cur.clone();
    next.attributes = attrs;
    next.active = active;
    if let Some(role) = role {
        next.role = role.clone();
        next.fastly_roles = vec![role];
    }
    if let Some(detail) = role_req.detail(&next.role) {
        next.role_detail = detail;
    }
    Ok(next)
}

/// Makes Fastly match `next`, given that it matched `cur`. Returns the upstream writes spent.
fn apply_upstream(ctx: &Ctx<'_>, cur: &UserRecord, next: &mut UserRecord) -> ScimResult<()> {
    match (cur.active && cur.fastly_id.is_some(), next.active) {
        (true, false) => {
            if let Some(fid) = &cur.fastly_id {
                ctx.api.delete_user(fid)?;
            }
            next.fastly_id = None;
        }
        (false, true) => create_upstream(ctx, next)?,
        (true, true) => {
            let mut fields = UserFields::default();
            if next.role != cur.role || (next.fastly_roles != cur.fastly_roles && next.fastly_roles.len() == 1) {
                fields.role = Some(next.role.clone());
            }
            let name = fastly_name(&next.attributes, &next.login);
            if name != fastly_name(&cur.attributes, &cur.login) {
                fields.name = Some(name);
            }
            if let (false, Some(fid)) = (fields.is_empty(), &cur.fastly_id) {
                let u = ctx.api.update_user(fid, &fields)?;
                next.fastly_roles = u.role_list();
            }
        }
        (false, false) => {}
    }
    Ok(())
}

fn modify(ctx: &Ctx<'_>, id: &str, if_match: Option<&str>, change: Change<'_>) -> ScimResult<UserRecord> {
    for _ in 0..MAX_ATTEMPTS {
        let loaded = load(ctx, id)?;
        // The indexes were written for the record as stored, not as refreshed from Fastly (which
        // forgets the Fastly id of a user deleted in the control panel).
        let stored = loaded.record.clone();
        let cur = match loaded.generation {
            Some(_) => refreshed(ctx, loaded.record)?,
            None => loaded.record,
        };
        check_if_match(&cur, if_match)?;
        let mut next = desired(ctx, &cur, &change)?;
        // Nothing to ask of Fastly. Fastly may still hold what the stored record does not say yet
        // (an earlier attempt's answer was lost after Fastly applied it, or a control-panel
        // change): then the record catches up, since reads within the sync window show the store.
        let catch_up = next == cur;
        let store_is_current =
            loaded.generation.is_none() || UserRecord { synced_at: stored.synced_at, ..cur.clone() } == stored;
        if catch_up && store_is_current {
            return Ok(cur);
        }
        if loaded.generation.is_none() {
            // Adopting a control-panel user: its userName must be free in the store.
            claim_user_name(ctx, cur.user_name(), &cur.id)?;
        }
        let renamed = keys::fold(next.user_name()) != keys::fold(cur.user_name());
        if renamed {
            claim_user_name(ctx, next.user_name(), &cur.id)?;
        }
        if let Err(e) = apply_upstream(ctx, &cur, &mut next) {
            if renamed {
                release_user_name(ctx, next.user_name(), &cur.id);
            }
            // The audit shows attempts that Fastly refused or did not answer, as for creates.
            audit(ctx, change_kind(&cur, &next), &next, Some(&cur.role), "failed", Some(e.status));
            return Err(e);
        }
        next.revision = cur.revision + 1;
        next.last_modified = crate::time::format(ctx.now);
        let write = match loaded.generation {
            Some(g) => Write::IfGeneration(g),
            None => Write::IfAbsent,
        };
        match save(ctx, &next, write) {
            Ok(()) => {
                if renamed {
                    release_user_name(ctx, cur.user_name(), &cur.id);
                }
                write_indexes(ctx, &next, Some(&stored))?;
                // A catch-up records the change Fastly applied for an earlier attempt.
                let before = if catch_up { &stored } else { &cur };
                audit(ctx, change_kind(before, &next), &next, Some(&before.role), "ok", None);
                return Ok(next);
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(ScimError::uniqueness("the user is being changed concurrently; retry the request"))
}

/// The audit's name for a change from `before` to `after`.
fn change_kind(before: &UserRecord, after: &UserRecord) -> &'static str {
    match (before.active, after.active) {
        (true, false) => "deactivate",
        (false, true) => "reactivate",
        _ => "update",
    }
}

pub fn replace(ctx: &Ctx<'_>, id: &str, body: &Value, if_match: Option<&str>) -> ScimResult<UserRecord> {
    modify(ctx, id, if_match, Change::Replace(body))
}

pub fn patch(ctx: &Ctx<'_>, id: &str, body: &Value, if_match: Option<&str>) -> ScimResult<UserRecord> {
    let ops = patch::parse(body)?;
    modify(ctx, id, if_match, Change::Patch(&ops))
}

pub fn delete(ctx: &Ctx<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    let loaded = load(ctx, id)?;
    let rec = loaded.record;
    check_if_match(&rec, if_match)?;
    if let Some(fid) = &rec.fastly_id {
        if let Err(e) = ctx.api.delete_user(fid) {
            audit(ctx, "delete", &rec, Some(&rec.role), "failed", Some(e.status));
            return Err(e);
        }
    }
    let tenant = &ctx.tenant.customer_id;
    if loaded.generation.is_some() {
        ctx.store.delete(&keys::user(tenant, &rec.id)).map_err(store_err)?;
        ctx.store.delete(&keys::user_name(tenant, rec.user_name())).map_err(store_err)?;
        if let Some(fid) = &rec.fastly_id {
            ctx.store.delete(&keys::fastly_user(tenant, fid)).map_err(store_err)?;
        }
        for key in holder_keys(tenant, &rec) {
            ctx.store.delete(&key).map_err(store_err)?;
        }
        directory::forget(ctx, &rec.id)?;
    } else {
        directory::touch(ctx)?;
    }
    audit(ctx, "delete", &rec, Some(&rec.role), "ok", None);
    Ok(())
}

/// The stored records of a snapshot's entries, in order, read together: each one's bytes, or
/// `None` for a record deleted since the snapshot.
fn read_stored(ctx: &Ctx<'_>, entries: &[snapshot::Entry]) -> ScimResult<Vec<Option<Vec<u8>>>> {
    let tenant = &ctx.tenant.customer_id;
    let record_keys: Vec<String> = entries.iter().filter(|e| e.stored).map(|e| keys::user(tenant, &e.id)).collect();
    let found = ctx.store.get_many(&record_keys).map_err(store_err)?;
    Ok(found.into_iter().map(|f| f.map(|f| f.value)).collect())
}

/// The users of a snapshot's entries, each stored record reconciled with what the snapshot saw.
fn materialise(ctx: &Ctx<'_>, entries: &[snapshot::Entry], built: u64, fresh: bool) -> ScimResult<Vec<UserRecord>> {
    let mut stored = read_stored(ctx, entries)?.into_iter();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if !e.stored {
            out.extend(e.unlinked.as_ref().map(|u| UserRecord::from_fastly(u, ctx.now)));
            continue;
        }
        // A record deleted since the snapshot is left out.
        let Some(Some(bytes)) = stored.next() else { continue };
        let mut rec = parse_record(&bytes)?;
        rec.reconcile(e, built, fresh);
        out.push(rec);
    }
    Ok(out)
}

/// Every user of the account, for a filter that no index answers: from the import snapshot
/// (as fresh as an import's first page), and only for an account of at most
/// [`MAX_UNINDEXED_FILTER_USERS`].
fn all_users(ctx: &Ctx<'_>) -> ScimResult<Vec<UserRecord>> {
    let all = snapshot::page(ctx, 1, |total| if total > MAX_UNINDEXED_FILTER_USERS { 0..0 } else { 0..total })?;
    if all.total > MAX_UNINDEXED_FILTER_USERS {
        return Err(ScimError::too_many(format!(
            "this filter would read all {} users of the account (at most {MAX_UNINDEXED_FILTER_USERS}); filter with \
             'eq' on userName, externalId, id or emails.value (alone or joined by 'and'), or page through \
             the users without a filter",
            all.total
        )));
    }
    materialise(ctx, &all.entries, all.built, all.fresh)
}

/// The candidates an indexed equality names, or `None` when the filter needs a full listing.
fn indexed(ctx: &Ctx<'_>, key: &IndexKey) -> ScimResult<Option<Vec<UserRecord>>> {
    let tenant = &ctx.tenant.customer_id;
    let index_key = match key {
        IndexKey::UserName(v) => keys::user_name(tenant, v),
        IndexKey::ExternalId(v) => return holders(ctx, &keys::external_id_prefix(tenant, v)).map(Some),
        IndexKey::Email(v) => {
            let mut found = holders(ctx, &keys::email_prefix(tenant, v))?;
            // A control-panel user's only email is its login.
            found.extend(unlinked_with_login(ctx, v)?);
            return Ok(Some(found));
        }
        IndexKey::Id(v) => {
            return match get(ctx, v) {
                Ok(r) => Ok(Some(vec![r])),
                Err(e) if e.status == 404 => Ok(Some(Vec::new())),
                Err(e) => Err(e),
            }
        }
    };
    match read_id_key(ctx, &index_key)? {
        Some((id, _)) => match load_stored(ctx, &id)? {
            Some(l) => Ok(Some(vec![fresh_for_read(ctx, l)?])),
            // A claim without a record: a create in flight or one that failed half-way.
            None => Ok(Some(Vec::new())),
        },
        // Not in the store: only a control-panel user can still match a userName.
        None => match key {
            IndexKey::UserName(v) => unlinked_with_login(ctx, v).map(Some),
            _ => Ok(Some(Vec::new())),
        },
    }
}

/// The stored users listed under a multi-holder index prefix.
fn holders(ctx: &Ctx<'_>, prefix: &str) -> ScimResult<Vec<UserRecord>> {
    let page = ctx.store.list(prefix, None, 1000).map_err(store_err)?;
    let mut found = Vec::new();
    for key in &page.keys {
        let Some(id) = key.strip_prefix(prefix) else { continue };
        if let Some(l) = load_stored(ctx, id)? {
            found.push(fresh_for_read(ctx, l)?);
        }
    }
    Ok(found)
}

/// Control-panel users (not linked to any record) whose login is this one. They come from the
/// census of control-panel users (see `snapshot::CENSUS_SECS`), and a user adopted since is
/// left out by its Fastly-id index. A match from the cached census is confirmed with Fastly (one
/// read): a user deleted through scim-edge since, its index gone with it, would otherwise come
/// back as a control-panel user.
fn unlinked_with_login(ctx: &Ctx<'_>, login: &str) -> ScimResult<Vec<UserRecord>> {
    let tenant = &ctx.tenant.customer_id;
    let (users, fresh) = snapshot::unlinked_with_login(ctx, login)?;
    let mut unlinked = Vec::new();
    for u in &users {
        if read_id_key(ctx, &keys::fastly_user(tenant, &u.id))?.is_some() {
            continue;
        }
        if fresh {
            unlinked.push(UserRecord::from_fastly(u, ctx.now));
        } else if let Some(now) = ctx.api.get_user(&u.id)? {
            unlinked.push(UserRecord::from_fastly(&now, ctx.now));
        }
    }
    Ok(unlinked)
}

pub struct ListResult {
    pub total: usize,
    /// How many users `resources` holds.
    pub count: usize,
    /// The users, written: a JSON array.
    pub resources: Box<RawValue>,
}

/// A user of a list, to be written.
// `Raw` is the usual variant (every stored user of an import page): boxing it would only add an
// allocation per user.
#[allow(clippy::large_enum_variant)]
enum Listed<'a> {
    /// An import page's stored record, its attributes still raw.
    Raw(UserRecord<RawAttributes<'a>>),
    /// A control-panel user.
    Parsed(UserRecord),
    /// Already made a `Value` (to filter it), or cut down to the requested attributes.
    Value(Value),
}

/// Writes a list's users (with the ctx their representation needs).
struct Written<'a, 'c>(&'a [Listed<'a>], &'a Ctx<'c>);

impl serde::Serialize for Written<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.1;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            match item {
                Listed::Raw(rec) => seq.serialize_element(&rec.resource(ctx))?,
                Listed::Parsed(rec) => seq.serialize_element(&rec.resource(ctx))?,
                Listed::Value(v) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }
}

fn list_result(ctx: &Ctx<'_>, total: usize, users: &[Listed<'_>]) -> ScimResult<ListResult> {
    let resources = serde_json::value::to_raw_value(&Written(users, ctx)).map_err(|_| ScimError::internal())?;
    Ok(ListResult { total, count: users.len(), resources })
}

/// One page of an import: a snapshot of the account, and only the records on the page. Unless
/// a projection cuts them down (as `Value`s), the records are read with their attributes left raw
/// and written as they are.
fn import_page(ctx: &Ctx<'_>, paging: &Paging, projection: &Projection) -> ScimResult<ListResult> {
    let page = snapshot::page(ctx, paging.start_index, |total| paging.range(total))?;
    let stored = read_stored(ctx, &page.entries)?;
    let mut stored = stored.iter();
    let whole = projection.is_whole();
    let projected = |rec: UserRecord| Listed::Value(projection.apply_owned(rec.render(ctx)));
    let mut users = Vec::with_capacity(page.entries.len());
    for e in &page.entries {
        if !e.stored {
            if let Some(u) = &e.unlinked {
                let rec = UserRecord::from_fastly(u, ctx.now);
                users.push(if whole { Listed::Parsed(rec) } else { projected(rec) });
            }
            continue;
        }
        // A record deleted since the snapshot is left out.
        let Some(Some(bytes)) = stored.next() else { continue };
        if whole {
            let mut rec: UserRecord<RawAttributes<'_>> =
                serde_json::from_slice(bytes).map_err(|_| ScimError::internal())?;
            rec.reconcile(e, page.built, page.fresh);
            users.push(Listed::Raw(rec));
        } else {
            let mut rec = parse_record(bytes)?;
            rec.reconcile(e, page.built, page.fresh);
            users.push(projected(rec));
        }
    }
    list_result(ctx, page.total, &users)
}

pub fn list(
    ctx: &Ctx<'_>,
    filter: Option<&Filter>,
    paging: &Paging,
    projection: &Projection,
) -> ScimResult<ListResult> {
    let indexed_candidates = match filter.and_then(Filter::index_key) {
        Some(key) => indexed(ctx, &key)?,
        None => None,
    };
    let candidates = match (indexed_candidates, filter) {
        (Some(c), _) => c,
        (None, None) => return import_page(ctx, paging, projection),
        (None, Some(_)) => all_users(ctx)?,
    };
    let mut matching: Vec<Value> = Vec::new();
    for rec in candidates {
        let resource = rec.render(ctx);
        if filter.is_none_or(|f| f.matches(&resource)) {
            matching.push(resource);
        }
    }
    let total = matching.len();
    let range = paging.range(total);
    let users: Vec<Listed<'_>> = matching
        .into_iter()
        .skip(range.start)
        .take(range.len())
        .map(|r| Listed::Value(projection.apply_owned(r)))
        .collect();
    list_result(ctx, total, &users)
}

#[cfg(test)]
#[path = "provision_tests.rs"]
mod tests;
