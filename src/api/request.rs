//! The request API: submit, decide, the revision loop, cancel, claim,
//! reassign, comment, simulate, read back and verify.

use super::{check_comment, check_text};
use crate::fmgr::{bad_input, jsonb, Args};
use crate::guc;
use crate::logic::with_logic;
use crate::store::directory::SpiDirectory;
use crate::store::request::{apply, lock, new_row, DecisionRecord, NewRequest, RequestRow, Target, Write};
use crate::store::{big, first, json_col, new_uuid, policy, req, col, run, session, t, u, bytes, Session};
use awe_core::context_schema;
use awe_core::model::*;
use awe_core::policy::Policy;
use awe_core::progress::{DecisionInput, Env, Machine};
use awe_core::time::rfc3339;
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

/// Runs the engine over one request with everything it needs from here.
fn with_machine<R>(
    c: &SpiClient<'_>,
    s: &Session,
    policy: &Policy,
    state: RequestState,
    f: impl FnOnce(&mut Machine) -> AweResult<R>,
) -> AweResult<(R, RequestState, Effects)> {
    let mut dir = SpiDirectory { client: c, tenant: &s.tenant, now: s.now };
    let mut new_id = new_uuid;
    with_logic(|logic| {
        let env = Env {
            dir: &mut dir,
            logic,
            new_id: &mut new_id,
            now: s.now,
            max_logic_depth: guc::usize_of(&guc::MAX_LOGIC_DEPTH),
            max_approvers_per_stage: guc::usize_of(&guc::MAX_APPROVERS_PER_STAGE),
        };
        let mut m = Machine::new(policy, state, env);
        let out = f(&mut m)?;
        let (state, effects) = m.into_parts();
        Ok((out, state, effects))
    })
}

/// Lock, load, run, write: the shape of every operation on an existing request.
pub fn operate<R>(
    c: &SpiClient<'_>,
    s: &Session,
    target: Target<'_>,
    decision: Option<DecisionRecord<'_>>,
    f: impl FnOnce(&mut Machine, &RequestRow) -> AweResult<R>,
) -> AweResult<(R, RequestRow, std::rc::Rc<Policy>)> {
    let mut row = lock(c, &s.tenant, target)?;
    let loaded = policy::load(c, &s.tenant, &row.policy_key, Some(row.policy_version))?;
    let before = row.state.context.clone();
    let (out, state, effects) = {
        let row_ref = &row;
        with_machine(c, s, &loaded.policy, row.state.clone(), |m| f(m, row_ref))?
    };
    let context_changed = state.context != before;
    row.state = state;
    apply(c, s, &mut row, &loaded.policy, &effects, &Write { new_request: None, context_changed, decision })?;
    Ok((out, row, loaded.policy))
}

/// The JSON every operation returns: the request after the operation.
fn summary(row: &RequestRow, policy: &Policy, claims: &[(String, String)]) -> Value {
    let tasks: Vec<Value> = row.state.tasks.iter().map(|k| json!({
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
        "claimed_by": claims.iter().find(|(id, _)| *id == k.id).map(|(_, c)| c),
    })).collect();
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
        "stages": row.state.stages.iter().enumerate().map(|(i, st)| json!({
            "index": i, "name": policy.stages.get(i).map(|s| s.name.as_str()), "status": st.as_str(),
        })).collect::<Vec<_>>(),
        "tasks": tasks,
    })
}

fn context_arg(a: &Args, n: usize) -> AweResult<Value> {
    let ctx = a.json(n, "context")?.unwrap_or_else(|| json!({}));
    if !ctx.is_object() {
        return Err(bad_input("context must be a JSON object"));
    }
    let size = ctx.to_string().len();
    let limit = guc::usize_of(&guc::MAX_CONTEXT_BYTES);
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
                      ("requester", requester.as_ref()), ("callback_url", callback_url.as_ref())] {
        if let Some(v) = v {
            check_text(name, v)?;
        }
    }
    if let Some(k) = &idempotency_key {
        super::check_len("idempotency_key", k, guc::usize_of(&guc::MAX_IDEMPOTENCY_KEY_LENGTH), "awe.max_idempotency_key_length")?;
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
                return read_request(c, &s, &original);
            }
        }
        let loaded = policy::load(c, &s.tenant, &policy_key, None)?;
        let p = &loaded.policy;
        if p.artifact_type != artifact_type {
            return Err(bad_input(format!("policy \"{policy_key}\" approves artifact_type \"{}\", not \"{artifact_type}\"", p.artifact_type)));
        }
        check_context(p, &context)?;
        let endpoint = match &callback_url {
            Some(url) => Some(registered_endpoint(c, &s.tenant, url)?),
            None => None,
        };
        let state = Machine::new_request(p, request_id.clone(), requester.clone(), context);
        let actor = s.actor.clone();
        let ((), state, effects) = with_machine(c, &s, p, state, |m| m.submit(&actor))?;
        let callback = callback_url.as_deref().zip(endpoint.as_deref());
        let mut row = new_row(&request_id, &policy_key, loaded.version, &artifact_type, &artifact_id, callback, &s.actor, state);
        let expires_at = p.expires_after.map(|secs| s.now + secs * 1_000_000);
        apply(c, &s, &mut row, p, &effects, &Write { new_request: Some(&NewRequest { expires_at }), ..Default::default() })?;
        Ok(summary(&row, p, &[]))
    })
    .map(jsonb)
}

/// The enabled endpoint of this tenant a URL belongs to: the endpoint's URL
/// itself, or it followed by a path, query or fragment. No open relay.
pub fn registered_endpoint(c: &SpiClient<'_>, tenant: &str, url: &str) -> AweResult<String> {
    let row = first(c,
        "select endpoint_id::text from awe.endpoint
          where tenant_id = $1 and enabled
            and ($2 = url or left($2, length(url) + 1) in (url || '/', url || '?', url || '#'))
          order by length(url) desc limit 1",
        &[t(tenant), t(url)])?;
    match row {
        Some(r) => req(&r, 1),
        None => Err(AweError::new(Code::CallbackNotAllowed, format!("{url} is not under any enabled endpoint registered for tenant {tenant}"))
            .with_hint("register it with awe.register_endpoint(url)")),
    }
}

/// Takes the idempotency key for a new request, or returns the request it
/// already names. A concurrent submit with the same key waits on the
/// unique index and then sees the winner's row.
fn claim_idempotency_key(c: &SpiClient<'_>, s: &Session, key: &str, hash: Vec<u8>, request_id: &str) -> AweResult<Option<String>> {
    let ttl = guc::IDEMPOTENCY_TTL_SECONDS.get() as i64 * 1_000_000;
    let won = first(c,
        "insert into awe.idempotency_key as k (tenant_id, key, body_hash, request_id, created_at, expires_at)
         values ($1, $2, $3, $4::uuid, awe._from_us($5), awe._from_us($5 + $6))
         on conflict (tenant_id, key) do update
            set body_hash = excluded.body_hash, request_id = excluded.request_id,
                created_at = excluded.created_at, expires_at = excluded.expires_at
          where k.expires_at <= excluded.created_at
         returning 1",
        &[t(&s.tenant), t(key), bytes(Some(hash.clone())), t(request_id), big(s.now), big(ttl)])?;
    if won.is_some() {
        return Ok(None);
    }
    let row = first(c, "select body_hash, request_id::text from awe.idempotency_key where tenant_id = $1 and key = $2",
        &[t(&s.tenant), t(key)])?
        .ok_or_else(|| AweError::new(Code::Busy, "idempotency key vanished while checking it; retry"))?;
    let stored: Vec<u8> = req(&row, 1)?;
    if stored != hash {
        return Err(AweError::new(Code::IdempotencyConflict, format!("idempotency key \"{key}\" was used with a different request body"))
            .with_hint("use a new key for a new request"));
    }
    Ok(Some(req(&row, 2)?))
}

/// The request as JSON, without locking.
fn read_request(c: &SpiClient<'_>, s: &Session, request_id: &str) -> AweResult<Value> {
    let row = first(c,
        "select r.status, r.revision, r.policy_key, r.policy_version, r.artifact_type, r.artifact_id, r.requester,
                r.callback_url, r.stage_status, r.context::text, awe._to_us(r.created_at), awe._to_us(r.decided_at),
                awe._to_us(r.expires_at), r.created_by
           from awe.request r where r.tenant_id = $1 and r.request_id = $2::uuid",
        &[t(&s.tenant), u(request_id)])?
        .ok_or_else(|| AweError::new(Code::RequestNotFound, format!("request {request_id} not found")))?;
    let key: String = req(&row, 3)?;
    let version: i32 = req(&row, 4)?;
    let p = policy::load(c, &s.tenant, &key, Some(version))?.policy;
    let stage_status: Vec<String> = req(&row, 9)?;
    let tasks = run(c,
        "select task_id::text, stage_index, revision, assignee, delegated_from, kind, required, status,
                awe._to_us(due_at), claimed_by, decided_by, awe._to_us(decided_at), comment
           from awe.task where tenant_id = $1 and request_id = $2::uuid order by created_at, task_id",
        &[t(&s.tenant), u(request_id)])?;
    let mut task_json = Vec::new();
    for k in tasks {
        let stage: i32 = req(&k, 2)?;
        task_json.push(json!({
            "task_id": req::<String>(&k, 1)?, "stage_index": stage,
            "stage": p.stages.get(stage as usize).map(|s| s.name.clone()), "revision": req::<i32>(&k, 3)?,
            "assignee": req::<String>(&k, 4)?, "delegated_from": col::<String>(&k, 5)?, "kind": req::<String>(&k, 6)?,
            "required": req::<bool>(&k, 7)?, "status": req::<String>(&k, 8)?, "due_at": col::<i64>(&k, 9)?.map(rfc3339),
            "claimed_by": col::<String>(&k, 10)?, "decided_by": col::<String>(&k, 11)?,
            "decided_at": col::<i64>(&k, 12)?.map(rfc3339), "comment": col::<String>(&k, 13)?,
        }));
    }
    Ok(json!({
        "request_id": request_id,
        "status": req::<String>(&row, 1)?,
        "revision": req::<i32>(&row, 2)?,
        "policy_key": key,
        "policy_version": version,
        "artifact_type": req::<String>(&row, 5)?,
        "artifact_id": req::<String>(&row, 6)?,
        "requester": col::<String>(&row, 7)?,
        "callback_url": col::<String>(&row, 8)?,
        "context": json_col(&row, 10)?,
        "created_at": rfc3339(req(&row, 11)?),
        "decided_at": col::<i64>(&row, 12)?.map(rfc3339),
        "expires_at": col::<i64>(&row, 13)?.map(rfc3339),
        "created_by": req::<String>(&row, 14)?,
        "stages": stage_status.iter().enumerate().map(|(i, st)| json!({
            "index": i, "name": p.stages.get(i).map(|s| s.name.clone()), "status": st,
        })).collect::<Vec<_>>(),
        "tasks": task_json,
    }))
}

fn get_request(a: &Args) -> AweResult<pgrx::JsonB> {
    let id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        read_request(c, &s, &id)
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
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let record = DecisionRecord { task_id: &task_id, comment: comment.as_deref() };
        let actor = s.actor.clone();
        let ((), row, p) = operate(c, &s, Target::TaskOf(&task_id), Some(record), |m, _| {
            m.decide(&DecisionInput { task_id: &task_id, actor: &actor, decision, comment: comment.as_deref(), attachments: attachments.as_ref() })
        })?;
        let mut out = summary(&row, &p, &row.claims);
        out["task_id"] = json!(task_id);
        out["decision"] = json!(decision.as_str());
        Ok(out)
    })
    .map(jsonb)
}

/// Runs a request-level operation and returns the summary.
fn request_op(a: &Args, f: impl FnOnce(&mut Machine, &RequestRow, &str) -> AweResult<()>) -> AweResult<pgrx::JsonB> {
    let request_id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let actor = s.actor.clone();
        let ((), row, p) = operate(c, &s, Target::Request(&request_id), None, |m, row| f(m, row, &actor))?;
        Ok(summary(&row, &p, &row.claims))
    })
    .map(jsonb)
}

fn resubmit(a: &Args) -> AweResult<pgrx::JsonB> {
    let context = context_arg(a, 1)?;
    let note = a.text(2);
    check_comment("comment", note.as_deref())?;
    request_op(a, |m, _, actor| {
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
        // The requester withdraws; the calling service that submitted the
        // request may act for its requester.
        let allowed = row.requester.as_deref() == Some(actor) || row.created_by == actor;
        if !allowed {
            return Err(AweError::new(Code::Forbidden, format!(
                "only the requester ({}) or the submitter ({}) can withdraw", row.requester.as_deref().unwrap_or("none"), row.created_by)));
        }
        m.cancel(actor, reason.as_deref(), true)
    })
}

fn cancel(a: &Args) -> AweResult<pgrx::JsonB> {
    let reason = a.text(1);
    check_comment("reason", reason.as_deref())?;
    request_op(a, |m, _, actor| m.cancel(actor, reason.as_deref(), false))
}

fn claim_or_release(a: &Args, claim: bool) -> AweResult<pgrx::JsonB> {
    let task_id = a.uuid(0, "task_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let actor = s.actor.clone();
        let ((), mut row, p) = operate(c, &s, Target::TaskOf(&task_id), None, |m, row| {
            let current = row.claims.iter().find(|(id, _)| *id == task_id).map(|(_, who)| who.as_str());
            m.claim(&actor, &task_id, claim, current)
        })?;
        run(c, "update awe.task set claimed_by = $3, claimed_at = case when $3 is null then null else awe._from_us($4) end
                 where tenant_id = $1 and task_id = $2::uuid",
            &[t(&s.tenant), u(&task_id), crate::store::opt_t(claim.then_some(actor.as_str())), big(s.now)])?;
        row.claims.retain(|(id, _)| *id != task_id);
        if claim {
            row.claims.push((task_id.clone(), actor.clone()));
        }
        Ok(summary(&row, &p, &row.claims))
    })
    .map(jsonb)
}

fn claim(a: &Args) -> AweResult<pgrx::JsonB> {
    claim_or_release(a, true)
}

fn release(a: &Args) -> AweResult<pgrx::JsonB> {
    claim_or_release(a, false)
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
        let (new_id, row, p) = operate(c, &s, Target::TaskOf(&task_id), None, |m, _| m.reassign(&actor, &task_id, &to, reason.as_deref()))?;
        let mut out = summary(&row, &p, &row.claims);
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
        let depth = guc::usize_of(&guc::MAX_LOGIC_DEPTH);
        let sim = with_logic(|l| awe_core::simulate::simulate(p, &context, requester.as_deref(), &mut dir, l, depth))?;
        let mut out = serde_json::to_value(&sim).map_err(|e| AweError::new(Code::Internal, e.to_string()))?;
        out["policy_key"] = json!(key);
        out["version"] = json!(loaded.version);
        out["context_problems"] = Value::Array(schema_problems);
        Ok(out)
    })
    .map(jsonb)
}

fn verify_timeline(a: &Args) -> AweResult<pgrx::JsonB> {
    let id = a.uuid(0, "request_id")?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let head = first(c, "select last_seq, last_hash from awe.request where tenant_id = $1 and request_id = $2::uuid",
            &[t(&s.tenant), u(&id)])?
            .ok_or_else(|| AweError::new(Code::RequestNotFound, format!("request {id} not found")))?;
        let last_seq: i32 = req(&head, 1)?;
        let last_hash: Option<Vec<u8>> = col(&head, 2)?;
        let rows = run(c,
            "select seq, event_id::text, type, actor, stage_index, task_id::text, status, data::text, awe._to_us(created_at),
                    prev_hash, hash
               from awe.event where tenant_id = $1 and request_id = $2::uuid order by seq",
            &[t(&s.tenant), u(&id)])?;
        let mut events = Vec::new();
        for r in rows {
            events.push((ChainedEvent {
                seq: req(&r, 1)?, event_id: req(&r, 2)?, kind: req(&r, 3)?, actor: req(&r, 4)?, stage_index: col(&r, 5)?,
                task_id: col(&r, 6)?, status: req(&r, 7)?, data: json_col(&r, 8)?, created_at: req(&r, 9)?,
            }, col::<Vec<u8>>(&r, 10)?, req::<Vec<u8>>(&r, 11)?));
        }
        Ok(match verify_chain(&events, last_seq, last_hash.as_deref()) {
            Ok(n) => json!({"valid": true, "events": n}),
            Err(b) => json!({"valid": false, "events": events.len(), "broken_at_seq": b.seq, "reason": b.reason}),
        })
    })
    .map(jsonb)
}
