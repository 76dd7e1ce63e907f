-- Roles, grants and row-level security.
--
-- Tenant isolation is row-level security on every table with tenant data:
-- a row is visible and writable only when its tenant_id is the session's
-- awe.current_tenant() (the verified JWT claim through PostgREST, the role
-- mapping in the database). The API functions run with the caller's rights,
-- so RLS guards REST and SQL alike. Only the worker (superuser) crosses
-- tenants, and only it reads webhook secrets.
do $$
declare r text;
begin
    foreach r in array array['awe_reader', 'awe_user', 'awe_anon', 'awe_viewer', 'awe_approver', 'awe_caller', 'awe_admin'] loop
        if not exists (select 1 from pg_roles where rolname = r) then
            execute format('create role %I nologin', r);
        end if;
    end loop;
end $$;
comment on role awe_reader is 'awe: may read its tenant''s rows';
comment on role awe_user is 'awe: may read and write its tenant''s rows (in-database callers and the API roles)';
grant awe_reader to awe_user;
grant awe_reader to awe_viewer;
grant awe_user to awe_approver, awe_caller, awe_admin;

grant usage on schema awe to awe_reader;
grant usage on schema awe_api to awe_anon, awe_viewer, awe_approver, awe_caller, awe_admin;

grant select on all tables in schema awe to awe_reader;
revoke select on awe.endpoint_secret, awe.worker_heartbeat from awe_reader;
grant select (tenant_id, endpoint_id, secret_id, created_at, expires_at) on awe.endpoint_secret to awe_reader;
grant insert, update on awe.principal, awe.role_grant, awe.group_member, awe.delegation, awe.policy, awe.policy_version,
    awe.request, awe.task, awe.idempotency_key, awe.endpoint, awe.delivery, awe.resolver_job to awe_user;
grant delete on awe.principal, awe.role_grant, awe.group_member to awe_user;
grant insert on awe.event, awe.endpoint_secret to awe_user;
grant update (expires_at) on awe.endpoint_secret to awe_user;

-- Cross-tenant and operational functions are for superusers (the DBA and
-- the worker) only.
revoke execute on function awe.run_due_timers(int), awe._fire_task_timer(text, uuid), awe._expire_request(text, uuid),
    awe.create_tenant(text, text), awe.map_role_to_tenant(name, text), awe.purge_expired(interval, int) from public;
revoke select on awe.delivery_backlog, awe.dead_letters, awe.worker_status from awe_reader;

do $$
declare t text;
begin
    foreach t in array array['principal', 'role_grant', 'group_member', 'delegation', 'policy', 'policy_version', 'request',
                             'task', 'event', 'idempotency_key', 'endpoint', 'endpoint_secret', 'delivery', 'resolver_job'] loop
        execute format('alter table awe.%I enable row level security', t);
        execute format('create policy tenant_isolation on awe.%I using (tenant_id = (select awe.current_tenant()))
                        with check (tenant_id = (select awe.current_tenant()))', t);
    end loop;
end $$;
alter table awe.tenant enable row level security;
create policy own_tenant on awe.tenant using (tenant_id = (select awe.current_tenant()));
-- tenant_role has no RLS: awe.current_tenant() reads it to decide the
-- tenant, and a role may see which tenants roles are mapped to.
