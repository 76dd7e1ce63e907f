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

-- The tenant of this session:
--  1. PostgREST (session_user = the authenticator role): the tenant claim of
--     the JWT, which PostgREST verified before setting request.jwt.claims;
--  2. a superuser: whatever awe.tenant says (superusers bypass RLS anyway);
--  3. anyone else: the tenant their session_user is mapped to (awe.tenant
--     picks one when several are mapped).
-- (No SET search_path clause: it would make every call switch GUCs; every
-- name inside is schema-qualified instead.)
create function awe.current_tenant() returns text
    language plpgsql stable
as $$
declare
    wanted text := nullif(current_setting('awe.tenant', true), '');
    claims jsonb;
    found  text[];
begin
    if session_user::text = coalesce(nullif(current_setting('awe.authenticator_role', true), ''), 'authenticator') then
        claims := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
        found[1] := claims #>> string_to_array(coalesce(nullif(current_setting('awe.tenant_claim', true), ''), 'tenant'), '.');
        if found[1] is null then
            perform awe._raise('AWE-TENANT-UNKNOWN', 'the token carries no tenant claim');
        end if;
        return found[1];
    end if;
    if (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = session_user) then
        if wanted is null then
            perform awe._raise('AWE-TENANT-UNKNOWN', 'no tenant chosen: run  set awe.tenant = ''<tenant id>''');
        end if;
        return wanted;
    end if;
    select array_agg(m.tenant_id order by m.tenant_id) into found
      from awe.tenant_role m
     where pg_catalog.pg_has_role(session_user, m.role_name, 'MEMBER')
       and (wanted is null or m.tenant_id = wanted);
    if found is null then
        perform awe._raise('AWE-TENANT-UNKNOWN', format('role %s is not mapped to %s', session_user,
            coalesce('tenant ' || wanted, 'any tenant')));
    elsif cardinality(found) > 1 then
        perform awe._raise('AWE-TENANT-UNKNOWN', format('role %s is mapped to several tenants (%s): set awe.tenant to one of them',
            session_user, array_to_string(found, ', ')));
    end if;
    return found[1];
end $$;

-- Who is acting: the JWT's actor claim through PostgREST (sub by default);
-- for in-database callers, awe.actor if the application sets it, else the
-- login role. In-database callers are trusted within their own tenant.
create function awe.current_actor() returns text
    language plpgsql stable
as $$
declare
    claims jsonb;
    actor  text;
begin
    if session_user::text = coalesce(nullif(current_setting('awe.authenticator_role', true), ''), 'authenticator') then
        claims := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
        actor := claims #>> string_to_array(coalesce(nullif(current_setting('awe.actor_claim', true), ''), 'sub'), '.');
        if actor is null or actor = '' then
            perform awe._raise('AWE-UNAUTHENTICATED', 'the token names no principal');
        end if;
        return actor;
    end if;
    return coalesce(nullif(current_setting('awe.actor', true), ''), session_user::text);
end $$;

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
