//! Request rows: lock, load, and write back what the engine decided.

use super::{big, bytes, first, i, jb, json_col, new_uuid, opt_jb, opt_t, req, col, run, t, Session};
use awe_core::model::*;
use awe_core::policy::RuleKind;
use awe_core::timeline::{event_hash, ChainedEvent};
use awe_core::{AweError, AweResult, Code};
use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};

/// The request row as loaded under `FOR UPDATE`.
pub struct RequestRow {
    pub id: String,
    pub policy_key: String,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub callback_url: Option<String>,
    pub requester: Option<String>,
    pub created_by: String,
    pub last_seq: i32,
    pub last_hash: Option<Vec<u8>>,
    pub state: RequestState,
    /// claimed_by per task id, which the engine does not model.
    pub claims: Vec<(String, String)>,
}

/// Locks the request row; every operation that appends events holds this
/// lock, which is what makes each request advance exactly once.
pub fn lock(client: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<RequestRow> {
    let row = first(client,
        "select request_id::text, policy_key, policy_version, artifact_type, artifact_id, callback_url, requester,
                created_by, last_seq, last_hash, status, revision, context::text, stage_status
           from awe.request where tenant_id = $1 and request_id = $2::uuid for update",
        &[t(tenant), t(request_id)])?
        .ok_or_else(|| AweError::new(Code::RequestNotFound, format!("request {request_id} not found")))?;
    let stage_status: Vec<String> = req(&row, 14)?;
    let mut r = RequestRow {
        id: req(&row, 1)?,
        policy_key: req(&row, 2)?,
        policy_version: req(&row, 3)?,
        artifact_type: req(&row, 4)?,
        artifact_id: req(&row, 5)?,
        callback_url: col(&row, 6)?,
        requester: col(&row, 7)?,
        created_by: req(&row, 8)?,
        last_seq: req(&row, 9)?,
        last_hash: col(&row, 10)?,
        state: RequestState {
            id: String::new(),
            status: RequestStatus::parse(&req::<String>(&row, 11)?)?,
            revision: req(&row, 12)?,
            requester: col(&row, 7)?,
            context: json_col(&row, 13)?,
            stages: stage_status.iter().map(|s| StageStatus::parse(s)).collect::<AweResult<_>>()?,
            tasks: Vec::new(),
        },
        claims: Vec::new(),
    };
    r.state.id = r.id.clone();
    let tasks = run(client,
        "select task_id::text, stage_index, revision, assignee, delegated_from, kind, required, status,
                awe._to_us(due_at), claimed_by
           from awe.task where tenant_id = $1 and request_id = $2::uuid order by created_at, task_id",
        &[t(tenant), t(request_id)])?;
    for row in tasks {
        let id: String = req(&row, 1)?;
        if let Some(c) = col::<String>(&row, 10)? {
            r.claims.push((id.clone(), c));
        }
        r.state.tasks.push(Task {
            id,
            stage: req::<i32>(&row, 2)? as usize,
            revision: req(&row, 3)?,
            assignee: req(&row, 4)?,
            delegated_from: col(&row, 5)?,
            kind: if req::<String>(&row, 6)? == "observer" { RuleKind::Observer } else { RuleKind::Approver },
            required: req(&row, 7)?,
            status: TaskStatus::parse(&req::<String>(&row, 8)?)?,
            due_at: col(&row, 9)?,
            is_new: false,
        });
    }
    Ok(r)
}

/// The request a task belongs to.
pub fn request_of_task(client: &SpiClient<'_>, tenant: &str, task_id: &str) -> AweResult<String> {
    let row = first(client, "select request_id::text from awe.task where tenant_id = $1 and task_id = $2::uuid", &[t(tenant), t(task_id)])?
        .ok_or_else(|| AweError::new(Code::TaskNotFound, format!("task {task_id} not found")))?;
    req(&row, 1)
}

/// Extra columns a decision writes on its task.
pub struct DecisionRecord<'a> {
    pub task_id: &'a str,
    pub comment: Option<&'a str>,
}

/// Writes everything one operation changed: the request row (inserted for a
/// new request, else updated with the new chain head), task changes, new
/// tasks and the events — at most four statements.
pub fn apply(client: &SpiClient<'_>, s: &Session, row: &mut RequestRow, effects: &Effects, w: &Write<'_>) -> AweResult<()> {
    let events = chain_events(s, row, &effects.events);
    let stage_status: Vec<String> = row.state.stages.iter().map(|s| s.as_str().to_string()).collect();
    match w.new_request {
        Some(n) => {
            run(client,
                "insert into awe.request (tenant_id, request_id, policy_key, policy_version, artifact_type, artifact_id,
                                          context, requester, callback_url, status, revision, stage_status, created_by,
                                          created_at, updated_at, expires_at, last_seq, last_hash, decided_at)
                 values ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, awe._from_us($13), awe._from_us($13),
                         awe._from_us($14), $15, $16,
                         case when $10 in ('approved', 'rejected') then awe._from_us($13) end)",
                &[t(&s.tenant), t(&row.id), t(&row.policy_key), i(row.policy_version), t(&row.artifact_type),
                  t(&row.artifact_id), jb(row.state.context.clone()), opt_t(row.requester.as_deref()),
                  opt_t(row.callback_url.as_deref()), t(row.state.status.as_str()), DatumWithOid::from(stage_status),
                  t(&s.actor), big(s.now), match n.expires_at { Some(v) => big(v), None => DatumWithOid::null::<i64>() },
                  i(row.last_seq), bytes(row.last_hash.clone())])?;
        }
        None => {
            run(client,
                "update awe.request set status = $3, revision = $4, context = coalesce($5, context), stage_status = $6,
                        last_seq = $7, last_hash = $8, updated_at = awe._from_us($9),
                        decided_at = case when $3 in ('approved', 'rejected', 'cancelled', 'expired', 'failed')
                                          then awe._from_us($9) else decided_at end
                  where tenant_id = $1 and request_id = $2::uuid",
                &[t(&s.tenant), t(&row.id), t(row.state.status.as_str()), i(row.state.revision),
                  opt_jb(w.context_changed.then(|| row.state.context.clone())), DatumWithOid::from(stage_status),
                  i(row.last_seq), bytes(row.last_hash.clone()), big(s.now)])?;
        }
    }
    if !effects.task_changes.is_empty() {
        let changes: Vec<Value> = effects.task_changes.iter().map(|c| {
            let d = w.decision.as_ref().filter(|d| d.task_id == c.id);
            json!({"task_id": c.id, "status": c.status.as_str(), "decided": d.is_some(), "comment": d.and_then(|d| d.comment)})
        }).collect();
        run(client,
            "update awe.task k set status = x.status, updated_at = awe._from_us($3),
                    decided_by = case when x.decided then $4 else k.decided_by end,
                    decided_at = case when x.decided then awe._from_us($3) else k.decided_at end,
                    comment = case when x.decided then x.comment else k.comment end
               from jsonb_to_recordset($2) as x(task_id uuid, status text, decided boolean, comment text)
              where k.tenant_id = $1 and k.task_id = x.task_id",
            &[t(&s.tenant), jb(Value::Array(changes)), big(s.now), t(&s.actor)])?;
    }
    insert_tasks(client, s, &row.id, &effects.new_tasks)?;
    insert_events(client, s, &row.id, events)
}

/// What `apply` writes besides the engine's effects.
#[derive(Default)]
pub struct Write<'a> {
    pub new_request: Option<&'a NewRequest>,
    pub context_changed: bool,
    pub decision: Option<DecisionRecord<'a>>,
}

fn insert_tasks(client: &SpiClient<'_>, s: &Session, request_id: &str, tasks: &[Task]) -> AweResult<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let rows: Vec<Value> = tasks.iter().map(|k| json!({
        "task_id": k.id, "stage_index": k.stage, "revision": k.revision, "assignee": k.assignee,
        "delegated_from": k.delegated_from, "kind": k.kind.as_str(), "required": k.required,
        "status": k.status.as_str(), "due_us": k.due_at,
    })).collect();
    run(client,
        "insert into awe.task (tenant_id, task_id, request_id, stage_index, revision, assignee, delegated_from, kind,
                               required, status, due_at, created_at, updated_at)
         select $1, x.task_id, $2::uuid, x.stage_index, x.revision, x.assignee, x.delegated_from, x.kind, x.required,
                x.status, awe._from_us(x.due_us), awe._from_us($4), awe._from_us($4)
           from jsonb_to_recordset($3) as x(task_id uuid, stage_index int, revision int, assignee text,
                delegated_from text, kind text, required boolean, status text, due_us bigint)",
        &[t(&s.tenant), t(request_id), jb(Value::Array(rows)), big(s.now)])?;
    Ok(())
}

/// Gives each event its sequence number, id and hash, advancing the row's
/// chain head.
fn chain_events(s: &Session, row: &mut RequestRow, events: &[NewEvent]) -> Vec<Value> {
    events.iter().map(|e| {
        row.last_seq += 1;
        let ce = ChainedEvent {
            seq: row.last_seq,
            event_id: new_uuid(),
            kind: e.kind.to_string(),
            actor: e.actor.clone(),
            stage_index: e.stage.map(|s| s as i32),
            task_id: e.task_id.clone(),
            status: e.status.as_str().to_string(),
            data: e.data.clone(),
            created_at: s.now,
        };
        let hash = event_hash(row.last_hash.as_deref(), &ce);
        let prev = row.last_hash.replace(hash.clone());
        json!({
            "seq": ce.seq, "event_id": ce.event_id, "type": ce.kind, "actor": ce.actor, "stage_index": ce.stage_index,
            "task_id": ce.task_id, "status": ce.status, "data": ce.data,
            "prev_hash": prev.map(hex), "hash": hex(hash),
        })
    }).collect()
}

fn hex(b: Vec<u8>) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn insert_events(client: &SpiClient<'_>, s: &Session, request_id: &str, events: Vec<Value>) -> AweResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    run(client,
        "insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, stage_index, task_id, status, data,
                                created_at, prev_hash, hash)
         select $1, $2::uuid, x.seq, x.event_id, x.type, x.actor, x.stage_index, x.task_id, x.status, x.data,
                awe._from_us($4), decode(x.prev_hash, 'hex'), decode(x.hash, 'hex')
           from jsonb_to_recordset($3) as x(seq int, event_id uuid, type text, actor text, stage_index int,
                task_id uuid, status text, data jsonb, prev_hash text, hash text)",
        &[t(&s.tenant), t(request_id), jb(Value::Array(events)), big(s.now)])?;
    Ok(())
}

/// What only a new request has.
pub struct NewRequest {
    pub expires_at: Option<i64>,
}

/// A request not yet in the database; `apply` inserts it.
pub fn new_row(id: &str, policy_key: &str, policy_version: i32, artifact_type: &str, artifact_id: &str,
               callback_url: Option<&str>, actor: &str, state: RequestState) -> RequestRow {
    RequestRow {
        id: id.to_string(),
        policy_key: policy_key.to_string(),
        policy_version,
        artifact_type: artifact_type.to_string(),
        artifact_id: artifact_id.to_string(),
        callback_url: callback_url.map(str::to_string),
        requester: state.requester.clone(),
        created_by: actor.to_string(),
        last_seq: 0,
        last_hash: None,
        state,
        claims: Vec::new(),
    }
}
