//! The background worker: all of awe's asynchronous work, never inside a
//! user's transaction.
//!   1. Every awe.worker_poll_interval it beats its heartbeat, runs due
//!      timers (awe.run_due_timers, the same path tests use) and applies
//!      retention (awe.purge_expired).
//!   2. It claims due webhook deliveries and http approver-resolver jobs (FOR
//!      UPDATE SKIP LOCKED, with a lease), never more than 4 per HTTP thread,
//!      commits the claim, and queues them for the threads, which call out
//!      with no transaction open.
//!   3. Each finished call rings a bell; the loop records the results and
//!      claims the next work in one transaction. Calls are never waited for
//!      as a batch, so a slow endpoint holds only its own threads (at most
//!      awe.worker_endpoint_concurrency of them).
//! A crash anywhere loses nothing: an unrecorded claim's lease expires and
//! the delivery is sent again with the same webhook-id.
//!
//! Wake-ups: a committing transaction that queued work sets the worker's
//! latch (its address is kept in shared memory); otherwise it polls.

use crate::api::resolver::{self, ResolverJob};
use crate::store::{big, req, run};
use awe_core::lanes::Lanes;
use awe_core::webhook::{self, EventForBody, Verdict};
use awe_core::AweResult;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Address of the worker's latch (0 when no worker is running).
static WORKER_LATCH: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"awe_worker_latch") };

pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static POLL_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
pub static BATCH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static CONCURRENCY: GucSetting<i32> = GucSetting::<i32>::new(16);
pub static TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static ENDPOINT_CONCURRENCY: GucSetting<i32> = GucSetting::<i32>::new(8);
pub static DELIVERY_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(30 * 86_400);

/// Postmaster-time setup: called from `_PG_init` only while preloading.
pub fn register() {
    GucRegistry::define_string_guc(c"awe.database", c"Database the awe worker connects to.", c"Like pg_cron: one worker, one database.",
        &DATABASE, GucContext::Postmaster, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.worker_poll_interval", c"How often the worker runs timers, retention and its heartbeat, and polls for work.", c"Commits that queue webhooks wake it at once.",
        &POLL_MS, 10, 60_000, GucContext::Sighup, GucFlags::UNIT_MS);
    GucRegistry::define_int_guc(c"awe.worker_batch_size", c"Most deliveries claimed in one transaction.", c"The worker also holds at most 4 claimed calls per HTTP thread.",
        &BATCH, 1, 10_000, GucContext::Sighup, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.worker_concurrency", c"HTTP threads of the worker (webhooks and resolver calls).", c"",
        &CONCURRENCY, 1, 256, GucContext::Sighup, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.worker_endpoint_concurrency", c"Concurrent HTTP calls to one endpoint.",
        c"At most awe.worker_concurrency; keeps threads free for other endpoints when one is slow.",
        &ENDPOINT_CONCURRENCY, 1, 256, GucContext::Sighup, GucFlags::default());
    GucRegistry::define_int_guc(c"awe.delivery_retention", c"How long delivered webhooks are kept (0: for ever).",
        c"The worker deletes older delivered rows; dead letters and events are kept.",
        &DELIVERY_RETENTION_S, 0, i32::MAX, GucContext::Sighup, GucFlags::UNIT_S);
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
    let mut pool = Pool::new();
    let mut last_round: Option<Instant> = None;
    let mut last_claim: Option<Instant> = None;
    // Whether there may be due work the last claim did not take.
    let mut more = true;
    loop {
        let poll = Duration::from_millis(POLL_MS.get() as u64);
        let mut wait = last_round.map_or(Duration::ZERO, |at| poll.saturating_sub(at.elapsed()));
        if more && pool.lanes.room() > 0 {
            wait = wait.min(claim_in(&pool, last_claim));
        }
        if let Some(r) = pool.record_in() {
            wait = wait.min(r);
        }
        let woke = wait_for(&pool, wait);
        if BackgroundWorker::sigterm_received() || woke & pg_sys::WL_POSTMASTER_DEATH as i32 != 0 {
            // Record what has finished, so it is not sent again after the
            // restart; calls still running are, when their lease runs out.
            pool.collect();
            if pool.record_in().is_some() && woke & pg_sys::WL_POSTMASTER_DEATH as i32 == 0 {
                exchange(&mut pool, false);
            }
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            pool.restart();
        }
        // A finished call frees room in its lane: work a claim left out
        // because that lane was full may be taken now.
        if pool.collect() > 0 {
            more = true;
        }
        pool.start();
        // A commit queued work (its latch): claim it. Housekeeping waits for
        // the poll interval, so a busy queue does not write a heartbeat per
        // commit.
        more |= woke & pg_sys::WL_LATCH_SET as i32 != 0;
        let round = last_round.is_none_or(|at| at.elapsed() >= poll);
        if round {
            last_round = Some(Instant::now());
            more = true;
            if !housekeeping() {
                continue;
            }
        }
        let claim = more && pool.lanes.room() > 0 && claim_in(&pool, last_claim).is_zero();
        if claim || pool.record_in() == Some(Duration::ZERO) {
            let full = exchange(&mut pool, claim);
            if claim {
                last_claim = Some(Instant::now());
                more = full;
            }
            pool.start();
        }
    }
    WORKER_LATCH.get().store(0, Ordering::Release);
    log!("awe worker stopped");
}

/// How long until the next claim: at once when no claimed work is waiting for
/// a thread (threads would go idle), else after RECORD_AFTER since the last
/// one, so that a busy queue is topped up in a few larger claims.
fn claim_in(pool: &Pool, last_claim: Option<Instant>) -> Duration {
    if pool.lanes.waiting() == 0 {
        return Duration::ZERO;
    }
    last_claim.map_or(Duration::ZERO, |at| RECORD_AFTER.saturating_sub(at.elapsed()))
}

/// Sleeps until a commit sets the latch, an HTTP thread rings the pool's
/// bell, or `timeout` passes. Returns the WL_* events that happened.
fn wait_for(pool: &Pool, timeout: Duration) -> i32 {
    let events = pg_sys::WL_LATCH_SET | pg_sys::WL_SOCKET_READABLE | pg_sys::WL_TIMEOUT | pg_sys::WL_POSTMASTER_DEATH;
    let woke = unsafe {
        pg_sys::WaitLatchOrSocket(pg_sys::MyLatch, events as i32, pool.bell_fd(), timeout.as_millis() as std::ffi::c_long, pg_sys::PG_WAIT_EXTENSION)
    };
    unsafe { pg_sys::ResetLatch(pg_sys::MyLatch) };
    pg_sys::check_for_interrupts!();
    woke
}

/// Heartbeat and due timers; `false` while the extension is not created yet
/// in awe.database (the worker then waits for it quietly).
fn housekeeping() -> bool {
    let ready = BackgroundWorker::transaction(|| {
        Spi::get_one::<bool>("select to_regclass('awe.worker_heartbeat') is not null").ok().flatten().unwrap_or(false)
    });
    if ready {
        BackgroundWorker::transaction(|| {
            Spi::run("insert into awe.worker_heartbeat (id, pid, started_at, beat_at) values (1, pg_backend_pid(), now(), now())
                      on conflict (id) do update set beat_at = now(),
                          started_at = case when awe.worker_heartbeat.pid = excluded.pid then awe.worker_heartbeat.started_at else now() end,
                          pid = excluded.pid")
                .expect("heartbeat");
            Spi::run("select awe.run_due_timers(200)").expect("timers");
            // 0 keeps delivered webhooks: purge_expired takes null for that.
            Spi::run_with_args("select awe.purge_expired(case when $1 > 0 then make_interval(secs => $1) end, 1000)",
                &[pgrx::datum::DatumWithOid::from(DELIVERY_RETENTION_S.get())])
                .expect("retention");
        });
    }
    ready
}

/// Records finished calls and (when `claim`) claims as much new work as the
/// pool has room for, in one transaction; resolver answers are completed
/// each in its own. Returns whether the claim took all it asked for, so that
/// there is probably more due right now.
fn exchange(pool: &mut Pool, claim: bool) -> bool {
    let mut sent = Vec::new();
    for d in pool.take_finished() {
        match d {
            Done::Delivered(s) => sent.push(s),
            Done::Resolved(job, outcome, at) => BackgroundWorker::transaction(|| {
                Spi::connect_mut(|c| resolver::finish(c, &job, outcome, at)).unwrap_or_else(|e| panic!("{e}"))
            }),
        }
    }
    let want = if claim { pool.lanes.room().min(BATCH.get().max(1) as usize) } else { 0 };
    let (held, limit) = (pool.held(), pool.lanes.lane_limit() as i32);
    let (deliveries, jobs) = BackgroundWorker::transaction(|| {
        Spi::connect_mut(|c| -> AweResult<_> {
            if !sent.is_empty() {
                record_deliveries(c, &sent)?;
            }
            if want == 0 {
                return Ok((Vec::new(), Vec::new()));
            }
            let deliveries = claim_deliveries(c, want as i32, limit, &held)?;
            let left = want - deliveries.len();
            let jobs = if left > 0 { resolver::claim(c, left.min(20) as i32, lease_secs())? } else { Vec::new() };
            Ok((deliveries, jobs))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    });
    // Work left out because its lane is full is claimed once one of that
    // lane's calls finishes (the main loop), not by claiming again and again
    // meanwhile: each claim reads past the full lane's whole due backlog.
    let full = want > 0 && deliveries.len() + jobs.len() >= want;
    for job in deliveries.into_iter().map(Job::Deliver).chain(jobs.into_iter().map(Job::Resolve)) {
        pool.lanes.add(&job.lane(), job);
    }
    full
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

/// Claims up to `limit` due deliveries, at most `cap` in flight per endpoint
/// counting those already in flight (`busy`), so that one slow endpoint can
/// take only part of the threads. Saturated endpoints are left out of the
/// candidates, so their backlog cannot crowd out other endpoints' deliveries.
fn claim_deliveries(c: &pgrx::spi::SpiClient<'_>, limit: i32, cap: i32, busy: &[(pgrx::Uuid, i32)]) -> AweResult<Vec<Delivery>> {
    let rows = run(c,
        "with busy as (
             select * from unnest($4::uuid[], $5::int[]) as b(endpoint_id, n)),
         cand as (
             (select d.tenant_id, d.delivery_id, d.endpoint_id, d.next_attempt_at as at from awe.delivery d
               where d.status = 'pending' and d.next_attempt_at <= now()
                 and not exists (select 1 from busy b where b.endpoint_id = d.endpoint_id and b.n >= $3)
               order by d.next_attempt_at limit $1 * 4)
             union all
             (select d.tenant_id, d.delivery_id, d.endpoint_id, d.lease_until from awe.delivery d
               where d.status = 'delivering' and d.lease_until < now()
                 and not exists (select 1 from busy b where b.endpoint_id = d.endpoint_id and b.n >= $3)
               order by d.lease_until limit $1 * 4)),
         ranked as (
             select x.*, row_number() over (partition by x.endpoint_id order by x.at, x.delivery_id)
                         + coalesce((select b.n from busy b where b.endpoint_id = x.endpoint_id), 0) as slot
               from cand x
               join awe.endpoint ep on ep.tenant_id = x.tenant_id and ep.endpoint_id = x.endpoint_id and ep.enabled),
         due as (
             select d.tenant_id, d.delivery_id from awe.delivery d
               join ranked x on x.tenant_id = d.tenant_id and x.delivery_id = d.delivery_id
              where x.slot <= $3
                and ((d.status = 'pending' and d.next_attempt_at <= now()) or (d.status = 'delivering' and d.lease_until < now()))
              order by x.at limit $1
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
        &[pgrx::datum::DatumWithOid::from(limit), big(lease_secs()), pgrx::datum::DatumWithOid::from(cap),
          arr(busy.iter().map(|(e, _)| *e).collect::<Vec<_>>()),
          arr(busy.iter().map(|(_, n)| *n).collect::<Vec<i32>>())])?;
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

/// Work for the HTTP threads, and what comes back.
enum Job {
    Deliver(Delivery),
    Resolve(ResolverJob),
}

enum Done {
    Delivered(Sent),
    /// The job, the resolver's answer, and when it came (Unix µs).
    Resolved(ResolverJob, Result<Vec<String>, String>, i64),
}

/// Claimed calls held per thread (see awe_core::lanes): bounded so that the
/// last one starts well before its lease (awe.webhook_timeout + 60 s) runs
/// out, even when every call ahead of it times out.
const HELD_PER_THREAD: usize = 4;
/// Finished calls are recorded once a thread's worth is waiting, or the
/// oldest has waited this long: one commit for many results.
const RECORD_AFTER: Duration = Duration::from_millis(20);

/// `awe.worker_concurrency` HTTP threads and the work claimed for them, in
/// lanes per endpoint (awe_core::lanes). The threads never touch Postgres:
/// jobs go out on one channel, results come back on another, and a byte on a
/// socket pair (the bell) wakes the main loop, which waits on that socket and
/// its latch together.
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    /// Each finished call with the lane it ran in.
    done_tx: mpsc::Sender<(String, Done)>,
    done: mpsc::Receiver<(String, Done)>,
    bell_tx: UnixStream,
    bell: UnixStream,
    lanes: Lanes<Job>,
    /// Finished calls not yet recorded, and when the first of them finished.
    finished: Vec<Done>,
    finished_since: Option<Instant>,
}

impl Pool {
    fn new() -> Pool {
        let (done_tx, done) = mpsc::channel();
        let (bell_tx, bell) = UnixStream::pair().expect("socket pair for the worker's bell");
        bell_tx.set_nonblocking(true).expect("non-blocking bell");
        bell.set_nonblocking(true).expect("non-blocking bell");
        let mut pool = Pool {
            jobs: None, done_tx, done, bell_tx, bell, lanes: Lanes::new(1, 1, HELD_PER_THREAD),
            finished: Vec::new(), finished_since: None,
        };
        pool.restart();
        pool
    }

    /// Starts threads with the current settings. The old threads finish what
    /// they hold (their results still come back here) and then exit.
    fn restart(&mut self) {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let http = Arc::new(Http::new());
        let threads = CONCURRENCY.get().max(1) as usize;
        self.lanes.resize(threads, ENDPOINT_CONCURRENCY.get().max(1) as usize);
        for _ in 0..threads {
            let (rx, http, done, bell) = (rx.clone(), http.clone(), self.done_tx.clone(), self.bell_tx.try_clone().expect("bell"));
            std::thread::spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { break };
                let lane = job.lane();
                if done.send((lane, http.run(job))).is_err() {
                    break;
                }
                // A full socket buffer already means "wake up".
                let _ = (&bell).write(&[1]);
            });
        }
        self.jobs = Some(tx);
    }

    fn bell_fd(&self) -> std::ffi::c_int {
        self.bell.as_raw_fd()
    }

    /// Endpoints holding work, with how much, for the claim's per-endpoint
    /// limit (resolver lanes are not endpoints).
    fn held(&self) -> Vec<(pgrx::Uuid, i32)> {
        self.lanes.held()
            .filter_map(|(k, n)| Some((pgrx::Uuid::from_bytes(*uuid::Uuid::parse_str(k).ok()?.as_bytes()), n as i32)))
            .collect()
    }

    /// Starts waiting work on free threads, lane by lane.
    fn start(&mut self) {
        while let Some(job) = self.lanes.next() {
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(job);
            }
        }
    }

    /// Takes in finished calls without waiting, frees their threads and
    /// silences the bell. Returns how many calls finished.
    fn collect(&mut self) -> usize {
        let mut buf = [0u8; 256];
        while matches!((&self.bell).read(&mut buf), Ok(n) if n > 0) {}
        let before = self.finished.len();
        for (lane, d) in self.done.try_iter().collect::<Vec<_>>() {
            self.lanes.finished(&lane);
            self.finished_since.get_or_insert_with(Instant::now);
            self.finished.push(d);
        }
        self.finished.len() - before
    }

    /// Whether finished calls should be recorded now, and if not, how long
    /// until they should.
    fn record_in(&self) -> Option<Duration> {
        let since = self.finished_since?;
        if self.finished.len() >= CONCURRENCY.get().max(1) as usize || self.lanes.running() == 0 {
            return Some(Duration::ZERO);
        }
        Some(RECORD_AFTER.saturating_sub(since.elapsed()))
    }

    fn take_finished(&mut self) -> Vec<Done> {
        self.finished_since = None;
        std::mem::take(&mut self.finished)
    }
}

impl Job {
    /// Deliveries queue per endpoint, resolver calls per URL.
    fn lane(&self) -> String {
        match self {
            Job::Deliver(d) => d.endpoint_id.clone(),
            Job::Resolve(j) => format!("resolver {}", j.url),
        }
    }
}

/// The worker's HTTP side. Threads only ever touch this: no Postgres API.
struct Http {
    agent: ureq::Agent,
}

impl Http {
    fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(TIMEOUT_MS.get() as u64)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("awe-webhooks/0.1")
            .build();
        Http { agent: config.into() }
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

    fn run(&self, job: Job) -> Done {
        match job {
            Job::Deliver(d) => {
                let (status, error, retry_after, _) = self.post(&d.url, &d.event_id, &d.body, &d.secrets);
                Done::Delivered(Sent {
                    tenant: d.tenant, id: d.id, endpoint_id: d.endpoint_id, url: d.url, status, error, retry_after,
                    attempts: d.attempts, first_attempt_us: d.first_attempt_us,
                })
            }
            Job::Resolve(j) => {
                let outcome = self.resolve(&j);
                Done::Resolved(j, outcome, unix_us())
            }
        }
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
