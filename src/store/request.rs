//! Request rows: lock, load, and write back what the engine decided.

use super::{big, bytes, col, first, i, jb, json_col, new_uuid, opt_jb, opt_t, req, run, t, u, Session};
use awe_core::model::*;
use awe_core::policy::{Policy, RuleKind};
use awe_core::timeline::{event_hash, ChainedEvent};
use awe_core::{AweError, AweResult, Code};
use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiClient;

/// The request row as loaded under `FOR UPDATE`.
pub struct RequestRow {
    pub id: String,
    pub policy_key: String,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub callback_url: Option<String>,
    /// The registered endpoint deliveries for this request go to.
    pub endpoint_id: Option<String>,
    pub requester: Option<String>,
    pub created_by: String,
    pub last_seq: i32,
    pub last_hash: Option<Vec<u8>>,
    pub state: RequestState,
    /// claimed_by per task id, which the engine does not model.
    pub claims: Vec<(String, String)>,
}

/// Which request to lock: by id, or the one a task belongs to.
pub enum Target<'a> {
    Request(&'a str),
    TaskOf(&'a str),
}

/// Locks the request row; every operation that appends events holds this
/// lock, which is what makes each request advance exactly once. The same
/// statement finds the request of a task.
/// (Tasks are read by a separate statement, after the lock is held, so they
/// include what a concurrent decision committed while we waited.)
pub fn lock(client: &SpiClient<'_>, tenant: &str, target: Target<'_>) -> AweResult<RequestRow> {
    macro_rules! lock_sql {
        ($which:literal) => {
            concat!(
                "select r.request_id::text, r.policy_key, r.policy_version, r.artifact_type, r.artifact_id, r.callback_url,
                        r.requester, r.created_by, r.last_seq, r.last_hash, r.status, r.revision, r.context::text,
                        r.stage_status, r.callback_endpoint_id::text
                   from awe.request r
                  where r.tenant_id = $1 and r.request_id = ", $which, "
                    for update")
        };
    }
    let (sql, id, missing) = match target {
        Target::Request(id) => (lock_sql!("$2::uuid"), id, AweError::new(Code::RequestNotFound, format!("request {id} not found"))),
        Target::TaskOf(task) => (
            lock_sql!("(select k.request_id from awe.task k where k.tenant_id = $1 and k.task_id = $2::uuid)"),
            task,
            AweError::new(Code::TaskNotFound, format!("task {task} not found")),
        ),
    };
    let row = first(client, sql, &[t(tenant), u(id)])?.ok_or(missing)?;
    let stage_status: Vec<String> = req(&row, 14)?;
    let mut r = RequestRow {
        id: req(&row, 1)?,
        policy_key: req(&row, 2)?,
        policy_version: req(&row, 3)?,
        artifact_type: req(&row, 4)?,
        artifact_id: req(&row, 5)?,
        callback_url: col(&row, 6)?,
        endpoint_id: col(&row, 15)?,
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
                awe._to_us(due_at), claimed_by, decided_by
           from awe.task where tenant_id = $1 and request_id = $2::uuid order by created_at, task_id",
        &[t(tenant), u(&r.id)])?;
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
            decided_by: col(&row, 11)?,
            is_new: false,
        });
    }
    Ok(r)
}

/// Extra columns a decision writes on its task.
pub struct DecisionRecord<'a> {
    pub task_id: &'a str,
    pub comment: Option<&'a str>,
}

/// Writes everything one operation changed — the request row (inserted for
/// a new request, else updated with the new chain head), task changes, new
/// tasks and the events — in one statement of data-modifying CTEs, so a
/// submit or a decision costs one executor start-up, not four.
pub fn apply(client: &SpiClient<'_>, s: &Session, row: &mut RequestRow, policy: &Policy, effects: &Effects, w: &Write<'_>) -> AweResult<()> {
    let events = chain_events(s, row, &effects.events);
    let stage_status: Vec<String> = row.state.stages.iter().map(|s| s.as_str().to_string()).collect();
    let mut args = match w.new_request {
        Some(n) => vec![
            t(&s.tenant), u(&row.id), t(&row.policy_key), i(row.policy_version), t(&row.artifact_type),
            t(&row.artifact_id), jb(row.state.context.clone()), opt_t(row.requester.as_deref()),
            opt_t(row.callback_url.as_deref()), t(row.state.status.as_str()), arr(stage_status), t(&s.actor), big(s.now),
            match n.expires_at { Some(v) => big(v), None => DatumWithOid::null::<i64>() },
            i(row.last_seq), bytes(row.last_hash.clone()),
        ],
        None => {
            let decided = |id: &str| w.decision.as_ref().filter(|d| d.task_id == id);
            let ch = &effects.task_changes;
            vec![
                t(&s.tenant), u(&row.id), t(row.state.status.as_str()), i(row.state.revision),
                opt_jb(w.context_changed.then(|| row.state.context.clone())), arr(stage_status),
                i(row.last_seq), bytes(row.last_hash.clone()), big(s.now), t(&s.actor),
                arr(ch.iter().map(|c| c.id.clone()).collect::<Vec<_>>()),
                arr(ch.iter().map(|c| c.status.as_str().to_string()).collect::<Vec<_>>()),
                arr(ch.iter().map(|c| decided(&c.id).is_some()).collect::<Vec<_>>()),
                arr(ch.iter().map(|c| decided(&c.id).and_then(|d| d.comment.map(str::to_string))).collect::<Vec<Option<String>>>()),
            ]
        }
    };
    args.extend(task_columns(&effects.new_tasks));
    let has_events = !events.seq.is_empty();
    args.extend(events.into_args());
    args.push(opt_t(row.endpoint_id.as_deref()));
    args.push(opt_t(row.callback_url.as_deref()));
    let sql = write_sql(w.new_request.is_some(), !effects.new_tasks.is_empty(), row.endpoint_id.is_some());
    run(client, sql, &args)?;
    let resolving: Vec<usize> = effects.stage_changes.iter().filter(|(_, st)| *st == StageStatus::Resolving).map(|(i, _)| *i).collect();
    if !resolving.is_empty() {
        queue_resolver_jobs(client, s, row, policy, &resolving)?;
    }
    if (has_events && row.endpoint_id.is_some()) || !resolving.is_empty() {
        crate::worker::wake_on_commit();
    }
    Ok(())
}

/// One job per stage waiting on its http rule; the worker calls it.
fn queue_resolver_jobs(client: &SpiClient<'_>, s: &Session, row: &RequestRow, policy: &Policy, stages: &[usize]) -> AweResult<()> {
    for &stage in stages {
        let Some(url) = policy.stages[stage].rules.iter().find_map(|r| match &r.source {
            awe_core::policy::RuleSource::Http { url } => Some(url.clone()),
            _ => None,
        }) else { continue };
        run(client,
            "insert into awe.resolver_job (tenant_id, request_id, stage_index, revision, url, next_attempt_at, created_at)
             values ($1, $2::uuid, $3, $4, $5, awe._from_us($6), awe._from_us($6))
             on conflict (tenant_id, request_id, stage_index, revision) do nothing",
            &[t(&s.tenant), u(&row.id), i(stage as i32), i(row.state.revision), t(&url), big(s.now)])?;
    }
    Ok(())
}

/// The write statement: the request row first, then task changes, new tasks,
/// events and deliveries as data-modifying CTEs. Parts a given operation does
/// not need (no new tasks, no callback) are left out of its statement, since
/// even an empty INSERT opens its table and every index at executor start.
/// Parameter numbers are the same in every variant of a head.
fn write_sql(new_request: bool, tasks: bool, deliveries: bool) -> &'static str {
    static VARIANTS: [std::sync::OnceLock<String>; 8] = [const { std::sync::OnceLock::new() }; 8];
    let n = (new_request as usize) << 2 | (tasks as usize) << 1 | deliveries as usize;
    VARIANTS[n].get_or_init(|| {
        // Where the shared parts' parameters start after each head.
        let (head, p) = if new_request {
            (INSERT_HEAD, Params { now: 13, tasks: 17, events: 26, endpoint: 36 })
        } else {
            (UPDATE_HEAD, Params { now: 9, tasks: 15, events: 24, endpoint: 34 })
        };
        let mut ctes = vec![head.to_string()];
        if tasks {
            ctes.push(p.tasks_cte());
        }
        ctes.push(p.events_cte());
        if deliveries {
            ctes.push(p.deliveries_cte());
        }
        format!("with {}\nselect 1", ctes.join(",\n"))
    })
}

/// Parameter numbers of the parts both heads share: the operation's clock,
/// the first of the nine task arrays, the first of the ten event arrays, and
/// the endpoint id (its URL follows).
struct Params {
    now: usize,
    tasks: usize,
    events: usize,
    endpoint: usize,
}

impl Params {
    fn tasks_cte(&self) -> String {
        let (now, k) = (self.now, self.tasks);
        format!("t as (
    insert into awe.task (tenant_id, task_id, request_id, stage_index, revision, assignee, delegated_from, kind,
                          required, status, due_at, timer_at, created_at, updated_at)
    select $1, x.task_id::uuid, $2::uuid, x.stage_index, x.revision, x.assignee, x.delegated_from, x.kind,
           x.required, x.status, awe._from_us(x.due_us), awe._from_us(x.due_us), awe._from_us(${now}), awe._from_us(${now})
      from unnest(${}::text[], ${}::int[], ${}::int[], ${}::text[], ${}::text[], ${}::text[], ${}::boolean[],
                  ${}::text[], ${}::bigint[]) as x(task_id, stage_index, revision, assignee, delegated_from, kind,
                                                   required, status, due_us))",
            k, k + 1, k + 2, k + 3, k + 4, k + 5, k + 6, k + 7, k + 8)
    }

    fn events_cte(&self) -> String {
        let (now, e) = (self.now, self.events);
        format!("e as (
    insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, stage_index, task_id, status, data,
                           created_at, prev_hash, hash)
    select $1, $2::uuid, x.seq, x.event_id::uuid, x.type, x.actor, x.stage_index, x.task_id::uuid, x.status, x.data::json,
           awe._from_us(${now}), x.prev_hash, x.hash
      from unnest(${}::int[], ${}::text[], ${}::text[], ${}::text[], ${}::int[], ${}::text[], ${}::text[],
                  ${}::text[], ${}::bytea[], ${}::bytea[]) as x(seq, event_id, type, actor, stage_index, task_id,
                                                                status, data, prev_hash, hash)
    returning seq, event_id, type)",
            e, e + 1, e + 2, e + 3, e + 4, e + 5, e + 6, e + 7, e + 8, e + 9)
    }

    /// Only in the statement of a request with a callback endpoint.
    /// Deliveries run on the real clock (not a test's shifted awe.now()).
    fn deliveries_cte(&self) -> String {
        let (ep, url) = (self.endpoint, self.endpoint + 1);
        format!("d as (
    insert into awe.delivery (tenant_id, request_id, seq, event_id, event_type, endpoint_id, url, next_attempt_at, created_at)
    select $1, $2::uuid, e.seq, e.event_id, e.type, ${ep}::uuid, ${url}, now(), now()
      from e)")
    }
}

const INSERT_HEAD: &str = "r as (
    insert into awe.request (tenant_id, request_id, policy_key, policy_version, artifact_type, artifact_id, context,
                             requester, callback_url, callback_endpoint_id, status, revision, stage_status, created_by,
                             created_at, updated_at, expires_at, last_seq, last_hash, decided_at)
    values ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $36::uuid, $10, 1, $11, $12, awe._from_us($13), awe._from_us($13),
            awe._from_us($14), $15, $16, case when $10 in ('approved', 'rejected') then awe._from_us($13) end))";

const UPDATE_HEAD: &str = "r as (
    update awe.request set status = $3, revision = $4, context = coalesce($5, context), stage_status = $6,
           last_seq = $7, last_hash = $8, updated_at = awe._from_us($9),
           decided_at = case when $3 in ('approved', 'rejected', 'cancelled', 'expired', 'failed')
                             then awe._from_us($9) else decided_at end
     where tenant_id = $1 and request_id = $2::uuid),
c as (
    update awe.task k set status = x.status, updated_at = awe._from_us($9),
           decided_by = case when x.decided then $10 else k.decided_by end,
           decided_at = case when x.decided then awe._from_us($9) else k.decided_at end,
           comment = case when x.decided then x.comment else k.comment end
      -- uuid[] before the join: a cast applied to x's column is not
      -- leakproof, so under row-level security it could not drive the index
      -- scan and the update read every task of the tenant.
      from unnest($11::text[]::uuid[], $12::text[], $13::boolean[], $14::text[]) as x(task_id, status, decided, comment)
     where k.tenant_id = $1 and k.task_id = x.task_id)";

fn arr<T: pgrx::IntoDatum>(v: Vec<T>) -> DatumWithOid<'static> {
    DatumWithOid::from(v)
}

/// New tasks as the nine array parameters of the task insert.
fn task_columns(tasks: &[Task]) -> Vec<DatumWithOid<'static>> {
    let text = |f: &dyn Fn(&Task) -> String| arr(tasks.iter().map(f).collect::<Vec<String>>());
    vec![
        text(&|k| k.id.clone()),
        arr(tasks.iter().map(|k| k.stage as i32).collect::<Vec<i32>>()),
        arr(tasks.iter().map(|k| k.revision).collect::<Vec<i32>>()),
        text(&|k| k.assignee.clone()),
        arr(tasks.iter().map(|k| k.delegated_from.clone()).collect::<Vec<Option<String>>>()),
        text(&|k| k.kind.as_str().to_string()),
        arr(tasks.iter().map(|k| k.required).collect::<Vec<bool>>()),
        text(&|k| k.status.as_str().to_string()),
        arr(tasks.iter().map(|k| k.due_at).collect::<Vec<Option<i64>>>()),
    ]
}

/// What `apply` writes besides the engine's effects.
#[derive(Default)]
pub struct Write<'a> {
    pub new_request: Option<&'a NewRequest>,
    pub context_changed: bool,
    pub decision: Option<DecisionRecord<'a>>,
}

/// Events with their sequence numbers, ids and hashes, as columns.
#[derive(Default)]
struct EventColumns {
    seq: Vec<i32>,
    event_id: Vec<String>,
    kind: Vec<String>,
    actor: Vec<String>,
    stage_index: Vec<Option<i32>>,
    task_id: Vec<Option<String>>,
    status: Vec<String>,
    data: Vec<String>,
    prev_hash: Vec<Option<Vec<u8>>>,
    hash: Vec<Vec<u8>>,
}

/// Gives each event its sequence number, id and hash, advancing the row's
/// chain head.
fn chain_events(s: &Session, row: &mut RequestRow, events: &[NewEvent]) -> EventColumns {
    let mut c = EventColumns::default();
    for e in events {
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
        c.prev_hash.push(row.last_hash.replace(hash.clone()));
        c.hash.push(hash);
        c.seq.push(ce.seq);
        c.event_id.push(ce.event_id);
        c.kind.push(ce.kind);
        c.actor.push(ce.actor);
        c.stage_index.push(ce.stage_index);
        c.task_id.push(ce.task_id);
        c.status.push(ce.status);
        c.data.push(ce.data.to_string());
    }
    c
}

impl EventColumns {
    /// The ten array parameters of the event insert.
    fn into_args(self) -> Vec<DatumWithOid<'static>> {
        vec![arr(self.seq), arr(self.event_id), arr(self.kind), arr(self.actor), arr(self.stage_index), arr(self.task_id),
             arr(self.status), arr(self.data), arr(self.prev_hash), arr(self.hash)]
    }
}

/// What only a new request has.
pub struct NewRequest {
    pub expires_at: Option<i64>,
}

/// A request not yet in the database; `apply` inserts it.
#[allow(clippy::too_many_arguments)]
pub fn new_row(id: &str, policy_key: &str, policy_version: i32, artifact_type: &str, artifact_id: &str,
               callback: Option<(&str, &str)>, actor: &str, state: RequestState) -> RequestRow {
    RequestRow {
        id: id.to_string(),
        policy_key: policy_key.to_string(),
        policy_version,
        artifact_type: artifact_type.to_string(),
        artifact_id: artifact_id.to_string(),
        callback_url: callback.map(|(url, _)| url.to_string()),
        endpoint_id: callback.map(|(_, id)| id.to_string()),
        requester: state.requester.clone(),
        created_by: actor.to_string(),
        last_seq: 0,
        last_hash: None,
        state,
        claims: Vec::new(),
    }
}
