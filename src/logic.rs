//! The backend's JSONLogic compile cache (one per backend process).

use awe_core::logic::LogicCache;
use std::cell::RefCell;

thread_local! {
    static CACHE: RefCell<LogicCache> = RefCell::new(LogicCache::default());
}

pub fn with_logic<R>(f: impl FnOnce(&mut LogicCache) -> R) -> R {
    CACHE.with(|c| f(&mut c.borrow_mut()))
}
