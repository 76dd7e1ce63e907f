//! The one JSON rendering of a request, returned by every function that
//! returns a request (submit, decide, get_request, …), so they all answer
//! the same shape.

use crate::store::request::RequestRow;
use awe_core::policy::Policy;
use awe_core::time::rfc3339;
use serde_json::{json, Value};

pub fn request(row: &RequestRow, policy: &Policy) -> Value {
    let tasks: Vec<Value> = row.state.tasks.iter().map(|k| {
        let note = row.task_notes.get(&k.id);
        json!({
            "task_id": k.id,
            "stage_index": k.stage,
            "stage": policy.stages.get(k.stage).map(|s| s.name.as_str()),
            "revision": k.revision,
            "assignee": k.assignee,
            "delegated_from": k.delegated_from,
            "kind": k.kind.as_str(),
            "required": k.required,
            "status": k.status.as_str(),
            "due_at": k.due_at.map(rfc3339),
            "claimed_by": k.claimed_by,
            "decided_by": k.decided_by,
            "created_at": note.map(|n| rfc3339(n.created_at)),
            "decided_at": note.and_then(|n| n.decided_at).map(rfc3339),
            "comment": note.and_then(|n| n.comment.as_deref()),
            "decision_data": note.and_then(|n| n.data.clone()),
        })
    }).collect();
    let steps = policy.steps();
    json!({
        "request_id": row.id,
        "status": row.state.status.as_str(),
        "revision": row.state.revision,
        "policy_key": row.policy_key,
        "policy_version": row.policy_version,
        "artifact_type": row.artifact_type,
        "artifact_id": row.artifact_id,
        "requester": row.requester,
        "callback_url": row.callback_url,
        "context": row.state.context,
        "created_by": row.created_by,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "decided_at": row.decided_at.map(rfc3339),
        "expires_at": row.expires_at.map(rfc3339),
        "stages": row.state.stages.iter().enumerate().map(|(i, st)| json!({
            "index": i,
            "name": policy.stages.get(i).map(|s| s.name.as_str()),
            "step": steps.iter().position(|step| step.contains(&i)),
            "status": st.as_str(),
        })).collect::<Vec<_>>(),
        "tasks": tasks,
    })
}
