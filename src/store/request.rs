//! Request rows: lock, load, and write back what the engine decided.

use super::{arg, column, first, json_column, new_uuid, required, run, unix_us_column};
use crate::session::Session;
use awe_core::model::*;
use awe_core::policy::{Policy, RuleKind};
use awe_core::timeline::{event_hash, ChainedEvent};
use awe_core::{AweError, AweResult, Code};
use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiHeapTupleData};

/// The columns `request_from_row_at` reads (a macro, for `concat!`).
macro_rules! request_columns {
    () => {
        "r.request_id::text, r.policy_key, r.policy_version, r.artifact_type, r.artifact_id, r.callback_url,
                r.requester, r.created_by, r.last_seq, r.last_hash, r.status, r.revision, r.context::text,
                r.stage_status, r.callback_endpoint_id::text, r.created_at, r.updated_at, r.decided_at, r.expires_at, r.summary::text"
    };
}
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
    /// Unix µs.
    pub created_at: i64,
    pub updated_at: i64,
    pub decided_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// The request's summary (template, then the model's), as stored.
    pub summary: Option<serde_json::Value>,
    pub state: RequestState,
    /// What the engine does not model of each task: when it was decided and
    /// the decision's comment, by task id.
    pub task_notes: std::collections::HashMap<String, TaskNote>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskNote {
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
    /// What the approver added to the decision (the stage's decision_schema).
    pub data: Option<serde_json::Value>,
}

impl RequestRow {
    /// Takes in what this operation decided, so the row renders as stored.
    pub fn note_decisions(&mut self, effects: &Effects, now: i64) {
        for c in effects.task_changes.iter().filter(|c| c.decided_by.is_some()) {
            let note = self.task_notes.entry(c.id.clone()).or_default();
            note.decided_at = Some(now);
            note.comment = c.comment.clone();
            note.data = c.data.clone();
        }
    }
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
    load(client, tenant, target, true)
}

/// The request as it is now, without locking it.
pub fn read(client: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<RequestRow> {
    load(client, tenant, Target::Request(request_id), false)
}

fn load(client: &SpiClient<'_>, tenant: &str, target: Target<'_>, locking: bool) -> AweResult<RequestRow> {
    macro_rules! load_sql {
        ($which:literal, $lock:literal) => {
            concat!("select ", request_columns!(), " from awe.request r where r.tenant_id = $1 and r.request_id = ", $which, $lock)
        };
    }
    let (sql, id, missing) = match (target, locking) {
        (Target::Request(id), true) => (load_sql!("$2", " for update"), id, AweError::new(Code::RequestNotFound, format!("request {id} not found"))),
        (Target::Request(id), false) => (load_sql!("$2", ""), id, AweError::new(Code::RequestNotFound, format!("request {id} not found"))),
        (Target::TaskOf(task), true) => (
            load_sql!("(select k.request_id from awe.task k where k.tenant_id = $1 and k.task_id = $2)", " for update"),
            task,
            AweError::new(Code::TaskNotFound, format!("task {task} not found")),
        ),
        (Target::TaskOf(task), false) => (
            load_sql!("(select k.request_id from awe.task k where k.tenant_id = $1 and k.task_id = $2)", ""),
            task,
            AweError::new(Code::TaskNotFound, format!("task {task} not found")),
        ),
    };
    let row = first(client, sql, &[arg::text(tenant), arg::uuid(id)])?.ok_or(missing)?;
    let mut r = request_from_row(&row)?;
    let (tasks, notes) = load_tasks(client, tenant, &r.id)?;
    r.state.tasks = tasks;
    r.task_notes = notes;
    Ok(r)
}

/// The columns `task_from_row` reads.
const TASK_COLUMNS: &str = "t.task_id::text, t.stage_index, t.revision, t.assignee, t.delegated_from, t.kind, t.required, t.status,
                t.due_at, t.claimed_by, t.decided_by, t.decided_at, t.comment, t.created_at, t.decision_data::text";
static TASKS_OF_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!(
    "select {TASK_COLUMNS} from awe.task t where t.tenant_id = $1 and t.request_id = $2 order by t.created_at, t.task_id"));

/// A request from the columns of `request_columns!`.
fn request_from_row(row: &SpiHeapTupleData<'_>) -> AweResult<RequestRow> {
    let stage_status: Vec<String> = required(row, 14)?;
    let id: String = required(row, 1)?;
    let state = RequestState {
        id: id.clone(),
        status: RequestStatus::parse(&required::<String>(row, 11)?)?,
        revision: required(row, 12)?,
        requester: column(row, 7)?,
        submitter: required(row, 8)?,
        context: json_column(row, 13)?,
        stages: stage_status.iter().map(|s| StageStatus::parse(s)).collect::<AweResult<_>>()?,
        tasks: Vec::new(),
    };
    Ok(RequestRow {
        id,
        policy_key: required(row, 2)?,
        policy_version: required(row, 3)?,
        artifact_type: required(row, 4)?,
        artifact_id: required(row, 5)?,
        callback_url: column(row, 6)?,
        endpoint_id: column(row, 15)?,
        requester: column(row, 7)?,
        created_by: required(row, 8)?,
        last_seq: required(row, 9)?,
        last_hash: column(row, 10)?,
        created_at: unix_us_column(row, 16)?.unwrap_or_default(),
        updated_at: unix_us_column(row, 17)?.unwrap_or_default(),
        decided_at: unix_us_column(row, 18)?,
        expires_at: unix_us_column(row, 19)?,
        summary: column::<String>(row, 20)?.and_then(|t| serde_json::from_str(&t).ok()),
        state,
        task_notes: Default::default(),
    })
}

/// A request's tasks in creation order, as the engine models them, and
/// what else the rows say of each.
pub fn load_tasks(client: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<(Vec<Task>, std::collections::HashMap<String, TaskNote>)> {
    let rows = run(client, &TASKS_OF_ONE, &[arg::text(tenant), arg::uuid(request_id)])?;
    let mut tasks = Vec::new();
    let mut notes = std::collections::HashMap::new();
    for row in rows {
        let (task, note) = task_from_row(&row)?;
        notes.insert(task.id.clone(), note);
        tasks.push(task);
    }
    Ok((tasks, notes))
}

fn task_from_row(row: &SpiHeapTupleData<'_>) -> AweResult<(Task, TaskNote)> {
    let data: Option<String> = column(row, 15)?;
    let note = TaskNote {
        decided_at: unix_us_column(row, 12)?, comment: column(row, 13)?, created_at: unix_us_column(row, 14)?.unwrap_or_default(),
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
    };
    let task = Task {
        id: required(row, 1)?,
        stage: required::<i32>(row, 2)? as usize,
        revision: required(row, 3)?,
        assignee: required(row, 4)?,
        delegated_from: column(row, 5)?,
        kind: RuleKind::parse(&required::<String>(row, 6)?)?,
        required: required(row, 7)?,
        status: TaskStatus::parse(&required::<String>(row, 8)?)?,
        due_at: unix_us_column(row, 9)?,
        claimed_by: column(row, 10)?,
        decided_by: column(row, 11)?,
        is_new: false,
    };
    Ok((task, note))
}

/// Writes everything one operation changed — the request row (inserted for
/// a new request, else updated with the new chain head), task changes, new
/// tasks and the events — in one statement of data-modifying CTEs, so a
/// submit or a decision costs one executor start-up, not four; or, with
/// awe.write_mode = per_table (a distributed database: each statement then
/// touches one table of one tenant and goes to one node), one statement
/// per table. Returns
/// whether the worker has new work (deliveries or resolver calls) once the
/// transaction commits.
pub fn apply(client: &SpiClient<'_>, s: &Session, row: &mut RequestRow, policy: &Policy, effects: &Effects, w: &Write<'_>) -> AweResult<bool> {
    let events = chain_events(s, row, &effects.events);
    let stage_status: Vec<String> = row.state.stages.iter().map(|s| s.as_str().to_string()).collect();
    // decided_at is when the request reached its final status, once.
    let decided_at = (effects.status_changed && row.state.status.is_terminal()).then_some(s.now);
    let mut args = match w.new_request {
        Some(n) => vec![
            arg::text(&s.tenant), arg::uuid(&row.id), arg::text(&row.policy_key), arg::int(row.policy_version),
            arg::text(&row.artifact_type), arg::text(&row.artifact_id), arg::text(&row.state.context.to_string()),
            arg::opt_text(row.requester.as_deref()), arg::opt_text(row.callback_url.as_deref()), arg::text(row.state.status.as_str()),
            arg::array(stage_status), arg::text(&s.actor), arg::timestamptz(s.now), arg::opt_timestamptz(n.expires_at),
            arg::int(row.last_seq), arg::bytes(row.last_hash.clone()), arg::opt_timestamptz(decided_at),
            arg::opt_jsonb(row.summary.clone()),
        ],
        None => {
            let ch = &effects.task_changes;
            vec![
                arg::text(&s.tenant), arg::uuid(&row.id), arg::text(row.state.status.as_str()), arg::int(row.state.revision),
                arg::opt_text(w.context_changed.then(|| row.state.context.to_string()).as_deref()), arg::array(stage_status),
                arg::int(row.last_seq), arg::bytes(row.last_hash.clone()), arg::timestamptz(s.now), arg::opt_timestamptz(decided_at),
                arg::array(ch.iter().map(|c| c.id.clone()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.status.as_str().to_string()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.decided_by.clone()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.comment.clone()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.claimed_by.is_some()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.claimed_by.clone().flatten()).collect::<Vec<_>>()),
                arg::array(ch.iter().map(|c| c.data.as_ref().map(|d| d.to_string())).collect::<Vec<_>>()),
                arg::opt_jsonb(row.summary.clone()),
            ]
        }
    };
    args.extend(task_columns(&effects.new_tasks));
    let n_events = events.seq.len();
    let has_events = n_events > 0;
    args.extend(events.into_args());
    args.push(arg::opt_text(row.endpoint_id.as_deref()));
    args.push(arg::opt_text(row.callback_url.as_deref()));
    if crate::settings::per_table_writes() {
        for sql in per_table_sql(w.new_request.is_some(), effects.new_tasks.len(), n_events, row.endpoint_id.is_some()) {
            run(client, sql, &args)?;
        }
    } else {
        run(client, write_sql(w.new_request.is_some(), !effects.new_tasks.is_empty(), row.endpoint_id.is_some()), &args)?;
    }
    let resolving: Vec<usize> = effects.stage_changes.iter().filter(|(_, st)| *st == StageStatus::Resolving).map(|(i, _)| *i).collect();
    if !resolving.is_empty() {
        queue_resolver_jobs(client, s, row, policy, &resolving)?;
    }
    // A new request, or a new context, is summarized by the policy's model.
    let summarize = policy.summarizer.is_some() && (w.new_request.is_some() || w.context_changed);
    if summarize {
        super::summary_job::queue(client, &s.tenant, &row.id, row.state.revision, s.now)?;
    }
    Ok((has_events && row.endpoint_id.is_some()) || !resolving.is_empty() || summarize)
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
             values ($1, $2, $3, $4, $5, $6, $6)
             on conflict (tenant_id, request_id, stage_index, revision) do nothing",
            &[arg::text(&s.tenant), arg::uuid(&row.id), arg::int(stage as i32), arg::int(row.state.revision), arg::text(&url), arg::timestamptz(s.now)])?;
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
        let p = params(new_request);
        let mut ctes = if new_request {
            vec![format!("r as (\n    {REQUEST_INSERT})")]
        } else {
            vec![format!("r as (\n    {REQUEST_UPDATE})"), format!("c as (\n    {TASK_CHANGES})")]
        };
        if tasks {
            ctes.push(format!("t as (\n    {})", p.tasks(Rows::Unnest)));
        }
        ctes.push(format!("e as (\n    {})", p.events(Rows::Unnest, true)));
        if deliveries {
            ctes.push(format!("d as (\n    {})", p.deliveries_from_events()));
        }
        format!("with {}\nselect 1", ctes.join(",\n"))
    })
}

/// Where the shared parts' parameters start after each head.
fn params(new_request: bool) -> Params {
    Params { now: if new_request { 13 } else { 9 }, tasks: 19, events: 28, endpoint: 38 }
}

/// awe.write_mode = per_table: the same write as one statement per table
/// (each touches one tenant's rows of one table, which Citus sends to that
/// tenant's node), inserting rows as VALUES lists. A statement per row
/// count is made once per backend and kept.
fn per_table_sql(new_request: bool, tasks: usize, events: usize, deliveries: bool) -> Vec<&'static str> {
    static MADE: std::sync::Mutex<Option<std::collections::HashMap<(u8, bool, usize), &'static str>>> = std::sync::Mutex::new(None);
    let p = params(new_request);
    let made = |part: u8, n: usize, make: &dyn Fn() -> String| -> &'static str {
        let mut m = MADE.lock().unwrap_or_else(|e| e.into_inner());
        m.get_or_insert_with(Default::default).entry((part, new_request, n)).or_insert_with(|| Box::leak(make().into_boxed_str()))
    };
    let mut out = if new_request { vec![REQUEST_INSERT] } else { vec![REQUEST_UPDATE, TASK_CHANGES] };
    if tasks > 0 {
        out.push(made(0, tasks, &|| p.tasks(Rows::Values(tasks))));
    }
    if events > 0 {
        out.push(made(1, events, &|| p.events(Rows::Values(events), false)));
        if deliveries {
            out.push(made(2, events, &|| p.deliveries(Rows::Values(events))));
        }
    }
    out
}

/// Parameter numbers of the parts both heads share: the operation's clock,
/// the first of the nine task arrays, the first of the ten event arrays, and
/// the endpoint id (its URL follows). Every statement of a write is
/// prepared with all of the write's parameters, so a part has the same
/// numbers alone or as a CTE.
struct Params {
    now: usize,
    tasks: usize,
    events: usize,
    endpoint: usize,
}

/// How an INSERT reads its rows from the array parameters: as one
/// `SELECT … FROM unnest(…)` (any number of rows, one plan), or as a VALUES
/// list of `n` rows taking element `i` of each array (`$k[i]`). Citus sends
/// the VALUES form to the tenant's node as it is; the unnest form it pulls
/// to the coordinator and COPYs, and a COPY always ends in a two-phase commit.
#[derive(Clone, Copy)]
enum Rows {
    Unnest,
    Values(usize),
}

/// An INSERT of `columns` whose values are `row(column)` for each row, the
/// array parameters being `arrays` (first parameter, then `(name, type)`).
fn insert(head: &str, first: usize, arrays: &[(&str, &str)], rows: Rows, row: impl Fn(&dyn Fn(&str) -> String) -> String) -> String {
    let param = |name: &str| first + arrays.iter().position(|(n, _)| *n == name).expect("an array column");
    match rows {
        Rows::Unnest => {
            let from: Vec<String> = arrays.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}[]", first + i)).collect();
            let names: Vec<&str> = arrays.iter().map(|(n, _)| *n).collect();
            format!("{head}\n    select {}\n      from unnest({}) as x({})", row(&|c| format!("x.{c}")), from.join(", "), names.join(", "))
        }
        Rows::Values(n) => {
            let values: Vec<String> = (1..=n).map(|i| format!("({})", row(&|c| format!("${}[{i}]", param(c))))).collect();
            format!("{head}\n    values {}", values.join(",\n           "))
        }
    }
}

const TASK_ARRAYS: &[(&str, &str)] = &[("task_id", "text"), ("stage_index", "int"), ("revision", "int"), ("assignee", "text"),
    ("delegated_from", "text"), ("kind", "text"), ("required", "boolean"), ("status", "text"), ("due_at", "timestamptz")];
const EVENT_ARRAYS: &[(&str, &str)] = &[("seq", "int"), ("event_id", "text"), ("type", "text"), ("actor", "text"), ("stage_index", "int"),
    ("task_id", "text"), ("status", "text"), ("data", "text"), ("prev_hash", "bytea"), ("hash", "bytea")];

impl Params {
    fn tasks(&self, rows: Rows) -> String {
        let now = self.now;
        insert("insert into awe.task (tenant_id, task_id, request_id, stage_index, revision, assignee, delegated_from, kind,
                          required, status, due_at, timer_at, created_at, updated_at, notify_at)", self.tasks, TASK_ARRAYS, rows,
            |c| format!("$1, {}::uuid, $2, {}, {}, {}, {}, {}, {}, {}, {}, {}, ${now}, ${now}, {} - ({} - ${now}) / 5",
                c("task_id"), c("stage_index"), c("revision"), c("assignee"), c("delegated_from"), c("kind"), c("required"),
                c("status"), c("due_at"), c("due_at"), c("due_at"), c("due_at")))
    }

    /// `returning` only where the deliveries CTE reads the rows back.
    fn events(&self, rows: Rows, returning: bool) -> String {
        let now = self.now;
        let sql = insert("insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, stage_index, task_id, status, data,
                           created_at, prev_hash, hash)", self.events, EVENT_ARRAYS, rows,
            |c| format!("$1, $2, {}, {}::uuid, {}, {}, {}, {}::uuid, {}, {}::json, ${now}, {}, {}",
                c("seq"), c("event_id"), c("type"), c("actor"), c("stage_index"), c("task_id"), c("status"), c("data"),
                c("prev_hash"), c("hash")));
        if returning { sql + "\n    returning seq, event_id, type" } else { sql }
    }

    /// Only in the statement of a request with a callback endpoint.
    /// Deliveries run on the real clock (not a test's shifted awe.now()).
    fn deliveries_from_events(&self) -> String {
        let (ep, url) = (self.endpoint, self.endpoint + 1);
        format!("insert into awe.delivery (tenant_id, request_id, seq, event_id, event_type, endpoint_id, url, next_attempt_at, created_at)
    select $1, $2, e.seq, e.event_id, e.type, ${ep}::uuid, ${url}, now(), now()
      from e")
    }

    /// The same, alone (one statement per table): from the event arrays.
    fn deliveries(&self, rows: Rows) -> String {
        let (ep, url) = (self.endpoint, self.endpoint + 1);
        insert("insert into awe.delivery (tenant_id, request_id, seq, event_id, event_type, endpoint_id, url, next_attempt_at, created_at)",
            self.events, &EVENT_ARRAYS[..3], rows,
            |c| format!("$1, $2, {}, {}::uuid, {}, ${ep}::uuid, ${url}, now(), now()", c("seq"), c("event_id"), c("type")))
    }
}

const REQUEST_INSERT: &str = "insert into awe.request (tenant_id, request_id, policy_key, policy_version, artifact_type, artifact_id, context,
                             requester, callback_url, callback_endpoint_id, status, revision, stage_status, created_by,
                             created_at, updated_at, expires_at, last_seq, last_hash, decided_at, summary)
    values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $38::uuid, $10, 1, $11, $12, $13, $13, $14, $15, $16, $17, $18::jsonb)";

const REQUEST_UPDATE: &str = "update awe.request set status = $3, revision = $4, context = coalesce($5::jsonb, context), stage_status = $6,
           last_seq = $7, last_hash = $8, updated_at = $9, decided_at = coalesce($10, decided_at),
           -- A new context (resubmit) comes with its new summary.
           summary = case when $5 is null then summary else $18::jsonb end
     where tenant_id = $1 and request_id = $2";

const TASK_CHANGES: &str = "update awe.task k set status = x.status, updated_at = $9,
           decided_by = coalesce(x.decided_by, k.decided_by),
           decided_at = case when x.decided_by is null then k.decided_at else $9 end,
           comment = case when x.decided_by is null then k.comment else x.comment end,
           decision_data = case when x.decided_by is null then k.decision_data else x.data::jsonb end,
           claimed_by = case when x.claim_changed then x.claimed_by else k.claimed_by end,
           claimed_at = case when not x.claim_changed then k.claimed_at when x.claimed_by is null then null else $9 end
      -- uuid[] before the join: a cast applied to x's column is not
      -- leakproof, so under row-level security it could not drive the index
      -- scan and the update read every task of the tenant.
      from unnest($11::text[]::uuid[], $12::text[], $13::text[], $14::text[], $15::boolean[], $16::text[], $17::text[])
           as x(task_id, status, decided_by, comment, claim_changed, claimed_by, data)
     where k.tenant_id = $1 and k.task_id = x.task_id";

/// New tasks as the nine array parameters of the task insert.
fn task_columns(tasks: &[Task]) -> Vec<DatumWithOid<'static>> {
    let text = |f: &dyn Fn(&Task) -> String| arg::array(tasks.iter().map(f).collect::<Vec<String>>());
    vec![
        text(&|k| k.id.clone()),
        arg::array(tasks.iter().map(|k| k.stage as i32).collect::<Vec<i32>>()),
        arg::array(tasks.iter().map(|k| k.revision).collect::<Vec<i32>>()),
        text(&|k| k.assignee.clone()),
        arg::array(tasks.iter().map(|k| k.delegated_from.clone()).collect::<Vec<Option<String>>>()),
        text(&|k| k.kind.as_str().to_string()),
        arg::array(tasks.iter().map(|k| k.required).collect::<Vec<bool>>()),
        text(&|k| k.status.as_str().to_string()),
        arg::timestamptz_array(tasks.iter().map(|k| k.due_at).collect()),
    ]
}

/// What `apply` writes besides the engine's effects.
#[derive(Default)]
pub struct Write<'a> {
    pub new_request: Option<&'a NewRequest>,
    pub context_changed: bool,
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
        vec![arg::array(self.seq), arg::array(self.event_id), arg::array(self.kind), arg::array(self.actor),
             arg::array(self.stage_index), arg::array(self.task_id), arg::array(self.status), arg::array(self.data),
             arg::array(self.prev_hash), arg::array(self.hash)]
    }
}

/// What only a new request has.
pub struct NewRequest {
    pub expires_at: Option<i64>,
}

/// A request not yet in the database; `apply` inserts it.
#[allow(clippy::too_many_arguments)]
pub fn new_row(id: &str, policy_key: &str, policy_version: i32, artifact_type: &str, artifact_id: &str,
               callback: Option<(&str, &str)>, s: &Session, expires_at: Option<i64>, state: RequestState) -> RequestRow {
    RequestRow {
        id: id.to_string(),
        policy_key: policy_key.to_string(),
        policy_version,
        artifact_type: artifact_type.to_string(),
        artifact_id: artifact_id.to_string(),
        callback_url: callback.map(|(url, _)| url.to_string()),
        endpoint_id: callback.map(|(_, id)| id.to_string()),
        requester: state.requester.clone(),
        created_by: s.actor.clone(),
        last_seq: 0,
        last_hash: None,
        created_at: s.now,
        updated_at: s.now,
        decided_at: None,
        expires_at,
        summary: None,
        state,
        task_notes: Default::default(),
    }
}
