-- The end of the demo: the request's timeline and its hash-chain check.
\set ON_ERROR_STOP 1
\pset footer off
set awe.tenant = 'expenses';
select seq, to_char(created_at, 'HH24:MI:SS.MS') as at, type, actor, coalesce(stage, '') as stage,
       coalesce(data ->> 'assignee', data ->> 'outcome', data ->> 'decision', '') as detail, status
  from awe.timeline(:'request_id');
select awe.verify_timeline(:'request_id') as chain_check;
