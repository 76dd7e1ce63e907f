//! `awe.*` settings. Limits are reloadable (SIGHUP) and may be lowered per
//! session by a superuser; `awe.clock_offset` is superuser-only because it
//! moves every timer.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

pub static MAX_CONTEXT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(65_536);
pub static MAX_STAGES: GucSetting<i32> = GucSetting::<i32>::new(20);
pub static MAX_RULES_PER_STAGE: GucSetting<i32> = GucSetting::<i32>::new(50);
pub static MAX_APPROVERS_PER_STAGE: GucSetting<i32> = GucSetting::<i32>::new(500);
pub static MAX_LOGIC_DEPTH: GucSetting<i32> = GucSetting::<i32>::new(64);
pub static MAX_COMMENT_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(4_000);
pub static MAX_IDEMPOTENCY_KEY_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static MAX_TEXT_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(512);
pub static IDEMPOTENCY_TTL_SECONDS: GucSetting<i32> = GucSetting::<i32>::new(86_400);
pub static TENANT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ACTOR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static CLOCK_OFFSET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static AUTHENTICATOR_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"authenticator"));
pub static TENANT_CLAIM: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"tenant"));
pub static ACTOR_CLAIM: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"sub"));

fn int(name: &'static std::ffi::CStr, desc: &'static std::ffi::CStr, s: &'static GucSetting<i32>, min: i32, max: i32) {
    GucRegistry::define_int_guc(name, desc, desc, s, min, max, GucContext::Suset, GucFlags::default());
}

fn string(name: &'static std::ffi::CStr, desc: &'static std::ffi::CStr, s: &'static GucSetting<Option<CString>>, ctx: GucContext) {
    GucRegistry::define_string_guc(name, desc, desc, s, ctx, GucFlags::default());
}

/// Defines every reloadable setting. Called from `_PG_init` in every backend.
pub fn define() {
    int(c"awe.max_context_bytes", c"Largest request context accepted, in bytes of JSON text.", &MAX_CONTEXT_BYTES, 2, 16 * 1024 * 1024);
    int(c"awe.max_stages", c"Most stages a policy may have.", &MAX_STAGES, 1, 1000);
    int(c"awe.max_rules_per_stage", c"Most approver rules one stage may have.", &MAX_RULES_PER_STAGE, 1, 1000);
    int(c"awe.max_approvers_per_stage", c"Most principals one stage may resolve to.", &MAX_APPROVERS_PER_STAGE, 1, 100_000);
    int(c"awe.max_logic_depth", c"Deepest JSONLogic rule accepted.", &MAX_LOGIC_DEPTH, 1, 256);
    int(c"awe.max_comment_length", c"Longest comment or reason accepted, in characters.", &MAX_COMMENT_LENGTH, 1, 1_000_000);
    int(c"awe.max_idempotency_key_length", c"Longest idempotency key accepted.", &MAX_IDEMPOTENCY_KEY_LENGTH, 1, 10_000);
    int(c"awe.max_text_length", c"Longest identifier (artifact id, principal, callback URL) accepted.", &MAX_TEXT_LENGTH, 16, 100_000);
    int(c"awe.idempotency_ttl", c"Seconds an idempotency key is remembered.", &IDEMPOTENCY_TTL_SECONDS, 1, i32::MAX);
    string(c"awe.tenant", c"Tenant to act for (must be one the session's role is mapped to).", &TENANT, GucContext::Userset);
    string(c"awe.actor", c"Principal an in-database caller acts as.", &ACTOR, GucContext::Userset);
    string(c"awe.clock_offset", c"Interval added to awe.now() (tests only).", &CLOCK_OFFSET, GucContext::Suset);
    string(c"awe.authenticator_role", c"The role PostgREST logs in as; only its sessions trust JWT claims.", &AUTHENTICATOR_ROLE, GucContext::Sighup);
    string(c"awe.tenant_claim", c"JWT claim (dotted path) that names the tenant.", &TENANT_CLAIM, GucContext::Sighup);
    string(c"awe.actor_claim", c"JWT claim (dotted path) that names the principal.", &ACTOR_CLAIM, GucContext::Sighup);
}

pub fn usize_of(s: &GucSetting<i32>) -> usize {
    s.get().max(0) as usize
}
