//! The background worker: all of awe's asynchronous work, never inside a
//! user's transaction.
//!   1. Every awe.worker_poll_interval it beats its heartbeat, runs due
//!      timers (awe.run_due_timers, the same path tests use), deals with the
//!      open tasks of principals who became inactive (awe._handle_leavers),
//!      applies retention (awe.purge_expired), takes back claims whose
//!      lease ran out, and leases a directory source due for a sync
//!      (`sync`), which an HTTP thread reads.
//!   2. It claims due webhook deliveries fairly across endpoints
//!      (`deliveries`) and http approver-resolver jobs (`resolver`), never
//!      more than 4 per HTTP thread, commits the claim, and queues them for
//!      the threads (`pool`), which call out with no transaction open.
//!   3. Each finished call rings a bell; the loop records the results and
//!      claims the next work in one transaction. Calls are never waited for
//!      as a batch, so a slow endpoint holds only its own threads (at most
//!      awe.worker_endpoint_concurrency of them).
//! A crash anywhere loses nothing: at start the worker takes back every
//! claim its predecessor left, so those deliveries go out again at once,
//! with the same webhook-id.
//!
//! Wake-ups: a committing transaction that queued work sets the worker's
//! latch (`wake`); otherwise it polls.

pub mod deliveries;
pub mod http;
pub mod job;
pub mod pool;
pub mod resolver;
pub mod summarize;
pub mod sync;
pub mod wake;

use crate::settings;
use deliveries::Cursor;
use job::{Done, Job};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pool::{Pool, RECORD_AFTER};
use std::time::{Duration, Instant};

/// Postmaster-time setup: called from `_PG_init` only while preloading.
pub fn register() {
    settings::define_worker();
    wake::init_shmem();
    BackgroundWorkerBuilder::new("awe worker")
        .set_type("awe worker")
        .set_function("awe_worker_main")
        .set_library("awe")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// Runs `f` in a transaction of its own with an SPI connection; an error
/// ends the worker (the postmaster starts a new one, which carries on).
fn in_transaction<R>(f: impl FnOnce(&pgrx::spi::SpiClient<'_>) -> awe_core::AweResult<R>) -> R {
    let f = std::panic::AssertUnwindSafe(f);
    BackgroundWorker::transaction(move || {
        let f = f;
        Spi::connect_mut(|c| (f.0)(c)).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn awe_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = settings::text_of(&settings::DATABASE).unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    wake::publish_own_latch(true);
    log!("awe worker started in database {db}");
    let mut w = Worker { pool: Pool::new(), cursor: Cursor::default(), started: false, ready: false, warned: None, citus_worker_node: None };
    let mut last_round: Option<Instant> = None;
    let mut last_claim: Option<Instant> = None;
    // Whether there may be due work the last claim did not take.
    let mut more = true;
    loop {
        let poll = Duration::from_millis(settings::POLL_MS.get() as u64);
        let mut wait = last_round.map_or(Duration::ZERO, |at| poll.saturating_sub(at.elapsed()));
        if more && w.pool.lanes.room() > 0 {
            wait = wait.min(claim_in(&w.pool, last_claim));
        }
        if let Some(r) = w.pool.record_in() {
            wait = wait.min(r);
        }
        let woke = wait_for(&w.pool, wait);
        if BackgroundWorker::sigterm_received() || woke & pg_sys::WL_POSTMASTER_DEATH as i32 != 0 {
            // Record what has finished, so it is not sent again after the
            // restart; calls still running are, by the next worker.
            w.pool.collect();
            if w.pool.record_in().is_some() && woke & pg_sys::WL_POSTMASTER_DEATH as i32 == 0 {
                w.exchange(false);
            }
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            w.pool.restart();
        }
        // A finished call frees room in its lane: work a claim left out
        // because that lane was full may be taken now.
        if w.pool.collect() > 0 {
            more = true;
        }
        w.pool.start();
        // A commit queued work (its latch): claim it. Housekeeping waits for
        // the poll interval, so a busy queue does not write a heartbeat per
        // commit.
        more |= woke & pg_sys::WL_LATCH_SET as i32 != 0;
        let round = last_round.is_none_or(|at| at.elapsed() >= poll);
        if round {
            last_round = Some(Instant::now());
            more = true;
            w.ready = w.housekeeping();
        }
        if !w.ready {
            // Nothing to claim until the next round asks again: sleep.
            more = false;
            continue;
        }
        let claim = more && w.pool.lanes.room() > 0 && claim_in(&w.pool, last_claim).is_zero();
        if claim || w.pool.record_in() == Some(Duration::ZERO) {
            let full = w.exchange(claim);
            if claim {
                last_claim = Some(Instant::now());
                more = full;
            }
            w.pool.start();
        }
    }
    wake::publish_own_latch(false);
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

fn lease_secs() -> i64 {
    settings::TIMEOUT_MS.get() as i64 / 1000 + 60
}

fn model_lease_secs() -> i64 {
    settings::MODEL_TIMEOUT_MS.get() as i64 / 1000 + 60
}

struct Worker {
    pool: Pool,
    cursor: Cursor,
    /// Whether the claims of the previous worker were taken back.
    started: bool,
    /// Whether the database's awe is this library's version, as of the last
    /// round; nothing is claimed or recorded otherwise.
    ready: bool,
    /// When the version mismatch was last logged.
    warned: Option<Instant>,
    /// Whether this is a Citus worker node (the coordinator's worker does
    /// the work), and when that was last asked.
    citus_worker_node: Option<(bool, Instant)>,
}

impl Worker {
    /// Whether awe.database has this library's version of awe's SQL. The
    /// worker waits while the extension is not created (quietly) or is
    /// another version (with a warning, again every ten minutes): its
    /// statements are written for its own version's tables.
    fn schema_ready(&mut self) -> bool {
        let installed = in_transaction(|c| crate::session::installed_version(c));
        let library = crate::session::LIBRARY_VERSION;
        let ready = installed.as_deref() == Some(library);
        if let Some(v) = installed.filter(|_| !ready) {
            if self.warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(600)) {
                warning!("awe worker: the library is {library} but the database has awe {v} installed; waiting for ALTER EXTENSION awe UPDATE");
                self.warned = Some(Instant::now());
            }
        }
        if ready && self.warned.take().is_some() {
            log!("awe worker: awe {library} installed; working again");
        }
        ready && !self.on_citus_worker_node()
    }

    /// On Citus the worker runs on the coordinator only: a worker node's
    /// worker waits (asked again every minute, should the node's role change).
    fn on_citus_worker_node(&mut self) -> bool {
        match self.citus_worker_node {
            Some((known, at)) if at.elapsed() < Duration::from_secs(60) => known,
            previous => {
                let now = in_transaction(crate::store::is_citus_worker_node);
                if now && previous.is_none_or(|(was, _)| !was) {
                    log!("awe worker: this is a Citus worker node; the coordinator's awe worker delivers webhooks and runs timers");
                }
                self.citus_worker_node = Some((now, Instant::now()));
                now
            }
        }
    }

    /// Heartbeat, due timers, retention and stale claims; `false` while the
    /// database's awe is not this library's version (see schema_ready).
    fn housekeeping(&mut self) -> bool {
        if !self.schema_ready() {
            return false;
        }
        let first = !self.started;
        in_transaction(|c| {
            crate::store::run(c, "insert into awe.worker_heartbeat (id, pid, started_at, beat_at, library_version) values (1, pg_backend_pid(), now(), now(), $1)
                      on conflict (id) do update set beat_at = excluded.beat_at, library_version = excluded.library_version,
                          started_at = case when awe.worker_heartbeat.pid = excluded.pid then awe.worker_heartbeat.started_at else excluded.started_at end,
                          pid = excluded.pid", &[crate::store::arg::text(crate::session::LIBRARY_VERSION)])?;
            // The first round of a new worker: whatever the previous one
            // had claimed will never be recorded, so it is due again now.
            let released = deliveries::release_stale_claims(c, first)?;
            if first {
                crate::store::resolver_job::release_all(c)?;
                crate::store::directory_sync::release_all(c)?;
                crate::store::summary_job::release_all(c)?;
                if released > 0 {
                    log!("awe worker: {released} deliveries claimed by the previous worker are due again");
                }
            }
            Ok(())
        });
        self.started = true;
        BackgroundWorker::transaction(|| {
            Spi::run("select awe.run_due_timers(200)").expect("timers");
            Spi::run("select awe._handle_leavers(200)").expect("leavers");
            Spi::run("select awe._send_digests(100)").expect("digests");
            // 0 keeps delivered webhooks: purge_expired takes null for that.
            Spi::run_with_args("select awe.purge_expired(case when $1 > 0 then make_interval(secs => $1) end, 1000)",
                &[pgrx::datum::DatumWithOid::from(settings::DELIVERY_RETENTION_S.get())])
                .expect("retention");
        });
        // A directory source due for a sync: read on an HTTP thread.
        if let Some(job) = in_transaction(sync::lease) {
            self.pool.add(Job::Sync(job));
        }
        true
    }

    /// Records finished calls and (when `claim`) claims as much new work as
    /// the pool has room for, in one transaction; resolver answers are
    /// completed each in its own. Returns whether the claim took all it asked
    /// for, so that there is probably more due right now.
    fn exchange(&mut self, claim: bool) -> bool {
        let mut sent = Vec::new();
        for d in self.pool.take_finished() {
            match d {
                Done::Delivered(s) => sent.push(s),
                Done::Resolved(job, outcome, at) => in_transaction(|c| resolver::finish(c, &job, outcome, at)),
                Done::Synced(job, outcome, at) => in_transaction(|c| sync::finish(c, &job, outcome, at)),
                Done::Summarized(job, outcome, at) => in_transaction(|c| summarize::finish(c, &job, outcome, at)),
                Done::Lost(why) => warning!("awe worker: an HTTP call failed inside awe ({why}); it runs again when its claim's lease ends"),
            }
        }
        let want = if claim { self.pool.lanes.room().min(settings::BATCH.get().max(1) as usize) } else { 0 };
        let (held, lane_limit) = (self.pool.held_by_endpoint(), self.pool.lanes.lane_limit());
        let cursor = &mut self.cursor;
        let (deliveries, jobs, summaries) = in_transaction(|c| {
            if !sent.is_empty() {
                deliveries::record(c, sent)?;
            }
            if want == 0 {
                return Ok((Vec::new(), Vec::new(), Vec::new()));
            }
            let deliveries = deliveries::claim(c, cursor, want, lane_limit, &held, lease_secs())?;
            let left = want - deliveries.len();
            let jobs = if left > 0 { resolver::claim(c, left.min(20), lease_secs())? } else { Vec::new() };
            let left = left - jobs.len();
            let summaries = if left > 0 { summarize::claim(c, left.min(20), model_lease_secs())? } else { Vec::new() };
            Ok((deliveries, jobs, summaries))
        });
        // Work left out because its lane is full is claimed once one of that
        // lane's calls finishes (the main loop), not by claiming again and
        // again meanwhile.
        let full = want > 0 && deliveries.len() + jobs.len() + summaries.len() >= want;
        for job in deliveries.into_iter().map(Job::Deliver).chain(jobs.into_iter().map(Job::Resolve))
            .chain(summaries.into_iter().map(Job::Summarize)) {
            self.pool.add(job);
        }
        full
    }
}
