//! The scenario table of SCENARIOS.md, end to end through the SQL API: policy
//! → submit → decisions → final status, who got tasks, and the events.
//! Scenarios 12, 17, 18, 32 and 33-35 are covered by other suites.

use awe_e2e::*;
use serde_json::{json, Value};

// ---- helpers ---------------------------------------------------------------

fn ev(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn strs(list: &[&str]) -> Vec<String> {
    ev(list)
}

/// Every task of a request as "assignee:status", sorted.
fn task_states(db: &mut Db, r: &Value) -> Vec<String> {
    db.column(
        "select assignee || ':' || status from awe.tasks where request_id = $1::text::uuid order by assignee, created_at, status",
        &[&rid(r)],
    )
}

/// (stage_index, outcome) of every stage.completed event, in order.
fn outcomes(db: &mut Db, r: &Value) -> Vec<(i64, String)> {
    events_of(db, r, "stage.completed")
        .iter()
        .map(|e| (e["stage_index"].as_i64().unwrap(), e["data"]["outcome"].as_str().unwrap().to_string()))
        .collect()
}

/// submit with an explicit requester (or none) and artifact type.
fn submit_full(db: &mut Db, key: &str, artifact_type: &str, ctx: Value, requester: &str) -> Result<Value, DbError> {
    let artifact = unique("a");
    db.try_json(
        "select awe.submit($1, $2, $3, $4::text::jsonb, nullif($5, ''))::text",
        &[key, artifact_type, &artifact, &ctx.to_string(), requester],
    )
}

/// An active delegation window from an hour ago to tomorrow.
fn delegate(db: &mut Db, from: &str, to: &str) -> String {
    db.json(
        "select to_json(awe.set_delegation($1, $2, now() - interval '1 hour', now() + interval '1 day', 'out of office'))::text",
        &[from, to],
    )
    .as_str()
    .unwrap()
    .to_string()
}

fn count(db: &mut Db, sql: &str, params: &[&str]) -> i64 {
    db.column(sql, params).remove(0).parse().unwrap()
}

fn all_tasks_of(db: &mut Db, r: &Value, who: &str) -> Vec<String> {
    db.column(
        "select status from awe.tasks where request_id = $1::text::uuid and assignee = $2 order by created_at",
        &[&rid(r), who],
    )
}

const ONE_STAGE_APPROVED: &[&str] =
    &["request.created", "stage.started", "task.created", "task.decided", "stage.completed", "request.approved"];

// ---- scenarios ---------------------------------------------------------------

#[test]
fn s01_one_approver_one_stage() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "Review", "mode": "all", "rules": users(&["alice"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(r["status"], "in_review");
    assert_eq!(r["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(r["tasks"][0]["assignee"], "alice");
    assert_eq!(r["tasks"][0]["kind"], "approver");
    assert_eq!(db.open(&r), strs(&["alice"]));
    // Nobody else may decide alice's task.
    let task = db.task_of(&r, "alice");
    assert_eq!(db.try_decide(&task, "mallory", "approve").unwrap_err().code(), "AWE-NOT-ASSIGNEE");
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    assert_eq!(db.status(&r), "approved");
    assert_eq!(db.events(&r), ev(ONE_STAGE_APPROVED));
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".to_string())]);
    let decided = events_of(&mut db, &r, "task.decided");
    assert_eq!((decided[0]["actor"].as_str(), decided[0]["data"]["decision"].as_str()), (Some("alice"), Some("approve")));
    assert_eq!(task_states(&mut db, &r), strs(&["alice:approved"]));
}

#[test]
fn s02_officer_director_secretary_in_order() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "Officer", "rules": users(&["officer"])},
        {"name": "Director", "rules": users(&["director"])},
        {"name": "Secretary", "rules": users(&["secretary"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["officer"]));
    let st: Vec<&str> = r["stages"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(st, vec!["active", "waiting", "waiting"]);
    assert_eq!(db.decide(&r, "officer", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["director"]));
    assert_eq!(db.decide(&r, "director", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["secretary"]));
    assert_eq!(db.decide(&r, "secretary", "approve"), "approved");
    let one = ["stage.started", "task.created", "task.decided", "stage.completed"];
    let mut want = vec!["request.created"];
    for _ in 0..3 {
        want.extend(one);
    }
    want.push("request.approved");
    assert_eq!(db.events(&r), ev(&want));
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".into()), (1, "approved".into()), (2, "approved".into())]);
    // Each stage's task was created only after the previous stage completed.
    let tl = timeline(&mut db, &r);
    let created: Vec<(i64, String)> = tl.iter().filter(|e| e["type"] == "task.created")
        .map(|e| (e["stage_index"].as_i64().unwrap(), e["data"]["assignee"].as_str().unwrap().to_string())).collect();
    assert_eq!(created, vec![(0, "officer".into()), (1, "director".into()), (2, "secretary".into())]);
}

#[test]
fn s03_legal_and_finance_in_parallel_then_director() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "Legal", "parallel_group": "checks", "rules": users(&["lena"])},
        {"name": "Finance", "parallel_group": "checks", "rules": users(&["finn"])},
        {"name": "Director", "rules": users(&["dora"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["finn", "lena"]), "both parallel stages start together");
    let st: Vec<&str> = r["stages"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(st, vec!["active", "active", "waiting"]);
    assert_eq!(db.decide(&r, "lena", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["finn"]), "director waits for finance too");
    assert_eq!(db.decide(&r, "finn", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["dora"]));
    assert_eq!(db.decide(&r, "dora", "approve"), "approved");
    assert_eq!(db.events(&r), ev(&[
        "request.created",
        "stage.started", "task.created", "stage.started", "task.created",
        "task.decided", "stage.completed",
        "task.decided", "stage.completed",
        "stage.started", "task.created", "task.decided", "stage.completed",
        "request.approved"]));
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".into()), (1, "approved".into()), (2, "approved".into())]);
    // A reject in one parallel stage rejects the request and closes the other's tasks.
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "finn", "reject"), "rejected");
    assert_eq!(task_states(&mut db, &r), strs(&["finn:rejected", "lena:skipped"]));
    assert!(all_tasks_of(&mut db, &r, "dora").is_empty());
    // A send-back in one parallel stage after the other approved restarts only the open one.
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "lena", "approve"), "in_review");
    assert_eq!(db.decide(&r, "finn", "request_changes"), "changes_requested");
    db.act_as("requester");
    db.json("select awe.resubmit($1::text::uuid, '{}')::text", &[&rid(&r)]);
    assert_eq!(db.open(&r), strs(&["finn"]));
    assert_eq!(db.decide(&r, "finn", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["dora"]));
}

#[test]
fn s04_all_must_approve() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "Board", "mode": "all", "rules": users(&["a", "b", "c"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["a", "b", "c"]));
    assert_eq!(db.decide(&r, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r, "b", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["c"]));
    assert_eq!(db.decide(&r, "c", "approve"), "approved");
    assert_eq!(task_states(&mut db, &r), strs(&["a:approved", "b:approved", "c:approved"]));
    assert_eq!(db.events(&r), ev(&[
        "request.created", "stage.started", "task.created", "task.created", "task.created",
        "task.decided", "task.decided", "task.decided", "stage.completed", "request.approved"]));
}

#[test]
fn s05_first_two_of_five() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "Panel", "mode": "any", "n": 2, "rules": users(&["a", "b", "c", "d", "e"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r).len(), 5);
    assert_eq!(db.decide(&r, "c", "approve"), "in_review");
    assert_eq!(db.decide(&r, "e", "approve"), "approved");
    assert_eq!(task_states(&mut db, &r), strs(&["a:skipped", "b:skipped", "c:approved", "d:skipped", "e:approved"]));
    assert!(db.open(&r).is_empty());
    // A late click on a skipped task is a clear error.
    let late = db.column("select task_id::text from awe.tasks where request_id = $1::text::uuid and assignee = 'a'", &[&rid(&r)]).remove(0);
    assert_eq!(db.try_decide(&late, "a", "approve").unwrap_err().code(), "AWE-TASK-CLOSED");
    assert_eq!(db.events(&r), ev(&[
        "request.created", "stage.started", "task.created", "task.created", "task.created", "task.created", "task.created",
        "task.decided", "task.decided", "stage.completed", "request.approved"]));
    // The any-N spelling means the same.
    let key2 = db.stages(json!([{"name": "Panel", "mode": "any-2", "rules": users(&["a", "b", "c", "d", "e"])}]));
    let r2 = db.submit(&key2, json!({}));
    assert_eq!(db.decide(&r2, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r2, "b", "approve"), "approved");
    let v = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r2)]);
    assert_eq!(v["valid"], true, "the revision task is in the trail too: {v}");
}

#[test]
fn s06_sixty_percent_of_five_without_veto() {
    let mut db = Db::new();
    let committee = users(&["m1", "m2", "m3", "m4", "m5"]);
    let key = db.stages(json!([{"name": "Committee", "mode": "percentage", "p": 60, "veto": false, "rules": committee}]));
    // ceil(0.6 × 5) = 3 approvals; one reject is not a veto.
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "m1", "reject"), "in_review");
    assert_eq!(db.decide(&r, "m2", "approve"), "in_review");
    assert_eq!(db.decide(&r, "m3", "approve"), "in_review");
    assert_eq!(db.decide(&r, "m4", "approve"), "approved");
    assert_eq!(task_states(&mut db, &r), strs(&["m1:rejected", "m2:approved", "m3:approved", "m4:approved", "m5:skipped"]));
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".into())]);
    // Three rejects make 3 approvals unreachable (2 left): rejected at once.
    let r2 = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r2, "m1", "reject"), "in_review");
    assert_eq!(db.decide(&r2, "m2", "reject"), "in_review");
    assert_eq!(db.decide(&r2, "m3", "reject"), "rejected");
    assert_eq!(task_states(&mut db, &r2), strs(&["m1:rejected", "m2:rejected", "m3:rejected", "m4:skipped", "m5:skipped"]));
    assert_eq!(outcomes(&mut db, &r2), vec![(0, "rejected".into())]);
    assert_eq!(db.events(&r2).last().unwrap(), "request.rejected");
}

#[test]
fn s07_two_of_five_plus_the_cfo() {
    let mut db = Db::new();
    let mut rules = users(&["a", "b", "c", "d", "e"]);
    rules.as_array_mut().unwrap().push(json!({"type": "user", "user": "cfo", "required": true}));
    let key = db.stages(json!([{"name": "Sign-off", "mode": "any", "n": 2, "rules": rules}]));
    let r = db.submit(&key, json!({}));
    let cfo = r["tasks"].as_array().unwrap().iter().find(|t| t["assignee"] == "cfo").unwrap().clone();
    assert_eq!(cfo["required"], true);
    assert_eq!(db.open(&r).len(), 6);
    assert_eq!(db.decide(&r, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r, "b", "approve"), "in_review", "the threshold is met but the CFO has not signed");
    assert_eq!(db.open(&r), strs(&["c", "cfo", "d", "e"]));
    // The CFO cannot dodge by abstaining.
    let t = db.task_of(&r, "cfo");
    assert_eq!(db.try_decide(&t, "cfo", "abstain").unwrap_err().code(), "AWE-ACTION-NOT-ALLOWED");
    assert_eq!(db.decide(&r, "cfo", "approve"), "approved");
    assert_eq!(task_states(&mut db, &r), strs(&["a:approved", "b:approved", "c:skipped", "cfo:approved", "d:skipped", "e:skipped"]));
    // A CFO reject rejects, even on a veto:false stage.
    let key3 = db.stages(json!([{"name": "Sign-off", "mode": "any", "n": 2, "veto": false, "rules": rules}]));
    let r3 = db.submit(&key3, json!({}));
    assert_eq!(db.decide(&r3, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r3, "b", "approve"), "in_review");
    assert_eq!(db.decide(&r3, "cfo", "reject"), "rejected");
}

/// "2 of 5 plus the CFO" is three signatures: the CFO's approval should not
/// also count as one of the two. The engine counts it toward n.
#[test]
fn s07_cfo_signature_is_not_one_of_the_two() {
    let mut db = Db::new();
    let mut rules = users(&["a", "b", "c", "d", "e"]);
    rules.as_array_mut().unwrap().push(json!({"type": "user", "user": "cfo", "required": true}));
    let key = db.stages(json!([{"name": "Sign-off", "mode": "any", "n": 2, "rules": rules}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "cfo", "approve"), "in_review");
    assert_eq!(db.decide(&r, "c", "approve"), "in_review", "only one of the five has signed");
    assert_eq!(db.decide(&r, "d", "approve"), "approved");
}

#[test]
fn s08_one_reject_stops_everything() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "Review", "mode": "all", "rules": users(&["a", "b", "c"])},
        {"name": "Final", "rules": users(&["z"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r, "b", "reject"), "rejected");
    assert_eq!(db.status(&r), "rejected");
    assert_eq!(task_states(&mut db, &r), strs(&["a:approved", "b:rejected", "c:skipped"]));
    assert!(all_tasks_of(&mut db, &r, "z").is_empty(), "the next stage never starts");
    assert_eq!(db.events(&r), ev(&[
        "request.created", "stage.started", "task.created", "task.created", "task.created",
        "task.decided", "task.decided", "stage.completed", "request.rejected"]));
    assert_eq!(outcomes(&mut db, &r), vec![(0, "rejected".into())]);
    let stages = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)])["stages"].clone();
    assert_eq!(stages[1]["status"], "cancelled", "a stage the rejection kept from starting is cancelled");
    // Veto is the default in an any-N stage as well.
    let key2 = db.stages(json!([{"name": "Panel", "mode": "any", "n": 2, "rules": users(&["a", "b", "c", "d"])}]));
    let r2 = db.submit(&key2, json!({}));
    assert_eq!(db.decide(&r2, "a", "reject"), "rejected");
}

#[test]
fn s09_committee_where_a_reject_is_not_a_veto() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "Committee", "mode": "any", "n": 2, "veto": false, "rules": users(&["a", "b", "c", "d"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "a", "reject"), "in_review");
    assert_eq!(db.decide(&r, "b", "approve"), "in_review");
    assert_eq!(db.decide(&r, "c", "approve"), "approved");
    assert_eq!(task_states(&mut db, &r), strs(&["a:rejected", "b:approved", "c:approved", "d:skipped"]));
    // Rejected only once n is out of reach: 3 rejects of 4 leave 1 possible approval.
    let r2 = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r2, "a", "reject"), "in_review");
    assert_eq!(db.decide(&r2, "b", "reject"), "in_review");
    assert_eq!(db.decide(&r2, "c", "reject"), "rejected");
    assert_eq!(outcomes(&mut db, &r2), vec![(0, "rejected".into())]);
}

#[test]
fn s10_role_group_and_user_rules() {
    let mut db = Db::new();
    db.exec("select awe.grant_role('bob', 'fin'), awe.grant_role('carol', 'fin'), awe.grant_role('xavier', 'other');
             select awe.add_to_group('dave', '/legal'), awe.add_to_group('erin', '/legal/eu'), awe.add_to_group('fred', '/legalese')");
    let key = db.stages(json!([{"name": "s", "mode": "any", "rules": [
        {"type": "user", "user": "alice"},
        {"type": "role", "role": "fin"},
        {"type": "group", "group": "/legal", "include_subgroups": true},
        {"type": "user", "user": "bob"}]}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["alice", "bob", "carol", "dave", "erin"]), "union, de-duplicated; /legalese is not under /legal");
    assert_eq!(db.decide(&r, "erin", "approve"), "approved");
    assert_eq!(db.events(&r), ev(&["request.created", "stage.started", "task.created", "task.created", "task.created", "task.created",
        "task.created", "task.decided", "stage.completed", "request.approved"]));
    // Without include_subgroups only direct members count.
    let key2 = db.stages(json!([{"name": "s", "mode": "any", "rules": [{"type": "group", "group": "/legal"}]}]));
    let r2 = db.submit(&key2, json!({}));
    assert_eq!(db.open(&r2), strs(&["dave"]));
    // The directory is read at submit time: a new role member gets tasks on new requests only.
    db.exec("select awe.grant_role('gina', 'fin')");
    let key3 = db.stages(json!([{"name": "s", "mode": "any", "rules": [{"type": "role", "role": "fin"}]}]));
    let r3 = db.submit(&key3, json!({}));
    assert_eq!(db.open(&r3), strs(&["bob", "carol", "gina"]));
    assert_eq!(db.open(&r), Vec::<String>::new());
}

#[test]
fn s11_approvers_computed_from_the_context() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "Manager", "mode": "all", "rules": [{"type": "expression", "logic": {"var": "manager"}}]}]));
    let r = db.submit(&key, json!({"manager": "mgr-7"}));
    assert_eq!(db.open(&r), strs(&["mgr-7"]));
    assert_eq!(db.decide(&r, "mgr-7", "approve"), "approved");
    assert_eq!(db.events(&r), ev(ONE_STAGE_APPROVED));
    let r2 = db.submit(&key, json!({"manager": "mgr-9"}));
    assert_eq!(db.open(&r2), strs(&["mgr-9"]));
    // A list works too, and so does computed logic.
    let key2 = db.stages(json!([{"name": "Owners", "mode": "all", "rules": [
        {"type": "expression", "logic": {"var": "owners"}},
        {"type": "expression", "logic": {"if": [{">": [{"var": "amount"}, 100]}, "boss", null]}}]}]));
    let r3 = db.submit(&key2, json!({"owners": ["o1", "o2"], "amount": 500}));
    assert_eq!(db.open(&r3), strs(&["boss", "o1", "o2"]));
    let r4 = db.submit(&key2, json!({"owners": ["o1"], "amount": 5}));
    assert_eq!(db.open(&r4), strs(&["o1"]));
    assert_eq!(db.decide(&r4, "o1", "approve"), "approved");
}

#[test]
fn s13_skip_a_stage_for_small_amounts() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "Big money", "skip_if": {"<": [{"var": "amount"}, 100]}, "rules": users(&["alice"])},
        {"name": "Always", "rules": users(&["bob"])}]));
    let small = db.submit(&key, json!({"amount": 50}));
    assert_eq!(db.open(&small), strs(&["bob"]));
    assert_eq!(small["stages"][0]["status"], "skipped");
    let skipped = events_of(&mut db, &small, "stage.skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["stage_index"], 0);
    assert_eq!(skipped[0]["data"]["reason"], "skip_if");
    assert_eq!(db.decide(&small, "bob", "approve"), "approved");
    assert_eq!(db.events(&small), ev(&["request.created", "stage.skipped", "stage.started", "task.created", "task.decided", "stage.completed", "request.approved"]));
    let big = db.submit(&key, json!({"amount": 500}));
    assert_eq!(db.open(&big), strs(&["alice"]));
    assert!(events_of(&mut db, &big, "stage.skipped").is_empty());
}

fn tier_policy(db: &mut Db) -> String {
    db.exec("select awe.grant_role('f1', 'finance'), awe.grant_role('f2', 'finance'), awe.grant_role('f3', 'finance')");
    db.stages(json!([
        {"name": "Manager", "skip_if": {"<": [{"var": "amount"}, 1000]},
         "rules": [{"type": "expression", "logic": {"var": "manager"}}]},
        {"name": "Finance", "mode": "any", "n": 2, "skip_if": {"<": [{"var": "amount"}, 10000]},
         "rules": [{"type": "role", "role": "finance"}]}]))
}

#[test]
fn s14_tier_routing_by_amount() {
    let mut db = Db::new();
    let key = tier_policy(&mut db);
    // < 1k: approved at once.
    let r = db.submit(&key, json!({"amount": 999, "manager": "mgr"}));
    assert_eq!(r["status"], "approved");
    assert_eq!(db.events(&r), ev(&["request.created", "stage.skipped", "stage.skipped", "request.approved"]));
    assert_eq!(count(&mut db, "select count(*)::text from awe.tasks where request_id = $1::text::uuid", &[&rid(&r)]), 0);
    // < 10k: the manager only.
    let r = db.submit(&key, json!({"amount": 5000, "manager": "mgr"}));
    assert_eq!(db.open(&r), strs(&["mgr"]));
    assert_eq!(db.decide(&r, "mgr", "approve"), "approved");
    assert_eq!(events_of(&mut db, &r, "stage.skipped").iter().map(|e| e["stage_index"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1]);
    // ≥ 10k: the manager, then two of finance.
    let r = db.submit(&key, json!({"amount": 10000, "manager": "mgr"}));
    assert_eq!(db.open(&r), strs(&["mgr"]));
    assert_eq!(db.decide(&r, "mgr", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["f1", "f2", "f3"]));
    assert_eq!(db.decide(&r, "f1", "approve"), "in_review");
    assert_eq!(db.decide(&r, "f3", "approve"), "approved");
    assert!(events_of(&mut db, &r, "stage.skipped").is_empty());
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".into()), (1, "approved".into())]);
}

#[test]
fn s15_nobody_resolves_block_rejects_skip_skips() {
    let mut db = Db::new();
    let block = db.stages(json!([{"name": "Ghosts", "on_empty": "block", "rules": [{"type": "role", "role": "nobody-has-this"}]},
                                 {"name": "Next", "rules": users(&["z"])}]));
    let r = db.submit(&block, json!({}));
    assert_eq!(r["status"], "rejected");
    assert_eq!(db.events(&r), ev(&["request.created", "stage.completed", "request.rejected"]));
    let done = events_of(&mut db, &r, "stage.completed");
    assert_eq!(done[0]["data"]["outcome"], "rejected");
    assert!(done[0]["data"]["reason"].as_str().unwrap().contains("no approver"), "{}", done[0]);
    assert!(all_tasks_of(&mut db, &r, "z").is_empty());
    // block is the default.
    let default = db.stages(json!([{"name": "Ghosts", "rules": [{"type": "role", "role": "nobody-has-this"}]}]));
    assert_eq!(db.submit(&default, json!({}))["status"], "rejected");
    // skip: the stage is skipped and the next one runs.
    let skip = db.stages(json!([{"name": "Ghosts", "on_empty": "skip", "rules": [{"type": "role", "role": "nobody-has-this"}]},
                                {"name": "Next", "rules": users(&["z"])}]));
    let r = db.submit(&skip, json!({}));
    assert_eq!(r["status"], "in_review");
    assert_eq!(db.open(&r), strs(&["z"]));
    let sk = events_of(&mut db, &r, "stage.skipped");
    assert_eq!((sk[0]["stage_index"].as_i64(), sk[0]["data"]["on_empty"].as_str()), (Some(0), Some("skip")));
    assert_eq!(db.events(&r), ev(&["request.created", "stage.skipped", "stage.started", "task.created"]));
    // Fewer approvers than n is handled like nobody.
    let few = db.stages(json!([{"name": "Panel", "mode": "any", "n": 3, "rules": [{"type": "expression", "logic": {"var": "panel"}}]}]));
    let r = db.submit(&few, json!({"panel": ["p1", "p2"]}));
    assert_eq!(r["status"], "rejected");
    assert!(events_of(&mut db, &r, "task.created").is_empty());
    let r = db.submit(&few, json!({"panel": ["p1", "p2", "p3"]}));
    assert_eq!(r["status"], "in_review");
}

#[test]
fn s16_every_stage_skipped_approves_at_once() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "A", "skip_if": {"==": [1, 1]}, "rules": users(&["a"])},
        {"name": "B", "skip_if": {"var": "small"}, "rules": users(&["b"])},
        {"name": "C", "on_empty": "skip", "rules": [{"type": "expression", "logic": {"var": "nobody"}}]}]));
    let r = db.submit(&key, json!({"small": true}));
    assert_eq!(r["status"], "approved");
    assert_eq!(db.status(&r), "approved");
    assert_eq!(db.events(&r), ev(&["request.created", "stage.skipped", "stage.skipped", "stage.skipped", "request.approved"]));
    assert_eq!(count(&mut db, "select count(*)::text from awe.tasks where request_id = $1::text::uuid", &[&rid(&r)]), 0);
    let got = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]);
    assert!(got["decided_at"].is_string());
}

#[test]
fn s19_delegation_window_chained_and_cycle_safe() {
    let mut db = Db::new();
    // a → b → c: the task goes to the end of the chain, both names kept.
    delegate(&mut db, "a", "b");
    delegate(&mut db, "b", "c");
    let key = db.stages(json!([{"name": "s", "rules": users(&["a"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["c"]));
    assert_eq!(r["tasks"][0]["delegated_from"], "a");
    let created = events_of(&mut db, &r, "task.created");
    assert_eq!(created[0]["data"]["delegated_from"], "a");
    let t = db.task_of(&r, "c");
    // The delegator no longer decides a task that was sent to the delegate.
    let e = db.try_decide(&t, "a", "approve").unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-NOT-ASSIGNEE", "PT403"));
    assert_eq!(db.decide(&r, "c", "approve"), "approved");
    assert_eq!(db.events(&r), ev(ONE_STAGE_APPROVED));

    // A cycle x → y → x keeps the original assignee.
    delegate(&mut db, "x", "y");
    delegate(&mut db, "y", "x");
    let key2 = db.stages(json!([{"name": "s", "rules": users(&["x"])}]));
    let r2 = db.submit(&key2, json!({}));
    assert_eq!(db.open(&r2), strs(&["x"]));
    assert!(r2["tasks"][0]["delegated_from"].is_null());
    assert_eq!(db.decide(&r2, "x", "approve"), "approved");

    // A task created before the window: the active delegate may decide it for the delegator.
    let key3 = db.stages(json!([{"name": "s", "rules": users(&["pat"])}]));
    let r3 = db.submit(&key3, json!({}));
    assert_eq!(db.open(&r3), strs(&["pat"]));
    let t3 = db.task_of(&r3, "pat");
    assert_eq!(db.try_decide(&t3, "quinn", "approve").unwrap_err().code(), "AWE-NOT-ASSIGNEE");
    let d = delegate(&mut db, "pat", "quinn");
    // The delegate sees it in their inbox.
    let inbox = db.column("select task_id::text from awe.inbox('quinn')", &[]);
    assert_eq!(inbox, vec![t3.clone()]);
    let out = db.try_decide(&t3, "quinn", "approve").unwrap();
    assert_eq!(out["status"], "approved");
    let decided = events_of(&mut db, &r3, "task.decided");
    assert_eq!((decided[0]["actor"].as_str(), decided[0]["data"]["on_behalf_of"].as_str()), (Some("quinn"), Some("pat")));

    // A revoked window sends tasks back to the principal.
    db.exec(&format!("select awe.revoke_delegation('{d}')"));
    let r4 = db.submit(&key3, json!({}));
    assert_eq!(db.open(&r4), strs(&["pat"]));
    // A window in the future does nothing yet.
    db.json("select awe.set_delegation('pat', 'rita', now() + interval '1 day', now() + interval '2 days')::text", &[]);
    let r5 = db.submit(&key3, json!({}));
    assert_eq!(db.open(&r5), strs(&["pat"]));
}

/// With a chain a → b → c set up after a's task was created, the inbox shows
/// a's task to b (b is a's active delegate) with approve/reject among its
/// actions, but decide only accepts the end of the chain (c), and c's inbox
/// does not show the task at all.
#[test]
fn s19_chained_delegate_can_act_on_what_the_inbox_offers() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["a"])}]));
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "a");
    delegate(&mut db, "a", "b");
    delegate(&mut db, "b", "c");
    let offered = db.json("select coalesce((select json_agg(x ->> 'action') from jsonb_array_elements(available_actions) x), '[]')::text from awe.inbox('b') where task_id = $1::text::uuid", &[&t]);
    let shown_to_c = count(&mut db, "select count(*)::text from awe.inbox('c') where task_id = $1::text::uuid", &[&t]);
    let b_decides = db.try_decide(&t, "b", "approve");
    assert!(offered.as_array().is_some_and(|a| a.contains(&json!("approve"))), "b is offered approve: {offered}");
    assert!(b_decides.is_ok(), "b was offered approve but got {:?} (task shown in c's inbox: {shown_to_c})", b_decides.err());
}

#[test]
fn s20_admin_reassigns_a_stuck_task() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["alice", "carl"])}]));
    let r = db.submit(&key, json!({}));
    let old = db.task_of(&r, "alice");
    db.act_as("admin");
    let out = db.json("select awe.reassign($1::text::uuid, 'bob', 'alice is on leave')::text", &[&old]);
    let new_id = out["new_task_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old);
    assert_eq!(db.open(&r), strs(&["bob", "carl"]));
    assert_eq!(task_states(&mut db, &r), strs(&["alice:reassigned", "bob:open", "carl:open"]));
    // The old task is closed for good.
    assert_eq!(db.try_decide(&old, "alice", "approve").unwrap_err().code(), "AWE-TASK-CLOSED");
    // Reassigning to someone who already holds a task on the stage is refused.
    let e = db.try_json("select awe.reassign($1::text::uuid, 'carl')::text", &[&new_id]).unwrap_err();
    assert_eq!(e.code(), "AWE-BAD-INPUT");
    assert_eq!(db.decide(&r, "carl", "approve"), "in_review");
    assert_eq!(db.try_decide(&new_id, "bob", "approve").unwrap()["status"], "approved");
    let re = events_of(&mut db, &r, "task.reassigned");
    assert_eq!(re.len(), 1);
    assert_eq!((re[0]["data"]["from"].as_str(), re[0]["data"]["to"].as_str(), re[0]["actor"].as_str()), (Some("alice"), Some("bob"), Some("admin")));
    assert_eq!(re[0]["data"]["new_task_id"].as_str(), Some(new_id.as_str()));
    assert_eq!(db.events(&r), ev(&[
        "request.created", "stage.started", "task.created", "task.created", "task.reassigned",
        "task.decided", "task.decided", "stage.completed", "request.approved"]));
}

#[test]
fn s21_observer_never_blocks() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": [
        {"type": "user", "user": "alice"}, {"type": "user", "user": "olga", "kind": "observer"}]}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.open(&r), strs(&["alice", "olga"]));
    let obs = r["tasks"].as_array().unwrap().iter().find(|t| t["assignee"] == "olga").unwrap().clone();
    assert_eq!(obs["kind"], "observer");
    let ot = obs["task_id"].as_str().unwrap().to_string();
    for d in ["approve", "reject", "abstain", "request_changes"] {
        let e = db.try_decide(&ot, "olga", d).unwrap_err();
        assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-ACTION-NOT-ALLOWED", "PT409"), "{d}");
    }
    // The observer's inbox only offers comment: claiming signals an intent
    // to decide, which an observer cannot.
    let actions = db.json("select coalesce((select json_agg(x ->> 'action') from jsonb_array_elements(available_actions) x), '[]')::text from awe.inbox('olga')", &[]);
    assert_eq!(actions, json!(["comment"]));
    db.act_as("olga");
    db.json("select awe.comment($1::text::uuid, 'looks fine to me', $2::text::uuid)::text", &[&rid(&r), &ot]);
    assert_eq!(db.decide(&r, "alice", "approve"), "approved", "the observer's open task does not hold the stage");
    assert_eq!(task_states(&mut db, &r), strs(&["alice:approved", "olga:skipped"]));
    let c = events_of(&mut db, &r, "comment.added");
    assert_eq!((c[0]["actor"].as_str(), c[0]["data"]["body"].as_str()), (Some("olga"), Some("looks fine to me")));
    assert_eq!(db.events(&r), ev(&[
        "request.created", "stage.started", "task.created", "task.created", "comment.added",
        "task.decided", "stage.completed", "request.approved"]));
}

#[test]
fn s22_requester_cannot_approve_own_request() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_self_approval": true}),
        json!([{"name": "s", "mode": "all", "rules": users(&["rex", "alice"])}]));
    let r = submit_full(&mut db, &key, "doc", json!({}), "rex").unwrap();
    assert_eq!(db.open(&r), strs(&["alice"]));
    let started = events_of(&mut db, &r, "stage.started");
    assert_eq!(started[0]["data"]["excluded"], json!([{"principal": "rex", "reason": "self_approval"}]));
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    assert_eq!(db.events(&r), ev(ONE_STAGE_APPROVED));
    // Without a requester the policy cannot be enforced: refused, nothing written.
    let before = count(&mut db, "select count(*)::text from awe.requests", &[]);
    let e = submit_full(&mut db, &key, "doc", json!({}), "").unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-REQUESTER-REQUIRED", "22023"));
    assert_eq!(count(&mut db, "select count(*)::text from awe.requests", &[]), before);
    // If the requester is the only approver, the stage is empty → blocked.
    let key2 = policy_with(&mut db, json!({"forbid_self_approval": true}), json!([{"name": "s", "rules": users(&["rex"])}]));
    assert_eq!(submit_full(&mut db, &key2, "doc", json!({}), "rex").unwrap()["status"], "rejected");
}

/// forbid_self_approval keeps the requester from being a *delegate* at
/// resolution time, but a delegation window opened after the task exists
/// lets the requester decide it and approve their own request.
#[test]
fn s22_requester_cannot_approve_through_a_delegation() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_self_approval": true}), json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = submit_full(&mut db, &key, "doc", json!({}), "rex").unwrap();
    let t = db.task_of(&r, "alice");
    delegate(&mut db, "alice", "rex");
    let res = db.try_decide(&t, "rex", "approve");
    assert!(res.is_err(), "the requester approved their own request: {res:?}");
    assert_eq!(db.status(&r), "in_review");
}

#[test]
fn s23_nobody_approves_two_stages() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_repeat_approvers": true}), json!([
        {"name": "First", "rules": users(&["alice"])},
        {"name": "Second", "mode": "all", "rules": users(&["alice", "bob"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "alice", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["bob"]));
    let started = events_of(&mut db, &r, "stage.started");
    assert_eq!(started[1]["data"]["excluded"], json!([{"principal": "alice", "reason": "repeat_approver"}]));
    assert_eq!(db.decide(&r, "bob", "approve"), "approved");
    assert_eq!(all_tasks_of(&mut db, &r, "alice"), strs(&["approved"]));
    assert_eq!(db.events(&r), ev(&["request.created", "stage.started", "task.created", "task.decided", "stage.completed",
        "stage.started", "task.created", "task.decided", "stage.completed", "request.approved"]));
    // Without the flag alice gets both.
    let key2 = db.stages(json!([{"name": "First", "rules": users(&["alice"])}, {"name": "Second", "mode": "all", "rules": users(&["alice", "bob"])}]));
    let r2 = db.submit(&key2, json!({}));
    db.decide(&r2, "alice", "approve");
    assert_eq!(db.open(&r2), strs(&["alice", "bob"]));
}

/// The same hole for forbid_repeat_approvers: the approver of stage one
/// approves stage two as the stage-two approver's delegate.
#[test]
fn s23_repeat_approval_through_a_delegation_is_refused() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"forbid_repeat_approvers": true}), json!([
        {"name": "First", "rules": users(&["alice"])}, {"name": "Second", "rules": users(&["bob"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "alice", "approve"), "in_review");
    let t = db.task_of(&r, "bob");
    delegate(&mut db, "bob", "alice");
    let res = db.try_decide(&t, "alice", "approve");
    assert!(res.is_err(), "alice approved two stages: {res:?}");
    assert_eq!(db.status(&r), "in_review");
}

#[test]
fn s24_conflict_of_interest_excluded() {
    let mut db = Db::new();
    let key = policy_with(&mut db,
        json!({"exclude": [{"type": "expression", "logic": {"var": "conflicted"}}]}),
        json!([{"name": "s", "mode": "all", "rules": users(&["alice", "bob", "carol"]),
                "exclude": [{"type": "user", "user": "carol"}]}]));
    let r = db.submit(&key, json!({"conflicted": "bob"}));
    assert_eq!(db.open(&r), strs(&["alice"]));
    let started = events_of(&mut db, &r, "stage.started");
    let mut ex: Vec<String> = started[0]["data"]["excluded"].as_array().unwrap().iter()
        .map(|e| format!("{}:{}", e["principal"].as_str().unwrap(), e["reason"].as_str().unwrap())).collect();
    ex.sort();
    assert_eq!(ex, strs(&["bob:excluded", "carol:excluded"]));
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    assert_eq!(db.events(&r), ev(ONE_STAGE_APPROVED));
    // A different context excludes someone else.
    let r2 = db.submit(&key, json!({"conflicted": "alice"}));
    assert_eq!(db.open(&r2), strs(&["bob"]));
}

#[test]
fn s25_request_changes_then_resubmit_re_resolves() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "Intake", "rules": users(&["ian"])},
        {"name": "Review", "rules": [{"type": "expression", "logic": {"var": "reviewer"}}]}]));
    let r = db.submit(&key, json!({"reviewer": "r1", "title": "draft"}));
    assert_eq!(db.decide(&r, "ian", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["r1"]));
    assert_eq!(db.decide(&r, "r1", "request_changes"), "changes_requested");
    assert_eq!(db.open(&r), strs(&["requester"]), "only the requester's revision task is open");
    assert_eq!(all_tasks_of(&mut db, &r, "r1"), strs(&["changes_requested"]));
    db.act_as("requester");
    let out = db.json("select awe.resubmit($1::text::uuid, $2::text::jsonb, 'fixed the title')::text",
        &[&rid(&r), &json!({"reviewer": "r2", "title": "final"}).to_string()]);
    assert_eq!((out["status"].as_str(), out["revision"].as_i64()), (Some("in_review"), Some(2)));
    assert_eq!(db.open(&r), strs(&["r2"]), "the stage re-resolved with the new context");
    assert_eq!(all_tasks_of(&mut db, &r, "ian"), strs(&["approved"]), "the passed stage is not asked again");
    let ctx = db.json("select context::text from awe.requests where request_id = $1::text::uuid", &[&rid(&r)]);
    assert_eq!(ctx["title"], "final");
    assert_eq!(db.decide(&r, "r2", "approve"), "approved");
    let types = db.events(&r);
    let pos = |t: &str| types.iter().position(|x| x == t).unwrap_or_else(|| panic!("{t} missing from {types:?}"));
    assert!(pos("request.changes_requested") < pos("request.resubmitted"));
    assert_eq!(types.last().unwrap(), "request.approved");
    let resub = events_of(&mut db, &r, "request.resubmitted");
    assert_eq!((resub[0]["actor"].as_str(), resub[0]["data"]["revision"].as_i64()), (Some("requester"), Some(2)));
    // The send-back supersedes other open tasks of the step.
    let key2 = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["a", "b"])}]));
    let r2 = db.submit(&key2, json!({}));
    assert_eq!(db.decide(&r2, "a", "request_changes"), "changes_requested");
    assert_eq!(task_states(&mut db, &r2), strs(&["a:changes_requested", "b:superseded", "requester:open"]));
    // The requester's revision task offers resubmit and withdraw, in their inbox.
    let offered = db.json("select (select json_agg(x ->> 'action') from jsonb_array_elements(available_actions) x)::text
                             from awe.inbox('requester') where request_id = $1::text::uuid and kind = 'revision'", &[&rid(&r2)]);
    assert_eq!(offered, json!(["resubmit", "withdraw", "comment"]));
    db.act_as("requester");
    db.json("select awe.resubmit($1::text::uuid, '{}')::text", &[&rid(&r2)]);
    assert_eq!(db.open(&r2), strs(&["a", "b"]));
    assert!(task_states(&mut db, &r2).contains(&"requester:completed".to_string()));
    assert_eq!(db.decide(&r2, "a", "approve"), "in_review");
    assert_eq!(db.decide(&r2, "b", "approve"), "approved");
}

#[test]
fn s26_withdraw_after_send_back() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "alice", "request_changes"), "changes_requested");
    // The requester gives up.
    db.act_as("requester");
    let out = db.json("select awe.withdraw($1::text::uuid, 'not worth it')::text", &[&rid(&r)]);
    assert_eq!(out["status"], "cancelled");
    assert_eq!(db.status(&r), "cancelled");
    let c = events_of(&mut db, &r, "request.cancelled");
    assert_eq!((c[0]["data"]["withdrawn"].as_bool(), c[0]["data"]["reason"].as_str(), c[0]["actor"].as_str()),
        (Some(true), Some("not worth it"), Some("requester")));
    assert_eq!(db.events(&r), ev(&["request.created", "stage.started", "task.created", "task.decided",
        "request.changes_requested", "request.cancelled"]));
    // A withdrawn request cannot be resubmitted.
    let e = db.try_json("select awe.resubmit($1::text::uuid, '{}')::text", &[&rid(&r)]).unwrap_err();
    assert_eq!(e.code(), "AWE-REQUEST-STATE");
}

#[test]
fn s27_caller_cancels_mid_flight() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["a", "b"])}, {"name": "t", "rules": users(&["z"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "a", "approve"), "in_review");
    let tb = db.task_of(&r, "b");
    db.act_as("caller-service");
    let out = db.json("select awe.cancel($1::text::uuid, 'artifact deleted')::text", &[&rid(&r)]);
    assert_eq!(out["status"], "cancelled");
    assert_eq!(task_states(&mut db, &r), strs(&["a:approved", "b:cancelled"]));
    let e = db.try_decide(&tb, "b", "approve").unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-TASK-CLOSED", "PT409"));
    assert_eq!(db.status(&r), "cancelled");
    let c = events_of(&mut db, &r, "request.cancelled");
    assert_eq!((c[0]["data"]["withdrawn"].as_bool(), c[0]["actor"].as_str()), (Some(false), Some("caller-service")));
    assert_eq!(db.events(&r).last().unwrap(), "request.cancelled");
    assert!(all_tasks_of(&mut db, &r, "z").is_empty());
    // Cancelling twice is a state error.
    assert_eq!(db.try_json("select awe.cancel($1::text::uuid)::text", &[&rid(&r)]).unwrap_err().code(), "AWE-REQUEST-STATE");
}

#[test]
fn s28_abstention_leaves_the_denominator() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["a", "b", "c"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "a", "abstain"), "in_review");
    assert_eq!(db.decide(&r, "b", "approve"), "in_review");
    assert_eq!(db.decide(&r, "c", "approve"), "approved", "all = every live approver; the abstainer is not one");
    assert_eq!(task_states(&mut db, &r), strs(&["a:abstained", "b:approved", "c:approved"]));
    assert_eq!(db.events(&r), ev(&["request.created", "stage.started", "task.created", "task.created", "task.created",
        "task.decided", "task.decided", "task.decided", "stage.completed", "request.approved"]));
    let abst = events_of(&mut db, &r, "task.decided");
    assert_eq!(abst[0]["data"]["decision"], "abstain");
    // Percentage: 60 % of 5 needs 3, but with two abstentions 60 % of 3 needs 2.
    let pkey = db.stages(json!([{"name": "s", "mode": "percentage", "p": 60, "rules": users(&["m1", "m2", "m3", "m4", "m5"])}]));
    let r = db.submit(&pkey, json!({}));
    assert_eq!(db.decide(&r, "m1", "abstain"), "in_review");
    assert_eq!(db.decide(&r, "m2", "abstain"), "in_review");
    assert_eq!(db.decide(&r, "m3", "approve"), "in_review");
    assert_eq!(db.decide(&r, "m4", "approve"), "approved");
    // Everyone abstains: on_empty applies — block rejects, skip skips.
    let block = db.stages(json!([{"name": "s", "rules": users(&["a", "b"])}]));
    let r = db.submit(&block, json!({}));
    assert_eq!(db.decide(&r, "a", "abstain"), "in_review");
    assert_eq!(db.decide(&r, "b", "abstain"), "rejected");
    assert_eq!(outcomes(&mut db, &r), vec![(0, "rejected".into())]);
    assert_eq!(db.events(&r).last().unwrap(), "request.rejected");
    let skip = db.stages(json!([{"name": "s", "on_empty": "skip", "rules": users(&["a", "b"])}, {"name": "t", "rules": users(&["z"])}]));
    let r = db.submit(&skip, json!({}));
    assert_eq!(db.decide(&r, "a", "abstain"), "in_review");
    assert_eq!(db.decide(&r, "b", "abstain"), "in_review");
    assert_eq!(db.open(&r), strs(&["z"]));
    assert_eq!(events_of(&mut db, &r, "stage.skipped")[0]["stage_index"], 0);
}

#[test]
fn s29_retried_submit_creates_one_request() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let artifact = unique("a");
    let sql = "select awe.submit($1, 'doc', $2, $3::text::jsonb, 'req', null, $4)::text";
    let ctx = json!({"amount": 10}).to_string();
    let first = db.json(sql, &[&key, &artifact, &ctx, "key-1"]);
    let again = db.json(sql, &[&key, &artifact, &ctx, "key-1"]);
    assert_eq!(first["request_id"], again["request_id"]);
    assert_eq!(again["status"], "in_review");
    let n = count(&mut db, "select count(*)::text from awe.requests where artifact_id = $1", &[&artifact]);
    assert_eq!(n, 1);
    assert_eq!(count(&mut db, "select count(*)::text from awe.tasks where request_id = $1::text::uuid", &[&rid(&first)]), 1);
    assert_eq!(db.events(&first), ev(&["request.created", "stage.started", "task.created"]), "the retry wrote no events");
    // Same key, different body: a conflict, and still one request.
    let other = json!({"amount": 11}).to_string();
    let e = db.try_json(sql, &[&key, &artifact, &other, "key-1"]).unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-IDEMPOTENCY-CONFLICT", "PT409"));
    assert_eq!(count(&mut db, "select count(*)::text from awe.requests where artifact_id = $1", &[&artifact]), 1);
    // A new key is a new request.
    let third = db.json(sql, &[&key, &artifact, &ctx, "key-2"]);
    assert_ne!(third["request_id"], first["request_id"]);
    // Keys are per tenant: another tenant can use the same key.
    let mut other_tenant = Db::new();
    let key_b = other_tenant.stages(json!([{"name": "s", "rules": users(&["alice"])}]));
    let b = other_tenant.json(sql, &[&key_b, &artifact, &ctx, "key-1"]);
    assert_ne!(b["request_id"], first["request_id"]);
}

#[test]
fn s30_policy_edits_never_affect_requests_in_flight() {
    let mut db = Db::new();
    let key = unique("p");
    let v1 = json!({"key": key, "artifact_type": "doc", "stages": [
        {"name": "One", "rules": users(&["a"])}, {"name": "Two", "rules": users(&["b"])}]});
    db.policy(v1);
    let r1 = db.submit(&key, json!({}));
    let v2 = json!({"key": key, "artifact_type": "doc", "stages": [{"name": "Only", "rules": users(&["c"])}]});
    db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&v2.to_string()]);
    db.json("select awe.activate_policy($1, 2)::text", &[&key]);
    let r2 = db.submit(&key, json!({}));
    assert_eq!((r1["policy_version"].as_i64(), r2["policy_version"].as_i64()), (Some(1), Some(2)));
    assert_eq!(db.open(&r2), strs(&["c"]));
    // r1 keeps following v1, stage after stage.
    assert_eq!(db.decide(&r1, "a", "approve"), "in_review");
    assert_eq!(db.open(&r1), strs(&["b"]));
    assert_eq!(db.decide(&r1, "b", "approve"), "approved");
    assert_eq!(db.events(&r1), ev(&["request.created", "stage.started", "task.created", "task.decided", "stage.completed",
        "stage.started", "task.created", "task.decided", "stage.completed", "request.approved"]));
    // Even a deactivated policy lets its requests in flight finish.
    let r3 = db.submit(&key, json!({}));
    db.json("select awe.deactivate_policy($1)::text", &[&key]);
    assert_eq!(db.decide(&r3, "c", "approve"), "approved");
    assert_eq!(db.try_submit(&key, json!({}), Some("x")).unwrap_err().code(), "AWE-POLICY-NOT-ACTIVE");
}

#[test]
fn s31_simulate_writes_nothing() {
    let mut db = Db::new();
    let key = tier_policy(&mut db);
    let counts = |db: &mut Db| db.column(
        "select (select count(*) from awe.request where tenant_id = $1) || '/' || (select count(*) from awe.task where tenant_id = $1)
                || '/' || (select count(*) from awe.event where tenant_id = $1) || '/' || (select count(*) from awe.idempotency_key where tenant_id = $1)",
        &[&db.tenant.clone()]).remove(0);
    let before = counts(&mut db);
    let small = db.json("select awe.simulate($1, '{\"amount\": 10, \"manager\": \"mgr\"}')::text", &[&key]);
    assert_eq!(small["prediction"], "approved_at_once");
    let outcomes: Vec<&str> = small["stages"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["skipped", "skipped"]);
    let big = db.json("select awe.simulate($1, '{\"amount\": 50000, \"manager\": \"mgr\"}')::text", &[&key]);
    assert_eq!(big["prediction"], "needs_review");
    assert_eq!(big["stages"][0]["approvers"][0]["principal"], "mgr");
    let fin: Vec<&str> = big["stages"][1]["approvers"].as_array().unwrap().iter().map(|a| a["principal"].as_str().unwrap()).collect();
    assert_eq!(fin, vec!["f1", "f2", "f3"]);
    // Self-approval shows up as an exclusion when the requester is given.
    let sod = policy_with(&mut db, json!({"forbid_self_approval": true}), json!([{"name": "s", "rules": [{"type": "role", "role": "finance"}]}]));
    let s = db.json("select awe.simulate($1, '{}', null, 'f2')::text", &[&sod]);
    assert_eq!(s["stages"][0]["excluded"], json!([{"principal": "f2", "reason": "self_approval"}]));
    // Nobody resolves + block → blocked.
    let empty = db.stages(json!([{"name": "s", "rules": [{"type": "role", "role": "ghosts"}]}]));
    let s = db.json("select awe.simulate($1, '{}')::text", &[&empty]);
    assert_eq!((s["prediction"].as_str(), s["stages"][0]["outcome"].as_str()), (Some("blocked"), Some("empty")));
    // A specific (draft) version can be simulated.
    let v2 = json!({"key": empty, "artifact_type": "doc", "stages": [{"name": "s", "rules": users(&["zed"])}]});
    db.json("select awe.create_policy_version($1::text::jsonb)::text", &[&v2.to_string()]);
    let s = db.json("select awe.simulate($1, '{}', 2)::text", &[&empty]);
    assert_eq!((s["prediction"].as_str(), s["stages"][0]["approvers"][0]["principal"].as_str()), (Some("needs_review"), Some("zed")));
    assert_eq!(counts(&mut db), before, "simulate wrote nothing");
}

// ---- the expense-report example ------------------------------------------------

fn expense_setup(db: &mut Db) {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/expense-report.yaml")).unwrap();
    let out = db.json("select awe.import_policy($1)::text", &[&yaml]);
    db.json("select awe.activate_policy('expense.report', $1::text::int)::text", &[&out["version"].to_string()]);
    // f1, f2 are finance approvers; the submitter and the manager are members too.
    db.exec("select awe.add_to_group('f1', '/finance/approvers'), awe.add_to_group('f2', '/finance/approvers'),
                    awe.add_to_group('sam', '/finance/approvers'), awe.add_to_group('mia', '/finance/approvers'),
                    awe.grant_role('dirk', 'finance-director')");
}

/// The example's lifecycle events. Its summarizer (`local-llm`) is not
/// registered in a test tenant, so the worker may record
/// request.summary_failed at any point; that is the summaries suite's
/// subject, not this one's.
fn expense_events(db: &mut Db, r: &Value) -> Vec<String> {
    db.events(r).into_iter().filter(|e| !e.starts_with("request.summary")).collect()
}

fn expense(db: &mut Db, amount: i64) -> Value {
    submit_full(db, "expense.report", "expense_report", json!({"amount": amount, "submitter": "sam", "manager": "mia", "currency": "USD"}), "sam").unwrap()
}

#[test]
fn expense_report_example_by_amount() {
    let mut db = Db::new();
    expense_setup(&mut db);
    // $500: approved at once.
    let r = expense(&mut db, 500);
    assert_eq!(r["status"], "approved");
    assert_eq!(expense_events(&mut db, &r), ev(&["request.created", "stage.skipped", "stage.skipped", "request.approved"]));
    // $5,000: the manager only.
    let r = expense(&mut db, 5000);
    assert_eq!(db.open(&r), strs(&["mia"]));
    assert!(r["tasks"][0]["due_at"].is_string(), "an 8h SLA sets due_at");
    assert_eq!(db.decide(&r, "mia", "approve"), "approved");
    assert_eq!(expense_events(&mut db, &r), ev(&["request.created", "stage.started", "task.created", "task.decided", "stage.completed",
        "stage.skipped", "request.approved"]));
    // $12,500: the manager, then two finance approvers who are neither the manager nor the submitter.
    let r = expense(&mut db, 12500);
    assert_eq!(db.open(&r), strs(&["mia"]));
    assert_eq!(db.decide(&r, "mia", "approve"), "in_review");
    assert_eq!(db.open(&r), strs(&["f1", "f2"]));
    let started = events_of(&mut db, &r, "stage.started");
    let mut ex: Vec<String> = started[1]["data"]["excluded"].as_array().unwrap().iter()
        .map(|e| format!("{}:{}", e["principal"].as_str().unwrap(), e["reason"].as_str().unwrap())).collect();
    ex.sort();
    assert_eq!(ex, strs(&["mia:repeat_approver", "sam:self_approval"]));
    assert_eq!(db.decide(&r, "f1", "approve"), "in_review");
    assert_eq!(db.decide(&r, "f2", "approve"), "approved");
    assert_eq!(outcomes(&mut db, &r), vec![(0, "approved".into()), (1, "approved".into())]);
    assert!(all_tasks_of(&mut db, &r, "sam").is_empty());
    assert_eq!(all_tasks_of(&mut db, &r, "mia"), strs(&["approved"]));
    // The context schema is enforced.
    let e = submit_full(&mut db, "expense.report", "expense_report", json!({"amount": 10}), "sam").unwrap_err();
    assert_eq!(e.code(), "AWE-CONTEXT-INVALID");
    // And a manager who is also the submitter is excluded: the stage is empty and blocks.
    let r = submit_full(&mut db, "expense.report", "expense_report", json!({"amount": 5000, "submitter": "sam", "manager": "sam"}), "sam").unwrap();
    assert_eq!(r["status"], "rejected");
}

// ---- inbox, claim/release/comment, verify_timeline -------------------------------

#[test]
fn inbox_pages_walk_every_task_exactly_once() {
    let mut db = Db::new();
    // Three parallel stages give ivy three tasks created in one transaction
    // (same created_at: the task_id breaks the tie), plus two more requests.
    let par = db.stages(json!([
        {"name": "A", "parallel_group": "g", "rules": users(&["ivy"])},
        {"name": "B", "parallel_group": "g", "rules": users(&["ivy"])},
        {"name": "C", "parallel_group": "g", "rules": users(&["ivy"])}]));
    let one = db.stages(json!([{"name": "s", "rules": users(&["ivy"])}]));
    db.submit(&par, json!({}));
    db.submit(&one, json!({}));
    db.submit(&one, json!({}));
    db.submit(&one, json!({"for": "someone else"}));
    let other = db.stages(json!([{"name": "s", "rules": users(&["ned"])}]));
    db.submit(&other, json!({}));
    let mut all = db.column("select task_id::text from awe.tasks where assignee = 'ivy' and status = 'open' order by task_id", &[]);
    assert_eq!(all.len(), 6);
    // Close one so that exactly 5 stay open.
    let last = db.column("select task_id::text from awe.tasks where assignee = 'ivy' and status = 'open' order by created_at desc, task_id desc limit 1", &[]).remove(0);
    db.try_decide(&last, "ivy", "approve").unwrap();
    all.retain(|t| *t != last);

    let page = |db: &mut Db, after: Option<(String, String)>| -> Vec<(String, String)> {
        let v = match after {
            None => db.json("select coalesce(json_agg(json_build_object('id', task_id, 'at', created_at)), '[]')::text
                             from awe.inbox('ivy', page_size => 2)", &[]),
            Some((at, id)) => db.json("select coalesce(json_agg(json_build_object('id', task_id, 'at', created_at)), '[]')::text
                             from awe.inbox('ivy', after_created_at => $1::text::timestamptz, after_task_id => $2::text::uuid, page_size => 2)",
                             &[&at, &id]),
        };
        v.as_array().unwrap().iter().map(|r| (r["at"].as_str().unwrap().to_string(), r["id"].as_str().unwrap().to_string())).collect()
    };
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let rows = page(&mut db, after.clone());
        sizes.push(rows.len());
        if rows.is_empty() {
            break;
        }
        after = rows.last().cloned();
        seen.extend(rows.into_iter().map(|(_, id)| id));
        assert!(sizes.len() < 10, "pagination does not terminate");
    }
    assert_eq!(sizes, vec![2, 2, 1, 0]);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no task twice: {seen:?}");
    let mut want = all.clone();
    want.sort();
    assert_eq!(sorted, want);
    // Decided tasks show with status => 'approved'; bad page sizes are refused.
    assert_eq!(db.column("select task_id::text from awe.inbox('ivy', 'approved')", &[]), vec![last]);
    assert_eq!(db.try_json("select count(*)::text from awe.inbox('ivy', page_size => 0)", &[]).unwrap_err().code(), "AWE-BAD-INPUT");
}

#[test]
fn inbox_available_actions() {
    let mut db = Db::new();
    let key = policy_with(&mut db, json!({"max_revisions": 1}), json!([{"name": "s", "mode": "all", "rules": [
        {"type": "user", "user": "amy"}, {"type": "user", "user": "cfo", "required": true}]}]));
    let r = db.submit(&key, json!({}));
    let actions = |db: &mut Db, who: &str| db.json("select coalesce((select json_agg(x ->> 'action') from jsonb_array_elements(available_actions) x), '[]')::text from awe.inbox($1, status => null) where request_id = $2::text::uuid order by created_at desc limit 1", &[who, &rid(&r)]);
    assert_eq!(actions(&mut db, "amy"), json!(["approve", "reject", "abstain", "request_changes", "comment", "claim"]));
    assert_eq!(actions(&mut db, "cfo"), json!(["approve", "reject", "request_changes", "comment", "claim"]), "required: no abstain");
    let t = db.task_of(&r, "amy");
    db.act_as("amy");
    db.json("select awe.claim($1::text::uuid)::text", &[&t]);
    assert_eq!(actions(&mut db, "amy"), json!(["approve", "reject", "abstain", "request_changes", "comment", "release"]));
    // After one revision max_revisions = 1 forbids another send-back.
    assert_eq!(db.decide(&r, "amy", "request_changes"), "changes_requested");
    assert_eq!(actions(&mut db, "cfo"), json!([]), "superseded task: nothing to do");
    db.act_as("requester");
    db.json("select awe.resubmit($1::text::uuid, '{}')::text", &[&rid(&r)]);
    assert_eq!(actions(&mut db, "amy"), json!(["approve", "reject", "abstain", "comment", "claim"]));
    let t2 = db.task_of(&r, "amy");
    let e = db.try_decide(&t2, "amy", "request_changes").unwrap_err();
    assert_eq!(e.code(), "AWE-MAX-REVISIONS");
    assert_eq!(db.decide(&r, "amy", "approve"), "in_review");
    assert_eq!(actions(&mut db, "amy"), json!([]), "decided: nothing left");
}

#[test]
fn claim_release_and_comment_are_recorded() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["amy", "ben"])}]));
    let r = db.submit(&key, json!({}));
    let t = db.task_of(&r, "amy");
    db.act_as("amy");
    let out = db.json("select awe.claim($1::text::uuid)::text", &[&t]);
    let mine = out["tasks"].as_array().unwrap().iter().find(|x| x["task_id"] == t.as_str()).unwrap().clone();
    assert_eq!(mine["claimed_by"], "amy");
    assert_eq!(db.column("select claimed_by from awe.tasks where task_id = $1::text::uuid", &[&t]), strs(&["amy"]));
    // Only someone who may decide the task claims it; only the claimer releases.
    db.act_as("ben");
    assert_eq!(db.try_json("select awe.claim($1::text::uuid)::text", &[&t]).unwrap_err().code(), "AWE-NOT-ASSIGNEE");
    assert_eq!(db.try_json("select awe.release($1::text::uuid)::text", &[&t]).unwrap_err().code(), "AWE-NOT-ASSIGNEE");
    db.act_as("amy");
    db.json("select awe.comment($1::text::uuid, 'checking the receipts', $2::text::uuid)::text", &[&rid(&r), &t]);
    db.json("select awe.release($1::text::uuid)::text", &[&t]);
    assert_eq!(db.column("select coalesce(claimed_by, '-') from awe.tasks where task_id = $1::text::uuid", &[&t]), strs(&["-"]));
    assert_eq!(db.try_json("select awe.release($1::text::uuid)::text", &[&t]).unwrap_err().code(), "AWE-ACTION-NOT-ALLOWED");
    db.act_as("requester");
    db.json("select awe.comment($1::text::uuid, 'thanks')::text", &[&rid(&r)]);
    assert_eq!(db.events(&r), ev(&["request.created", "stage.started", "task.created", "task.created",
        "task.claimed", "comment.added", "task.released", "comment.added"]));
    let tl = timeline(&mut db, &r);
    let claimed = tl.iter().find(|e| e["type"] == "task.claimed").unwrap();
    assert_eq!((claimed["actor"].as_str(), claimed["task_id"].as_str()), (Some("amy"), Some(t.as_str())));
    let comments: Vec<(Option<&str>, Option<&str>, bool)> = tl.iter().filter(|e| e["type"] == "comment.added")
        .map(|e| (e["actor"].as_str(), e["data"]["body"].as_str(), e["task_id"].is_null())).collect();
    assert_eq!(comments, vec![(Some("amy"), Some("checking the receipts"), false), (Some("requester"), Some("thanks"), true)]);
    // Comments and claims change no status.
    assert_eq!(db.status(&r), "in_review");
    assert_eq!(db.open(&r), strs(&["amy", "ben"]));
}

#[test]
fn verify_timeline_after_a_full_lifecycle() {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "One", "mode": "all", "rules": users(&["a", "b"])},
        {"name": "Two", "rules": [{"type": "expression", "logic": {"var": "who"}}]}]));
    let r = db.submit(&key, json!({"who": "c"}));
    let ta = db.task_of(&r, "a");
    db.act_as("a");
    db.json("select awe.claim($1::text::uuid)::text", &[&ta]);
    db.json("select awe.comment($1::text::uuid, 'on it')::text", &[&rid(&r)]);
    db.decide(&r, "a", "approve");
    db.act_as("admin");
    let tb = db.task_of(&r, "b");
    db.json("select awe.reassign($1::text::uuid, 'bb')::text", &[&tb]);
    db.decide(&r, "bb", "approve");
    assert_eq!(db.decide(&r, "c", "request_changes"), "changes_requested");
    db.act_as("requester");
    db.json("select awe.resubmit($1::text::uuid, '{\"who\": \"d\"}', 'again')::text", &[&rid(&r)]);
    assert_eq!(db.decide(&r, "d", "approve"), "approved");
    let n = db.events(&r).len() as i64;
    let v = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(v, json!({"valid": true, "events": n}));
    // seq is 1..n without gaps and the chain links each event to the previous one.
    let seqs: Vec<i64> = timeline(&mut db, &r).iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    let linked = db.column("select bool_and(e.prev_hash = p.hash)::text from awe.event e join awe.event p
                              on p.tenant_id = e.tenant_id and p.request_id = e.request_id and p.seq = e.seq - 1
                             where e.request_id = $1::text::uuid", &[&rid(&r)]);
    assert_eq!(linked, strs(&["true"]));
}
