//! The audit trail and the engine's rules hold whoever tries to get round
//! them: no caller role writes awe's tables, rows changed behind the engine
//! are reported by verify_timeline field by field, rule evaluation has a
//! budget and honours cancellation, system decisions are never a person's
//! vote, numbers are stored exactly, and tenants see only their own role
//! mappings.

use awe_e2e::*;
use serde_json::{json, Value};

/// A login role granted awe_user and mapped to the tenant: the application.
struct App {
    role: String,
    client: postgres::Client,
}

impl App {
    fn new(db: &mut Db) -> App {
        let role = unique("app").replace('-', "_");
        db.exec(&format!("create role {role} login; grant awe_user to {role}; select awe.map_role_to_tenant('{role}', '{}')", db.tenant));
        let url = database_url().replacen("postgres@", &format!("{role}@"), 1);
        App { role, client: postgres::Client::connect(&url, postgres::NoTls).unwrap() }
    }

    fn sqlstate(&mut self, sql: &str) -> Option<String> {
        self.client.batch_execute(sql).err().and_then(|e| e.code().map(|c| c.code().to_string()))
    }
}

fn drop_app(db: &mut Db, app: App) {
    drop(app.client);
    db.exec(&format!("drop owned by {0}; drop role {0}", app.role));
}

fn verify(db: &mut Db, r: &Value) -> Value {
    db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(r)])
}

fn fields(v: &Value) -> Vec<String> {
    v["divergences"].as_array().map(|d| d.iter().map(|x| x["field"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[test]
fn no_caller_role_writes_awes_tables() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = db.submit(&key, json!({}));
    let id = rid(&r);
    let mut app = App::new(&mut db);
    let tid = db.task_of(&r, "alice");
    for sql in [
        format!("update awe.request set status = 'approved' where request_id = '{id}'"),
        format!("update awe.task set status = 'approved' where task_id = '{tid}'"),
        format!("delete from awe.task where task_id = '{tid}'"),
        format!("insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, status, data, created_at, hash)
                 values ('{}', '{id}', 99, gen_random_uuid(), 'request.approved', 'mallory', 'approved', '{{}}', now(), '\\x00')", db.tenant),
        format!("update awe.policy_version set status = 'archived' where policy_key = '{key}'"),
        "insert into awe.principal (tenant_id, principal_id) values ('x', 'y')".to_string(),
        "update awe.endpoint set enabled = false".to_string(),
        "delete from awe.delivery".to_string(),
        "truncate awe.idempotency_key".to_string(),
    ] {
        assert_eq!(app.sqlstate(&sql).as_deref(), Some("42501"), "{sql}");
    }
    // The same role still does everything through awe's functions.
    app.client.batch_execute("set awe.actor = 'alice'").unwrap();
    let out: String = app.client.query_one("select awe.decide($1::text::uuid, 'approve')->>'status'", &[&tid]).unwrap().get(0);
    assert_eq!(out, "approved");
    assert_eq!(verify(&mut db, &r)["valid"], true);
    drop_app(&mut db, app);
}

#[test]
fn rows_changed_behind_the_engine_are_reported_where_they_diverge() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"context_schema": {"properties": {"amount": {"type": "number"}}}}), json!([
        {"name": "one", "rules": users(&["alice"])}, {"name": "two", "mode": "all", "rules": users(&["bob", "carl"])}]));
    let r = db.try_submit(&key, json!({"amount": 10}), Some("req")).unwrap();
    db.decide(&r, "alice", "approve");
    assert_eq!(verify(&mut db, &r)["valid"], true);
    let id = rid(&r);
    let bob = db.task_of(&r, "bob");
    // Who can still write (a superuser, a restore of an edited dump) sets
    // the request approved and bob's task approved, and raises the amount.
    db.exec(&format!("update awe.request set status = 'approved', context = '{{\"amount\": 10000}}' where request_id = '{id}';
                      update awe.task set status = 'approved', decided_by = 'mallory' where task_id = '{bob}'"));
    let v = verify(&mut db, &r);
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(fields(&v), vec!["request.status".to_string(), "request.context".into(),
                                format!("task {bob}.status"), format!("task {bob}.decided_by")], "{v}");
    let status = v["divergences"].as_array().unwrap().iter().find(|d| d["field"] == "request.status").unwrap();
    assert_eq!((status["row"].as_str(), status["trail"].as_str()), (Some("approved"), Some("in_review")));
}

#[test]
fn the_trail_vouches_for_every_kind_of_step() {
    // A request taken through claims, a reassignment, an escalation, a
    // send-back, a resubmission, a rejection: the rows agree with the trail
    // at every point.
    let mut db = Db::new();
    db.exec("select awe.grant_role('dora', 'fd')");
    let key = policy_with(&mut db, json!({"max_revisions": 2}), json!([
        {"name": "one", "mode": "all", "rules": users(&["alice", "bob"]), "sla": "1h",
         "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "fd"}]}},
        {"name": "two", "rules": users(&["carl"])}, {"name": "three", "rules": users(&["erin"])}]));
    let r = db.try_submit(&key, json!({"x": 1}), Some("req")).unwrap();
    let check = |db: &mut Db, at: &str| {
        let v = verify(db, &r);
        assert_eq!(v["valid"], true, "{at}: {v}");
    };
    check(&mut db, "submitted");
    let a = db.task_of(&r, "alice");
    db.act_as("alice");
    db.json("select awe.claim($1::text::uuid)::text", &[&a]);
    check(&mut db, "claimed");
    db.act_as("admin");
    let b = db.task_of(&r, "bob");
    db.json("select awe.reassign($1::text::uuid, 'bert')::text", &[&b]);
    check(&mut db, "reassigned");
    db.exec("set awe.clock_offset = '2 hours'");
    db.json("select awe.run_due_timers()::text", &[]);
    db.exec("reset awe.clock_offset");
    check(&mut db, "escalated");
    assert_eq!(db.open(&r), vec!["dora"], "on an all stage the overdue tasks expire and the director takes their place");
    db.decide(&r, "dora", "approve");
    check(&mut db, "step one done");
    db.decide(&r, "carl", "request_changes");
    check(&mut db, "sent back");
    db.act_as("req");
    db.json("select awe.resubmit($1::text::uuid, '{\"x\": 2}', 'fixed')::text", &[&rid(&r)]);
    check(&mut db, "resubmitted");
    db.decide(&r, "carl", "approve");
    db.decide(&r, "erin", "reject");
    check(&mut db, "rejected");
    assert_eq!(db.status(&r), "rejected");
}

#[test]
fn sla_auto_decisions_are_the_systems_not_the_assignees() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_repeat_approvers": true}), json!([
        {"name": "one", "rules": users(&["alice"]), "sla": "1s", "on_breach": {"action": "auto_approve"}},
        {"name": "two", "rules": users(&["alice", "bob"]), "mode": "any"}]));
    let r = db.submit(&key, json!({}));
    db.exec("set awe.clock_offset = '1 minute'");
    db.json("select awe.run_due_timers()::text", &[]);
    db.exec("reset awe.clock_offset");
    let t = db.json("select row_to_json(t)::text from awe.tasks t where request_id = $1::text::uuid and stage_index = 0", &[&rid(&r)]);
    assert_eq!((t["status"].as_str(), t["decided_by"].as_str()), (Some("approved"), Some("system")), "{t}");
    assert!(t["decided_at"].is_string(), "the system's decision has its time: {t}");
    // alice did not vote on stage one, so she is asked on stage two.
    assert_eq!(db.open(&r), vec!["alice", "bob"]);
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    assert_eq!(verify(&mut db, &r)["valid"], true);
}

/// A timer that is busy when it falls due is not lost. Its request held by
/// another transaction: the timer waits for a later round. One of its rows
/// held past `lock_timeout` (here the task, as awe's own maintenance of a
/// leaver's tasks holds it): the round counts it `deferred` and it stays due
/// (such a timer was once switched off for good).
#[test]
fn a_due_timer_that_is_busy_stays_due() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({}), json!([
        {"name": "one", "rules": users(&["alice"]), "sla": "1h", "on_breach": {"action": "auto_approve"}}]));
    let r = db.submit(&key, json!({}));
    let tenant = db.tenant.clone();
    let still_due = |db: &mut Db| db.json(
        "select (count(*) = 1)::text from awe.task where tenant_id = $1 and request_id = $2::text::uuid and timer_at is not null",
        &[&tenant, &rid(&r)]);
    db.exec("set awe.clock_offset = '2 hours'; set lock_timeout = '200ms'");
    for held in ["awe.request", "awe.task"] {
        let mut holder = db.another();
        holder.exec("begin");
        holder.json(&format!("select count(*)::text from (select 1 from {held} where tenant_id = $1 and request_id = $2::text::uuid for update) x"),
                    &[&tenant, &rid(&r)]);
        let round = db.json("select awe.run_due_timers()::text", &[]);
        assert_eq!(still_due(&mut db), json!(true), "{held} held: the timer is still due after {round}");
        if held == "awe.task" {
            // Its SLA and its due-soon notice (other tenants' may count too).
            assert!(round["deferred"].as_i64() >= Some(1), "{round}");
        }
        holder.exec("rollback");
    }
    db.json("select awe.run_due_timers()::text", &[]);
    db.exec("reset awe.clock_offset; reset lock_timeout");
    assert_eq!(db.status(&r), "approved");
    assert_eq!(verify(&mut db, &r)["valid"], true);
}

#[test]
fn nobody_acts_as_the_system() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "alice");
    db.act_as("system");
    let e = db.try_json("select awe.decide($1::text::uuid, 'approve')::text", &[&t]).unwrap_err();
    assert_eq!(e.code(), "AWE-FORBIDDEN");
    db.act_as("admin");
    for sql in ["select awe.grant_role('system', 'fd')::text", "select awe.upsert_principal('system')::text",
                "select awe.set_delegation('alice', 'system', now(), now() + interval '1 day')::text"] {
        assert_eq!(db.try_json(sql, &[]).unwrap_err().code(), "AWE-BAD-INPUT", "{sql}");
    }
}

#[test]
fn rule_evaluation_has_a_budget_and_honours_cancellation() {
    let mut db = Db::new();
    let data = json!({"a": (0..8_000).collect::<Vec<_>>(), "b": (0..4_000).collect::<Vec<_>>()});
    let rule = json!({"map": [{"var": "a"}, {"reduce": [{"val": [[1], "b"]}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}]});
    // Within the default budget it stops with a clear error.
    let e = db.try_json("select awe.eval_logic($1::text::jsonb, $2::text::jsonb)::text", &[&rule.to_string(), &data.to_string()]).unwrap_err();
    assert_eq!(e.code(), "AWE-LIMIT-EXCEEDED", "{e:?}");
    assert!(e.message.contains("awe.logic_max_steps"), "{e:?}");
    // With the budget lifted, statement_timeout stops it: Postgres' own error.
    db.exec("set awe.logic_max_steps = 2000000000; set awe.logic_max_memory = '1GB'; set statement_timeout = '300ms'");
    let e = db.try_json("select awe.eval_logic($1::text::jsonb, $2::text::jsonb)::text", &[&rule.to_string(), &data.to_string()]).unwrap_err();
    assert_eq!(e.sqlstate, "57014", "{e:?}");
    assert!(e.message.contains("statement timeout"), "{e:?}");
    db.exec("reset statement_timeout; reset awe.logic_max_steps; reset awe.logic_max_memory");
    // The backend is fine afterwards, and the data obeys the context limit.
    assert_eq!(db.json("select awe.eval_logic('{\"+\": [1, 2]}')::text", &[]), 3);
    db.exec("set awe.max_context_bytes = 1000");
    let e = db.try_json("select awe.eval_logic('{\"var\": \"a\"}', $1::text::jsonb)::text", &[&data.to_string()]).unwrap_err();
    assert_eq!(e.code(), "AWE-LIMIT-EXCEEDED");
    db.exec("reset awe.max_context_bytes");
    // A policy's own rules run under the same budget at submit.
    db.exec("set awe.logic_max_steps = 1000");
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"]),
        "skip_if": {"some": [{"var": "a"}, {"in": [{"var": ""}, {"val": [[1], "b"]}]}]}}]));
    let e = db.try_submit(&key, data.clone(), Some("req")).unwrap_err();
    assert_eq!(e.code(), "AWE-LIMIT-EXCEEDED", "{e:?}");
    db.exec("reset awe.logic_max_steps");
}

#[test]
fn context_numbers_are_stored_exactly() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"]), "skip_if": {">": [{"var": "amount"}, 100]}}]));
    let ctx = r#"{"acct": 98765432109876543210, "amount": 1234567890123456.78, "tiny": 1e-30, "huge": 1e400}"#;
    let r = db.try_json("select awe.submit($1, 'doc', 'n-1', $2::text::jsonb, 'req')::text", &[&key, ctx]).unwrap();
    let stored = db.column("select context::text from awe.requests where request_id = $1::text::uuid", &[&rid(&r)]).remove(0);
    assert!(stored.contains("98765432109876543210") && stored.contains("1234567890123456.78"), "{stored}");
    assert_eq!(r["context"]["acct"].to_string(), "98765432109876543210");
    // Rules compare them as doubles: amount > 100 skips the stage.
    assert_eq!(r["status"], "approved");
    assert_eq!(verify(&mut db, &r)["valid"], true);
}

#[test]
fn timeline_of_an_unknown_or_foreign_request_is_not_found() {
    let mut a = Db::new();
    let mut b = Db::new();
    let key = a.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = a.submit(&key, json!({}));
    for sql in ["select count(*)::text from awe.timeline($1::text::uuid)", "select awe.get_request($1::text::uuid)::text",
                "select awe.verify_timeline($1::text::uuid)::text"] {
        for id in [rid(&r), "00000000-0000-4000-8000-000000000000".to_string()] {
            let e = b.try_json(sql, &[&id]).unwrap_err();
            assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-REQUEST-NOT-FOUND", "PT404"), "{sql}");
        }
    }
}

#[test]
fn a_tenants_roles_see_only_their_own_mapping() {
    let mut a = Db::new();
    let mut b = Db::new();
    let app_a = App::new(&mut a);
    let mut app_b = App::new(&mut b);
    assert_eq!(app_b.sqlstate("select * from awe.tenant_role").as_deref(), Some("42501"));
    let rows: Vec<(String, String)> = app_b.client.query("select role_name, tenant_id from awe.tenant_roles", &[]).unwrap()
        .iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, vec![(app_b.role.clone(), b.tenant.clone())]);
    let tenants: Vec<String> = app_b.client.query("select tenant_id from awe.tenant", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(tenants, vec![b.tenant.clone()]);
    drop_app(&mut a, app_a);
    drop_app(&mut b, app_b);
}

#[test]
fn mapping_a_role_that_does_not_exist_is_refused() {
    let mut db = Db::new();
    let e = db.try_json("select awe.map_role_to_tenant('no_such_role_here', $1)::text", &[&db.tenant.clone()]).unwrap_err();
    assert_eq!(e.code(), "AWE-NOT-FOUND");
    let e = db.try_json("select awe.create_tenant('Not A Tenant')::text", &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-BAD-INPUT");
}

#[test]
fn every_table_with_tenant_data_has_row_level_security_forced() {
    let mut db = Db::new();
    let missing = db.column(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
          where n.nspname = 'awe' and c.relkind in ('r', 'p')
            and not (c.relrowsecurity and c.relforcerowsecurity
                     and exists (select 1 from pg_policy p where p.polrelid = c.oid))
          order by 1", &[]);
    assert!(missing.is_empty(), "tables with tenant_id but no forced row-level security: {missing:?}");
    let writable = db.column(
        "select c.relname || ' ' || privilege_type || ' ' || grantee::regrole
           from pg_class c join pg_namespace n on n.oid = c.relnamespace,
                aclexplode(c.relacl) x
          where n.nspname = 'awe' and x.privilege_type in ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
            and x.grantee <> c.relowner order by 1", &[]);
    assert!(writable.is_empty(), "no role but the owner may write awe's tables: {writable:?}");
}
