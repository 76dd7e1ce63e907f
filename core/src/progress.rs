//! Stage progression: the one place that moves a request forward.
//!
//! Every operation (submit, decide, resubmit, cancel, …) mutates an in-memory
//! `RequestState` through a `Machine`, which records the `Effects` for the
//! shell to write. The shell holds the request row lock for the whole
//! operation, so each request advances exactly once however many approvers
//! click at the same moment.

use crate::decide::{tally, Tally};
use crate::error::{err, AweError, AweResult, Code};
use crate::logic::LogicCache;
use crate::model::*;
use crate::policy::{BreachAction, Mode, OnEmpty, Policy, RuleKind};
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
}

impl<'p, 'e> Machine<'p, 'e> {
    pub fn new(policy: &'p Policy, state: RequestState, env: Env<'e>) -> Self {
        Machine { policy, state, effects: Effects::default(), env }
    }

    /// A brand-new request: all stages waiting, revision 1.
    pub fn new_request(policy: &Policy, id: String, requester: Option<String>, context: Value) -> RequestState {
        RequestState {
            id,
            status: RequestStatus::Pending,
            revision: 1,
            requester,
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
        let t = &mut self.state.tasks[idx];
        t.status = s;
        if t.is_new {
            if let Some(n) = self.effects.new_tasks.iter_mut().find(|n| n.id == t.id) {
                n.status = s;
            }
        } else {
            let id = t.id.clone();
            self.effects.task_changes.retain(|c| c.id != id);
            self.effects.task_changes.push(TaskChange { id, status: s });
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

    fn earlier_approvers(&self, stage: usize) -> HashSet<String> {
        self.state
            .tasks
            .iter()
            .filter(|t| t.stage != stage && t.status == TaskStatus::Approved)
            .map(|t| t.voter().to_string())
            .collect()
    }

    // ---- operations -------------------------------------------------------

    /// Submission: records creation and starts the first step.
    pub fn submit(&mut self, actor: &str) -> AweResult<()> {
        if self.policy.forbid_self_approval && self.state.requester.is_none() {
            return err(Code::RequesterRequired, "this policy forbids self-approval, so submit needs a requester")
                .map_err(|e| e.with_hint("pass requester => '<principal id>'"));
        }
        self.emit("request.created", actor, None, None, json!({"revision": 1, "requester": self.state.requester}));
        self.advance(actor)
    }

    /// A decision on one task.
    pub fn decide(&mut self, d: &DecisionInput<'_>) -> AweResult<()> {
        let task = self.task(d.task_id)?.clone();
        let idx = self.state.tasks.iter().position(|t| t.id == d.task_id).unwrap_or_default();
        if task.status != TaskStatus::Open {
            return Err(AweError::new(Code::TaskClosed, format!("task {} is already {}; decisions are final", task.id, task.status.as_str()))
                .with_details(json!({"task_id": task.id, "task_status": task.status.as_str()})));
        }
        if self.state.status != RequestStatus::InReview {
            return Err(AweError::new(Code::RequestState, format!("request {} is {}, not in_review", self.state.id, self.state.status.as_str())));
        }
        self.check_actor(&task, d.actor)?;
        let refuse = |why: String| Err(AweError::new(Code::ActionNotAllowed, why).with_hint("see the task's available_actions"));
        if task.kind == RuleKind::Observer {
            return refuse(format!("task {} is an observer task: it can comment but not decide", task.id));
        }
        // Segregation of duties applies to whoever actually votes: a delegate
        // may be the requester, or someone who approved another stage.
        if let Some(reason) = self.sod_violation(task.stage, d.actor)? {
            return refuse(format!("{} may not vote on this request ({reason})", d.actor));
        }
        match d.decision {
            Decision::Abstain if task.required => return refuse("a required approver cannot abstain".into()),
            Decision::Approve if self.policy.forbid_repeat_approvers && self.earlier_approvers(task.stage).contains(d.actor) => {
                return refuse(format!("{} already approved another stage and this policy forbids repeat approvers", d.actor))
            }
            Decision::RequestChanges if self.revisions_used() >= self.policy.max_revisions => {
                return Err(AweError::new(Code::MaxRevisions, format!("this request already had {} revision(s), the policy's max_revisions", self.policy.max_revisions))
                    .with_hint("approve or reject instead"));
            }
            _ => {}
        }
        self.set_task(idx, d.decision.task_status());
        self.state.tasks[idx].decided_by = Some(d.actor.to_string());
        let mut data = json!({"decision": d.decision.as_str(), "assignee": task.assignee, "revision": task.revision});
        if let Some(c) = d.comment {
            data["comment"] = json!(c);
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
        self.advance(d.actor)
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
        self.emit("request.changes_requested", actor, Some(stage), None, json!({"comment": comment, "revision": self.state.revision}));
        Ok(())
    }

    /// The requester sends an updated context after a send-back; the current
    /// step restarts and re-resolves its approvers with the new context.
    pub fn resubmit(&mut self, actor: &str, context: Value) -> AweResult<()> {
        if self.state.status != RequestStatus::ChangesRequested {
            return err(Code::RequestState, format!("request {} is {}; only changes_requested requests can be resubmitted", self.state.id, self.state.status.as_str()));
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
        self.emit("request.resubmitted", actor, None, None, json!({"revision": self.state.revision}));
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
        self.set_task(idx, TaskStatus::Reassigned);
        let new_id = (self.env.new_id)();
        let task = Task { id: new_id.clone(), assignee: to.to_string(), delegated_from: None, status: TaskStatus::Open, decided_by: None, is_new: true, ..old.clone() };
        self.state.tasks.push(task.clone());
        self.effects.new_tasks.push(task);
        self.emit("task.reassigned", actor, Some(old.stage), Some(old.id.clone()),
            json!({"from": old.assignee, "to": to, "new_task_id": new_id, "reason": reason}));
        Ok(new_id)
    }

    /// Claim (or release) a task: a signal to co-approvers, not a lock.
    /// Anyone who may decide the task may claim it; only the claimer releases.
    pub fn claim(&mut self, actor: &str, task_id: &str, claim: bool, claimed_by: Option<&str>) -> AweResult<()> {
        let task = self.task(task_id)?.clone();
        if task.status != TaskStatus::Open {
            return err(Code::TaskClosed, format!("task {task_id} is {}; only open tasks can be claimed or released", task.status.as_str()));
        }
        if self.state.status != RequestStatus::InReview {
            return err(Code::RequestState, format!("request {} is {}, not in_review", self.state.id, self.state.status.as_str()));
        }
        self.check_actor(&task, actor)?;
        if !claim && claimed_by != Some(actor) {
            return Err(AweError::new(Code::ActionNotAllowed, format!("task {task_id} is not claimed by {actor}")));
        }
        let kind = if claim { "task.claimed" } else { "task.released" };
        self.emit(kind, actor, Some(task.stage), Some(task.id.clone()), json!({"previous": claimed_by}));
        Ok(())
    }

    /// A comment on the request, or on one task by whoever may act on it
    /// (observers included). Comments change no state.
    pub fn comment(&mut self, actor: &str, task_id: Option<&str>, body: &str) -> AweResult<()> {
        let stage = match task_id {
            Some(id) => {
                let task = self.task(id)?.clone();
                self.check_actor(&task, actor)?;
                Some(task.stage)
            }
            None => None,
        };
        self.emit("comment.added", actor, stage, task_id.map(str::to_string), json!({"body": body}));
        Ok(())
    }

    fn task(&self, task_id: &str) -> AweResult<&Task> {
        self.state.tasks.iter().find(|t| t.id == task_id).ok_or_else(|| AweError::new(Code::TaskNotFound, format!("task {task_id} not found")))
    }

    /// Adds tasks to an active stage (SLA escalation). Returns the new ids.
    pub fn add_approvers(&mut self, actor: &str, stage: usize, principals: &[String], event: &'static str) -> AweResult<Vec<String>> {
        if self.state.stages[stage] != StageStatus::Active {
            return Ok(Vec::new());
        }
        let existing: HashSet<String> = self.current_tasks(stage).filter(|(_, t)| t.status == TaskStatus::Open || t.status == TaskStatus::Approved).map(|(_, t)| t.assignee.clone()).collect();
        let mut ids = Vec::new();
        for p in principals.iter().filter(|p| !existing.contains(*p)) {
            let id = self.push_task(stage, p, None, RuleKind::Approver, false);
            ids.push(id);
        }
        self.emit(event, actor, Some(stage), None, json!({"added": principals, "task_ids": ids}));
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
                let mut principals = Vec::new();
                for rule in &b.rules {
                    principals.extend(crate::resolve::resolve_rule(rule, &self.state.context, self.env.dir, self.env.logic, self.env.max_logic_depth)?);
                }
                // Escalation honours segregation of duties like any resolution.
                let mut kept = Vec::new();
                for p in principals {
                    if self.sod_violation(task.stage, &p)?.is_none() && !(self.policy.forbid_repeat_approvers && self.earlier_approvers(task.stage).contains(&p)) && !kept.contains(&p) {
                        kept.push(p);
                    }
                }
                // Escalation adds approvers. On an `all` stage the overdue task
                // would still block, so there it expires and the escalation
                // approvers take its place (if escalation found anyone).
                if !kept.is_empty() && stage.mode == Mode::All {
                    let idx = self.state.tasks.iter().position(|t| t.id == task.id).unwrap_or_default();
                    self.set_task(idx, TaskStatus::Expired);
                }
                self.add_approvers(sys, task.stage, &kept, "stage.escalated")?;
                self.advance(sys)?;
                Ok(None)
            }
            BreachAction::AutoApprove | BreachAction::AutoReject => {
                let decision = if b.action == BreachAction::AutoApprove { Decision::Approve } else { Decision::Reject };
                let idx = self.state.tasks.iter().position(|t| t.id == task.id).unwrap_or_default();
                self.set_task(idx, decision.task_status());
                self.state.tasks[idx].decided_by = Some(sys.to_string());
                self.emit("task.decided", sys, Some(task.stage), Some(task.id.clone()),
                    json!({"decision": decision.as_str(), "assignee": task.assignee, "revision": task.revision, "auto": true, "reason": "sla breached"}));
                self.advance(sys)?;
                Ok(None)
            }
        }
    }

    fn push_task(&mut self, stage: usize, principal: &str, delegated_from: Option<String>, kind: RuleKind, required: bool) -> String {
        let id = (self.env.new_id)();
        let due_at = self.policy.stages[stage].sla.map(|s| self.env.now + s * 1_000_000);
        let task = Task { id: id.clone(), stage, revision: self.state.revision, assignee: principal.to_string(), delegated_from, kind, required, status: TaskStatus::Open, due_at, decided_by: None, is_new: true };
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
        let optional = res.assignees.iter().filter(|a| a.kind == RuleKind::Approver && !a.required).count();
        let needed = match stage.mode {
            Mode::Any { n } if optional > 0 => n as usize,
            _ => 1,
        };
        if approvers == 0 || (optional > 0 && optional < needed) {
            let reason = if approvers == 0 { "no approver resolved".to_string() } else { format!("only {optional} approver(s) resolved, {needed} needed") };
            return self.stage_empty(i, actor, &reason, json!({"excluded": res.excluded}));
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
                self.emit("stage.completed", actor, Some(i), None, json!({"outcome": "rejected", "reason": data["reason"], "on_empty": "block"}));
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

    fn reject_request(&mut self, actor: &str, stage: usize) -> AweResult<()> {
        for i in 0..self.state.stages.len() {
            if matches!(self.state.stages[i], StageStatus::Active | StageStatus::Resolving) {
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
        self.start_stage(stage, actor, principals)?;
        for i in 0..self.state.stages.len() {
            if self.state.stages[i] == StageStatus::Active {
                self.settle_stage(i, actor);
            }
        }
        self.advance(actor)
    }

    pub fn into_parts(self) -> (RequestState, Effects) {
        (self.state, self.effects)
    }
}

#[cfg(test)]
mod tests;
