-- Tenants and how a session's tenant is decided.
create table awe.tenant (
    tenant_id  text collate "C" primary key check (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    name       text,
    created_at timestamptz not null default now()
);
comment on table awe.tenant is 'One calling module (registry, pbms, expenses). Every row of awe belongs to one.';

-- In-database callers get their tenant from their login role. A session
-- setting (awe.tenant) may only choose among the tenants its role is mapped
-- to, so no setting alone ever reaches another tenant's rows.
create table awe.tenant_role (
    role_name  name not null,
    tenant_id  text collate "C" not null references awe.tenant on delete cascade,
    primary key (role_name, tenant_id)
);
comment on table awe.tenant_role is 'Database role → tenant mapping for in-database callers.';

-- The tenant of this session (src/identity.rs):
--  1. PostgREST (session_user = awe.authenticator_role): the tenant claim of
--     the JWT, which PostgREST verified before setting request.jwt.claims;
--  2. a superuser: whatever awe.tenant says (superusers bypass RLS anyway);
--  3. anyone else: the tenant their session_user is mapped to (awe.tenant
--     picks one when several are mapped).
create function awe.current_tenant() returns text
    language c stable as 'MODULE_PATHNAME', 'awe_current_tenant';

-- Who is acting: the JWT's actor claim through PostgREST (sub by default);
-- for in-database callers, awe.actor if the application sets it, else the
-- login role. In-database callers are trusted within their own tenant.
create function awe.current_actor() returns text
    language c stable as 'MODULE_PATHNAME', 'awe_current_actor';

-- The clock awe uses. awe.clock_offset (superuser-only) shifts it so tests can
-- run timers without waiting; the worker and the tests share this one path.
create function awe.now() returns timestamptz
    language sql stable
as $$ select now() + coalesce(nullif(current_setting('awe.clock_offset', true), ''), '0')::interval $$;

create function awe.create_tenant(tenant_id text, name text default null) returns text
    language sql volatile
as $$ insert into awe.tenant (tenant_id, name) values ($1, $2)
      on conflict on constraint tenant_pkey do update set name = coalesce(excluded.name, tenant.name)
      returning tenant_id $$;

create function awe.map_role_to_tenant(role_name name, tenant_id text) returns void
    language sql volatile
as $$ insert into awe.tenant_role values ($1, $2) on conflict do nothing $$;
