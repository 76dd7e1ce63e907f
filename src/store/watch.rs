//! Per-backend caches of table contents, kept right by relcache
//! invalidation: one mechanism for the policy and the directory caches.
//!
//! A statement trigger on a watched table (`awe._tables_changed()`)
//! invalidates the table's relcache entry. Postgres delivers that to every
//! backend when the change commits, and at once inside the changing
//! transaction; the callback bumps the table group's generation, and cache
//! entries from an older generation are not used.

use super::{arg, required, run};
use awe_core::AweResult;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use std::cell::{Cell, RefCell};

/// The groups of tables a cache depends on.
#[derive(Clone, Copy)]
pub enum Watched {
    PolicyVersions = 0,
    Directory = 1,
    Tenants = 2,
}

const TABLES: [(&str, Watched); 8] = [
    ("awe.policy_version", Watched::PolicyVersions),
    ("awe.principal", Watched::Directory),
    ("awe.role_grant", Watched::Directory),
    ("awe.group_member", Watched::Directory),
    ("awe.delegation", Watched::Directory),
    ("awe.tenant", Watched::Tenants),
    // Notification channels hang on principals (an attribute) and endpoints.
    ("awe.notification_channel", Watched::Directory),
    ("awe.endpoint", Watched::Directory),
];

const GROUPS: usize = 3;

thread_local! {
    static GENERATIONS: [Cell<u64>; GROUPS] = const { [Cell::new(0), Cell::new(0), Cell::new(0)] };
    /// The watched tables' oids (index into TABLES order), learnt by query;
    /// forgotten whenever one is invalidated, since a dropped and recreated
    /// table has a new oid.
    static OIDS: RefCell<Vec<pg_sys::Oid>> = const { RefCell::new(Vec::new()) };
}

fn bump(group: usize) {
    GENERATIONS.with(|g| g[group].set(g[group].get().wrapping_add(1)));
}

/// Relcache invalidation callback (registered in _PG_init). It may run in
/// the middle of any catalog access, so it only bumps counters. While the
/// oids are unknown (being re-learnt), any invalidation counts for all.
pub unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let known = OIDS.with(|o| o.try_borrow().ok().filter(|o| !o.is_empty()).map(|o| o.iter().position(|&x| x == relid)));
    match (relid == pg_sys::InvalidOid, known) {
        (false, Some(None)) => return, // a table nobody caches
        (false, Some(Some(i))) => bump(TABLES[i].1 as usize),
        _ => (0..GROUPS).for_each(bump), // everything, or the oids are unknown
    }
    OIDS.with(|o| {
        if let Ok(mut o) = o.try_borrow_mut() {
            o.clear();
        }
    });
}

/// The generation a cache entry for `group` must carry to be used, or `None`
/// when caches must be bypassed: a REPEATABLE READ or SERIALIZABLE
/// transaction reads from an older snapshot than the invalidations already
/// taken in, so what it reads may not be stored and a newer entry may not be
/// used. Takes in pending invalidations first, so a READ COMMITTED caller
/// sees what a fresh query would (nearly free when none arrived).
pub fn generation(client: &SpiClient<'_>, group: Watched) -> AweResult<Option<u64>> {
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Ok(None);
    }
    unsafe { pg_sys::AcceptInvalidationMessages() };
    learn_oids(client)?;
    Ok(Some(GENERATIONS.with(|g| g[group as usize].get())))
}

fn learn_oids(client: &SpiClient<'_>) -> AweResult<()> {
    if OIDS.with(|o| o.borrow().is_empty()) {
        let rows = run(client,
            "select to_regclass(t)::oid from unnest($1::text[]) with ordinality as n(t, i) order by i",
            &[arg::array(TABLES.iter().map(|t| t.0.to_string()).collect::<Vec<_>>())])?;
        let oids = rows.map(|r| required::<pg_sys::Oid>(&r, 1)).collect::<AweResult<Vec<_>>>()?;
        OIDS.with(|o| *o.borrow_mut() = oids);
    }
    Ok(())
}

/// What a watched table's trigger does, for a write of awe's own: every
/// backend forgets the table's group when the transaction commits. On Citus
/// the triggers fire on the node holding the shard, not in the
/// coordinator's backends, where the caches are.
pub fn changed(client: &SpiClient<'_>, table: &str) -> AweResult<()> {
    learn_oids(client)?;
    let i = TABLES.iter().position(|t| t.0 == table).expect("a watched table");
    if let Some(oid) = OIDS.with(|o| o.borrow().get(i).copied()) {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(oid) };
    }
    Ok(())
}
