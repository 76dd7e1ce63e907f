//! Decision-mode arithmetic and who may do what with a task.

use crate::model::{Task, TaskStatus};
use crate::policy::{Mode, RuleKind};

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
            return Tally::Rejected(format!("rejected by {}", t.voter()));
        }
    }
    if let Some(t) = live.iter().find(|t| t.required && t.status == TaskStatus::Rejected) {
        return Tally::Rejected(format!("required approver {} rejected", t.voter()));
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

/// Actions the server offers on a task, in a stable order. Clients show
/// these; `decide` refuses anything not listed.
#[derive(Debug, Clone, Copy)]
pub struct ActionInput<'a> {
    pub kind: RuleKind,
    pub required: bool,
    pub task_open: bool,
    pub request_in_review: bool,
    pub claimed_by: Option<&'a str>,
    pub viewer: &'a str,
    pub revisions_left: bool,
    /// `forbid_repeat_approvers` and the viewer approved another stage.
    pub approved_elsewhere: bool,
}

pub fn available_actions(a: &ActionInput<'_>) -> Vec<&'static str> {
    if !a.task_open || !a.request_in_review {
        return Vec::new();
    }
    let mut out = Vec::new();
    if a.kind == RuleKind::Approver {
        if !a.approved_elsewhere {
            out.push("approve");
        }
        out.push("reject");
        if !a.required {
            out.push("abstain");
        }
        if a.revisions_left {
            out.push("request_changes");
        }
    }
    out.push("comment");
    match a.claimed_by {
        Some(c) if c == a.viewer => out.push("release"),
        Some(_) => {}
        None => out.push("claim"),
    }
    out
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

    #[test]
    fn actions() {
        let base = ActionInput {
            kind: RuleKind::Approver,
            required: false,
            task_open: true,
            request_in_review: true,
            claimed_by: None,
            viewer: "u",
            revisions_left: true,
            approved_elsewhere: false,
        };
        assert_eq!(available_actions(&base), vec!["approve", "reject", "abstain", "request_changes", "comment", "claim"]);
        let req = ActionInput { required: true, revisions_left: false, claimed_by: Some("u"), ..base };
        assert_eq!(available_actions(&req), vec!["approve", "reject", "comment", "release"]);
        let obs = ActionInput { kind: RuleKind::Observer, claimed_by: Some("v"), ..base };
        assert_eq!(available_actions(&obs), vec!["comment"]);
        assert!(available_actions(&ActionInput { task_open: false, ..base }).is_empty());
        assert_eq!(available_actions(&ActionInput { approved_elsewhere: true, ..base })[0], "reject");
    }
}
