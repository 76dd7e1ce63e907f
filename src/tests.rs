//! In-database tests (`cargo pgrx test`): each runs inside a transaction of a
//! real backend that is rolled back afterwards. They pin what only a live
//! backend can show: SQLSTATEs as Postgres reports them, panics turned into
//! errors, and the API working inside the caller's transaction.

use pgrx::prelude::*;

/// A body that panics, reachable only in test builds, to prove a Rust panic
/// in an entry point becomes an ordinary error and the backend survives.
fn panics(_: &crate::fmgr::Args) -> awe_core::AweResult<i32> {
    let v: Vec<i32> = Vec::new();
    Ok(v[usize::MAX / 2])
}
crate::entry!(pg_finfo_awe_test_panic, awe_test_panic, panics);

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Runs one statement and returns the SQLSTATE it raised ('' if none).
    fn sqlstate_of(stmt: &str) -> String {
        let sql = format!(
            "do $t$ declare s text := ''; begin begin {stmt}; exception when others then s := sqlstate; end;
             perform set_config('awe_test.state', s, true); end $t$"
        );
        Spi::run(&sql).unwrap();
        Spi::get_one::<String>("select current_setting('awe_test.state')").unwrap().unwrap_or_default()
    }

    fn setup_tenant() {
        Spi::run("select awe.create_tenant('pgt'); set local awe.tenant = 'pgt'").unwrap();
    }

    #[pg_test]
    fn errors_carry_their_catalogue_sqlstate() {
        setup_tenant();
        assert_eq!(sqlstate_of("perform awe.get_request(gen_random_uuid())"), "PT404");
        assert_eq!(sqlstate_of("perform awe.create_policy('{\"key\": 1}')"), "PT422");
        assert_eq!(sqlstate_of("perform awe.decide(gen_random_uuid(), 'maybe')"), "22023");
        assert_eq!(sqlstate_of("perform awe._raise('AWE-IDEMPOTENCY-CONFLICT', 'x')"), "PT409");
        assert_eq!(sqlstate_of("perform awe._raise('AWE-FORBIDDEN', 'x')"), "PT403");
        assert_eq!(sqlstate_of("perform awe.eval_logic('{\"+\": [1, 2]}')"), "");
        Spi::run("reset awe.tenant").unwrap();
        assert_eq!(sqlstate_of("perform awe.current_tenant()"), "PT403");
    }

    #[pg_test]
    fn a_rust_panic_is_an_error_and_the_backend_survives() {
        Spi::run("create function pg_temp.awe_boom() returns int language c as '$libdir/awe', 'awe_test_panic'").unwrap();
        assert_eq!(sqlstate_of("perform pg_temp.awe_boom()"), "XX000");
        assert_eq!(Spi::get_one::<i32>("select 41 + 1").unwrap(), Some(42));
    }

    #[pg_test]
    fn catalogue_lists_every_code_once() {
        let n = Spi::get_one::<i64>("select count(distinct e->>'code') from jsonb_array_elements(awe.error_catalogue()) e").unwrap();
        assert_eq!(n, Some(awe_core::Code::ALL.len() as i64));
    }

    #[pg_test]
    fn lifecycle_inside_the_callers_transaction() {
        setup_tenant();
        Spi::run(r#"select awe.create_policy('{"key": "k", "artifact_type": "doc",
            "stages": [{"name": "s", "rules": [{"type": "user", "user": "alice"}]}]}'); select awe.activate_policy('k', 1)"#).unwrap();
        let status = Spi::get_one::<String>("select awe.submit('k', 'doc', 'd1') ->> 'status'").unwrap();
        assert_eq!(status.as_deref(), Some("in_review"));
        Spi::run("set local awe.actor = 'alice'").unwrap();
        let status = Spi::get_one::<String>("select awe.decide((select task_id from awe.inbox()), 'approve') ->> 'status'").unwrap();
        assert_eq!(status.as_deref(), Some("approved"));
        let valid = Spi::get_one::<bool>("select (awe.verify_timeline((select request_id from awe.requests)) ->> 'valid')::boolean").unwrap();
        assert_eq!(valid, Some(true));
    }

    /// The same statement text run with other parameter types gets a plan
    /// of its own: a plan reads the values as the types it was made for
    /// (here an int8 read as int4 gives 0; text read as an integer pointer
    /// crashed Citus, which copies every parameter).
    #[pg_test]
    fn a_statement_run_with_other_parameter_types_gets_its_own_plan() {
        use crate::store::{arg, column, run};
        const SQL: &str = "select format('%s', $1)";
        Spi::connect(|c| {
            let mut first = run(&c, SQL, &[arg::int(7)]).unwrap();
            assert_eq!(column::<String>(&first.next().unwrap(), 1).unwrap().as_deref(), Some("7"));
            let mut second = run(&c, SQL, &[arg::bigint(1 << 40)]).unwrap();
            assert_eq!(column::<String>(&second.next().unwrap(), 1).unwrap().as_deref(), Some("1099511627776"));
        });
    }

    #[pg_test]
    fn events_refuse_update_delete_truncate() {
        setup_tenant();
        Spi::run(r#"select awe.create_policy('{"key": "k", "artifact_type": "doc", "stages": [{"name": "s", "rules": [{"type": "user", "user": "a"}]}]}');
                    select awe.activate_policy('k', 1); select awe.submit('k', 'doc', 'd1')"#).unwrap();
        assert_eq!(sqlstate_of("update awe.event set actor = 'x'"), "PT403");
        assert_eq!(sqlstate_of("delete from awe.event"), "PT403");
        assert_eq!(sqlstate_of("truncate awe.event cascade"), "PT403");
    }
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'awe'"]
    }
}
