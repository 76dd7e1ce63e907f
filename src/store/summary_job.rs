//! Summary jobs as the worker uses them: which tenants have due jobs,
//! claiming one tenant's (with the request's context and the model
//! endpoint its policy names), recording the outcome, and the request's
//! stored summary.

use super::{arg, column, json_column, required, run};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct JobKey {
    pub tenant: String,
    pub request_id: String,
    pub revision: i32,
}

pub struct ClaimedJob {
    pub key: JobKey,
    pub attempts: i32,
    pub policy_key: String,
    pub policy_version: i32,
    pub context: Value,
    /// The request's summary as stored (its template text is kept).
    pub summary: Option<Value>,
}

/// Queues a summary of this revision (submit, resubmit).
pub fn queue(c: &SpiClient<'_>, tenant: &str, request_id: &str, revision: i32, now_us: i64) -> AweResult<()> {
    run(c, "insert into awe.summary_job (tenant_id, request_id, revision, next_attempt_at, created_at) values ($1, $2, $3, $4, $4)
            on conflict (tenant_id, request_id, revision) do nothing",
        &[arg::text(tenant), arg::uuid(request_id), arg::int(revision), arg::timestamptz(now_us)])?;
    Ok(())
}

/// Tenants with due jobs (a read: nothing is locked).
pub fn tenants_with_due_jobs(c: &SpiClient<'_>, limit: i32) -> AweResult<Vec<String>> {
    run(c, "select distinct tenant_id from awe.summary_job /* awe:all-tenants: which tenants have work */
             where status in ('pending', 'running') and next_attempt_at <= now() and (lease_until is null or lease_until < now())
             limit $1", &[arg::int(limit)])?
        .map(|r| required(&r, 1)).collect()
}

/// Claims up to `limit` of one tenant's due jobs with a lease.
pub fn claim(c: &SpiClient<'_>, tenant: &str, limit: i32, lease_secs: i64) -> AweResult<Vec<ClaimedJob>> {
    let rows = run(c,
        "with due as (
             select j.request_id, j.revision from awe.summary_job j
              where j.tenant_id = $1 and j.status in ('pending', 'running') and j.next_attempt_at <= now()
                and (j.lease_until is null or j.lease_until < now())
              order by j.next_attempt_at limit $2 for update skip locked),
         claimed as (
             update awe.summary_job j set status = 'running', attempts = j.attempts + 1, lease_until = now() + make_interval(secs => $3)
               from due where j.tenant_id = $1 and (j.request_id, j.revision) = (due.request_id, due.revision)
          returning j.request_id, j.revision, j.attempts)
         select c.request_id::text, c.revision, c.attempts, r.policy_key, r.policy_version, r.context::text, r.summary::text
           from claimed c join awe.request r on r.tenant_id = $1 and r.request_id = c.request_id",
        &[arg::text(tenant), arg::int(limit), arg::bigint(lease_secs)])?;
    rows.map(|r| Ok(ClaimedJob {
        key: JobKey { tenant: tenant.to_string(), request_id: required(&r, 1)?, revision: required(&r, 2)? },
        attempts: required(&r, 3)?,
        policy_key: required(&r, 4)?,
        policy_version: required(&r, 5)?,
        context: json_column(&r, 6)?,
        summary: column::<String>(&r, 7)?.and_then(|t| serde_json::from_str(&t).ok()),
    })).collect()
}

/// The model endpoint `name`: (api, base URL, bearer token).
pub fn endpoint(c: &SpiClient<'_>, tenant: &str, name: &str) -> AweResult<Option<(String, String, Option<String>)>> {
    let row = super::first(c,
        "select m.api, m.base_url, s.bearer from awe.model_endpoint m
           left join awe.model_endpoint_secret s on s.tenant_id = m.tenant_id and s.name = m.name
          where m.tenant_id = $1 and m.name = $2", &[arg::text(tenant), arg::text(name)])?;
    row.map(|r| Ok((required(&r, 1)?, required(&r, 2)?, column(&r, 3)?))).transpose()
}

fn key_args(k: &JobKey) -> Vec<pgrx::datum::DatumWithOid<'static>> {
    vec![arg::text(&k.tenant), arg::uuid(&k.request_id), arg::int(k.revision)]
}

/// `done` or `failed`, with the last error.
pub fn finish(c: &SpiClient<'_>, k: &JobKey, status: &str, error: Option<&str>) -> AweResult<()> {
    let mut args = key_args(k);
    args.extend([arg::text(status), arg::opt_text(error)]);
    run(c, "update awe.summary_job set status = $4, lease_until = null, last_error = coalesce($5, last_error), finished_at = now()
             where tenant_id = $1 and request_id = $2 and revision = $3", &args)?;
    Ok(())
}

/// Another attempt after `wait_secs`.
pub fn retry_later(c: &SpiClient<'_>, k: &JobKey, error: &str, wait_secs: i64) -> AweResult<()> {
    let mut args = key_args(k);
    args.extend([arg::text(error), arg::bigint(wait_secs)]);
    run(c, "update awe.summary_job set status = 'pending', lease_until = null, last_error = $4,
                   next_attempt_at = now() + make_interval(secs => $5)
             where tenant_id = $1 and request_id = $2 and revision = $3", &args)?;
    Ok(())
}

/// Puts every running job back (a new worker), the attempt not counted.
pub fn release_all(c: &SpiClient<'_>) -> AweResult<()> {
    let tenants: Vec<String> = run(c, "select distinct tenant_id from awe.summary_job /* awe:all-tenants */ where status = 'running'", &[])?
        .map(|r| required(&r, 1)).collect::<AweResult<_>>()?;
    for t in tenants {
        run(c, "update awe.summary_job set status = 'pending', lease_until = null, next_attempt_at = now(),
                       attempts = greatest(attempts - 1, 0)
                 where tenant_id = $1 and status = 'running'", &[arg::text(&t)])?;
    }
    Ok(())
}

/// Stores the request's summary.
pub fn set_summary(c: &SpiClient<'_>, tenant: &str, request_id: &str, summary: &Value) -> AweResult<()> {
    run(c, "update awe.request set summary = $3 where tenant_id = $1 and request_id = $2",
        &[arg::text(tenant), arg::uuid(request_id), arg::jsonb(summary.clone())])?;
    Ok(())
}
