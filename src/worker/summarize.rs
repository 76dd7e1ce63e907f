//! Summaries from a language model: the worker claims a due summary job,
//! asks the model named by the request's policy on an HTTP thread (only the
//! policy's listed context fields leave the database), then records
//! `request.summarized` and the request's new summary, retries later, or
//! after the last attempt records `request.summary_failed`; the template
//! summary stands meanwhile. Never on the submitting transaction's path.

use crate::operate::operate;
use crate::session::Session;
use crate::settings;
use crate::store::request::Target;
use crate::store::summary_job::{self as store, ClaimedJob, JobKey};
use awe_core::http_transport::{HttpRequest, Transport};
use awe_core::model::SYSTEM_ACTOR;
use awe_core::summarizer::{self, Api, Summary, SummarizerError};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};
use std::time::Duration;

/// Waits before the second, third and fourth attempts (seconds); a fifth
/// failure is final.
pub const BACKOFF: [i64; 3] = [30, 120, 600];

pub struct SummarizeJob {
    pub key: JobKey,
    attempts: i32,
    api: Api,
    model: String,
    endpoint: String,
    request: HttpRequest,
    /// awe.model_timeout, read on the worker's own thread (settings cannot
    /// be read from the HTTP threads).
    timeout: Duration,
    /// The stored summary, whose template text is kept beside the model's.
    summary: Option<Value>,
}

pub enum Outcome {
    Answered(Summary),
    Failed(SummarizerError),
}

/// Claims up to `limit` due jobs, a few per tenant in turn; a job that
/// cannot even be built is finished at once (with its reason).
pub fn claim(c: &SpiClient<'_>, limit: usize, lease_secs: i64) -> AweResult<Vec<SummarizeJob>> {
    let mut jobs = Vec::new();
    let tenants = store::tenants_with_due_jobs(c, limit as i32)?;
    for (i, tenant) in tenants.iter().enumerate() {
        let share = limit.saturating_sub(jobs.len()).div_ceil(tenants.len() - i);
        if share == 0 {
            break;
        }
        for j in store::claim(c, tenant, share as i32, lease_secs)? {
            match build(c, &j)? {
                Ok(job) => jobs.push(job),
                Err(reason) => give_up(c, &j.key, j.attempts, "unusable", &reason)?,
            }
        }
    }
    Ok(jobs)
}

fn build(c: &SpiClient<'_>, j: &ClaimedJob) -> AweResult<Result<SummarizeJob, String>> {
    let policy = crate::store::policy::load(c, &j.key.tenant, &j.policy_key, Some(j.policy_version))?.policy;
    let Some(sz) = policy.summarizer.clone() else {
        return Ok(Err(format!("policy {} version {} has no summarizer", j.policy_key, j.policy_version)));
    };
    let Some((api, base_url, bearer)) = store::endpoint(c, &j.key.tenant, &sz.endpoint)? else {
        return Ok(Err(format!("no model endpoint \"{}\" (awe.register_model_endpoint)", sz.endpoint)));
    };
    let Some(api) = Api::parse(&api) else { return Ok(Err(format!("model endpoint \"{}\" has an unknown api \"{api}\"", sz.endpoint))) };
    let selected = summarizer::select_fields(&j.context, &sz.fields);
    let request = summarizer::build_request(api, &base_url, &sz.model, sz.instructions.as_deref(), &selected, bearer.as_deref());
    Ok(Ok(SummarizeJob {
        key: j.key.clone(), attempts: j.attempts, api, model: sz.model, endpoint: sz.endpoint, request, summary: j.summary.clone(),
        timeout: Duration::from_millis(settings::MODEL_TIMEOUT_MS.get().max(1) as u64),
    }))
}

impl SummarizeJob {
    pub fn lane(&self) -> String {
        format!("model:{}:{}", self.key.tenant, self.endpoint)
    }

    /// Asks the model (on an HTTP thread).
    pub fn run(&self) -> Outcome {
        let mut t = super::http::Transport::new(self.timeout, concat!("awe-summarizer/", env!("CARGO_PKG_VERSION")));
        match t.send(&self.request) {
            Ok(resp) => match summarizer::parse_response(self.api, resp.status, &resp.body) {
                Ok(s) => Outcome::Answered(s),
                Err(e) => Outcome::Failed(e),
            },
            Err(e) => Outcome::Failed(SummarizerError::transport(e)),
        }
    }
}

/// Records what the model answered, or why not.
pub fn finish(c: &SpiClient<'_>, job: &SummarizeJob, outcome: Outcome, at: i64) -> AweResult<()> {
    let k = &job.key;
    match outcome {
        Outcome::Answered(s) => {
            let template = job.summary.as_ref().and_then(|v| v.get("template")).cloned().unwrap_or(Value::Null);
            let data = json!({"summary": s.summary, "impact": s.impact, "risk": s.risk.as_str(), "model": job.model, "revision": k.revision});
            let session = Session { tenant: k.tenant.clone(), actor: SYSTEM_ACTOR.into(), now: at };
            let (recorded, _, _) = operate(c, &session, Target::Request(&k.request_id), |m, _| m.summarized(k.revision, data))?;
            if recorded {
                store::set_summary(c, &k.tenant, &k.request_id, &json!({
                    "text": s.summary, "template": template, "impact": s.impact, "risk": s.risk.as_str(),
                    "model": job.model, "summarized_at": awe_core::time::rfc3339(at), "source": "model",
                }))?;
            }
            store::finish(c, k, "done", None)
        }
        Outcome::Failed(e) if e.retryable() && (job.attempts as usize) <= BACKOFF.len() => {
            store::retry_later(c, k, &e.to_string(), BACKOFF[(job.attempts.max(1) - 1) as usize])
        }
        Outcome::Failed(e) => give_up(c, k, job.attempts, e.code, &e.to_string()),
    }
}

/// The last word: `request.summary_failed`, the job failed.
fn give_up(c: &SpiClient<'_>, k: &JobKey, attempts: i32, code: &str, error: &str) -> AweResult<()> {
    let session = Session { tenant: k.tenant.clone(), actor: SYSTEM_ACTOR.into(), now: crate::session::now_us(c)? };
    let failure = json!({"error_code": code, "error": error, "attempts": attempts, "revision": k.revision});
    operate(c, &session, Target::Request(&k.request_id), |m, _| m.summary_failed(k.revision, failure))?;
    pgrx::warning!("awe worker: summary of request {} (tenant {}) failed: {error}", k.request_id, k.tenant);
    store::finish(c, k, "failed", Some(error))
}
