//! Every `awe.*` setting, in one place.
//!
//! Limits and identity settings are defined in every backend (`define`);
//! the worker's settings and `awe.database` only while awe is preloaded
//! (`define_worker`): a postmaster-level setting defined later kills the
//! connection. Limits are reloadable (SIGHUP) and may be lowered per session
//! by a superuser; `awe.clock_offset` is superuser-only because it moves
//! every timer.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::{CStr, CString};

pub static MAX_CONTEXT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(65_536);
pub static MAX_STAGES: GucSetting<i32> = GucSetting::<i32>::new(20);
pub static MAX_RULES_PER_STAGE: GucSetting<i32> = GucSetting::<i32>::new(50);
pub static MAX_APPROVERS_PER_STAGE: GucSetting<i32> = GucSetting::<i32>::new(500);
pub static MAX_LOGIC_DEPTH: GucSetting<i32> = GucSetting::<i32>::new(64);
pub static MAX_COMMENT_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(4_000);
pub static MAX_IDEMPOTENCY_KEY_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static MAX_TEXT_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(512);
pub static LOGIC_MAX_STEPS: GucSetting<i32> = GucSetting::<i32>::new(1_000_000);
pub static LOGIC_MAX_MEMORY_KB: GucSetting<i32> = GucSetting::<i32>::new(16 * 1024);
pub static IDEMPOTENCY_TTL_SECONDS: GucSetting<i32> = GucSetting::<i32>::new(86_400);
pub static TENANT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ACTOR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static CLOCK_OFFSET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static AUTHENTICATOR_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"authenticator"));
pub static TENANT_CLAIM: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"tenant"));
pub static ACTOR_CLAIM: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"sub"));
pub static CONSOLE_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static PLAN_CACHE_MODE: GucSetting<PlanCacheMode> = GucSetting::<PlanCacheMode>::new(PlanCacheMode::ForceGenericPlan);
pub static WRITE_MODE: GucSetting<WriteMode> = GucSetting::<WriteMode>::new(WriteMode::Statement);
pub static TRACE_STATEMENTS: GucSetting<bool> = GucSetting::<bool>::new(false);

/// `awe.plan_cache_mode`: the `plan_cache_mode` awe's own statements run with.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlanCacheMode {
    #[name = c"force_generic_plan"]
    ForceGenericPlan,
    #[name = c"force_custom_plan"]
    ForceCustomPlan,
    #[name = c"auto"]
    Auto,
}

impl PlanCacheMode {
    pub fn as_c_str(self) -> &'static CStr {
        match self {
            PlanCacheMode::ForceGenericPlan => c"force_generic_plan",
            PlanCacheMode::ForceCustomPlan => c"force_custom_plan",
            PlanCacheMode::Auto => c"auto",
        }
    }
}

/// `awe.write_mode`: whether one operation's writes go out as one statement
/// or as one statement per table (which a distributed planner can route).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteMode {
    #[name = c"statement"]
    Statement,
    #[name = c"per_table"]
    PerTable,
}

// The worker's settings (defined only when awe is preloaded).
pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static POLL_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
pub static BATCH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static CONCURRENCY: GucSetting<i32> = GucSetting::<i32>::new(16);
pub static TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static ENDPOINT_CONCURRENCY: GucSetting<i32> = GucSetting::<i32>::new(8);
pub static DELIVERY_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(30 * 86_400);
pub static MODEL_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);

fn int(name: &'static CStr, desc: &'static CStr, s: &'static GucSetting<i32>, min: i32, max: i32) {
    GucRegistry::define_int_guc(name, desc, desc, s, min, max, GucContext::Suset, GucFlags::default());
}

fn string(name: &'static CStr, desc: &'static CStr, s: &'static GucSetting<Option<CString>>, ctx: GucContext) {
    GucRegistry::define_string_guc(name, desc, desc, s, ctx, GucFlags::default());
}

/// A reloadable worker setting.
fn worker_int(name: &'static CStr, short: &'static CStr, long: &'static CStr, s: &'static GucSetting<i32>, min: i32, max: i32, flags: GucFlags) {
    GucRegistry::define_int_guc(name, short, long, s, min, max, GucContext::Sighup, flags);
}

/// Defines every setting a backend uses. Called from `_PG_init` in every backend.
pub fn define() {
    int(c"awe.max_context_bytes", c"Largest request context accepted, in bytes of JSON text.", &MAX_CONTEXT_BYTES, 2, 16 * 1024 * 1024);
    int(c"awe.max_stages", c"Most stages a policy may have.", &MAX_STAGES, 1, 1000);
    int(c"awe.max_rules_per_stage", c"Most approver rules one stage may have.", &MAX_RULES_PER_STAGE, 1, 1000);
    int(c"awe.max_approvers_per_stage", c"Most principals one stage may resolve to.", &MAX_APPROVERS_PER_STAGE, 1, 100_000);
    int(c"awe.max_logic_depth", c"Deepest JSONLogic rule accepted.", &MAX_LOGIC_DEPTH, 1, 256);
    int(c"awe.max_comment_length", c"Longest comment or reason accepted, in characters.", &MAX_COMMENT_LENGTH, 1, 1_000_000);
    int(c"awe.max_idempotency_key_length", c"Longest idempotency key accepted.", &MAX_IDEMPOTENCY_KEY_LENGTH, 1, 10_000);
    int(c"awe.max_text_length", c"Longest identifier (artifact id, principal, callback URL) accepted.", &MAX_TEXT_LENGTH, 16, 100_000);
    int(c"awe.logic_max_steps", c"Work one JSONLogic evaluation may do: one unit per loop iteration plus the size of each value an operator in a loop consumes.", &LOGIC_MAX_STEPS, 1_000, i32::MAX);
    GucRegistry::define_int_guc(c"awe.logic_max_memory", c"Memory one JSONLogic evaluation may use.", c"", &LOGIC_MAX_MEMORY_KB,
        64, 1024 * 1024, GucContext::Suset, GucFlags::UNIT_KB);
    int(c"awe.idempotency_ttl", c"Seconds an idempotency key is remembered.", &IDEMPOTENCY_TTL_SECONDS, 1, i32::MAX);
    string(c"awe.tenant", c"Tenant to act for (must be one the session's role is mapped to).", &TENANT, GucContext::Userset);
    string(c"awe.actor", c"Principal an in-database caller acts as.", &ACTOR, GucContext::Userset);
    string(c"awe.clock_offset", c"Interval added to awe.now() (tests only).", &CLOCK_OFFSET, GucContext::Suset);
    string(c"awe.authenticator_role", c"The role PostgREST logs in as; only its sessions trust JWT claims.", &AUTHENTICATOR_ROLE, GucContext::Sighup);
    string(c"awe.tenant_claim", c"JWT claim (dotted path) that names the tenant.", &TENANT_CLAIM, GucContext::Sighup);
    string(c"awe.actor_claim", c"JWT claim (dotted path) that names the principal.", &ACTOR_CLAIM, GucContext::Sighup);
    string(c"awe.console_url", c"The console's address; notifications link to <console_url>/requests/<id>.", &CONSOLE_URL, GucContext::Sighup);
    GucRegistry::define_enum_guc(c"awe.plan_cache_mode", c"plan_cache_mode for awe's own statements.", c"", &PLAN_CACHE_MODE,
        GucContext::Suset, GucFlags::default());
    GucRegistry::define_enum_guc(c"awe.write_mode", c"How an operation writes: one statement, or one statement per table (for a distributed database).", c"",
        &WRITE_MODE, GucContext::Suset, GucFlags::default());
    GucRegistry::define_bool_guc(c"awe.trace_statements", c"Logs each statement awe runs, once per backend (the Citus-shape check reads them).", c"",
        &TRACE_STATEMENTS, GucContext::Suset, GucFlags::default());
}

/// The worker's settings; only while preloading.
pub fn define_worker() {
    GucRegistry::define_string_guc(c"awe.database", c"Database the awe worker connects to.", c"Like pg_cron: one worker, one database.",
        &DATABASE, GucContext::Postmaster, GucFlags::default());
    worker_int(c"awe.worker_poll_interval", c"How often the worker runs timers, retention and its heartbeat, and polls for work.",
        c"Commits that queue webhooks wake it at once.", &POLL_MS, 10, 60_000, GucFlags::UNIT_MS);
    worker_int(c"awe.worker_batch_size", c"Most deliveries claimed in one transaction.",
        c"The worker also holds at most 4 claimed calls per HTTP thread.", &BATCH, 1, 10_000, GucFlags::default());
    worker_int(c"awe.worker_concurrency", c"HTTP threads of the worker (webhooks and resolver calls).", c"",
        &CONCURRENCY, 1, 256, GucFlags::default());
    worker_int(c"awe.worker_endpoint_concurrency", c"Concurrent HTTP calls to one endpoint.",
        c"At most awe.worker_concurrency; keeps threads free for other endpoints when one is slow.",
        &ENDPOINT_CONCURRENCY, 1, 256, GucFlags::default());
    worker_int(c"awe.delivery_retention", c"How long delivered webhooks are kept (0: for ever).",
        c"The worker deletes older delivered rows; dead letters and events are kept.",
        &DELIVERY_RETENTION_S, 0, i32::MAX, GucFlags::UNIT_S);
    worker_int(c"awe.webhook_timeout", c"Timeout of one webhook or resolver call.", c"", &TIMEOUT_MS, 100, 300_000, GucFlags::UNIT_MS);
    worker_int(c"awe.model_timeout", c"Timeout of one call to a model endpoint (summaries).",
        c"A slower answer counts as a failed attempt; the template summary stands meanwhile.", &MODEL_TIMEOUT_MS, 1_000, 600_000, GucFlags::UNIT_MS);
}

pub fn usize_of(s: &GucSetting<i32>) -> usize {
    s.get().max(0) as usize
}

/// A text setting, `None` when unset or empty.
pub fn text_of(s: &GucSetting<Option<CString>>) -> Option<String> {
    s.get().map(|c| c.to_string_lossy().into_owned()).filter(|v| !v.is_empty())
}

/// Whether operations write one statement per table (awe.write_mode = per_table).
pub fn per_table_writes() -> bool {
    WRITE_MODE.get() == WriteMode::PerTable
}
