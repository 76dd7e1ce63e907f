//! http approver rules: the worker claims a job, calls the resolver outside
//! any transaction, then completes the stage (or fails the request).

use super::request::{operate, registered_endpoint};
use crate::store::{big, i, json_col, req, run, t, u, Session};
use awe_core::model::{RequestStatus, StageStatus, SYSTEM_ACTOR};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::Value;

/// Attempts before the request fails, and the waits between them (seconds).
pub const RESOLVER_BACKOFF: [i64; 4] = [10, 30, 60, 300];

pub struct ResolverJob {
    pub tenant: String,
    pub request_id: String,
    pub stage_index: i32,
    pub revision: i32,
    pub url: String,
    pub attempts: i32,
    /// The request as the resolver receives it.
    pub payload: Value,
    /// Endpoint secrets (to sign the call), empty if the URL is not registered.
    pub secrets: Vec<String>,
}

pub fn claim(c: &SpiClient<'_>, limit: i32, lease_secs: i64) -> AweResult<Vec<ResolverJob>> {
    let rows = run(c,
        "with due as (
             select tenant_id, request_id, stage_index, revision from awe.resolver_job
              where status in ('pending', 'running') and next_attempt_at <= now() and (lease_until is null or lease_until < now())
              order by next_attempt_at limit $1 for update skip locked),
         claimed as (
             update awe.resolver_job j set status = 'running', attempts = j.attempts + 1,
                    lease_until = now() + make_interval(secs => $2)
               from due where (j.tenant_id, j.request_id, j.stage_index, j.revision) = (due.tenant_id, due.request_id, due.stage_index, due.revision)
             returning j.*)
         select c.tenant_id, c.request_id::text, c.stage_index, c.revision, c.url, c.attempts,
                jsonb_build_object('request_id', r.request_id, 'tenant', r.tenant_id, 'policy_key', r.policy_key,
                                   'policy_version', r.policy_version, 'artifact_type', r.artifact_type,
                                   'artifact_id', r.artifact_id, 'requester', r.requester, 'stage_index', c.stage_index,
                                   'revision', c.revision, 'context', r.context)::text
           from claimed c join awe.request r on r.tenant_id = c.tenant_id and r.request_id = c.request_id",
        &[i(limit), big(lease_secs)])?;
    let mut jobs = Vec::new();
    for r in rows {
        jobs.push(ResolverJob {
            tenant: req(&r, 1)?, request_id: req(&r, 2)?, stage_index: req(&r, 3)?, revision: req(&r, 4)?,
            url: req(&r, 5)?, attempts: req(&r, 6)?, payload: json_col(&r, 7)?, secrets: Vec::new(),
        });
    }
    for j in jobs.iter_mut() {
        if let Ok(endpoint) = registered_endpoint(c, &j.tenant, &j.url) {
            j.secrets = run(c, "select secret from awe.endpoint_secret where tenant_id = $1 and endpoint_id = $2::uuid
                                 and (expires_at is null or expires_at > now()) order by created_at desc",
                &[t(&j.tenant), u(&endpoint)])?.map(|r| req::<String>(&r, 1)).collect::<AweResult<_>>()?;
        }
    }
    Ok(jobs)
}

/// Records what the resolver answered (principals) or why it failed.
pub fn finish(c: &SpiClient<'_>, job: &ResolverJob, outcome: Result<Vec<String>, String>, now: i64) -> AweResult<()> {
    let key = || vec![t(&job.tenant), u(&job.request_id), i(job.stage_index), i(job.revision)];
    let s = Session { tenant: job.tenant.clone(), actor: SYSTEM_ACTOR.into(), now };
    let stage = job.stage_index as usize;
    let still_waiting = |m: &awe_core::progress::Machine| m.state.revision == job.revision && m.state.stages.get(stage) == Some(&StageStatus::Resolving);
    match outcome {
        Ok(principals) => {
            operate(c, &s, crate::store::request::Target::Request(&job.request_id), None, |m, _| {
                if still_waiting(m) { m.complete_resolution(stage, SYSTEM_ACTOR, &principals) } else { Ok(()) }
            })?;
            run(c, "update awe.resolver_job set status = 'done', lease_until = null
                     where tenant_id = $1 and request_id = $2::uuid and stage_index = $3 and revision = $4", &key())?;
        }
        Err(error) if (job.attempts as usize) <= RESOLVER_BACKOFF.len() => {
            let wait = RESOLVER_BACKOFF[(job.attempts.max(1) - 1) as usize];
            run(c, "update awe.resolver_job set status = 'pending', lease_until = null, last_error = $5,
                           next_attempt_at = now() + make_interval(secs => $6)
                     where tenant_id = $1 and request_id = $2::uuid and stage_index = $3 and revision = $4",
                &{ let mut a = key(); a.push(t(&error)); a.push(big(wait)); a })?;
        }
        Err(error) => {
            let reason = format!("approver resolver {} failed after {} attempts: {error}", job.url, job.attempts);
            operate(c, &s, crate::store::request::Target::Request(&job.request_id), None, |m, _| {
                if still_waiting(m) { m.terminate(RequestStatus::Failed, "request.failed", SYSTEM_ACTOR, &reason) } else { Ok(()) }
            })?;
            run(c, "update awe.resolver_job set status = 'failed', lease_until = null, last_error = $5
                     where tenant_id = $1 and request_id = $2::uuid and stage_index = $3 and revision = $4",
                &{ let mut a = key(); a.push(t(&error)); a })?;
        }
    }
    Ok(())
}
