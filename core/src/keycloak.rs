//! Reads a Keycloak realm into a directory [`Snapshot`] through the Keycloak
//! Admin REST API (Keycloak 26), over a [`Transport`] so that it stays pure:
//! the extension's worker supplies a `ureq` transport and calls
//! [`fetch_snapshot`] outside any transaction, then applies
//! `directory_sync::diff(current, snapshot)` in one transaction.
//!
//! # What one sync reads
//!
//! 1. A token: `POST /realms/{realm}/protocol/openid-connect/token` with
//!    `grant_type=client_credentials`, `client_id`, `client_secret` (form
//!    body). It is renewed before it expires (`expires_in`, less a margin).
//! 2. Users: `GET /admin/realms/{realm}/users` (brief representation unless
//!    `attributes` are wanted). Keycloak leaves service-account users out of
//!    this list, so they never become principals. Paging is by offset, so a
//!    user deleted while the list is read shifts the later pages and the user
//!    at a page boundary would be missed, and then wrongly deactivated. So
//!    `GET …/users/count` is asked before and after the list; if the number
//!    changed, the list is read again (at most three reads, then the sync
//!    fails with `unstable`).
//! 3. Groups: `GET …/groups?briefRepresentation=true` (top-level groups only:
//!    since Keycloak 23 `subGroups` is filled only for `search`/`q`), then
//!    `GET …/groups/{id}/children` for every group whose `subGroupCount` is not
//!    0, and `GET …/groups/{id}/members` for every group copied. Memberships
//!    are direct: awe's `include_subgroups` works on paths.
//! 4. Realm roles: `GET …/roles` when `realm_roles` is `"all"`; then, per role,
//!    `GET …/roles/{role}/users` (direct holders) and `GET …/roles/{role}/groups`
//!    (groups mapped to the role). In Keycloak a group's role mappings are
//!    inherited by its members and by the members of all its sub-groups, so
//!    those people hold the role too and awe grants it to them.
//! 5. Client roles: `GET …/clients?clientId=…` to find the client's id, then
//!    `GET …/clients/{id}/roles` (for `"all"`) and, per role,
//!    `…/clients/{id}/roles/{role}/users` and `…/groups` as for realm roles.
//!    awe's name for the role is `<clientId>:<role>`.
//!
//! Every list is paged with `first`/`max` (`max` = `page_size`) until a page
//! is shorter than `max`; there is no cap on members beyond a safety limit of
//! one million items per list. A role holder or group member who is not among
//! the listed users (a service account, or a user created during the sync) is
//! skipped and counted in [`FetchStats::skipped_members`].
//!
//! # What a user becomes
//!
//! The principal id is the `username` or the user `id` (option
//! `principal_id`); `display_name` is `firstName lastName` (either may be
//! missing), or the username when both are; `email` as Keycloak has it;
//! `attributes` holds the first value of each attribute named in the options;
//! `active` is Keycloak's `enabled` (disabled users are left out unless
//! `include_disabled`; see `keycloak_options.rs`). Roles and groups whose
//! names awe cannot store (a realm role named `Finance Director`, a group path
//! over 512 characters) are left out with a warning in [`FetchStats::warnings`]
//! rather than failing every sync.
//!
//! Not expanded: composite roles (a user holding a composite role that
//! contains `finance-director` does not get `finance-director` unless they
//! hold it directly or through a group) and the realm's default role.
//!
//! # Failures
//!
//! Any error means no snapshot: the caller applies nothing and keeps the last
//! good directory. [`SyncError`] carries a short code, a message and the call
//! that failed (`GET https://…/users?first=200&max=100`; never a token or the
//! secret).
//!
//! - A `401` from an admin call (the token expired or was revoked mid-sync):
//!   one new token, and the call is sent again; a second `401` fails the sync
//!   (`unauthorized`).
//! - `429`, and `503` with `Retry-After`: wait as asked (seconds or an HTTP
//!   date), at most `max_retry_after`, at most `max_rate_limit_waits` times per
//!   call (`rate_limited`). Without `Retry-After`, the backoff below.
//! - Other `5xx` and transport errors: retried `max_retries` times with
//!   exponential backoff (`server_error`, `transport`).
//! - `400`/`401` from the token endpoint: `auth_failed` (no retry: the
//!   secret is wrong, or the client lacks service accounts); `403`:
//!   `forbidden` (the service account lacks a `realm-management` role);
//!   `404`: `not_found` (realm, role, client or listed group missing).
//! - A body that is not JSON: `malformed`; JSON that is not the shape
//!   Keycloak returns (an object where a list belongs, a user without an id):
//!   `shape`.
//! - Any other status: `http_status`; a list over a million items:
//!   `too_large`; users still coming and going after three reads: `unstable`.
//!
//! The default [`RetryPolicy`]: 3 retries after 0.5 s, 1 s, 2 s (doubling,
//! at most 8 s); up to 5 rate-limit waits of at most 120 s each per call.
//! The token is renewed 30 s (or half its lifetime, if shorter) before it
//! expires, so a long sync rarely meets a 401 at all.
//!
//! [`FetchStats`] counts HTTP calls (every attempt), retries,
//! re-authentications and time slept, for a status view.

use crate::directory_sync::{check_group_path, check_principal_id, check_role, PrincipalRecord, Snapshot};
use crate::http_transport::{encode_component, form_body, parse_retry_after, HttpRequest, HttpResponse, Method, Transport};
use crate::keycloak_options::{client_role_name, KeycloakSource, PrincipalIdFrom, Selection};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// Bounds on waiting and retrying; [`RetryPolicy::default`] is what the
/// worker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one call after a 5xx or a transport error.
    pub max_retries: u32,
    /// Backoff before the first retry; doubled each time up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How many times one call may be answered 429/503-with-Retry-After.
    pub max_rate_limit_waits: u32,
    /// A longer `Retry-After` fails the sync instead of stalling the worker.
    pub max_retry_after: Duration,
    /// Items in one paged list before the sync gives up (a server ignoring
    /// `first` would otherwise page forever).
    pub max_items: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_waits: 5,
            max_retry_after: Duration::from_secs(120),
            max_items: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncErrorCode {
    AuthFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    Transport,
    HttpStatus,
    Malformed,
    Shape,
    TooLarge,
    Unstable,
}

impl SyncErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncErrorCode::AuthFailed => "auth_failed",
            SyncErrorCode::Unauthorized => "unauthorized",
            SyncErrorCode::Forbidden => "forbidden",
            SyncErrorCode::NotFound => "not_found",
            SyncErrorCode::RateLimited => "rate_limited",
            SyncErrorCode::ServerError => "server_error",
            SyncErrorCode::Transport => "transport",
            SyncErrorCode::HttpStatus => "http_status",
            SyncErrorCode::Malformed => "malformed",
            SyncErrorCode::Shape => "shape",
            SyncErrorCode::TooLarge => "too_large",
            SyncErrorCode::Unstable => "unstable",
        }
    }
}

/// Why a sync produced no snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncError {
    pub code: SyncErrorCode,
    pub message: String,
    /// `METHOD url` of the call that failed, if one did.
    pub call: Option<String>,
    /// HTTP calls made before giving up.
    pub http_calls: u32,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(call) = &self.call {
            write!(f, " ({call})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SyncError {}

/// How many times the user list is read when users come and go meanwhile.
pub const USER_LIST_READS: u32 = 3;

/// Warnings kept in full; later ones are only counted.
pub const MAX_WARNINGS: usize = 50;

/// What a sync cost and what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchStats {
    /// Every request sent, retries and token requests included.
    pub http_calls: u32,
    pub retries: u32,
    /// New tokens fetched because an admin call answered 401.
    pub reauthentications: u32,
    pub slept_ms: u64,
    /// Users Keycloak listed (disabled ones included).
    pub users_listed: usize,
    /// Disabled users left out (`include_disabled: false`).
    pub disabled_skipped: usize,
    /// Role holders and group members who are not among the listed users.
    pub skipped_members: usize,
    /// Roles and groups left out because awe cannot store their names, and
    /// users whose id awe cannot store; at most [`MAX_WARNINGS`].
    pub warnings: Vec<String>,
    pub warnings_dropped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub snapshot: Snapshot,
    pub stats: FetchStats,
}

/// Reads the realm `src` names into a snapshot with the default retry policy.
pub fn fetch_snapshot(src: &KeycloakSource, transport: &mut dyn Transport) -> Result<Fetched, SyncError> {
    fetch_snapshot_with(src, transport, &RetryPolicy::default())
}

pub fn fetch_snapshot_with(src: &KeycloakSource, transport: &mut dyn Transport, policy: &RetryPolicy) -> Result<Fetched, SyncError> {
    let mut c = Client { src, t: transport, policy, token: None, stats: FetchStats::default() };
    match RealmWalk::new(&mut c).run() {
        Ok(snapshot) => {
            debug_assert!(snapshot.validate().is_empty(), "{:?}", snapshot.validate());
            Ok(Fetched { snapshot, stats: c.stats })
        }
        Err(mut e) => {
            e.http_calls = c.stats.http_calls;
            Err(e)
        }
    }
}

fn error(code: SyncErrorCode, message: impl Into<String>, call: Option<&str>) -> SyncError {
    SyncError { code, message: message.into(), call: call.map(str::to_string), http_calls: 0 }
}

struct Token {
    access: String,
    /// Renew at or after this time (Unix ms), a margin before expiry.
    renew_at_ms: u64,
}

/// The HTTP side: tokens, retries, status handling, paging.
struct Client<'a> {
    src: &'a KeycloakSource,
    t: &'a mut dyn Transport,
    policy: &'a RetryPolicy,
    token: Option<Token>,
    stats: FetchStats,
}

impl Client<'_> {
    fn admin_url(&self, rest: &str) -> String {
        format!("{}/admin/realms/{}/{rest}", self.src.base_url, encode_component(&self.src.realm))
    }

    fn backoff(&self, n: u32) -> Duration {
        let d = self.policy.first_backoff.saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX));
        d.min(self.policy.max_backoff)
    }

    fn sleep(&mut self, d: Duration) {
        self.stats.slept_ms += d.as_millis() as u64;
        self.t.sleep(d);
    }

    /// Sends until the answer is neither a 5xx nor a rate limit, within the
    /// policy's bounds.
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, SyncError> {
        let call = format!("{} {}", req.method.as_str(), req.url);
        let (mut failures, mut waits) = (0u32, 0u32);
        loop {
            self.stats.http_calls += 1;
            let outcome = self.t.send(req);
            let retry_after = match &outcome {
                Ok(r) if r.status == 429 || r.status == 503 => {
                    r.header("Retry-After").and_then(|v| parse_retry_after(v, self.t.now_millis()))
                }
                _ => None,
            };
            match outcome {
                Ok(r) if r.status == 429 || (r.status == 503 && retry_after.is_some()) => {
                    if waits >= self.policy.max_rate_limit_waits {
                        return Err(error(SyncErrorCode::RateLimited, format!("still answered {} after {waits} waits", r.status), Some(&call)));
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(waits));
                    if wait > self.policy.max_retry_after {
                        return Err(error(
                            SyncErrorCode::RateLimited,
                            format!("answered {} asking to wait {} s, more than the {} s awe waits", r.status, wait.as_secs(), self.policy.max_retry_after.as_secs()),
                            Some(&call),
                        ));
                    }
                    waits += 1;
                    self.stats.retries += 1;
                    self.sleep(wait);
                }
                Ok(r) if r.status >= 500 => {
                    if failures >= self.policy.max_retries {
                        return Err(error(
                            SyncErrorCode::ServerError,
                            format!("answered {} {}, still after {failures} retries", r.status, snippet(&r.body)),
                            Some(&call),
                        ));
                    }
                    let wait = self.backoff(failures);
                    failures += 1;
                    self.stats.retries += 1;
                    self.sleep(wait);
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    if failures >= self.policy.max_retries {
                        return Err(error(SyncErrorCode::Transport, format!("{e}, still after {failures} retries"), Some(&call)));
                    }
                    let wait = self.backoff(failures);
                    failures += 1;
                    self.stats.retries += 1;
                    self.sleep(wait);
                }
            }
        }
    }

    /// A new token from the token endpoint (client credentials).
    fn authenticate(&mut self) -> Result<(), SyncError> {
        let url = format!("{}/realms/{}/protocol/openid-connect/token", self.src.base_url, encode_component(&self.src.realm));
        let req = HttpRequest {
            method: Method::Post,
            url,
            headers: vec![
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: Some(form_body(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.src.client_id),
                ("client_secret", &self.src.client_secret),
            ])),
        };
        let call = format!("POST {}", req.url);
        let r = self.send(&req)?;
        if r.status == 400 || r.status == 401 {
            // Keycloak answers {"error": "...", "error_description": "..."}.
            let why = serde_json::from_str::<Value>(&r.body)
                .ok()
                .map(|v| {
                    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    format!("{} {}", s("error"), s("error_description")).trim().to_string()
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| snippet(&r.body));
            return Err(error(
                SyncErrorCode::AuthFailed,
                format!("the token endpoint refused client \"{}\" ({} {why}); check the client secret and that service accounts are enabled", self.src.client_id, r.status),
                Some(&call),
            ));
        }
        let v = status_then_json(&r, &call)?;
        let access = v.get("access_token").and_then(Value::as_str).filter(|s| !s.is_empty());
        let Some(access) = access else {
            return Err(error(SyncErrorCode::Shape, "the token response has no access_token", Some(&call)));
        };
        // RFC 6749 only recommends expires_in; Keycloak always sends it.
        let lifetime_ms = v.get("expires_in").and_then(Value::as_u64).unwrap_or(60) * 1000;
        let margin = (lifetime_ms / 2).min(30_000);
        self.token = Some(Token { access: access.to_string(), renew_at_ms: self.t.now_millis() + lifetime_ms - margin });
        Ok(())
    }

    /// One admin GET answering JSON, with the token renewed before it expires
    /// and once more if the server says 401.
    fn get_json(&mut self, url: &str) -> Result<Value, SyncError> {
        let call = format!("GET {url}");
        let mut reauthenticated = false;
        loop {
            if self.token.as_ref().is_none_or(|t| self.t.now_millis() >= t.renew_at_ms) {
                self.authenticate()?;
            }
            let req = HttpRequest {
                method: Method::Get,
                url: url.to_string(),
                headers: vec![
                    ("Authorization".into(), format!("Bearer {}", self.token.as_ref().unwrap().access)),
                    ("Accept".into(), "application/json".into()),
                ],
                body: None,
            };
            let r = self.send(&req)?;
            if r.status == 401 && !reauthenticated {
                reauthenticated = true;
                self.stats.reauthentications += 1;
                self.token = None;
                continue;
            }
            return status_then_json(&r, &call);
        }
    }

    /// Every item of a paged list: `first` = 0, `max`, `2·max`, … until a
    /// page is shorter than `max`.
    fn get_all(&mut self, rest: &str) -> Result<Vec<Value>, SyncError> {
        let max = self.src.options.page_size as usize;
        let sep = if rest.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut first = 0usize;
        loop {
            let url = self.admin_url(&format!("{rest}{sep}first={first}&max={max}"));
            let page = match self.get_json(&url)? {
                Value::Array(items) => items,
                other => return Err(error(SyncErrorCode::Shape, format!("expected a JSON array, got {}", crate::context_schema::kind(&other)), Some(&format!("GET {url}")))),
            };
            let n = page.len();
            if n > max {
                return Err(error(SyncErrorCode::Shape, format!("returned {n} items for max={max}"), Some(&format!("GET {url}"))));
            }
            out.extend(page);
            if out.len() > self.policy.max_items {
                return Err(error(SyncErrorCode::TooLarge, format!("more than {} items in one list", self.policy.max_items), Some(&format!("GET {url}"))));
            }
            if n < max {
                return Ok(out);
            }
            first += max;
        }
    }

    fn warn(&mut self, w: String) {
        if self.stats.warnings.len() < MAX_WARNINGS {
            self.stats.warnings.push(w);
        } else {
            self.stats.warnings_dropped += 1;
        }
    }
}

/// The body of a 2xx as JSON; any other status as the error it means.
fn status_then_json(r: &HttpResponse, call: &str) -> Result<Value, SyncError> {
    let code = match r.status {
        200..=299 => {
            return serde_json::from_str(&r.body)
                .map_err(|e| error(SyncErrorCode::Malformed, format!("the response is not JSON ({e}): {}", snippet(&r.body)), Some(call)))
        }
        401 => SyncErrorCode::Unauthorized,
        403 => SyncErrorCode::Forbidden,
        404 => SyncErrorCode::NotFound,
        _ => SyncErrorCode::HttpStatus,
    };
    let hint = match code {
        SyncErrorCode::Unauthorized => "; a fresh token was refused too",
        SyncErrorCode::Forbidden => "; the service account needs the realm-management roles view-users and view-realm (and view-clients for client roles)",
        _ => "",
    };
    Err(error(code, format!("answered {} {}{hint}", r.status, snippet(&r.body)), Some(call)))
}

/// The start of a body, for messages.
fn snippet(body: &str) -> String {
    let s: String = body.chars().take(200).collect();
    if s.len() < body.len() { format!("{s}…") } else { s }
}

/// A field of a Keycloak object, with the shape checked.
fn field<'v>(obj: &'v Map<String, Value>, key: &str, url: &str) -> Result<&'v str, SyncError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(error(SyncErrorCode::Shape, format!("\"{key}\" must be a non-empty string, got {other}"), Some(&format!("GET {url}")))),
        None => Err(error(SyncErrorCode::Shape, format!("an item has no \"{key}\""), Some(&format!("GET {url}")))),
    }
}

fn object<'v>(v: &'v Value, url: &str) -> Result<&'v Map<String, Value>, SyncError> {
    v.as_object().ok_or_else(|| error(SyncErrorCode::Shape, format!("expected objects in the list, got {v}"), Some(&format!("GET {url}"))))
}

fn optional_str<'v>(obj: &'v Map<String, Value>, key: &str, url: &str) -> Result<Option<&'v str>, SyncError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(error(SyncErrorCode::Shape, format!("\"{key}\" must be a string, got {other}"), Some(&format!("GET {url}")))),
    }
}

/// A group as listed by `/groups`, `/children` and `/roles/{r}/groups`.
struct GroupRef {
    id: String,
    path: String,
    /// `None` when the server did not say; then children are asked for.
    sub_group_count: Option<u64>,
}

/// A group whose direct members and children were read.
struct GroupRead {
    members: Vec<String>,
    children: Vec<String>,
}

/// The walk over one realm.
struct RealmWalk<'c, 'a> {
    c: &'c mut Client<'a>,
    snap: Snapshot,
    /// Principal ids of disabled users left out, whose memberships are
    /// dropped without counting them as skipped.
    left_out: HashSet<String>,
    groups_read: HashMap<String, GroupRead>,
}

impl<'c, 'a> RealmWalk<'c, 'a> {
    fn new(c: &'c mut Client<'a>) -> Self {
        RealmWalk { c, snap: Snapshot::default(), left_out: HashSet::new(), groups_read: HashMap::new() }
    }

    fn run(mut self) -> Result<Snapshot, SyncError> {
        self.c.authenticate()?;
        self.users()?;
        self.groups()?;
        self.realm_roles()?;
        self.client_roles()?;
        Ok(self.snap)
    }

    fn opts(&self) -> &crate::keycloak_options::KeycloakOptions {
        &self.c.src.options
    }

    /// The awe principal id of a user representation.
    fn principal_of(&self, user: &Map<String, Value>, url: &str) -> Result<String, SyncError> {
        let key = match self.opts().principal_id {
            PrincipalIdFrom::Username => "username",
            PrincipalIdFrom::Id => "id",
        };
        field(user, key, url).map(str::to_string)
    }

    fn user_count(&mut self) -> Result<u64, SyncError> {
        let url = self.c.admin_url("users/count");
        let v = self.c.get_json(&url)?;
        v.as_u64().ok_or_else(|| error(SyncErrorCode::Shape, format!("expected a count, got {v}"), Some(&format!("GET {url}"))))
    }

    fn users(&mut self) -> Result<(), SyncError> {
        let brief = self.opts().attributes.is_empty();
        let rest = format!("users?briefRepresentation={brief}");
        let url = self.c.admin_url(&rest);
        // Counted before and after: a change means the offset pages may have
        // skipped someone (see the module docs).
        let mut before = self.user_count()?;
        let mut reads = 0;
        let users = loop {
            let users = self.c.get_all(&rest)?;
            reads += 1;
            let after = self.user_count()?;
            if after == before {
                break users;
            }
            if reads == USER_LIST_READS {
                return Err(error(
                    SyncErrorCode::Unstable,
                    format!("the number of users kept changing while they were listed ({reads} reads, last {before} → {after}); the next sync will try again"),
                    Some(&format!("GET {url}")),
                ));
            }
            before = after;
        };
        self.c.stats.users_listed = users.len();
        for u in &users {
            let u = object(u, &url)?;
            let pid = self.principal_of(u, &url)?;
            let username = field(u, "username", &url)?;
            let enabled = match u.get("enabled") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(error(SyncErrorCode::Shape, format!("\"enabled\" must be a boolean, got {other}"), Some(&format!("GET {url}")))),
            };
            if let Err(m) = check_principal_id(&pid) {
                self.c.warn(format!("user {username} left out: principal id {m}"));
                self.left_out.insert(pid);
                continue;
            }
            if !enabled && !self.opts().include_disabled {
                self.c.stats.disabled_skipped += 1;
                self.left_out.insert(pid);
                continue;
            }
            let first = optional_str(u, "firstName", &url)?.unwrap_or("").trim();
            let last = optional_str(u, "lastName", &url)?.unwrap_or("").trim();
            let name = format!("{first} {last}").trim().to_string();
            let display_name = Some(if name.is_empty() { username.to_string() } else { name });
            let email = optional_str(u, "email", &url)?.filter(|e| !e.is_empty()).map(str::to_string);
            let attributes = self.attributes_of(u, &url)?;
            self.snap.principals.insert(pid, PrincipalRecord { display_name, email, attributes, active: enabled });
        }
        Ok(())
    }

    /// The wanted attributes, first value of each (Keycloak stores lists).
    fn attributes_of(&self, u: &Map<String, Value>, url: &str) -> Result<Map<String, Value>, SyncError> {
        let mut out = Map::new();
        if self.opts().attributes.is_empty() {
            return Ok(out);
        }
        let all = match u.get("attributes") {
            None | Some(Value::Null) => return Ok(out),
            Some(Value::Object(m)) => m,
            Some(other) => return Err(error(SyncErrorCode::Shape, format!("\"attributes\" must be an object, got {other}"), Some(&format!("GET {url}")))),
        };
        for name in &self.opts().attributes {
            match all.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Array(values)) => match values.first() {
                    None => {}
                    Some(Value::String(s)) => {
                        out.insert(name.clone(), Value::String(s.clone()));
                    }
                    Some(other) => return Err(error(SyncErrorCode::Shape, format!("attribute \"{name}\" has a non-string value {other}"), Some(&format!("GET {url}")))),
                },
                Some(other) => return Err(error(SyncErrorCode::Shape, format!("attribute \"{name}\" must be a list of strings, got {other}"), Some(&format!("GET {url}")))),
            }
        }
        Ok(out)
    }

    fn group_ref(&self, v: &Value, url: &str) -> Result<GroupRef, SyncError> {
        let g = object(v, url)?;
        let sub_group_count = match g.get("subGroupCount") {
            None | Some(Value::Null) => None,
            Some(n) => Some(n.as_u64().ok_or_else(|| error(SyncErrorCode::Shape, format!("\"subGroupCount\" must be a count, got {n}"), Some(&format!("GET {url}"))))?),
        };
        Ok(GroupRef { id: field(g, "id", url)?.to_string(), path: field(g, "path", url)?.to_string(), sub_group_count })
    }

    fn groups(&mut self) -> Result<(), SyncError> {
        let wanted: Option<Vec<String>> = match &self.opts().groups {
            Selection::All => None,
            Selection::Only(paths) if paths.is_empty() => return Ok(()),
            Selection::Only(paths) => Some(paths.clone()),
        };
        let rest = "groups?briefRepresentation=true";
        let url = self.c.admin_url(rest);
        let tops = self.c.get_all(rest)?;
        let mut found = BTreeSet::new();
        for g in &tops {
            let g = self.group_ref(g, &url)?;
            self.walk(g, false, wanted.as_deref(), &mut found)?;
        }
        for p in wanted.iter().flatten() {
            if !found.contains(p) {
                return Err(error(SyncErrorCode::NotFound, format!("group {p} (listed in options.groups) does not exist in realm {}", self.c.src.realm), None));
            }
        }
        Ok(())
    }

    /// Visits a group: copies its members when it is wanted (or inside a
    /// wanted subtree), and descends where a wanted group may be below.
    fn walk(&mut self, g: GroupRef, inside: bool, wanted: Option<&[String]>, found: &mut BTreeSet<String>) -> Result<(), SyncError> {
        let copy = inside || wanted.is_none_or(|w| w.contains(&g.path));
        if copy {
            found.insert(g.path.clone());
        }
        let below = |w: &String| w.len() > g.path.len() && w.starts_with(&g.path) && w.as_bytes()[g.path.len()] == b'/';
        let descend = copy || wanted.is_some_and(|w| w.iter().any(below));
        if !descend {
            return Ok(());
        }
        let children = self.children(&g)?;
        if copy {
            let members = self.members(&g.id)?;
            match check_group_path(&g.path) {
                Ok(()) => {
                    if !members.is_empty() {
                        self.snap.groups.entry(g.path.clone()).or_default().extend(members.iter().cloned());
                    }
                }
                Err(m) => self.c.warn(format!("group {} left out: its path {m}", g.path)),
            }
            let ids = children.iter().map(|c| c.id.clone()).collect();
            self.groups_read.insert(g.id.clone(), GroupRead { members, children: ids });
        }
        for child in children {
            self.walk(child, copy, wanted, found)?;
        }
        Ok(())
    }

    fn children(&mut self, g: &GroupRef) -> Result<Vec<GroupRef>, SyncError> {
        if g.sub_group_count == Some(0) {
            return Ok(Vec::new());
        }
        let rest = format!("groups/{}/children?briefRepresentation=true", encode_component(&g.id));
        let url = self.c.admin_url(&rest);
        let items = self.c.get_all(&rest)?;
        items.iter().map(|v| self.group_ref(v, &url)).collect()
    }

    /// Principal ids of a group's direct members who are synced principals.
    fn members(&mut self, group_id: &str) -> Result<Vec<String>, SyncError> {
        let rest = format!("groups/{}/members?briefRepresentation=true", encode_component(group_id));
        self.known_users(&rest)
    }

    /// The users of a paged user list who are synced principals; the others
    /// are counted (service accounts, users created mid-sync) or, when they
    /// are disabled users left out, dropped silently.
    fn known_users(&mut self, rest: &str) -> Result<Vec<String>, SyncError> {
        let url = self.c.admin_url(rest);
        let items = self.c.get_all(rest)?;
        let mut out = Vec::with_capacity(items.len());
        for u in &items {
            let pid = self.principal_of(object(u, &url)?, &url)?;
            if self.snap.principals.contains_key(&pid) {
                out.push(pid);
            } else if !self.left_out.contains(&pid) {
                self.c.stats.skipped_members += 1;
            }
        }
        Ok(out)
    }

    /// Members of a group and of all its sub-groups, reusing what the group
    /// walk already read.
    fn subtree_members(&mut self, group_id: &str, out: &mut BTreeSet<String>, depth: usize) -> Result<(), SyncError> {
        // Keycloak group trees are shallow; the bound only guards a server
        // that reports a group as its own descendant.
        if depth > 100 {
            return Err(error(SyncErrorCode::Shape, format!("group {group_id} is nested more than 100 deep"), None));
        }
        if !self.groups_read.contains_key(group_id) {
            let members = self.members(group_id)?;
            let rest = format!("groups/{}/children?briefRepresentation=true", encode_component(group_id));
            let url = self.c.admin_url(&rest);
            let items = self.c.get_all(&rest)?;
            let children = items.iter().map(|v| self.group_ref(v, &url).map(|g| g.id)).collect::<Result<_, _>>()?;
            self.groups_read.insert(group_id.to_string(), GroupRead { members, children });
        }
        let read = &self.groups_read[group_id];
        out.extend(read.members.iter().cloned());
        for child in read.children.clone() {
            self.subtree_members(&child, out, depth + 1)?;
        }
        Ok(())
    }

    /// Everyone holding a role: direct holders, and members of the groups
    /// mapped to it and of their sub-groups. `role_rest` is `roles/{name}` or
    /// `clients/{id}/roles/{name}`.
    fn holders(&mut self, role_rest: &str) -> Result<BTreeSet<String>, SyncError> {
        let mut out: BTreeSet<String> = self.known_users(&format!("{role_rest}/users?briefRepresentation=true"))?.into_iter().collect();
        let rest = format!("{role_rest}/groups?briefRepresentation=true");
        let url = self.c.admin_url(&rest);
        let groups = self.c.get_all(&rest)?;
        for g in &groups {
            let g = self.group_ref(g, &url)?;
            self.subtree_members(&g.id, &mut out, 0)?;
        }
        Ok(out)
    }

    /// Names from a role list (`roles` or `clients/{id}/roles`).
    fn role_names(&mut self, rest: &str) -> Result<Vec<String>, SyncError> {
        let url = self.c.admin_url(rest);
        let items = self.c.get_all(rest)?;
        items.iter().map(|v| object(v, &url).and_then(|r| field(r, "name", &url)).map(str::to_string)).collect()
    }

    fn realm_roles(&mut self) -> Result<(), SyncError> {
        let names = match self.opts().realm_roles.clone() {
            Selection::Only(names) => names,
            Selection::All => {
                let default_role = format!("default-roles-{}", self.c.src.realm.to_lowercase());
                let mut names = Vec::new();
                for name in self.role_names("roles?briefRepresentation=true")? {
                    if name == default_role {
                        continue;
                    }
                    match check_role(&name) {
                        Ok(()) => names.push(name),
                        Err(m) => self.c.warn(format!("realm role \"{name}\" left out: a role name {m}")),
                    }
                }
                names
            }
        };
        for name in names {
            let holders = self.holders(&format!("roles/{}", encode_component(&name)))?;
            if !holders.is_empty() {
                self.snap.roles.entry(name).or_default().extend(holders);
            }
        }
        Ok(())
    }

    fn client_roles(&mut self) -> Result<(), SyncError> {
        for (client_id, sel) in self.opts().client_roles.clone() {
            let url = self.c.admin_url(&format!("clients?clientId={}", encode_component(&client_id)));
            let clients = match self.c.get_json(&url)? {
                Value::Array(items) => items,
                other => return Err(error(SyncErrorCode::Shape, format!("expected a JSON array, got {}", crate::context_schema::kind(&other)), Some(&format!("GET {url}")))),
            };
            // The clientId filter is exact in Keycloak, but compare anyway.
            let mut uuid = None;
            for c in &clients {
                let c = object(c, &url)?;
                if field(c, "clientId", &url)? == client_id {
                    uuid = Some(field(c, "id", &url)?.to_string());
                }
            }
            let Some(uuid) = uuid else {
                return Err(error(SyncErrorCode::NotFound, format!("client {client_id} (in options.client_roles) does not exist in realm {}", self.c.src.realm), Some(&format!("GET {url}"))));
            };
            let base = format!("clients/{}/roles", encode_component(&uuid));
            let names = match sel {
                Selection::Only(names) => names,
                Selection::All => {
                    let mut names = Vec::new();
                    for name in self.role_names(&format!("{base}?briefRepresentation=true"))? {
                        match check_role(&client_role_name(&client_id, &name)) {
                            Ok(()) => names.push(name),
                            Err(m) => self.c.warn(format!("client role \"{client_id}:{name}\" left out: a role name {m}")),
                        }
                    }
                    names
                }
            };
            for name in names {
                let holders = self.holders(&format!("{base}/{}", encode_component(&name)))?;
                if !holders.is_empty() {
                    self.snap.roles.entry(client_role_name(&client_id, &name)).or_default().extend(holders);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "keycloak_tests.rs"]
mod tests;
