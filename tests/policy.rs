//! Policies through SQL: lifecycle, pinning, validation, YAML, directory.

use awe_e2e::*;
use serde_json::json;

fn def(key: &str, approver: &str) -> serde_json::Value {
    json!({"key": key, "artifact_type": "doc", "stages": [{"name": "s", "rules": users(&[approver])}]})
}

#[test]
fn version_lifecycle_draft_active_archived() {
    let mut db = Db::new();
    let key = unique("p");
    let v1 = db.json("select awe.create_policy($1::text::jsonb)::text", &[&def(&key, "a").to_string()]);
    assert_eq!(v1, json!({"policy_key": key, "version": 1, "status": "draft"}));
    // Drafts can be edited; a submit against a policy with no active version is refused.
    db.json("select awe.update_policy_draft($1, 1, $2::text::jsonb)::text", &[&key, &def(&key, "b").to_string()]);
    assert_eq!(db.try_submit(&key, json!({}), None).unwrap_err().code(), "AWE-POLICY-NOT-ACTIVE");
    db.json("select awe.activate_policy($1, 1)::text", &[&key]);
    let e = db.try_json("select awe.update_policy_draft($1, 1, $2::text::jsonb)::text", &[&key, &def(&key, "c").to_string()]).unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-POLICY-NOT-DRAFT", "PT409"));
    // Even a direct UPDATE cannot change an active definition.
    let e = db.try_json("update awe.policy_version set definition = '{}' where policy_key = $1 returning 'x'", &[&key]).unwrap_err();
    assert_eq!(e.code(), "AWE-POLICY-NOT-DRAFT");
    let v2 = db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "c").to_string()]);
    assert_eq!(v2["version"], 2);
    let act = db.json("select awe.activate_policy($1, 2)::text", &[&key]);
    assert_eq!(act["archived_version"], 1);
    let statuses = db.column("select version || ':' || status from awe.policy_versions where policy_key = $1 order by version", &[&key]);
    assert_eq!(statuses, vec!["1:archived", "2:active"]);
    let e = db.try_json("select awe.activate_policy($1, 1)::text", &[&key]).unwrap_err();
    assert_eq!(e.code(), "AWE-POLICY-NOT-DRAFT");
    db.json("select awe.deactivate_policy($1)::text", &[&key]);
    assert_eq!(db.try_json("select awe.deactivate_policy($1)::text", &[&key]).unwrap_err().code(), "AWE-POLICY-NOT-ACTIVE");
    assert_eq!(db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&def(&key, "a").to_string()]).unwrap_err().code(), "AWE-POLICY-EXISTS");
}

#[test]
fn requests_stay_pinned_to_their_version() {
    let mut db = Db::new();
    let key = unique("p");
    db.policy(def(&key, "alice"));
    let r1 = db.submit(&key, json!({}));
    assert_eq!(r1["policy_version"], 1);
    db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "bob").to_string()]);
    db.json("select awe.activate_policy($1, 2)::text", &[&key]);
    let r2 = db.submit(&key, json!({}));
    assert_eq!(r2["policy_version"], 2);
    assert_eq!(db.open(&r1), vec!["alice"]);
    assert_eq!(db.open(&r2), vec!["bob"]);
    // r1 still runs on v1 after the switch, including its next stage decisions.
    assert_eq!(db.decide(&r1, "alice", "approve"), "approved");
}

/// Each backend remembers which version is active; a change made by another
/// connection, or earlier in the same transaction, or rolled back, must be
/// seen by the very next submit.
#[test]
fn a_backend_sees_every_activation_at_once() {
    let mut db = Db::new();
    let mut admin = db.another();
    let key = unique("p");
    db.policy(def(&key, "alice"));
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 1); // v1 now remembered by db's backend
    admin.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "bob").to_string()]);
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 1, "a draft changes nothing");
    admin.json("select awe.activate_policy($1, 2)::text", &[&key]);
    let r = db.submit(&key, json!({}));
    assert_eq!((r["policy_version"].as_i64(), db.open(&r)), (Some(2), vec!["bob".to_string()]));
    // Inside a transaction that had already remembered v2 (READ COMMITTED:
    // the next submit sees what committed meanwhile).
    db.exec("begin");
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 2);
    admin.json("select awe.deactivate_policy($1)::text", &[&key]);
    assert_eq!(db.try_submit(&key, json!({}), None).unwrap_err().code(), "AWE-POLICY-NOT-ACTIVE");
    db.exec("rollback");
    // Within one transaction: activate, submit, roll back; then the old state.
    admin.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "cyd").to_string()]);
    db.exec("begin");
    db.json("select awe.activate_policy($1, 3)::text", &[&key]);
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 3);
    db.exec("rollback");
    assert_eq!(db.try_submit(&key, json!({}), None).unwrap_err().code(), "AWE-POLICY-NOT-ACTIVE");
    // A REPEATABLE READ transaction reads its older snapshot: what it saw
    // must not be remembered for the transactions after it.
    admin.json("select awe.activate_policy($1, 3)::text", &[&key]);
    admin.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "dan").to_string()]);
    db.exec("begin isolation level repeatable read; select 1");
    admin.json("select awe.activate_policy($1, 4)::text", &[&key]);
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 3);
    db.exec("commit");
    assert_eq!(db.submit(&key, json!({}))["policy_version"], 4);
}

/// Each backend caches role and group members and delegation windows; a
/// directory change made by another connection, or earlier in the same
/// transaction, must reach the very next stage start.
#[test]
fn a_backend_sees_every_directory_change_at_once() {
    let mut db = Db::new();
    let mut admin = db.another();
    let key = db.stages(json!([{"name": "s", "mode": "any", "rules": [
        {"type": "role", "role": "ops"}, {"type": "group", "group": "/eng"}]}]));
    db.exec("select awe.grant_role('ann', 'ops')");
    let open = |db: &mut Db| { let r = db.submit(&key, json!({})); db.open(&r) };
    assert_eq!(open(&mut db), vec!["ann"]); // now cached by db's backend
    admin.exec("select awe.grant_role('bob', 'ops')");
    assert_eq!(open(&mut db), vec!["ann", "bob"]);
    admin.exec("select awe.revoke_role('ann', 'ops')");
    assert_eq!(open(&mut db), vec!["bob"]);
    admin.exec("select awe.add_to_group('eve', '/eng')");
    assert_eq!(open(&mut db), vec!["bob", "eve"]);
    admin.exec("select awe.upsert_principal('bob', active => false)");
    assert_eq!(open(&mut db), vec!["eve"]);
    admin.exec("select awe.set_delegation('eve', 'dan', now() - interval '1 hour', now() + interval '1 day')");
    assert_eq!(open(&mut db), vec!["dan"]);
    // A window that has not started yet needs no invalidation to be ignored.
    admin.exec("select awe.set_delegation('dan', 'fay', now() + interval '1 day', now() + interval '2 days')");
    assert_eq!(open(&mut db), vec!["dan"]);
    // Inside one transaction that already cached the members.
    db.exec("begin");
    assert_eq!(open(&mut db), vec!["dan"]);
    admin.exec("select awe.remove_from_group('eve', '/eng')");
    // eve left /eng: nobody resolves, so on_empty (block) rejects at once.
    assert_eq!(db.submit(&key, json!({}))["status"], "rejected");
    db.exec("rollback");
}

#[test]
fn two_concurrent_activations_leave_exactly_one_active() {
    for round in 0..10 {
        let mut db = Db::new();
        let key = unique("p");
        db.json("select awe.create_policy($1::text::jsonb)::text", &[&def(&key, "a").to_string()]);
        db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "b").to_string()]);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = [1, 2].into_iter().map(|v| {
            let mut other = db.another();
            let (key, barrier) = (key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                other.try_json("select awe.activate_policy($1, $2::text::int)::text", &[&key, &v.to_string()])
            })
        }).collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // Both may succeed (the second archives the first); never two active.
        assert!(results.iter().any(|r| r.is_ok()), "round {round}: {results:?}");
        let active = db.column("select version::text from awe.policy_versions where policy_key = $1 and status = 'active'", &[&key]);
        assert_eq!(active.len(), 1, "round {round}");
    }
    // The database itself refuses a second active row, whatever the code does.
    let mut db = Db::new();
    let key = unique("p");
    db.policy(def(&key, "a"));
    db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&def(&key, "b").to_string()]);
    let e = db.try_json("update awe.policy_version set status = 'active' where policy_key = $1 and version = 2 returning 'x'", &[&key]).unwrap_err();
    assert_eq!(e.sqlstate, "23505");
}

#[test]
fn invalid_definitions_list_every_problem_with_paths() {
    let mut db = Db::new();
    let bad = json!({"key": "k", "artifact_type": "doc", "colour": 1, "stages": [
        {"name": "s", "mode": "any", "n": 0, "rules": [{"type": "user"}], "skip_if": {"nope": 1}},
        {"name": "s", "mode": "percentage", "rules": [{"type": "group", "group": "nope"}]}]});
    let e = db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&bad.to_string()]).unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-POLICY-INVALID", "PT422"));
    let problems = e.detail.unwrap()["details"]["problems"].clone();
    let paths: Vec<&str> = problems.as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    for want in ["colour", "stages[0].n", "stages[0].rules[0].user", "stages[0].skip_if", "stages[1].name", "stages[1].p", "stages[1].rules[0].group"] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    // validate_policy reports the same without raising, and saves nothing.
    let v = db.json("select awe.validate_policy($1::text::jsonb)::text", &[&bad.to_string()]);
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), problems.as_array().unwrap().len());
    assert_eq!(db.column("select count(*)::text from awe.policy_versions", &[]), vec!["0"]);
    let ok = db.json("select awe.validate_policy($1::text::jsonb)::text", &[&def("k", "a").to_string()]);
    assert_eq!(ok["valid"], true);
}

#[test]
fn yaml_import_of_the_shipped_example() {
    let mut db = Db::new();
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/expense-report.yaml")).unwrap();
    let out = db.json("select awe.import_policy($1)::text", &[&yaml]);
    assert_eq!(out, json!({"policy_key": "expense.report", "version": 1, "status": "draft"}));
    // Importing again adds a version rather than failing.
    assert_eq!(db.json("select awe.import_policy($1)::text", &[&yaml])["version"], 2);
    let stored = db.json("select (awe.get_policy('expense.report', 1) -> 'definition')::text", &[]);
    assert_eq!(stored["stages"][1]["n"], 2);
    assert_eq!(stored["stages"][0]["sla"], "8h");
    let e = db.try_json("select awe.import_policy('key: [unclosed')::text", &[]).unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-BAD-INPUT", "22023"));
    let json_doc = def(&unique("p"), "a").to_string();
    assert_eq!(db.json("select awe.import_policy($1, 'json')::text", &[&json_doc])["version"], 1);
}

#[test]
fn directory_functions() {
    let mut db = Db::new();
    let p = db.json("select awe.upsert_principal('ann', 'Ann A', 'ann@example.com', '{\"dept\": \"fin\"}')::text", &[]);
    assert_eq!((p["display_name"].as_str(), p["active"].as_bool()), (Some("Ann A"), Some(true)));
    db.exec("select awe.grant_role('ann', 'finance'), awe.grant_role('bob', 'finance'), awe.add_to_group('ann', '/org/fin'), awe.add_to_group('cat', '/org/fin/eu/')");
    let key = db.stages(json!([{"name": "s", "mode": "any", "rules": [
        {"type": "role", "role": "finance"}, {"type": "group", "group": "/org/fin", "include_subgroups": true}]}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), vec!["ann", "bob", "cat"]);
    // Inactive principals and revoked roles resolve to nobody.
    db.exec("select awe.upsert_principal('bob', active => false); select awe.revoke_role('ann', 'finance'); select awe.remove_from_group('cat', '/org/fin/eu')");
    let r2 = db.submit(&key, json!({}));
    assert_eq!(db.open(&r2), vec!["ann"]);
    assert_eq!(db.try_json("select awe.revoke_role('ann', 'finance')::text", &[]).unwrap_err().code(), "AWE-NOT-FOUND");
    db.exec("select awe.remove_principal('ann')");
    assert_eq!(db.try_json("select awe.remove_principal('ann')::text", &[]).unwrap_err().sqlstate, "PT404");
    assert_eq!(db.try_json("select awe.add_to_group('x', 'no-slash')::text", &[]).unwrap_err().code(), "AWE-BAD-INPUT");
    assert_eq!(db.try_json("select awe.grant_role('x', 'bad role!')::text", &[]).unwrap_err().code(), "AWE-BAD-INPUT");
    // Directory rows are per tenant.
    let mut other = Db::new();
    // bob and cat remain in tenant A (ann was removed).
    assert_eq!(other.column("select count(*)::text from awe.principal where tenant_id = $1", &[&db.tenant]), vec!["2"]);
    let key2 = other.stages(json!([{"name": "s", "rules": [{"type": "role", "role": "finance"}], "on_empty": "skip"}]));
    let r3 = other.submit(&key2, json!({}));
    assert_eq!(r3["status"], "approved", "tenant B sees none of tenant A's finance role");
}

#[test]
fn duplicate_keys_in_a_document_are_refused_with_their_path() {
    let mut db = Db::new();
    let yaml = "key: a.b\nartifact_type: doc\nkey: c.d\nstages:\n  - {name: s, rules: [{type: user, user: u}]}\n";
    let e = db.try_json("select awe.import_policy($1)::text", &[yaml]).unwrap_err();
    assert_eq!(e.code(), "AWE-BAD-INPUT", "{e:?}");
    assert!(e.message.contains("key") && e.message.contains("line 3"), "{e:?}");
    let nested = "key: a.b\nartifact_type: doc\nforbid_self_approval: true\nstages:\n  - name: s\n    rules: [{type: user, user: u, type: role}]\n";
    let e = db.try_json("select awe.import_policy($1)::text", &[nested]).unwrap_err();
    assert_eq!(e.detail.clone().unwrap()["details"]["path"], "stages[0].rules[0].type", "{e:?}");
    let json_doc = r#"{"key": "a.b", "artifact_type": "doc", "forbid_self_approval": true, "forbid_self_approval": false, "stages": []}"#;
    let e = db.try_json("select awe.import_policy($1, 'json')::text", &[json_doc]).unwrap_err();
    assert_eq!(e.detail.clone().unwrap()["details"]["path"], "forbid_self_approval", "{e:?}");
    let n = db.column("select count(*)::text from awe.policy_versions", &[]).remove(0);
    assert_eq!(n, "0", "nothing was imported");
}
