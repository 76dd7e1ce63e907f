//! The shape of every operation on a request: lock the row, load it and its
//! policy, run the engine (`awe_core::progress::Machine`), write what it
//! decided. The SQL functions and the worker both go through here.

use crate::machine::with_machine;
use crate::session::Session;
use crate::store::policy;
use crate::store::request::{apply, lock, RequestRow, Target, Write};
use awe_core::model::Effects;
use awe_core::policy::Policy;
use awe_core::progress::Machine;
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use std::rc::Rc;

/// Lock, load, run, write: every operation on an existing request.
pub fn operate<R>(
    c: &SpiClient<'_>,
    s: &Session,
    target: Target<'_>,
    f: impl FnOnce(&mut Machine, &RequestRow) -> AweResult<R>,
) -> AweResult<(R, RequestRow, Rc<Policy>)> {
    let mut row = lock(c, &s.tenant, target)?;
    let loaded = policy::load(c, &s.tenant, &row.policy_key, Some(row.policy_version))?;
    let before = row.state.context.clone();
    let (out, state, effects) = {
        let row_ref = &row;
        with_machine(c, s, &loaded.policy, row.state.clone(), |m| f(m, row_ref))?
    };
    let context_changed = state.context != before;
    row.state = state;
    if context_changed {
        row.summary = crate::render::template_summary(&row, &loaded.policy);
    }
    write(c, s, &mut row, &loaded.policy, &effects, &Write { new_request: None, context_changed })?;
    Ok((out, row, loaded.policy))
}

/// Writes an operation's effects and wakes the worker at commit when they
/// gave it work.
pub fn write(c: &SpiClient<'_>, s: &Session, row: &mut RequestRow, policy: &Policy, effects: &Effects, w: &Write<'_>) -> AweResult<()> {
    row.updated_at = s.now;
    if effects.status_changed && row.state.status.is_terminal() {
        row.decided_at = Some(s.now);
    }
    row.note_decisions(effects, s.now);
    if apply(c, s, row, policy, effects, w)? {
        crate::worker::wake::wake_on_commit();
    }
    crate::notify::after_write(c, s, row, policy, effects)
}

/// A request without locking it, with its policy: for reading and for
/// asking the engine questions (who may act, what is offered).
pub fn load_unlocked(c: &SpiClient<'_>, s: &Session, request_id: &str) -> AweResult<(RequestRow, Rc<Policy>)> {
    let row = crate::store::request::read(c, &s.tenant, request_id)?;
    let p = policy::load(c, &s.tenant, &row.policy_key, Some(row.policy_version))?.policy;
    Ok((row, p))
}
