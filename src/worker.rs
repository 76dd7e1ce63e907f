//! The background worker: all of awe's asynchronous work, never inside a
//! user's transaction. Each tick it
//!   1. runs due timers (awe.run_due_timers, the same path tests use);
//!   2. claims due webhook deliveries (FOR UPDATE SKIP LOCKED, with a lease),
//!      commits the claim, sends them over HTTP concurrently outside any
//!      transaction, then records the results in a new transaction;
//!   3. does the same for http approver-resolver jobs.
//! A crash anywhere loses nothing: an unrecorded claim's lease expires and
//! the delivery is sent again with the same webhook-id.
//!
//! Wake-ups: a committing transaction that queued work sets the worker's
//! latch (its address is kept in shared memory); otherwise it polls.

use crate::api::resolver::{self, ResolverJob};
use crate::store::{big, req, run};
use awe_core::webhook::{self, EventForBody, Verdict};
use awe_core::AweResult;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Address of the worker's latch (0 when no worker is running).
static WORKER_LATCH: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"awe_worker_latch") };

pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static POLL_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
pub static BATCH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static CONCURRENCY: GucSetting<i32> = GucSetting::<i32>::new(16);
pub static TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// Postmaster-time setup: called from `_PG_init` only while preloading.
pub fn register() {
    GucRegistry::define_string_guc(c"awe.database", c"Database the awe worker connects to.", c"Like pg_cron: one worker, one database.",
        &DATABASE, GucContext::Postmaster, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.worker_poll_interval", c"Milliseconds the worker sleeps when idle.", c"Commits wake it sooner.",
        &POLL_MS, 10, 60_000, GucContext::Sighup, GucFlags::UNIT_MS);
    GucRegistry::define_int_guc(c"awe.worker_batch_size", c"Deliveries claimed per batch.", c"",
        &BATCH, 1, 10_000, GucContext::Sighup, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.worker_concurrency", c"Concurrent HTTP calls of the worker.", c"",
        &CONCURRENCY, 1, 256, GucContext::Sighup, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.webhook_timeout", c"Timeout of one webhook or resolver call.", c"",
        &TIMEOUT_MS, 100, 300_000, GucContext::Sighup, GucFlags::UNIT_MS);
    pg_shmem_init!(WORKER_LATCH = AtomicU64::new(0));
    BackgroundWorkerBuilder::new("awe worker")
        .set_type("awe worker")
        .set_function("awe_worker_main")
        .set_library("awe")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

thread_local! {
    static WAKE_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Sets the worker's latch when the current transaction commits (once per
/// transaction, however many events it queued).
pub fn wake_on_commit() {
    if WAKE_REGISTERED.with(|w| w.replace(true)) {
        return;
    }
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, || {
        WAKE_REGISTERED.with(|w| w.set(false));
        wake_now();
    });
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, || WAKE_REGISTERED.with(|w| w.set(false)));
}

fn wake_now() {
    // Without shared_preload_libraries there is no worker (and no segment).
    if !unsafe { pg_sys::process_shared_preload_libraries_done } {
        return;
    }
    let latch = WORKER_LATCH.get().load(Ordering::Acquire);
    if latch != 0 {
        // Latches live in shared memory, mapped at the same address in every
        // backend; a stale one only causes a spurious wake-up elsewhere.
        unsafe { pg_sys::SetLatch(latch as *mut pg_sys::Latch) };
    }
}

fn wake_worker_sql(_: &crate::fmgr::Args) -> AweResult<()> {
    wake_on_commit();
    Ok(())
}

fn new_secret_sql(_: &crate::fmgr::Args) -> AweResult<String> {
    let mut buf = [0u8; 32];
    if !unsafe { pg_sys::pg_strong_random(buf.as_mut_ptr().cast(), buf.len()) } {
        return Err(awe_core::AweError::new(awe_core::Code::Internal, "no strong random source"));
    }
    Ok(webhook::format_secret(&buf))
}

crate::entry!(pg_finfo_awe_wake_worker, awe_wake_worker, wake_worker_sql);
crate::entry!(pg_finfo_awe_new_secret, awe_new_secret, new_secret_sql);

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn awe_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = DATABASE.get().map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    WORKER_LATCH.get().store(unsafe { pg_sys::MyLatch } as u64, Ordering::Release);
    log!("awe worker started in database {db}");
    let mut more = false;
    let mut http = Http::new();
    loop {
        let wait = if more { Duration::ZERO } else { Duration::from_millis(POLL_MS.get() as u64) };
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            http = Http::new();
        }
        more = tick(&http);
    }
    WORKER_LATCH.get().store(0, Ordering::Release);
    log!("awe worker stopped");
}

/// One round of work; `true` when there is probably more to do right away.
fn tick(http: &Http) -> bool {
    let ready = BackgroundWorker::transaction(|| {
        // The extension (at a version with the worker's tables) may not be
        // created yet in awe.database; wait for it quietly.
        Spi::get_one::<bool>("select to_regclass('awe.worker_heartbeat') is not null").ok().flatten().unwrap_or(false)
    });
    if !ready {
        return false;
    }
    BackgroundWorker::transaction(|| {
        Spi::run("insert into awe.worker_heartbeat (id, pid, started_at, beat_at) values (1, pg_backend_pid(), now(), now())
                  on conflict (id) do update set beat_at = now(),
                      started_at = case when awe.worker_heartbeat.pid = excluded.pid then awe.worker_heartbeat.started_at else now() end,
                      pid = excluded.pid")
            .expect("heartbeat");
        Spi::run("select awe.run_due_timers(200)").expect("timers");
    });
    let batch = BATCH.get();
    let claimed = BackgroundWorker::transaction(|| Spi::connect_mut(|c| claim_deliveries(c, batch)).unwrap_or_else(|e| panic!("{e}")));
    let n = claimed.len();
    if n > 0 {
        let results = http.send_all(claimed);
        BackgroundWorker::transaction(|| Spi::connect_mut(|c| record_deliveries(c, &results)).unwrap_or_else(|e| panic!("{e}")));
    }
    let jobs = BackgroundWorker::transaction(|| {
        Spi::connect_mut(|c| resolver::claim(c, 20, lease_secs())).unwrap_or_else(|e| panic!("{e}"))
    });
    for job in &jobs {
        let outcome = http.resolve(job);
        let now = unix_us();
        BackgroundWorker::transaction(|| Spi::connect_mut(|c| resolver::finish(c, job, outcome.clone(), now)).unwrap_or_else(|e| panic!("{e}")));
    }
    n as i32 >= batch
}

fn lease_secs() -> i64 {
    TIMEOUT_MS.get() as i64 / 1000 + 60
}

fn unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A claimed delivery with everything needed to send it (plain data, so it
/// can cross to the HTTP threads).
struct Delivery {
    tenant: String,
    id: i64,
    endpoint_id: String,
    url: String,
    attempts: i32,
    first_attempt_us: i64,
    event_id: String,
    body: String,
    secrets: Vec<String>,
}

struct Sent {
    tenant: String,
    id: i64,
    endpoint_id: String,
    url: String,
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<i64>,
    attempts: i32,
    first_attempt_us: i64,
}

fn claim_deliveries(c: &pgrx::spi::SpiClient<'_>, limit: i32) -> AweResult<Vec<Delivery>> {
    let rows = run(c,
        "with due as (
             select d.tenant_id, d.delivery_id from awe.delivery d
               join awe.endpoint ep on ep.tenant_id = d.tenant_id and ep.endpoint_id = d.endpoint_id and ep.enabled
              where (d.status = 'pending' and d.next_attempt_at <= now()) or (d.status = 'delivering' and d.lease_until < now())
              order by d.next_attempt_at limit $1
                for update of d skip locked),
         claimed as (
             update awe.delivery d set status = 'delivering', lease_until = now() + make_interval(secs => $2),
                    attempts = d.attempts + 1, first_attempt_at = coalesce(d.first_attempt_at, now())
               from due where d.tenant_id = due.tenant_id and d.delivery_id = due.delivery_id
             returning d.tenant_id, d.delivery_id, d.request_id, d.seq, d.endpoint_id, d.url, d.attempts, d.first_attempt_at)
         select c.tenant_id, c.delivery_id, c.url, c.attempts, awe._to_us(c.first_attempt_at), e.event_id::text, e.type,
                awe._to_us(e.created_at), e.seq, e.actor, e.stage_index, e.task_id::text, e.status, e.data::text,
                r.request_id::text, r.policy_key, r.policy_version, r.artifact_type, r.artifact_id,
                array(select s.secret from awe.endpoint_secret s where s.tenant_id = c.tenant_id and s.endpoint_id = c.endpoint_id
                        and (s.expires_at is null or s.expires_at > now()) order by s.created_at desc),
                c.endpoint_id::text
           from claimed c
           join awe.event e on e.tenant_id = c.tenant_id and e.request_id = c.request_id and e.seq = c.seq
           join awe.request r on r.tenant_id = c.tenant_id and r.request_id = c.request_id",
        &[pgrx::datum::DatumWithOid::from(limit), big(lease_secs())])?;
    let mut out = Vec::new();
    for r in rows {
        let tenant: String = req(&r, 1)?;
        let event_id: String = req(&r, 6)?;
        let data = crate::store::json_col(&r, 14)?;
        let body = webhook::body(&EventForBody {
            kind: &req::<String>(&r, 7)?, created_at: req(&r, 8)?, event_id: &event_id, seq: req(&r, 9)?, tenant: &tenant,
            request_id: &req::<String>(&r, 15)?, policy_key: &req::<String>(&r, 16)?, policy_version: req(&r, 17)?,
            artifact_type: &req::<String>(&r, 18)?, artifact_id: &req::<String>(&r, 19)?, status: &req::<String>(&r, 13)?,
            actor: &req::<String>(&r, 10)?, stage_index: crate::store::col(&r, 11)?, task_id: crate::store::col::<String>(&r, 12)?.as_deref(),
            data: &data,
        });
        out.push(Delivery {
            tenant, id: req(&r, 2)?, endpoint_id: req(&r, 21)?, url: req(&r, 3)?, attempts: req(&r, 4)?, first_attempt_us: req(&r, 5)?, event_id, body,
            secrets: crate::store::col::<Vec<String>>(&r, 20)?.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn record_deliveries(c: &pgrx::spi::SpiClient<'_>, sent: &[Sent]) -> AweResult<()> {
    let now_s = unix_us() / 1_000_000;
    let (mut tenants, mut ids, mut statuses, mut codes, mut errors, mut next) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut gone_tenants, mut gone_endpoints, mut gone_urls) = (vec![], vec![], vec![]);
    for s in sent {
        let (status, at) = match webhook::verdict(s.status) {
            Verdict::Delivered => ("delivered", None),
            Verdict::Gone => {
                gone_tenants.push(s.tenant.clone());
                gone_endpoints.push(s.endpoint_id.clone());
                gone_urls.push(s.url.clone());
                ("dead", None)
            }
            Verdict::Retry => match webhook::next_attempt_at(s.attempts, s.first_attempt_us / 1_000_000, now_s, s.retry_after, s.id as u64) {
                Some(at) => ("pending", Some(at * 1_000_000)),
                None => ("dead", None),
            },
        };
        tenants.push(s.tenant.clone());
        ids.push(s.id);
        statuses.push(status.to_string());
        codes.push(s.status.map(|c| c as i32));
        errors.push(s.error.clone());
        next.push(at);
    }
    let delivered = statuses.iter().filter(|s| *s == "delivered").count() as i64;
    let failed = statuses.len() as i64 - delivered;
    run(c,
        "update awe.delivery d set status = x.status, last_status = x.code, last_error = x.err, lease_until = null,
                next_attempt_at = coalesce(awe._from_us(x.next_us), d.next_attempt_at),
                delivered_at = case when x.status = 'delivered' then now() else d.delivered_at end
           from unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::bigint[]) as x(tenant_id, delivery_id, status, code, err, next_us)
          where d.tenant_id = x.tenant_id and d.delivery_id = x.delivery_id and d.status = 'delivering'",
        &[arr(tenants), arr(ids), arr(statuses), arr(codes), arr(errors), arr(next)])?;
    if !gone_urls.is_empty() {
        run(c, "update awe.endpoint e set enabled = false, disabled_reason = '410 Gone from ' || x.url
                  from unnest($1::text[], $2::text[], $3::text[]) as x(tenant_id, endpoint_id, url)
                 where e.tenant_id = x.tenant_id and e.endpoint_id = x.endpoint_id::uuid and e.enabled",
            &[arr(gone_tenants), arr(gone_endpoints), arr(gone_urls)])?;
    }
    run(c, "update awe.worker_heartbeat set delivered = delivered + $1, failed = failed + $2 where id = 1", &[big(delivered), big(failed)])?;
    Ok(())
}

fn arr<T: IntoDatum>(v: Vec<T>) -> pgrx::datum::DatumWithOid<'static> {
    pgrx::datum::DatumWithOid::from(v)
}

/// The worker's HTTP side. Threads only ever touch this: no Postgres API.
struct Http {
    agent: ureq::Agent,
    concurrency: usize,
}

impl Http {
    fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(TIMEOUT_MS.get() as u64)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("awe-webhooks/0.1")
            .build();
        Http { agent: config.into(), concurrency: CONCURRENCY.get().max(1) as usize }
    }

    fn post(&self, url: &str, msg_id: &str, body: &str, secrets: &[String]) -> (Option<u16>, Option<String>, Option<i64>, String) {
        let ts = unix_us() / 1_000_000;
        let sig = webhook::signature_header(secrets, msg_id, ts, body);
        let result = self.agent.post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .send(body);
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(webhook::parse_retry_after)
                    .filter(|_| status == 429 || status == 503);
                let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default();
                let error = (!(200..300).contains(&status)).then(|| format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
                (Some(status), error, retry_after, text)
            }
            Err(e) => (None, Some(e.to_string()), None, String::new()),
        }
    }

    /// Sends every delivery, `concurrency` at a time, so one slow endpoint
    /// does not hold up the others.
    fn send_all(&self, deliveries: Vec<Delivery>) -> Vec<Sent> {
        let queue = Mutex::new(deliveries);
        let results = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency {
                scope.spawn(|| loop {
                    let Some(d) = queue.lock().unwrap().pop() else { break };
                    let (status, error, retry_after, _) = self.post(&d.url, &d.event_id, &d.body, &d.secrets);
                    results.lock().unwrap().push(Sent {
                        tenant: d.tenant, id: d.id, endpoint_id: d.endpoint_id, url: d.url, status, error, retry_after, attempts: d.attempts, first_attempt_us: d.first_attempt_us,
                    });
                });
            }
        });
        results.into_inner().unwrap()
    }

    /// Calls an approver resolver: it answers a JSON list of principals (or
    /// `{"principals": [...]}`).
    fn resolve(&self, job: &ResolverJob) -> Result<Vec<String>, String> {
        if job.secrets.is_empty() {
            return Err(format!("{} is not under an enabled registered endpoint of the tenant", job.url));
        }
        let msg_id = format!("resolve-{}-{}-{}", job.request_id, job.stage_index, job.revision);
        let (status, error, _, text) = self.post(&job.url, &msg_id, &job.payload.to_string(), &job.secrets);
        if let Some(e) = error {
            return Err(e);
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("HTTP {status:?}: not JSON: {e}"))?;
        let list = v.get("principals").cloned().unwrap_or(v);
        awe_core::resolve::principals_from_value(list).map_err(|e| e.message)
    }
}
