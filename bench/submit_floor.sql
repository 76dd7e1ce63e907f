-- The write floor of a submit: the exact rows awe.submit writes for
-- bench.two_stage (one request, three tasks, five chained events), as one
-- statement of literal values with no engine at all: no policy, resolution,
-- hashing or response. Any implementation that keeps these rows pays this.
with i as materialized (select bench.uuid7() r, bench.uuid7() t1, bench.uuid7() t2, bench.uuid7() t3, now() ts),
r as (
    insert into awe.request (tenant_id, request_id, policy_key, policy_version, artifact_type, artifact_id, context,
                             requester, status, revision, stage_status, created_by, created_at, updated_at, last_seq, last_hash)
    select 'bench', i.r, 'bench.two_stage', 1, 'doc', 'floor-' || :client_id || '-' || i.r,
           '{"amount": 1200, "submitter": "zed", "note": "benchmark"}', 'zed', 'in_review', 1, '{active,waiting}',
           'postgres', i.ts, i.ts, 5, '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb' from i),
t as (
    insert into awe.task (tenant_id, task_id, request_id, stage_index, revision, assignee, kind, required, status,
                          due_at, timer_at, created_at, updated_at)
    select 'bench', x.id, i.r, 0, 1, x.who, 'approver', false, 'open', i.ts + interval '8h', i.ts + interval '8h', i.ts, i.ts
      from i, lateral (values (i.t1, 'floor-ann'), (i.t2, 'floor-bob'), (i.t3, 'floor-cyd')) x(id, who)),
e as (
    insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, stage_index, task_id, status, data,
                           created_at, prev_hash, hash)
    select 'bench', i.r, x.seq, bench.uuid7(), x.type, 'postgres', x.stage, x.task, 'pending', x.data::json, i.ts,
           case when x.seq > 1 then '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb'::bytea end,
           '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb'
      from i, lateral (values
        (1, 'request.created', null::int, null::uuid, '{"requester": "zed", "revision": 1}'),
        (2, 'stage.started', 0, null, '{"approvers": 3, "excluded": [], "revision": 1, "stage": "review", "stage_index": 0}'),
        (3, 'task.created', 0, i.t1, '{"assignee": "floor-ann", "delegated_from": null, "due_at_us": 1795370468807551, "kind": "approver", "required": false, "stage": "review", "stage_index": 0}'),
        (4, 'task.created', 0, i.t2, '{"assignee": "floor-bob", "delegated_from": null, "due_at_us": 1795370468807551, "kind": "approver", "required": false, "stage": "review", "stage_index": 0}'),
        (5, 'task.created', 0, i.t3, '{"assignee": "floor-cyd", "delegated_from": null, "due_at_us": 1795370468807551, "kind": "approver", "required": false, "stage": "review", "stage_index": 0}')
      ) x(seq, type, stage, task, data))
select r from i;
