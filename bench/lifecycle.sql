-- One full lifecycle by direct SQL: submit, then two decisions by two approvers.
select awe.submit('bench.lifecycle', 'doc', 'l-' || :client_id || '-' || (random() * 1e12)::bigint, '{"amount": 5}', 'zed') -> 'tasks' -> 0 ->> 'task_id' as t1 \gset
select set_config('awe.actor', 'ann', false), awe.decide(:t1::uuid, 'approve') -> 'tasks' -> 1 ->> 'task_id' as t2 \gset
select set_config('awe.actor', 'dee', false), awe.decide(:t2::uuid, 'approve') ->> 'status';
