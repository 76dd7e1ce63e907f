//! Do the rows agree with the trail? A request's events are its audit
//! trail; the request and task rows are what the engine reads and writes.
//! `replay` folds the events into the state they describe, and `compare`
//! lists every place where the stored rows say something else (a row
//! changed behind the engine's back, by whatever means), field by field.
//! `verify_timeline` reports these along with the hash chain's own check.

use crate::model::{StageStatus, TaskStatus};
use crate::timeline::{context_digest, ChainedEvent};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A task as the trail describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailTask {
    pub stage: i32,
    pub revision: i32,
    pub assignee: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub claimed_by: Option<String>,
}

/// The request as the trail describes it.
#[derive(Debug, Clone, Default)]
pub struct TrailRequest {
    pub status: String,
    pub revision: i32,
    pub stages: Vec<String>,
    pub tasks: BTreeMap<String, TrailTask>,
    /// What `request.created` recorded of the request (artifact, policy
    /// version, requester, callback).
    pub identity: serde_json::Map<String, Value>,
    /// Digest of the context as last submitted or resubmitted.
    pub context_sha256: Option<String>,
}

/// The stored rows, as `compare` needs them.
pub struct StoredRequest {
    pub status: String,
    pub revision: i32,
    pub stages: Vec<String>,
    pub context: Value,
    pub identity: serde_json::Map<String, Value>,
    pub tasks: BTreeMap<String, TrailTask>,
}

/// One place where a row and the trail disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// `request.status`, `stages[1]`, `task <id>.decided_by`, …
    pub field: String,
    pub row: Value,
    pub trail: Value,
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Folds the events (in order) into the state they describe, for a
/// request whose policy has `stage_count` stages.
pub fn replay(events: &[ChainedEvent], stage_count: usize) -> TrailRequest {
    let mut r = TrailRequest { stages: vec![StageStatus::Waiting.as_str().to_string(); stage_count], ..TrailRequest::default() };
    let stage_of = |e: &ChainedEvent| e.stage_index.map(|i| i as usize).filter(|i| *i < stage_count);
    for e in events {
        r.status = e.status.clone();
        let d = &e.data;
        match e.kind.as_str() {
            "request.created" => {
                r.revision = 1;
                if let Value::Object(m) = d {
                    for (k, v) in m {
                        if k == "context_sha256" {
                            r.context_sha256 = v.as_str().map(str::to_string);
                        } else if k != "revision" {
                            r.identity.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            "request.resubmitted" => {
                // The revision task (the only task open while changes are
                // requested) is done.
                close_open(&mut r, None, TaskStatus::Completed);
                r.revision = d.get("revision").and_then(Value::as_i64).unwrap_or(r.revision as i64 + 1) as i32;
                if let Some(c) = str_of(d, "context_sha256") {
                    r.context_sha256 = Some(c);
                }
            }
            "stage.resolving" => set_stage(&mut r, stage_of(e), StageStatus::Resolving),
            "stage.started" => set_stage(&mut r, stage_of(e), StageStatus::Active),
            "stage.skipped" => {
                close_open(&mut r, stage_of(e), TaskStatus::Skipped);
                set_stage(&mut r, stage_of(e), StageStatus::Skipped);
            }
            "stage.completed" => {
                close_open(&mut r, stage_of(e), TaskStatus::Skipped);
                let outcome = if str_of(d, "outcome").as_deref() == Some("approved") { StageStatus::Approved } else { StageStatus::Rejected };
                set_stage(&mut r, stage_of(e), outcome);
            }
            "task.created" => {
                if let (Some(id), Some(assignee)) = (e.task_id.clone(), str_of(d, "assignee")) {
                    let t = TrailTask { stage: e.stage_index.unwrap_or(-1), revision: r.revision, assignee, status: "open".into(), decided_by: None, claimed_by: None };
                    r.tasks.insert(id, t);
                }
            }
            "task.decided" => {
                if let Some(t) = e.task_id.as_ref().and_then(|id| r.tasks.get_mut(id)) {
                    let decision = str_of(d, "decision").unwrap_or_default();
                    t.status = crate::model::Decision::parse(&decision).map(|x| x.task_status().as_str().to_string()).unwrap_or(decision);
                    t.decided_by = Some(e.actor.clone());
                }
            }
            "task.reassigned" => {
                let Some(old_id) = e.task_id.clone() else { continue };
                let Some(old) = r.tasks.get_mut(&old_id) else { continue };
                old.status = TaskStatus::Reassigned.as_str().into();
                let new = TrailTask { assignee: str_of(d, "to").unwrap_or_default(), status: "open".into(), decided_by: None, claimed_by: None, ..old.clone() };
                if let Some(new_id) = str_of(d, "new_task_id") {
                    r.tasks.insert(new_id, new);
                }
            }
            "task.claimed" | "task.released" => {
                if let Some(t) = e.task_id.as_ref().and_then(|id| r.tasks.get_mut(id)) {
                    t.claimed_by = (e.kind == "task.claimed").then(|| e.actor.clone());
                }
            }
            "stage.escalated" => {
                if let Some(id) = str_of(d, "expired_task_id") {
                    if let Some(t) = r.tasks.get_mut(&id) {
                        t.status = TaskStatus::Expired.as_str().into();
                    }
                }
                for t in d.get("tasks").and_then(Value::as_array).into_iter().flatten() {
                    if let (Some(id), Some(assignee)) = (str_of(t, "task_id"), str_of(t, "assignee")) {
                        let task = TrailTask { stage: e.stage_index.unwrap_or(-1), revision: r.revision, assignee, status: "open".into(), decided_by: None, claimed_by: None };
                        r.tasks.insert(id, task);
                    }
                }
            }
            "request.changes_requested" => {
                close_open(&mut r, None, TaskStatus::Superseded);
                for s in r.stages.iter_mut() {
                    if s != StageStatus::Approved.as_str() && s != StageStatus::Skipped.as_str() {
                        *s = StageStatus::Waiting.as_str().into();
                    }
                }
                // Since 0.2.0: the requester's revision task.
                if let (Some(id), Some(assignee)) = (str_of(d, "revision_task_id"), str_of(d, "revision_assignee")) {
                    let t = TrailTask { stage: e.stage_index.unwrap_or(-1), revision: r.revision, assignee, status: "open".into(), decided_by: None, claimed_by: None };
                    r.tasks.insert(id, t);
                }
            }
            "request.rejected" => end(&mut r, TaskStatus::Skipped),
            "request.cancelled" => end(&mut r, TaskStatus::Cancelled),
            "request.expired" | "request.failed" => end(&mut r, TaskStatus::Expired),
            _ => {} // comments, reminders, overdue notices change no row
        }
    }
    r
}

fn set_stage(r: &mut TrailRequest, stage: Option<usize>, s: StageStatus) {
    if let Some(i) = stage {
        r.stages[i] = s.as_str().into();
    }
}

/// Closes open tasks of one stage (current revision), or of every stage.
fn close_open(r: &mut TrailRequest, stage: Option<usize>, to: TaskStatus) {
    let rev = r.revision;
    for t in r.tasks.values_mut() {
        if t.status == "open" && t.revision == rev && stage.is_none_or(|s| t.stage == s as i32) {
            t.status = to.as_str().into();
        }
    }
}

/// A terminal event: open tasks close, stages not finished are cancelled.
fn end(r: &mut TrailRequest, tasks_to: TaskStatus) {
    for t in r.tasks.values_mut() {
        if t.status == "open" {
            t.status = tasks_to.as_str().into();
        }
    }
    for s in r.stages.iter_mut() {
        if matches!(StageStatus::parse(s), Ok(StageStatus::Active | StageStatus::Resolving | StageStatus::Waiting)) {
            *s = StageStatus::Cancelled.as_str().into();
        }
    }
}

/// Every field where the stored rows disagree with the trail.
pub fn compare(stored: &StoredRequest, trail: &TrailRequest) -> Vec<Divergence> {
    let mut out = Vec::new();
    let mut diff = |field: String, row: Value, trail: Value| {
        if row != trail {
            out.push(Divergence { field, row, trail });
        }
    };
    diff("request.status".into(), stored.status.clone().into(), trail.status.clone().into());
    diff("request.revision".into(), stored.revision.into(), trail.revision.into());
    for (i, (row, tr)) in stored.stages.iter().zip(&trail.stages).enumerate() {
        diff(format!("stages[{i}]"), row.clone().into(), tr.clone().into());
    }
    if stored.stages.len() != trail.stages.len() {
        diff("stages".into(), stored.stages.len().into(), trail.stages.len().into());
    }
    if let Some(digest) = &trail.context_sha256 {
        diff("request.context".into(), context_digest(&stored.context).into(), digest.clone().into());
    }
    for (k, v) in &trail.identity {
        diff(format!("request.{k}"), stored.identity.get(k).cloned().unwrap_or(Value::Null), v.clone());
    }
    for (id, t) in &trail.tasks {
        let Some(row) = stored.tasks.get(id) else {
            diff(format!("task {id}"), Value::Null, "present".into());
            continue;
        };
        diff(format!("task {id}.assignee"), row.assignee.clone().into(), t.assignee.clone().into());
        diff(format!("task {id}.stage_index"), row.stage.into(), t.stage.into());
        diff(format!("task {id}.revision"), row.revision.into(), t.revision.into());
        diff(format!("task {id}.status"), row.status.clone().into(), t.status.clone().into());
        diff(format!("task {id}.decided_by"), row.decided_by.clone().into(), t.decided_by.clone().into());
        diff(format!("task {id}.claimed_by"), row.claimed_by.clone().into(), t.claimed_by.clone().into());
    }
    for id in stored.tasks.keys().filter(|id| !trail.tasks.contains_key(*id)) {
        diff(format!("task {id}"), "present".into(), Value::Null);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::LogicCache;
    use crate::model::{Decision, RequestState};
    use crate::policy::{parse_policy, PolicyLimits};
    use crate::progress::{DecisionInput, Env, Machine};
    use crate::resolve::tests::MemDir;
    use serde_json::json;

    /// Runs a small request through the engine and returns its events (as
    /// stored) and the final state (as the rows would hold it).
    fn run(policy: Value, steps: &[(&str, Decision)]) -> (Vec<ChainedEvent>, StoredRequest, usize) {
        let mut logic = LogicCache::default();
        let policy = parse_policy(&policy, &PolicyLimits::default(), &mut logic).unwrap();
        let mut dir = MemDir::default();
        let mut n = 0;
        let mut new_id = || {
            n += 1;
            format!("t{n}")
        };
        let mut state = Machine::new_request(&policy, "r1".into(), Some("req".into()), "caller".into(), json!({"amount": 5}));
        let mut events = Vec::new();
        let mut run_op = |state: RequestState, f: &mut dyn FnMut(&mut Machine) -> crate::AweResult<()>| {
            let env = Env { dir: &mut dir, logic: &mut logic, new_id: &mut new_id, now: 0, max_logic_depth: 64, max_approvers_per_stage: 100 };
            let mut m = Machine::new(&policy, state, env);
            f(&mut m).unwrap();
            let (mut s, effects) = m.into_parts();
            s.tasks.iter_mut().for_each(|t| t.is_new = false);
            for e in effects.events {
                events.push(ChainedEvent { seq: events.len() as i32 + 1, event_id: String::new(), kind: e.kind.into(), actor: e.actor,
                    stage_index: e.stage.map(|s| s as i32), task_id: e.task_id, status: e.status.as_str().into(), data: e.data, created_at: 0 });
            }
            s
        };
        state = run_op(state, &mut |m| m.submit("app", json!({"artifact_id": "A-1"})));
        for (who, d) in steps {
            let id = state.tasks.iter().find(|t| t.assignee == *who && t.status == TaskStatus::Open).unwrap().id.clone();
            state = run_op(state, &mut |m| m.decide(&DecisionInput { task_id: &id, actor: who, decision: *d, comment: None, attachments: None, data: None }));
        }
        let stored = StoredRequest {
            status: state.status.as_str().into(),
            revision: state.revision,
            stages: state.stages.iter().map(|s| s.as_str().to_string()).collect(),
            context: state.context.clone(),
            identity: [("artifact_id".to_string(), json!("A-1")), ("requester".to_string(), json!("req"))].into_iter().collect(),
            tasks: state.tasks.iter().map(|t| (t.id.clone(), TrailTask {
                stage: t.stage as i32, revision: t.revision, assignee: t.assignee.clone(), status: t.status.as_str().into(),
                decided_by: t.decided_by.clone(), claimed_by: t.claimed_by.clone(),
            })).collect(),
        };
        (events, stored, policy.stages.len())
    }

    fn two_stages() -> Value {
        json!({"key": "k", "artifact_type": "d", "stages": [
            {"name": "s1", "mode": "any", "rules": [{"type": "user", "user": "a"}, {"type": "user", "user": "b"}]},
            {"name": "s2", "rules": [{"type": "user", "user": "c"}]}]})
    }

    #[test]
    fn untouched_rows_agree_with_their_trail() {
        for steps in [vec![], vec![("a", Decision::Approve)], vec![("a", Decision::Approve), ("c", Decision::Approve)],
                      vec![("b", Decision::Reject)], vec![("a", Decision::RequestChanges)]] {
            let (events, stored, n) = run(two_stages(), &steps);
            let trail = replay(&events, n);
            assert_eq!(compare(&stored, &trail), vec![], "{steps:?}");
        }
    }

    #[test]
    fn a_row_changed_behind_the_engine_is_reported_where_it_diverges() {
        let (events, mut stored, n) = run(two_stages(), &[("a", Decision::Approve)]);
        stored.status = "approved".into();
        let t = stored.tasks.keys().find(|k| stored.tasks[*k].assignee == "c").unwrap().clone();
        stored.tasks.get_mut(&t).unwrap().status = "approved".into();
        stored.tasks.get_mut(&t).unwrap().decided_by = Some("mallory".into());
        stored.context = json!({"amount": 5000});
        let fields: Vec<String> = compare(&stored, &replay(&events, n)).into_iter().map(|d| d.field).collect();
        assert_eq!(fields, vec!["request.status".to_string(), "request.context".into(), format!("task {t}.status"), format!("task {t}.decided_by")]);
    }
}
