-- 1,000,000 open tasks over 10,000 principals (250,000 requests × 4 tasks),
-- written directly: the inbox query only reads these rows.
set awe.tenant = 'bench';
do $$ begin
  if (select count(*) from awe.task where tenant_id = 'bench' and assignee like 'p%' and status = 'open') < 1000000 then
    insert into awe.request (tenant_id, request_id, policy_key, policy_version, artifact_type, artifact_id, context,
                             requester, status, revision, stage_status, created_by, created_at, updated_at)
    select 'bench', gen_random_uuid(), 'bench.two_stage', 1, 'doc', 'seed-' || g, '{"amount": 5000}', 'zed',
           'in_review', 1, array['active', 'waiting'], 'seed', now() - g * interval '1 second', now()
      from generate_series(1, 250000) g;
    insert into awe.task (tenant_id, task_id, request_id, stage_index, revision, assignee, kind, required, status,
                          due_at, created_at, updated_at)
    select 'bench', gen_random_uuid(), r.request_id, 0, 1, 'p' || (1 + (abs(hashtext(r.request_id::text || k)) % 10000)),
           'approver', false, 'open', now() + interval '8 hours', r.created_at, r.created_at
      from awe.request r, generate_series(1, 4) k
     where r.tenant_id = 'bench' and r.artifact_id like 'seed-%';
    analyze awe.task; analyze awe.request;
  end if;
end $$;
