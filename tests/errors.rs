//! The error catalogue through SQL: every code is provoked, its SQLSTATE
//! checked, and the failed call is shown to have changed nothing. Then bad
//! input: injection-shaped strings, oversize and malformed contexts, wrong
//! decision words, decisions by the wrong person or on closed tasks.

use awe_e2e::*;
use serde_json::{json, Value};

// ---- helpers ---------------------------------------------------------------

/// Asserts the error's code (message prefix) and SQLSTATE.
#[track_caller]
fn expect(res: Result<Value, DbError>, code: &str, sqlstate: &str) -> DbError {
    let e = res.expect_err(&format!("expected {code}"));
    assert_eq!((e.code(), e.sqlstate.as_str()), (code, sqlstate), "{e:?}");
    assert!(e.message.starts_with(&format!("{code}:")), "message starts with the code: {}", e.message);
    // DETAIL is exactly the JSON object awe documents: nothing appended (the
    // local stack runs Postgres with RUST_BACKTRACE=1, so a Rust backtrace
    // leaking into DETAIL would make it unreadable here).
    assert_eq!(e.detail.as_ref().and_then(|d| d["code"].as_str()), Some(code), "DETAIL is awe's JSON: {e:?}");
    e
}

/// Everything a tenant owns, as one comparable string: any write by a
/// failed call shows up as a difference. Reads the tables directly (the
/// connection is a superuser), so it works even without awe.tenant.
fn fingerprint(db: &mut Db) -> String {
    let t = db.tenant.clone();
    db.column(
        "select concat_ws(' | ',
            (select string_agg(request_id || ':' || status || ':' || revision || ':' || last_seq || ':' || md5(context::text), ',' order by request_id)
               from awe.request where tenant_id = $1),
            (select string_agg(task_id || ':' || status || ':' || coalesce(claimed_by, '-') || ':' || coalesce(comment, '-'), ',' order by task_id)
               from awe.task where tenant_id = $1),
            (select count(*) || ' events' from awe.event where tenant_id = $1),
            (select string_agg(policy_key || ':' || version || ':' || status || ':' || md5(definition::text), ',' order by policy_key, version)
               from awe.policy_version where tenant_id = $1),
            (select count(*) || ' principals' from awe.principal where tenant_id = $1),
            (select count(*) || ' grants' from awe.role_grant where tenant_id = $1),
            (select count(*) || ' members' from awe.group_member where tenant_id = $1),
            (select string_agg(delegation_id || ':' || coalesce(revoked_at::text, '-'), ',' order by delegation_id)
               from awe.delegation where tenant_id = $1),
            (select string_agg(key || ':' || request_id, ',' order by key) from awe.idempotency_key where tenant_id = $1))",
        &[&t],
    )
    .remove(0)
}

/// Runs `f`, which must fail with `code`/`sqlstate`, and checks the tenant's
/// data is exactly as before.
#[track_caller]
fn refused(db: &mut Db, code: &str, sqlstate: &str, f: impl FnOnce(&mut Db) -> Result<Value, DbError>) -> DbError {
    let before = fingerprint(db);
    let res = f(db);
    let e = expect(res, code, sqlstate);
    assert_eq!(fingerprint(db), before, "{code}: the failed call changed nothing");
    e
}

fn one_stage(db: &mut Db, who: &[&str]) -> String {
    db.stages(json!([{"name": "s", "mode": "all", "rules": users(who)}]))
}

fn submit_sql(db: &mut Db, key: &str, artifact_type: &str, artifact: &str, ctx: &str, requester: &str, callback: &str, idem: &str) -> Result<Value, DbError> {
    db.try_json(
        "select awe.submit($1, $2, $3, $4::text::jsonb, nullif($5, ''), nullif($6, ''), nullif($7, ''))::text",
        &[key, artifact_type, artifact, ctx, requester, callback, idem],
    )
}

fn count(db: &mut Db, sql: &str, params: &[&str]) -> i64 {
    db.column(sql, params).remove(0).parse().unwrap()
}

fn set_actor(db: &mut Db, who: &str) {
    db.json("select set_config('awe.actor', $1, false)", &[who]);
}

const NO_UUID: &str = "00000000-0000-4000-8000-000000000000";

// ---- one test per catalogue code -------------------------------------------------

/// Codes provoked by a test below (named e_<code>).
const EXERCISED: &[(&str, &str)] = &[
    ("AWE-BAD-INPUT", "22023"),
    ("AWE-LIMIT-EXCEEDED", "22023"),
    ("AWE-CONTEXT-INVALID", "22023"),
    ("AWE-REQUESTER-REQUIRED", "22023"),
    ("AWE-LOGIC-INVALID", "22023"),
    ("AWE-CALLBACK-NOT-ALLOWED", "22023"),
    ("AWE-TENANT-UNKNOWN", "PT403"),
    ("AWE-FORBIDDEN", "PT403"),
    ("AWE-NOT-ASSIGNEE", "PT403"),
    ("AWE-POLICY-NOT-FOUND", "PT404"),
    ("AWE-REQUEST-NOT-FOUND", "PT404"),
    ("AWE-TASK-NOT-FOUND", "PT404"),
    ("AWE-NOT-FOUND", "PT404"),
    ("AWE-POLICY-EXISTS", "PT409"),
    ("AWE-POLICY-NOT-DRAFT", "PT409"),
    ("AWE-POLICY-NOT-ACTIVE", "PT409"),
    ("AWE-REQUEST-STATE", "PT409"),
    ("AWE-TASK-CLOSED", "PT409"),
    ("AWE-ACTION-NOT-ALLOWED", "PT409"),
    ("AWE-ASSIGNEE-NOT-ALLOWED", "PT409"),
    ("AWE-MAX-REVISIONS", "PT409"),
    ("AWE-IDEMPOTENCY-CONFLICT", "PT409"),
    ("AWE-DIRECTORY-MANAGED", "PT409"),
    ("AWE-POLICY-INVALID", "PT422"),
    ("AWE-DECISION-INVALID", "PT422"),
    ("AWE-BUSY", "PT503"),
    ("AWE-CITUS-REQUIRED", "55000"),
];

/// Codes no test here provokes, and why.
const SKIPPED: &[(&str, &str)] = &[
    // Raised only for sessions whose session_user is the PostgREST
    // authenticator role and whose JWT names no principal; a superuser SQL
    // session always has an actor (awe.actor or its login role). Belongs to
    // the REST suite.
    ("AWE-UNAUTHENTICATED", "PT401"),
    // A cancelled rule evaluation ends with Postgres' own cancel error
    // (SQLSTATE 57014, "canceling statement due to statement timeout"):
    // tests/integrity.rs checks it.
    ("AWE-CANCELLED", "57014"),
    // A bug in awe by definition; nothing valid should raise it.
    ("AWE-INTERNAL", "XX000"),
    // Needs a database whose awe SQL is another version than the library:
    // tests/upgrade.rs provokes it between the restart and the update.
    ("AWE-VERSION-MISMATCH", "PT503"),
];

#[test]
fn every_catalogue_code_is_exercised_or_explicitly_skipped() {
    let mut db = Db::new();
    let cat = db.json("select awe.error_catalogue()::text", &[]);
    let cat: Vec<(String, String)> = cat.as_array().unwrap().iter()
        .map(|c| (c["code"].as_str().unwrap().to_string(), c["sqlstate"].as_str().unwrap().to_string())).collect();
    assert!(cat.len() >= 25, "{cat:?}");
    for (code, state) in &cat {
        let listed = EXERCISED.iter().chain(SKIPPED).find(|(c, _)| c == code);
        let (_, want) = listed.unwrap_or_else(|| panic!("{code} is in the catalogue but neither exercised nor skipped"));
        assert_eq!(state, want, "{code}: catalogue SQLSTATE differs from the one this suite asserts");
    }
    for (code, _) in EXERCISED.iter().chain(SKIPPED) {
        assert!(cat.iter().any(|(c, _)| c == code), "{code} is not in the catalogue");
    }
    for (code, _) in SKIPPED {
        assert!(!EXERCISED.iter().any(|(c, _)| c == code), "{code} is both exercised and skipped");
    }
}

#[test]
fn e_bad_input() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "alice");
    for word in ["yes", "APPROVE", "approved", "", "approve; drop table awe.task"] {
        refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_decide(&t, "alice", word));
    }
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| {
        db.try_json("select awe.decide($1::text::uuid, 'approve', null, '{\"not\": \"an array\"}')::text", &[&t])
    });
    for ctx in ["[1, 2]", "\"text\"", "42", "true"] {
        refused(&mut db, "AWE-BAD-INPUT", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), ctx, "req", "", ""));
    }
    // The policy approves "doc", not "invoice".
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| submit_sql(db, &key, "invoice", &unique("a"), "{}", "req", "", ""));
    // Missing required arguments.
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.submit($1, 'doc', null)::text", &[&key]));
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.submit($1, 'doc', '')::text", &[&key]));
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.add_to_group('x', 'no-slash')::text", &[]));
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| {
        db.try_json("select awe.set_delegation('a', 'b', now(), now() - interval '1 day')::text", &[])
    });
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.set_delegation('a', 'a', now(), now() + interval '1 day')::text", &[]));
    assert_eq!(db.open(&r), vec!["alice"]);
}

#[test]
fn e_limit_exceeded() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    db.exec("set awe.max_context_bytes = 100");
    let big = json!({"notes": "x".repeat(200)}).to_string();
    let e = refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), &big, "req", "", ""));
    assert!(e.message.contains("awe.max_context_bytes"), "{}", e.message);
    // Just under the limit is fine.
    let small = json!({"notes": "x".repeat(50)}).to_string();
    submit_sql(&mut db, &key, "doc", &unique("a"), &small, "req", "", "").unwrap();
    db.exec("reset awe.max_context_bytes; set awe.max_comment_length = 10");
    let t = db.task_of(&r, "alice");
    db.act_as("alice");
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| {
        db.try_json("select awe.decide($1::text::uuid, 'approve', 'this comment is too long')::text", &[&t])
    });
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| {
        db.try_json("select awe.comment($1::text::uuid, 'this comment is too long')::text", &[&rid(&r)])
    });
    db.exec("reset awe.max_comment_length; set awe.max_idempotency_key_length = 5");
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", "", "a-long-key"));
    db.exec("reset awe.max_idempotency_key_length; set awe.max_approvers_per_stage = 2");
    let three = one_stage(&mut db, &["a", "b", "c"]);
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| submit_sql(db, &three, "doc", &unique("a"), "{}", "req", "", ""));
    db.exec("reset awe.max_approvers_per_stage");
    assert_eq!(db.open(&r), vec!["alice"]);
}

#[test]
fn e_context_invalid() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"context_schema": {"required": ["amount"], "properties": {"amount": {"type": "number"}}}}),
        json!([{"name": "s", "rules": users(&["alice"])}]));
    let e = refused(&mut db, "AWE-CONTEXT-INVALID", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", "", ""));
    assert!(e.detail.unwrap()["details"]["problems"].as_array().is_some_and(|p| !p.is_empty()));
    refused(&mut db, "AWE-CONTEXT-INVALID", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{\"amount\": \"lots\"}", "req", "", ""));
    // resubmit checks the schema too.
    let r = submit_sql(&mut db, &key, "doc", &unique("a"), "{\"amount\": 5}", "req", "", "").unwrap();
    db.decide(&r, "alice", "request_changes");
    db.act_as("req");
    refused(&mut db, "AWE-CONTEXT-INVALID", "22023", |db| db.try_json("select awe.resubmit($1::text::uuid, '{\"amount\": null}')::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "changes_requested");
}

#[test]
fn e_requester_required() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_self_approval": true}), json!([{"name": "s", "rules": users(&["alice"])}]));
    refused(&mut db, "AWE-REQUESTER-REQUIRED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "", "", ""));
    refused(&mut db, "AWE-REQUESTER-REQUIRED", "22023", |db| db.try_submit(&key, json!({}), None));
}

#[test]
fn e_logic_invalid() {
    let mut db = Db::new();
    // An expression rule that yields a number instead of principals.
    let key = db.stages(json!([{"name": "s", "rules": [{"type": "expression", "logic": {"var": "manager"}}]}]));
    refused(&mut db, "AWE-LOGIC-INVALID", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{\"manager\": 42}", "req", "", ""));
    refused(&mut db, "AWE-LOGIC-INVALID", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{\"manager\": [{\"id\": 1}]}", "req", "", ""));
    refused(&mut db, "AWE-LOGIC-INVALID", "22023", |db| db.try_json("select awe.eval_logic('{\"no_such_op\": [1]}')::text", &[]));
    // Resubmitting a context that breaks the expression leaves the request as it was.
    let r = submit_sql(&mut db, &key, "doc", &unique("a"), "{\"manager\": \"mia\"}", "req", "", "").unwrap();
    db.decide(&r, "mia", "request_changes");
    db.act_as("req");
    refused(&mut db, "AWE-LOGIC-INVALID", "22023", |db| db.try_json("select awe.resubmit($1::text::uuid, '{\"manager\": 7}')::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "changes_requested");
}

#[test]
fn e_callback_not_allowed() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    for url in ["ftp://x", "javascript:alert(1)", "file:///etc/passwd", "x"] {
        refused(&mut db, "AWE-CALLBACK-NOT-ALLOWED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", url, ""));
    }
    // An http(s) URL must also fall under an enabled endpoint of the tenant: no open relay.
    for url in ["https://caller.example/hooks", "https://evil.example/hooks"] {
        refused(&mut db, "AWE-CALLBACK-NOT-ALLOWED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", url, ""));
    }
    db.exec("select awe.register_endpoint('https://caller.example/hooks')");
    refused(&mut db, "AWE-CALLBACK-NOT-ALLOWED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", "https://caller.example/hooksX", ""));
    let ok = submit_sql(&mut db, &key, "doc", &unique("a"), "{}", "req", "https://caller.example/hooks", "").unwrap();
    assert_eq!(ok["callback_url"], "https://caller.example/hooks");
    let ok = submit_sql(&mut db, &key, "doc", &unique("a"), "{}", "req", "https://caller.example/hooks?id=7", "").unwrap();
    assert_eq!(ok["callback_url"], "https://caller.example/hooks?id=7");
}

#[test]
fn e_tenant_unknown() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let before = fingerprint(&mut db);
    db.exec("reset awe.tenant");
    // The SQL-language API (views, directory, inbox, timeline) raises it with its SQLSTATE.
    expect(db.try_json("select count(*)::text from awe.requests", &[]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select count(*)::text from awe.tasks", &[]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select awe.grant_role('x', 'fin')::text", &[]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select count(*)::text from awe.inbox('alice')", &[]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select count(*)::text from awe.timeline($1::text::uuid)", &[&rid(&r)]), "AWE-TENANT-UNKNOWN", "PT403");
    db.exec("set awe.tenant = ''");
    expect(db.try_json("select awe.set_delegation('a', 'b', now(), now() + interval '1 day')::text", &[]), "AWE-TENANT-UNKNOWN", "PT403");
    // The Rust functions refuse too (their SQLSTATE is checked by the ignored test below).
    for res in [
        submit_sql(&mut db, &key, "doc", &unique("a"), "{}", "req", "", ""),
        db.try_json("select awe.cancel($1::text::uuid)::text", &[&rid(&r)]),
    ] {
        assert_eq!(res.unwrap_err().code(), "AWE-TENANT-UNKNOWN");
    }
    assert_eq!(fingerprint(&mut db), before);
    let tenant = db.tenant.clone();
    db.exec(&format!("set awe.tenant = '{tenant}'"));
    assert_eq!(db.status(&r), "in_review");
}

/// The same error raised from inside a Rust API function (awe.current_tenant()
/// runs through SPI there) loses its SQLSTATE: pgrx re-raises the caught
/// Postgres error as XX000, so PostgREST would answer 500 instead of 403.
#[test]
fn e_tenant_unknown_keeps_its_sqlstate_in_rust_functions() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "alice");
    db.exec("reset awe.tenant");
    expect(submit_sql(&mut db, &key, "doc", &unique("a"), "{}", "req", "", ""), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select awe.cancel($1::text::uuid)::text", &[&rid(&r)]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select awe.decide($1::text::uuid, 'approve')::text", &[&t]), "AWE-TENANT-UNKNOWN", "PT403");
    expect(db.try_json("select awe.simulate($1, '{}')::text", &[&key]), "AWE-TENANT-UNKNOWN", "PT403");
}

#[test]
fn e_forbidden() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let id = rid(&r);
    // Events are append-only and requests are never deleted (tasks and
    // events have no foreign key to lean on): each attempt runs in a
    // transaction that is rolled back whatever happens, so a broken trigger
    // cannot do harm.
    for (sql, code, state) in [
        (format!("update awe.event set actor = 'mallory' where request_id = '{id}'"), "AWE-FORBIDDEN", "PT403"),
        (format!("delete from awe.event where request_id = '{id}'"), "AWE-FORBIDDEN", "PT403"),
        ("truncate awe.event".to_string(), "AWE-FORBIDDEN", "PT403"),
        (format!("delete from awe.request where request_id = '{id}'"), "AWE-FORBIDDEN", "PT403"),
        // The version the request is pinned to was active: it stays.
        (format!("delete from awe.policy_version where policy_key = '{key}'"), "AWE-POLICY-NOT-DRAFT", "PT409"),
    ] {
        let before = fingerprint(&mut db);
        let res = {
            let mut tx = db.client.transaction().unwrap();
            let res = tx.batch_execute(&sql).map_err(db_error);
            tx.rollback().ok();
            res
        };
        let e = res.expect_err(&sql);
        assert_eq!((e.code(), e.sqlstate.as_str()), (code, state), "{sql}: {e:?}");
        assert_eq!(fingerprint(&mut db), before);
    }
    // Withdraw by someone who is neither the requester nor the submitting caller.
    db.act_as("mallory");
    refused(&mut db, "AWE-FORBIDDEN", "PT403", |db| db.try_json("select awe.withdraw($1::text::uuid, 'gone')::text", &[&id]));
    assert_eq!(db.status(&r), "in_review");
    assert_eq!(db.json("select awe.verify_timeline($1::text::uuid)::text", &[&id])["valid"], true);
    // The submitting caller (here the login role, the request's created_by) may withdraw for its requester.
    db.exec("reset awe.actor");
    assert_eq!(db.json("select awe.withdraw($1::text::uuid, 'gone')::text", &[&id])["status"], "cancelled");
}

/// With no requester on the request, withdraw lets anyone through: the
/// catalogue says withdraw by someone who is neither requester nor
/// submitter is AWE-FORBIDDEN.
#[test]
fn e_forbidden_withdraw_without_a_requester() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    set_actor(&mut db, "caller-service");
    let r = submit_sql(&mut db, &key, "doc", &unique("a"), "{}", "", "", "").unwrap();
    set_actor(&mut db, "mallory");
    refused(&mut db, "AWE-FORBIDDEN", "PT403", |db| db.try_json("select awe.withdraw($1::text::uuid)::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "in_review");
}

#[test]
fn e_not_assignee() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "alice");
    for d in ["approve", "reject", "abstain", "request_changes"] {
        refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_decide(&t, "mallory", d));
    }
    // The requester cannot decide either, nor claim, nor comment on the task.
    refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_decide(&t, "requester", "approve"));
    db.act_as("mallory");
    refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_json("select awe.claim($1::text::uuid)::text", &[&t]));
    refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_json("select awe.comment($1::text::uuid, 'hi', $2::text::uuid)::text", &[&rid(&r), &t]));
    // An expired delegation gives no rights.
    db.json("select awe.set_delegation('alice', 'mallory', now() - interval '2 days', now() - interval '1 day')::text", &[]);
    refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_decide(&t, "mallory", "approve"));
    assert_eq!(db.open(&r), vec!["alice"]);
}

#[test]
fn e_policy_not_found() {
    let mut db = Db::new();
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| submit_sql(db, "no.such.policy", "doc", &unique("a"), "{}", "req", "", ""));
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| db.try_json("select awe.activate_policy('no.such.policy', 1)::text", &[]));
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| db.try_json("select awe.simulate('no.such.policy', '{}')::text", &[]));
    let key = one_stage(&mut db, &["alice"]);
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| db.try_json("select awe.activate_policy($1, 9)::text", &[&key]));
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| db.try_json("select awe.get_policy($1, 9)::text", &[&key]));
    // Another tenant's policy is not found either.
    let mut other = Db::new();
    refused(&mut other, "AWE-POLICY-NOT-FOUND", "PT404", |o| o.try_submit(&key, json!({}), Some("req")));
}

#[test]
fn e_request_not_found() {
    let mut db = Db::new();
    for sql in ["select awe.get_request($1::text::uuid)::text", "select awe.cancel($1::text::uuid)::text",
                "select awe.withdraw($1::text::uuid)::text", "select awe.resubmit($1::text::uuid, '{}')::text",
                "select awe.comment($1::text::uuid, 'hi')::text", "select awe.verify_timeline($1::text::uuid)::text"] {
        refused(&mut db, "AWE-REQUEST-NOT-FOUND", "PT404", |db| db.try_json(sql, &[NO_UUID]));
    }
    // Another tenant's request is invisible and untouchable.
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let mut other = Db::new();
    refused(&mut other, "AWE-REQUEST-NOT-FOUND", "PT404", |o| o.try_json("select awe.cancel($1::text::uuid)::text", &[&rid(&r)]));
    refused(&mut other, "AWE-REQUEST-NOT-FOUND", "PT404", |o| o.try_json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "in_review");
}

#[test]
fn e_task_not_found() {
    let mut db = Db::new();
    refused(&mut db, "AWE-TASK-NOT-FOUND", "PT404", |db| db.try_decide(NO_UUID, "alice", "approve"));
    for sql in ["select awe.claim($1::text::uuid)::text", "select awe.release($1::text::uuid)::text",
                "select awe.reassign($1::text::uuid, 'bob')::text"] {
        refused(&mut db, "AWE-TASK-NOT-FOUND", "PT404", |db| db.try_json(sql, &[NO_UUID]));
    }
    // A comment naming a task of a different request.
    let key = one_stage(&mut db, &["alice"]);
    let r1 = db.submit(&key, json!({}));
    let r2 = db.submit(&key, json!({}));
    let t2 = db.task_of(&r2, "alice");
    db.act_as("alice");
    refused(&mut db, "AWE-TASK-NOT-FOUND", "PT404", |db| db.try_json("select awe.comment($1::text::uuid, 'x', $2::text::uuid)::text", &[&rid(&r1), &t2]));
    // Another tenant's task.
    let mut other = Db::new();
    refused(&mut other, "AWE-TASK-NOT-FOUND", "PT404", |o| o.try_decide(&t2, "alice", "approve"));
    assert_eq!(db.open(&r2), vec!["alice"]);
}

#[test]
fn e_not_found() {
    let mut db = Db::new();
    db.exec("select awe.grant_role('ann', 'fin')");
    refused(&mut db, "AWE-NOT-FOUND", "PT404", |db| db.try_json("select awe.remove_principal('nobody')::text", &[]));
    refused(&mut db, "AWE-NOT-FOUND", "PT404", |db| db.try_json("select awe.revoke_role('ann', 'legal')::text", &[]));
    refused(&mut db, "AWE-NOT-FOUND", "PT404", |db| db.try_json("select awe.remove_from_group('ann', '/nowhere')::text", &[]));
    refused(&mut db, "AWE-NOT-FOUND", "PT404", |db| db.try_json("select awe.revoke_delegation($1::text::uuid)::text", &[NO_UUID]));
    let d = db.json("select to_json(awe.set_delegation('ann', 'bo', now(), now() + interval '1 day'))::text", &[]);
    let d = d.as_str().unwrap().to_string();
    db.json("select awe.revoke_delegation($1::text::uuid)::text", &[&d]);
    refused(&mut db, "AWE-NOT-FOUND", "PT404", |db| db.try_json("select awe.revoke_delegation($1::text::uuid)::text", &[&d]));
}

#[test]
fn e_policy_exists() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let def = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "other", "rules": users(&["bob"])}]}).to_string();
    refused(&mut db, "AWE-POLICY-EXISTS", "PT409", |db| db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&def]));
}

#[test]
fn e_policy_not_draft() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let def = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "other", "rules": users(&["bob"])}]}).to_string();
    refused(&mut db, "AWE-POLICY-NOT-DRAFT", "PT409", |db| db.try_json("select awe.update_policy_draft($1, 1, $2::text::jsonb)::text", &[&key, &def]));
    refused(&mut db, "AWE-POLICY-NOT-DRAFT", "PT409", |db| db.try_json("select awe.activate_policy($1, 1)::text", &[&key]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), vec!["alice"], "the active definition is unchanged");
}

#[test]
fn e_policy_not_active() {
    let mut db = Db::new();
    let key = unique("p");
    let def = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "s", "rules": users(&["alice"])}]}).to_string();
    db.json("select awe.create_policy($1::text::jsonb)::text", &[&def]);
    refused(&mut db, "AWE-POLICY-NOT-ACTIVE", "PT409", |db| db.try_submit(&key, json!({}), Some("req")));
    refused(&mut db, "AWE-POLICY-NOT-ACTIVE", "PT409", |db| db.try_json("select awe.deactivate_policy($1)::text", &[&key]));
    db.json("select awe.activate_policy($1, 1)::text", &[&key]);
    db.json("select awe.deactivate_policy($1)::text", &[&key]);
    refused(&mut db, "AWE-POLICY-NOT-ACTIVE", "PT409", |db| db.try_submit(&key, json!({}), Some("req")));
}

#[test]
fn e_request_state() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    // Resubmit is only for changes_requested.
    refused(&mut db, "AWE-REQUEST-STATE", "PT409", |db| db.try_json("select awe.resubmit($1::text::uuid, '{}')::text", &[&rid(&r)]));
    db.decide(&r, "alice", "approve");
    // A finished request cannot be cancelled or withdrawn.
    refused(&mut db, "AWE-REQUEST-STATE", "PT409", |db| db.try_json("select awe.cancel($1::text::uuid)::text", &[&rid(&r)]));
    db.act_as("requester");
    refused(&mut db, "AWE-REQUEST-STATE", "PT409", |db| db.try_json("select awe.withdraw($1::text::uuid)::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "approved");
}

#[test]
fn e_task_closed() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "any", "rules": users(&["alice", "bob"])}]));
    let r = db.submit(&key, json!({}));
    let ta = db.task_of(&r, "alice");
    let tb = db.task_of(&r, "bob");
    db.try_decide(&ta, "alice", "approve").unwrap();
    for d in ["approve", "reject", "abstain"] {
        refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&ta, "alice", d));
    }
    // bob's task closed as skipped when the stage completed.
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&tb, "bob", "reject"));
    db.act_as("admin");
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_json("select awe.reassign($1::text::uuid, 'carl')::text", &[&tb]));
    db.act_as("bob");
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_json("select awe.claim($1::text::uuid)::text", &[&tb]));
    assert_eq!(db.status(&r), "approved");
}

#[test]
fn e_action_not_allowed() {
    let mut db = Db::new();
    // An observer deciding.
    let key = db.stages(json!([{"name": "s", "rules": [{"type": "user", "user": "alice"},
        {"type": "user", "user": "olga", "kind": "observer"}, {"type": "user", "user": "cfo", "required": true}]}]));
    let r = db.submit(&key, json!({}));
    let obs = db.task_of(&r, "olga");
    refused(&mut db, "AWE-ACTION-NOT-ALLOWED", "PT409", |db| db.try_decide(&obs, "olga", "approve"));
    // A required approver abstaining.
    let cfo = db.task_of(&r, "cfo");
    refused(&mut db, "AWE-ACTION-NOT-ALLOWED", "PT409", |db| db.try_decide(&cfo, "cfo", "abstain"));
    // Releasing a claim you do not hold.
    db.act_as("alice");
    let ta = db.task_of(&r, "alice");
    refused(&mut db, "AWE-ACTION-NOT-ALLOWED", "PT409", |db| db.try_json("select awe.release($1::text::uuid)::text", &[&ta]));
    // A repeat approval under forbid_repeat_approvers: alice approved stage
    // one and is bob's delegate on stage two.
    let key2 = policy_with(&mut db, json!({"forbid_repeat_approvers": true}), json!([
        {"name": "One", "rules": users(&["alice"])}, {"name": "Two", "rules": users(&["bob"])}]));
    let r2 = db.submit(&key2, json!({}));
    db.decide(&r2, "alice", "approve");
    let tb = db.task_of(&r2, "bob");
    db.json("select awe.set_delegation('bob', 'alice', now() - interval '1 minute', now() + interval '1 day')::text", &[]);
    refused(&mut db, "AWE-ACTION-NOT-ALLOWED", "PT409", |db| db.try_decide(&tb, "alice", "approve"));
    assert_eq!(db.status(&r2), "in_review");
    assert_eq!(db.open(&r), vec!["alice", "cfo", "olga"]);
}

#[test]
fn e_busy() {
    // Another transaction holds the request (a decision in progress); a
    // decision that waits longer than lock_timeout gets AWE-BUSY, with
    // nothing changed, never the raw 55P03.
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let task = db.task_of(&r, "alice");
    let mut holder = db.another();
    holder.exec("begin");
    holder.json("select request_id::text from awe.request where request_id = $1::text::uuid for update", &[&rid(&r)]);
    db.exec("set lock_timeout = '100ms'");
    let e = refused(&mut db, "AWE-BUSY", "PT503", |db| db.try_decide(&task, "alice", "approve"));
    assert!(e.message.contains("lock_timeout"), "{e:?}");
    holder.exec("rollback");
    db.exec("reset lock_timeout");
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
}

#[test]
fn e_assignee_not_allowed() {
    let mut db = Db::new();
    // Reassigning to someone who may not vote would leave an `all` stage
    // stuck on a task nobody can decide: refused, nothing changes.
    let key = policy_with(&mut db, json!({"forbid_self_approval": true, "forbid_repeat_approvers": true,
        "exclude": [{"type": "expression", "logic": {"var": "conflicted"}}]}), json!([
        {"name": "One", "rules": users(&["alice"])}, {"name": "Two", "mode": "all", "rules": users(&["bob", "carl"])}]));
    let r = db.try_submit(&key, json!({"conflicted": "dave"}), Some("req")).unwrap();
    db.decide(&r, "alice", "approve");
    let tb = db.task_of(&r, "bob");
    db.act_as("admin");
    for (who, reason) in [("alice", "repeat_approver"), ("req", "self_approval"), ("dave", "excluded"), ("system", "\"system\" is reserved for the engine")] {
        let e = refused(&mut db, "AWE-ASSIGNEE-NOT-ALLOWED", "PT409", |db| db.try_json("select awe.reassign($1::text::uuid, $2)::text", &[&tb, who]));
        assert_eq!(e.detail.unwrap()["details"]["reason"], reason, "{who}");
    }
    assert_eq!(db.open(&r), vec!["bob", "carl"]);
}

#[test]
fn e_max_revisions() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"max_revisions": 1}), json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "alice", "request_changes"), "changes_requested");
    db.act_as("requester");
    db.json("select awe.resubmit($1::text::uuid, '{\"v\": 2}')::text", &[&rid(&r)]);
    let t = db.task_of(&r, "alice");
    let e = refused(&mut db, "AWE-MAX-REVISIONS", "PT409", |db| db.try_decide(&t, "alice", "request_changes"));
    assert!(e.message.contains("max_revisions"), "{}", e.message);
    assert_eq!(db.status(&r), "in_review");
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
}

#[test]
fn e_idempotency_conflict() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let artifact = unique("a");
    let first = submit_sql(&mut db, &key, "doc", &artifact, "{\"v\": 1}", "req", "", "idem-1").unwrap();
    // Every part of the body counts.
    refused(&mut db, "AWE-IDEMPOTENCY-CONFLICT", "PT409", |db| submit_sql(db, &key, "doc", &artifact, "{\"v\": 2}", "req", "", "idem-1"));
    refused(&mut db, "AWE-IDEMPOTENCY-CONFLICT", "PT409", |db| submit_sql(db, &key, "doc", &unique("a"), "{\"v\": 1}", "req", "", "idem-1"));
    refused(&mut db, "AWE-IDEMPOTENCY-CONFLICT", "PT409", |db| submit_sql(db, &key, "doc", &artifact, "{\"v\": 1}", "someone", "", "idem-1"));
    refused(&mut db, "AWE-IDEMPOTENCY-CONFLICT", "PT409", |db| submit_sql(db, &key, "doc", &artifact, "{\"v\": 1}", "req", "https://x.example", "idem-1"));
    let again = submit_sql(&mut db, &key, "doc", &artifact, "{\"v\": 1}", "req", "", "idem-1").unwrap();
    assert_eq!(again["request_id"], first["request_id"]);
    assert_eq!(count(&mut db, "select count(*)::text from awe.requests", &[]), 1);
}

#[test]
fn e_policy_invalid() {
    let mut db = Db::new();
    let key = unique("p");
    let bad = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "s", "mode": "any", "n": 3, "rules": users(&["a", "b"])}]}).to_string();
    let e = refused(&mut db, "AWE-POLICY-INVALID", "PT422", |db| db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&bad]));
    let paths: Vec<String> = e.detail.unwrap()["details"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(paths, vec!["stages[0].n"]);
    let no_stages = json!({"key": key, "artifact_type": "doc", "stages": []}).to_string();
    refused(&mut db, "AWE-POLICY-INVALID", "PT422", |db| db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&no_stages]));
    refused(&mut db, "AWE-POLICY-INVALID", "PT422", |db| db.try_json("select awe.import_policy('key: k\nartifact_type: doc\nstages: 5')::text", &[]));
    // Updating a draft with an invalid definition keeps the old draft.
    let good = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "s", "rules": users(&["a"])}]}).to_string();
    db.json("select awe.create_policy($1::text::jsonb)::text", &[&good]);
    refused(&mut db, "AWE-POLICY-INVALID", "PT422", |db| db.try_json("select awe.update_policy_draft($1, 1, $2::text::jsonb)::text", &[&key, &bad]));
}

// ---- bad input ------------------------------------------------------------------

const EVIL: &str = "'); drop table awe.request; --";

fn tables_intact(db: &mut Db) {
    let n = count(db, "select count(*)::text from pg_tables where schemaname = 'awe'
                         and tablename in ('request', 'task', 'event', 'policy_version', 'principal', 'idempotency_key', 'tenant')", &[]);
    assert_eq!(n, 7, "awe tables still exist");
    // And they still work.
    count(db, "select count(*)::text from awe.request", &[]);
    count(db, "select count(*)::text from awe.task", &[]);
}

#[test]
fn injection_shaped_strings_in_submit_are_stored_or_rejected_cleanly() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": [{"type": "expression", "logic": {"var": "owner"}}]}]));
    db.exec("select awe.register_endpoint('https://caller.example')");
    // As the policy key and artifact type: clean refusals.
    refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| submit_sql(db, EVIL, "doc", &unique("a"), "{}", "req", "", ""));
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| submit_sql(db, &key, EVIL, &unique("a"), "{}", "req", "", ""));
    // As a callback URL: not http(s), refused; inside an http URL, stored as given.
    refused(&mut db, "AWE-CALLBACK-NOT-ALLOWED", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), "{}", "req", EVIL, ""));
    let evil_url = format!("https://caller.example/{EVIL}");
    // Artifact id, requester, callback, idempotency key and context values all stored verbatim.
    let artifact = format!("a-{EVIL}");
    let ctx = json!({"owner": EVIL, "note": EVIL, EVIL: 1}).to_string();
    let r = submit_sql(&mut db, &key, "doc", &artifact, &ctx, EVIL, &evil_url, EVIL).unwrap();
    assert_eq!(r["status"], "in_review");
    let got = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(got["artifact_id"], artifact.as_str());
    assert_eq!(got["requester"], EVIL);
    assert_eq!(got["callback_url"], evil_url.as_str());
    assert_eq!(got["context"], serde_json::from_str::<Value>(&ctx).unwrap());
    assert_eq!(db.open(&r), vec![EVIL.to_string()], "a principal id is just a string");
    let tenant = db.tenant.clone();
    assert_eq!(count(&mut db, "select count(*)::text from awe.idempotency_key where tenant_id = $1 and key = $2", &[&tenant, EVIL]), 1);
    // The retry with that key finds the same request.
    let again = submit_sql(&mut db, &key, "doc", &artifact, &ctx, EVIL, &evil_url, EVIL).unwrap();
    assert_eq!(again["request_id"], r["request_id"]);
    tables_intact(&mut db);
}

#[test]
fn injection_shaped_strings_in_decide_and_comment_are_stored_or_rejected_cleanly() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&[EVIL, "alice"])}]));
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, EVIL);
    // As the decision word: refused.
    set_actor(&mut db, EVIL);
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.decide($1::text::uuid, $2)::text", &[&t, EVIL]));
    // As actor, comment and attachment: stored verbatim.
    let att = json!([EVIL, {"ref": EVIL}]).to_string();
    let out = db.json("select awe.decide($1::text::uuid, 'approve', $2, $3::text::jsonb)::text", &[&t, EVIL, &att]);
    assert_eq!(out["status"], "in_review");
    assert_eq!(db.column("select comment from awe.tasks where task_id = $1::text::uuid", &[&t]), vec![EVIL.to_string()]);
    assert_eq!(db.column("select decided_by from awe.tasks where task_id = $1::text::uuid", &[&t]), vec![EVIL.to_string()]);
    let decided = db.json("select data::text from awe.timeline($1::text::uuid) where type = 'task.decided'", &[&rid(&r)]);
    assert_eq!((decided["comment"].as_str(), decided["attachments"].clone()), (Some(EVIL), serde_json::from_str::<Value>(&att).unwrap()));
    // As a comment body (and the comment's author).
    db.json("select awe.comment($1::text::uuid, $2)::text", &[&rid(&r), EVIL]);
    let c = db.json("select json_build_object('actor', actor, 'body', data ->> 'body')::text from awe.timeline($1::text::uuid) where type = 'comment.added'", &[&rid(&r)]);
    assert_eq!(c, json!({"actor": EVIL, "body": EVIL}));
    // As request/task ids: not a uuid, so a clean type error and nothing else.
    let e = db.try_json("select awe.comment($1::text::uuid, 'x')::text", &[EVIL]).unwrap_err();
    assert_eq!(e.sqlstate, "22P02");
    // As a reason for reassign/withdraw.
    let ta = db.task_of(&r, "alice");
    db.json("select awe.reassign($1::text::uuid, $2, $3)::text", &[&ta, &format!("bob{EVIL}"), EVIL]);
    assert_eq!(db.open(&r), vec![format!("bob{EVIL}")]);
    set_actor(&mut db, "requester");
    db.json("select awe.withdraw($1::text::uuid, $2)::text", &[&rid(&r), EVIL]);
    assert_eq!(db.status(&r), "cancelled");
    assert_eq!(db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r)])["valid"], true);
    tables_intact(&mut db);
}

#[test]
fn oversize_context_is_refused_and_nothing_is_written() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    db.exec("set awe.max_context_bytes = 100");
    let artifact = unique("a");
    let big = json!({"pad": "y".repeat(120)}).to_string();
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| submit_sql(db, &key, "doc", &artifact, &big, "req", "", "k1"));
    assert_eq!(count(&mut db, "select count(*)::text from awe.requests where artifact_id = $1", &[&artifact]), 0);
    // The key was not burnt: a valid retry with it succeeds.
    let ok = submit_sql(&mut db, &key, "doc", &artifact, "{\"pad\": \"y\"}", "req", "", "k1").unwrap();
    assert_eq!(ok["status"], "in_review");
    // resubmit and simulate are bounded too.
    db.decide(&ok, "alice", "request_changes");
    db.act_as("requester");
    refused(&mut db, "AWE-LIMIT-EXCEEDED", "22023", |db| db.try_json("select awe.resubmit($1::text::uuid, $2::text::jsonb)::text", &[&rid(&ok), &big]));
    expect(db.try_json("select awe.simulate($1, $2::text::jsonb)::text", &[&key, &big]), "AWE-LIMIT-EXCEEDED", "22023");
    assert_eq!(db.status(&ok), "changes_requested");
}

#[test]
fn non_object_context_is_refused() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    for ctx in ["[]", "[{\"amount\": 1}]", "\"{}\"", "0", "false", "null"] {
        let e = refused(&mut db, "AWE-BAD-INPUT", "22023", |db| submit_sql(db, &key, "doc", &unique("a"), ctx, "req", "", ""));
        assert!(e.message.contains("context"), "{ctx}: {}", e.message);
    }
    let r = db.submit(&key, json!({}));
    db.decide(&r, "alice", "request_changes");
    db.act_as("requester");
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_json("select awe.resubmit($1::text::uuid, '[1]')::text", &[&rid(&r)]));
    assert_eq!(db.status(&r), "changes_requested");
}

#[test]
fn wrong_decision_word_leaves_the_task_open() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice"]);
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "alice");
    for word in ["approve ", " reject", "Reject", "deny", "ok", "request-changes", "abstained"] {
        let e = refused(&mut db, "AWE-BAD-INPUT", "22023", |db| db.try_decide(&t, "alice", word));
        assert!(e.message.contains("decision"), "{}", e.message);
    }
    refused(&mut db, "AWE-BAD-INPUT", "22023", |db| {
        db.act_as("alice");
        db.try_json("select awe.decide($1::text::uuid, null)::text", &[&t])
    });
    assert_eq!(db.open(&r), vec!["alice"]);
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
}

#[test]
fn unknown_policy_is_refused() {
    let mut db = Db::new();
    let e = refused(&mut db, "AWE-POLICY-NOT-FOUND", "PT404", |db| db.try_submit("does.not.exist", json!({}), Some("req")));
    assert!(e.message.contains("does.not.exist"), "{}", e.message);
    assert_eq!(count(&mut db, "select count(*)::text from awe.requests", &[]), 0);
}

#[test]
fn decision_by_someone_who_is_not_the_assignee() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice", "bob"]);
    let r = db.submit(&key, json!({}));
    let ta = db.task_of(&r, "alice");
    // bob is an assignee of the request, but not of this task.
    let e = refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_decide(&ta, "bob", "reject"));
    assert!(e.message.contains("alice"), "{}", e.message);
    refused(&mut db, "AWE-NOT-ASSIGNEE", "PT403", |db| db.try_decide(&ta, "ALICE", "approve"));
    assert_eq!(db.open(&r), vec!["alice", "bob"]);
    assert_eq!(db.status(&r), "in_review");
    let decided = count(&mut db, "select count(*)::text from awe.timeline($1::text::uuid) where type = 'task.decided'", &[&rid(&r)]);
    assert_eq!(decided, 0);
}

#[test]
fn decision_on_a_closed_task() {
    let mut db = Db::new();
    let key = one_stage(&mut db, &["alice", "bob"]);
    let r = db.submit(&key, json!({}));
    let ta = db.task_of(&r, "alice");
    let tb = db.task_of(&r, "bob");
    db.try_decide(&ta, "alice", "approve").unwrap();
    // Decisions are final: a second click, even the same one, is an error.
    let e = refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&ta, "alice", "approve"));
    assert_eq!(e.detail.unwrap()["details"]["task_status"], "approved");
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&ta, "alice", "reject"));
    // A rejected request: bob's task closed with it.
    db.try_decide(&tb, "bob", "reject").unwrap();
    assert_eq!(db.status(&r), "rejected");
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&tb, "bob", "approve"));
    // A cancelled request's tasks are closed too.
    let r2 = db.submit(&key, json!({}));
    let t2 = db.task_of(&r2, "alice");
    db.json("select awe.cancel($1::text::uuid)::text", &[&rid(&r2)]);
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&t2, "alice", "approve"));
    // While changes are requested, the superseded tasks are closed.
    let r3 = db.submit(&key, json!({}));
    let t3 = db.task_of(&r3, "bob");
    db.decide(&r3, "alice", "request_changes");
    refused(&mut db, "AWE-TASK-CLOSED", "PT409", |db| db.try_decide(&t3, "bob", "approve"));
}

#[test]
fn e_directory_managed() {
    // While a tenant has a directory source, what the source wrote changes
    // only there, and a bulk import would fight it: refused, nothing changes.
    let mut db = Db::new();
    db.json("select awe.set_directory_source('keycloak', 'http://127.0.0.1:9', 'acme', 'awe-sync', 's')::text", &[]);
    db.exec("insert into awe.principal (tenant_id, principal_id, managed_by) values (awe.current_tenant(), 'synced', 'directory')");
    refused(&mut db, "AWE-DIRECTORY-MANAGED", "PT409", |db| db.try_json("select awe.upsert_principal('synced', 'Renamed')::text", &[]));
    refused(&mut db, "AWE-DIRECTORY-MANAGED", "PT409", |db| db.try_json(r#"select awe.import_directory('{"users": []}')::text"#, &[]));
    assert_eq!(db.column("select coalesce(display_name, '-') from awe.principal where tenant_id = awe.current_tenant()", &[]), vec!["-"]);
    db.exec("select awe.remove_directory_source()");
}

#[test]
fn e_decision_invalid() {
    // A rejection without the comment the stage requires, an approval
    // without the data its decision_schema asks for or failing its
    // decision_check: refused with each problem's path, nothing recorded.
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"]), "require_comment": ["reject"],
        "decision_schema": {"type": "object", "required": ["approved_amount"], "properties": {"approved_amount": {"type": "number"}}},
        "decision_check": {"<=": [{"var": "decision.approved_amount"}, {"var": "context.amount"}]}}]));
    let r = db.submit(&key, json!({"amount": 100}));
    let task = db.task_of(&r, "alice");
    db.act_as("alice");
    let paths = |e: DbError| -> Vec<String> {
        e.detail.unwrap()["details"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect()
    };
    let e = refused(&mut db, "AWE-DECISION-INVALID", "PT422", |db| db.try_json("select awe.decide($1::text::uuid, 'reject')::text", &[&task]));
    assert_eq!(paths(e), vec!["comment"]);
    let e = refused(&mut db, "AWE-DECISION-INVALID", "PT422", |db| db.try_json("select awe.decide($1::text::uuid, 'approve')::text", &[&task]));
    assert_eq!(paths(e), vec!["data.approved_amount"]);
    let e = refused(&mut db, "AWE-DECISION-INVALID", "PT422",
        |db| db.try_json("select awe.decide($1::text::uuid, 'approve', data => '{\"approved_amount\": 500}')::text", &[&task]));
    assert_eq!(paths(e), vec!["decision_check"]);
    let ok = db.json("select awe.decide($1::text::uuid, 'approve', data => '{\"approved_amount\": 90}')::text", &[&task]);
    assert_eq!(ok["status"], "approved");
    assert_eq!(ok["tasks"][0]["decision_data"], json!({"approved_amount": 90}));
}

#[test]
fn e_citus_required() {
    // This database has no citus extension: awe.distribute() refuses and
    // changes nothing (no database setting appears).
    let mut db = Db::new();
    let before = db.json("select coalesce(jsonb_agg(setconfig), '[]')::text from pg_db_role_setting where setdatabase = (select oid from pg_database where datname = current_database())", &[]);
    let e = refused(&mut db, "AWE-CITUS-REQUIRED", "55000", |db| db.try_json("select jsonb_agg(d)::text from awe.distribute() d", &[]));
    assert!(e.hint.as_deref().unwrap_or("").contains("scale-out"), "{e:?}");
    let after = db.json("select coalesce(jsonb_agg(setconfig), '[]')::text from pg_db_role_setting where setdatabase = (select oid from pg_database where datname = current_database())", &[]);
    assert_eq!(before, after);
}
