-- The directory: which principals hold which roles and groups, per tenant,
-- and who stands in for whom (delegation windows).
create table awe.principal (
    tenant_id    text collate "C" not null references awe.tenant on delete cascade,
    principal_id text collate "C" not null check (length(principal_id) between 1 and 256),
    display_name text,
    email        text,
    attributes   jsonb not null default '{}',
    active       boolean not null default true,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    -- 'directory': written by the tenant's directory source or an import
    -- (sql/07_directory_sync.sql), which change only such rows; null: by hand.
    managed_by   text collate "C" check (managed_by = 'directory'),
    primary key (tenant_id, principal_id)
);

create table awe.role_grant (
    tenant_id    text collate "C" not null,
    role         text collate "C" not null check (length(role) between 1 and 128),
    principal_id text collate "C" not null,
    managed_by   text collate "C" check (managed_by = 'directory'),
    primary key (tenant_id, role, principal_id),
    foreign key (tenant_id, principal_id) references awe.principal on delete cascade
);
create index role_grant_principal on awe.role_grant (tenant_id, principal_id);

-- group_path uses the C collation so a sub-group prefix search uses the index.
create table awe.group_member (
    tenant_id    text collate "C" not null,
    group_path   text collate "C" not null check (group_path ~ '^/' and length(group_path) <= 512),
    principal_id text collate "C" not null,
    managed_by   text collate "C" check (managed_by = 'directory'),
    primary key (tenant_id, group_path, principal_id),
    foreign key (tenant_id, principal_id) references awe.principal on delete cascade
);
create index group_member_principal on awe.group_member (tenant_id, principal_id);

create table awe.delegation (
    tenant_id     text collate "C" not null references awe.tenant on delete cascade,
    delegation_id uuid not null default gen_random_uuid(),
    principal_id  text collate "C" not null,
    delegate_id   text collate "C" not null,
    starts_at     timestamptz not null,
    ends_at       timestamptz not null,
    reason        text,
    created_by    text collate "C" not null,
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz,
    primary key (tenant_id, delegation_id),
    check (starts_at < ends_at),
    check (principal_id <> delegate_id)
);
create index delegation_active on awe.delegation (tenant_id, principal_id, ends_at) where revoked_at is null;
create index delegation_by_delegate on awe.delegation (tenant_id, delegate_id, ends_at) where revoked_at is null;

-- Directory functions. Each returns what it wrote and raises AWE-… errors.
-- They run with the owner's rights (callers hold no write privilege on the
-- tables) and name their tenant in every statement.
create function awe._check_principal_id(principal_id text, what text default 'principal_id') returns void
    language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if principal_id is null or length(principal_id) not between 1 and 256 then
        perform awe._raise('AWE-BAD-INPUT', format('%s must be 1-256 characters', what));
    elsif principal_id = 'system' then
        perform awe._raise('AWE-BAD-INPUT', format('%s "system" is reserved for the engine''s own actions', what));
    end if;
end $$;

-- While a tenant has a directory source, what it manages changes only
-- there: a hand edit would be undone by the next sync.
create function awe._refuse_if_managed(t text, managed_by text, what text) returns void
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
    if managed_by = 'directory' and exists (select 1 from awe.directory_source s where s.tenant_id = t) then
        perform awe._raise('AWE-DIRECTORY-MANAGED',
            format('%s comes from tenant %s''s directory source; change it there (the next sync would undo a change here)', what, t));
    end if;
end $$;

create function awe.upsert_principal(principal_id text, display_name text default null, email text default null,
                                     attributes jsonb default null, active boolean default true)
    returns jsonb language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); ts timestamptz := now(); r awe.principal; managed text; was_active boolean;
begin
    perform awe._check_principal_id(principal_id);
    -- Read first, then checked: a statement over a tenant's table calls
    -- none of awe's functions (on Citus they would run on that table's node).
    select p.managed_by, p.active into managed, was_active from awe.principal p
     where p.tenant_id = t and p.principal_id = upsert_principal.principal_id;
    perform awe._refuse_if_managed(t, managed, format('principal %s', principal_id));
    if attributes is not null and jsonb_typeof(attributes) <> 'object' then
        perform awe._raise('AWE-BAD-INPUT', 'attributes must be a JSON object');
    end if;
    insert into awe.principal as p (tenant_id, principal_id, display_name, email, attributes, active, created_at, updated_at)
    values (t, upsert_principal.principal_id, display_name, email, coalesce(attributes, '{}'), coalesce(active, true), ts, ts)
    on conflict on constraint principal_pkey do update
       set display_name = coalesce(excluded.display_name, p.display_name),
           email = coalesce(excluded.email, p.email),
           attributes = coalesce(upsert_principal.attributes, p.attributes),
           active = excluded.active,
           updated_at = excluded.updated_at
    returning * into r;
    perform awe._changed('awe.principal');
    if was_active and not r.active then
        perform awe._principals_left(t, array[r.principal_id]);
    end if;
    return to_jsonb(r) - 'tenant_id';
end $$;

create function awe.remove_principal(principal_id text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); managed text;
begin
    select p.managed_by into managed from awe.principal p where p.tenant_id = t and p.principal_id = remove_principal.principal_id;
    perform awe._refuse_if_managed(t, managed, format('principal %s', principal_id));
    delete from awe.principal p where p.tenant_id = t and p.principal_id = remove_principal.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('principal %s is not in the directory', principal_id));
    end if;
    perform awe._changed('awe.principal');
end $$;

-- Granting a role (or group) to an unknown principal creates the principal.
create function awe._ensure_principal(t text, principal_id text) returns void
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    perform awe._check_principal_id(principal_id);
    if not exists (select 1 from awe.principal p where p.tenant_id = t and p.principal_id = _ensure_principal.principal_id) then
        insert into awe.principal (tenant_id, principal_id) values (t, _ensure_principal.principal_id) on conflict do nothing;
        perform awe._changed('awe.principal');
    end if;
end $$;

create function awe.grant_role(principal_id text, role text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    if role is null or role !~ '^[A-Za-z0-9._:/-]{1,128}$' then
        perform awe._raise('AWE-BAD-INPUT', 'role must be 1-128 characters of letters, digits and . _ - : /');
    end if;
    perform awe._ensure_principal(t, principal_id);
    insert into awe.role_grant values (t, role, principal_id) on conflict do nothing;
    perform awe._changed('awe.role_grant');
end $$;

create function awe.revoke_role(principal_id text, role text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); managed text;
begin
    select g.managed_by into managed from awe.role_grant g
     where g.tenant_id = t and g.role = revoke_role.role and g.principal_id = revoke_role.principal_id;
    perform awe._refuse_if_managed(t, managed, format('role %s of %s', role, principal_id));
    delete from awe.role_grant g where g.tenant_id = t and g.role = revoke_role.role
       and g.principal_id = revoke_role.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s does not hold role %s', principal_id, role));
    end if;
    perform awe._changed('awe.role_grant');
end $$;

create function awe.add_to_group(principal_id text, group_path text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); g text := rtrim(group_path, '/');
begin
    if g is null or g !~ '^/[^/]' or length(g) > 512 then
        perform awe._raise('AWE-BAD-INPUT', 'group_path must look like /finance/approvers');
    end if;
    perform awe._ensure_principal(t, principal_id);
    insert into awe.group_member values (t, g, principal_id) on conflict do nothing;
    perform awe._changed('awe.group_member');
end $$;

create function awe.remove_from_group(principal_id text, group_path text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); managed text;
begin
    select m.managed_by into managed from awe.group_member m where m.tenant_id = t
       and m.group_path = rtrim(remove_from_group.group_path, '/') and m.principal_id = remove_from_group.principal_id;
    perform awe._refuse_if_managed(t, managed, format('membership of %s in %s', principal_id, group_path));
    delete from awe.group_member m where m.tenant_id = t
       and m.group_path = rtrim(remove_from_group.group_path, '/') and m.principal_id = remove_from_group.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s is not in group %s', principal_id, group_path));
    end if;
    perform awe._changed('awe.group_member');
end $$;

-- A delegation window: while it is active, new tasks for principal_id go to
-- delegate_id (chains are followed), and the delegate may decide tasks
-- already assigned to principal_id. Self-service: the actor is recorded.
create function awe.set_delegation(principal_id text, delegate_id text, starts_at timestamptz, ends_at timestamptz,
                                   reason text default null) returns uuid
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare id uuid; t text := awe.current_tenant(); actor text := awe.current_actor();
begin
    perform awe._check_principal_id(principal_id);
    perform awe._check_principal_id(delegate_id, 'delegate_id');
    if principal_id = delegate_id then
        perform awe._raise('AWE-BAD-INPUT', 'a delegation needs two different principals');
    end if;
    if starts_at is null or ends_at is null or starts_at >= ends_at then
        perform awe._raise('AWE-BAD-INPUT', 'a delegation window needs starts_at < ends_at');
    end if;
    if length(reason) > 4000 then
        perform awe._raise('AWE-LIMIT-EXCEEDED', 'reason is longer than 4000 characters');
    end if;
    insert into awe.delegation (tenant_id, principal_id, delegate_id, starts_at, ends_at, reason, created_by)
    values (t, principal_id, delegate_id, starts_at, ends_at, reason, actor)
    returning delegation_id into id;
    perform awe._changed('awe.delegation');
    return id;
end $$;

create function awe.revoke_delegation(delegation_id uuid) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    update awe.delegation d set revoked_at = now()
     where d.tenant_id = t and d.delegation_id = revoke_delegation.delegation_id and d.revoked_at is null;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no active delegation %s', delegation_id));
    end if;
    perform awe._changed('awe.delegation');
end $$;

-- Whose delegation this is (for the REST wrapper's check), read with the
-- owner's rights.
create function awe._delegation_principal(delegation_id uuid) returns text
    language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    return (select d.principal_id from awe.delegation d where d.tenant_id = t and d.delegation_id = _delegation_principal.delegation_id);
end $$;

create view awe.delegations with (security_invoker = true) as
select delegation_id, principal_id, delegate_id, starts_at, ends_at, reason, created_by, created_at, revoked_at,
       revoked_at is null and awe.now() >= starts_at and awe.now() < ends_at as active
  from awe.delegation
 where tenant_id = awe.current_tenant();

-- Backends cache role and group members, delegation windows (read at every
-- stage start) and which tenants exist; any statement that changes these tables makes every
-- backend forget them (awe._tables_changed invalidates the table's relcache
-- entry, transactionally).
create function awe._tables_changed() returns trigger
    language c as 'MODULE_PATHNAME', 'awe_tables_changed';
-- The same, called by awe's own functions after they write a cached table:
-- on Citus the triggers fire on the nodes holding the shards, while the
-- caches live in the coordinator's backends.
create function awe._changed(tbl regclass) returns void
    language c volatile as 'MODULE_PATHNAME', 'awe_changed';
do $$
declare t text;
begin
    foreach t in array array['principal', 'role_grant', 'group_member', 'delegation', 'tenant'] loop
        execute format('create trigger %I after insert or update or delete or truncate on awe.%I
                        for each statement execute function awe._tables_changed()', t || '_changed', t);
    end loop;
end $$;
