//! Stage progression: the one place that moves a request forward.
//!
//! Every operation (submit, decide, resubmit, cancel, …) mutates an in-memory
//! `RequestState` through a `Machine`, which records the `Effects` for the
//! shell to write. The shell holds the request row lock for the whole
//! operation, so each request advances exactly once however many approvers
//! click at the same moment.

use crate::decide::{tally, Action, ActionView, Tally};
use crate::error::{err, AweError, AweResult, Code};
use crate::logic::LogicCache;
use crate::model::*;
use crate::policy::{BreachAction, Mode, OnEmpty, OnResolverFailure, Policy, RuleKind};
use crate::resolve::{resolve_stage_approvers, Directory, SodInput};
use serde_json::{json, Value};
use std::collections::HashSet;

/// What the machine needs from its surroundings.
pub struct Env<'a> {
    pub dir: &'a mut dyn Directory,
    pub logic: &'a mut LogicCache,
    /// Fresh task ids (UUIDs in the shell, counters in tests).
    pub new_id: &'a mut dyn FnMut() -> String,
    /// Unix microseconds of the operation.
    pub now: i64,
    pub max_logic_depth: usize,
    pub max_approvers_per_stage: usize,
}

pub struct Machine<'p, 'e> {
    pub policy: &'p Policy,
    pub state: RequestState,
    pub effects: Effects,
    env: Env<'e>,
}

/// A decision as the caller made it.
pub struct DecisionInput<'a> {
    pub task_id: &'a str,
    pub actor: &'a str,
    pub decision: Decision,
    pub comment: Option<&'a str>,
    pub attachments: Option<&'a Value>,
    /// What the approver adds (the stage's `decision_schema`).
    pub data: Option<&'a Value>,
}

impl<'p, 'e> Machine<'p, 'e> {
    pub fn new(policy: &'p Policy, state: RequestState, env: Env<'e>) -> Self {
        Machine { policy, state, effects: Effects::default(), env }
    }

    /// A brand-new request: all stages waiting, revision 1.
    pub fn new_request(policy: &Policy, id: String, requester: Option<String>, submitter: String, context: Value) -> RequestState {
        RequestState {
            id,
            status: RequestStatus::Pending,
            revision: 1,
            requester,
            submitter,
            context,
            stages: vec![StageStatus::Waiting; policy.stages.len()],
            tasks: Vec::new(),
        }
    }

    fn emit(&mut self, kind: &'static str, actor: &str, stage: Option<usize>, task_id: Option<String>, data: Value) {
        let data = match (stage, data) {
            (Some(i), Value::Object(mut m)) => {
                m.insert("stage".into(), json!(self.policy.stages[i].name));
                m.insert("stage_index".into(), json!(i));
                Value::Object(m)
            }
            (_, d) => d,
        };
        self.effects.events.push(NewEvent { kind, actor: actor.to_string(), stage, task_id, status: self.state.status, data });
    }

    fn set_status(&mut self, s: RequestStatus) {
        if self.state.status != s {
            self.state.status = s;
            self.effects.status_changed = true;
        }
    }

    fn set_stage(&mut self, i: usize, s: StageStatus) {
        self.state.stages[i] = s;
        self.effects.stage_changes.retain(|(j, _)| *j != i);
        self.effects.stage_changes.push((i, s));
    }

    fn set_task(&mut self, idx: usize, s: TaskStatus) {
        self.state.tasks[idx].status = s;
        if let Some(change) = self.task_change(idx) {
            change.status = s;
        }
    }

    /// The pending change of an existing task (made on first use); `None`
    /// for a task created in this operation, whose insert carries its state.
    fn task_change(&mut self, idx: usize) -> Option<&mut TaskChange> {
        let t = &self.state.tasks[idx];
        if t.is_new {
            let (id, status) = (t.id.clone(), t.status);
            if let Some(n) = self.effects.new_tasks.iter_mut().find(|n| n.id == id) {
                n.status = status;
            }
            return None;
        }
        let pos = match self.effects.task_changes.iter().position(|c| c.id == t.id) {
            Some(p) => p,
            None => {
                self.effects.task_changes.push(TaskChange { id: t.id.clone(), status: t.status, decided_by: None, comment: None, data: None, claimed_by: None });
                self.effects.task_changes.len() - 1
            }
        };
        Some(&mut self.effects.task_changes[pos])
    }

    /// Records a decision on a task: its status, who decided (a person or
    /// the system) and the comment.
    fn record_decision(&mut self, idx: usize, decision: Decision, by: &str, comment: Option<&str>) {
        self.set_task(idx, decision.task_status());
        self.state.tasks[idx].decided_by = Some(by.to_string());
        if let Some(change) = self.task_change(idx) {
            change.decided_by = Some(by.to_string());
            change.comment = comment.map(str::to_string);
        }
    }

    fn current_tasks(&self, stage: usize) -> impl Iterator<Item = (usize, &Task)> {
        let rev = self.state.revision;
        self.state.tasks.iter().enumerate().filter(move |(_, t)| t.stage == stage && t.revision == rev)
    }

    /// Closes the open tasks of a stage with the given status.
    fn close_open_tasks(&mut self, stage: usize, status: TaskStatus) {
        let open: Vec<usize> = self.current_tasks(stage).filter(|(_, t)| t.status == TaskStatus::Open).map(|(i, _)| i).collect();
        for i in open {
            self.set_task(i, status);
        }
    }

    /// The first step that still has a stage not passed, if any.
    fn current_step(&self) -> Option<Vec<usize>> {
        self.policy.steps().into_iter().find(|step| step.iter().any(|&i| !self.state.stages[i].is_passed()))
    }

    /// People who approved another stage of this request (never the
    /// system, whose decisions are nobody's vote).
    fn earlier_approvers(&self, stage: usize) -> HashSet<String> {
        self.state
            .tasks
            .iter()
            .filter(|t| t.stage != stage && t.status == TaskStatus::Approved)
            .filter_map(|t| t.voter().map(str::to_string))
            .collect()
    }

    // ---- operations -------------------------------------------------------

    /// Submission: records creation and starts the first step. `identity`
    /// is what the shell knows of the request (artifact, policy version,
    /// callback): it goes into the `request.created` event, with a digest of
    /// the context, so the trail vouches for the request row.
    pub fn submit(&mut self, actor: &str, identity: Value) -> AweResult<()> {
        if self.policy.forbid_self_approval && self.state.requester.is_none() {
            return err(Code::RequesterRequired, "this policy forbids self-approval, so submit needs a requester")
                .map_err(|e| e.with_hint("pass requester => '<principal id>'"));
        }
        let mut data = json!({"revision": 1, "requester": self.state.requester,
                              "context_sha256": crate::timeline::context_digest(&self.state.context)});
        if let (Value::Object(d), Value::Object(extra)) = (&mut data, identity) {
            d.extend(extra);
        }
        self.emit("request.created", actor, None, None, data);
        self.advance(actor)
    }

    /// A decision on one task.
    pub fn decide(&mut self, d: &DecisionInput<'_>) -> AweResult<()> {
        self.check_action(d.task_id, d.actor, Action::of_decision(d.decision))?;
        let idx = self.task_index(d.task_id)?;
        let task = self.state.tasks[idx].clone();
        self.check_decision(task.stage, d)?;
        self.record_decision(idx, d.decision, d.actor, d.comment);
        if let (Some(change), Some(v)) = (self.task_change(idx), d.data.filter(|v| !v.is_null())) {
            change.data = Some(v.clone());
        }
        let mut data = json!({"decision": d.decision.as_str(), "assignee": task.assignee, "revision": task.revision});
        if let Some(c) = d.comment {
            data["comment"] = json!(c);
        }
        if let Some(v) = d.data.filter(|v| !v.is_null()) {
            data["data"] = v.clone();
        }
        if let Some(a) = d.attachments {
            data["attachments"] = a.clone();
        }
        if d.actor != task.assignee {
            data["on_behalf_of"] = json!(task.assignee);
        }
        self.emit("task.decided", d.actor, Some(task.stage), Some(task.id.clone()), data);
        if d.decision == Decision::RequestChanges {
            return self.send_back(d.actor, task.stage, d.comment);
        }
        self.advance_or_fail(d.actor)
    }

    /// Moves the request on after a decision, a timer or a resolver's
    /// answer. When the next stage cannot start because of the request's own
    /// data (a rule that fails on its context, more approvers than allowed),
    /// that is nobody's mistake in this operation: the decision stands and
    /// the request fails with the reason (`request.failed`), instead of the
    /// approver being told their decision cannot be recorded. (Submit and
    /// resubmit, whose caller supplied the data, get the error instead.)
    fn advance_or_fail(&mut self, actor: &str) -> AweResult<()> {
        match self.advance(actor) {
            Err(e) if matches!(e.code, Code::LogicInvalid | Code::LimitExceeded) => {
                let reason = format!("the next stage could not start: {}", e.message);
                self.terminate(RequestStatus::Failed, "request.failed", SYSTEM_ACTOR, &reason)
            }
            other => other,
        }
    }

    /// The actions `actor` may take on a task right now, in display order:
    /// exactly those `check_action` accepts.
    pub fn available_actions(&mut self, task_id: &str, actor: &str) -> AweResult<Vec<Action>> {
        let gate = match self.gate(task_id, actor)? {
            Ok(g) => g,
            Err(_) => return Ok(Vec::new()),
        };
        let offered: &[Action] = if gate.task.kind == RuleKind::Revision { &Action::REVISION } else { &Action::ALL };
        Ok(offered.iter().copied().filter(|a| gate.allows(*a, self).is_ok()).collect())
    }

    /// The available actions as a client renders them: label, severity,
    /// whether a comment is required, and the form for data (an approval's
    /// `decision_schema`, a resubmit's `context_schema`).
    pub fn action_views(&mut self, task_id: &str, actor: &str) -> AweResult<Vec<ActionView>> {
        let actions = self.available_actions(task_id, actor)?;
        let stage = &self.policy.stages[self.task(task_id)?.stage];
        Ok(actions.into_iter().map(|a| {
            let requires_comment = a.decision().is_some_and(|d| stage.require_comment.contains(&d));
            let form = match a {
                Action::Approve => stage.decision_schema.clone(),
                Action::Resubmit => Some(self.policy.context_schema.clone().unwrap_or_else(|| json!({"type": "object"}))),
                _ => None,
            };
            ActionView { action: a.as_str(), label: a.label(), severity: a.severity(), requires_comment, form }
        }).collect())
    }

    /// What a decision must bring besides being allowed: the comment the
    /// stage requires, data matching its `decision_schema`, and passing its
    /// `decision_check`. Every problem, with its path (`comment`,
    /// `data.approved_amount`, `decision_check`).
    fn check_decision(&mut self, stage: usize, d: &DecisionInput<'_>) -> AweResult<()> {
        let st = &self.policy.stages[stage];
        let mut problems: Vec<Value> = Vec::new();
        let mut problem = |path: &str, code: &str, message: String| problems.push(json!({"path": path, "code": code, "message": message}));
        if st.require_comment.contains(&d.decision) && d.comment.is_none_or(|c| c.trim().is_empty()) {
            problem("comment", "required", format!("stage \"{}\" requires a comment to {}", st.name, d.decision.as_str()));
        }
        let data = d.data.filter(|v| !v.is_null());
        match (d.decision, &st.decision_schema, data) {
            (Decision::Approve, Some(schema), data) => {
                let data = data.cloned().unwrap_or_else(|| json!({}));
                for p in crate::context_schema::validate(schema, &data) {
                    problem(&if p.path.is_empty() { "data".to_string() } else { format!("data.{}", p.path) }, "schema", p.message);
                }
            }
            (Decision::Approve, None, Some(_)) => problem("data", "value", format!("stage \"{}\" takes no decision data (it has no decision_schema)", st.name)),
            (_, _, Some(_)) => problem("data", "value", format!("only an approval takes data, not {}", d.decision.as_str())),
            _ => {}
        }
        if problems.is_empty() && d.decision == Decision::Approve {
            if let Some(check) = st.decision_check.clone() {
                let input = json!({"context": self.state.context, "decision": data.cloned().unwrap_or_else(|| json!({})), "comment": d.comment});
                let passed = self.env.logic.truthy(&check, &input, self.env.max_logic_depth)?;
                if !passed {
                    let message = st.decision_check_message.clone().unwrap_or_else(|| format!("the approval does not pass stage \"{}\"'s decision_check", st.name));
                    problems.push(json!({"path": "decision_check", "code": "check", "message": message}));
                }
            }
        }
        match problems.first() {
            None => Ok(()),
            Some(first) => Err(AweError::new(Code::DecisionInvalid, format!("the decision is incomplete: {}: {}", first["path"].as_str().unwrap_or(""), first["message"].as_str().unwrap_or("")))
                .with_details(json!({"problems": problems}))),
        }
    }

    /// Whether `actor` may take `action` on a task now; the error says why not.
    pub fn check_action(&mut self, task_id: &str, actor: &str, action: Action) -> AweResult<()> {
        let gate = self.gate(task_id, actor)??;
        gate.allows(action, self)
    }

    /// What every action on a task depends on, computed once: the task is
    /// open, the request in review, the actor its assignee (or on the
    /// assignee's delegation chain), and whether the actor may vote. The
    /// outer error is a failure to look something up; the inner one says
    /// why the actor may do nothing with the task.
    fn gate(&mut self, task_id: &str, actor: &str) -> AweResult<Result<Gate, AweError>> {
        let task = self.task(task_id)?.clone();
        if task.status != TaskStatus::Open {
            return Ok(Err(AweError::new(Code::TaskClosed, format!("task {} is already {}; decisions are final", task.id, task.status.as_str()))
                .with_details(json!({"task_id": task.id, "task_status": task.status.as_str()}))));
        }
        if task.kind == RuleKind::Revision {
            // The requester's task after request_changes: resubmit or withdraw.
            if self.state.status != RequestStatus::ChangesRequested {
                return Ok(Err(AweError::new(Code::RequestState, format!("request {} is {}, not changes_requested", self.state.id, self.state.status.as_str()))));
            }
            if actor != task.assignee && actor != self.state.submitter && self.state.requester.as_deref() != Some(actor) {
                return Ok(Err(AweError::new(Code::NotAssignee, format!("task {} is {}'s revision task, not {actor}'s", task.id, task.assignee))));
            }
            return Ok(Ok(Gate { actor: actor.to_string(), task, vote: Err("a revision task is done by resubmitting or withdrawing the request".into()), repeat: false }));
        }
        if self.state.status != RequestStatus::InReview {
            return Ok(Err(AweError::new(Code::RequestState, format!("request {} is {}, not in_review", self.state.id, self.state.status.as_str()))));
        }
        if let Err(e) = self.check_actor(&task, actor) {
            return match e.code {
                Code::NotAssignee => Ok(Err(e)),
                _ => Err(e),
            };
        }
        let vote = if task.kind == RuleKind::Observer {
            Err(format!("task {} is an observer task: it can comment but not decide", task.id))
        } else if let Some(reason) = self.sod_violation(task.stage, actor)? {
            // Segregation of duties applies to whoever actually votes: a
            // delegate may be the requester, or excluded.
            Err(format!("{actor} may not vote on this request ({reason})"))
        } else {
            Ok(())
        };
        let repeat = self.policy.forbid_repeat_approvers && self.earlier_approvers(task.stage).contains(actor);
        Ok(Ok(Gate { actor: actor.to_string(), task, vote, repeat }))
    }

    pub fn revisions_used(&self) -> u32 {
        (self.state.revision - 1).max(0) as u32
    }

    /// The assignee, or anyone on the assignee's active delegation chain
    /// (each hop is an active delegation, so each may act).
    pub fn check_actor(&mut self, task: &Task, actor: &str) -> AweResult<()> {
        if task.assignee == actor {
            return Ok(());
        }
        let mut current = task.assignee.clone();
        let mut seen = vec![current.clone()];
        for _ in 0..crate::resolve::MAX_DELEGATION_DEPTH {
            let next = self.env.dir.delegates(std::slice::from_ref(&current))?;
            let Some((_, to)) = next.into_iter().next() else { break };
            if to == actor {
                return Ok(());
            }
            if seen.contains(&to) {
                break;
            }
            seen.push(to.clone());
            current = to;
        }
        Err(AweError::new(Code::NotAssignee, format!("task {} is assigned to {}, not {actor}", task.id, task.assignee)))
    }

    /// Why `who` may not vote on `stage` under the policy's segregation of
    /// duties (requester, exclusions), if they may not.
    fn sod_violation(&mut self, stage: usize, who: &str) -> AweResult<Option<&'static str>> {
        if self.policy.forbid_self_approval && self.state.requester.as_deref() == Some(who) {
            return Ok(Some("self_approval"));
        }
        for rule in self.policy.exclude.iter().chain(&self.policy.stages[stage].exclude) {
            let excluded = crate::resolve::resolve_rule(rule, &self.state.context, self.env.dir, self.env.logic, self.env.max_logic_depth)?;
            if excluded.iter().any(|p| p == who) {
                return Ok(Some("excluded"));
            }
        }
        Ok(None)
    }

    fn send_back(&mut self, actor: &str, stage: usize, comment: Option<&str>) -> AweResult<()> {
        let step = self.policy.steps()[self.policy.step_of(stage)].clone();
        for &i in &step {
            self.close_open_tasks(i, TaskStatus::Superseded);
            if !self.state.stages[i].is_passed() {
                self.set_stage(i, StageStatus::Waiting);
            }
        }
        self.set_status(RequestStatus::ChangesRequested);
        // The requester (or, if none was named, the submitter) gets a task in
        // their own inbox: resubmit or withdraw.
        let assignee = self.state.requester.clone().unwrap_or_else(|| self.state.submitter.clone());
        let id = (self.env.new_id)();
        let task = Task {
            id: id.clone(), stage, revision: self.state.revision, assignee: assignee.clone(), delegated_from: None, kind: RuleKind::Revision,
            required: false, status: TaskStatus::Open, due_at: None, decided_by: None, claimed_by: None, is_new: true,
        };
        self.state.tasks.push(task.clone());
        self.effects.new_tasks.push(task);
        self.emit("request.changes_requested", actor, Some(stage), None, json!({
            "comment": comment, "revision": self.state.revision, "revision_task_id": id, "revision_assignee": assignee,
        }));
        Ok(())
    }

    /// The requester sends an updated context after a send-back; the current
    /// step restarts and re-resolves its approvers with the new context.
    pub fn resubmit(&mut self, actor: &str, context: Value) -> AweResult<()> {
        if self.state.status != RequestStatus::ChangesRequested {
            return err(Code::RequestState, format!("request {} is {}; only changes_requested requests can be resubmitted", self.state.id, self.state.status.as_str()));
        }
        let revision_tasks: Vec<usize> = self.state.tasks.iter().enumerate()
            .filter(|(_, t)| t.kind == RuleKind::Revision && t.status == TaskStatus::Open).map(|(i, _)| i).collect();
        for i in revision_tasks {
            self.set_task(i, TaskStatus::Completed);
        }
        self.state.revision += 1;
        self.state.context = context;
        if let Some(step) = self.current_step() {
            for i in step {
                if !self.state.stages[i].is_passed() {
                    self.set_stage(i, StageStatus::Waiting);
                }
            }
        }
        self.set_status(RequestStatus::Pending);
        self.emit("request.resubmitted", actor, None, None,
            json!({"revision": self.state.revision, "context_sha256": crate::timeline::context_digest(&self.state.context)}));
        self.advance(actor)
    }

    /// Cancel (by the caller) or withdraw (by the requester): terminal.
    pub fn cancel(&mut self, actor: &str, reason: Option<&str>, withdrawn: bool) -> AweResult<()> {
        if self.state.status.is_terminal() {
            return err(Code::RequestState, format!("request {} is already {}", self.state.id, self.state.status.as_str()));
        }
        self.close_all(TaskStatus::Cancelled, StageStatus::Cancelled);
        self.set_status(RequestStatus::Cancelled);
        self.emit("request.cancelled", actor, None, None, json!({"reason": reason, "withdrawn": withdrawn}));
        Ok(())
    }

    /// Ends the request with a terminal status set from outside the stage
    /// arithmetic (expiry, resolver failure).
    pub fn terminate(&mut self, status: RequestStatus, kind: &'static str, actor: &str, reason: &str) -> AweResult<()> {
        if self.state.status.is_terminal() {
            return err(Code::RequestState, format!("request {} is already {}", self.state.id, self.state.status.as_str()));
        }
        self.close_all(TaskStatus::Expired, StageStatus::Cancelled);
        self.set_status(status);
        self.emit(kind, actor, None, None, json!({"reason": reason}));
        Ok(())
    }

    fn close_all(&mut self, task_status: TaskStatus, stage_status: StageStatus) {
        for i in 0..self.state.stages.len() {
            self.close_open_tasks(i, task_status);
            if matches!(self.state.stages[i], StageStatus::Active | StageStatus::Resolving | StageStatus::Waiting) {
                self.set_stage(i, stage_status);
            }
        }
    }

    /// Moves an open task to someone else (admin). The old task is no longer
    /// live; the new one takes its place in the arithmetic.
    pub fn reassign(&mut self, actor: &str, task_id: &str, to: &str, reason: Option<&str>) -> AweResult<String> {
        let idx = self.state.tasks.iter().position(|t| t.id == task_id).ok_or_else(|| AweError::new(Code::TaskNotFound, format!("task {task_id} not found")))?;
        let old = self.state.tasks[idx].clone();
        if old.status != TaskStatus::Open {
            return err(Code::TaskClosed, format!("task {task_id} is {}; only open tasks can be reassigned", old.status.as_str()));
        }
        if self.current_tasks(old.stage).any(|(_, t)| t.assignee == to && t.status == TaskStatus::Open) {
            return err(Code::BadInput, format!("{to} already has an open task on this stage"));
        }
        // The new assignee must be able to vote, or an `all` stage would be
        // stuck on a task nobody can decide.
        if old.kind == RuleKind::Approver {
            let why = if to == SYSTEM_ACTOR {
                Some("\"system\" is reserved for the engine")
            } else if !self.env.dir.inactive(&[to.to_string()])?.is_empty() {
                Some("inactive")
            } else if let Some(reason) = self.sod_violation(old.stage, to)? {
                Some(reason)
            } else if self.policy.forbid_repeat_approvers && self.earlier_approvers(old.stage).contains(to) {
                Some("repeat_approver")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(AweError::new(Code::AssigneeNotAllowed, format!("{to} may not vote on this request ({why}); the task stays with {}", old.assignee))
                    .with_details(json!({"assignee": to, "reason": why})));
            }
        }
        self.set_task(idx, TaskStatus::Reassigned);
        let new_id = (self.env.new_id)();
        let task = Task { id: new_id.clone(), assignee: to.to_string(), delegated_from: None, status: TaskStatus::Open, decided_by: None, claimed_by: None, is_new: true, ..old.clone() };
        self.state.tasks.push(task.clone());
        self.effects.new_tasks.push(task);
        self.emit("task.reassigned", actor, Some(old.stage), Some(old.id.clone()),
            json!({"from": old.assignee, "to": to, "new_task_id": new_id, "reason": reason}));
        Ok(new_id)
    }

    /// Claim (or release) a task: a signal to co-approvers, not a lock.
    /// Whoever may vote on the task may claim it while nobody holds it; only
    /// the claimer releases.
    pub fn claim(&mut self, actor: &str, task_id: &str, claim: bool) -> AweResult<()> {
        self.check_action(task_id, actor, if claim { Action::Claim } else { Action::Release })?;
        let idx = self.task_index(task_id)?;
        let previous = self.state.tasks[idx].claimed_by.clone();
        let claimer = claim.then(|| actor.to_string());
        self.state.tasks[idx].claimed_by = claimer.clone();
        if let Some(change) = self.task_change(idx) {
            change.claimed_by = Some(claimer);
        }
        let stage = self.state.tasks[idx].stage;
        let kind = if claim { "task.claimed" } else { "task.released" };
        self.emit(kind, actor, Some(stage), Some(task_id.to_string()), json!({"previous": previous}));
        Ok(())
    }

    /// A comment on the request, or on one open task by whoever may act on
    /// it (observers included). Comments change no state.
    pub fn comment(&mut self, actor: &str, task_id: Option<&str>, body: &str) -> AweResult<()> {
        let stage = match task_id {
            Some(id) => {
                self.check_action(id, actor, Action::Comment)?;
                Some(self.task(id)?.stage)
            }
            None => None,
        };
        self.emit("comment.added", actor, stage, task_id.map(str::to_string), json!({"body": body}));
        Ok(())
    }

    fn task(&self, task_id: &str) -> AweResult<&Task> {
        self.task_index(task_id).map(|i| &self.state.tasks[i])
    }

    fn task_index(&self, task_id: &str) -> AweResult<usize> {
        self.state.tasks.iter().position(|t| t.id == task_id).ok_or_else(|| AweError::new(Code::TaskNotFound, format!("task {task_id} not found")))
    }

    /// Whether `actor` takes part in this request: its requester, someone
    /// who has or had a task on it, or someone an open task's assignee has
    /// delegated to (who may act on that task, so may read the request).
    pub fn involves(&mut self, actor: &str) -> AweResult<bool> {
        if self.state.requester.as_deref() == Some(actor)
            || self.state.tasks.iter().any(|t| t.assignee == actor || t.decided_by.as_deref() == Some(actor))
        {
            return Ok(true);
        }
        let open: Vec<Task> = self.state.tasks.iter().filter(|t| t.status == TaskStatus::Open).cloned().collect();
        for t in open {
            if self.check_actor(&t, actor).is_ok() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds tasks to an active stage (SLA escalation), recording each new
    /// task and the task it replaces (`expired_task_id`), if any, in the
    /// event. Returns the new ids.
    pub fn add_approvers(&mut self, actor: &str, stage: usize, principals: &[String], event: &'static str, expired_task_id: Option<&str>, reason: &str) -> AweResult<Vec<String>> {
        if self.state.stages[stage] != StageStatus::Active {
            return Ok(Vec::new());
        }
        let existing: HashSet<String> = self.current_tasks(stage).filter(|(_, t)| t.status == TaskStatus::Open || t.status == TaskStatus::Approved).map(|(_, t)| t.assignee.clone()).collect();
        let mut tasks = Vec::new();
        for p in principals.iter().filter(|p| !existing.contains(*p)) {
            let id = self.push_task(stage, p, None, RuleKind::Approver, false);
            tasks.push((id, p.clone()));
        }
        let ids: Vec<String> = tasks.iter().map(|(id, _)| id.clone()).collect();
        self.emit(event, actor, Some(stage), None, json!({
            "added": principals,
            "task_ids": ids,
            "tasks": tasks.iter().map(|(id, p)| json!({"task_id": id, "assignee": p})).collect::<Vec<_>>(),
            "expired_task_id": expired_task_id,
            "reason": reason,
        }));
        Ok(ids)
    }

    /// A task's SLA timer fired. Records the breach per the stage's
    /// `on_breach` (a plain `task.overdue` without one) with the system actor
    /// and returns when to fire again (reminders), if ever.
    pub fn breach(&mut self, task_id: &str, reminders_sent: u32) -> AweResult<Option<i64>> {
        let task = self.task(task_id)?.clone();
        if task.status != TaskStatus::Open || self.state.status != RequestStatus::InReview {
            return Ok(None);
        }
        let stage = &self.policy.stages[task.stage];
        let sys = SYSTEM_ACTOR;
        let Some(b) = stage.on_breach.clone() else {
            self.emit("task.overdue", sys, Some(task.stage), Some(task.id.clone()), json!({"assignee": task.assignee, "action": "notify"}));
            return Ok(None);
        };
        match b.action {
            BreachAction::Notify => {
                self.emit("task.overdue", sys, Some(task.stage), Some(task.id.clone()), json!({"assignee": task.assignee, "action": "notify"}));
                Ok(None)
            }
            BreachAction::Remind => {
                let n = reminders_sent + 1;
                self.emit("task.reminder", sys, Some(task.stage), Some(task.id.clone()),
                    json!({"assignee": task.assignee, "reminder": n, "of": b.max}));
                Ok((n < b.max).then(|| self.env.now + b.every.unwrap_or(3_600) * 1_000_000))
            }
            BreachAction::Escalate => {
                self.emit("task.overdue", sys, Some(task.stage), Some(task.id.clone()), json!({"assignee": task.assignee, "action": "escalate"}));
                // On an `all` stage the overdue task would still block, so
                // there it expires and the escalation approvers take its place.
                let expire = stage.mode == Mode::All;
                self.escalate(&task, &b.rules, "sla_breach", expire)?;
                Ok(None)
            }
            BreachAction::AutoApprove | BreachAction::AutoReject => {
                let decision = if b.action == BreachAction::AutoApprove { Decision::Approve } else { Decision::Reject };
                let idx = self.task_index(&task.id)?;
                // Recorded as the system's decision, never the absent
                // assignee's vote.
                self.record_decision(idx, decision, sys, Some("sla breached"));
                self.emit("task.decided", sys, Some(task.stage), Some(task.id.clone()),
                    json!({"decision": decision.as_str(), "assignee": task.assignee, "revision": task.revision, "auto": true, "reason": "sla breached"}));
                self.advance_or_fail(sys)?;
                Ok(None)
            }
        }
    }

    /// Adds the approvers `rules` resolve to the task's stage
    /// (`stage.escalated`, with `reason`), and expires the task when
    /// `expire_task` and escalation found anyone. Escalation honours
    /// segregation of duties like any resolution, never goes to the task's
    /// own assignee (an escalated task that is overdue in turn changes
    /// nothing), nor to anyone inactive; people who already have a live task
    /// on the stage are not added twice (add_approvers).
    fn escalate(&mut self, task: &Task, rules: &[crate::policy::Rule], reason: &str, expire_task: bool) -> AweResult<()> {
        let sys = SYSTEM_ACTOR;
        let mut principals = Vec::new();
        for rule in rules {
            principals.extend(crate::resolve::resolve_rule(rule, &self.state.context, self.env.dir, self.env.logic, self.env.max_logic_depth)?);
        }
        let inactive: HashSet<String> = self.env.dir.inactive(&principals)?.into_iter().collect();
        let mut kept = Vec::new();
        for p in principals {
            if p != task.assignee && p != SYSTEM_ACTOR && !inactive.contains(&p) && self.sod_violation(task.stage, &p)?.is_none()
                && !(self.policy.forbid_repeat_approvers && self.earlier_approvers(task.stage).contains(&p)) && !kept.contains(&p) {
                kept.push(p);
            }
        }
        let expired = (!kept.is_empty() && expire_task).then(|| task.id.clone());
        if expired.is_some() {
            let idx = self.task_index(&task.id)?;
            self.set_task(idx, TaskStatus::Expired);
        }
        self.add_approvers(sys, task.stage, &kept, "stage.escalated", expired.as_deref(), reason)?;
        self.advance_or_fail(sys)
    }

    /// The task's assignee is no longer active in the directory (they left,
    /// or were disabled in the identity provider). Recorded as
    /// `task.assignee_inactive`. Where the stage escalates on breach
    /// (`on_breach: {action: escalate}`), its escalation rules apply at once
    /// and the leaver's task expires (whatever the stage's mode: nobody will
    /// decide it); otherwise the task stays open, for an admin to reassign
    /// (the `awe.stalled_tasks` view lists it). Returns whether anything was
    /// recorded.
    pub fn assignee_inactive(&mut self, task_id: &str) -> AweResult<bool> {
        let task = self.task(task_id)?.clone();
        if task.status != TaskStatus::Open || self.state.status.is_terminal() {
            return Ok(false);
        }
        let stage = &self.policy.stages[task.stage];
        let rules = match &stage.on_breach {
            Some(b) if b.action == BreachAction::Escalate && task.kind == RuleKind::Approver => Some(b.rules.clone()),
            _ => None,
        };
        self.emit("task.assignee_inactive", SYSTEM_ACTOR, Some(task.stage), Some(task.id.clone()),
            json!({"assignee": task.assignee, "kind": task.kind.as_str(), "escalated": rules.is_some()}));
        match rules {
            Some(rules) if self.state.stages[task.stage] == StageStatus::Active => self.escalate(&task, &rules, "assignee_inactive", true)?,
            _ => {}
        }
        Ok(true)
    }

    fn push_task(&mut self, stage: usize, principal: &str, delegated_from: Option<String>, kind: RuleKind, required: bool) -> String {
        let id = (self.env.new_id)();
        let due_at = self.policy.stages[stage].sla.map(|s| self.env.now + s * 1_000_000);
        let task = Task { id: id.clone(), stage, revision: self.state.revision, assignee: principal.to_string(), delegated_from, kind, required, status: TaskStatus::Open, due_at, decided_by: None, claimed_by: None, is_new: true };
        self.state.tasks.push(task.clone());
        self.effects.new_tasks.push(task);
        id
    }

    // ---- progression ------------------------------------------------------

    /// Re-evaluates the current step until nothing more can move.
    pub fn advance(&mut self, actor: &str) -> AweResult<()> {
        loop {
            if self.state.status.is_terminal() || self.state.status == RequestStatus::ChangesRequested {
                return Ok(());
            }
            let Some(step) = self.current_step() else {
                self.set_status(RequestStatus::Approved);
                self.emit("request.approved", actor, None, None, json!({}));
                return Ok(());
            };
            for &i in &step {
                if self.state.stages[i] == StageStatus::Waiting {
                    self.start_stage(i, actor, &[])?;
                }
            }
            for &i in &step {
                if self.state.stages[i] == StageStatus::Active {
                    self.settle_stage(i, actor);
                }
            }
            if let Some(&rejected) = step.iter().find(|&&i| self.state.stages[i] == StageStatus::Rejected) {
                return self.reject_request(actor, rejected);
            }
            if !step.iter().all(|&i| self.state.stages[i].is_passed()) {
                let has_tasks = step.iter().any(|&i| self.state.stages[i] == StageStatus::Active);
                if has_tasks && self.state.status == RequestStatus::Pending {
                    self.set_status(RequestStatus::InReview);
                }
                return Ok(());
            }
        }
    }

    /// Starts one stage: `skip_if`, then resolution (or `resolving` for http
    /// rules), then `on_empty`, then tasks.
    pub fn start_stage(&mut self, i: usize, actor: &str, http_principals: &[String]) -> AweResult<()> {
        let stage = &self.policy.stages[i];
        if let Some(cond) = &stage.skip_if {
            if self.env.logic.truthy(cond, &self.state.context, self.env.max_logic_depth)? {
                self.set_stage(i, StageStatus::Skipped);
                self.emit("stage.skipped", actor, Some(i), None, json!({"reason": "skip_if"}));
                return Ok(());
            }
        }
        if stage.has_http_rules() && self.state.stages[i] != StageStatus::Resolving {
            self.set_stage(i, StageStatus::Resolving);
            self.emit("stage.resolving", actor, Some(i), None, json!({"revision": self.state.revision}));
            return Ok(());
        }
        let earlier = self.earlier_approvers(i);
        let requester = self.state.requester.clone();
        let sod = SodInput { requester: requester.as_deref(), earlier_approvers: &earlier };
        let res = resolve_stage_approvers(self.policy, i, &self.state.context, &sod, http_principals, self.env.dir, self.env.logic, self.env.max_logic_depth)?;
        if res.assignees.len() > self.env.max_approvers_per_stage {
            return err(Code::LimitExceeded, format!(
                "stage \"{}\" resolved {} approvers; the limit (awe.max_approvers_per_stage) is {}",
                stage.name, res.assignees.len(), self.env.max_approvers_per_stage
            ));
        }
        let approvers = res.approver_count();
        if let Some(reason) = res.shortfall(stage.mode) {
            return self.stage_empty(i, actor, &reason, json!({"excluded": res.excluded}));
        }
        // The request is in review from the moment a stage has tasks, so
        // the events that create them already say so (the trail alone
        // tells the request's status at every point).
        if self.state.status == RequestStatus::Pending {
            self.set_status(RequestStatus::InReview);
        }
        self.set_stage(i, StageStatus::Active);
        self.emit("stage.started", actor, Some(i), None, json!({"revision": self.state.revision, "approvers": approvers, "excluded": res.excluded}));
        for a in res.assignees {
            let id = self.push_task(i, &a.principal, a.delegated_from.clone(), a.kind, a.required);
            let due = self.state.tasks.last().and_then(|t| t.due_at);
            self.emit("task.created", actor, Some(i), Some(id), json!({
                "assignee": a.principal, "delegated_from": a.delegated_from, "kind": a.kind.as_str(),
                "required": a.required, "due_at_us": due,
            }));
        }
        Ok(())
    }

    /// `on_empty`: block rejects the request with the reason; skip skips.
    fn stage_empty(&mut self, i: usize, actor: &str, reason: &str, extra: Value) -> AweResult<()> {
        let mut data = json!({"reason": reason});
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        match self.policy.stages[i].on_empty {
            OnEmpty::Skip => {
                self.close_open_tasks(i, TaskStatus::Skipped);
                self.set_stage(i, StageStatus::Skipped);
                data["on_empty"] = json!("skip");
                self.emit("stage.skipped", actor, Some(i), None, data);
            }
            OnEmpty::Block => {
                self.close_open_tasks(i, TaskStatus::Skipped);
                self.set_stage(i, StageStatus::Rejected);
                data["on_empty"] = json!("block");
                self.emit("stage.completed", actor, Some(i), None, json!({"outcome": "rejected", "reason": data["reason"], "on_empty": "block",
                                                                        "excluded": data.get("excluded").cloned().unwrap_or(json!([]))}));
            }
        }
        Ok(())
    }

    fn settle_stage(&mut self, i: usize, actor: &str) {
        let stage = &self.policy.stages[i];
        let result = tally(stage.mode, stage.veto, self.current_tasks(i).map(|(_, t)| t));
        match result {
            Tally::Pending => {}
            Tally::Approved => {
                self.close_open_tasks(i, TaskStatus::Skipped);
                self.set_stage(i, StageStatus::Approved);
                self.emit("stage.completed", actor, Some(i), None, json!({"outcome": "approved"}));
            }
            Tally::Rejected(reason) => {
                self.close_open_tasks(i, TaskStatus::Skipped);
                self.set_stage(i, StageStatus::Rejected);
                self.emit("stage.completed", actor, Some(i), None, json!({"outcome": "rejected", "reason": reason}));
            }
            Tally::Empty => {
                let _ = self.stage_empty(i, actor, "every approver abstained", json!({}));
            }
        }
    }

    /// A rejected request ends: stages still running, and later stages that
    /// never started, become `cancelled`.
    fn reject_request(&mut self, actor: &str, stage: usize) -> AweResult<()> {
        for i in 0..self.state.stages.len() {
            if matches!(self.state.stages[i], StageStatus::Active | StageStatus::Resolving | StageStatus::Waiting) {
                self.close_open_tasks(i, TaskStatus::Skipped);
                self.set_stage(i, StageStatus::Cancelled);
            }
        }
        self.set_status(RequestStatus::Rejected);
        self.emit("request.rejected", actor, Some(stage), None, json!({}));
        Ok(())
    }

    /// Completes a `resolving` stage with what its http rules answered.
    pub fn complete_resolution(&mut self, stage: usize, actor: &str, principals: &[String]) -> AweResult<()> {
        if self.state.stages[stage] != StageStatus::Resolving {
            return err(Code::RequestState, format!("stage {stage} is not resolving"));
        }
        if let Err(e) = self.start_stage(stage, actor, principals) {
            if !matches!(e.code, Code::LogicInvalid | Code::LimitExceeded) {
                return Err(e);
            }
            let reason = format!("the resolver's answer could not be used: {}", e.message);
            return self.terminate(RequestStatus::Failed, "request.failed", SYSTEM_ACTOR, &reason);
        }
        for i in 0..self.state.stages.len() {
            if self.state.stages[i] == StageStatus::Active {
                self.settle_stage(i, actor);
            }
        }
        self.advance_or_fail(actor)
    }

    /// The stage's http resolver failed for good (after its retries). The
    /// stage's `on_resolver_failure` routes it: `fail` ends the request
    /// (`request.failed`), `skip` skips the stage (`stage.skipped`) and moves
    /// on, `escalate` starts the stage with the approvers its `on_breach`
    /// escalation rules find in place of the resolver's answer. Each route
    /// is announced by `stage.resolver_failed` first.
    pub fn resolver_failed(&mut self, stage: usize, reason: &str) -> AweResult<()> {
        if self.state.stages.get(stage) != Some(&StageStatus::Resolving) || self.state.status.is_terminal() {
            return Ok(());
        }
        let st = &self.policy.stages[stage];
        let route = st.on_resolver_failure;
        let sys = SYSTEM_ACTOR;
        self.emit("stage.resolver_failed", sys, Some(stage), None, json!({"reason": reason, "on_resolver_failure": route}));
        match route {
            OnResolverFailure::Fail => self.terminate(RequestStatus::Failed, "request.failed", sys, reason),
            OnResolverFailure::Skip => {
                self.set_stage(stage, StageStatus::Skipped);
                self.emit("stage.skipped", sys, Some(stage), None, json!({"reason": format!("the approver resolver failed: {reason}"), "on_resolver_failure": "skip"}));
                self.advance_or_fail(sys)
            }
            OnResolverFailure::Escalate => {
                let rules = st.on_breach.as_ref().map(|b| b.rules.clone()).unwrap_or_default();
                let mut principals = Vec::new();
                for rule in &rules {
                    principals.extend(crate::resolve::resolve_rule(rule, &self.state.context, self.env.dir, self.env.logic, self.env.max_logic_depth)?);
                }
                self.complete_resolution(stage, sys, &principals)
            }
        }
    }

    pub fn into_parts(self) -> (RequestState, Effects) {
        (self.state, self.effects)
    }
}

/// What every action on one task depends on, for one actor (`Machine::gate`).
struct Gate {
    actor: String,
    task: Task,
    /// Whether the actor may vote on the task, and if not why.
    vote: Result<(), String>,
    /// The actor approved another stage and the policy forbids repeat approvers.
    repeat: bool,
}

impl Gate {
    fn allows(&self, action: Action, m: &Machine<'_, '_>) -> AweResult<()> {
        let refuse = |why: String| Err(AweError::new(Code::ActionNotAllowed, why).with_hint("see the task's available_actions"));
        let vote = || self.vote.clone().or_else(refuse);
        let revision = self.task.kind == RuleKind::Revision;
        match action {
            Action::Comment => Ok(()),
            Action::Resubmit | Action::Withdraw if revision => Ok(()),
            Action::Resubmit | Action::Withdraw => refuse("resubmit and withdraw are the requester's, on a revision task".into()),
            _ if revision => vote(),
            Action::Release => match self.task.claimed_by.as_deref() {
                Some(c) if c == self.actor => Ok(()),
                Some(c) => refuse(format!("task {} is claimed by {c}, not {}", self.task.id, self.actor)),
                None => refuse(format!("task {} is not claimed", self.task.id)),
            },
            Action::Claim => match self.task.claimed_by.as_deref() {
                Some(c) => refuse(format!("task {} is already claimed by {c}", self.task.id)),
                None => vote(),
            },
            Action::Approve => {
                vote()?;
                if self.repeat {
                    return refuse(format!("{} already approved another stage and this policy forbids repeat approvers", self.actor));
                }
                Ok(())
            }
            Action::Reject => vote(),
            Action::Abstain => {
                vote()?;
                if self.task.required {
                    return refuse("a required approver cannot abstain".into());
                }
                Ok(())
            }
            Action::RequestChanges => {
                vote()?;
                if m.revisions_used() >= m.policy.max_revisions {
                    return Err(AweError::new(Code::MaxRevisions, format!("this request already had {} revision(s), the policy's max_revisions", m.policy.max_revisions))
                        .with_hint("approve or reject instead"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
