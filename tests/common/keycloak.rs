//! The Keycloak stand-in (tests/standins/keycloak.py): it answers the Admin
//! API endpoints awe reads with Keycloak's shapes, paging and errors (see
//! its docstring).

use crate::standin::StandIn;

pub const REALM: &str = "acme";
pub const CLIENT_ID: &str = "awe-sync";
pub const CLIENT_SECRET: &str = "awe-sync-secret";

/// Starts it with extra arguments such as `--realm-export FILE`.
pub fn start(args: &[&str]) -> StandIn {
    StandIn::script("keycloak.py", args)
}

/// Starts it with a seed: `expense` (the example's six people), `big`
/// (5,000 users, 60 groups three deep, a role of 1,200) or `empty`.
pub fn seeded(seed: &str) -> StandIn {
    start(&["--seed", seed])
}
