//! The request API: submit, decide, the revision loop, cancel, claim,
//! reassign, comment, simulate, read back, verify, and what a viewer may do.

use super::{check_comment, check_text};
use crate::fmgr::{bad_input, jsonb, Args};
use crate::logic::with_logic;
use crate::machine::with_machine;
use crate::operate::{load_unlocked, operate, write};
use crate::session::{session, Session};
use crate::settings;
use crate::store::directory::SpiDirectory;
use crate::store::request::{self, new_row, NewRequest, RequestRow, Target, Write};
use crate::store::{arg, endpoint, first, new_uuid, policy, required, run};
use crate::render;
use awe_core::access::{self, Relation, RequestOp, Role};
use awe_core::audit;
use awe_core::context_schema;
use awe_core::model::*;
use awe_core::policy::{Policy, RuleKind};
use awe_core::progress::{DecisionInput, Machine};
use awe_core::timeline::{canonical_json, verify_chain, ChainedEvent};
use awe_core::{AweError, AweResult, Code};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

crate::entry!(pg_finfo_awe_submit, awe_submit, submit);
crate::entry!(pg_finfo_awe_decide, awe_decide, decide);
crate::entry!(pg_finfo_awe_resubmit, awe_resubmit, resubmit);
crate::entry!(pg_finfo_awe_withdraw, awe_withdraw, withdraw);
crate::entry!(pg_finfo_awe_cancel, awe_cancel, cancel);
crate::entry!(pg_finfo_awe_claim, awe_claim, claim);
crate::entry!(pg_finfo_awe_release, awe_release, release);
crate::entry!(pg_finfo_awe_reassign, awe_reassign, reassign);
crate::entry!(pg_finfo_awe_comment, awe_comment, comment);
crate::entry!(pg_finfo_awe_simulate, awe_simulate, simulate);
crate::entry!(pg_finfo_awe_verify_timeline, awe_verify_timeline, verify_timeline);
crate::entry!(pg_finfo_awe_get_request, awe_get_request, get_request);
crate::entry!(pg_finfo_awe_task_actions, awe_task_actions, task_actions);
crate::entry!(pg_finfo_awe_require_request_access, awe_require_request_access, require_request_access);

/// A request context argument: a JSON object within awe.max_context_bytes.
pub fn context_arg(a: &Args, n: usize) -> AweResult<Value> {
    let ctx = a.json(n, "context")?.unwrap_or_else(|| json!({}));
    if !ctx.is_object() {
        return Err(bad_input("context must be a JSON object"));
    }
    let size = ctx.to_string().len();
    let limit = settings::usize_of(&settings::MAX_CONTEXT_BYTES);
    if size > limit {
        return Err(AweError::new(Code::LimitExceeded, format!("context is {size} bytes; the limit (awe.max_context_bytes) is {limit}")));
    }
    Ok(ctx)
}

fn check_context(policy: &Policy, ctx: &Value) -> AweResult<()> {
    let Some(schema) = &policy.context_schema else { return Ok(()) };
    let problems = context_schema::validate(schema, ctx);
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<Value> = problems.iter().map(|p| json!({"path": p.path, "message": p.message})).collect();
    Err(AweError::new(Code::ContextInvalid, format!("the context does not match policy \"{}\": {}", policy.key, problems[0]))
        .with_details(json!({"problems": list})))
}

fn submit(a: &Args) -> AweResult<pgrx::JsonB> {
    let policy_key = a.req_text(0, "policy_key")?;
    let artifact_type = a.req_text(1, "artifact_type")?;
    let artifact_id = a.req_text(2, "artifact_id")?;
    let context = context_arg(a, 3)?;
    let requester = a.text(4).filter(|s| !s.is_empty());
    let callback_url = a.text(5).filter(|s| !s.is_empty());
    let idempotency_key = a.text(6).filter(|s| !s.is_empty());
    for (name, v) in [("policy_key", Some(&policy_key)), ("artifact_type", Some(&artifact_type)), ("artifact_id", Some(&artifact_id)),
                      ("requester", requester.as_ref())] {
        if let Some(v) = v {
            check_text(name, v)?;
        }
    }
    // A callback may be as long as an endpoint URL (2048).
    if let Some(u) = &callback_url {
        super::check_len("callback_url", u, 2048, "the endpoint URL limit")?;
    }
    if requester.as_deref() == Some(SYSTEM_ACTOR) {
        return Err(bad_input(format!("\"{SYSTEM_ACTOR}\" is reserved for the engine and cannot be a requester")));
    }
    if let Some(k) = &idempotency_key {
        super::check_len("idempotency_key", k, settings::usize_of(&settings::MAX_IDEMPOTENCY_KEY_LENGTH), "awe.max_idempotency_key_length")?;
    }
    if let Some(u) = &callback_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(AweError::new(Code::CallbackNotAllowed, "callback_url must be an http(s) URL"));
        }
    }
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let request_id = new_uuid();
        if let Some(key) = &idempotency_key {
            let body = json!({"policy_key": policy_key, "artifact_type": artifact_type, "artifact_id": artifact_id,
                              "context": context, "requester": requester, "callback_url": callback_url});
            let hash = Sha256::digest(canonical_json(&body).as_bytes()).to_vec();
            if let Some(original) = claim_idempotency_key(c, &s, key, hash, &request_id)? {
                let (row, p) = load_unlocked(c, &s, &original)?;
                return Ok(render::request(&row, &p));
            }
        }
        let loaded = policy::load(c, &s.tenant, &policy_key, None)?;
        let p = &loaded.policy;
        if p.artifact_type != artifact_type {
            return Err(bad_input(format!("policy \"{policy_key}\" approves artifact_type \"{}\", not \"{artifact_type}\"", p.artifact_type)));
        }
        check_context(p, &context)?;
        let endpoint = match &callback_url {
            Some(url) => Some(endpoint::callback_endpoint(c, &s.tenant, url)?),
            None => None,
        };
        let state = Machine::new_request(p, request_id.clone(), requester.clone(), s.actor.clone(), context);
        let identity = json!({"policy_key": policy_key, "policy_version": loaded.version, "artifact_type": artifact_type,
                              "artifact_id": artifact_id, "callback_url": callback_url});
        let actor = s.actor.clone();
        let ((), state, effects) = with_machine(c, &s, p, state, |m| m.submit(&actor, identity))?;
        let callback = callback_url.as_deref().zip(endpoint.as_deref());
        let expires_at = p.expires_after.map(|secs| s.now + secs * 1_000_000);
        let mut row = new_row(&request_id, &policy_key, loaded.version, &artifact_type, &artifact_id, callback, &s, expires_at, state);
        row.summary = render::template_summary(&row, p);
        write(c, &s, &mut row, p, &effects, &Write { new_request: Some(&NewRequest { expires_at }), ..Default::default() })?;
        Ok(render::request(&row, p))
    })
    .map(jsonb)
}

/// Takes the idempotency key for a new request, or returns the request it
/// already names. A concurrent submit with the same key waits on the
/// unique index and then sees the winner's row.
fn claim_idempotency_key(c: &SpiClient<'_>, s: &Session, key: &str, hash: Vec<u8>, request_id: &str) -> AweResult<Option<String>> {
    let ttl = settings::IDEMPOTENCY_TTL_SECONDS.get() as i64 * 1_000_000;
    let won = first(c,
        "insert into awe.idempotency_key as k (tenant_id, key, body_hash, request_id, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (tenant_id, key) do update
            set body_hash = excluded.body_hash, request_id = excluded.request_id,
                created_at = excluded.created_at, expires_at = excluded.expires_at
          where k.expires_at <= excluded.created_at
         returning 1",
        &[arg::text(&s.tenant), arg::text(key), arg::bytes(Some(hash.clone())), arg::uuid(request_id), arg::timestamptz(s.now), arg::timestamptz(s.now + ttl)])?;
    if won.is_some() {
        return Ok(None);
    }
    let row = first(c, "select body_hash, request_id::text from awe.idempotency_key where tenant_id = $1 and key = $2",
        &[arg::text(&s.tenant), arg::text(key)])?
        .ok_or_else(|| AweError::new(Code::Busy, "idempotency key vanished while checking it; retry"))?;
    let stored: Vec<u8> = required(&row, 1)?;
    if stored != hash {
        return Err(AweError::new(Code::IdempotencyConflict, format!("idempotency key \"{key}\" was used with a different request body"))
            .with_hint("use a new key for a new request"));
    }
    Ok(Some(required(&row, 2)?))
}

fn get_request(a: &Args) -> AweResult<pgrx::JsonB> {
    let id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let (row, p) = load_unlocked(c, &s, &id)?;
        Ok(render::request(&row, &p))
    })
    .map(jsonb)
}

/// Runs an operation on the request a task belongs to and renders it.
fn task_op(task_id: &str, f: impl FnOnce(&mut Machine, &str) -> AweResult<()>) -> AweResult<pgrx::JsonB> {
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let actor = s.actor.clone();
        let ((), row, p) = operate(c, &s, Target::TaskOf(task_id), |m, _| f(m, &actor))?;
        Ok(render::request(&row, &p))
    })
    .map(jsonb)
}

fn decide(a: &Args) -> AweResult<pgrx::JsonB> {
    let task_id = a.uuid(0, "task_id")?;
    let decision_text = a.req_text(1, "decision")?;
    let decision = Decision::parse(&decision_text)
        .map_err(|_| bad_input(format!("decision must be approve, reject, abstain or request_changes, not \"{decision_text}\"")))?;
    let comment = a.text(2);
    check_comment("comment", comment.as_deref())?;
    let attachments = a.json(3, "attachments")?;
    if let Some(att) = &attachments {
        if !att.is_array() {
            return Err(bad_input("attachments must be a JSON array of references"));
        }
        check_comment("attachments", Some(&att.to_string()))?;
    }
    let data = a.json(4, "data")?;
    if let Some(d) = &data {
        crate::api::check_len("data", &d.to_string(), crate::settings::usize_of(&crate::settings::MAX_CONTEXT_BYTES), "awe.max_context_bytes")?;
    }
    let mut out = task_op(&task_id, |m, actor| {
        m.decide(&DecisionInput { task_id: &task_id, actor, decision, comment: comment.as_deref(), attachments: attachments.as_ref(), data: data.as_ref() })
    })?;
    out.0["task_id"] = json!(task_id);
    out.0["decision"] = json!(decision.as_str());
    Ok(out)
}

/// Runs a request-level operation and renders the request.
fn request_op(a: &Args, f: impl FnOnce(&mut Machine, &RequestRow, &str) -> AweResult<()>) -> AweResult<pgrx::JsonB> {
    let request_id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let actor = s.actor.clone();
        let ((), row, p) = operate(c, &s, Target::Request(&request_id), |m, row| f(m, row, &actor))?;
        Ok(render::request(&row, &p))
    })
    .map(jsonb)
}

/// The requester acts on their request; the calling service that submitted
/// it may act for its requester.
fn own_request(row: &RequestRow, actor: &str, what: &str) -> AweResult<()> {
    if row.requester.as_deref() == Some(actor) || row.created_by == actor {
        return Ok(());
    }
    Err(AweError::new(Code::Forbidden, format!(
        "only the requester ({}) or the submitter ({}) can {what}", row.requester.as_deref().unwrap_or("none"), row.created_by)))
}

fn resubmit(a: &Args) -> AweResult<pgrx::JsonB> {
    let context = context_arg(a, 1)?;
    let note = a.text(2);
    check_comment("comment", note.as_deref())?;
    request_op(a, |m, row, actor| {
        own_request(row, actor, "resubmit")?;
        check_context(m.policy, &context)?;
        if let Some(n) = &note {
            m.comment(actor, None, n)?;
        }
        m.resubmit(actor, context)
    })
}

fn withdraw(a: &Args) -> AweResult<pgrx::JsonB> {
    let reason = a.text(1);
    check_comment("reason", reason.as_deref())?;
    request_op(a, |m, row, actor| {
        own_request(row, actor, "withdraw")?;
        m.cancel(actor, reason.as_deref(), true)
    })
}

fn cancel(a: &Args) -> AweResult<pgrx::JsonB> {
    let reason = a.text(1);
    check_comment("reason", reason.as_deref())?;
    request_op(a, |m, _, actor| m.cancel(actor, reason.as_deref(), false))
}

fn claim(a: &Args) -> AweResult<pgrx::JsonB> {
    let task_id = a.uuid(0, "task_id")?;
    task_op(&task_id, |m, actor| m.claim(actor, &task_id, true))
}

fn release(a: &Args) -> AweResult<pgrx::JsonB> {
    let task_id = a.uuid(0, "task_id")?;
    task_op(&task_id, |m, actor| m.claim(actor, &task_id, false))
}

fn reassign(a: &Args) -> AweResult<pgrx::JsonB> {
    let task_id = a.uuid(0, "task_id")?;
    let to = a.req_text(1, "assignee")?;
    check_text("assignee", &to)?;
    let reason = a.text(2);
    check_comment("reason", reason.as_deref())?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let actor = s.actor.clone();
        let (new_id, row, p) = operate(c, &s, Target::TaskOf(&task_id), |m, _| m.reassign(&actor, &task_id, &to, reason.as_deref()))?;
        let mut out = render::request(&row, &p);
        out["new_task_id"] = json!(new_id);
        Ok(out)
    })
    .map(jsonb)
}

fn comment(a: &Args) -> AweResult<pgrx::JsonB> {
    let body = a.req_text(1, "body")?;
    check_comment("body", Some(&body))?;
    let task_id = a.opt_uuid(2, "task_id")?;
    request_op(a, |m, _, actor| m.comment(actor, task_id.as_deref(), &body))
}

fn simulate(a: &Args) -> AweResult<pgrx::JsonB> {
    let key = a.req_text(0, "policy_key")?;
    let context = context_arg(a, 1)?;
    let version = a.int(2);
    let requester = a.text(3);
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let loaded = policy::load(c, &s.tenant, &key, version)?;
        let p = &loaded.policy;
        let schema_problems: Vec<Value> = p.context_schema.as_ref()
            .map(|sch| context_schema::validate(sch, &context).into_iter().map(|x| json!({"path": x.path, "message": x.message})).collect())
            .unwrap_or_default();
        let mut dir = SpiDirectory { client: c, tenant: &s.tenant, now: s.now };
        let depth = settings::usize_of(&settings::MAX_LOGIC_DEPTH);
        let sim = with_logic(|l| awe_core::simulate::simulate(p, &context, requester.as_deref(), &mut dir, l, depth))?;
        let mut out = serde_json::to_value(&sim).map_err(|e| AweError::new(Code::Internal, e.to_string()))?;
        out["policy_key"] = json!(key);
        out["version"] = json!(loaded.version);
        out["context_problems"] = Value::Array(schema_problems);
        Ok(out)
    })
    .map(jsonb)
}

/// `{"valid": true, "events": n}`, or where the chain breaks, or every
/// field where the request and task rows disagree with what the events say.
fn verify_timeline(a: &Args) -> AweResult<pgrx::JsonB> {
    let id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let (row, p) = load_unlocked(c, &s, &id)?;
        let rows = run(c,
            "select seq, event_id::text, type, actor, stage_index, task_id::text, status, data::text, created_at, prev_hash, hash
               from awe.event where tenant_id = $1 and request_id = $2 order by seq",
            &[arg::text(&s.tenant), arg::uuid(&id)])?;
        let mut events = Vec::new();
        for r in rows {
            events.push((ChainedEvent {
                seq: required(&r, 1)?, event_id: required(&r, 2)?, kind: required(&r, 3)?, actor: required(&r, 4)?,
                stage_index: crate::store::column(&r, 5)?, task_id: crate::store::column(&r, 6)?, status: required(&r, 7)?,
                data: crate::store::json_column(&r, 8)?, created_at: crate::store::unix_us_column(&r, 9)?.unwrap_or_default(),
            }, crate::store::column::<Vec<u8>>(&r, 10)?, required::<Vec<u8>>(&r, 11)?));
        }
        if let Err(b) = verify_chain(&events, row.last_seq, row.last_hash.as_deref()) {
            return Ok(json!({"valid": false, "events": events.len(), "broken_at_seq": b.seq, "reason": b.reason}));
        }
        let chain: Vec<ChainedEvent> = events.into_iter().map(|(e, _, _)| e).collect();
        let trail = audit::replay(&chain, p.stages.len());
        let stored = stored_request(&row);
        let divergences = audit::compare(&stored, &trail);
        if divergences.is_empty() {
            return Ok(json!({"valid": true, "events": chain.len()}));
        }
        Ok(json!({"valid": false, "events": chain.len(), "reason": format!("{} field(s) of the rows disagree with the trail", divergences.len()),
                  "divergences": divergences}))
    })
    .map(jsonb)
}

/// The rows of a request in the shape `audit::compare` reads.
fn stored_request(row: &RequestRow) -> audit::StoredRequest {
    let identity = [
        ("policy_key", json!(row.policy_key)), ("policy_version", json!(row.policy_version)),
        ("artifact_type", json!(row.artifact_type)), ("artifact_id", json!(row.artifact_id)),
        ("callback_url", json!(row.callback_url)), ("requester", json!(row.requester)),
    ].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    audit::StoredRequest {
        status: row.state.status.as_str().into(),
        revision: row.state.revision,
        stages: row.state.stages.iter().map(|s| s.as_str().to_string()).collect(),
        context: row.state.context.clone(),
        identity,
        tasks: row.state.tasks.iter().map(|t| (t.id.clone(), audit::TrailTask {
            stage: t.stage as i32, revision: t.revision, assignee: t.assignee.clone(), status: t.status.as_str().into(),
            decided_by: t.decided_by.clone(), claimed_by: t.claimed_by.clone(),
        })).collect(),
    }
}

/// `awe._task_actions(...)`: the actions `viewer` may take on one task now,
/// for the inbox, computed by the same code that checks an action when it
/// is taken (`Machine::check_action`), so the inbox offers exactly what
/// `decide` accepts. The inbox's own query passes the task and request
/// fields it has already read; the engine needs nothing else from them but
/// who approved other stages, read only for policies that forbid repeat
/// approvers.
fn task_actions(a: &Args) -> AweResult<pgrx::JsonB> {
    let task = Task {
        id: a.uuid(0, "task_id")?,
        stage: a.int(1).unwrap_or(0).max(0) as usize,
        revision: a.int(2).unwrap_or(1),
        assignee: a.req_text(3, "assignee")?,
        delegated_from: None,
        kind: RuleKind::parse(&a.req_text(4, "kind")?)?,
        required: a.bool(5).unwrap_or(false),
        status: TaskStatus::parse(&a.req_text(6, "status")?)?,
        due_at: None,
        decided_by: None,
        claimed_by: a.text(7),
        is_new: false,
    };
    let request_id = a.uuid(8, "request_id")?;
    let status = RequestStatus::parse(&a.req_text(9, "request_status")?)?;
    let revision = a.int(10).unwrap_or(1);
    let requester = a.text(11);
    let context = a.json(12, "context")?.unwrap_or(Value::Null);
    let policy_key = a.req_text(13, "policy_key")?;
    let policy_version = a.int(14).ok_or_else(|| bad_input("policy_version is required"))?;
    let viewer = a.req_text(15, "viewer")?;
    let submitter = a.text(16).unwrap_or_default();
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let p = policy::load(c, &s.tenant, &policy_key, Some(policy_version))?.policy;
        let tasks = if p.forbid_repeat_approvers { request::load_tasks(c, &s.tenant, &request_id)?.0 } else { vec![task.clone()] };
        let state = RequestState { id: request_id, status, revision, requester, submitter, context, stages: Vec::new(), tasks };
        let (views, _, _) = with_machine(c, &s, &p, state, |m| m.action_views(&task.id, &viewer))?;
        Ok(jsonb(serde_json::to_value(views).unwrap_or(Value::Null)))
    })
}

/// The REST role of the current role: the most privileged awe_* role it
/// is a member of (PostgREST switches to the token's role).
fn rest_role() -> Option<Role> {
    [Role::Admin, Role::Caller, Role::Approver, Role::Viewer].into_iter()
        .find(|r| crate::session::require_role(&[r.as_str().to_string()]).is_ok())
}

/// `awe._require_request_access(request_id, op)`: through REST, whether
/// the token's role may do `op` to this request (docs/rest.md has the
/// table); AWE-REQUEST-NOT-FOUND when it may not even read it, so that a
/// request's existence is not revealed, AWE-FORBIDDEN otherwise.
fn require_request_access(a: &Args) -> AweResult<()> {
    let id = a.uuid(0, "request_id")?;
    let op_text = a.req_text(1, "op")?;
    let op = RequestOp::parse(&op_text).ok_or_else(|| bad_input(format!("unknown request operation \"{op_text}\"")))?;
    let Some(role) = rest_role() else {
        return Err(AweError::new(Code::Forbidden, "this role holds no awe REST role"));
    };
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let (row, p) = load_unlocked(c, &s, &id)?;
        let requester = row.requester.as_deref() == Some(s.actor.as_str());
        let submitter = row.created_by == s.actor;
        let (involved, _, _) = with_machine(c, &s, &p, row.state, |m| m.involves(&s.actor))?;
        let rel = Relation { requester, submitter, involved };
        if access::may(role, op, rel) {
            return Ok(());
        }
        if !access::may(role, RequestOp::Read, rel) {
            return Err(AweError::new(Code::RequestNotFound, format!("request {id} not found")));
        }
        Err(AweError::new(Code::Forbidden, format!("{} may not {} request {id}", role.as_str(), op.as_str())))
    })
}
