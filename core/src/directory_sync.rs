//! Directory snapshots and the difference between two of them: the pure part
//! of directory sync (Keycloak, see `keycloak.rs`) and of bulk import
//! (`awe.import_directory(jsonb)`).
//!
//! # Model
//!
//! A [`Snapshot`] is a whole directory as one source sees it:
//!
//! - `principals`: id → display name, email, attributes (a JSON object) and
//!   `active`;
//! - `roles`: role name → the principals holding it;
//! - `groups`: group path (`/finance/approvers`) → its direct members. A rule
//!   with `include_subgroups` finds members of sub-groups by path prefix at
//!   resolve time, so a snapshot lists each member only in the groups they
//!   belong to directly.
//!
//! Names follow the SQL checks in `sql/02_directory.sql`: principal ids are
//! 1–256 characters; role names match `^[A-Za-z0-9._:/-]{1,128}$`; group paths
//! look like `/a/b`: they start with `/`, have no empty segment, no trailing
//! slash, and are at most 512 characters. Every principal named in `roles` or
//! `groups` must be one of `principals`.
//!
//! # Sync is a difference
//!
//! [`diff`]`(current, desired)` compares what the database holds for a source
//! (`current`) with what the source says now (`desired`) and lists only what
//! must change. Applying it writes nothing when nothing changed
//! ([`DirectoryDiff::is_empty`]), so a sync every few minutes does not churn
//! rows, `updated_at` or the backends' directory caches.
//!
//! - A principal in `desired` but not in `current` is **inserted**.
//! - A principal in both is **updated** only if `display_name`, `email`,
//!   `attributes` or `active` really differ (attributes compare as JSON
//!   values, key order ignored). A principal becoming inactive (a disabled
//!   user) or active again is an update.
//! - A principal in `current`, active, and absent from `desired` is
//!   **deactivated** (`active = false`), never deleted: tasks, decisions and
//!   events refer to principals, and a person who left must still show in a
//!   request's history. One already inactive is left alone.
//! - Role grants and group memberships are sets: pairs only in `desired` are
//!   **added**, pairs only in `current` are **removed** (so a deactivated
//!   principal also loses its grants and memberships).
//!
//! Apply a diff in one transaction in this order, which keeps the foreign keys
//! satisfied: insert principals, update principals, add grants and
//! memberships, remove grants and memberships, deactivate principals.
//!
//! # Counts
//!
//! [`DiffCounts`] summarises a diff for a status view: `added` (principals
//! inserted + grants added + memberships added), `updated` (principals whose
//! fields changed), `deactivated` (principals gone from the source),
//! `removed` (grants + memberships removed), plus each of these split by kind.
//!
//! # Bulk import document
//!
//! [`Snapshot::from_import`] reads the document `awe.import_directory(jsonb)`
//! takes. The document is the whole desired directory; its difference from
//! the current one is applied like a sync (so a user left out is deactivated).
//!
//! ```json
//! {
//!   "users": [
//!     {"id": "fin.ana", "display_name": "Ana Fink", "email": "ana@example.com",
//!      "attributes": {"department": "finance"}, "active": true,
//!      "roles": ["approver"], "groups": ["/finance/approvers"]}
//!   ],
//!   "roles":  {"finance-director": ["dora"]},
//!   "groups": {"/finance/approvers": ["fin.ben", "fin.cy"]}
//! }
//! ```
//!
//! - `users` (required): `id` is required; `display_name` and `email` are a
//!   string or null (`""` counts as null); `attributes` is an object
//!   (default `{}`); `active` defaults to true; `roles` and `groups` list what
//!   this user holds.
//! - `roles` and `groups` (optional) give the same facts the other way round:
//!   name → user ids. Both shapes may be used in one document; they are
//!   unioned.
//! - Every problem is reported with its path (`users[3].id`,
//!   `groups./finance/approvers[1]`); an unknown field is a problem; a user id
//!   given twice, or a role/group naming an id that is not in `users`, is a
//!   problem. Nothing is imported unless the whole document is valid.

use crate::policy::Problem;
use crate::strict_json::{index, join, Reader};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_PRINCIPAL_ID_CHARS: usize = 256;
pub const MAX_ROLE_CHARS: usize = 128;
pub const MAX_GROUP_PATH_CHARS: usize = 512;

/// What awe stores about one principal, besides its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalRecord {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub attributes: Map<String, Value>,
    pub active: bool,
}

impl Default for PrincipalRecord {
    fn default() -> Self {
        PrincipalRecord { display_name: None, email: None, attributes: Map::new(), active: true }
    }
}

/// A whole directory as one source sees it. Ordered maps and sets make the
/// difference a single merge walk and every output deterministic.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub principals: BTreeMap<String, PrincipalRecord>,
    pub roles: BTreeMap<String, BTreeSet<String>>,
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

/// A principal id: 1–256 characters (the `awe.principal` check).
pub fn check_principal_id(id: &str) -> Result<(), String> {
    match id.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > MAX_PRINCIPAL_ID_CHARS => Err(format!("is {n} characters; at most {MAX_PRINCIPAL_ID_CHARS}")),
        _ => Ok(()),
    }
}

/// A role name: `^[A-Za-z0-9._:/-]{1,128}$` (the `awe.grant_role` check).
pub fn check_role(role: &str) -> Result<(), String> {
    let ok = !role.is_empty()
        && role.len() <= MAX_ROLE_CHARS
        && role.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
    if ok { Ok(()) } else { Err("must be 1-128 characters of letters, digits and . _ : / -".into()) }
}

/// A group path: `/a/b`, no empty segment, no trailing slash, ≤ 512
/// characters. Stricter than the table's check so that two spellings of one
/// group (`/a/b` and `/a/b/`) cannot both be stored.
pub fn check_group_path(path: &str) -> Result<(), String> {
    let n = path.chars().count();
    if n > MAX_GROUP_PATH_CHARS {
        return Err(format!("is {n} characters; at most {MAX_GROUP_PATH_CHARS}"));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must start with / (like /finance/approvers)".into());
    };
    if rest.is_empty() {
        return Err("must name a group (like /finance/approvers), not just /".into());
    }
    if rest.ends_with('/') {
        return Err("must not end with /".into());
    }
    if rest.split('/').any(str::is_empty) {
        return Err("must not contain an empty segment (//)".into());
    }
    Ok(())
}

impl Snapshot {
    /// Every problem with this snapshot's names and references. Paths name
    /// the map and key: `principals.<id>`, `roles.<role>`, `groups.<path>`.
    pub fn validate(&self) -> Vec<Problem> {
        let mut r = Reader::default();
        for id in self.principals.keys() {
            if let Err(m) = check_principal_id(id) {
                r.problem(join("principals", id), "value", format!("principal id {m}"));
            }
        }
        for (kind, map, check) in [
            ("roles", &self.roles, check_role as fn(&str) -> Result<(), String>),
            ("groups", &self.groups, check_group_path),
        ] {
            for (name, members) in map {
                let path = join(kind, name);
                if let Err(m) = check(name) {
                    r.problem(&path, "value", m);
                }
                for p in members {
                    if !self.principals.contains_key(p) {
                        r.problem(&path, "unknown_principal", format!("\"{p}\" is not one of the principals"));
                    }
                }
            }
        }
        r.problems
    }

    pub fn grant_count(&self) -> usize {
        self.roles.values().map(BTreeSet::len).sum()
    }

    pub fn membership_count(&self) -> usize {
        self.groups.values().map(BTreeSet::len).sum()
    }

    /// Reads a bulk import document (see the module docs). `Err` lists every
    /// problem found.
    pub fn from_import(doc: &Value) -> Result<Snapshot, Vec<Problem>> {
        let mut r = Reader::default();
        let mut snap = Snapshot::default();
        let Some(top) = r.object("", doc, &["users", "roles", "groups"]) else { return Err(r.problems) };

        // Where each user id was first defined, to report duplicates there.
        let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
        match top.get("users") {
            None => r.problem("users", "required", "is required: the list of users"),
            Some(v) => {
                for (i, item) in r.array("users", v).into_iter().flatten().enumerate() {
                    read_user(&mut r, &index("users", i), i, item, &mut snap, &mut first_seen);
                }
            }
        }
        for (kind, check) in [("roles", check_role as fn(&str) -> Result<(), String>), ("groups", check_group_path)] {
            let Some(v) = top.get(kind) else { continue };
            let Some(map) = r.map(kind, v) else { continue };
            for (name, ids) in map {
                let path = join(kind, name);
                let name_ok = match check(name) {
                    Ok(()) => true,
                    Err(m) => {
                        r.problem(&path, "value", m);
                        false
                    }
                };
                for (j, id) in r.array(&path, ids).into_iter().flatten().enumerate() {
                    let at = index(&path, j);
                    let Some(id) = r.string(&at, id) else { continue };
                    if !first_seen.contains_key(id) {
                        r.problem(&at, "unknown_user", format!("\"{id}\" is not the id of one of the users"));
                    } else if name_ok {
                        let target = if kind == "roles" { &mut snap.roles } else { &mut snap.groups };
                        target.entry(name.clone()).or_default().insert(id.to_string());
                    }
                }
            }
        }
        if r.problems.is_empty() { Ok(snap) } else { Err(r.problems) }
    }
}

fn read_user(
    r: &mut Reader,
    path: &str,
    i: usize,
    item: &Value,
    snap: &mut Snapshot,
    first_seen: &mut BTreeMap<String, usize>,
) {
    const FIELDS: &[&str] = &["id", "display_name", "email", "attributes", "active", "roles", "groups"];
    let Some(map) = r.object(path, item, FIELDS) else { return };
    let id = match map.get("id") {
        None | Some(Value::Null) => {
            r.problem(join(path, "id"), "required", "is required");
            None
        }
        Some(v) => r.string(&join(path, "id"), v).map(str::to_string),
    };
    let id = id.filter(|id| match check_principal_id(id) {
        Ok(()) => true,
        Err(m) => {
            r.problem(join(path, "id"), "value", m);
            false
        }
    });
    let display_name = r.optional_text(map, path, "display_name");
    let email = r.optional_text(map, path, "email");
    let attributes = match map.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => r.map(&join(path, "attributes"), v).cloned().unwrap_or_default(),
    };
    let active = r.boolean(map, path, "active", true);
    let mut held: Vec<(bool, String)> = Vec::new(); // (is_role, name)
    for (kind, check) in [("roles", check_role as fn(&str) -> Result<(), String>), ("groups", check_group_path)] {
        let Some(v) = map.get(kind) else { continue };
        let list_path = join(path, kind);
        for (j, name) in r.array(&list_path, v).into_iter().flatten().enumerate() {
            let at = index(&list_path, j);
            let Some(name) = r.string(&at, name) else { continue };
            match check(name) {
                Ok(()) => held.push((kind == "roles", name.to_string())),
                Err(m) => r.problem(&at, "value", m),
            }
        }
    }
    let Some(id) = id else { return };
    if let Some(first) = first_seen.get(&id) {
        r.problem(join(path, "id"), "duplicate", format!("\"{id}\" is already the id of users[{first}]"));
        return;
    }
    first_seen.insert(id.clone(), i);
    for (is_role, name) in held {
        let target = if is_role { &mut snap.roles } else { &mut snap.groups };
        target.entry(name).or_default().insert(id.clone());
    }
    snap.principals.insert(id, PrincipalRecord { display_name, email, attributes, active });
}

/// A principal to insert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewPrincipal {
    pub principal_id: String,
    pub record: PrincipalRecord,
}

/// A principal whose stored fields differ from the source's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalUpdate {
    pub principal_id: String,
    /// Which of `display_name`, `email`, `attributes`, `active` changed.
    pub changed: Vec<&'static str>,
    pub before: PrincipalRecord,
    pub after: PrincipalRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Grant {
    pub role: String,
    pub principal_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Membership {
    pub group_path: String,
    pub principal_id: String,
}

/// What applying `desired` over `current` must write. Every list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DirectoryDiff {
    pub insert: Vec<NewPrincipal>,
    pub update: Vec<PrincipalUpdate>,
    /// Active principals gone from the source: set `active = false`.
    pub deactivate: Vec<String>,
    pub grants_add: Vec<Grant>,
    pub grants_remove: Vec<Grant>,
    pub memberships_add: Vec<Membership>,
    pub memberships_remove: Vec<Membership>,
}

/// A diff's size for a status view (see the module docs for what each sums).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiffCounts {
    pub added: usize,
    pub updated: usize,
    pub deactivated: usize,
    pub removed: usize,
    pub principals_added: usize,
    pub grants_added: usize,
    pub grants_removed: usize,
    pub memberships_added: usize,
    pub memberships_removed: usize,
}

impl DirectoryDiff {
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty()
            && self.update.is_empty()
            && self.deactivate.is_empty()
            && self.grants_add.is_empty()
            && self.grants_remove.is_empty()
            && self.memberships_add.is_empty()
            && self.memberships_remove.is_empty()
    }

    /// Principals this diff leaves inactive: deactivated, updated to
    /// inactive, or written inactive over a principal entered by hand. The
    /// shell asks which of them are active before it applies the diff, and
    /// then ends their delegations and queues their open tasks.
    pub fn deactivating(&self) -> Vec<String> {
        let mut out: Vec<String> = self.insert.iter().filter(|n| !n.record.active).map(|n| n.principal_id.clone())
            .chain(self.update.iter().filter(|u| !u.after.active).map(|u| u.principal_id.clone()))
            .chain(self.deactivate.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn counts(&self) -> DiffCounts {
        DiffCounts {
            added: self.insert.len() + self.grants_add.len() + self.memberships_add.len(),
            updated: self.update.len(),
            deactivated: self.deactivate.len(),
            removed: self.grants_remove.len() + self.memberships_remove.len(),
            principals_added: self.insert.len(),
            grants_added: self.grants_add.len(),
            grants_removed: self.grants_remove.len(),
            memberships_added: self.memberships_add.len(),
            memberships_removed: self.memberships_remove.len(),
        }
    }
}

/// Always allowed to deactivate this many, whatever the percentage: a small
/// directory may lose a few people in one sync.
pub const DEACTIVATIONS_ALWAYS_ALLOWED: usize = 10;

/// Why applying `diff` over `current` would deactivate too much: more than
/// `percent` % of the active principals `current` holds, and more than
/// [`DEACTIVATIONS_ALWAYS_ALLOWED`]. An identity provider answering an
/// empty or partial realm (a wrong group filter, a server restored from an
/// old backup) must not empty the directory and strand every open task.
pub fn too_many_deactivations(current: &Snapshot, diff: &DirectoryDiff, percent: u32) -> Option<String> {
    let active = current.principals.values().filter(|p| p.active).count();
    let leaving = diff.deactivate.len() + diff.update.iter().filter(|u| u.before.active && !u.after.active).count();
    let allowed = (active * percent as usize / 100).max(DEACTIVATIONS_ALWAYS_ALLOWED);
    (leaving > allowed).then(|| format!(
        "this sync would deactivate {leaving} of {active} active principals, more than the {percent}% (max_deactivations) allowed; \
         nothing was applied (awe.sync_directory(force => true) applies it)"))
}

/// The changes that turn `current` (what the database holds for a source)
/// into `desired` (what the source says now). See the module docs.
pub fn diff(current: &Snapshot, desired: &Snapshot) -> DirectoryDiff {
    let mut out = DirectoryDiff::default();

    // Principals: one merge walk over both sorted maps.
    let mut cur = current.principals.iter().peekable();
    let mut des = desired.principals.iter().peekable();
    loop {
        let order = match (cur.peek(), des.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((c, _)), Some((d, _))) => c.cmp(d),
        };
        match order {
            Ordering::Less => {
                let (id, rec) = cur.next().unwrap();
                if rec.active {
                    out.deactivate.push(id.clone());
                }
            }
            Ordering::Greater => {
                let (id, rec) = des.next().unwrap();
                out.insert.push(NewPrincipal { principal_id: id.clone(), record: rec.clone() });
            }
            Ordering::Equal => {
                let (id, before) = cur.next().unwrap();
                let (_, after) = des.next().unwrap();
                let changed = changed_fields(before, after);
                if !changed.is_empty() {
                    out.update.push(PrincipalUpdate {
                        principal_id: id.clone(),
                        changed,
                        before: before.clone(),
                        after: after.clone(),
                    });
                }
            }
        }
    }

    pair_diff(&current.roles, &desired.roles, &mut |role, p, add| {
        let g = Grant { role: role.to_string(), principal_id: p.to_string() };
        if add { out.grants_add.push(g) } else { out.grants_remove.push(g) }
    });
    pair_diff(&current.groups, &desired.groups, &mut |group, p, add| {
        let m = Membership { group_path: group.to_string(), principal_id: p.to_string() };
        if add { out.memberships_add.push(m) } else { out.memberships_remove.push(m) }
    });
    out
}

fn changed_fields(before: &PrincipalRecord, after: &PrincipalRecord) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.display_name != after.display_name {
        changed.push("display_name");
    }
    if before.email != after.email {
        changed.push("email");
    }
    if before.attributes != after.attributes {
        changed.push("attributes");
    }
    if before.active != after.active {
        changed.push("active");
    }
    changed
}

/// Calls `emit(name, principal, added)` for every (name, principal) pair in
/// exactly one of the two maps, in (name, principal) order. An empty set and
/// an absent key mean the same.
fn pair_diff(
    current: &BTreeMap<String, BTreeSet<String>>,
    desired: &BTreeMap<String, BTreeSet<String>>,
    emit: &mut dyn FnMut(&str, &str, bool),
) {
    let empty = BTreeSet::new();
    let names: BTreeSet<&String> = current.keys().chain(desired.keys()).collect();
    for name in names {
        let c = current.get(name).unwrap_or(&empty);
        let d = desired.get(name).unwrap_or(&empty);
        for p in d.difference(c) {
            emit(name, p, true);
        }
        for p in c.difference(d) {
            emit(name, p, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    fn rec(name: &str) -> PrincipalRecord {
        PrincipalRecord { display_name: Some(name.into()), email: Some(format!("{name}@example.com")), ..Default::default() }
    }

    fn expense() -> Snapshot {
        let mut s = Snapshot::default();
        for id in ["sam", "mia", "fin.ana", "fin.ben", "fin.cy", "dora"] {
            s.principals.insert(id.into(), rec(id));
        }
        s.groups.insert("/finance/approvers".into(), ["fin.ana", "fin.ben", "fin.cy"].map(String::from).into());
        s.roles.insert("finance-director".into(), ["dora".to_string()].into());
        s
    }

    #[test]
    fn equal_snapshots_have_an_empty_diff() {
        let d = diff(&expense(), &expense());
        assert!(d.is_empty());
        assert_eq!(d.counts(), DiffCounts::default());
        assert!(diff(&Snapshot::default(), &Snapshot::default()).is_empty());
    }

    #[test]
    fn attribute_key_order_and_empty_sets_are_not_changes() {
        let mut a = expense();
        let mut b = expense();
        a.principals.get_mut("sam").unwrap().attributes = json!({"x": 1, "y": [1, 2]}).as_object().unwrap().clone();
        b.principals.get_mut("sam").unwrap().attributes = json!({"y": [1, 2], "x": 1}).as_object().unwrap().clone();
        b.roles.insert("nobody-holds-this".into(), BTreeSet::new());
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn a_new_user_is_inserted_with_grants_and_memberships() {
        let cur = expense();
        let mut des = expense();
        des.principals.insert("fin.dee".into(), rec("fin.dee"));
        des.groups.get_mut("/finance/approvers").unwrap().insert("fin.dee".into());
        des.roles.entry("approver".into()).or_default().insert("fin.dee".into());
        let d = diff(&cur, &des);
        assert_eq!(d.insert, vec![NewPrincipal { principal_id: "fin.dee".into(), record: rec("fin.dee") }]);
        assert_eq!(d.grants_add, vec![Grant { role: "approver".into(), principal_id: "fin.dee".into() }]);
        assert_eq!(d.memberships_add, vec![Membership { group_path: "/finance/approvers".into(), principal_id: "fin.dee".into() }]);
        let c = d.counts();
        assert_eq!((c.added, c.updated, c.deactivated, c.removed), (3, 0, 0, 0));
        assert!(d.update.is_empty() && d.deactivate.is_empty() && d.grants_remove.is_empty());
    }

    #[test]
    fn only_really_changed_fields_make_an_update() {
        let cur = expense();
        let mut des = expense();
        des.principals.get_mut("mia").unwrap().email = Some("mia@new.example.com".into());
        des.principals.get_mut("sam").unwrap().display_name = None;
        des.principals.get_mut("dora").unwrap().attributes.insert("department".into(), json!("finance"));
        let d = diff(&cur, &des);
        let changed: Vec<(&str, Vec<&str>)> = d.update.iter().map(|u| (u.principal_id.as_str(), u.changed.clone())).collect();
        assert_eq!(changed, vec![("dora", vec!["attributes"]), ("mia", vec!["email"]), ("sam", vec!["display_name"])]);
        assert_eq!(d.update[1].before.email.as_deref(), Some("mia@example.com"));
        assert_eq!(d.update[1].after.email.as_deref(), Some("mia@new.example.com"));
        assert_eq!(d.counts().updated, 3);
    }

    #[test]
    fn a_user_removed_from_a_group_loses_only_that_membership() {
        let cur = expense();
        let mut des = expense();
        des.groups.get_mut("/finance/approvers").unwrap().remove("fin.ben");
        let d = diff(&cur, &des);
        assert_eq!(d.memberships_remove, vec![Membership { group_path: "/finance/approvers".into(), principal_id: "fin.ben".into() }]);
        assert!(d.insert.is_empty() && d.update.is_empty() && d.deactivate.is_empty() && d.memberships_add.is_empty());
        assert_eq!(d.counts().removed, 1);
    }

    #[test]
    fn a_revoked_role_is_removed_and_a_granted_one_added() {
        let cur = expense();
        let mut des = expense();
        des.roles.insert("finance-director".into(), ["mia".to_string()].into());
        let d = diff(&cur, &des);
        assert_eq!(d.grants_add, vec![Grant { role: "finance-director".into(), principal_id: "mia".into() }]);
        assert_eq!(d.grants_remove, vec![Grant { role: "finance-director".into(), principal_id: "dora".into() }]);
    }

    #[test]
    fn a_disabled_user_is_an_update_of_active_and_re_enabling_is_too() {
        let cur = expense();
        let mut des = expense();
        des.principals.get_mut("fin.cy").unwrap().active = false;
        let d = diff(&cur, &des);
        assert_eq!(d.update.len(), 1);
        assert_eq!(d.update[0].changed, vec!["active"]);
        assert!(!d.update[0].after.active);
        assert!(d.deactivate.is_empty(), "a disabled user is present, so not 'vanished'");
        assert!(d.memberships_remove.is_empty(), "memberships are the source's to keep");
        let back = diff(&des, &cur);
        assert_eq!(back.update[0].changed, vec!["active"]);
        assert!(back.update[0].after.active);
        // Who leaves: the disabled user, not the re-enabled one.
        assert_eq!(d.deactivating(), vec!["fin.cy".to_string()]);
        assert!(back.deactivating().is_empty());
    }

    #[test]
    fn who_a_diff_leaves_inactive() {
        let cur = expense();
        let mut des = expense();
        des.principals.remove("dora");
        des.roles.clear();
        des.principals.get_mut("sam").unwrap().active = false;
        let mut ghost = rec("ghost");
        ghost.active = false;
        des.principals.insert("ghost".into(), ghost);
        des.principals.insert("newbie".into(), rec("newbie"));
        // Vanished (dora), disabled (sam), written inactive (ghost, which may
        // have been entered by hand as active); never the active newbie.
        assert_eq!(diff(&cur, &des).deactivating(), vec!["dora".to_string(), "ghost".into(), "sam".into()]);
    }

    #[test]
    fn a_vanished_user_is_deactivated_not_deleted_and_loses_grants() {
        let cur = expense();
        let mut des = expense();
        des.principals.remove("dora");
        des.roles.remove("finance-director");
        let d = diff(&cur, &des);
        assert_eq!(d.deactivate, vec!["dora".to_string()]);
        assert_eq!(d.grants_remove, vec![Grant { role: "finance-director".into(), principal_id: "dora".into() }]);
        assert!(d.insert.is_empty() && d.update.is_empty());
        let c = d.counts();
        assert_eq!((c.deactivated, c.removed), (1, 1));

        // Once inactive in the database, a still-absent principal needs nothing.
        let mut after = cur.clone();
        after.principals.get_mut("dora").unwrap().active = false;
        after.roles.remove("finance-director");
        assert!(diff(&after, &des).is_empty());
    }

    #[test]
    fn a_vanished_user_who_returns_is_reactivated_by_update() {
        let mut cur = expense();
        cur.principals.get_mut("dora").unwrap().active = false;
        cur.roles.remove("finance-director");
        let d = diff(&cur, &expense());
        assert_eq!(d.update.len(), 1);
        assert_eq!(d.update[0].changed, vec!["active"]);
        assert_eq!(d.grants_add, vec![Grant { role: "finance-director".into(), principal_id: "dora".into() }]);
    }

    /// 5,000 users, ~100 groups, a few roles: the diff is a merge walk, so it
    /// stays far below the worker's budget. The time is printed, not asserted
    /// (shared CI machines vary); correctness is asserted.
    #[test]
    fn large_snapshots_diff_correctly_and_quickly() {
        fn big(variant: bool) -> Snapshot {
            let mut s = Snapshot::default();
            for i in 0..5_000 {
                let id = format!("user{i:05}");
                let mut r = rec(&id);
                r.attributes.insert("department".into(), json!(format!("d{}", i % 40)));
                if variant && i % 100 == 0 {
                    r.email = Some(format!("{id}@moved.example.com"));
                }
                if variant && i % 250 == 0 {
                    r.active = false;
                }
                s.principals.insert(id.clone(), r);
                s.groups.entry(format!("/org/d{}/team{}", i % 40, i % 3)).or_default().insert(id.clone());
                if i % 4 == 0 {
                    s.roles.entry("approver".into()).or_default().insert(id.clone());
                }
            }
            if variant {
                for i in 0..10 {
                    s.principals.remove(&format!("user{:05}", 4_990 + i));
                    for g in s.groups.values_mut() {
                        g.remove(&format!("user{:05}", 4_990 + i));
                    }
                    s.roles.get_mut("approver").unwrap().remove(&format!("user{:05}", 4_990 + i));
                }
                s.principals.insert("newcomer".into(), rec("newcomer"));
                s.groups.get_mut("/org/d1/team1").unwrap().insert("newcomer".into());
            }
            s
        }
        let (a, b) = (big(false), big(true));
        assert!(a.validate().is_empty() && b.validate().is_empty());
        let t = Instant::now();
        let same = diff(&a, &a.clone());
        let d = diff(&a, &b);
        let elapsed = t.elapsed();
        println!("diff of two 5,000-user snapshots (twice): {:.2} ms", elapsed.as_secs_f64() * 1e3);
        assert!(same.is_empty());
        assert_eq!(d.insert.len(), 1);
        assert_eq!(d.deactivate.len(), 10);
        // user00000 is both moved and disabled: one update with two fields.
        assert_eq!(d.update.len(), 50 + 20 - 10);
        assert_eq!(d.update[0].changed, vec!["email", "active"]);
        assert_eq!(d.memberships_add.len(), 1);
        assert_eq!(d.memberships_remove.len(), 10);
        assert_eq!(d.grants_remove.len(), 2, "of 4990..4999 only 4992 and 4996 held approver");
    }

    #[test]
    fn names_are_validated_with_paths() {
        let mut s = expense();
        s.principals.insert(String::new(), rec("x"));
        s.principals.insert("x".repeat(257), rec("x"));
        s.roles.insert("finance director".into(), ["dora".to_string()].into());
        s.groups.insert("/finance/".into(), ["ghost".to_string()].into());
        s.groups.insert("finance".into(), BTreeSet::new());
        s.groups.insert("/a//b".into(), BTreeSet::new());
        s.groups.insert(format!("/{}", "g".repeat(512)), BTreeSet::new());
        let problems = s.validate();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for want in ["principals.", "roles.finance director", "groups./finance/", "groups.finance", "groups./a//b"] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        assert!(problems.iter().any(|p| p.code == "unknown_principal" && p.message.contains("ghost")));
        assert_eq!(problems.iter().filter(|p| p.message.contains("at most")).count(), 2);
    }

    #[test]
    fn group_path_rules() {
        for ok in ["/a", "/finance/approvers", "/Finance Team/EMEA approvers", "/a/b/c"] {
            assert_eq!(check_group_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/", "a/b", "/a/", "/a//b", "//a"] {
            assert!(check_group_path(bad).is_err(), "{bad}");
        }
        assert!(check_role("expense-app:approver").is_ok());
        assert!(check_role(&"r".repeat(129)).is_err());
    }

    #[test]
    fn import_reads_both_membership_shapes_and_unions_them() {
        let doc = json!({
            "users": [
                {"id": "sam", "display_name": "Sam Sub", "email": "sam@example.com"},
                {"id": "mia", "display_name": "Mia Man", "attributes": {"level": 3}, "roles": ["manager"]},
                {"id": "fin.ana", "groups": ["/finance/approvers"], "email": ""},
                {"id": "fin.ben", "groups": ["/finance/approvers"], "active": false},
                {"id": "dora"}
            ],
            "roles": {"finance-director": ["dora"], "manager": ["mia"]},
            "groups": {"/finance/approvers": ["fin.ana", "fin.ben"], "/finance": ["dora"]}
        });
        let s = Snapshot::from_import(&doc).unwrap();
        assert_eq!(s.principals.len(), 5);
        assert_eq!(s.principals["sam"].display_name.as_deref(), Some("Sam Sub"));
        assert_eq!(s.principals["fin.ana"].email, None, "\"\" means no email");
        assert!(!s.principals["fin.ben"].active);
        assert!(s.principals["dora"].active);
        assert_eq!(s.principals["mia"].attributes["level"], json!(3));
        assert_eq!(s.roles["manager"], ["mia".to_string()].into());
        assert_eq!(s.roles["finance-director"], ["dora".to_string()].into());
        assert_eq!(s.groups["/finance/approvers"].len(), 2);
        assert!(s.validate().is_empty());
    }

    #[test]
    fn import_reports_every_problem_with_its_path() {
        let doc = json!({
            "users": [
                {"id": "sam", "mail": "x"},
                {"id": "sam"},
                {"display_name": "no id"},
                {"id": 7, "active": "yes", "attributes": [], "roles": ["bad role"], "groups": ["/a/"]},
                "not an object"
            ],
            "roles": {"finance-director": ["ghost", 3]},
            "groups": {"finance": ["sam"]},
            "extra": true
        });
        let problems = Snapshot::from_import(&doc).unwrap_err();
        let got: Vec<(&str, &str)> = problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
        for want in [
            ("users[0].mail", "unknown_field"),
            ("users[1].id", "duplicate"),
            ("users[2].id", "required"),
            ("users[3].id", "type"),
            ("users[3].active", "type"),
            ("users[3].attributes", "type"),
            ("users[3].roles[0]", "value"),
            ("users[3].groups[0]", "value"),
            ("users[4]", "type"),
            ("roles.finance-director[0]", "unknown_user"),
            ("roles.finance-director[1]", "type"),
            ("groups.finance", "value"),
            ("extra", "unknown_field"),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
        assert_eq!(got.len(), 13, "{got:?}");
        let missing = Snapshot::from_import(&json!({})).unwrap_err();
        assert_eq!((missing[0].path.as_str(), missing[0].code), ("users", "required"));
    }

    #[test]
    fn an_import_diffs_like_a_sync() {
        let doc = json!({"users": [{"id": "sam", "display_name": "sam", "email": "sam@example.com"}]});
        let mut desired = Snapshot::from_import(&doc).unwrap();
        let d = diff(&expense(), &desired);
        assert_eq!(d.deactivate.len(), 5, "everyone but sam is gone from the document");
        assert!(d.update.is_empty());
        assert_eq!(d.counts().removed, 4);
        desired.principals.get_mut("sam").unwrap().email = None;
        assert_eq!(diff(&expense(), &desired).update[0].changed, vec!["email"]);
    }

    #[test]
    fn a_sync_that_would_empty_the_directory_is_refused() {
        let mut big = Snapshot::default();
        for i in 0..100 {
            big.principals.insert(format!("u{i:03}"), rec("u"));
        }
        // An empty answer would deactivate all 100.
        let wiped = diff(&big, &Snapshot::default());
        assert!(too_many_deactivations(&big, &wiped, 25).unwrap().contains("deactivate 100 of 100"));
        // 25 of 100 is within 25%; 26 is not; disabling counts like leaving.
        let mut some = big.clone();
        for i in 0..25 {
            some.principals.remove(&format!("u{i:03}"));
        }
        assert!(too_many_deactivations(&big, &diff(&big, &some), 25).is_none());
        some.principals.get_mut("u025").unwrap().active = false;
        assert!(too_many_deactivations(&big, &diff(&big, &some), 25).is_some());
        assert!(too_many_deactivations(&big, &diff(&big, &some), 100).is_none());
        // A small directory may always lose ten.
        let small = expense();
        assert!(too_many_deactivations(&small, &diff(&small, &Snapshot::default()), 0).is_none());
    }
}
