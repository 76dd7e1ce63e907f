-- awe_api: the REST surface PostgREST exposes. Thin wrappers over the awe
-- SQL API: identity (tenant, actor) comes from the verified JWT through
-- awe.current_tenant()/current_actor(), never from arguments; each wrapper
-- checks the caller's role (and, for an existing request, what that role
-- may do to it: docs/rest.md), then calls awe's function.
--
-- Arguments arrive as JSON; ids, times and numbers are taken as text and
-- read here, so a malformed one is an AWE-BAD-INPUT naming the argument
-- rather than a raw cast error.

create function awe._arg_uuid(value text, name text) returns uuid
    language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    if value !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then
        perform awe._raise('AWE-BAD-INPUT', format('%s must be a uuid, not %s', name, left(value, 80)));
    end if;
    return value::uuid;
end $$;

create function awe._arg_int(value text, name text) returns int
    language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    if value !~ '^\s*-?[0-9]{1,9}\s*$' then
        perform awe._raise('AWE-BAD-INPUT', format('%s must be a whole number, not %s', name, left(value, 80)));
    end if;
    return value::int;
end $$;

create function awe._arg_bigint(value text, name text) returns bigint
    language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    if value !~ '^\s*-?[0-9]{1,18}\s*$' then
        perform awe._raise('AWE-BAD-INPUT', format('%s must be a whole number, not %s', name, left(value, 80)));
    end if;
    return value::bigint;
end $$;

create function awe._arg_timestamptz(value text, name text) returns timestamptz
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    return value::timestamptz;
exception when others then
    perform awe._raise('AWE-BAD-INPUT', format('%s must be a timestamp like 2026-12-01T09:00:00Z, not %s', name, left(value, 80)));
end $$;

create function awe._arg_interval(value text, name text) returns interval
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    return value::interval;
exception when others then
    perform awe._raise('AWE-BAD-INPUT', format('%s must be an interval like ''24 hours'', not %s', name, left(value, 80)));
end $$;

create function awe._arg_boolean(value text, name text) returns boolean
    language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if value is null then return null; end if;
    if lower(value) not in ('true', 'false') then
        perform awe._raise('AWE-BAD-INPUT', format('%s must be true or false, not %s', name, left(value, 80)));
    end if;
    return value::boolean;
end $$;

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

create function awe_api.decide(task_id text, decision text, comment text default null, attachments jsonb default null,
                               data jsonb default null)
    returns jsonb language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return awe.decide(awe._arg_uuid(task_id, 'task_id'), decision, comment, attachments, data);
end $$;

create function awe_api.resubmit(request_id text, context jsonb, comment text default null) returns jsonb
    language plpgsql volatile as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin');
    perform awe._require_request_access(id, 'resubmit');
    return awe.resubmit(id, context, comment);
end $$;

create function awe_api.withdraw(request_id text, reason text default null) returns jsonb
    language plpgsql volatile as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin');
    perform awe._require_request_access(id, 'withdraw');
    return awe.withdraw(id, reason);
end $$;

create function awe_api.cancel(request_id text, reason text default null) returns jsonb
    language plpgsql volatile as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_admin');
    perform awe._require_request_access(id, 'cancel');
    return awe.cancel(id, reason);
end $$;

create function awe_api.claim(task_id text) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return awe.claim(awe._arg_uuid(task_id, 'task_id'));
end $$;

create function awe_api.release(task_id text) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return awe.release(awe._arg_uuid(task_id, 'task_id'));
end $$;

create function awe_api.comment(request_id text, body text, task_id text default null) returns jsonb
    language plpgsql volatile as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin');
    perform awe._require_request_access(id, 'comment');
    return awe.comment(id, body, awe._arg_uuid(task_id, 'task_id'));
end $$;

create function awe_api.reassign(task_id text, assignee text, reason text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.reassign(awe._arg_uuid(task_id, 'task_id'), assignee, reason);
end $$;

create function awe_api.get_request(request_id text) returns jsonb
    language plpgsql stable as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin', 'awe_viewer');
    perform awe._require_request_access(id, 'read');
    return awe.get_request(id);
end $$;

create function awe_api.timeline(request_id text)
    returns table (seq int, event_id uuid, type text, actor text, stage_index int, stage text, task_id uuid,
                   status text, data jsonb, created_at timestamptz)
    language plpgsql stable as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin', 'awe_viewer');
    perform awe._require_request_access(id, 'read');
    return query select * from awe.timeline(id);
end $$;

create function awe_api.verify_timeline(request_id text) returns jsonb
    language plpgsql stable as $$
declare id uuid := awe._arg_uuid(request_id, 'request_id');
begin
    perform awe._require_role('awe_caller', 'awe_approver', 'awe_admin', 'awe_viewer');
    perform awe._require_request_access(id, 'read');
    return awe.verify_timeline(id);
end $$;

-- The person's own inbox (never another principal's).
create type awe_api.inbox_item as (
    task_id uuid, request_id uuid, policy_key text, policy_version int, artifact_type text, artifact_id text,
    stage_index int, stage text, kind text, required boolean, status text, assignee text, delegated_from text,
    due_at timestamptz, claimed_by text, created_at timestamptz, request_status text, requester text,
    context jsonb, available_actions jsonb, summary jsonb);

create function awe_api.inbox(status text default 'open', artifact_type text default null, policy_key text default null,
                              after_created_at text default null, after_task_id text default null,
                              page_size text default '50', request_id text default null)
    returns setof awe_api.inbox_item language plpgsql stable as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return query select i.task_id, i.request_id, i.policy_key, i.policy_version, i.artifact_type, i.artifact_id,
                        i.stage_index, i.stage, i.kind, i.required, i.status, i.assignee, i.delegated_from, i.due_at,
                        i.claimed_by, i.created_at, i.request_status, i.requester, i.context, i.available_actions, i.summary
                   from awe.inbox(awe.current_actor(), status, artifact_type, policy_key,
                                  awe._arg_timestamptz(after_created_at, 'after_created_at'),
                                  awe._arg_uuid(after_task_id, 'after_task_id'), awe._arg_int(page_size, 'page_size'),
                                  awe._arg_uuid(request_id, 'request_id')) i;
end $$;

-- Delegations: a person manages their own windows; an admin anyone's.
create function awe_api.set_delegation(delegate_id text, starts_at text, ends_at text,
                                       reason text default null, principal_id text default null) returns uuid
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    if principal_id is not null and principal_id <> awe.current_actor() then
        perform awe._require_role('awe_admin');
    end if;
    return awe.set_delegation(coalesce(principal_id, awe.current_actor()), delegate_id,
                              awe._arg_timestamptz(starts_at, 'starts_at'), awe._arg_timestamptz(ends_at, 'ends_at'), reason);
end $$;

create function awe_api.revoke_delegation(delegation_id text) returns void
    language plpgsql volatile as $$
declare id uuid := awe._arg_uuid(delegation_id, 'delegation_id');
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    if not pg_catalog.pg_has_role(current_user, 'awe_admin', 'MEMBER')
       and awe._delegation_principal(id) is distinct from awe.current_actor() then
        perform awe._raise('AWE-NOT-FOUND', format('no delegation %s of yours', id));
    end if;
    perform awe.revoke_delegation(id);
end $$;

-- Policies (authors are admins) ----------------------------------------------
create function awe_api.create_policy(definition jsonb) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.create_policy(definition); end $$;
create function awe_api.create_policy_version(definition jsonb) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.create_policy_version(definition); end $$;
create function awe_api.update_policy_draft(policy_key text, version text, definition jsonb) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.update_policy_draft(policy_key, awe._arg_int(version, 'version'), definition);
end $$;
create function awe_api.import_policy(document text, format text default 'yaml') returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.import_policy(document, format); end $$;
create function awe_api.activate_policy(policy_key text, version text) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.activate_policy(policy_key, awe._arg_int(version, 'version'));
end $$;
create function awe_api.deactivate_policy(policy_key text) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.deactivate_policy(policy_key); end $$;
create function awe_api.validate_policy(definition jsonb) returns jsonb
    language plpgsql stable as $$ begin perform awe._require_role('awe_admin'); return awe.validate_policy(definition); end $$;
create function awe_api.simulate(policy_key text, context jsonb, version text default null, requester text default null) returns jsonb
    language plpgsql stable as $$
begin
    perform awe._require_role('awe_caller', 'awe_admin', 'awe_viewer');
    return awe.simulate(policy_key, context, awe._arg_int(version, 'version'), requester);
end $$;
-- Policy authors try rules out; people who only decide have no use for it.
create function awe_api.eval_logic(rule jsonb, data jsonb default '{}') returns jsonb
    language plpgsql stable as $$ begin perform awe._require_role('awe_admin'); return awe.eval_logic(rule, data); end $$;

-- Directory sources (docs/directory.md) -----------------------------------------
create function awe_api.set_directory_source(kind text, base_url text, realm text, client_id text, client_secret text,
                                             options jsonb default null, alert_url text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.set_directory_source(kind, base_url, realm, client_id, client_secret, options, alert_url);
end $$;
create function awe_api.set_directory_source_secret(client_secret text) returns void
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); perform awe.set_directory_source_secret(client_secret); end $$;
create function awe_api.remove_directory_source() returns void
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); perform awe.remove_directory_source(); end $$;
create function awe_api.sync_directory(force text default 'false') returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.sync_directory(awe._arg_boolean(force, 'force'));
end $$;
create function awe_api.import_directory(document jsonb, force text default 'false') returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.import_directory(document, awe._arg_boolean(force, 'force'));
end $$;

-- Notification channels (docs/notifications.md): a person their own; an
-- admin anyone's --------------------------------------------------------------
create function awe_api.set_notification_channel(url text, kinds jsonb default null, digest text default null,
                                                 principal_id text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_caller', 'awe_admin');
    if principal_id is not null and principal_id is distinct from awe.current_actor() and not awe._is('awe_admin') then
        perform awe._raise('AWE-FORBIDDEN', 'only an admin sets another principal''s notification channel');
    end if;
    if kinds is not null and jsonb_typeof(kinds) <> 'array' then
        perform awe._raise('AWE-BAD-INPUT', 'kinds must be a JSON array of notification kinds');
    end if;
    return awe.set_notification_channel(coalesce(principal_id, awe.current_actor()), url,
                                        (select array_agg(k) from jsonb_array_elements_text(kinds) k),
                                        awe._arg_interval(digest, 'digest'));
end $$;
create function awe_api.remove_notification_channel(principal_id text default null) returns void
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_caller', 'awe_admin');
    if principal_id is not null and principal_id is distinct from awe.current_actor() and not awe._is('awe_admin') then
        perform awe._raise('AWE-FORBIDDEN', 'only an admin removes another principal''s notification channel');
    end if;
    perform awe.remove_notification_channel(coalesce(principal_id, awe.current_actor()));
end $$;

-- Model endpoints for summaries (docs/summaries.md), admins ------------------
create function awe_api.register_model_endpoint(name text, api text, base_url text, bearer_token text default null) returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.register_model_endpoint(name, api, base_url, bearer_token);
end $$;
create function awe_api.remove_model_endpoint(name text) returns void
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); perform awe.remove_model_endpoint(name); end $$;

-- Endpoints and deliveries ---------------------------------------------------
create function awe_api.register_endpoint(url text, description text default null) returns jsonb
    language plpgsql volatile as $$ begin perform awe._require_role('awe_admin'); return awe.register_endpoint(url, description); end $$;
create function awe_api.rotate_endpoint_secret(endpoint_id text, overlap text default '24 hours') returns jsonb
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.rotate_endpoint_secret(awe._arg_uuid(endpoint_id, 'endpoint_id'), awe._arg_interval(overlap, 'overlap'));
end $$;
create function awe_api.set_endpoint_enabled(endpoint_id text, enabled text, reason text default null) returns void
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    perform awe.set_endpoint_enabled(awe._arg_uuid(endpoint_id, 'endpoint_id'), awe._arg_boolean(enabled, 'enabled'), reason);
end $$;
create function awe_api.replay_deliveries(delivery_id text default null, request_id text default null,
                                          since text default null) returns int
    language plpgsql volatile as $$
begin
    perform awe._require_role('awe_admin');
    return awe.replay_deliveries(awe._arg_bigint(delivery_id, 'delivery_id'), awe._arg_uuid(request_id, 'request_id'),
                                 awe._arg_timestamptz(since, 'since'));
end $$;

-- Views (security_invoker: row-level security applies) -----------------------
create function awe._is(role text) returns boolean
    language sql stable as $$ select pg_catalog.pg_has_role(current_user, role, 'MEMBER') $$;

-- Callers, admins and viewers see the tenant's requests; a person sees the
-- requests they asked for or have (had) a task on.
create view awe_api.requests with (security_invoker = true) as
select r.* from awe.requests r
 where awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer')
    or r.requester = awe.current_actor()
    or exists (select 1 from awe.task t where t.tenant_id = awe.current_tenant() and t.request_id = r.request_id
                  and (t.assignee = awe.current_actor() or t.decided_by = awe.current_actor()));

-- A person sees their own tasks; callers, admins and viewers the tenant's.
create view awe_api.tasks with (security_invoker = true) as
select t.* from awe.tasks t
 where t.assignee = awe.current_actor() or t.decided_by = awe.current_actor()
    or awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer');

-- Policy definitions are for those who submit, administer or audit.
create view awe_api.policies with (security_invoker = true) as
select policy_key, version, status, artifact_type, title, definition, created_by, created_at, activated_at, archived_at
  from awe.policy_versions
 where awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer');

create view awe_api.deliveries with (security_invoker = true) as
select * from awe.deliveries
 where awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer');

create view awe_api.endpoints with (security_invoker = true) as
select * from awe.endpoints where awe._is('awe_admin');

-- A person's own delegations (from or to them); an admin sees all.
create view awe_api.delegations with (security_invoker = true) as
select * from awe.delegations d
 where awe._is('awe_admin') or d.principal_id = awe.current_actor() or d.delegate_id = awe.current_actor();

-- The directory, for admins and viewers.
create view awe_api.principals with (security_invoker = true) as
select principal_id, display_name, email, attributes, active, created_at, updated_at, managed_by
  from awe.principal where tenant_id = awe.current_tenant() and (awe._is('awe_admin') or awe._is('awe_viewer'));
create view awe_api.role_grants with (security_invoker = true) as
select role, principal_id from awe.role_grant
 where tenant_id = awe.current_tenant() and (awe._is('awe_admin') or awe._is('awe_viewer'));
create view awe_api.group_members with (security_invoker = true) as
select group_path, principal_id from awe.group_member
 where tenant_id = awe.current_tenant() and (awe._is('awe_admin') or awe._is('awe_viewer'));

create view awe_api.directory_sync_status with (security_invoker = true) as
select kind, base_url, realm, client_id, options, sync_interval, alert_url, running, next_sync_at, last_attempt_at,
       last_success_at, last_duration_ms, last_counts, last_stats, last_error_code, last_error, consecutive_failures,
       created_at, updated_at
  from awe.directory_sync_status where awe._is('awe_admin') or awe._is('awe_viewer');
create view awe_api.stalled_tasks with (security_invoker = true) as
select task_id, request_id, stage_index, assignee, kind, created_at, inactive_since
  from awe.stalled_tasks where awe._is('awe_admin');

create view awe_api.notification_channels with (security_invoker = true) as
select * from awe.notification_channels c where awe._is('awe_admin') or c.principal_id = awe.current_actor();
create view awe_api.model_endpoints with (security_invoker = true) as
select * from awe.model_endpoints where awe._is('awe_admin') or awe._is('awe_viewer');
create view awe_api.summary_jobs with (security_invoker = true) as
select * from awe.summary_jobs where awe._is('awe_admin');

-- For the console's operations page: the worker's heartbeat and versions
-- (nothing of other tenants), this tenant's backlog by endpoint, and its
-- audit log across requests.
create function awe._worker_health() returns table (beat_at timestamptz, since_last_beat interval, library_version text,
                                                    sql_version text, version_mismatch boolean)
    language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select w.beat_at, now() - w.beat_at, w.library_version, w.sql_version, w.version_mismatch from awe.worker_status w
$$;
create view awe_api.worker_status with (security_invoker = true) as
select h.*, (select count(*) from awe.delivery d
              where d.tenant_id = awe.current_tenant() and d.status = 'pending' and d.next_attempt_at <= now()) as due_now
  from awe._worker_health() h where awe._is('awe_admin') or awe._is('awe_viewer');
create view awe_api.delivery_backlog with (security_invoker = true) as
select d.endpoint_id, d.url, d.status, e.enabled as endpoint_enabled, e.disabled_reason,
       count(*) as deliveries, min(d.next_attempt_at) as oldest_due, max(d.attempts) as max_attempts
  from awe.delivery d
  left join awe.endpoint e on e.tenant_id = d.tenant_id and e.endpoint_id = d.endpoint_id
 where d.tenant_id = awe.current_tenant() and d.status <> 'delivered' and (awe._is('awe_admin') or awe._is('awe_viewer'))
 group by d.endpoint_id, d.url, d.status, e.enabled, e.disabled_reason;
create view awe_api.events with (security_invoker = true) as
select request_id, seq, event_id, type, actor, stage_index, data ->> 'stage' as stage, task_id, status, data, created_at
  from awe.event where tenant_id = awe.current_tenant() and (awe._is('awe_admin') or awe._is('awe_viewer'));

create view awe_api.error_codes as
select e ->> 'code' as code, e ->> 'sqlstate' as sqlstate, (e ->> 'http_status')::int as http_status, e ->> 'meaning' as meaning
  from jsonb_array_elements(awe.error_catalogue()) e;

revoke all on all functions in schema awe_api from public;
grant execute on all functions in schema awe_api to awe_viewer, awe_approver, awe_caller, awe_admin;
grant select on all tables in schema awe_api to awe_viewer, awe_approver, awe_caller, awe_admin;
revoke execute on function awe._arg_uuid(text, text), awe._arg_int(text, text), awe._arg_bigint(text, text),
    awe._arg_timestamptz(text, text), awe._arg_interval(text, text), awe._arg_boolean(text, text), awe._is(text),
    awe._worker_health() from public;
grant execute on function awe._arg_uuid(text, text), awe._arg_int(text, text), awe._arg_bigint(text, text),
    awe._arg_timestamptz(text, text), awe._arg_interval(text, text), awe._arg_boolean(text, text), awe._is(text),
    awe._worker_health()
    to awe_reader;
