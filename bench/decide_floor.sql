-- The write floor of a decision (first approval of an "all" stage): update
-- the task, append one chained event, advance the request's chain head, as
-- one statement with no engine. Queue as in decide.sql (bench.decide_floor_queue).
\set n :n + 1
with q as (select task_id, assignee from bench.decide_floor_queue where client = :client_id and n = :n),
k as (
    update awe.task set status = 'approved', decided_by = q.assignee, decided_at = now(), updated_at = now()
      from q where tenant_id = 'bench' and awe.task.task_id = q.task_id
    returning awe.task.request_id, awe.task.task_id, q.assignee),
r as (
    update awe.request set last_seq = last_seq + 1, updated_at = now(),
           last_hash = '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb'
      from k where tenant_id = 'bench' and awe.request.request_id = k.request_id
    returning awe.request.request_id, last_seq),
e as (
    insert into awe.event (tenant_id, request_id, seq, event_id, type, actor, stage_index, task_id, status, data,
                           created_at, prev_hash, hash)
    select 'bench', r.request_id, r.last_seq, bench.uuid7(), 'task.decided', k.assignee, 0, k.task_id, 'in_review',
           '{"assignee": "floor-ann", "decision": "approve", "revision": 1, "stage": "review", "stage_index": 0}', now(),
           '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb',
           '\x65062f63054ab77de613620e8667ae68f8bc020e58c45c4c591e5f6cc3c474bb'
      from r, k)
select 'in_review';
