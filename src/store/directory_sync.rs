//! Directory sources and imports in the database: the part of a tenant's
//! directory they manage (as a `Snapshot` for `directory_sync::diff`),
//! writing a difference, and the sources' schedule and status. The HTTP side
//! is the worker's (worker/sync.rs); the decisions are the core's.
//!
//! A difference is written with one statement per kind of change, each over
//! arrays, and only for the kinds that have changes: a sync that changes
//! nothing runs no statement, so no trigger fires and no backend's directory
//! cache is dropped.

use super::{arg, column, first, json_column, required, run};
use awe_core::directory_sync::{DirectoryDiff, PrincipalRecord, Snapshot};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::{json, Map, Value};

/// What the tenant's directory source or its last import wrote.
pub fn load_managed(c: &SpiClient<'_>, tenant: &str) -> AweResult<Snapshot> {
    let mut s = Snapshot::default();
    for r in run(c, "select principal_id, display_name, email, attributes::text, active from awe.principal
                      where tenant_id = $1 and managed_by = 'directory'", &[arg::text(tenant)])? {
        let attributes = match json_column(&r, 4)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        s.principals.insert(required(&r, 1)?, PrincipalRecord {
            display_name: column(&r, 2)?, email: column(&r, 3)?, attributes, active: required(&r, 5)?,
        });
    }
    for r in run(c, "select role, principal_id from awe.role_grant where tenant_id = $1 and managed_by = 'directory'", &[arg::text(tenant)])? {
        s.roles.entry(required(&r, 1)?).or_default().insert(required(&r, 2)?);
    }
    for r in run(c, "select group_path, principal_id from awe.group_member where tenant_id = $1 and managed_by = 'directory'", &[arg::text(tenant)])? {
        s.groups.entry(required(&r, 1)?).or_default().insert(required(&r, 2)?);
    }
    Ok(s)
}

/// Columns of principals to insert or update, as arrays.
struct PrincipalColumns {
    ids: Vec<String>,
    names: Vec<Option<String>>,
    emails: Vec<Option<String>>,
    attributes: Vec<String>,
    active: Vec<bool>,
}

fn principal_columns<'a>(rows: impl Iterator<Item = (&'a String, &'a PrincipalRecord)>) -> PrincipalColumns {
    let mut p = PrincipalColumns { ids: vec![], names: vec![], emails: vec![], attributes: vec![], active: vec![] };
    for (id, r) in rows {
        p.ids.push(id.clone());
        p.names.push(r.display_name.clone());
        p.emails.push(r.email.clone());
        p.attributes.push(Value::Object(r.attributes.clone()).to_string());
        p.active.push(r.active);
    }
    p
}

fn pairs<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> (Vec<String>, Vec<String>) {
    items.map(|(a, b)| (a.clone(), b.clone())).unzip()
}

/// Writes `diff` for `tenant`, in the order that keeps every foreign key
/// satisfied. A principal, grant or membership written by hand that the
/// source also has becomes the source's (managed_by = 'directory').
pub fn apply(c: &SpiClient<'_>, tenant: &str, diff: &DirectoryDiff, now_us: i64) -> AweResult<()> {
    let now = || arg::timestamptz(now_us);
    // Who is active now and will not be once the diff is applied.
    let candidates = diff.deactivating();
    let leaving: Vec<String> = if candidates.is_empty() {
        Vec::new()
    } else {
        run(c, "select principal_id from awe.principal where tenant_id = $1 and principal_id = any($2) and active",
            &[arg::text(tenant), arg::array(candidates)])?
            .map(|r| required(&r, 1)).collect::<AweResult<_>>()?
    };
    if !diff.insert.is_empty() {
        let p = principal_columns(diff.insert.iter().map(|n| (&n.principal_id, &n.record)));
        run(c, "insert into awe.principal as p (tenant_id, principal_id, display_name, email, attributes, active, created_at, updated_at, managed_by)
                select $1, x.id, x.name, x.email, x.attributes::jsonb, x.active, $7, $7, 'directory'
                  from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[]) as x(id, name, email, attributes, active)
                on conflict (tenant_id, principal_id) do update
                   set display_name = excluded.display_name, email = excluded.email, attributes = excluded.attributes,
                       active = excluded.active, updated_at = excluded.updated_at, managed_by = 'directory'",
            &[arg::text(tenant), arg::array(p.ids), arg::array(p.names), arg::array(p.emails), arg::array(p.attributes), arg::array(p.active), now()])?;
    }
    if !diff.update.is_empty() {
        let p = principal_columns(diff.update.iter().map(|u| (&u.principal_id, &u.after)));
        run(c, "update awe.principal p
                   set display_name = x.name, email = x.email, attributes = x.attributes::jsonb, active = x.active, updated_at = $7
                  from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[]) as x(id, name, email, attributes, active)
                 where p.tenant_id = $1 and p.principal_id = x.id and p.managed_by = 'directory'",
            &[arg::text(tenant), arg::array(p.ids), arg::array(p.names), arg::array(p.emails), arg::array(p.attributes), arg::array(p.active), now()])?;
    }
    if !diff.grants_add.is_empty() {
        let (roles, ids) = pairs(diff.grants_add.iter().map(|g| (&g.role, &g.principal_id)));
        run(c, "insert into awe.role_grant as g (tenant_id, role, principal_id, managed_by)
                select $1, x.role, x.id, 'directory' from unnest($2::text[], $3::text[]) as x(role, id)
                on conflict (tenant_id, role, principal_id) do update set managed_by = 'directory'",
            &[arg::text(tenant), arg::array(roles), arg::array(ids)])?;
    }
    if !diff.memberships_add.is_empty() {
        let (groups, ids) = pairs(diff.memberships_add.iter().map(|m| (&m.group_path, &m.principal_id)));
        run(c, "insert into awe.group_member as m (tenant_id, group_path, principal_id, managed_by)
                select $1, x.path, x.id, 'directory' from unnest($2::text[], $3::text[]) as x(path, id)
                on conflict (tenant_id, group_path, principal_id) do update set managed_by = 'directory'",
            &[arg::text(tenant), arg::array(groups), arg::array(ids)])?;
    }
    if !diff.grants_remove.is_empty() {
        let (roles, ids) = pairs(diff.grants_remove.iter().map(|g| (&g.role, &g.principal_id)));
        run(c, "delete from awe.role_grant g using unnest($2::text[], $3::text[]) as x(role, id)
                 where g.tenant_id = $1 and g.role = x.role and g.principal_id = x.id and g.managed_by = 'directory'",
            &[arg::text(tenant), arg::array(roles), arg::array(ids)])?;
    }
    if !diff.memberships_remove.is_empty() {
        let (groups, ids) = pairs(diff.memberships_remove.iter().map(|m| (&m.group_path, &m.principal_id)));
        run(c, "delete from awe.group_member m using unnest($2::text[], $3::text[]) as x(path, id)
                 where m.tenant_id = $1 and m.group_path = x.path and m.principal_id = x.id and m.managed_by = 'directory'",
            &[arg::text(tenant), arg::array(groups), arg::array(ids)])?;
    }
    if !diff.deactivate.is_empty() {
        run(c, "update awe.principal set active = false, updated_at = $3
                 where tenant_id = $1 and principal_id = any($2) and managed_by = 'directory' and active",
            &[arg::text(tenant), arg::array(diff.deactivate.clone()), now()])?;
    }
    if !leaving.is_empty() {
        run(c, "select awe._principals_left($1, $2)", &[arg::text(tenant), arg::array(leaving)])?;
    }
    // The caches of every backend (the tables' triggers do the same on one node).
    if !(diff.insert.is_empty() && diff.update.is_empty() && diff.deactivate.is_empty()) {
        super::watch::changed(c, "awe.principal")?;
    }
    if !(diff.grants_add.is_empty() && diff.grants_remove.is_empty()) {
        super::watch::changed(c, "awe.role_grant")?;
    }
    if !(diff.memberships_add.is_empty() && diff.memberships_remove.is_empty()) {
        super::watch::changed(c, "awe.group_member")?;
    }
    Ok(())
}

/// Whether the tenant has a directory source.
pub fn has_source(c: &SpiClient<'_>, tenant: &str) -> AweResult<bool> {
    Ok(first(c, "select 1 from awe.directory_source where tenant_id = $1", &[arg::text(tenant)])?.is_some())
}

/// A source the worker has leased for one sync, with its secret.
pub struct LeasedSource {
    pub tenant: String,
    /// `{base_url, realm, client_id, client_secret, options}`, as
    /// `KeycloakSource::parse` reads it.
    pub config: Value,
    pub force: bool,
    /// The source's `updated_at` (Unix µs) when leased: a source changed
    /// meanwhile is synced again rather than with this answer.
    pub version_us: i64,
    pub alert_url: Option<String>,
}

/// Leases the source due longest ago, if any, until `lease_until_us`: a
/// read across tenants, then a lease taken on one tenant's row.
pub fn lease_due(c: &SpiClient<'_>, now_us: i64, lease_until_us: i64) -> AweResult<Option<LeasedSource>> {
    let due: Vec<String> = run(c, "select tenant_id from awe.directory_source /* awe:all-tenants: which sources are due */
                                    where next_sync_at <= $1 and (lease_until is null or lease_until < $1)
                                    order by next_sync_at limit 4", &[arg::timestamptz(now_us)])?
        .map(|r| required(&r, 1)).collect::<AweResult<_>>()?;
    for tenant in due {
        let Some(r) = first(c,
            "update awe.directory_source s set lease_until = $3, last_attempt_at = $2
              where s.tenant_id = $1 and s.next_sync_at <= $2 and (s.lease_until is null or s.lease_until < $2)
          returning s.tenant_id, s.base_url, s.realm, s.client_id, s.options::text, s.force_next, s.updated_at, s.alert_url",
            &[arg::text(&tenant), arg::timestamptz(now_us), arg::timestamptz(lease_until_us)])? else { continue };
        // The secret by a statement of its own: a claim's RETURNING list
        // holds no subquery (Citus cannot push one down).
        let secret = first(c, "select client_secret from awe.directory_source_secret where tenant_id = $1", &[arg::text(&tenant)])?
            .map(|s| column::<String>(&s, 1)).transpose()?.flatten();
        let config = json!({
            "base_url": required::<String>(&r, 2)?, "realm": required::<String>(&r, 3)?, "client_id": required::<String>(&r, 4)?,
            "options": json_column(&r, 5)?, "client_secret": secret.unwrap_or_default(),
        });
        return Ok(Some(LeasedSource {
            tenant: required(&r, 1)?, config, force: required(&r, 6)?, version_us: super::unix_us_column(&r, 7)?.unwrap_or_default(),
            alert_url: column(&r, 8)?,
        }));
    }
    Ok(None)
}

/// Ends every lease (a new worker: its predecessor's syncs will never finish).
pub fn release_all(c: &SpiClient<'_>) -> AweResult<()> {
    let tenants: Vec<String> = run(c, "select tenant_id from awe.directory_source /* awe:all-tenants */ where lease_until is not null", &[])?
        .map(|r| required(&r, 1)).collect::<AweResult<_>>()?;
    for t in tenants {
        run(c, "update awe.directory_source set lease_until = null where tenant_id = $1", &[arg::text(&t)])?;
    }
    Ok(())
}

/// Locks the source for recording a sync's outcome; `None` when it was
/// removed, or changed (set_directory_source) since it was leased.
pub fn lock_unchanged(c: &SpiClient<'_>, tenant: &str, version_us: i64) -> AweResult<Option<(i32, bool)>> {
    let Some(r) = first(c, "select updated_at, consecutive_failures, alerted from awe.directory_source
                             where tenant_id = $1 for update", &[arg::text(tenant)])? else { return Ok(None) };
    if super::unix_us_column(&r, 1)? != Some(version_us) {
        run(c, "update awe.directory_source set lease_until = null, next_sync_at = updated_at where tenant_id = $1", &[arg::text(tenant)])?;
        return Ok(None);
    }
    Ok(Some((required(&r, 2)?, required(&r, 3)?)))
}

/// Records a sync that was applied (or had nothing to apply).
pub fn record_success(c: &SpiClient<'_>, tenant: &str, now_us: i64, duration_ms: i64, counts: Value, stats: Value) -> AweResult<()> {
    run(c, "update awe.directory_source
               set lease_until = null, last_success_at = $5, last_duration_ms = $2, last_counts = $3, last_stats = $4,
                   last_error_code = null, last_error = null, consecutive_failures = 0, alerted = false, force_next = false,
                   next_sync_at = $5 + sync_interval
             where tenant_id = $1",
        &[arg::text(tenant), arg::int(duration_ms.min(i32::MAX as i64) as i32), arg::jsonb(counts), arg::jsonb(stats), arg::timestamptz(now_us)])?;
    Ok(())
}

/// Records a failed sync: nothing was applied. The next try comes sooner
/// than the interval, backing off (30 s, 1 min, 2 min, … up to the interval).
pub fn record_failure(c: &SpiClient<'_>, tenant: &str, now_us: i64, failures_before: i32, duration_ms: i64, code: &str, error: &str,
                      stats: Option<Value>) -> AweResult<()> {
    let backoff_secs = 30.0 * 2f64.powi(failures_before.clamp(0, 10));
    run(c, "update awe.directory_source
               set lease_until = null, last_duration_ms = $2, last_error_code = $3, last_error = $4,
                   last_stats = coalesce($5, last_stats), consecutive_failures = consecutive_failures + 1,
                   next_sync_at = $6 + least(sync_interval, make_interval(secs => $7))
             where tenant_id = $1",
        &[arg::text(tenant), arg::int(duration_ms.min(i32::MAX as i64) as i32), arg::text(code), arg::text(error), arg::opt_jsonb(stats),
          arg::timestamptz(now_us), arg::float(backoff_secs)])?;
    Ok(())
}

/// The alert for this run of failures was sent.
pub fn mark_alerted(c: &SpiClient<'_>, tenant: &str) -> AweResult<()> {
    run(c, "update awe.directory_source set alerted = true where tenant_id = $1", &[arg::text(tenant)])?;
    Ok(())
}

/// Queues a message of its own (no request) to the endpoint `url` belongs
/// to; the worker signs and delivers it like any webhook.
pub fn queue_message(c: &SpiClient<'_>, tenant: &str, now_us: i64, url: &str, kind: &str, data: Value) -> AweResult<()> {
    let Some((endpoint, _)) = super::endpoint::endpoint_of_url(c, tenant, url)? else {
        pgrx::warning!("awe: {kind} for tenant {tenant} not sent: {url} is no longer under a registered endpoint");
        return Ok(());
    };
    let id = super::new_uuid();
    let body = json!({"type": kind, "timestamp": awe_core::time::rfc3339(now_us), "data": data});
    run(c, "insert into awe.delivery (tenant_id, event_id, event_type, endpoint_id, url, next_attempt_at, created_at, message)
            values ($1, $2, $3, $4, $5, $7, $7, $6)",
        &[arg::text(tenant), arg::uuid(&id), arg::text(kind), arg::uuid(&endpoint), arg::text(url), arg::jsonb(body), arg::timestamptz(now_us)])?;
    crate::worker::wake::wake_on_commit();
    Ok(())
}
