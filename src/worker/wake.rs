//! Waking the worker when a transaction that queued work commits.
//!
//! A background worker has no client connection to receive NOTIFY on, so a
//! committing transaction sets the worker's latch instead: the worker keeps
//! the latch's address in shared memory (latches live in shared memory,
//! mapped at the same address in every backend).

use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Address of the worker's latch (0 when no worker is running).
static WORKER_LATCH: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"awe_worker_latch") };

thread_local! {
    static WAKE_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Reserves the shared memory; only while preloading.
pub fn init_shmem() {
    pg_shmem_init!(WORKER_LATCH = AtomicU64::new(0));
}

/// The worker publishes its latch at start and withdraws it at exit.
pub fn publish_own_latch(running: bool) {
    let latch = if running { (unsafe { pg_sys::MyLatch }) as u64 } else { 0 };
    WORKER_LATCH.get().store(latch, Ordering::Release);
}

/// Sets the worker's latch when the current transaction commits (once per
/// transaction, however much work it queued).
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
        // A stale address only causes a spurious wake-up elsewhere.
        unsafe { pg_sys::SetLatch(latch as *mut pg_sys::Latch) };
    }
}
