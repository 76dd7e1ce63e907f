//! Scenario tests of the state machine, without Postgres.

use super::*;
use crate::policy::{parse_policy, PolicyLimits};
use crate::resolve::tests::MemDir;
use serde_json::json;

struct World {
    policy: Policy,
    dir: MemDir,
    logic: LogicCache,
    next_id: u32,
    state: RequestState,
    events: Vec<NewEvent>,
}

impl World {
    fn new(policy: Value) -> World {
        let mut logic = LogicCache::default();
        let policy = parse_policy(&policy, &PolicyLimits::default(), &mut logic).unwrap();
        let state = Machine::new_request(&policy, "r1".into(), Some("req".into()), "caller".into(), json!({}));
        World { policy, dir: MemDir::default(), logic, next_id: 0, state, events: Vec::new() }
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Machine) -> AweResult<T>) -> AweResult<T> {
        let mut counter = self.next_id;
        let mut new_id = || {
            counter += 1;
            format!("t{counter}")
        };
        let env = Env { dir: &mut self.dir, logic: &mut self.logic, new_id: &mut new_id, now: 0, max_logic_depth: 64, max_approvers_per_stage: 100 };
        let mut m = Machine::new(&self.policy, self.state.clone(), env);
        let out = f(&mut m)?;
        let (mut state, effects) = m.into_parts();
        // What the shell does after writing: new tasks are no longer new.
        state.tasks.iter_mut().for_each(|t| t.is_new = false);
        self.state = state;
        self.events.extend(effects.events);
        self.next_id = counter;
        Ok(out)
    }

    fn submit(&mut self, ctx: Value) -> AweResult<()> {
        self.state.context = ctx;
        self.run(|m| m.submit("caller", json!({})))
    }

    fn task_of(&self, who: &str) -> String {
        self.state.tasks.iter().rev().find(|t| t.assignee == who && t.status == TaskStatus::Open)
            .unwrap_or_else(|| panic!("{who} has no open task: {:?}", self.state.tasks)).id.clone()
    }

    fn decide(&mut self, who: &str, decision: Decision) -> AweResult<()> {
        let id = self.task_of(who);
        self.decide_task(&id, who, decision)
    }

    fn decide_task(&mut self, id: &str, who: &str, decision: Decision) -> AweResult<()> {
        let id = id.to_string();
        let who = who.to_string();
        self.run(move |m| m.decide(&DecisionInput { task_id: &id, actor: &who, decision, comment: Some("ok"), attachments: None, data: None }))
    }

    fn open(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.state.tasks.iter().filter(|t| t.status == TaskStatus::Open).map(|t| t.assignee.as_str()).collect();
        v.sort();
        v
    }

    fn kinds(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

fn users(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({"type": "user", "user": n})).collect())
}

fn one_stage(extra: Value, approvers: &[&str]) -> Value {
    let mut stage = json!({"name": "s", "rules": users(approvers)});
    stage.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"key": "k", "artifact_type": "d", "stages": [stage]})
}

use Decision::{Abstain, Approve, Reject, RequestChanges};

#[test]
fn s1_one_approver_one_stage() {
    let mut w = World::new(one_stage(json!({}), &["alice"]));
    w.submit(json!({})).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    w.decide("alice", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert_eq!(w.kinds(), vec!["request.created", "stage.started", "task.created", "task.decided", "stage.completed", "request.approved"]);
    assert_eq!(w.events.last().unwrap().status, RequestStatus::Approved);
}

#[test]
fn s2_sequential_stages() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "officer", "rules": users(&["o"])}, {"name": "director", "rules": users(&["d"])}, {"name": "secretary", "rules": users(&["s"])}]}));
    w.submit(json!({})).unwrap();
    assert_eq!(w.open(), vec!["o"]);
    w.decide("o", Approve).unwrap();
    assert_eq!(w.open(), vec!["d"]);
    w.decide("d", Approve).unwrap();
    w.decide("s", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert_eq!(w.state.stages, vec![StageStatus::Approved; 3]);
}

#[test]
fn s3_parallel_group_then_director() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "legal", "parallel_group": "review", "rules": users(&["l"])},
        {"name": "finance", "parallel_group": "review", "rules": users(&["f"])},
        {"name": "director", "rules": users(&["d"])}]}));
    w.submit(json!({})).unwrap();
    assert_eq!(w.open(), vec!["f", "l"]);
    w.decide("l", Approve).unwrap();
    assert_eq!(w.open(), vec!["f"], "director waits for finance");
    w.decide("f", Approve).unwrap();
    assert_eq!(w.open(), vec!["d"]);
}

#[test]
fn s3_parallel_reject_cancels_sibling() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "legal", "parallel_group": "g", "rules": users(&["l"])},
        {"name": "finance", "parallel_group": "g", "rules": users(&["f"])}]}));
    w.submit(json!({})).unwrap();
    w.decide("l", Reject).unwrap();
    assert_eq!(w.state.status, RequestStatus::Rejected);
    assert_eq!(w.state.stages, vec![StageStatus::Rejected, StageStatus::Cancelled]);
    assert!(w.open().is_empty());
}

#[test]
fn s4_all_must_approve() {
    let mut w = World::new(one_stage(json!({"mode": "all"}), &["a", "b", "c"]));
    w.submit(json!({})).unwrap();
    w.decide("a", Approve).unwrap();
    w.decide("b", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    w.decide("c", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn s5_first_two_of_five_and_rest_skipped() {
    let mut w = World::new(one_stage(json!({"mode": "any", "n": 2}), &["a", "b", "c", "d", "e"]));
    w.submit(json!({})).unwrap();
    w.decide("c", Approve).unwrap();
    w.decide("e", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    let skipped = w.state.tasks.iter().filter(|t| t.status == TaskStatus::Skipped).count();
    assert_eq!(skipped, 3);
    assert_eq!(w.decide_task("t1", "a", Approve).unwrap_err().code, Code::TaskClosed);
}

#[test]
fn s6_sixty_percent() {
    let mut w = World::new(one_stage(json!({"mode": "percentage", "p": 60, "veto": false}), &["a", "b", "c", "d", "e"]));
    w.submit(json!({})).unwrap();
    w.decide("a", Approve).unwrap();
    w.decide("b", Reject).unwrap();
    w.decide("c", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    w.decide("d", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn s7_two_of_five_plus_required_cfo() {
    let mut rules = users(&["a", "b", "c", "d", "e"]);
    rules.as_array_mut().unwrap().push(json!({"type": "user", "user": "cfo", "required": true}));
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any", "n": 2, "rules": rules}]}));
    w.submit(json!({})).unwrap();
    w.decide("cfo", Approve).unwrap();
    w.decide("a", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview, "the CFO's signature is not one of the two");
    w.decide("b", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any", "n": 2, "rules": [
        {"type": "user", "user": "a"}, {"type": "user", "user": "b"}, {"type": "user", "user": "cfo", "required": true}]}]}));
    w.submit(json!({})).unwrap();
    assert_eq!(w.decide("cfo", Abstain).unwrap_err().code, Code::ActionNotAllowed);
}

#[test]
fn s8_one_reject_stops_everything() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "s1", "mode": "any", "n": 1, "rules": users(&["a", "b"])}, {"name": "s2", "rules": users(&["c"])}]}));
    w.submit(json!({})).unwrap();
    w.decide("a", Reject).unwrap();
    assert_eq!(w.state.status, RequestStatus::Rejected);
    assert_eq!(w.state.stages, vec![StageStatus::Rejected, StageStatus::Cancelled], "a later stage never starts: cancelled");
    assert_eq!(w.kinds().last(), Some(&"request.rejected"));
}

#[test]
fn s9_committee_without_veto() {
    let mut w = World::new(one_stage(json!({"mode": "any", "n": 2, "veto": false}), &["a", "b", "c"]));
    w.submit(json!({})).unwrap();
    w.decide("a", Reject).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    w.decide("b", Reject).unwrap();
    assert_eq!(w.state.status, RequestStatus::Rejected, "2 of 3 can no longer be reached");
}

#[test]
fn s13_s14_s16_tier_routing_and_all_skipped() {
    let policy = json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "manager", "rules": users(&["m"]), "skip_if": {"<": [{"var": "amount"}, 1000]}},
        {"name": "finance", "mode": "any", "n": 2, "rules": users(&["f1", "f2", "f3"]), "skip_if": {"<": [{"var": "amount"}, 10000]}}]});
    let mut small = World::new(policy.clone());
    small.submit(json!({"amount": 5})).unwrap();
    assert_eq!(small.state.status, RequestStatus::Approved);
    assert_eq!(small.kinds(), vec!["request.created", "stage.skipped", "stage.skipped", "request.approved"]);
    let mut mid = World::new(policy.clone());
    mid.submit(json!({"amount": 5000})).unwrap();
    mid.decide("m", Approve).unwrap();
    assert_eq!(mid.state.status, RequestStatus::Approved);
    assert_eq!(mid.state.stages, vec![StageStatus::Approved, StageStatus::Skipped]);
    let mut big = World::new(policy);
    big.submit(json!({"amount": 50000})).unwrap();
    big.decide("m", Approve).unwrap();
    assert_eq!(big.open(), vec!["f1", "f2", "f3"]);
}

#[test]
fn s15_nobody_resolves_block_or_skip() {
    let policy = |on_empty: &str| json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "s", "rules": [{"type": "role", "role": "nobody"}], "on_empty": on_empty},
        {"name": "t", "rules": users(&["x"])}]});
    let mut block = World::new(policy("block"));
    block.submit(json!({})).unwrap();
    assert_eq!(block.state.status, RequestStatus::Rejected);
    let completed = block.events.iter().find(|e| e.kind == "stage.completed").unwrap();
    assert_eq!(completed.data["reason"], "no approver resolved");
    let mut skip = World::new(policy("skip"));
    skip.submit(json!({})).unwrap();
    assert_eq!(skip.state.stages[0], StageStatus::Skipped);
    assert_eq!(skip.open(), vec!["x"]);
}

#[test]
fn s19_delegate_gets_the_task_and_delegator_cannot_decide() {
    let mut w = World::new(one_stage(json!({}), &["boss"]));
    w.dir.delegations.insert("boss".into(), "deputy".into());
    w.submit(json!({})).unwrap();
    let t = w.state.tasks[0].clone();
    assert_eq!((t.assignee.as_str(), t.delegated_from.as_deref()), ("deputy", Some("boss")));
    assert_eq!(w.decide_task(&t.id, "boss", Approve).unwrap_err().code, Code::NotAssignee);
    w.decide_task(&t.id, "deputy", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn delegation_created_after_the_task_lets_the_delegate_decide() {
    let mut w = World::new(one_stage(json!({}), &["boss"]));
    w.submit(json!({})).unwrap();
    w.dir.delegations.insert("boss".into(), "deputy".into());
    let id = w.task_of("boss");
    assert_eq!(w.decide_task(&id, "mallory", Approve).unwrap_err().code, Code::NotAssignee);
    w.decide_task(&id, "deputy", Approve).unwrap();
    let decided = w.events.iter().find(|e| e.kind == "task.decided").unwrap();
    assert_eq!((decided.actor.as_str(), &decided.data["on_behalf_of"]), ("deputy", &json!("boss")));
}

#[test]
fn s20_reassign_moves_the_vote() {
    let mut w = World::new(one_stage(json!({"mode": "all"}), &["a", "b"]));
    w.submit(json!({})).unwrap();
    let id = w.task_of("b");
    w.run(|m| m.reassign("admin", &id, "c", Some("b left"))).unwrap();
    assert_eq!(w.open(), vec!["a", "c"]);
    w.decide("a", Approve).unwrap();
    w.decide("c", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert_eq!(w.run(|m| m.reassign("admin", &id, "d", None)).unwrap_err().code, Code::TaskClosed);
}

#[test]
fn s21_observer_never_blocks() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [
        {"type": "user", "user": "a"}, {"type": "user", "user": "watcher", "kind": "observer"}]}]}));
    w.submit(json!({})).unwrap();
    assert_eq!(w.decide("watcher", Approve).unwrap_err().code, Code::ActionNotAllowed);
    w.decide("a", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert!(w.open().is_empty(), "observer task closed as skipped");
}

#[test]
fn s22_self_approval_needs_a_requester_and_removes_it() {
    let p = json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true, "stages": [{"name": "s", "rules": users(&["req", "other"])}]});
    let mut w = World::new(p.clone());
    w.submit(json!({})).unwrap();
    assert_eq!(w.open(), vec!["other"]);
    let mut anon = World::new(p);
    anon.state.requester = None;
    assert_eq!(anon.submit(json!({})).unwrap_err().code, Code::RequesterRequired);
}

#[test]
fn s23_nobody_approves_two_stages() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_repeat_approvers": true, "stages": [
        {"name": "s1", "rules": users(&["a"])}, {"name": "s2", "mode": "any", "rules": users(&["a", "b"])}]}));
    w.submit(json!({})).unwrap();
    w.decide("a", Approve).unwrap();
    assert_eq!(w.open(), vec!["b"]);
}

#[test]
fn s23_parallel_stages_refuse_a_second_approval() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_repeat_approvers": true, "stages": [
        {"name": "s1", "parallel_group": "g", "mode": "any", "rules": users(&["a", "b"])},
        {"name": "s2", "parallel_group": "g", "mode": "any", "rules": users(&["a", "c"])}]}));
    w.submit(json!({})).unwrap();
    let first = w.state.tasks.iter().find(|t| t.assignee == "a" && t.stage == 0).unwrap().id.clone();
    let second = w.state.tasks.iter().find(|t| t.assignee == "a" && t.stage == 1).unwrap().id.clone();
    w.decide_task(&first, "a", Approve).unwrap();
    assert_eq!(w.decide_task(&second, "a", Approve).unwrap_err().code, Code::ActionNotAllowed);
}

#[test]
fn s24_exclude_conflict_of_interest() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any", "rules": users(&["a", "b"]),
        "exclude": [{"type": "expression", "logic": {"var": "vendor_contact"}}]}]}));
    w.submit(json!({"vendor_contact": "a"})).unwrap();
    assert_eq!(w.open(), vec!["b"]);
}

#[test]
fn s25_send_back_and_resubmit_re_resolves() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "max_revisions": 1, "stages": [
        {"name": "first", "rules": users(&["f"])},
        {"name": "owner", "rules": [{"type": "expression", "logic": {"var": "owner"}}]}]}));
    w.submit(json!({"owner": "o1"})).unwrap();
    w.decide("f", Approve).unwrap();
    w.decide("o1", RequestChanges).unwrap();
    assert_eq!(w.state.status, RequestStatus::ChangesRequested);
    assert_eq!(w.open(), vec!["req"], "only the requester's revision task is open");
    w.run(|m| m.resubmit("req", json!({"owner": "o2"}))).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    assert_eq!(w.state.revision, 2);
    assert_eq!(w.open(), vec!["o2"], "first stage stays approved; owner stage restarts with the new context");
    assert_eq!(w.decide("o2", RequestChanges).unwrap_err().code, Code::MaxRevisions);
    w.decide("o2", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert!(w.kinds().contains(&"request.resubmitted"));
}

#[test]
fn s26_withdraw_after_send_back() {
    let mut w = World::new(one_stage(json!({}), &["a"]));
    w.submit(json!({})).unwrap();
    w.decide("a", RequestChanges).unwrap();
    w.run(|m| m.cancel("req", Some("not needed"), true)).unwrap();
    assert_eq!(w.state.status, RequestStatus::Cancelled);
    assert_eq!(w.run(|m| m.resubmit("req", json!({}))).unwrap_err().code, Code::RequestState);
}

#[test]
fn s27_cancel_mid_flight() {
    let mut w = World::new(one_stage(json!({}), &["a", "b"]));
    w.submit(json!({})).unwrap();
    w.run(|m| m.cancel("caller", Some("duplicate"), false)).unwrap();
    assert_eq!(w.state.status, RequestStatus::Cancelled);
    assert!(w.open().is_empty());
    assert_eq!(w.decide_task("t1", "a", Approve).unwrap_err().code, Code::TaskClosed);
    assert_eq!(w.run(|m| m.cancel("caller", None, false)).unwrap_err().code, Code::RequestState);
}

#[test]
fn s28_abstention_leaves_the_denominator() {
    let mut w = World::new(one_stage(json!({"mode": "all"}), &["a", "b", "c"]));
    w.submit(json!({})).unwrap();
    w.decide("a", Abstain).unwrap();
    w.decide("b", Approve).unwrap();
    w.decide("c", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    let mut all_abstain = World::new(one_stage(json!({"on_empty": "block"}), &["a"]));
    all_abstain.submit(json!({})).unwrap();
    all_abstain.decide("a", Abstain).unwrap();
    assert_eq!(all_abstain.state.status, RequestStatus::Rejected);
}

#[test]
fn fewer_resolved_than_n_is_handled_like_empty() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "s", "mode": "any", "n": 2, "rules": [{"type": "role", "role": "r"}], "on_empty": "skip"}]}));
    w.dir.roles.insert("r".into(), vec!["only".into()]);
    w.submit(json!({})).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    assert!(w.events.iter().any(|e| e.kind == "stage.skipped" && e.data["reason"].as_str().unwrap().contains("only 1")));
}

#[test]
fn http_stage_waits_in_resolving_until_answered() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "s", "rules": [{"type": "http", "url": "http://127.0.0.1:1/resolve"}]}]}));
    w.submit(json!({})).unwrap();
    assert_eq!((w.state.status, w.state.stages[0]), (RequestStatus::Pending, StageStatus::Resolving));
    w.run(|m| m.complete_resolution(0, "system", &["h1".to_string()])).unwrap();
    assert_eq!(w.state.status, RequestStatus::InReview);
    w.decide("h1", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn escalation_adds_approvers_to_an_active_stage() {
    let mut w = World::new(one_stage(json!({"mode": "any"}), &["a"]));
    w.submit(json!({})).unwrap();
    w.run(|m| m.add_approvers("system", 0, &["fd".to_string(), "a".to_string()], "stage.escalated", None, "sla_breach")).unwrap();
    assert_eq!(w.open(), vec!["a", "fd"]);
    w.decide("fd", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn limit_on_approvers_per_stage() {
    let names: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [{"type": "role", "role": "many"}]}]}));
    w.dir.roles.insert("many".into(), names);
    assert_eq!(w.submit(json!({})).unwrap_err().code, Code::LimitExceeded);
}

#[test]
fn expense_report_example() {
    let v: Value = serde_yaml::from_str(include_str!("../../../examples/expense-report.yaml")).unwrap();
    let mut w = World::new(v);
    w.dir.groups.insert("/finance/approvers".into(), vec!["mia".into(), "fin1".into(), "fin2".into(), "sam".into()]);
    // Sam submits; Mia is Sam's manager and also in finance.
    w.state.requester = Some("sam".into());
    w.submit(json!({"amount": 12500, "submitter": "sam", "manager": "mia"})).unwrap();
    assert_eq!(w.open(), vec!["mia"]);
    w.decide("mia", Approve).unwrap();
    assert_eq!(w.open(), vec!["fin1", "fin2"], "neither the manager who approved nor the submitter");
    w.decide("fin1", Approve).unwrap();
    w.decide("fin2", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    let due = w.state.tasks[0].due_at;
    assert_eq!(due, Some(8 * 3600 * 1_000_000));
}

#[test]
fn claim_release_and_comment() {
    let mut w = World::new(one_stage(json!({"mode": "any"}), &["a", "b"]));
    w.submit(json!({})).unwrap();
    let id = w.task_of("a");
    assert_eq!(w.run(|m| m.claim("b", &id, true)).unwrap_err().code, Code::NotAssignee);
    w.run(|m| m.claim("a", &id, true)).unwrap();
    assert_eq!(w.state.tasks[0].claimed_by.as_deref(), Some("a"));
    assert_eq!(w.run(|m| m.claim("a", &id, true)).unwrap_err().code, Code::ActionNotAllowed, "already claimed");
    w.run(|m| m.claim("a", &id, false)).unwrap();
    assert_eq!(w.run(|m| m.claim("a", &id, false)).unwrap_err().code, Code::ActionNotAllowed, "nothing to release");
    w.run(|m| m.comment("a", Some(&id), "looks fine")).unwrap();
    w.run(|m| m.comment("caller", None, "please hurry")).unwrap();
    assert_eq!(w.run(|m| m.comment("b", Some(&id), "not mine")).unwrap_err().code, Code::NotAssignee);
    let tail: Vec<&str> = w.kinds()[w.kinds().len() - 4..].to_vec();
    assert_eq!(tail, vec!["task.claimed", "task.released", "comment.added", "comment.added"]);
}

#[test]
fn delegates_are_held_to_segregation_of_duties() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true, "forbid_repeat_approvers": true,
        "stages": [{"name": "s1", "rules": users(&["alice"])}, {"name": "s2", "rules": users(&["bob"])}]}));
    w.submit(json!({})).unwrap();
    // alice delegates to the requester after her task exists: the requester cannot approve.
    w.dir.delegations.insert("alice".into(), "req".into());
    let t = w.task_of("alice");
    assert_eq!(w.decide_task(&t, "req", Approve).unwrap_err().code, Code::ActionNotAllowed);
    w.dir.delegations.clear();
    w.decide("alice", Approve).unwrap();
    // bob delegates to alice, who approved stage 1: she cannot approve stage 2.
    w.dir.delegations.insert("bob".into(), "alice".into());
    let t2 = w.task_of("bob");
    assert_eq!(w.decide_task(&t2, "alice", Approve).unwrap_err().code, Code::ActionNotAllowed);
    w.decide_task(&t2, "bob", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn every_hop_of_a_delegation_chain_may_act() {
    let mut w = World::new(one_stage(json!({}), &["a"]));
    w.submit(json!({})).unwrap();
    w.dir.delegations.insert("a".into(), "b".into());
    w.dir.delegations.insert("b".into(), "c".into());
    let t = w.task_of("a");
    assert_eq!(w.decide_task(&t, "d", Approve).unwrap_err().code, Code::NotAssignee);
    w.decide_task(&t, "b", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

fn sla_stage(on_breach: Value) -> Value {
    json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any", "rules": users(&["a"]), "sla": "8h", "on_breach": on_breach}]})
}

#[test]
fn s17_breach_actions() {
    // notify
    let mut w = World::new(sla_stage(json!({"action": "notify"})));
    w.submit(json!({})).unwrap();
    let t = w.task_of("a");
    assert_eq!(w.run(|m| m.breach(&t, 0)).unwrap(), None);
    assert_eq!(w.kinds().last(), Some(&"task.overdue"));
    // remind twice, then stop
    let mut w = World::new(sla_stage(json!({"action": "remind", "every": "1h", "max": 2})));
    w.submit(json!({})).unwrap();
    let t = w.task_of("a");
    assert_eq!(w.run(|m| m.breach(&t, 0)).unwrap(), Some(3_600_000_000));
    assert_eq!(w.run(|m| m.breach(&t, 1)).unwrap(), None);
    assert_eq!(w.kinds().iter().filter(|k| **k == "task.reminder").count(), 2);
    // escalate adds the director, who can then approve
    let mut w = World::new(sla_stage(json!({"action": "escalate", "rules": [{"type": "role", "role": "fd"}]})));
    w.dir.roles.insert("fd".into(), vec!["dora".into()]);
    w.submit(json!({})).unwrap();
    let t = w.task_of("a");
    w.run(|m| m.breach(&t, 0)).unwrap();
    assert_eq!(w.open(), vec!["a", "dora"], "an any stage keeps the overdue approver and adds the director");
    w.decide("dora", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    // auto-approve and auto-reject, recorded with the system actor
    for (action, status) in [("auto_approve", RequestStatus::Approved), ("auto_reject", RequestStatus::Rejected)] {
        let mut w = World::new(sla_stage(json!({"action": action})));
        w.submit(json!({})).unwrap();
        let t = w.task_of("a");
        w.run(|m| m.breach(&t, 0)).unwrap();
        assert_eq!(w.state.status, status);
        let decided = w.events.iter().find(|e| e.kind == "task.decided").unwrap();
        assert_eq!((decided.actor.as_str(), &decided.data["auto"]), ("system", &json!(true)));
    }
}

#[test]
fn s18_expiry() {
    let mut w = World::new(one_stage(json!({}), &["a"]));
    w.submit(json!({})).unwrap();
    w.run(|m| m.terminate(RequestStatus::Expired, "request.expired", "system", "expires_after passed")).unwrap();
    assert_eq!(w.state.status, RequestStatus::Expired);
    assert!(w.open().is_empty());
    assert_eq!(w.kinds().last(), Some(&"request.expired"));
}

#[test]
fn escalation_on_an_all_stage_replaces_the_overdue_task() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "all", "rules": users(&["a", "b"]),
        "sla": "8h", "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "fd"}]}}]}));
    w.dir.roles.insert("fd".into(), vec!["dora".into()]);
    w.submit(json!({})).unwrap();
    w.decide("b", Approve).unwrap();
    let t = w.task_of("a");
    w.run(|m| m.breach(&t, 0)).unwrap();
    assert_eq!(w.open(), vec!["dora"]);
    assert_eq!(w.state.tasks.iter().find(|x| x.id == t).unwrap().status, TaskStatus::Expired);
    w.decide("dora", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

/// Whatever the actions list offers is exactly what the operations accept,
/// for every viewer and every action (one function computes both).
fn assert_actions_match_operations(w: &mut World, task: &str, viewers: &[&str]) {
    for who in viewers {
        let offered = w.run(|m| m.available_actions(task, who)).unwrap();
        for action in Action::ALL {
            let accepted = w.run(|m| m.check_action(task, who, action)).is_ok();
            assert_eq!(offered.contains(&action), accepted, "{who} {action:?}: offered {offered:?}");
        }
    }
}

#[test]
fn a_delegate_who_is_the_requester_is_offered_no_vote() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true,
        "stages": [{"name": "s", "rules": users(&["lead"])}]}));
    w.submit(json!({})).unwrap();
    w.dir.delegations.insert("lead".into(), "req".into());
    let t = w.task_of("lead");
    let offered = w.run(|m| m.available_actions(&t, "req")).unwrap();
    assert_eq!(offered, vec![Action::Comment], "the requester may comment on the delegated task, never vote");
    assert_eq!(w.decide_task(&t, "req", Approve).unwrap_err().code, Code::ActionNotAllowed);
    assert_actions_match_operations(&mut w, &t, &["lead", "req", "stranger"]);
}

#[test]
fn actions_match_operations_in_every_state() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_repeat_approvers": true, "max_revisions": 1,
        "exclude": [{"type": "user", "user": "x"}],
        "stages": [{"name": "s1", "mode": "all", "rules": [{"type": "user", "user": "a"}, {"type": "user", "user": "o", "kind": "observer"}]},
                   {"name": "s2", "mode": "any", "rules": [{"type": "user", "user": "c"}, {"type": "user", "user": "b", "required": true}]}]}));
    w.dir.delegations.insert("b".into(), "x".into());
    w.submit(json!({})).unwrap();
    let viewers = ["a", "b", "c", "o", "x", "req", "nobody"];
    for t in w.state.tasks.clone() {
        assert_actions_match_operations(&mut w, &t.id, &viewers);
    }
    w.decide("a", Approve).unwrap();
    // c now delegates to a, who approved s1: a may reject c's task, not approve it.
    w.dir.delegations.insert("c".into(), "a".into());
    for t in w.state.tasks.clone() {
        assert_actions_match_operations(&mut w, &t.id, &viewers);
    }
    let c2 = w.task_of("c");
    let offered = w.run(|m| m.available_actions(&c2, "a")).unwrap();
    assert!(!offered.contains(&Action::Approve) && offered.contains(&Action::Reject), "{offered:?}");
    let b2 = w.task_of("b");
    let offered = w.run(|m| m.available_actions(&b2, "b")).unwrap();
    assert!(!offered.contains(&Action::Abstain), "a required approver: {offered:?}");
    // b's delegate x is excluded: no vote, no claim.
    assert_eq!(w.run(|m| m.available_actions(&b2, "x")).unwrap(), vec![Action::Comment]);
    w.run(|m| m.claim("b", &b2, true)).unwrap();
    assert_actions_match_operations(&mut w, &b2, &viewers);
    w.decide("b", RequestChanges).unwrap();
    for t in w.state.tasks.clone() {
        assert_actions_match_operations(&mut w, &t.id, &viewers);
    }
}

#[test]
fn reassign_refuses_an_assignee_who_may_not_vote() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true,
        "exclude": [{"type": "expression", "logic": {"var": "conflicted"}}],
        "stages": [{"name": "s", "mode": "all", "rules": users(&["a", "b"])}]}));
    w.submit(json!({"conflicted": "c"})).unwrap();
    let t = w.task_of("a");
    for who in ["req", "c", "system"] {
        let e = w.run(|m| m.reassign("admin", &t, who, None)).unwrap_err();
        assert_eq!(e.code, Code::AssigneeNotAllowed, "{who}");
    }
    assert_eq!(w.open(), vec!["a", "b"], "nothing changed");
    w.run(|m| m.reassign("admin", &t, "d", None)).unwrap();
    assert_eq!(w.open(), vec!["b", "d"]);
}

#[test]
fn sla_auto_decisions_are_the_systems_and_never_a_persons_vote() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "forbid_repeat_approvers": true, "stages": [
        {"name": "s1", "rules": users(&["a"]), "sla": "1h", "on_breach": {"action": "auto_approve"}},
        {"name": "s2", "rules": users(&["a"])}]}));
    w.submit(json!({})).unwrap();
    let t = w.task_of("a");
    w.run(|m| m.breach(&t, 0)).unwrap();
    let decided = w.state.tasks.iter().find(|x| x.id == t).unwrap();
    assert_eq!((decided.status, decided.decided_by.as_deref()), (TaskStatus::Approved, Some(SYSTEM_ACTOR)));
    // a did not vote on s1, so a may approve s2.
    assert_eq!(w.open(), vec!["a"]);
    w.decide("a", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn a_rejected_request_cancels_the_stages_that_never_started() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "s1", "rules": users(&["a"])}, {"name": "s2", "rules": users(&["b"])}, {"name": "s3", "rules": users(&["c"])}]}));
    w.submit(json!({})).unwrap();
    w.decide("a", Reject).unwrap();
    assert_eq!(w.state.status, RequestStatus::Rejected);
    assert_eq!(w.state.stages, vec![StageStatus::Rejected, StageStatus::Cancelled, StageStatus::Cancelled]);
}

#[test]
fn who_takes_part_in_a_request() {
    let mut w = World::new(one_stage(json!({}), &["lead"]));
    w.submit(json!({})).unwrap();
    w.dir.delegations.insert("lead".into(), "deputy".into());
    for (who, yes) in [("req", true), ("lead", true), ("deputy", true), ("stranger", false)] {
        assert_eq!(w.run(|m| m.involves(who)).unwrap(), yes, "{who}");
    }
}

#[test]
fn an_escalated_task_that_is_overdue_again_changes_nothing() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "all", "rules": users(&["a"]),
        "sla": "8h", "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "fd"}]}}]}));
    w.dir.roles.insert("fd".into(), vec!["dora".into()]);
    w.submit(json!({})).unwrap();
    let t = w.task_of("a");
    w.run(|m| m.breach(&t, 0)).unwrap();
    assert_eq!(w.open(), vec!["dora"]);
    let d = w.task_of("dora");
    let tasks_before = w.state.tasks.len();
    w.run(|m| m.breach(&d, 0)).unwrap();
    assert_eq!(w.open(), vec!["dora"], "dora keeps her task");
    assert_eq!(w.task_of("dora"), d, "no new task replaces it");
    assert_eq!(w.state.tasks.len(), tasks_before);
}

#[test]
fn nobody_is_assigned_as_the_system() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any",
        "rules": [{"type": "expression", "logic": {"var": "who"}}]}]}));
    w.submit(json!({"who": ["system", "ann"]})).unwrap();
    assert_eq!(w.open(), vec!["ann"]);
}

#[test]
fn a_next_stage_that_cannot_start_fails_the_request_and_the_decision_stands() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "one", "rules": users(&["a"])},
        {"name": "two", "rules": [{"type": "expression", "logic": {"var": "next"}}]}]}));
    // The context holds a number where the second stage expects principals.
    w.submit(json!({"next": 42})).unwrap();
    w.decide("a", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Failed);
    let a = w.state.tasks.iter().find(|t| t.assignee == "a").unwrap();
    assert_eq!(a.status, TaskStatus::Approved, "the decision is recorded");
    let failed = w.events.iter().find(|e| e.kind == "request.failed").unwrap();
    assert!(failed.data["reason"].as_str().unwrap().contains("could not start"), "{failed:?}");
}

#[test]
fn a_leaver_on_an_all_stage_is_replaced_by_its_escalation() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "all", "rules": users(&["a", "b"]),
        "sla": "1d", "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "fd"}]}}]}));
    w.dir.roles.insert("fd".into(), vec!["b".into(), "gone".into(), "dora".into()]);
    w.submit(json!({})).unwrap();
    w.dir.inactive = vec!["b".into(), "gone".into()];
    let b = w.task_of("b");
    assert!(w.run(|m| m.assignee_inactive(&b)).unwrap());
    // b's task expired; escalation went to the one active, eligible holder.
    assert_eq!(w.open(), vec!["a", "dora"]);
    let escalated = w.events.iter().find(|e| e.kind == "stage.escalated").unwrap();
    assert_eq!((escalated.data["reason"].as_str(), escalated.data["expired_task_id"].as_str()), (Some("assignee_inactive"), Some(b.as_str())));
    assert!(w.kinds().contains(&"task.assignee_inactive"));
    // Noting it again changes nothing.
    assert!(!w.run(|m| m.assignee_inactive(&b)).unwrap());
    w.decide("a", Approve).unwrap();
    w.decide("dora", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

#[test]
fn a_leaver_without_escalation_rules_leaves_the_task_open_for_an_admin() {
    let mut w = World::new(one_stage(json!({"mode": "all"}), &["a", "b"]));
    w.submit(json!({})).unwrap();
    w.dir.inactive = vec!["b".into()];
    let b = w.task_of("b");
    assert!(w.run(|m| m.assignee_inactive(&b)).unwrap());
    // The stage still needs b's vote: nothing silently lowers the bar.
    w.decide("a", Approve).unwrap();
    assert_eq!((w.state.status, w.open()), (RequestStatus::InReview, vec!["b"]));
    let noted = w.events.iter().find(|e| e.kind == "task.assignee_inactive").unwrap();
    assert_eq!(noted.data["escalated"], false);
    // Reassigning to another leaver is refused; to someone active it works.
    assert_eq!(w.run(|m| m.reassign("admin", &b, "b", None)).unwrap_err().code, Code::BadInput);
    w.dir.inactive.push("c".into());
    assert_eq!(w.run(|m| m.reassign("admin", &b, "c", None)).unwrap_err().code, Code::AssigneeNotAllowed);
    w.run(|m| m.reassign("admin", &b, "d", None)).unwrap();
    w.decide("d", Approve).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
}

fn decide_with(w: &mut World, who: &str, decision: Decision, comment: Option<&str>, data: Option<Value>) -> AweResult<()> {
    let id = w.task_of(who);
    let who = who.to_string();
    let comment = comment.map(str::to_string);
    w.run(move |m| m.decide(&DecisionInput { task_id: &id, actor: &who, decision, comment: comment.as_deref(), attachments: None, data: data.as_ref() }))
}

#[test]
fn typed_actions_say_what_each_needs() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "context_schema": {"type": "object", "properties": {"amount": {"type": "number"}}},
        "stages": [{"name": "s", "rules": users(&["a"]), "require_comment": ["reject", "request_changes"],
                    "decision_schema": {"type": "object", "required": ["approved_amount"], "properties": {"approved_amount": {"type": "number", "minimum": 0}}}}]}));
    w.submit(json!({"amount": 100})).unwrap();
    let id = w.task_of("a");
    let views = w.run(|m| m.action_views(&id, "a")).unwrap();
    let got: Vec<(&str, &str, &str, bool, bool)> = views.iter().map(|v| (v.action, v.label, v.severity, v.requires_comment, v.form.is_some())).collect();
    assert_eq!(got, vec![
        ("approve", "Approve", "primary", false, true), ("reject", "Reject", "danger", true, false),
        ("abstain", "Abstain", "neutral", false, false), ("request_changes", "Request changes", "neutral", true, false),
        ("comment", "Comment", "neutral", false, false), ("claim", "Claim", "neutral", false, false)]);
    // Another person sees nothing to do.
    assert!(w.run(|m| m.action_views(&id, "zed")).unwrap().is_empty());
}

#[test]
fn decisions_bring_the_comment_and_data_the_stage_asks_for() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": users(&["a"]),
        "require_comment": ["reject"],
        "decision_schema": {"type": "object", "required": ["approved_amount"], "properties": {"approved_amount": {"type": "number"}}},
        "decision_check": {"<=": [{"var": "decision.approved_amount"}, {"var": "context.amount"}]},
        "decision_check_message": "the approved amount may not exceed the requested amount"}]}));
    w.submit(json!({"amount": 100})).unwrap();
    let problems = |e: AweError| -> Vec<String> {
        assert_eq!(e.code, Code::DecisionInvalid, "{e:?}");
        e.details.unwrap()["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(problems(decide_with(&mut w, "a", Reject, None, None).unwrap_err()), vec!["comment"]);
    assert_eq!(problems(decide_with(&mut w, "a", Reject, Some("  "), None).unwrap_err()), vec!["comment"]);
    assert_eq!(problems(decide_with(&mut w, "a", Reject, Some("no"), Some(json!({"x": 1}))).unwrap_err()), vec!["data"]);
    assert_eq!(problems(decide_with(&mut w, "a", Approve, None, None).unwrap_err()), vec!["data.approved_amount"]);
    assert_eq!(problems(decide_with(&mut w, "a", Approve, None, Some(json!({"approved_amount": "lots"}))).unwrap_err()), vec!["data.approved_amount"]);
    let e = decide_with(&mut w, "a", Approve, None, Some(json!({"approved_amount": 150}))).unwrap_err();
    assert!(e.message.contains("may not exceed"), "{e:?}");
    assert_eq!(problems(e), vec!["decision_check"]);
    assert_eq!(w.open(), vec!["a"], "nothing was recorded");
    decide_with(&mut w, "a", Approve, None, Some(json!({"approved_amount": 80}))).unwrap();
    assert_eq!(w.state.status, RequestStatus::Approved);
    let decided = w.events.iter().find(|e| e.kind == "task.decided").unwrap();
    assert_eq!(decided.data["data"], json!({"approved_amount": 80}));
}

#[test]
fn a_stage_without_decision_schema_takes_no_data() {
    let mut w = World::new(one_stage(json!({}), &["a"]));
    w.submit(json!({})).unwrap();
    let e = decide_with(&mut w, "a", Approve, None, Some(json!({"x": 1}))).unwrap_err();
    assert_eq!(e.code, Code::DecisionInvalid);
    decide_with(&mut w, "a", Approve, None, Some(Value::Null)).unwrap();
}

#[test]
fn request_changes_gives_the_requester_a_revision_task() {
    let mut w = World::new(json!({"key": "k", "artifact_type": "d", "context_schema": {"type": "object"}, "stages": [{"name": "s", "rules": users(&["a"])}]}));
    w.submit(json!({})).unwrap();
    w.decide("a", RequestChanges).unwrap();
    let rev = w.task_of("req");
    let changes = w.events.iter().find(|e| e.kind == "request.changes_requested").unwrap();
    assert_eq!((changes.data["revision_task_id"].as_str(), changes.data["revision_assignee"].as_str()), (Some(rev.as_str()), Some("req")));
    let actions: Vec<&str> = w.run(|m| m.action_views(&rev, "req")).unwrap().iter().map(|v| v.action).collect();
    assert_eq!(actions, vec!["resubmit", "withdraw", "comment"]);
    // The submitter may act on it too; an approver may not; it is no vote.
    assert_eq!(w.run(|m| m.available_actions(&rev, "caller")).unwrap().len(), 3);
    assert!(w.run(|m| m.available_actions(&rev, "a")).unwrap().is_empty());
    assert_eq!(w.decide_task(&rev, "req", Approve).unwrap_err().code, Code::ActionNotAllowed);
    w.run(|m| m.resubmit("req", json!({}))).unwrap();
    assert_eq!(w.state.tasks.iter().find(|t| t.id == rev).unwrap().status, TaskStatus::Completed);
    assert_eq!(w.open(), vec!["a"]);
    // Withdrawing instead closes it as cancelled.
    w.decide("a", RequestChanges).unwrap();
    let rev2 = w.task_of("req");
    w.run(|m| m.cancel("req", None, true)).unwrap();
    assert_eq!(w.state.tasks.iter().find(|t| t.id == rev2).unwrap().status, TaskStatus::Cancelled);
}

#[test]
fn without_a_requester_the_submitter_gets_the_revision_task() {
    let mut w = World::new(one_stage(json!({}), &["a"]));
    w.state.requester = None;
    w.submit(json!({})).unwrap();
    w.decide("a", RequestChanges).unwrap();
    assert_eq!(w.open(), vec!["caller"]);
}

#[test]
fn a_failed_resolver_routes_as_the_stage_says() {
    let stage = |route: &str| json!({"key": "k", "artifact_type": "d", "stages": [
        {"name": "r", "rules": [{"type": "http", "url": "http://127.0.0.1:1/resolve"}], "on_resolver_failure": route,
         "sla": "1h", "on_breach": {"action": "escalate", "rules": [{"type": "user", "user": "fd"}]}},
        {"name": "next", "rules": users(&["n"])}]});
    let mut w = World::new(stage("fail"));
    w.submit(json!({})).unwrap();
    w.run(|m| m.resolver_failed(0, "down")).unwrap();
    assert_eq!(w.state.status, RequestStatus::Failed);
    let mut w = World::new(stage("skip"));
    w.submit(json!({})).unwrap();
    w.run(|m| m.resolver_failed(0, "down")).unwrap();
    assert_eq!((w.state.stages[0], w.open()), (StageStatus::Skipped, vec!["n"]));
    let mut w = World::new(stage("escalate"));
    w.submit(json!({})).unwrap();
    w.run(|m| m.resolver_failed(0, "down")).unwrap();
    assert_eq!((w.state.stages[0], w.open()), (StageStatus::Active, vec!["fd"]));
    assert!(w.kinds().contains(&"stage.resolver_failed"));
}
