//! The shape of every operation on a request: lock the row, load it and its
//! policy, run the engine (`awe_core::progress::Machine`), write what it
//! decided. The SQL functions and the worker both go through here.

use crate::logic::with_logic;
use crate::session::Session;
use crate::settings;
use crate::store::directory::SpiDirectory;
use crate::store::policy;
use crate::store::request::{apply, lock, RequestRow, Target, Write};
use crate::store::new_uuid;
use awe_core::model::{Effects, RequestState};
use awe_core::policy::Policy;
use awe_core::progress::{Env, Machine};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use std::rc::Rc;

/// Runs the engine over one request with everything it needs from here.
pub fn with_machine<R>(
    c: &SpiClient<'_>,
    s: &Session,
    policy: &Policy,
    state: RequestState,
    f: impl FnOnce(&mut Machine) -> AweResult<R>,
) -> AweResult<(R, RequestState, Effects)> {
    let mut dir = SpiDirectory { client: c, tenant: &s.tenant, now: s.now };
    let mut new_id = new_uuid;
    with_logic(|logic| {
        let env = Env {
            dir: &mut dir,
            logic,
            new_id: &mut new_id,
            now: s.now,
            max_logic_depth: settings::usize_of(&settings::MAX_LOGIC_DEPTH),
            max_approvers_per_stage: settings::usize_of(&settings::MAX_APPROVERS_PER_STAGE),
        };
        let mut m = Machine::new(policy, state, env);
        let out = f(&mut m)?;
        let (state, effects) = m.into_parts();
        Ok((out, state, effects))
    })
}

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
