//! The core's `Directory`, answered from the directory tables, with a
//! per-backend cache.
//!
//! Role and group members and delegation windows are read at every stage
//! start. Backends remember them until a statement changes a directory table
//! (store::watch). Delegations are cached as windows and filtered by the
//! operation's clock here, so one that starts or ends later needs no
//! invalidation.

use super::watch::{self, Watched};
use super::{arg, required, run, unix_us_column};
use awe_core::resolve::Directory;
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use std::cell::RefCell;
use std::collections::HashMap;

/// A delegation window: delegate, starts, ends, created (Unix µs).
type Window = (String, i64, i64, i64);

/// Where a principal's notifications go: an answer the directory cache
/// holds for store::notify, which reads it.
#[derive(Debug, Clone)]
pub struct Channel {
    pub url: String,
    pub endpoint_id: String,
    /// `None`: every kind.
    pub kinds: Option<Vec<String>>,
    /// Gathered into a digest rather than sent one by one.
    pub digest: bool,
}

#[derive(Default)]
pub(super) struct Cache {
    generation: u64,
    roles: HashMap<(String, String), Vec<String>>,
    groups: HashMap<(String, String, bool), Vec<String>>,
    delegations: HashMap<(String, String), Vec<Window>>,
    inactive: HashMap<(String, String), bool>,
    /// Notification channels by principal (store::notify).
    pub(super) channels: HashMap<(String, String), Option<Channel>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The cached answer for `key`, if the cache is of `generation`.
pub(super) fn peek<K: std::hash::Hash + Eq, V: Clone>(generation: u64, map: fn(&mut Cache) -> &mut HashMap<K, V>, key: &K) -> Option<V> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.generation != generation {
            *c = Cache { generation, ..Cache::default() };
        }
        map(&mut c).get(key).cloned()
    })
}

/// Remembers an answer loaded under `generation`, unless the directory
/// changed meanwhile; bounded per backend.
pub(super) fn remember<K: std::hash::Hash + Eq, V>(generation: u64, map: fn(&mut Cache) -> &mut HashMap<K, V>, key: K, v: V) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.generation == generation {
            let m = map(&mut c);
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(key, v);
        }
    });
}

/// Runs `load` unless the current generation already has the answer.
fn cached<K: std::hash::Hash + Eq, V: Clone>(
    client: &SpiClient<'_>,
    map: fn(&mut Cache) -> &mut HashMap<K, V>,
    key: K,
    load: impl FnOnce() -> AweResult<V>,
) -> AweResult<V> {
    let Some(generation) = watch::generation(client, Watched::Directory)? else {
        return load();
    };
    if let Some(v) = peek(generation, map, &key) {
        return Ok(v);
    }
    let v = load()?;
    remember(generation, map, key, v.clone());
    Ok(v)
}

pub struct SpiDirectory<'a, 'c> {
    pub client: &'a SpiClient<'c>,
    pub tenant: &'a str,
    pub now: i64,
}

fn names(rows: pgrx::spi::SpiTupleTable<'_>) -> AweResult<Vec<String>> {
    rows.map(|r| required::<String>(&r, 1)).collect()
}

impl Directory for SpiDirectory<'_, '_> {
    fn role_members(&mut self, role: &str) -> AweResult<Vec<String>> {
        let (c, tenant) = (self.client, self.tenant);
        cached(c, |k| &mut k.roles, (tenant.to_string(), role.to_string()), || names(run(c,
            "select g.principal_id from awe.role_grant g join awe.principal p using (tenant_id, principal_id)
              where g.tenant_id = $1 and g.role = $2 and p.active order by g.principal_id",
            &[arg::text(tenant), arg::text(role)])?))
    }

    fn group_members(&mut self, group: &str, include_subgroups: bool) -> AweResult<Vec<String>> {
        let (c, tenant) = (self.client, self.tenant);
        // '/' < '0' in the C collation, so [group/, group0) is every sub-group.
        cached(c, |k| &mut k.groups, (tenant.to_string(), group.to_string(), include_subgroups), || names(run(c,
            "select distinct m.principal_id from awe.group_member m join awe.principal p using (tenant_id, principal_id)
              where m.tenant_id = $1 and p.active
                and (m.group_path = $2 or $3 and m.group_path >= $2 || '/' and m.group_path < $2 || '0')
              order by m.principal_id",
            &[arg::text(tenant), arg::text(group), arg::boolean(include_subgroups)])?))
    }

    /// Inactive principals: one query for those not cached yet.
    fn inactive(&mut self, principals: &[String]) -> AweResult<Vec<String>> {
        let (c, tenant) = (self.client, self.tenant);
        let generation = watch::generation(c, Watched::Directory)?;
        let key = |p: &String| (tenant.to_string(), p.clone());
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for p in principals {
            match generation.and_then(|g| peek(g, |k| &mut k.inactive, &key(p))) {
                Some(true) => out.push(p.clone()),
                Some(false) => {}
                None => unknown.push(p.clone()),
            }
        }
        if unknown.is_empty() {
            return Ok(out);
        }
        let found: Vec<String> = names(run(c, "select principal_id from awe.principal where tenant_id = $1 and principal_id = any($2) and not active",
            &[arg::text(tenant), arg::array(unknown.clone())])?)?;
        for p in unknown {
            let is_inactive = found.contains(&p);
            if let Some(g) = generation {
                remember(g, |k| &mut k.inactive, key(&p), is_inactive);
            }
            if is_inactive {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// For each principal, the most recently created delegation whose window
    /// contains the operation's clock.
    fn delegates(&mut self, principals: &[String]) -> AweResult<Vec<(String, String)>> {
        let (c, tenant, now) = (self.client, self.tenant, self.now);
        let mut out = Vec::new();
        for p in principals {
            let windows = cached(c, |k| &mut k.delegations, (tenant.to_string(), p.clone()), || {
                run(c,
                    "select delegate_id, starts_at, ends_at, created_at
                       from awe.delegation
                      where tenant_id = $1 and principal_id = $2 and revoked_at is null",
                    &[arg::text(tenant), arg::text(p)])?
                    .map(|r| Ok((required::<String>(&r, 1)?, unix_us_column(&r, 2)?.unwrap_or(i64::MAX), unix_us_column(&r, 3)?.unwrap_or(i64::MIN), unix_us_column(&r, 4)?.unwrap_or_default())))
                    .collect::<AweResult<Vec<Window>>>()
            })?;
            if let Some(w) = windows.iter().filter(|w| w.1 <= now && now < w.2).max_by_key(|w| w.3) {
                out.push((p.clone(), w.0.clone()));
            }
        }
        Ok(out)
    }
}
