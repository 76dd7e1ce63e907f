//! The backend's JSONLogic compile cache (one per backend process), with
//! the evaluation budget from awe.logic_max_steps / awe.logic_max_memory
//! and Postgres' own cancel and statement_timeout as its interrupt.

use crate::settings;
use awe_core::logic::{Budget, LogicCache};
use pgrx::pg_sys;
use std::cell::RefCell;

thread_local! {
    static CACHE: RefCell<LogicCache> = RefCell::new(LogicCache::default());
}

/// Whether Postgres wants this backend to stop what it is doing (a cancel
/// request, statement_timeout, termination): read from the flag the signal
/// handlers set, without acting on it here.
fn interrupt_pending() -> bool {
    unsafe { std::ptr::read_volatile(&raw const pg_sys::InterruptPending) != 0 }
}

fn budget() -> Budget {
    Budget {
        max_steps: settings::LOGIC_MAX_STEPS.get().max(1) as u64,
        max_bytes: settings::LOGIC_MAX_MEMORY_KB.get().max(1) as usize * 1024,
        interrupted: interrupt_pending,
    }
}

pub fn with_logic<R>(f: impl FnOnce(&mut LogicCache) -> R) -> R {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.budget = budget();
        f(&mut c)
    })
}

/// A rule evaluation that stopped because Postgres wants the statement
/// cancelled ends with Postgres' own cancel error (its message says why:
/// statement timeout or user request); anything else passes through.
pub fn cancelled_to_postgres<T>(r: awe_core::AweResult<T>) -> awe_core::AweResult<T> {
    if let Err(e) = &r {
        if e.code == awe_core::Code::Cancelled {
            pg_sys::check_for_interrupts!();
        }
    }
    r
}
