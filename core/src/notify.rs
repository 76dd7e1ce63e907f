//! Notifications to an approver's own channel: which ones an operation
//! calls for, and what each message says. The shell looks up channels,
//! queues the messages in the webhook outbox (signed, retried, dead-lettered
//! like webhooks) or, for a channel with a digest, in its digest queue.
//!
//! | kind | when |
//! | --- | --- |
//! | `task.assigned` | a task is created for the principal (a stage starts, a reassignment, a revision task) |
//! | `task.escalated` | escalation gave the principal a task (SLA breach, a leaver) |
//! | `task.reminder` | a `remind` SLA fired for the principal's task |
//! | `task.due_soon` | 80% of the task's SLA has passed and it is still open |

use crate::model::{Effects, Task};
use serde_json::{json, Value};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Assigned,
    Escalated,
    Reminder,
    DueSoon,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Assigned, Kind::Escalated, Kind::Reminder, Kind::DueSoon];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "task.assigned",
            Kind::Escalated => "task.escalated",
            Kind::Reminder => "task.reminder",
            Kind::DueSoon => "task.due_soon",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One notification to send: of what, about which task, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: Kind,
    pub task_id: String,
    pub principal: String,
}

/// The notices an operation's effects call for, in the order they happened.
pub fn notices(effects: &Effects) -> Vec<Notice> {
    let escalated: HashSet<&str> = effects.events.iter().filter(|e| e.kind == "stage.escalated")
        .flat_map(|e| e.data.get("task_ids").and_then(Value::as_array).into_iter().flatten())
        .filter_map(Value::as_str).collect();
    let mut out: Vec<Notice> = effects.new_tasks.iter().map(|t| Notice {
        kind: if escalated.contains(t.id.as_str()) { Kind::Escalated } else { Kind::Assigned },
        task_id: t.id.clone(),
        principal: t.assignee.clone(),
    }).collect();
    for e in effects.events.iter().filter(|e| e.kind == "task.reminder") {
        if let (Some(task_id), Some(assignee)) = (&e.task_id, e.data.get("assignee").and_then(Value::as_str)) {
            out.push(Notice { kind: Kind::Reminder, task_id: task_id.clone(), principal: assignee.to_string() });
        }
    }
    out
}

/// When a task is "due soon": after 80% of its SLA, counted from `now`
/// (its creation). `None` without a due time.
pub fn due_soon_at(task: &Task, now: i64) -> Option<i64> {
    task.due_at.map(|due| due - (due - now) / 5)
}

/// Which kinds a channel asked for (`None`: all).
pub fn wants(kinds: Option<&[String]>, kind: Kind) -> bool {
    kinds.is_none_or(|k| k.iter().any(|x| x == kind.as_str()))
}

/// Checks a channel's kinds: every entry one of the four.
pub fn check_kinds(kinds: &[String]) -> Result<(), String> {
    match kinds.iter().find(|k| Kind::parse(k).is_none()) {
        Some(bad) => Err(format!("unknown notification kind \"{bad}\"; use task.assigned, task.escalated, task.reminder, task.due_soon")),
        None if kinds.is_empty() => Err("kinds must name at least one notification kind (or be null for all)".into()),
        None => Ok(()),
    }
}

/// What a notification says about its task.
pub struct About<'a> {
    pub tenant: &'a str,
    pub principal: &'a str,
    pub task: &'a Task,
    pub stage: Option<&'a str>,
    pub request_id: &'a str,
    pub request_status: &'a str,
    pub policy_key: &'a str,
    pub artifact_type: &'a str,
    pub artifact_id: &'a str,
    pub requester: Option<&'a str>,
    pub summary: Option<&'a Value>,
    /// The actions the principal may take now (`decide::ActionView`s).
    pub actions: Value,
    /// The request in the console (`awe.console_url`), if one is set.
    pub link: Option<String>,
}

/// The message body: the Standard Webhooks shape of every awe webhook.
pub fn message(kind: Kind, about: &About<'_>, timestamp: &str) -> Value {
    let t = about.task;
    json!({
        "type": kind.as_str(),
        "timestamp": timestamp,
        "data": {
            "tenant": about.tenant,
            "principal": about.principal,
            "task_id": t.id,
            "task_kind": t.kind.as_str(),
            "stage": about.stage,
            "stage_index": t.stage,
            "due_at": t.due_at.map(crate::time::rfc3339),
            "request_id": about.request_id,
            "request_status": about.request_status,
            "policy_key": about.policy_key,
            "artifact_type": about.artifact_type,
            "artifact_id": about.artifact_id,
            "requester": about.requester,
            "summary": about.summary,
            "available_actions": about.actions,
            "link": about.link,
        }
    })
}

/// The console's page of a request, when the console's address is known.
pub fn link(console_url: Option<&str>, request_id: &str) -> Option<String> {
    console_url.filter(|u| !u.is_empty()).map(|u| format!("{}/requests/{request_id}", u.trim_end_matches('/')))
}

/// One digest message for `notices` (each a message body as [`message`]
/// builds it), oldest first.
pub fn digest(tenant: &str, principal: &str, notices: Vec<Value>, timestamp: &str) -> Value {
    json!({
        "type": "task.digest",
        "timestamp": timestamp,
        "data": {"tenant": tenant, "principal": principal, "count": notices.len(), "notifications": notices},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewEvent, RequestStatus, TaskStatus};
    use crate::policy::RuleKind;

    fn task(id: &str, who: &str) -> Task {
        Task { id: id.into(), stage: 0, revision: 1, assignee: who.into(), delegated_from: None, kind: RuleKind::Approver, required: false,
               status: TaskStatus::Open, due_at: Some(1_000_000_000), decided_by: None, claimed_by: None, is_new: true }
    }

    fn event(kind: &'static str, task_id: Option<&str>, data: Value) -> NewEvent {
        NewEvent { kind, actor: "system".into(), stage: Some(0), task_id: task_id.map(str::to_string), status: RequestStatus::InReview, data }
    }

    #[test]
    fn new_tasks_reminders_and_escalations_become_notices() {
        let effects = Effects {
            new_tasks: vec![task("t1", "ana"), task("t2", "dora")],
            events: vec![
                event("stage.escalated", None, json!({"task_ids": ["t2"]})),
                event("task.reminder", Some("t0"), json!({"assignee": "ben", "reminder": 1})),
            ],
            ..Effects::default()
        };
        let n = notices(&effects);
        let got: Vec<(Kind, &str, &str)> = n.iter().map(|n| (n.kind, n.task_id.as_str(), n.principal.as_str())).collect();
        assert_eq!(got, vec![(Kind::Assigned, "t1", "ana"), (Kind::Escalated, "t2", "dora"), (Kind::Reminder, "t0", "ben")]);
        assert!(notices(&Effects::default()).is_empty());
    }

    #[test]
    fn due_soon_is_at_eighty_percent_of_the_sla() {
        let t = task("t", "a");
        assert_eq!(due_soon_at(&t, 0), Some(800_000_000));
        assert_eq!(due_soon_at(&Task { due_at: None, ..t }, 0), None);
    }

    #[test]
    fn kinds_are_checked_and_filter() {
        assert!(check_kinds(&["task.assigned".into(), "task.due_soon".into()]).is_ok());
        assert!(check_kinds(&["task.created".into()]).unwrap_err().contains("task.created"));
        assert!(check_kinds(&[]).is_err());
        assert!(wants(None, Kind::Reminder));
        assert!(!wants(Some(&["task.assigned".to_string()]), Kind::Reminder));
    }

    #[test]
    fn messages_carry_what_the_approver_needs() {
        let t = task("t1", "ana");
        let summary = json!({"text": "Sam asks 120 EUR"});
        let about = About { tenant: "acme", principal: "ana", task: &t, stage: Some("Finance"), request_id: "r1", request_status: "in_review",
            policy_key: "expense", artifact_type: "expense_report", artifact_id: "EXP-1", requester: Some("sam"), summary: Some(&summary),
            actions: json!([{"action": "approve"}]), link: link(Some("https://awe.example.com/"), "r1") };
        let m = message(Kind::Assigned, &about, "2026-11-30T00:00:00Z");
        assert_eq!(m["type"], "task.assigned");
        assert_eq!(m["data"]["link"], "https://awe.example.com/requests/r1");
        assert_eq!(m["data"]["summary"]["text"], "Sam asks 120 EUR");
        assert_eq!(m["data"]["due_at"], "1970-01-01T00:16:40Z");
        assert_eq!(m["data"]["available_actions"][0]["action"], "approve");
        let d = digest("acme", "ana", vec![m.clone(), m], "2026-11-30T01:00:00Z");
        assert_eq!((d["type"].as_str(), d["data"]["count"].as_i64()), (Some("task.digest"), Some(2)));
        assert_eq!(link(None, "r1"), None);
    }
}
