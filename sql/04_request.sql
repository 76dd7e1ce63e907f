-- Requests, their tasks and their append-only events.

-- Status columns are domains rather than CHECK constraints: a domain's check
-- is compiled once per backend (type cache), a table's CHECK is re-read from
-- its stored text at every statement that writes the table.
create domain awe.request_status as text collate "C"
    check (value in ('pending', 'in_review', 'changes_requested', 'approved', 'rejected', 'cancelled', 'expired', 'failed'));
create domain awe.task_status as text collate "C"
    check (value in ('open', 'approved', 'rejected', 'abstained', 'changes_requested', 'skipped', 'superseded',
                     'reassigned', 'cancelled', 'expired', 'completed'));
-- `revision`: the requester's task after request_changes (resubmit or
-- withdraw); `completed` once resubmitted.
create domain awe.task_kind as text collate "C" check (value in ('approver', 'observer', 'revision'));

create table awe.request (
    tenant_id      text collate "C" not null,
    request_id     uuid not null,
    policy_key     text collate "C" not null,
    policy_version int  not null,
    artifact_type  text collate "C" not null,
    artifact_id    text collate "C" not null,
    context        jsonb not null,
    requester      text collate "C",
    callback_url   text,
    -- The registered endpoint the callback URL belongs to (deliveries go there).
    callback_endpoint_id uuid,
    status         awe.request_status not null,
    revision       int  not null default 1,
    -- One status per policy stage, by stage index. Kept on the request row
    -- because every operation rewrites that row anyway (sequence, hash).
    stage_status   text[] not null,
    created_by     text collate "C" not null,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    decided_at     timestamptz,
    expires_at     timestamptz,
    last_seq       int not null default 0,
    last_hash      bytea,
    -- What an approver reads first: the policy's summary template rendered
    -- at submit and resubmit, and the model's summary when it comes
    -- (docs/summaries.md).
    summary        jsonb,
    primary key (tenant_id, request_id)
    -- No foreign key to policy_version: its KEY SHARE lock on the one active
    -- version made concurrent submits share a multixact. Versions that were
    -- ever active cannot be deleted (policy_version_guard).
) with (fillfactor = 80);  -- room for HOT updates: every operation rewrites the row
create index request_artifact on awe.request (tenant_id, artifact_type, artifact_id);
create index request_open on awe.request (tenant_id, status, created_at) where status in ('pending', 'in_review', 'changes_requested');
-- Expiry by tenant, so the worker serves every tenant's due expiries in turn.
create index request_expiry on awe.request (tenant_id, expires_at) where expires_at is not null and status in ('pending', 'in_review', 'changes_requested');

create table awe.task (
    tenant_id      text collate "C" not null,
    task_id        uuid not null,
    request_id     uuid not null,
    stage_index    int  not null,
    revision       int  not null,
    assignee       text collate "C" not null,
    delegated_from text collate "C",
    kind           awe.task_kind not null,
    required       boolean not null default false,
    status         awe.task_status not null,
    due_at         timestamptz,
    -- When the worker next looks at this task (SLA breach, reminders).
    timer_at       timestamptz,
    reminders_sent int not null default 0,
    claimed_by     text collate "C",
    claimed_at     timestamptz,
    decided_by     text collate "C",
    decided_at     timestamptz,
    comment        text,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    -- What the approver added to the decision (the stage's decision_schema).
    decision_data  jsonb,
    -- When the assignee is told the task is due soon (80% of its SLA).
    notify_at      timestamptz,
    primary key (tenant_id, task_id)
    -- No foreign key to request: tasks are written only by awe, in the same
    -- statement that inserts or updates their locked request row, and
    -- requests are never deleted (request_kept). An RI check per task cost a
    -- query each.
);
create index task_request on awe.task (tenant_id, request_id);
-- The inbox: a principal's open tasks in creation order (keyset pagination).
create index task_inbox on awe.task (tenant_id, assignee, created_at, task_id) where status = 'open';
-- Task history by principal (the inbox with a status filter); partial so
-- that creating an open task does not pay for it.
create index task_assignee on awe.task (tenant_id, assignee, created_at, task_id) where status <> 'open';
-- Due timers for the worker, by tenant, so every tenant's due timers are
-- served in turn however many another tenant has.
create index task_timer on awe.task (tenant_id, timer_at) where status = 'open' and timer_at is not null;

create table awe.event (
    tenant_id   text collate "C" not null,
    request_id  uuid not null,
    seq         int  not null,
    event_id    uuid not null,
    type        text collate "C" not null,
    actor       text collate "C" not null,
    stage_index int,
    task_id     uuid,
    status      text collate "C" not null,
    -- json, not jsonb: written once per event and read rarely, and json
    -- input only validates the text awe produced instead of rebuilding it
    -- (awe.timeline returns it as jsonb).
    data        json not null,
    created_at  timestamptz not null,
    prev_hash   bytea,
    hash        bytea not null,
    -- No foreign key to request: events are written only by awe, in the
    -- transaction that created or locked the request row, and they outlive
    -- nothing (append-only). An RI check per event cost ~10% of a submit.
    primary key (tenant_id, request_id, seq)
);
comment on table awe.event is 'Append-only audit trail; each request''s events form a SHA-256 hash chain (awe.verify_timeline).';

create function awe._audit_is_append_only() returns trigger language plpgsql as $$
begin
    perform awe._raise('AWE-FORBIDDEN', format('awe.%s is part of the audit trail: %s is refused', tg_table_name, tg_op));
    return null;
end $$;
create trigger event_no_update before update or delete on awe.event
    for each row execute function awe._audit_is_append_only();
create trigger event_no_truncate before truncate on awe.event
    for each statement execute function awe._audit_is_append_only();
-- Requests are part of the audit trail and own their tasks and events.
create trigger request_kept before delete on awe.request
    for each row execute function awe._audit_is_append_only();

create table awe.idempotency_key (
    tenant_id  text collate "C" not null references awe.tenant on delete cascade,
    key        text collate "C" not null,
    body_hash  bytea not null,
    request_id uuid not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    primary key (tenant_id, key)
);
create index idempotency_key_expiry on awe.idempotency_key (expires_at);

-- The request API (Rust). Actor and tenant come from the session. The
-- operations run with the owner's rights (callers hold no write privilege
-- on the tables) and name their tenant in every statement; the readers run
-- with the caller's, under row-level security.
create function awe.submit(policy_key text, artifact_type text, artifact_id text, context jsonb default '{}',
                           requester text default null, callback_url text default null, idempotency_key text default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_submit';
create function awe.decide(task_id uuid, decision text, comment text default null, attachments jsonb default null,
                           data jsonb default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_decide';
create function awe.resubmit(request_id uuid, context jsonb, comment text default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_resubmit';
create function awe.withdraw(request_id uuid, reason text default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_withdraw';
create function awe.cancel(request_id uuid, reason text default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_cancel';
create function awe.claim(task_id uuid)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_claim';
create function awe.release(task_id uuid)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_release';
create function awe.reassign(task_id uuid, assignee text, reason text default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_reassign';
create function awe.comment(request_id uuid, body text, task_id uuid default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_comment';
create function awe.simulate(policy_key text, context jsonb, version int default null, requester text default null)
    returns jsonb language c stable security definer as 'MODULE_PATHNAME', 'awe_simulate';
create function awe.eval_logic(rule jsonb, data jsonb default '{}')
    returns jsonb language c immutable parallel safe as 'MODULE_PATHNAME', 'awe_eval_logic';
create function awe.verify_timeline(request_id uuid)
    returns jsonb language c stable security definer as 'MODULE_PATHNAME', 'awe_verify_timeline';
create function awe.get_request(request_id uuid)
    returns jsonb language c stable security definer as 'MODULE_PATHNAME', 'awe_get_request';
-- The actions the viewer may take on one task now, for the inbox: computed
-- by the same code that checks an action when it is taken. The inbox passes
-- the task's and its request's fields it has already read.
create function awe._task_actions(task_id uuid, stage_index int, revision int, assignee text, kind text, required boolean,
                                  status text, claimed_by text, request_id uuid, request_status text, request_revision int,
                                  requester text, context jsonb, policy_key text, policy_version int, viewer text,
                                  submitter text)
    returns jsonb language c stable security definer as 'MODULE_PATHNAME', 'awe_task_actions';
-- Through REST: may the token's role do `op` (read, comment, resubmit,
-- withdraw, cancel) to this request? Raises when not (docs/rest.md).
-- The reading functions run with their owner's rights and name their
-- tenant in every statement (on Citus a caller's role may not even log in
-- to the nodes holding the rows); the role asked about is the caller's
-- (SET ROLE), which a SECURITY DEFINER function does not change.
create function awe._require_request_access(request_id uuid, op text)
    returns void language c stable security definer as 'MODULE_PATHNAME', 'awe_require_request_access';

-- Timeline of a request, oldest first; AWE-REQUEST-NOT-FOUND for a request
-- this tenant does not have, like every other function.
create function awe.timeline(request_id uuid)
    returns table (seq int, event_id uuid, type text, actor text, stage_index int, stage text, task_id uuid,
                   status text, data jsonb, created_at timestamptz)
    language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    if not exists (select 1 from awe.request r where r.tenant_id = t and r.request_id = timeline.request_id) then
        perform awe._raise('AWE-REQUEST-NOT-FOUND', format('request %s not found', timeline.request_id));
    end if;
    return query
    select e.seq, e.event_id, e.type::text, e.actor::text, e.stage_index, e.data ->> 'stage', e.task_id, e.status::text,
           e.data::jsonb, e.created_at
      from awe.event e
     where e.tenant_id = t and e.request_id = timeline.request_id
     order by e.seq;
end $$;
