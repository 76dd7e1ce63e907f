-- The inbox: a principal's tasks with everything a UI shows, including the
-- actions the server allows, typed so that a client renders them without
-- knowing the workflow ({action, label, severity, requires_comment, form}),
-- and the request's summary. Keyset
-- pagination: pass the last row's (created_at, task_id) to get the next page.
-- Tasks of principals whose active delegation chain reaches the viewer are
-- included.
-- (A named row type keeps the columns from clashing with the parameters.)
create type awe.inbox_item as (
    task_id uuid, request_id uuid, policy_key text, policy_version int, artifact_type text, artifact_id text,
    stage_index int, stage text, kind text, required boolean, status text, assignee text, delegated_from text,
    due_at timestamptz, claimed_by text, created_at timestamptz, request_status text, requester text,
    context jsonb, available_actions jsonb, summary jsonb);

create function awe.inbox(principal text default null, status text default 'open', artifact_type text default null,
                          policy_key text default null, after_created_at timestamptz default null,
                          after_task_id uuid default null, page_size int default 50, request_id uuid default null)
    returns setof awe.inbox_item
    language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    tn      text := awe.current_tenant();
    viewer  text := coalesce(principal, awe.current_actor());
    clock   timestamptz := awe.now();
    whom    text[];
    found_task record;
begin
    if page_size is null or page_size not between 1 and 500 then
        perform awe._raise('AWE-BAD-INPUT', 'page_size must be between 1 and 500');
    end if;
    if (after_created_at is null) <> (after_task_id is null) then
        perform awe._raise('AWE-BAD-INPUT', 'pass both after_created_at and after_task_id, or neither');
    end if;
    -- The viewer, plus everyone whose active delegation chain reaches the
    -- viewer (any hop may act, as awe.decide allows), at most 5 hops.
    with recursive chain(principal_id, depth) as (
        select viewer collate "C", 0
        union
        select d.principal_id, c.depth + 1
          from chain c
          join awe.delegation d on d.tenant_id = tn and d.delegate_id = c.principal_id
         where d.revoked_at is null and clock >= d.starts_at and clock < d.ends_at and c.depth < 5)
    select array_agg(distinct principal_id) into whom from chain;
    -- Page first (an ordered, limited index scan per principal), then join
    -- only the rows returned: the cost stays ~page_size whatever the backlog.
    -- What the viewer may do with each task is the engine's own answer, from
    -- the same code awe.decide checks with.
    -- Each row's actions are computed here, not in the statement: on Citus
    -- a function in a statement over a tenant's tables runs on their node.
    for found_task in
    select t.task_id, t.request_id, r.policy_key::text as policy_key, r.policy_version, r.artifact_type::text as artifact_type,
           r.artifact_id::text as artifact_id, t.stage_index, pv.definition #>> array['stages', t.stage_index::text, 'name'] as stage,
           t.kind::text as kind, t.required, t.status::text as status, t.assignee::text as assignee,
           t.delegated_from::text as delegated_from, t.due_at, t.claimed_by::text as claimed_by, t.created_at,
           r.status::text as request_status, r.requester::text as requester, r.context, r.summary,
           t.revision, r.revision as request_revision, r.created_by
      from (select k.*
              from unnest(whom) as w(principal_id)
              cross join lateral (
                    select * from awe.task x
                     where x.tenant_id = tn and x.assignee = w.principal_id
                       and (inbox.status is null or x.status = inbox.status)
                       and (after_created_at is null or (x.created_at, x.task_id) > (after_created_at, after_task_id))
                       and (inbox.request_id is null or x.request_id = inbox.request_id)
                       and (inbox.artifact_type is null and inbox.policy_key is null or exists (
                            select 1 from awe.request f where f.tenant_id = x.tenant_id and f.request_id = x.request_id
                               and (inbox.artifact_type is null or f.artifact_type = inbox.artifact_type)
                               and (inbox.policy_key is null or f.policy_key = inbox.policy_key)))
                     order by x.created_at, x.task_id
                     limit page_size) k
             order by k.created_at, k.task_id
             limit page_size) t
      join awe.request r on r.tenant_id = t.tenant_id and r.request_id = t.request_id
      join awe.policy_version pv on pv.tenant_id = r.tenant_id and pv.policy_key = r.policy_key and pv.version = r.policy_version
     order by t.created_at, t.task_id
    loop
        return next (found_task.task_id, found_task.request_id, found_task.policy_key, found_task.policy_version,
                     found_task.artifact_type, found_task.artifact_id, found_task.stage_index, found_task.stage, found_task.kind,
                     found_task.required, found_task.status, found_task.assignee, found_task.delegated_from, found_task.due_at,
                     found_task.claimed_by, found_task.created_at, found_task.request_status, found_task.requester,
                     found_task.context,
                     awe._task_actions(found_task.task_id, found_task.stage_index, found_task.revision, found_task.assignee,
                                       found_task.kind, found_task.required, found_task.status, found_task.claimed_by,
                                       found_task.request_id, found_task.request_status, found_task.request_revision,
                                       found_task.requester, found_task.context, found_task.policy_key, found_task.policy_version,
                                       viewer, found_task.created_by),
                     found_task.summary)::awe.inbox_item;
    end loop;
end $$;

-- Requests of this tenant, for callers and dashboards.
create view awe.requests with (security_invoker = true) as
select request_id, policy_key, policy_version, artifact_type, artifact_id, status, revision, requester, callback_url,
       context, stage_status, created_by, created_at, updated_at, decided_at, expires_at, summary
  from awe.request
 where tenant_id = awe.current_tenant();

create view awe.tasks with (security_invoker = true) as
select task_id, request_id, stage_index, revision, assignee, delegated_from, kind, required, status, due_at,
       claimed_by, claimed_at, decided_by, decided_at, comment, created_at, updated_at, decision_data
  from awe.task
 where tenant_id = awe.current_tenant();
