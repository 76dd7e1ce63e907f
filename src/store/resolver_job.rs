//! http approver-resolver jobs as the worker uses them: which tenants have
//! due jobs, claiming one tenant's, and recording the outcome.

use super::{arg, json_column, required, run};
use awe_core::AweResult;
use pgrx::spi::SpiClient;

/// The key of a job.
#[derive(Debug, Clone)]
pub struct JobKey {
    pub tenant: String,
    pub request_id: String,
    pub stage_index: i32,
    pub revision: i32,
}

/// A claimed job: the resolver URL, the attempt, and the request as the
/// resolver receives it.
pub struct ClaimedJob {
    pub key: JobKey,
    pub url: String,
    pub attempts: i32,
    pub payload: serde_json::Value,
}

/// Tenants with due jobs (a read: nothing is locked).
pub fn tenants_with_due_jobs(c: &SpiClient<'_>, limit: i32) -> AweResult<Vec<String>> {
    run(c, "select distinct tenant_id from awe.resolver_job /* awe:all-tenants: which tenants have work */
             where status in ('pending', 'running') and next_attempt_at <= now() and (lease_until is null or lease_until < now())
             limit $1",
        &[arg::int(limit)])?
        .map(|r| required(&r, 1)).collect()
}

/// Claims up to `limit` of one tenant's due jobs with a lease.
pub fn claim(c: &SpiClient<'_>, tenant: &str, limit: i32, lease_secs: i64) -> AweResult<Vec<ClaimedJob>> {
    let rows = run(c, include_str!("sql/claim_resolver_jobs.sql"), &[arg::text(tenant), arg::int(limit), arg::bigint(lease_secs)])?;
    rows.map(|r| Ok(ClaimedJob {
        key: JobKey { tenant: tenant.to_string(), request_id: required(&r, 1)?, stage_index: required(&r, 2)?, revision: required(&r, 3)? },
        url: required(&r, 4)?,
        attempts: required(&r, 5)?,
        payload: json_column(&r, 6)?,
    })).collect()
}

fn key_args(k: &JobKey) -> Vec<pgrx::datum::DatumWithOid<'static>> {
    vec![arg::text(&k.tenant), arg::uuid(&k.request_id), arg::int(k.stage_index), arg::int(k.revision)]
}

pub fn mark_done(c: &SpiClient<'_>, k: &JobKey) -> AweResult<()> {
    run(c, "update awe.resolver_job set status = 'done', lease_until = null
             where tenant_id = $1 and request_id = $2 and stage_index = $3 and revision = $4", &key_args(k))?;
    Ok(())
}

/// Another attempt after `wait_secs`.
pub fn retry_later(c: &SpiClient<'_>, k: &JobKey, error: &str, wait_secs: i64) -> AweResult<()> {
    let mut args = key_args(k);
    args.extend([arg::text(error), arg::bigint(wait_secs)]);
    run(c, "update awe.resolver_job set status = 'pending', lease_until = null, last_error = $5,
                   next_attempt_at = now() + make_interval(secs => $6)
             where tenant_id = $1 and request_id = $2 and stage_index = $3 and revision = $4", &args)?;
    Ok(())
}

/// Puts a claimed job back without counting the attempt, for a minute.
pub fn hold(c: &SpiClient<'_>, k: &JobKey, why: &str) -> AweResult<()> {
    let mut args = key_args(k);
    args.push(arg::text(why));
    run(c, "update awe.resolver_job set status = 'pending', lease_until = null, attempts = greatest(attempts - 1, 0),
                   last_error = $5, next_attempt_at = now() + interval '1 minute'
             where tenant_id = $1 and request_id = $2 and stage_index = $3 and revision = $4", &args)?;
    Ok(())
}

pub fn mark_failed(c: &SpiClient<'_>, k: &JobKey, error: &str) -> AweResult<()> {
    let mut args = key_args(k);
    args.push(arg::text(error));
    run(c, "update awe.resolver_job set status = 'failed', lease_until = null, last_error = $5
             where tenant_id = $1 and request_id = $2 and stage_index = $3 and revision = $4", &args)?;
    Ok(())
}

/// Puts every running job back to pending, its attempt not counted (the
/// worker starts: its predecessor is gone, and the call's answer with it).
pub fn release_all(c: &SpiClient<'_>) -> AweResult<()> {
    let tenants: Vec<String> = run(c, "select distinct tenant_id from awe.resolver_job /* awe:all-tenants */ where status = 'running'", &[])?
        .map(|r| required(&r, 1)).collect::<AweResult<_>>()?;
    for t in tenants {
        run(c, "update awe.resolver_job set status = 'pending', lease_until = null, next_attempt_at = now(),
                       attempts = greatest(attempts - 1, 0)
                 where tenant_id = $1 and status = 'running'", &[arg::text(&t)])?;
    }
    Ok(())
}
