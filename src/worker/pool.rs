//! The worker's HTTP threads and the work claimed for them, in lanes per
//! destination (`awe_core::lanes`). The threads never touch Postgres: jobs
//! go out on one channel, results come back on another, and a byte on a
//! socket pair (the bell) wakes the main loop, which waits on that socket
//! and its latch together.

use super::http::Http;
use super::job::{Done, Job};
use crate::settings;
use awe_core::lanes::Lanes;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Claimed calls held per thread (see awe_core::lanes): bounded so that the
/// last one starts well before its lease (awe.webhook_timeout + 60 s) runs
/// out, even when every call ahead of it times out.
const HELD_PER_THREAD: usize = 4;
/// Finished calls are recorded once a thread's worth is waiting, or the
/// oldest has waited this long: one commit for many results.
pub const RECORD_AFTER: Duration = Duration::from_millis(20);

pub struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    /// Each finished call with the lane it ran in.
    done_tx: mpsc::Sender<(String, Done)>,
    done: mpsc::Receiver<(String, Done)>,
    bell_tx: UnixStream,
    bell: UnixStream,
    pub lanes: Lanes<Job>,
    /// Finished calls not yet recorded, and when the first of them finished.
    finished: Vec<Done>,
    finished_since: Option<Instant>,
}

impl Pool {
    pub fn new() -> Pool {
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
    pub fn restart(&mut self) {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let http = Arc::new(Http::new());
        let threads = settings::CONCURRENCY.get().max(1) as usize;
        self.lanes.resize(threads, settings::ENDPOINT_CONCURRENCY.get().max(1) as usize);
        for _ in 0..threads {
            let (rx, http, done, bell) = (rx.clone(), http.clone(), self.done_tx.clone(), self.bell_tx.try_clone().expect("bell"));
            std::thread::spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { break };
                let lane = job.lane();
                // A panic in a call must not take the thread, nor leave its
                // lane held: the job comes back as lost, and its lease ends
                // so that it runs again.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&http)))
                    .unwrap_or_else(|p| Done::Lost(p.downcast_ref::<String>().cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()));
                if done.send((lane, result)).is_err() {
                    break;
                }
                // A full socket buffer already means "wake up".
                let _ = (&bell).write(&[1]);
            });
        }
        self.jobs = Some(tx);
    }

    pub fn bell_fd(&self) -> std::ffi::c_int {
        self.bell.as_raw_fd()
    }

    /// Queues a claimed call in its lane.
    pub fn add(&mut self, job: Job) {
        self.lanes.add(&job.lane(), job);
    }

    /// Endpoints holding work, with how much, for the claim's per-endpoint
    /// limit (resolver lanes are not endpoints).
    pub fn held_by_endpoint(&self) -> Vec<(String, usize)> {
        self.lanes.held().filter_map(|(k, n)| Some((Job::endpoint_of_lane(k)?.to_string(), n))).collect()
    }

    /// Starts waiting work on free threads, lane by lane.
    pub fn start(&mut self) {
        while let Some(job) = self.lanes.next() {
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(job);
            }
        }
    }

    /// Takes in finished calls without waiting, frees their threads and
    /// silences the bell. Returns how many calls finished.
    pub fn collect(&mut self) -> usize {
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
    pub fn record_in(&self) -> Option<Duration> {
        let since = self.finished_since?;
        if self.finished.len() >= settings::CONCURRENCY.get().max(1) as usize || self.lanes.running() == 0 {
            return Some(Duration::ZERO);
        }
        Some(RECORD_AFTER.saturating_sub(since.elapsed()))
    }

    pub fn take_finished(&mut self) -> Vec<Done> {
        self.finished_since = None;
        std::mem::take(&mut self.finished)
    }
}
