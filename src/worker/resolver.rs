//! http approver rules: the worker claims a job, calls the resolver outside
//! any transaction, then completes the stage, retries later, or after the
//! last attempt does what the stage's on_resolver_failure says.

use super::http::Http;
use crate::operate::operate;
use crate::session::Session;
use crate::store::request::Target;
use crate::store::{endpoint, resolver_job};
use crate::store::resolver_job::JobKey;
use awe_core::model::{RequestStatus, StageStatus, SYSTEM_ACTOR};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::Value;

/// Attempts before the request fails, and the waits between them (seconds).
pub const RESOLVER_BACKOFF: [i64; 4] = [10, 30, 60, 300];

pub struct ResolverJob {
    pub key: JobKey,
    pub url: String,
    pub attempts: i32,
    /// The request as the resolver receives it.
    pub payload: Value,
    /// Endpoint secrets (to sign the call), empty if the URL is not registered.
    pub secrets: Vec<String>,
}

/// Claims up to `limit` due jobs, a few per tenant in turn.
pub fn claim(c: &SpiClient<'_>, limit: usize, lease_secs: i64) -> AweResult<Vec<ResolverJob>> {
    let mut jobs = Vec::new();
    let tenants = resolver_job::tenants_with_due_jobs(c, limit as i32)?;
    for (i, tenant) in tenants.iter().enumerate() {
        let left = limit.saturating_sub(jobs.len());
        let share = left.div_ceil(tenants.len() - i);
        if share == 0 {
            break;
        }
        for j in resolver_job::claim(c, tenant, share as i32, lease_secs)? {
            // A resolver under a disabled endpoint waits, like webhooks to
            // it, without using up its attempts.
            if let Some((_, false)) = endpoint::endpoint_of_url(c, tenant, &j.url)? {
                resolver_job::hold(c, &j.key, "the endpoint is disabled: awe.set_endpoint_enabled(endpoint_id, true) lets it run")?;
                continue;
            }
            let secrets = endpoint::signing_secrets(c, tenant, &j.url)?;
            jobs.push(ResolverJob { key: j.key, url: j.url, attempts: j.attempts, payload: j.payload, secrets });
        }
    }
    Ok(jobs)
}

impl ResolverJob {
    /// Calls the resolver (on an HTTP thread): it answers a JSON list of
    /// principals, or `{"principals": [...]}`.
    pub fn call(&self, http: &Http) -> Result<Vec<String>, String> {
        if self.secrets.is_empty() {
            return Err(format!("{} is not under an enabled registered endpoint of the tenant", self.url));
        }
        let k = &self.key;
        let msg_id = format!("resolve-{}-{}-{}", k.request_id, k.stage_index, k.revision);
        let answer = http.post(&self.url, &msg_id, &self.payload.to_string(), &self.secrets);
        if let Some(e) = answer.error {
            return Err(e);
        }
        let v: Value = serde_json::from_str(&answer.body).map_err(|e| format!("HTTP {:?}: not JSON: {e}", answer.status))?;
        let list = v.get("principals").cloned().unwrap_or(v);
        awe_core::resolve::principals_from_value(list).map_err(|e| e.message)
    }
}

/// Records what the resolver answered (principals) or why it failed.
pub fn finish(c: &SpiClient<'_>, job: &ResolverJob, outcome: Result<Vec<String>, String>, now: i64) -> AweResult<()> {
    let k = &job.key;
    let s = Session { tenant: k.tenant.clone(), actor: SYSTEM_ACTOR.into(), now };
    let stage = k.stage_index as usize;
    let still_waiting = |m: &awe_core::progress::Machine| m.state.revision == k.revision && m.state.stages.get(stage) == Some(&StageStatus::Resolving);
    match outcome {
        Ok(principals) => {
            let done = operate(c, &s, Target::Request(&k.request_id), |m, _| {
                if still_waiting(m) { m.complete_resolution(stage, SYSTEM_ACTOR, &principals) } else { Ok(()) }
            });
            match done {
                Ok(_) => resolver_job::mark_done(c, k),
                // The answer could not be used (nothing was written): the
                // request fails with the reason, rather than the worker
                // failing on it again at every restart.
                Err(e) => {
                    let reason = format!("approver resolver {} answered, but its answer could not be used: {}", job.url, e.message);
                    operate(c, &s, Target::Request(&k.request_id), |m, _| {
                        if still_waiting(m) { m.terminate(RequestStatus::Failed, "request.failed", SYSTEM_ACTOR, &reason) } else { Ok(()) }
                    })?;
                    resolver_job::mark_failed(c, k, &e.message)
                }
            }
        }
        Err(error) if (job.attempts as usize) <= RESOLVER_BACKOFF.len() => {
            resolver_job::retry_later(c, k, &error, RESOLVER_BACKOFF[(job.attempts.max(1) - 1) as usize])
        }
        // The last attempt failed: the stage's on_resolver_failure routes it
        // (fail the request, skip the stage, or escalate).
        Err(error) => {
            let reason = format!("approver resolver {} failed after {} attempts: {error}", job.url, job.attempts);
            operate(c, &s, Target::Request(&k.request_id), |m, _| {
                if still_waiting(m) { m.resolver_failed(stage, &reason) } else { Ok(()) }
            })?;
            resolver_job::mark_failed(c, k, &error)
        }
    }
}
