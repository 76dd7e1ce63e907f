//! The state of one request as the engine sees it, and the changes it asks
//! the shell to write. Statuses are stored as the snake_case strings below.

use crate::error::{err, AweResult, Code};
use serde_json::Value;

/// What a task is for: a rule's `kind` (approver or observer), or the
/// requester's revision task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Approver,
    Observer,
    /// Not a rule kind: the requester's task after `request_changes`
    /// (resubmit or withdraw). Policies cannot name it.
    Revision,
}

macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }
        impl $name {
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),* } }
            pub fn parse(s: &str) -> AweResult<Self> {
                match s { $($text => Ok($name::$variant),)* _ => err(Code::Internal, format!("unknown {} \"{s}\"", stringify!($name))) }
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// `pending` (resolving) → `in_review` → a terminal status; `in_review` ⇄ `changes_requested`.
    RequestStatus {
        Pending => "pending", InReview => "in_review", ChangesRequested => "changes_requested",
        Approved => "approved", Rejected => "rejected", Cancelled => "cancelled", Expired => "expired", Failed => "failed",
    }
);

impl RequestStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Approved | Self::Rejected | Self::Cancelled | Self::Expired | Self::Failed)
    }
}

status_enum!(
    StageStatus {
        Waiting => "waiting", Resolving => "resolving", Active => "active", Approved => "approved",
        Rejected => "rejected", Skipped => "skipped", Cancelled => "cancelled",
    }
);

impl StageStatus {
    /// Done and not blocking the next step.
    pub fn is_passed(self) -> bool {
        matches!(self, Self::Approved | Self::Skipped)
    }
}

status_enum!(
    /// `open` is the only status a task can be decided in. Everything else is
    /// final; `superseded`, `reassigned`, `skipped`, `cancelled` and
    /// `expired` tasks are no longer live and never count.
    TaskStatus {
        Open => "open", Approved => "approved", Rejected => "rejected", Abstained => "abstained",
        ChangesRequested => "changes_requested", Skipped => "skipped", Superseded => "superseded",
        Reassigned => "reassigned", Cancelled => "cancelled", Expired => "expired",
        // A revision task whose request was resubmitted.
        Completed => "completed",
    }
);

status_enum!(
    Decision { Approve => "approve", Reject => "reject", Abstain => "abstain", RequestChanges => "request_changes" }
);

impl Decision {
    pub fn task_status(self) -> TaskStatus {
        match self {
            Decision::Approve => TaskStatus::Approved,
            Decision::Reject => TaskStatus::Rejected,
            Decision::Abstain => TaskStatus::Abstained,
            Decision::RequestChanges => TaskStatus::ChangesRequested,
        }
    }
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Approver => "approver",
            RuleKind::Observer => "observer",
            RuleKind::Revision => "revision",
        }
    }

    pub fn parse(s: &str) -> AweResult<RuleKind> {
        match s {
            "approver" => Ok(RuleKind::Approver),
            "observer" => Ok(RuleKind::Observer),
            "revision" => Ok(RuleKind::Revision),
            other => err(Code::Internal, format!("unknown task kind \"{other}\"")),
        }
    }
}

/// One task as loaded from (or about to be written to) the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub stage: usize,
    pub revision: i32,
    pub assignee: String,
    /// Who the task was meant for when a delegation redirected it.
    pub delegated_from: Option<String>,
    pub kind: RuleKind,
    pub required: bool,
    pub status: TaskStatus,
    /// Unix microseconds; `None` when the stage has no SLA.
    pub due_at: Option<i64>,
    /// Who actually decided: the assignee, an active delegate, or
    /// `SYSTEM_ACTOR` for a decision the engine took (an SLA's
    /// auto_approve / auto_reject).
    pub decided_by: Option<String>,
    /// Who has claimed the task (a signal to co-approvers, not a lock).
    pub claimed_by: Option<String>,
    /// `true` for rows the engine created in this operation.
    pub is_new: bool,
}

impl Task {
    /// The person who cast this task's vote, for repeat-approver checks:
    /// never the system, whose decisions are nobody's vote.
    pub fn voter(&self) -> Option<&str> {
        match self.decided_by.as_deref() {
            Some(SYSTEM_ACTOR) => None,
            Some(who) => Some(who),
            None => Some(&self.assignee),
        }
    }

    /// Counts toward the stage's arithmetic.
    pub fn is_live_vote(&self) -> bool {
        self.kind == RuleKind::Approver && matches!(self.status, TaskStatus::Open | TaskStatus::Approved | TaskStatus::Rejected)
    }
}

/// A request with its stages and tasks, loaded under a row lock.
#[derive(Debug, Clone)]
pub struct RequestState {
    pub id: String,
    pub status: RequestStatus,
    pub revision: i32,
    pub requester: Option<String>,
    /// Who submitted it (`created_by`): gets the revision task when no
    /// requester was named.
    pub submitter: String,
    pub context: Value,
    pub stages: Vec<StageStatus>,
    pub tasks: Vec<Task>,
}

/// An audit event to append, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub actor: String,
    pub stage: Option<usize>,
    pub task_id: Option<String>,
    /// Request status right after this event.
    pub status: RequestStatus,
    pub data: Value,
}

/// A change to an existing task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskChange {
    pub id: String,
    pub status: TaskStatus,
    /// Set when this operation decided the task: who decided (a person, or
    /// `SYSTEM_ACTOR`), and the decision's comment.
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    /// What the approver added to the decision (`decision_schema`).
    pub data: Option<Value>,
    /// `Some` when the claim changed: the new claimer, or `None` (released).
    pub claimed_by: Option<Option<String>>,
}

/// Everything one operation changes; the shell writes it in a few statements.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub status_changed: bool,
    pub stage_changes: Vec<(usize, StageStatus)>,
    pub new_tasks: Vec<Task>,
    pub task_changes: Vec<TaskChange>,
    pub events: Vec<NewEvent>,
}

/// The actor recorded for work the engine or the worker does on its own.
/// Reserved: no principal, actor or assignee may be called this.
pub const SYSTEM_ACTOR: &str = "system";
