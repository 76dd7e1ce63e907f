//! The engine (`awe_core::progress::Machine`) over one request, with what
//! it needs from the shell: the directory from the tables, the backend's
//! JSONLogic cache, ids and the clock, the limits. Operations (operate.rs)
//! and readers that only ask it (the inbox's actions, notifications) both
//! run it through here.

use crate::logic::with_logic;
use crate::session::Session;
use crate::settings;
use crate::store::directory::SpiDirectory;
use crate::store::new_uuid;
use awe_core::model::{Effects, RequestState};
use awe_core::policy::Policy;
use awe_core::progress::{Env, Machine};
use awe_core::AweResult;
use pgrx::spi::SpiClient;

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

