-- Directory sources: a tenant's directory kept in step with its identity
-- provider (Keycloak) by the worker, or replaced as a whole by
-- awe.import_directory(document). Both compute the difference between what
-- awe holds and what the source says, in the core, and write only that, in
-- one transaction (a sync that changes nothing writes nothing). Rows they
-- write are marked managed_by = 'directory' (sql/02_directory.sql); a sync
-- reads and changes only those.

create table awe.directory_source (
    tenant_id            text collate "C" primary key references awe.tenant on delete cascade,
    kind                 text collate "C" not null check (kind = 'keycloak'),
    base_url             text not null,
    realm                text not null,
    client_id            text not null,
    -- The options as read (every default filled in): docs/directory.md.
    options              jsonb not null,
    sync_interval        interval not null,
    -- A URL under a registered endpoint: directory.sync_failed (after
    -- three failures in a row) and directory.sync_recovered go there.
    alert_url            text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    next_sync_at         timestamptz not null default now(),
    -- awe.sync_directory(force => true): the next sync may deactivate more
    -- than max_deactivations.
    force_next           boolean not null default false,
    -- While the worker reads the source (outside any transaction).
    lease_until          timestamptz,
    last_attempt_at      timestamptz,
    last_success_at      timestamptz,
    last_duration_ms     int,
    -- What the last applied sync changed (directory_sync::DiffCounts) and
    -- what reading the source cost (keycloak::FetchStats).
    last_counts          jsonb,
    last_stats           jsonb,
    last_error_code      text,
    last_error           text,
    consecutive_failures int not null default 0,
    alerted              boolean not null default false
);
create index directory_source_due on awe.directory_source (next_sync_at);

-- The client secret, like webhook secrets: never readable through the API
-- (no role but the owner may read this table); the worker reads it.
create table awe.directory_source_secret (
    tenant_id     text collate "C" primary key references awe.directory_source on delete cascade,
    client_secret text not null,
    set_at        timestamptz not null default now()
);

-- Principals who became inactive, until the worker has dealt with their
-- open tasks (awe._handle_leavers).
create table awe.leaver (
    tenant_id    text collate "C" not null,
    principal_id text collate "C" not null,
    since        timestamptz not null default now(),
    primary key (tenant_id, principal_id),
    foreign key (tenant_id, principal_id) references awe.principal on delete cascade
);

-- Registers or replaces the tenant's directory source (Rust: the source and
-- its options are read strictly, every problem with its path, and the
-- client secret is stored apart). Returns the source as the status view
-- shows it. The first sync is due at once.
create function awe.set_directory_source(kind text, base_url text, realm text, client_id text, client_secret text,
                                         options jsonb default null, alert_url text default null) returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_set_directory_source';

-- A new client secret (after it was regenerated in Keycloak).
create function awe.set_directory_source_secret(client_secret text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    if client_secret is null or client_secret = '' then
        perform awe._raise('AWE-BAD-INPUT', 'client_secret must not be empty');
    end if;
    update awe.directory_source_secret s set client_secret = set_directory_source_secret.client_secret, set_at = now()
     where s.tenant_id = t;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', t));
    end if;
    update awe.directory_source s set next_sync_at = now(), updated_at = now() where s.tenant_id = t;
    perform awe._wake_worker();
end $$;

-- Stops syncing. The principals, roles and groups the source wrote stay,
-- now editable by hand (or by an import).
create function awe.remove_directory_source() returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.directory_source s where s.tenant_id = t;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', t));
    end if;
end $$;

-- Asks the worker to sync now (after this transaction commits). `force`:
-- that sync may deactivate more than the source's max_deactivations.
create function awe.sync_directory(force boolean default false) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    update awe.directory_source s set next_sync_at = least(s.next_sync_at, now()), force_next = coalesce(force, false)
     where s.tenant_id = t;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', t), null,
                           'awe.set_directory_source(...) registers one; awe.import_directory(document) needs none');
    end if;
    perform awe._wake_worker();
    return (select to_jsonb(s) - 'tenant_id' from awe.directory_sync_status s where s.tenant_id = t);
end $$;

-- Replaces the tenant's directory with a document (users, roles, groups):
-- the difference is applied like a sync, so a user left out is
-- deactivated. For shops without a directory source.
create function awe.import_directory(document jsonb, force boolean default false) returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_import_directory';

create view awe.directory_sync_status with (security_invoker = true) as
select tenant_id, kind, base_url, realm, client_id, options, sync_interval, alert_url,
       lease_until is not null and lease_until > now() as running,
       next_sync_at, last_attempt_at, last_success_at, last_duration_ms, last_counts, last_stats,
       last_error_code, last_error, consecutive_failures, created_at, updated_at
  from awe.directory_source
 where tenant_id = awe.current_tenant();

-- Principals who became inactive: their delegations (from and to them)
-- end, and the worker deals with their open tasks (awe._handle_leavers).
-- Called by what deactivates them (awe.upsert_principal, a directory sync),
-- not by a trigger: on Citus a trigger runs on the node holding the shard,
-- where it cannot write other distributed tables.
create function awe._principals_left(t text, principals text[]) returns void
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    update awe.delegation d set revoked_at = now()
     where d.tenant_id = t and (d.principal_id = any(principals) or d.delegate_id = any(principals))
       and d.revoked_at is null and d.ends_at > now();
    insert into awe.leaver (tenant_id, principal_id) select t, p from unnest(principals) p on conflict do nothing;
    perform awe._changed('awe.delegation');
    perform awe._wake_worker();
end $$;

-- One open task of a leaver (Rust, under its request's lock):
-- task.assignee_inactive, and the stage's escalation rules at once if it
-- has them (docs/directory.md, Leavers).
create function awe._task_assignee_inactive(tenant_id text, task_id uuid) returns boolean
    language c volatile as 'MODULE_PATHNAME', 'awe_task_assignee_inactive';

-- Run by the worker every poll: the open tasks of principals who became
-- inactive, at most `max_items` tasks, each isolated like a timer.
create function awe._handle_leavers(max_items int default 200) returns jsonb
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    l record;
    t record;
    active boolean;
    handled int := 0;
    failed int := 0;
begin
    -- Every tenant's leavers, oldest first; then each one by statements of
    -- its own tenant.
    for l in select x.tenant_id, x.principal_id from awe.leaver x /* awe:all-tenants: the leavers to handle */
              order by x.since limit max_items loop
        select p.active into active from awe.principal p where p.tenant_id = l.tenant_id and p.principal_id = l.principal_id;
        if not coalesce(active, true) then
            for t in select k.task_id from awe.task k
                      where k.tenant_id = l.tenant_id and k.assignee = l.principal_id and k.status = 'open' loop
                begin
                    if awe._task_assignee_inactive(l.tenant_id, t.task_id) then handled := handled + 1; end if;
                exception when others then
                    failed := failed + 1;
                    raise warning 'awe: open task % of inactive principal % (tenant %) could not be handled: %',
                                  t.task_id, l.principal_id, l.tenant_id, sqlerrm;
                end;
            end loop;
        end if;
        delete from awe.leaver x where x.tenant_id = l.tenant_id and x.principal_id = l.principal_id;
    end loop;
    return jsonb_build_object('tasks', handled, 'failed', failed);
end $$;

-- The tenant's open tasks whose assignee is inactive and that no
-- escalation replaced: an admin reassigns them (awe.reassign). (A DBA sees
-- every tenant's sources in awe.directory_source itself.)
create view awe.stalled_tasks with (security_invoker = true) as
select k.tenant_id, k.task_id, k.request_id, k.stage_index, k.assignee, k.kind, k.created_at, p.updated_at as inactive_since
  from awe.task k
  join awe.principal p on p.tenant_id = k.tenant_id and p.principal_id = k.assignee
 where k.tenant_id = awe.current_tenant() and k.status = 'open' and not p.active;
