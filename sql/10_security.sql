-- Roles, grants and row-level security.
--
-- Only the engine writes its tables. No role a caller holds has INSERT,
-- UPDATE, DELETE or TRUNCATE on any of them: applications, approvers and
-- admins change state only through awe's functions, which run with the
-- owner's rights (SECURITY DEFINER, with a fixed search_path), apply the
-- engine's rules, append the events, and name their tenant in every
-- statement. Callers may read their tenant's rows; row-level security on
-- every table with tenant data keeps tenants apart for reads, through
-- views, REST and SQL alike. Only the worker (superuser) crosses tenants,
-- and only it reads webhook secrets.
do $$
declare r text;
begin
    foreach r in array array['awe_reader', 'awe_user', 'awe_anon', 'awe_viewer', 'awe_approver', 'awe_caller', 'awe_admin'] loop
        if not exists (select 1 from pg_roles where rolname = r) then
            execute format('create role %I nologin', r);
        end if;
    end loop;
end $$;
comment on role awe_reader is 'awe: may read its tenant''s rows and call awe''s reading functions';
comment on role awe_user is 'awe: may call every awe function for its tenant (in-database callers and the API roles)';
grant awe_reader to awe_user;
grant awe_reader to awe_viewer;
grant awe_user to awe_approver, awe_caller, awe_admin;

grant usage on schema awe to awe_reader;
grant usage on schema awe_api to awe_anon, awe_viewer, awe_approver, awe_caller, awe_admin;

-- Reading: every table but the secrets' values, the role mapping and the
-- heartbeat, under row-level security.
grant select on all tables in schema awe to awe_reader;
revoke select on awe.endpoint_secret, awe.directory_source_secret, awe.model_endpoint_secret, awe.worker_heartbeat, awe.tenant_role from awe_reader;
grant select (tenant_id, endpoint_id, secret_id, created_at, expires_at) on awe.endpoint_secret to awe_reader;
-- Writing: nobody (an earlier grant, in an older install, is taken back too).
revoke insert, update, delete, truncate on all tables in schema awe from public, awe_reader, awe_user;

-- Functions: nobody but the roles below may call them.
revoke execute on all functions in schema awe from public;
-- Identity and helpers any statement may need (row-level security policies
-- call awe.current_tenant()).
grant execute on function awe.current_tenant(), awe.current_actor(), awe.now(), awe._to_us(timestamptz),
    awe._raise(text, text, jsonb, text), awe.error_catalogue(), awe._require_role(text[])
    to public;
-- Reading.
grant execute on function awe.get_request(uuid), awe.timeline(uuid), awe.verify_timeline(uuid),
    awe.inbox(text, text, text, text, timestamptz, uuid, int, uuid),
    awe._task_actions(uuid, int, int, text, text, boolean, text, text, uuid, text, int, text, jsonb, text, int, text, text),
    awe._require_request_access(uuid, text), awe._delegation_principal(uuid), awe.simulate(text, jsonb, int, text), awe.get_policy(text, int),
    awe.validate_policy(jsonb), awe.policy_to_json(text, text), awe.eval_logic(jsonb, jsonb)
    to awe_reader;
-- Operating: every function callers use, and none of the operational ones.
do $$
declare f regprocedure;
begin
    for f in select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = 'awe' and p.proname !~ '^_'
                and p.proname not in ('create_tenant', 'map_role_to_tenant', 'unmap_role_from_tenant', 'run_due_timers',
                                      'purge_expired') loop
        execute format('grant execute on function %s to awe_user', f);
    end loop;
end $$;
grant execute on function awe._wake_worker() to awe_user;

-- The DBA views are for superusers (the DBA and the worker).
revoke select on awe.delivery_backlog, awe.dead_letters, awe.worker_status from awe_reader;

-- Row-level security on every table that holds a tenant_id, read from the
-- catalog so that a table added later is covered (a test checks that every
-- such table has it enabled and forced, with this policy). Forced: even
-- the tables' owner reads through it unless it is a superuser. No subquery
-- in the policy (a distributed planner refuses one): awe.current_tenant()
-- keeps its answer for the rest of the statement, so calling it per row
-- costs a comparison.
do $$
declare t regclass;
begin
    for t in select c.oid::regclass from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
               join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
              where n.nspname = 'awe' and c.relkind in ('r', 'p') loop
        execute format('alter table %s enable row level security', t);
        execute format('alter table %s force row level security', t);
        execute format('create policy tenant_isolation on %s using (tenant_id = awe.current_tenant())', t);
    end loop;
end $$;
