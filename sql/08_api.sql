-- awe_api: the REST surface PostgREST exposes. Thin wrappers over the awe
-- SQL API: identity (tenant, actor) comes from the verified JWT through
-- awe.current_tenant()/current_actor(), never from arguments; each wrapper
-- checks the caller's role and then runs with the caller's rights, so
-- row-level security applies underneath.

-- Raises AWE-FORBIDDEN (PT403) unless the current role is a member of one of
-- `roles` (or a superuser). Rust: a catalog-cache check, no query.
create function awe._require_role(variadic roles text[]) returns void
    language c stable as 'MODULE_PATHNAME', 'awe_require_role';

-- Requests --------------------------------------------------------------
create function awe_api.submit(policy_key text, artifact_type text, artifact_id text, context jsonb default '{}',
                               requester text default null, callback_url text default null, idempotency_key text default null)
    returns jsonb language plpgsql volatile as $$
begin
    perform awe._require_role('awe_caller', 'awe_admin');
    -- REST callers send the Idempotency-Key header; PostgREST exposes it here.
    idempotency_key := coalesce(idempotency_key,
        nullif(current_setting('request.headers', true), '')::json ->> 'idempotency-key');
    return awe.submit(policy_key, artifact_type, artifact_id, context, requester, callback_url, idempotency_key);
end $$;

create function awe_api.decide(task_id uuid, decision text, comment text default null, attachments jsonb default null)
    returns jsonb language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver');
    return awe.decide(task_id, decision, comment, attachments);
end $$;

create function awe_api.resubmit(request_id uuid, context jsonb, comment text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_caller');
    return awe.resubmit(request_id, context, comment);
end $$;

create function awe_api.withdraw(request_id uuid, reason text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_caller');
    return awe.withdraw(request_id, reason);
end $$;

create function awe_api.cancel(request_id uuid, reason text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_caller', 'awe_admin');
    return awe.cancel(request_id, reason);
end $$;

create function awe_api.claim(task_id uuid) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver');
    return awe.claim(task_id);
end $$;

create function awe_api.release(task_id uuid) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver');
    return awe.release(task_id);
end $$;

create function awe_api.comment(request_id uuid, body text, task_id uuid default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin');
    perform awe._require_request_visible(request_id);
    return awe.comment(request_id, body, task_id);
end $$;

create function awe_api.reassign(task_id uuid, assignee text, reason text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.reassign(task_id, assignee, reason);
end $$;

-- Approvers see only requests they have (or had) a task on.
create function awe._require_request_visible(request_id uuid) returns void
    language plpgsql stable as $$
begin
    if pg_catalog.pg_has_role(current_user, 'awe_approver', 'MEMBER')
       and not pg_catalog.pg_has_role(current_user, 'awe_caller', 'MEMBER')
       and not pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER')
       and not exists (select 1 from awe.task t where t.tenant_id = awe.current_tenant()
                          and t.request_id = _require_request_visible.request_id
                          and (t.assignee = awe.current_actor() or t.decided_by = awe.current_actor())) then
        perform awe._raise('AWE-REQUEST-NOT-FOUND', format('request %s not found', request_id));
    end if;
end $$;

create function awe_api.get_request(request_id uuid) returns jsonb
    language plpgsql stable as $$
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin', 'awe_viewer');
    perform awe._require_request_visible(request_id);
    return awe.get_request(request_id);
end $$;

create function awe_api.timeline(request_id uuid)
    returns table (seq int, event_id uuid, type text, actor text, stage_index int, stage text, task_id uuid,
                   status text, data jsonb, created_at timestamptz)
    language plpgsql stable as $$
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin', 'awe_viewer');
    perform awe._require_request_visible(timeline.request_id);
    return query select * from awe.timeline(timeline.request_id);
end $$;

create function awe_api.verify_timeline(request_id uuid) returns jsonb
    language plpgsql stable as $$
begin
    perform awe._require_role('awe_caller', 'awe_admin', 'awe_viewer');
    return awe.verify_timeline(request_id);
end $$;

-- The approver's own inbox (never another principal's). available_actions
-- is a JSON array here: postrust decodes RPC result columns by type and
-- returns text[] as null, while jsonb reads the same on both servers.
create type awe_api.inbox_item as (
    task_id uuid, request_id uuid, policy_key text, policy_version int, artifact_type text, artifact_id text,
    stage_index int, stage text, kind text, required boolean, status text, assignee text, delegated_from text,
    due_at timestamptz, claimed_by text, created_at timestamptz, request_status text, requester text,
    context jsonb, available_actions jsonb);

create function awe_api.inbox(status text default 'open', artifact_type text default null, policy_key text default null,
                              after_created_at timestamptz default null, after_task_id uuid default null,
                              page_size int default 50)
    returns setof awe_api.inbox_item language plpgsql stable as $$
begin
    perform awe._require_role('awe_approver');
    return query select i.task_id, i.request_id, i.policy_key, i.policy_version, i.artifact_type, i.artifact_id,
                        i.stage_index, i.stage, i.kind, i.required, i.status, i.assignee, i.delegated_from, i.due_at,
                        i.claimed_by, i.created_at, i.request_status, i.requester, i.context, to_jsonb(i.available_actions)
                   from awe.inbox(awe.current_actor(), status, artifact_type, policy_key, after_created_at,
                                  after_task_id, page_size) i;
end $$;

-- Delegations: an approver manages their own windows; an admin anyone's.
create function awe_api.set_delegation(delegate_id text, starts_at timestamptz, ends_at timestamptz,
                                       reason text default null, principal_id text default null) returns uuid
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    if principal_id is not null and principal_id <> awe.current_actor() then
        perform awe._require_role('awe_admin');
    end if;
    return awe.set_delegation(coalesce(principal_id, awe.current_actor()), delegate_id, starts_at, ends_at, reason);
end $$;

create function awe_api.revoke_delegation(delegation_id uuid) returns void
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    if not pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER') and not exists (
        select 1 from awe.delegation d where d.tenant_id = awe.current_tenant()
           and d.delegation_id = revoke_delegation.delegation_id and d.principal_id = awe.current_actor()) then
        perform awe._raise('AWE-NOT-FOUND', format('no delegation %s of yours', delegation_id));
    end if;
    perform awe.revoke_delegation(delegation_id);
end $$;

-- Policies ------------------------------------------------------------------
create function awe_api.create_policy(definition jsonb) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.create_policy(definition); end $$;
create function awe_api.create_policy_version(definition jsonb) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.create_policy_version(definition); end $$;
create function awe_api.update_policy_draft(policy_key text, version int, definition jsonb) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.update_policy_draft(policy_key, version, definition); end $$;
create function awe_api.import_policy(document text, format text default 'yaml') returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.import_policy(document, format); end $$;
create function awe_api.activate_policy(policy_key text, version int) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.activate_policy(policy_key, version); end $$;
create function awe_api.deactivate_policy(policy_key text) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.deactivate_policy(policy_key); end $$;
create function awe_api.validate_policy(definition jsonb) returns jsonb
    language sql stable as $$ select awe.validate_policy(definition) $$;
create function awe_api.simulate(policy_key text, context jsonb, version int default null, requester text default null) returns jsonb
    language plpgsql stable as $$
begin
    perform awe._require_role('awe_caller', 'awe_admin', 'awe_viewer');
    return awe.simulate(policy_key, context, version, requester);
end $$;
create function awe_api.eval_logic(rule jsonb, data jsonb default '{}') returns jsonb
    language sql immutable as $$ select awe.eval_logic(rule, data) $$;

-- Endpoints and deliveries ---------------------------------------------------
create function awe_api.register_endpoint(url text, description text default null) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.register_endpoint(url, description); end $$;
create function awe_api.rotate_endpoint_secret(endpoint_id uuid, overlap interval default '24 hours') returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.rotate_endpoint_secret(endpoint_id, overlap); end $$;
create function awe_api.set_endpoint_enabled(endpoint_id uuid, enabled boolean, reason text default null) returns void
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); perform awe.set_endpoint_enabled(endpoint_id, enabled, reason); end $$;
create function awe_api.replay_deliveries(delivery_id bigint default null, request_id uuid default null,
                                          since timestamptz default null) returns int
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.replay_deliveries(delivery_id, request_id, since);
end $$;

-- Views (security_invoker: row-level security applies) -----------------------
create view awe_api.requests with (security_invoker = true) as
select r.* from awe.requests r
 where pg_catalog.pg_has_role(current_user, 'awe_caller', 'MEMBER') or pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER')
    or pg_catalog.pg_has_role(current_user, 'awe_viewer', 'MEMBER');

-- Approvers see their own tasks; callers, admins and viewers the tenant's.
create view awe_api.tasks with (security_invoker = true) as
select t.* from awe.tasks t
 where t.assignee = awe.current_actor()
    or pg_catalog.pg_has_role(current_user, 'awe_caller', 'MEMBER') or pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER')
    or pg_catalog.pg_has_role(current_user, 'awe_viewer', 'MEMBER');

create view awe_api.policies with (security_invoker = true) as
select policy_key, version, status, artifact_type, title, definition, created_by, created_at, activated_at, archived_at
  from awe.policy_versions;

create view awe_api.deliveries with (security_invoker = true) as
select * from awe.deliveries
 where pg_catalog.pg_has_role(current_user, 'awe_caller', 'MEMBER') or pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER')
    or pg_catalog.pg_has_role(current_user, 'awe_viewer', 'MEMBER');

create view awe_api.endpoints with (security_invoker = true) as
select * from awe.endpoints where pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER');

create view awe_api.error_codes as
select e ->> 'code' as code, e ->> 'sqlstate' as sqlstate, (e ->> 'http_status')::int as http_status, e ->> 'meaning' as meaning
  from jsonb_array_elements(awe.error_catalogue()) e;

revoke all on all functions in schema awe_api from public;
grant execute on all functions in schema awe_api to awe_viewer, awe_approver, awe_caller, awe_admin;
grant select on all tables in schema awe_api to awe_viewer, awe_approver, awe_caller, awe_admin;
