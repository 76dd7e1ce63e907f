-- Tenants and how a session's tenant is decided.
create table awe.tenant (
    tenant_id  text collate "C" primary key check (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    name       text,
    created_at timestamptz not null default now()
);
comment on table awe.tenant is 'One calling module (registry, pbms, expenses). Every row of awe belongs to one.';

-- In-database callers get their tenant from their login role. A session
-- setting (awe.tenant) may only choose among the tenants its role is mapped
-- to, so no setting alone ever reaches another tenant's rows. The mapping
-- holds the role itself (its OID), not its name: dropping the role ends the
-- mapping, and a role created later under the same name is not mapped.
-- (regrole dumps as the role's name and restores to that role's OID: roles
-- are restored before databases.)
create table awe.tenant_role (
    role       regrole not null,
    tenant_id  text collate "C" not null references awe.tenant on delete cascade,
    primary key (role, tenant_id)
);
comment on table awe.tenant_role is 'Database role → tenant mapping for in-database callers.';

-- The tenant of this session (src/session.rs):
--  1. PostgREST (session_user = awe.authenticator_role): the tenant claim of
--     the JWT, which PostgREST verified before setting request.jwt.claims;
--  2. a superuser: whatever awe.tenant says (superusers bypass RLS anyway);
--  3. anyone else: the tenant their session_user is mapped to (awe.tenant
--     picks one when several are mapped).
-- SECURITY DEFINER: it reads awe.tenant_role, which no caller may read.
create function awe.current_tenant() returns text
    language c stable security definer as 'MODULE_PATHNAME', 'awe_current_tenant';

-- Who is acting: the JWT's actor claim through PostgREST (sub by default);
-- for in-database callers, awe.actor if the application sets it, else the
-- login role. In-database callers are trusted within their own tenant.
create function awe.current_actor() returns text
    language c stable as 'MODULE_PATHNAME', 'awe_current_actor';

-- Raises AWE-FORBIDDEN (PT403) unless the current role is a member of one of
-- `roles` (or a superuser). Rust: a catalog-cache check, no query. Every
-- awe_api wrapper calls it first.
create function awe._require_role(variadic roles text[]) returns void
    language c stable as 'MODULE_PATHNAME', 'awe_require_role';

-- The clock awe uses. awe.clock_offset (superuser-only) shifts it so tests can
-- run timers without waiting; the worker and the tests share this one path.
create function awe.now() returns timestamptz
    language sql stable
as $$ select now() + coalesce(nullif(current_setting('awe.clock_offset', true), ''), '0')::interval $$;

create function awe.create_tenant(tenant_id text, name text default null) returns text
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    if tenant_id is null or tenant_id !~ '^[a-z0-9][a-z0-9._-]{0,62}$' then
        perform awe._raise('AWE-BAD-INPUT', format('tenant id %L must be 1-63 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit', tenant_id));
    end if;
    insert into awe.tenant as t (tenant_id, name) values (create_tenant.tenant_id, create_tenant.name)
    on conflict on constraint tenant_pkey do update set name = coalesce(excluded.name, t.name);
    perform awe._changed('awe.tenant');
    return tenant_id;
end $$;

-- Maps an existing role to a tenant: its sessions (and those of its
-- members) act for that tenant.
create function awe.map_role_to_tenant(role_name name, tenant_id text) returns void
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare r oid;
begin
    select oid into r from pg_catalog.pg_roles where rolname = role_name;
    if r is null then
        perform awe._raise('AWE-NOT-FOUND', format('there is no role %I', role_name), null,
                           'create the role first; a mapping belongs to the role itself, not its name');
    end if;
    if not exists (select 1 from awe.tenant t where t.tenant_id = map_role_to_tenant.tenant_id) then
        perform awe._raise('AWE-TENANT-UNKNOWN', format('tenant %s is not registered', tenant_id), null,
                           'create it with awe.create_tenant(id)');
    end if;
    insert into awe.tenant_role (role, tenant_id) values (r::regrole, map_role_to_tenant.tenant_id) on conflict do nothing;
end $$;

create function awe.unmap_role_from_tenant(role_name name, tenant_id text) returns void
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    delete from awe.tenant_role m using pg_catalog.pg_roles r
     where r.oid = m.role and r.rolname = role_name and m.tenant_id = unmap_role_from_tenant.tenant_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('role %I is not mapped to tenant %s', role_name, tenant_id));
    end if;
end $$;

-- The current tenant's own mappings (no tenant sees another's roles).
create view awe.tenant_roles as
select m.role::text as role_name, m.tenant_id
  from awe.tenant_role m
 where m.tenant_id = awe.current_tenant();
