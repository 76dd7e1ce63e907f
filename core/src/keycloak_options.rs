//! What a Keycloak directory source is and which parts of the realm it
//! copies: [`KeycloakSource`] (where and as whom) and [`KeycloakOptions`]
//! (what), read strictly from JSON: every problem is reported with its path,
//! unknown fields included.
//!
//! # Source
//!
//! ```json
//! {"base_url": "https://id.example.com", "realm": "acme",
//!  "client_id": "awe-directory-sync", "client_secret": "…",
//!  "options": { … }}
//! ```
//!
//! `base_url` is Keycloak's root (include a context path such as `/auth` if
//! the server has one); the client is a confidential client with *service
//! accounts* enabled whose service account holds these `realm-management`
//! client roles: `view-users` (users, their count, groups and members),
//! `view-realm` (role holders: `…/roles/{role}/users` checks it), and
//! `view-clients` (only when `client_roles` is used). This list follows the
//! permission checks in Keycloak's admin resources as read in its source; it
//! has not been tried on a live server.
//!
//! # Options
//!
//! ```json
//! {
//!   "realm_roles": "all",
//!   "client_roles": {"expense-app": ["approver"], "erp": "all"},
//!   "groups": ["/finance", "/sales/emea"],
//!   "principal_id": "username",
//!   "attributes": ["department", "costCenter"],
//!   "page_size": 100,
//!   "interval": "5m",
//!   "include_disabled": false,
//!   "max_deactivations": 25
//! }
//! ```
//!
//! | field | default | meaning |
//! | --- | --- | --- |
//! | `realm_roles` | `"all"` | `"all"` or a list of realm role names. `"all"` leaves out the realm's default role `default-roles-<realm>`, which every user holds, and skips (with a warning) roles whose names awe cannot store. A listed role that does not exist fails the sync. |
//! | `client_roles` | `{}` | clientId → `"all"` or a list of that client's role names. awe names a client role **`<clientId>:<role>`** (`expense-app:approver`), so policies say `role: expense-app:approver`. |
//! | `groups` | `"all"` | `"all"` or a list of group paths; each listed group is copied with all its sub-groups. A listed path that does not exist fails the sync. |
//! | `principal_id` | `"username"` | which Keycloak field becomes the awe principal id: `"username"` or `"id"` (the user id, i.e. the `sub` of the user's tokens; stable across renames). |
//! | `attributes` | `[]` | Keycloak user attributes copied into the principal's `attributes`. Each is copied as a string: its **first value** only (Keycloak stores every attribute as a list; user-profile attributes are single-valued unless declared multivalued). A user without the attribute has no such key. |
//! | `page_size` | `100` | `max` for every paged call, 1–1000. |
//! | `interval` | `"5m"` | how often the worker syncs: a duration like `5m`, `1h` (at least `1m`). |
//! | `include_disabled` | `false` | `false`: disabled Keycloak users are left out of the snapshot, so a principal who is disabled in Keycloak is deactivated in awe and loses its grants and memberships, and one disabled before its first sync is never created. `true`: disabled users are copied as inactive principals (`active: false`) keeping their grants and memberships, so the directory mirrors Keycloak. Either way a disabled user never gets a task. |
//! | `max_deactivations` | `25` | the most a single sync may deactivate, in percent of the active principals the source manages (0–100; at least 10 principals are always allowed). A sync over it applies nothing and fails with `guard`: an identity provider that answers an empty or partial realm must not empty awe's directory. `awe.sync_directory(force => true)` applies one such sync anyway. |

use crate::context_schema::kind as type_name;
use crate::directory_sync::{check_group_path, check_role, MAX_ROLE_CHARS};
use crate::duration::parse_duration;
use crate::policy::Problem;
use crate::strict_json::{index, join, Reader};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_INTERVAL_SECS: i64 = 300;
pub const MIN_INTERVAL_SECS: i64 = 60;
pub const DEFAULT_MAX_DEACTIVATIONS: u32 = 25;

/// `"all"` or an explicit list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    All,
    Only(Vec<String>),
}

/// Which Keycloak user field is the awe principal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalIdFrom {
    Username,
    Id,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeycloakOptions {
    pub realm_roles: Selection,
    /// clientId → roles of that client.
    pub client_roles: BTreeMap<String, Selection>,
    pub groups: Selection,
    pub principal_id: PrincipalIdFrom,
    pub attributes: Vec<String>,
    pub page_size: u32,
    pub interval_secs: i64,
    pub include_disabled: bool,
    /// Percent of the managed active principals one sync may deactivate.
    pub max_deactivations: u32,
}

impl Default for KeycloakOptions {
    fn default() -> Self {
        KeycloakOptions {
            realm_roles: Selection::All,
            client_roles: BTreeMap::new(),
            groups: Selection::All,
            principal_id: PrincipalIdFrom::Username,
            attributes: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
            interval_secs: DEFAULT_INTERVAL_SECS,
            include_disabled: false,
            max_deactivations: DEFAULT_MAX_DEACTIVATIONS,
        }
    }
}

/// awe's name for a client role.
pub fn client_role_name(client_id: &str, role: &str) -> String {
    format!("{client_id}:{role}")
}

const OPTION_FIELDS: &[&str] =
    &["realm_roles", "client_roles", "groups", "principal_id", "attributes", "page_size", "interval", "include_disabled", "max_deactivations"];

impl KeycloakOptions {
    /// Reads options; `Err` lists every problem. `null` means all defaults.
    pub fn parse(v: &Value) -> Result<KeycloakOptions, Vec<Problem>> {
        let mut r = Reader::default();
        let opts = read_options(&mut r, "", v);
        if r.problems.is_empty() { Ok(opts) } else { Err(r.problems) }
    }
}

fn read_options(r: &mut Reader, path: &str, v: &Value) -> KeycloakOptions {
    let mut o = KeycloakOptions::default();
    if v.is_null() {
        return o;
    }
    let Some(map) = r.object(path, v, OPTION_FIELDS) else { return o };
    if let Some(v) = map.get("realm_roles") {
        o.realm_roles = selection(r, &join(path, "realm_roles"), v, &|name| check_role(name));
    }
    if let Some(v) = map.get("client_roles") {
        let cr_path = join(path, "client_roles");
        for (client_id, sel) in r.map(&cr_path, v).into_iter().flatten() {
            let at = join(&cr_path, client_id);
            if let Err(m) = check_client_id(client_id) {
                r.problem(&at, "value", m);
                continue;
            }
            let check = |role: &str| check_role(&client_role_name(client_id, role)).map_err(|_| {
                format!("\"{client_id}:{role}\" (awe's name for the role) must be 1-{MAX_ROLE_CHARS} characters of letters, digits and . _ : / -")
            });
            let s = selection(r, &at, sel, &check);
            o.client_roles.insert(client_id.clone(), s);
        }
    }
    if let Some(v) = map.get("groups") {
        o.groups = selection(r, &join(path, "groups"), v, &|p| check_group_path(p));
    }
    match map.get("principal_id") {
        None => {}
        Some(v) if v == "username" => o.principal_id = PrincipalIdFrom::Username,
        Some(v) if v == "id" => o.principal_id = PrincipalIdFrom::Id,
        Some(_) => r.problem(join(path, "principal_id"), "value", "must be \"username\" or \"id\""),
    }
    if let Some(v) = map.get("attributes") {
        let at = join(path, "attributes");
        let mut seen = BTreeSet::new();
        for (i, name) in r.array(&at, v).into_iter().flatten().enumerate() {
            let p = index(&at, i);
            match r.string(&p, name) {
                Some("") => r.problem(&p, "value", "must not be empty"),
                Some(n) if !seen.insert(n.to_string()) => r.problem(&p, "duplicate", format!("\"{n}\" is listed twice")),
                Some(n) => o.attributes.push(n.to_string()),
                None => {}
            }
        }
    }
    o.page_size = r.integer(map, path, "page_size", 1, MAX_PAGE_SIZE as u64, DEFAULT_PAGE_SIZE as u64) as u32;
    match map.get("interval") {
        None => {}
        Some(Value::String(s)) => match parse_duration(s) {
            Ok(secs) if secs < MIN_INTERVAL_SECS => {
                r.problem(join(path, "interval"), "range", "must be at least 1m: every sync reads the whole realm")
            }
            Ok(secs) => o.interval_secs = secs,
            Err(m) => r.problem(join(path, "interval"), "duration", m),
        },
        Some(other) => r.problem(join(path, "interval"), "type", format!("must be a duration string like \"5m\", got {}", type_name(other))),
    }
    o.include_disabled = r.boolean(map, path, "include_disabled", false);
    o.max_deactivations = r.integer(map, path, "max_deactivations", 0, 100, DEFAULT_MAX_DEACTIVATIONS as u64) as u32;
    o
}

/// A clientId must leave room for `:<role>` in a role name.
fn check_client_id(client_id: &str) -> Result<(), String> {
    check_role(client_id)
        .ok()
        .filter(|_| !client_id.contains(':') && client_id.len() < MAX_ROLE_CHARS - 1)
        .ok_or_else(|| "a clientId used for roles must be letters, digits and . _ / - (no :), short enough for \"<clientId>:<role>\" to fit 128 characters".to_string())
}

fn selection(r: &mut Reader, path: &str, v: &Value, check: &dyn Fn(&str) -> Result<(), String>) -> Selection {
    if v == "all" {
        return Selection::All;
    }
    let Value::Array(items) = v else {
        r.problem(path, "type", format!("must be \"all\" or a list of names, got {}", if v.is_string() { format!("{v}") } else { type_name(v).to_string() }));
        return Selection::Only(Vec::new());
    };
    let mut names = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let Some(name) = r.string(&p, item) else { continue };
        if let Err(m) = check(name) {
            r.problem(&p, "value", m);
        } else if !seen.insert(name) {
            r.problem(&p, "duplicate", format!("\"{name}\" is listed twice"));
        } else {
            names.push(name.to_string());
        }
    }
    Selection::Only(names)
}

/// Where a Keycloak realm is and how awe signs in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeycloakSource {
    /// Without a trailing slash.
    pub base_url: String,
    pub realm: String,
    pub client_id: String,
    pub client_secret: String,
    pub options: KeycloakOptions,
}

/// Debug output never shows the client secret.
impl std::fmt::Debug for KeycloakSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakSource")
            .field("base_url", &self.base_url)
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("options", &self.options)
            .finish()
    }
}

impl KeycloakSource {
    /// Reads `{"base_url", "realm", "client_id", "client_secret", "options"}`
    /// (`options` optional); `Err` lists every problem.
    pub fn parse(v: &Value) -> Result<KeycloakSource, Vec<Problem>> {
        let mut r = Reader::default();
        let Some(map) = r.object("", v, &["base_url", "realm", "client_id", "client_secret", "options"]) else {
            return Err(r.problems);
        };
        let text = |r: &mut Reader, key: &str| -> String {
            match map.get(key) {
                None | Some(Value::Null) => {
                    r.problem(key, "required", "is required");
                    String::new()
                }
                Some(v) => match r.string(key, v) {
                    Some("") => {
                        r.problem(key, "value", "must not be empty");
                        String::new()
                    }
                    Some(s) => s.to_string(),
                    None => String::new(),
                },
            }
        };
        let base_url = text(&mut r, "base_url");
        let realm = text(&mut r, "realm");
        let client_id = text(&mut r, "client_id");
        let client_secret = text(&mut r, "client_secret");
        let base_url = if base_url.is_empty() {
            base_url
        } else {
            match check_base_url(&base_url) {
                Ok(u) => u,
                Err(m) => {
                    r.problem("base_url", "value", m);
                    String::new()
                }
            }
        };
        let options = read_options(&mut r, "options", map.get("options").unwrap_or(&Value::Null));
        if r.problems.is_empty() {
            Ok(KeycloakSource { base_url, realm, client_id, client_secret, options })
        } else {
            Err(r.problems)
        }
    }
}

/// `http(s)://host[:port][/context]`, returned without a trailing slash.
fn check_base_url(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']) => Ok(url.trim_end_matches('/').to_string()),
        _ => Err("must be an http:// or https:// URL like https://id.example.com (no query or fragment)".into()),
    }
}

/// The options as JSON, in the shape [`KeycloakOptions::parse`] reads (for a
/// status view and for round-trip tests).
pub fn options_json(o: &KeycloakOptions) -> Value {
    let sel = |s: &Selection| match s {
        Selection::All => Value::from("all"),
        Selection::Only(names) => Value::from(names.clone()),
    };
    let mut m = Map::new();
    m.insert("realm_roles".into(), sel(&o.realm_roles));
    m.insert("client_roles".into(), Value::Object(o.client_roles.iter().map(|(k, v)| (k.clone(), sel(v))).collect()));
    m.insert("groups".into(), sel(&o.groups));
    m.insert("principal_id".into(), Value::from(if o.principal_id == PrincipalIdFrom::Id { "id" } else { "username" }));
    m.insert("attributes".into(), Value::from(o.attributes.clone()));
    m.insert("page_size".into(), Value::from(o.page_size));
    m.insert("interval".into(), Value::from(format!("{}s", o.interval_secs)));
    m.insert("include_disabled".into(), Value::from(o.include_disabled));
    m.insert("max_deactivations".into(), Value::from(o.max_deactivations));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_a_full_document() {
        assert_eq!(KeycloakOptions::parse(&Value::Null).unwrap(), KeycloakOptions::default());
        assert_eq!(KeycloakOptions::parse(&json!({})).unwrap(), KeycloakOptions::default());
        let o = KeycloakOptions::parse(&json!({
            "realm_roles": ["finance-director", "approver"],
            "client_roles": {"expense-app": ["approver"], "erp": "all"},
            "groups": ["/finance", "/sales/emea"],
            "principal_id": "id",
            "attributes": ["department", "costCenter"],
            "page_size": 500,
            "interval": "1h",
            "include_disabled": true
        }))
        .unwrap();
        assert_eq!(o.realm_roles, Selection::Only(vec!["finance-director".into(), "approver".into()]));
        assert_eq!(o.client_roles["erp"], Selection::All);
        assert_eq!(o.client_roles["expense-app"], Selection::Only(vec!["approver".into()]));
        assert_eq!(o.groups, Selection::Only(vec!["/finance".into(), "/sales/emea".into()]));
        assert_eq!(o.principal_id, PrincipalIdFrom::Id);
        assert_eq!(o.attributes, vec!["department", "costCenter"]);
        assert_eq!((o.page_size, o.interval_secs, o.include_disabled), (500, 3600, true));
        assert_eq!(KeycloakOptions::parse(&options_json(&o)).unwrap(), o);
    }

    #[test]
    fn every_problem_has_a_path() {
        let problems = KeycloakOptions::parse(&json!({
            "realm_roles": ["ok", "not ok", "ok"],
            "client_roles": {"app": ["r"], "has:colon": "all", "app2": "some"},
            "groups": ["/finance/", "/fine"],
            "principal_id": "email",
            "attributes": ["", "a", "a", 3],
            "page_size": 1001,
            "interval": "10s",
            "include_disabled": "no",
            "pagesize": 5
        }))
        .unwrap_err();
        let got: Vec<(&str, &str)> = problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
        for want in [
            ("realm_roles[1]", "value"),
            ("realm_roles[2]", "duplicate"),
            ("client_roles.has:colon", "value"),
            ("client_roles.app2", "type"),
            ("groups[0]", "value"),
            ("principal_id", "value"),
            ("attributes[0]", "value"),
            ("attributes[2]", "duplicate"),
            ("attributes[3]", "type"),
            ("page_size", "range"),
            ("interval", "range"),
            ("include_disabled", "type"),
            ("pagesize", "unknown_field"),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
        assert_eq!(got.len(), 13, "{got:?}");
        assert!(problems.iter().any(|p| p.message.contains("did you mean \"page_size\"")));
        let long_client = "c".repeat(120);
        let p = KeycloakOptions::parse(&json!({"client_roles": {long_client: ["a-long-role-name"]}})).unwrap_err();
        assert!(p[0].path.ends_with("[0]") && p[0].message.contains("awe's name"), "{p:?}");
    }

    #[test]
    fn a_source_reads_and_hides_its_secret() {
        let s = KeycloakSource::parse(&json!({
            "base_url": "https://id.example.com/auth/", "realm": "acme",
            "client_id": "awe-sync", "client_secret": "s3cr3t", "options": {"groups": ["/finance"]}
        }))
        .unwrap();
        assert_eq!(s.base_url, "https://id.example.com/auth");
        assert_eq!(s.options.groups, Selection::Only(vec!["/finance".into()]));
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let problems = KeycloakSource::parse(&json!({"base_url": "ftp://x", "realm": "", "client_secret": 1, "options": {"x": 1}})).unwrap_err();
        let got: Vec<(&str, &str)> = problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
        assert_eq!(
            got,
            vec![("realm", "value"), ("client_id", "required"), ("client_secret", "type"), ("base_url", "value"), ("options.x", "unknown_field")]
        );
    }

    /// docs/directory.md is where users read the options: every one is there.
    #[test]
    fn every_option_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/directory.md")).unwrap();
        for f in OPTION_FIELDS {
            assert!(doc.contains(&format!("| `{f}` |")), "docs/directory.md lacks the option {f}");
        }
    }
}
