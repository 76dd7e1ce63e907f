//! Directory sources: the worker leases a due source, reads it over HTTP on
//! one of its threads, outside any transaction (`keycloak::fetch_snapshot`
//! over a ureq transport), then applies the difference in one transaction
//! and records the outcome. A failed or refused read applies nothing: the
//! last good directory stays. Three failures in a row send
//! `directory.sync_failed` to the source's alert URL, and the first success
//! after that `directory.sync_recovered`.

use super::http::unix_us;
use crate::store::directory_sync::{self as store, LeasedSource};
use awe_core::directory_sync::{diff, too_many_deactivations};
use awe_core::http_transport::{HttpRequest, HttpResponse, Method, Transport};
use awe_core::keycloak::{fetch_snapshot, Fetched, SyncError};
use awe_core::keycloak_options::KeycloakSource;
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Failures in a row before the alert.
pub const ALERT_AFTER_FAILURES: i32 = 3;

/// Longest a sync may hold its source; a worker restart ends it sooner.
const LEASE: Duration = Duration::from_secs(30 * 60);

/// One answer's body is read up to this size (a page of 1,000 users with
/// attributes is about 1 MB).
const MAX_BODY: u64 = 64 << 20;

pub struct SyncJob {
    pub source: LeasedSource,
    started_us: i64,
}

pub enum Outcome {
    Fetched(Box<Fetched>),
    Failed { code: &'static str, message: String, stats: Option<Value> },
}

/// Leases the next due source, if any.
pub fn lease(c: &SpiClient<'_>) -> AweResult<Option<SyncJob>> {
    let now = crate::session::now_us(c)?;
    Ok(store::lease_due(c, now, now + LEASE.as_micros() as i64)?.map(|source| SyncJob { source, started_us: unix_us() }))
}

impl SyncJob {
    pub fn tenant(&self) -> &str {
        &self.source.tenant
    }

    /// Reads the source (on an HTTP thread).
    pub fn run(&self) -> Outcome {
        let src = match KeycloakSource::parse(&self.source.config) {
            Ok(s) => s,
            Err(p) => return Outcome::Failed { code: "config", message: format!("the stored source is unreadable: {p:?}"), stats: None },
        };
        let mut t = UreqTransport::new();
        match fetch_snapshot(&src, &mut t) {
            Ok(f) => Outcome::Fetched(Box::new(f)),
            Err(e) => failed(&e),
        }
    }
}

fn failed(e: &SyncError) -> Outcome {
    Outcome::Failed { code: e.code.as_str(), message: e.to_string(), stats: Some(json!({"http_calls": e.http_calls})) }
}

/// Applies a finished read, or records why there is nothing to apply.
/// `last_duration_ms` runs from the lease to the end of applying: reading
/// Keycloak and writing the difference.
pub fn finish(c: &SpiClient<'_>, job: &SyncJob, outcome: Outcome, read_us: i64) -> AweResult<()> {
    let tenant = job.tenant();
    let Some((failures, alerted)) = store::lock_unchanged(c, tenant, job.source.version_us)? else {
        return Ok(()); // removed, or changed meanwhile (then due again at once)
    };
    let now = crate::session::now_us(c)?;
    let duration_ms = |end_us: i64| (end_us - job.started_us) / 1000;
    let fail = |code: &str, message: &str, stats: Option<Value>| -> AweResult<()> {
        pgrx::warning!("awe worker: directory sync of tenant {tenant} failed ({code}): {message}");
        store::record_failure(c, tenant, now, failures, duration_ms(read_us), code, message, stats)?;
        if failures + 1 >= ALERT_AFTER_FAILURES && !alerted {
            if let Some(url) = &job.source.alert_url {
                store::queue_message(c, tenant, now, url, "directory.sync_failed", json!({
                    "tenant": tenant, "source": source_summary(&job.source), "consecutive_failures": failures + 1,
                    "error_code": code, "error": message,
                }))?;
                store::mark_alerted(c, tenant)?;
            }
        }
        Ok(())
    };
    match outcome {
        Outcome::Failed { code, message, stats } => fail(code, &message, stats),
        Outcome::Fetched(f) => {
            let current = store::load_managed(c, tenant)?;
            let d = diff(&current, &f.snapshot);
            let max = job.source.config["options"]["max_deactivations"].as_u64().unwrap_or(25) as u32;
            let stats = serde_json::to_value(&f.stats).unwrap_or(Value::Null);
            if !job.source.force {
                if let Some(why) = too_many_deactivations(&current, &d, max) {
                    return fail("guard", &why, Some(stats));
                }
            }
            store::apply(c, tenant, &d, now)?;
            let counts = json!({
                "changes": d.counts(), "principals": f.snapshot.principals.len(), "roles": f.snapshot.roles.len(),
                "groups": f.snapshot.groups.len(), "grants": f.snapshot.grant_count(), "memberships": f.snapshot.membership_count(),
            });
            store::record_success(c, tenant, now, duration_ms(unix_us()), counts, stats)?;
            if alerted {
                if let Some(url) = &job.source.alert_url {
                    store::queue_message(c, tenant, now, url, "directory.sync_recovered", json!({
                        "tenant": tenant, "source": source_summary(&job.source), "failures_before": failures,
                    }))?;
                }
            }
            Ok(())
        }
    }
}

fn source_summary(s: &LeasedSource) -> Value {
    json!({"kind": "keycloak", "base_url": s.config["base_url"], "realm": s.config["realm"], "client_id": s.config["client_id"]})
}

/// The network for the Keycloak client: every status comes back as a
/// response (the client decides what to retry), no redirects, a timeout
/// per call.
struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    fn new() -> UreqTransport {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("awe-directory-sync/", env!("CARGO_PKG_VERSION")))
            .build();
        UreqTransport { agent: config.into() }
    }
}

impl Transport for UreqTransport {
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, String> {
        let result = match req.method {
            Method::Get => {
                let mut r = self.agent.get(&req.url);
                for (n, v) in &req.headers {
                    r = r.header(n, v);
                }
                r.call()
            }
            Method::Post => {
                let mut r = self.agent.post(&req.url);
                for (n, v) in &req.headers {
                    r = r.header(n, v);
                }
                r.send(req.body.as_deref().unwrap_or(""))
            }
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
        let body = resp.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| e.to_string())?;
        Ok(HttpResponse { status, headers, body })
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn now_millis(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}
