//! Decision-mode arithmetic and who may do what with a task.

use crate::model::{Decision, Task, TaskStatus};
use serde::Serialize;
use serde_json::Value;
use crate::policy::Mode;
#[cfg(test)]
use crate::policy::RuleKind;

/// Where a stage stands after counting its live votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    Pending,
    Approved,
    Rejected(String),
    /// No live approver is left (all abstained, or nobody resolved).
    Empty,
}

/// Votes needed from the optional (non-required) approvers when `optional`
/// of them are live. Required approvers are counted apart: "2 of 5 plus the
/// CFO" is three signatures. A stage whose approvers are all required needs
/// no optional vote.
pub fn threshold(mode: Mode, optional: usize) -> usize {
    if optional == 0 {
        return 0;
    }
    match mode {
        Mode::All => optional,
        Mode::Any { n } => n as usize,
        // ceil(p/100 × live) in integers, and at least one vote.
        Mode::Percentage { p } => ((p as usize * optional).div_ceil(100)).max(1),
    }
}

/// Counts the live approver tasks of one stage (current revision only).
pub fn tally<'a>(mode: Mode, veto: bool, tasks: impl IntoIterator<Item = &'a Task>) -> Tally {
    let live: Vec<&Task> = tasks.into_iter().filter(|t| t.is_live_vote()).collect();
    if live.is_empty() {
        return Tally::Empty;
    }
    if veto {
        if let Some(t) = live.iter().find(|t| t.status == TaskStatus::Rejected) {
            return Tally::Rejected(format!("rejected by {}", t.decided_by.as_deref().unwrap_or(&t.assignee)));
        }
    }
    if let Some(t) = live.iter().find(|t| t.required && t.status == TaskStatus::Rejected) {
        return Tally::Rejected(format!("required approver {} rejected", t.decided_by.as_deref().unwrap_or(&t.assignee)));
    }
    let optional: Vec<&&Task> = live.iter().filter(|t| !t.required).collect();
    let count = |s: TaskStatus| optional.iter().filter(|t| t.status == s).count();
    let (approved, rejected, open) = (count(TaskStatus::Approved), count(TaskStatus::Rejected), count(TaskStatus::Open));
    let need = threshold(mode, optional.len());
    if approved + open < need {
        return Tally::Rejected(format!(
            "{approved} approval(s) and {open} open task(s) can no longer reach the {need} needed ({rejected} rejected)"
        ));
    }
    let required_open = live.iter().any(|t| t.required && t.status == TaskStatus::Open);
    if approved >= need && !required_open {
        Tally::Approved
    } else {
        Tally::Pending
    }
}

/// What a person can do with a task. The inbox lists the actions a viewer
/// may take (`Machine::available_actions`), and every operation checks its
/// action with the same code (`Machine::check_action`), so whatever the
/// inbox offers is exactly what the operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Reject,
    Abstain,
    RequestChanges,
    Comment,
    Claim,
    Release,
    /// On a revision task (after request_changes): send the updated request.
    Resubmit,
    /// On a revision task: give up the request.
    Withdraw,
}

/// An available action as a client renders it, knowing nothing of the
/// workflow: a button with its label and colour, whether it asks for a
/// comment, and the form (a JSON Schema, the context_schema subset) for the
/// data it takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionView {
    pub action: &'static str,
    pub label: &'static str,
    /// `primary`, `danger` or `neutral`.
    pub severity: &'static str,
    pub requires_comment: bool,
    pub form: Option<Value>,
}

impl Action {
    /// An approver's actions, in the order clients show them.
    pub const ALL: [Action; 7] = [Action::Approve, Action::Reject, Action::Abstain, Action::RequestChanges, Action::Comment, Action::Claim, Action::Release];
    /// A revision task's actions.
    pub const REVISION: [Action; 3] = [Action::Resubmit, Action::Withdraw, Action::Comment];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Abstain => "abstain",
            Action::RequestChanges => "request_changes",
            Action::Comment => "comment",
            Action::Claim => "claim",
            Action::Release => "release",
            Action::Resubmit => "resubmit",
            Action::Withdraw => "withdraw",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::Approve => "Approve",
            Action::Reject => "Reject",
            Action::Abstain => "Abstain",
            Action::RequestChanges => "Request changes",
            Action::Comment => "Comment",
            Action::Claim => "Claim",
            Action::Release => "Release",
            Action::Resubmit => "Resubmit",
            Action::Withdraw => "Withdraw",
        }
    }

    pub fn severity(self) -> &'static str {
        match self {
            Action::Approve | Action::Resubmit => "primary",
            Action::Reject | Action::Withdraw => "danger",
            _ => "neutral",
        }
    }

    /// The decision an action makes, if it is one.
    pub fn decision(self) -> Option<Decision> {
        match self {
            Action::Approve => Some(Decision::Approve),
            Action::Reject => Some(Decision::Reject),
            Action::Abstain => Some(Decision::Abstain),
            Action::RequestChanges => Some(Decision::RequestChanges),
            _ => None,
        }
    }

    pub fn of_decision(d: Decision) -> Action {
        match d {
            Decision::Approve => Action::Approve,
            Decision::Reject => Action::Reject,
            Decision::Abstain => Action::Abstain,
            Decision::RequestChanges => Action::RequestChanges,
        }
    }

    pub fn is_decision(self) -> bool {
        matches!(self, Action::Approve | Action::Reject | Action::Abstain | Action::RequestChanges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> Task {
        Task {
            id: String::new(),
            stage: 0,
            revision: 1,
            assignee: "u".into(),
            delegated_from: None,
            kind: RuleKind::Approver,
            required: false,
            status,
            due_at: None,
            decided_by: None,
            claimed_by: None,
            is_new: false,
        }
    }

    fn run(mode: Mode, veto: bool, statuses: &[TaskStatus]) -> Tally {
        let tasks: Vec<Task> = statuses.iter().map(|s| task(*s)).collect();
        tally(mode, veto, &tasks)
    }

    use TaskStatus::{Abstained as Ab, Approved as A, Open as O, Reassigned as Re, Rejected as R};

    #[test]
    fn all_mode() {
        assert_eq!(run(Mode::All, true, &[A, O]), Tally::Pending);
        assert_eq!(run(Mode::All, true, &[A, A]), Tally::Approved);
        assert!(matches!(run(Mode::All, true, &[A, R, O]), Tally::Rejected(_)));
        assert!(matches!(run(Mode::All, false, &[A, R, O]), Tally::Rejected(_)));
        // A reassigned task no longer counts: its replacement does.
        assert_eq!(run(Mode::All, true, &[A, Re]), Tally::Approved);
    }

    #[test]
    fn any_n_mode() {
        let m = Mode::Any { n: 2 };
        assert_eq!(run(m, true, &[A, O, O, O, O]), Tally::Pending);
        assert_eq!(run(m, true, &[A, A, O, O, O]), Tally::Approved);
        assert!(matches!(run(m, true, &[A, R, O, O, O]), Tally::Rejected(_)));
        // Without veto a reject only matters when n is out of reach.
        assert_eq!(run(m, false, &[A, R, O, O, O]), Tally::Pending);
        assert!(matches!(run(m, false, &[A, R, R, R, R]), Tally::Rejected(_)));
        assert_eq!(run(m, false, &[A, R, R, R, A]), Tally::Approved);
    }

    #[test]
    fn percentage_mode_and_abstain_leaves_the_denominator() {
        let m = Mode::Percentage { p: 60 };
        assert_eq!(threshold(m, 5), 3);
        assert_eq!(threshold(m, 4), 3); // ceil(2.4)
        assert_eq!(threshold(m, 1), 1);
        assert_eq!(run(m, false, &[A, A, O, O, O]), Tally::Pending);
        assert_eq!(run(m, false, &[A, A, A, O, O]), Tally::Approved);
        // Two abstain: 3 live, need ceil(1.8) = 2.
        assert_eq!(run(m, false, &[A, A, Ab, Ab, O]), Tally::Approved);
        assert!(matches!(run(m, false, &[R, R, R, O, O]), Tally::Rejected(_)));
        assert_eq!(run(m, true, &[Ab, Ab]), Tally::Empty);
    }

    #[test]
    fn required_must_approve_even_after_threshold() {
        let mut tasks: Vec<Task> = [A, A, O].iter().map(|s| task(*s)).collect();
        tasks[2].required = true;
        assert_eq!(tally(Mode::Any { n: 2 }, true, &tasks), Tally::Pending);
        tasks[2].status = A;
        assert_eq!(tally(Mode::Any { n: 2 }, true, &tasks), Tally::Approved);
        tasks[2].status = R;
        assert!(matches!(tally(Mode::Any { n: 2 }, false, &tasks), Tally::Rejected(r) if r.contains("required")));
    }

    #[test]
    fn required_approvals_do_not_count_toward_n() {
        // 2 of 5 plus the CFO: the CFO and one other are not enough.
        let mut tasks: Vec<Task> = [A, A, O, O, O, O].iter().map(|s| task(*s)).collect();
        tasks[0].required = true;
        assert_eq!(tally(Mode::Any { n: 2 }, true, &tasks), Tally::Pending);
        tasks[2].status = A;
        assert_eq!(tally(Mode::Any { n: 2 }, true, &tasks), Tally::Approved);
        // Only required approvers: they alone decide.
        let mut only: Vec<Task> = [A].iter().map(|s| task(*s)).collect();
        only[0].required = true;
        assert_eq!(tally(Mode::Any { n: 2 }, true, &only), Tally::Approved);
    }

    #[test]
    fn observers_never_count() {
        let mut tasks = vec![task(O), task(A)];
        tasks[0].kind = RuleKind::Observer;
        assert_eq!(tally(Mode::All, true, &tasks), Tally::Approved);
    }

}
