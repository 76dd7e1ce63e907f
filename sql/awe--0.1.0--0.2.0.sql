-- awe 0.1.0 → 0.2.0, applied by ALTER EXTENSION awe UPDATE. Every change to
-- sql/ since 0.1.0 is here too: the upgrade test checks that a database
-- updated from 0.1.0 has exactly the catalog of a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION awe UPDATE" to load this file. \quit

-- awe.version() (00_bootstrap.sql).
create function awe.version() returns jsonb
    language c stable parallel safe as 'MODULE_PATHNAME', 'awe_version';
revoke execute on function awe.version() from public;
grant execute on function awe.version() to awe_user;

-- The worker records its library's version (06_worker.sql).
alter table awe.worker_heartbeat add column library_version text;
create or replace view awe.worker_status as
select pid, started_at, beat_at, now() - beat_at as since_last_beat, delivered, failed,
       (select count(*) from awe.delivery where status = 'pending' and next_attempt_at <= now()) as due_now,
       library_version,
       (select extversion from pg_catalog.pg_extension where extname = 'awe') as sql_version,
       library_version is distinct from (select extversion from pg_catalog.pg_extension where extname = 'awe') as version_mismatch
  from awe.worker_heartbeat;

-- Directory sources and imports (sql/07_directory_sync.sql, docs/directory.md).
-- What a source or an import wrote is marked managed_by = 'directory'
-- (sql/02_directory.sql); the hand-edit functions refuse to change it while
-- the tenant has a source.
alter table awe.principal add column managed_by text collate "C" check (managed_by = 'directory');
alter table awe.role_grant add column managed_by text collate "C" check (managed_by = 'directory');
alter table awe.group_member add column managed_by text collate "C" check (managed_by = 'directory');
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

create or replace function awe.upsert_principal(principal_id text, display_name text default null, email text default null,
                                     attributes jsonb default null, active boolean default true)
    returns jsonb language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); ts timestamptz := now(); r awe.principal;
begin
    perform awe._check_principal_id(principal_id);
    perform awe._refuse_if_managed(t, (select p.managed_by from awe.principal p where p.tenant_id = t and p.principal_id = upsert_principal.principal_id),
                                   format('principal %s', principal_id));
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
    return to_jsonb(r) - 'tenant_id';
end $$;
create or replace function awe.remove_principal(principal_id text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    perform awe._refuse_if_managed(t, (select p.managed_by from awe.principal p where p.tenant_id = t and p.principal_id = remove_principal.principal_id),
                                   format('principal %s', principal_id));
    delete from awe.principal p where p.tenant_id = t and p.principal_id = remove_principal.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('principal %s is not in the directory', principal_id));
    end if;
end $$;
create or replace function awe.revoke_role(principal_id text, role text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    perform awe._refuse_if_managed(t, (select g.managed_by from awe.role_grant g where g.tenant_id = t and g.role = revoke_role.role
                                        and g.principal_id = revoke_role.principal_id), format('role %s of %s', role, principal_id));
    delete from awe.role_grant g where g.tenant_id = t and g.role = revoke_role.role
       and g.principal_id = revoke_role.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s does not hold role %s', principal_id, role));
    end if;
end $$;
create or replace function awe.remove_from_group(principal_id text, group_path text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    perform awe._refuse_if_managed(t, (select m.managed_by from awe.group_member m where m.tenant_id = t
                                        and m.group_path = rtrim(remove_from_group.group_path, '/') and m.principal_id = remove_from_group.principal_id),
                                   format('membership of %s in %s', principal_id, group_path));
    delete from awe.group_member m where m.tenant_id = t
       and m.group_path = rtrim(remove_from_group.group_path, '/') and m.principal_id = remove_from_group.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s is not in group %s', principal_id, group_path));
    end if;
end $$;

-- Deliveries may carry a message of their own (no request event), such as
-- directory.sync_failed (sql/06_worker.sql).
alter table awe.delivery alter column request_id drop not null, alter column seq drop not null, add column message jsonb;
alter table awe.delivery add constraint delivery_check check ((request_id is not null and seq is not null) or message is not null);
comment on table awe.delivery is 'Outbox: one row per event of a request with a callback (or message of its own), written in its transaction.';

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
begin
    delete from awe.directory_source s where s.tenant_id = awe.current_tenant();
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', awe.current_tenant()));
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
    handled int := 0;
    failed int := 0;
begin
    for l in select x.tenant_id, x.principal_id, p.active from awe.leaver x
               join awe.principal p using (tenant_id, principal_id)
              order by x.since limit max_items loop
        if not l.active then
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

-- Grants and row-level security for the new objects (sql/10_security.sql).
grant select on awe.directory_source, awe.leaver, awe.directory_sync_status, awe.stalled_tasks to awe_reader;
revoke all on awe.directory_source_secret from awe_reader;
revoke execute on function awe._refuse_if_managed(text, text, text), awe.set_directory_source(text, text, text, text, text, jsonb, text),
    awe.set_directory_source_secret(text), awe.remove_directory_source(), awe.sync_directory(boolean),
    awe.import_directory(jsonb, boolean), awe._principals_left(text, text[]), awe._task_assignee_inactive(text, uuid),
    awe._handle_leavers(int) from public;
grant execute on function awe.set_directory_source(text, text, text, text, text, jsonb, text), awe.set_directory_source_secret(text),
    awe.remove_directory_source(), awe.sync_directory(boolean), awe.import_directory(jsonb, boolean) to awe_user;
do $$
declare t regclass;
begin
    foreach t in array array['awe.directory_source', 'awe.directory_source_secret', 'awe.leaver']::regclass[] loop
        execute format('alter table %s enable row level security', t);
        execute format('alter table %s force row level security', t);
        execute format('create policy tenant_isolation on %s using (tenant_id = (select awe.current_tenant()))', t);
    end loop;
end $$;

-- The REST surface (sql/11_api.sql).
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

create or replace view awe_api.principals with (security_invoker = true) as
select principal_id, display_name, email, attributes, active, created_at, updated_at, managed_by
  from awe.principal where tenant_id = awe.current_tenant() and (awe._is('awe_admin') or awe._is('awe_viewer'));
create view awe_api.directory_sync_status with (security_invoker = true) as
select kind, base_url, realm, client_id, options, sync_interval, alert_url, running, next_sync_at, last_attempt_at,
       last_success_at, last_duration_ms, last_counts, last_stats, last_error_code, last_error, consecutive_failures,
       created_at, updated_at
  from awe.directory_sync_status where awe._is('awe_admin') or awe._is('awe_viewer');
create view awe_api.stalled_tasks with (security_invoker = true) as
select task_id, request_id, stage_index, assignee, kind, created_at, inactive_since
  from awe.stalled_tasks where awe._is('awe_admin');

revoke all on function awe_api.set_directory_source(text, text, text, text, text, jsonb, text), awe_api.set_directory_source_secret(text),
    awe_api.remove_directory_source(), awe_api.sync_directory(text), awe_api.import_directory(jsonb, text) from public;
grant execute on function awe_api.set_directory_source(text, text, text, text, text, jsonb, text), awe_api.set_directory_source_secret(text),
    awe_api.remove_directory_source(), awe_api.sync_directory(text), awe_api.import_directory(jsonb, text)
    to awe_viewer, awe_approver, awe_caller, awe_admin;
grant select on awe_api.directory_sync_status, awe_api.stalled_tasks to awe_viewer, awe_approver, awe_caller, awe_admin;

-- pg_dump keeps the new tables' rows (sql/12_backup.sql).
select pg_catalog.pg_extension_config_dump('awe.directory_source', '');
select pg_catalog.pg_extension_config_dump('awe.directory_source_secret', '');
select pg_catalog.pg_extension_config_dump('awe.leaver', '');

-- The approver's side (docs/policies.md, docs/summaries.md): typed actions,
-- decision data, the requester's revision task, request summaries.
alter domain awe.task_status drop constraint task_status_check;
alter domain awe.task_status add constraint task_status_check
    check (value in ('open', 'approved', 'rejected', 'abstained', 'changes_requested', 'skipped', 'superseded',
                     'reassigned', 'cancelled', 'expired', 'completed'));
alter domain awe.task_kind drop constraint task_kind_check;
alter domain awe.task_kind add constraint task_kind_check check (value in ('approver', 'observer', 'revision'));
alter table awe.request add column summary jsonb;
alter table awe.task add column decision_data jsonb;

drop function awe.decide(uuid, text, text, jsonb);
create function awe.decide(task_id uuid, decision text, comment text default null, attachments jsonb default null,
                           data jsonb default null)
    returns jsonb language c volatile security definer as 'MODULE_PATHNAME', 'awe_decide';
revoke execute on function awe.decide(uuid, text, text, jsonb, jsonb) from public;
grant execute on function awe.decide(uuid, text, text, jsonb, jsonb) to awe_user;
drop function awe._task_actions(uuid, int, int, text, text, boolean, text, text, uuid, text, int, text, jsonb, text, int, text);
create function awe._task_actions(task_id uuid, stage_index int, revision int, assignee text, kind text, required boolean,
                                  status text, claimed_by text, request_id uuid, request_status text, request_revision int,
                                  requester text, context jsonb, policy_key text, policy_version int, viewer text,
                                  submitter text)
    returns jsonb language c stable as 'MODULE_PATHNAME', 'awe_task_actions';
revoke execute on function awe._task_actions(uuid, int, int, text, text, boolean, text, text, uuid, text, int, text, jsonb, text, int, text, text) from public;
grant execute on function awe._task_actions(uuid, int, int, text, text, boolean, text, text, uuid, text, int, text, jsonb, text, int, text, text) to awe_reader;
alter type awe.inbox_item alter attribute available_actions type jsonb, add attribute summary jsonb;
create or replace function awe.inbox(principal text default null, status text default 'open', artifact_type text default null,
                          policy_key text default null, after_created_at timestamptz default null,
                          after_task_id uuid default null, page_size int default 50)
    returns setof awe.inbox_item
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
    tn      text := awe.current_tenant();
    viewer  text := coalesce(principal, awe.current_actor());
    whom    text[];
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
         where d.revoked_at is null and awe.now() >= d.starts_at and awe.now() < d.ends_at and c.depth < 5)
    select array_agg(distinct principal_id) into whom from chain;
    -- Page first (an ordered, limited index scan per principal), then join
    -- only the rows returned: the cost stays ~page_size whatever the backlog.
    -- What the viewer may do with each task is the engine's own answer, from
    -- the same code awe.decide checks with.
    return query
    select t.task_id, t.request_id, r.policy_key::text, r.policy_version, r.artifact_type::text, r.artifact_id::text,
           t.stage_index, pv.definition #>> array['stages', t.stage_index::text, 'name'], t.kind::text, t.required,
           t.status::text, t.assignee::text, t.delegated_from::text, t.due_at, t.claimed_by::text, t.created_at,
           r.status::text, r.requester::text, r.context,
           awe._task_actions(t.task_id, t.stage_index, t.revision, t.assignee, t.kind, t.required, t.status, t.claimed_by,
                             r.request_id, r.status, r.revision, r.requester, r.context, r.policy_key, r.policy_version, viewer,
                             r.created_by),
           r.summary
      from (select k.*
              from unnest(whom) as w(principal_id)
              cross join lateral (
                    select * from awe.task x
                     where x.tenant_id = tn and x.assignee = w.principal_id
                       and (inbox.status is null or x.status = inbox.status)
                       and (after_created_at is null or (x.created_at, x.task_id) > (after_created_at, after_task_id))
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
     order by t.created_at, t.task_id;
end $$;
create or replace view awe.requests with (security_invoker = true) as
select request_id, policy_key, policy_version, artifact_type, artifact_id, status, revision, requester, callback_url,
       context, stage_status, created_by, created_at, updated_at, decided_at, expires_at, summary
  from awe.request
 where tenant_id = awe.current_tenant();
create or replace view awe.tasks with (security_invoker = true) as
select task_id, request_id, stage_index, revision, assignee, delegated_from, kind, required, status, due_at,
       claimed_by, claimed_at, decided_by, decided_at, comment, created_at, updated_at, decision_data
  from awe.task
 where tenant_id = awe.current_tenant();

alter type awe_api.inbox_item add attribute summary jsonb;
create or replace function awe_api.inbox(status text default 'open', artifact_type text default null, policy_key text default null,
                              after_created_at text default null, after_task_id text default null,
                              page_size text default '50')
    returns setof awe_api.inbox_item language plpgsql stable as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return query select i.task_id, i.request_id, i.policy_key, i.policy_version, i.artifact_type, i.artifact_id,
                        i.stage_index, i.stage, i.kind, i.required, i.status, i.assignee, i.delegated_from, i.due_at,
                        i.claimed_by, i.created_at, i.request_status, i.requester, i.context, i.available_actions, i.summary
                   from awe.inbox(awe.current_actor(), status, artifact_type, policy_key,
                                  awe._arg_timestamptz(after_created_at, 'after_created_at'),
                                  awe._arg_uuid(after_task_id, 'after_task_id'), awe._arg_int(page_size, 'page_size')) i;
end $$;
drop function awe_api.decide(text, text, text, jsonb);
create function awe_api.decide(task_id text, decision text, comment text default null, attachments jsonb default null,
                               data jsonb default null)
    returns jsonb language plpgsql volatile as $$
begin
    perform awe._require_role('awe_approver', 'awe_admin');
    return awe.decide(awe._arg_uuid(task_id, 'task_id'), decision, comment, attachments, data);
end $$;
revoke all on function awe_api.decide(text, text, text, jsonb, jsonb) from public;
grant execute on function awe_api.decide(text, text, text, jsonb, jsonb) to awe_viewer, awe_approver, awe_caller, awe_admin;
create or replace view awe_api.requests with (security_invoker = true) as
select r.* from awe.requests r
 where awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer')
    or r.requester = awe.current_actor()
    or exists (select 1 from awe.task t where t.tenant_id = awe.current_tenant() and t.request_id = r.request_id
                  and (t.assignee = awe.current_actor() or t.decided_by = awe.current_actor()));
create or replace view awe_api.tasks with (security_invoker = true) as
select t.* from awe.tasks t
 where t.assignee = awe.current_actor() or t.decided_by = awe.current_actor()
    or awe._is('awe_caller') or awe._is('awe_admin') or awe._is('awe_viewer');

-- Notifications to an approver's channel (sql/08_notifications.sql).
alter table awe.task add column notify_at timestamptz;
create table awe.notification_channel (
    tenant_id      text collate "C" not null references awe.tenant on delete cascade,
    principal_id   text collate "C" not null,
    url            text not null,
    endpoint_id    uuid not null,
    -- null: every kind.
    kinds          text[],
    -- null: each notification at once; else one task.digest per interval.
    digest         interval,
    last_digest_at timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    primary key (tenant_id, principal_id),
    foreign key (tenant_id, endpoint_id) references awe.endpoint on delete cascade
);

-- Tasks whose due-soon notification is due (awe.run_due_timers).
create index task_notify on awe.task (tenant_id, notify_at) where status = 'open' and notify_at is not null;

-- Notifications waiting for their channel's next digest.
create table awe.notification_pending (
    tenant_id       text collate "C" not null,
    notification_id bigint generated always as identity,
    principal_id    text collate "C" not null,
    body            jsonb not null,
    created_at      timestamptz not null,
    primary key (tenant_id, notification_id)
);
create index notification_pending_principal on awe.notification_pending (tenant_id, principal_id, notification_id);

-- Backends remember who has a channel; a change to the channels, the
-- endpoints they hang on or the principals (a channel may come from the
-- directory attribute `notification_url`) makes every backend forget.
create trigger notification_channel_changed after insert or update or delete or truncate on awe.notification_channel
    for each statement execute function awe._tables_changed();
create trigger endpoint_changed after insert or update or delete or truncate on awe.endpoint
    for each statement execute function awe._tables_changed();

-- The registered endpoint a URL is under: the endpoint's URL itself, or it
-- followed by a path, query or fragment (no open relay).
create function awe._endpoint_of_url(tenant_id text, url text) returns uuid
    language sql stable set search_path = pg_catalog, pg_temp as $$
    select e.endpoint_id from awe.endpoint e
     where e.tenant_id = _endpoint_of_url.tenant_id
       and (_endpoint_of_url.url = e.url or left(_endpoint_of_url.url, length(e.url) + 1) in (e.url || '/', e.url || '?', e.url || '#'))
     order by length(e.url) desc limit 1
$$;

-- A principal's channel: where their notifications go, which kinds, and
-- whether they come one by one or as a digest per interval (at least a
-- second). Replaces an earlier one.
create function awe.set_notification_channel(principal_id text, url text, kinds text[] default null, digest interval default null)
    returns jsonb language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); e uuid; r awe.notification_channel;
begin
    perform awe._check_principal_id(principal_id);
    if url is null or length(url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'url is required (at most 2048 characters)');
    end if;
    if kinds is not null and (cardinality(kinds) = 0 or exists (
            select 1 from unnest(kinds) k where k is null or k not in ('task.assigned', 'task.escalated', 'task.reminder', 'task.due_soon'))) then
        perform awe._raise('AWE-BAD-INPUT', 'kinds must be null (every kind) or a non-empty list of task.assigned, task.escalated, task.reminder, task.due_soon');
    end if;
    if digest is not null and digest < interval '1 second' then
        perform awe._raise('AWE-BAD-INPUT', 'digest must be at least 1 second (or null: each notification at once)');
    end if;
    e := awe._endpoint_of_url(t, url);
    if e is null then
        perform awe._raise('AWE-CALLBACK-NOT-ALLOWED', format('%s is not under any endpoint registered for tenant %s', url, t));
    end if;
    insert into awe.notification_channel as c (tenant_id, principal_id, url, endpoint_id, kinds, digest)
    values (t, set_notification_channel.principal_id, set_notification_channel.url, e, set_notification_channel.kinds,
            set_notification_channel.digest)
    on conflict on constraint notification_channel_pkey do update
       set url = excluded.url, endpoint_id = excluded.endpoint_id, kinds = excluded.kinds, digest = excluded.digest, updated_at = now()
    returning * into r;
    return to_jsonb(r) - 'tenant_id' - 'endpoint_id';
end $$;

create function awe.remove_notification_channel(principal_id text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
    delete from awe.notification_channel c where c.tenant_id = awe.current_tenant() and c.principal_id = remove_notification_channel.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s has no notification channel', principal_id));
    end if;
end $$;

create view awe.notification_channels with (security_invoker = true) as
select principal_id, url, kinds, digest, last_digest_at, created_at, updated_at
  from awe.notification_channel
 where tenant_id = awe.current_tenant();

-- One task's due-soon notification (Rust): sent if its assignee has a
-- channel that wants it; the task's notify_at is cleared either way.
create function awe._task_due_soon(tenant_id text, task_id uuid) returns boolean
    language c volatile as 'MODULE_PATHNAME', 'awe_task_due_soon';

-- Run by the worker every poll: each channel whose digest is due sends its
-- waiting notifications as one task.digest, oldest first.
create function awe._send_digests(max_channels int default 100) returns int
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    ch record;
    sent int := 0;
    items jsonb;
    n int;
    last_id bigint;
begin
    for ch in select c.tenant_id, c.principal_id, c.url, c.endpoint_id
                from awe.notification_channel c
               where c.digest is not null and (c.last_digest_at is null or c.last_digest_at + c.digest <= now())
                 and exists (select 1 from awe.notification_pending p where p.tenant_id = c.tenant_id and p.principal_id = c.principal_id)
               order by c.last_digest_at nulls first
               limit max_channels loop
        select jsonb_agg(p.body order by p.notification_id), count(*), max(p.notification_id) into items, n, last_id
          from awe.notification_pending p where p.tenant_id = ch.tenant_id and p.principal_id = ch.principal_id;
        insert into awe.delivery (tenant_id, event_id, event_type, endpoint_id, url, next_attempt_at, created_at, message)
        values (ch.tenant_id, gen_random_uuid(), 'task.digest', ch.endpoint_id, ch.url, now(), now(),
                jsonb_build_object('type', 'task.digest',
                                   'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                   'data', jsonb_build_object('tenant', ch.tenant_id, 'principal', ch.principal_id,
                                                              'count', n, 'notifications', items)));
        delete from awe.notification_pending p
         where p.tenant_id = ch.tenant_id and p.principal_id = ch.principal_id and p.notification_id <= last_id;
        update awe.notification_channel c set last_digest_at = now()
         where c.tenant_id = ch.tenant_id and c.principal_id = ch.principal_id;
        sent := sent + 1;
    end loop;
    if sent > 0 then
        perform awe._wake_worker();
    end if;
    return sent;
end $$;

create or replace function awe.run_due_timers(max_items int default 200) returns jsonb
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    item record;
    tenants text[];
    share int;
    breached int := 0;
    expired int := 0;
    due_soon int := 0;
    failed int := 0;
    clock timestamptz := awe.now();
begin
    select array_agg(t.tenant_id order by t.tenant_id) into tenants from awe.tenant t
     where exists (select 1 from awe.task k where k.tenant_id = t.tenant_id and k.status = 'open' and k.timer_at <= clock);
    share := greatest(1, max_items / greatest(1, cardinality(tenants)));
    for item in select x.tenant_id, x.task_id
                  from unnest(tenants) as d(tenant_id)
                  cross join lateral (select k.tenant_id, k.task_id from awe.task k
                                       where k.tenant_id = d.tenant_id and k.status = 'open' and k.timer_at <= clock
                                       order by k.timer_at limit share) x loop
        begin
            if awe._fire_task_timer(item.tenant_id, item.task_id) then breached := breached + 1; end if;
        exception when others then
            failed := failed + 1;
            raise warning 'awe: SLA timer of task % (tenant %) failed and is switched off: %', item.task_id, item.tenant_id, sqlerrm;
            update awe.task t set timer_at = null where t.tenant_id = item.tenant_id and t.task_id = item.task_id;
        end;
    end loop;
    select array_agg(t.tenant_id order by t.tenant_id) into tenants from awe.tenant t
     where exists (select 1 from awe.request r where r.tenant_id = t.tenant_id and r.expires_at <= clock
                      and r.status in ('pending', 'in_review', 'changes_requested'));
    share := greatest(1, max_items / greatest(1, cardinality(tenants)));
    for item in select x.tenant_id, x.request_id
                  from unnest(tenants) as d(tenant_id)
                  cross join lateral (select r.tenant_id, r.request_id from awe.request r
                                       where r.tenant_id = d.tenant_id and r.expires_at <= clock
                                         and r.status in ('pending', 'in_review', 'changes_requested')
                                       order by r.expires_at limit share) x loop
        begin
            if awe._expire_request(item.tenant_id, item.request_id) then expired := expired + 1; end if;
        exception when others then
            failed := failed + 1;
            raise warning 'awe: expiry of request % (tenant %) failed: %', item.request_id, item.tenant_id, sqlerrm;
        end;
    end loop;
    -- Due-soon notifications (sql/08_notifications.sql), per tenant in turn.
    select array_agg(t.tenant_id order by t.tenant_id) into tenants from awe.tenant t
     where exists (select 1 from awe.task k where k.tenant_id = t.tenant_id and k.status = 'open' and k.notify_at <= clock);
    share := greatest(1, max_items / greatest(1, cardinality(tenants)));
    for item in select x.tenant_id, x.task_id
                  from unnest(tenants) as d(tenant_id)
                  cross join lateral (select k.tenant_id, k.task_id from awe.task k
                                       where k.tenant_id = d.tenant_id and k.status = 'open' and k.notify_at <= clock
                                       order by k.notify_at limit share) x loop
        begin
            if awe._task_due_soon(item.tenant_id, item.task_id) then due_soon := due_soon + 1; end if;
        exception when others then
            failed := failed + 1;
            raise warning 'awe: due-soon notification of task % (tenant %) failed and is dropped: %', item.task_id, item.tenant_id, sqlerrm;
            update awe.task t set notify_at = null where t.tenant_id = item.tenant_id and t.task_id = item.task_id;
        end;
    end loop;
    return jsonb_build_object('breached', breached, 'expired', expired, 'due_soon', due_soon, 'failed', failed);
end $$;

-- Summaries from a language model (sql/09_summaries.sql).
create table awe.model_endpoint (
    tenant_id  text collate "C" not null references awe.tenant on delete cascade,
    name       text collate "C" not null check (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    api        text collate "C" not null check (api in ('ollama', 'openai')),
    base_url   text not null check (base_url ~ '^https?://' and length(base_url) <= 2048),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
);

-- The bearer token, like webhook secrets: no role but the owner reads it.
create table awe.model_endpoint_secret (
    tenant_id  text collate "C" not null,
    name       text collate "C" not null,
    bearer     text not null,
    primary key (tenant_id, name),
    foreign key (tenant_id, name) references awe.model_endpoint on delete cascade
);

create table awe.summary_job (
    tenant_id       text collate "C" not null,
    request_id      uuid not null,
    revision        int not null,
    status          awe.job_status not null default 'pending',
    attempts        int not null default 0,
    next_attempt_at timestamptz not null,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz not null,
    finished_at     timestamptz,
    primary key (tenant_id, request_id, revision)
);
create index summary_job_due on awe.summary_job (tenant_id, next_attempt_at) where status in ('pending', 'running');

-- Registers (or replaces) a model endpoint: a name policies use, the API it
-- speaks, its base URL (…/api/chat or …/v1/chat/completions is added), and
-- an optional bearer token for hosted, OpenAI-compatible servers.
create function awe.register_model_endpoint(name text, api text, base_url text, bearer_token text default null) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); r awe.model_endpoint;
begin
    if name is null or name !~ '^[A-Za-z0-9._-]{1,64}$' then
        perform awe._raise('AWE-BAD-INPUT', 'name must be 1-64 letters, digits, dots, dashes or underscores');
    elsif api is null or api not in ('ollama', 'openai') then
        perform awe._raise('AWE-BAD-INPUT', 'api must be "ollama" (POST /api/chat) or "openai" (POST /v1/chat/completions)');
    elsif base_url is null or base_url !~ '^https?://[^/?#]+' or length(base_url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'base_url must be an http:// or https:// URL such as http://localhost:11434');
    end if;
    insert into awe.model_endpoint as m (tenant_id, name, api, base_url)
    values (t, register_model_endpoint.name, register_model_endpoint.api, rtrim(register_model_endpoint.base_url, '/'))
    on conflict on constraint model_endpoint_pkey do update set api = excluded.api, base_url = excluded.base_url, updated_at = now()
    returning * into r;
    delete from awe.model_endpoint_secret s where s.tenant_id = t and s.name = register_model_endpoint.name;
    if bearer_token is not null and bearer_token <> '' then
        insert into awe.model_endpoint_secret (tenant_id, name, bearer) values (t, register_model_endpoint.name, bearer_token);
    end if;
    return to_jsonb(r) - 'tenant_id' || jsonb_build_object('has_bearer_token', coalesce(bearer_token, '') <> '');
end $$;

create function awe.remove_model_endpoint(name text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
    delete from awe.model_endpoint m where m.tenant_id = awe.current_tenant() and m.name = remove_model_endpoint.name;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no model endpoint %s', name));
    end if;
end $$;

create view awe.model_endpoints with (security_invoker = true) as
select m.name, m.api, m.base_url, exists (select 1 from awe.model_endpoint_secret s where s.tenant_id = m.tenant_id and s.name = m.name)
           as has_bearer_token, m.created_at, m.updated_at
  from awe.model_endpoint m
 where m.tenant_id = awe.current_tenant();

-- The tenant's summary jobs, for admins watching the model.
create view awe.summary_jobs with (security_invoker = true) as
select request_id, revision, status, attempts, next_attempt_at, last_error, created_at, finished_at
  from awe.summary_job
 where tenant_id = awe.current_tenant();

-- Grants and row-level security for the new objects (sql/10_security.sql).
grant select on awe.notification_channel, awe.notification_pending, awe.model_endpoint, awe.summary_job,
    awe.notification_channels, awe.model_endpoints, awe.summary_jobs to awe_reader;
revoke all on awe.model_endpoint_secret from awe_reader;
revoke execute on function awe._endpoint_of_url(text, text), awe.set_notification_channel(text, text, text[], interval),
    awe.remove_notification_channel(text), awe._task_due_soon(text, uuid), awe._send_digests(int),
    awe.register_model_endpoint(text, text, text, text), awe.remove_model_endpoint(text) from public;
grant execute on function awe.set_notification_channel(text, text, text[], interval), awe.remove_notification_channel(text),
    awe.register_model_endpoint(text, text, text, text), awe.remove_model_endpoint(text) to awe_user;
do $$
declare t regclass;
begin
    foreach t in array array['awe.notification_channel', 'awe.notification_pending', 'awe.model_endpoint',
                             'awe.model_endpoint_secret', 'awe.summary_job']::regclass[] loop
        execute format('alter table %s enable row level security', t);
        execute format('alter table %s force row level security', t);
        execute format('create policy tenant_isolation on %s using (tenant_id = (select awe.current_tenant()))', t);
    end loop;
end $$;

-- The REST surface (sql/11_api.sql).
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

create view awe_api.notification_channels with (security_invoker = true) as
select * from awe.notification_channels c where awe._is('awe_admin') or c.principal_id = awe.current_actor();
create view awe_api.model_endpoints with (security_invoker = true) as
select * from awe.model_endpoints where awe._is('awe_admin') or awe._is('awe_viewer');
create view awe_api.summary_jobs with (security_invoker = true) as
select * from awe.summary_jobs where awe._is('awe_admin');

revoke all on function awe_api.set_notification_channel(text, jsonb, text, text), awe_api.remove_notification_channel(text),
    awe_api.register_model_endpoint(text, text, text, text), awe_api.remove_model_endpoint(text) from public;
grant execute on function awe_api.set_notification_channel(text, jsonb, text, text), awe_api.remove_notification_channel(text),
    awe_api.register_model_endpoint(text, text, text, text), awe_api.remove_model_endpoint(text)
    to awe_viewer, awe_approver, awe_caller, awe_admin;
grant select on awe_api.notification_channels, awe_api.model_endpoints, awe_api.summary_jobs
    to awe_viewer, awe_approver, awe_caller, awe_admin;

-- pg_dump keeps the new tables' rows (sql/12_backup.sql).
select pg_catalog.pg_extension_config_dump('awe.notification_channel', '');
select pg_catalog.pg_extension_config_dump('awe.notification_pending', '');
select pg_catalog.pg_extension_config_dump('awe.notification_pending_notification_id_seq', '');
select pg_catalog.pg_extension_config_dump('awe.model_endpoint', '');
select pg_catalog.pg_extension_config_dump('awe.model_endpoint_secret', '');
select pg_catalog.pg_extension_config_dump('awe.summary_job', '');

-- What the console reads (sql/05_inbox.sql, sql/11_api.sql): the inbox of
-- one request, the worker's health, the tenant's backlog and audit log.
drop function awe_api.inbox(text, text, text, text, text, text);
drop function awe.inbox(text, text, text, text, timestamptz, uuid, int);
create function awe.inbox(principal text default null, status text default 'open', artifact_type text default null,
                          policy_key text default null, after_created_at timestamptz default null,
                          after_task_id uuid default null, page_size int default 50, request_id uuid default null)
    returns setof awe.inbox_item
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
    tn      text := awe.current_tenant();
    viewer  text := coalesce(principal, awe.current_actor());
    whom    text[];
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
         where d.revoked_at is null and awe.now() >= d.starts_at and awe.now() < d.ends_at and c.depth < 5)
    select array_agg(distinct principal_id) into whom from chain;
    -- Page first (an ordered, limited index scan per principal), then join
    -- only the rows returned: the cost stays ~page_size whatever the backlog.
    -- What the viewer may do with each task is the engine's own answer, from
    -- the same code awe.decide checks with.
    return query
    select t.task_id, t.request_id, r.policy_key::text, r.policy_version, r.artifact_type::text, r.artifact_id::text,
           t.stage_index, pv.definition #>> array['stages', t.stage_index::text, 'name'], t.kind::text, t.required,
           t.status::text, t.assignee::text, t.delegated_from::text, t.due_at, t.claimed_by::text, t.created_at,
           r.status::text, r.requester::text, r.context,
           awe._task_actions(t.task_id, t.stage_index, t.revision, t.assignee, t.kind, t.required, t.status, t.claimed_by,
                             r.request_id, r.status, r.revision, r.requester, r.context, r.policy_key, r.policy_version, viewer,
                             r.created_by),
           r.summary
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
     order by t.created_at, t.task_id;
end $$;
revoke execute on function awe.inbox(text, text, text, text, timestamptz, uuid, int, uuid) from public;
grant execute on function awe.inbox(text, text, text, text, timestamptz, uuid, int, uuid) to awe_reader, awe_user;
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
revoke all on function awe_api.inbox(text, text, text, text, text, text, text) from public;
grant execute on function awe_api.inbox(text, text, text, text, text, text, text) to awe_viewer, awe_approver, awe_caller, awe_admin;
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

revoke execute on function awe._worker_health() from public;
grant execute on function awe._worker_health() to awe_reader;
grant select on awe_api.worker_status, awe_api.delivery_backlog, awe_api.events to awe_viewer, awe_approver, awe_caller, awe_admin;

-- Row-level security without a subquery (a distributed planner refuses
-- one); awe.current_tenant() keeps its answer for the rest of a statement.
do $$
declare t regclass;
begin
    for t in select p.polrelid::regclass from pg_policy p join pg_class c on c.oid = p.polrelid
              where c.relnamespace = 'awe'::regnamespace and p.polname = 'tenant_isolation' loop
        execute format('alter policy tenant_isolation on %s using (tenant_id = awe.current_tenant())', t);
    end loop;
end $$;

-- awe on Citus (sql/13_distribution.sql).
create view awe.distribution as
with recursive tables as (
    select c.oid::regclass as relation,
           exists (select 1 from pg_catalog.pg_attribute a
                    where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as has_tenant
      from pg_catalog.pg_class c
     where c.relnamespace = 'awe'::regnamespace and c.relkind in ('r', 'p')),
refs as (
    select conrelid, confrelid from pg_catalog.pg_constraint
     where contype = 'f' and connamespace = 'awe'::regnamespace and conrelid <> confrelid),
-- A table comes after every table it references: Citus distributes a
-- referencing table only once the referenced one is distributed.
depth (relation, depth) as (
    select t.relation, 0 from tables t
    union all
    select r.conrelid::regclass, d.depth + 1 from refs r join depth d on r.confrelid = d.relation::oid)
select t.relation,
       case when t.relation in ('awe.tenant'::regclass, 'awe.tenant_role'::regclass) then 'reference'
            when t.has_tenant then 'distributed'
            else 'coordinator' end as placement,
       row_number() over (order by t.relation not in ('awe.tenant'::regclass, 'awe.tenant_role'::regclass),
                                   max(d.depth), t.relation::text)::int as position
  from tables t join depth d on d.relation = t.relation
 group by t.relation, t.has_tenant;

comment on view awe.distribution is
    'Where awe.distribute() puts each of awe''s tables on Citus, in the order it does it.';

-- The settings a distributed awe runs with, for the sessions of this
-- database (ALTER DATABASE), so every backend and the worker take them:
--   awe.plan_cache_mode = force_custom_plan: Citus routes a statement by its
--     tenant value, which a generic plan does not have;
--   awe.write_mode = per_table: each statement of an operation writes one
--     table of one tenant, so the operation commits on one node without a
--     two-phase commit;
--   citus.enable_unsafe_triggers = on: awe's triggers (the audit trail's
--     append-only guard, cache invalidation) stay on the distributed tables.
--     Citus calls them unsafe because they run on the node with the shard;
--     awe's touch only the row's own table.
create function awe.distribute() returns table (relation regclass, placement text, action text)
    language plpgsql set search_path = pg_catalog, pg_temp as $$
declare
    r record;
    first_distributed regclass;
    is_coordinator boolean;
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        perform awe._raise('AWE-FORBIDDEN', 'awe.distribute() is for a superuser');
    end if;
    if not exists (select 1 from pg_extension where extname = 'citus') then
        perform awe._raise('AWE-CITUS-REQUIRED', 'awe.distribute() needs the citus extension in this database', null,
                           'install Citus on every node, put citus first in shared_preload_libraries, CREATE EXTENSION citus, add the worker nodes; see docs/scale-out.md');
    end if;
    execute 'select pg_catalog.citus_is_coordinator()' into is_coordinator;
    if not is_coordinator then
        perform awe._raise('AWE-CITUS-REQUIRED', 'awe.distribute() runs on the Citus coordinator, not on a worker node');
    end if;
    perform set_config('citus.enable_unsafe_triggers', 'on', true);
    -- Without it Citus turns every local table in a foreign-key graph with a
    -- reference table into a "Citus local table" the moment awe.tenant
    -- becomes a reference table, which drops and recreates the views on it:
    -- an extension's views cannot be.
    perform set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
    for r in select d.relation, d.placement from awe.distribution d order by d.position loop
        relation := r.relation;
        placement := r.placement;
        if r.placement = 'coordinator' then
            action := 'stays on the coordinator';
        elsif exists (select 1 from pg_dist_partition p where p.logicalrelid = r.relation) then
            action := 'already ' || r.placement;
        elsif r.placement = 'reference' then
            execute 'select create_reference_table($1)' using r.relation;
            action := 'made a reference table';
        else
            execute 'select create_distributed_table($1, ''tenant_id'', colocate_with => $2)'
                using r.relation, coalesce(first_distributed::text, 'none');
            action := 'distributed by tenant_id';
        end if;
        if r.placement = 'distributed' and first_distributed is null then
            first_distributed := r.relation;
        end if;
        return next;
    end loop;
    execute format('alter database %I set awe.plan_cache_mode = force_custom_plan', current_database());
    execute format('alter database %I set awe.write_mode = per_table', current_database());
    execute format('alter database %I set citus.enable_unsafe_triggers = on', current_database());
    -- Database settings reach a session when it connects.
    raise notice 'awe is distributed; sessions connected before now keep the one-node settings: restart PostgreSQL on the coordinator (its awe worker) and reconnect pools such as the REST server''s';
end $$;

revoke all on function awe.distribute() from public;
comment on function awe.distribute() is
    'Distributes awe''s tables on Citus by tenant_id (superuser, on the coordinator; run again, it does what is left).';

-- Caches told by awe's own functions, not only by triggers (on Citus the
-- triggers fire where the shards are).
create function awe._changed(tbl regclass) returns void
    language c volatile as 'MODULE_PATHNAME', 'awe_changed';
revoke execute on function awe._changed(regclass) from public;

-- Reading functions with their owner's rights (docs/scale-out.md: on
-- Citus a caller's role may not log in to the nodes with the rows).
create function awe._delegation_principal(delegation_id uuid) returns text
    language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    return (select d.principal_id from awe.delegation d where d.tenant_id = t and d.delegation_id = _delegation_principal.delegation_id);
end $$;
revoke execute on function awe._delegation_principal(uuid) from public;
grant execute on function awe._delegation_principal(uuid) to awe_reader;
alter function awe.simulate(text, jsonb, int, text) security definer;
alter function awe.verify_timeline(uuid) security definer;
alter function awe.get_request(uuid) security definer;
alter function awe._task_actions(uuid, int, int, text, text, boolean, text, text, uuid, text, int, text, jsonb, text, int, text, text) security definer;
alter function awe._require_request_access(uuid, text) security definer;

-- The Citus shape (docs/scale-out.md): identity read once into variables,
-- no awe function inside a statement over a tenant's table, no now() in
-- ON CONFLICT, the worker's maintenance one tenant per statement, and
-- awe._changed after every write of a cached table.
create or replace function awe.create_tenant(tenant_id text, name text default null) returns text
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
create or replace function awe.upsert_principal(principal_id text, display_name text default null, email text default null,
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
create or replace function awe.remove_principal(principal_id text) returns void
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
create or replace function awe._ensure_principal(t text, principal_id text) returns void
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    perform awe._check_principal_id(principal_id);
    if not exists (select 1 from awe.principal p where p.tenant_id = t and p.principal_id = _ensure_principal.principal_id) then
        insert into awe.principal (tenant_id, principal_id) values (t, _ensure_principal.principal_id) on conflict do nothing;
        perform awe._changed('awe.principal');
    end if;
end $$;
create or replace function awe.grant_role(principal_id text, role text) returns void
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
create or replace function awe.revoke_role(principal_id text, role text) returns void
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
create or replace function awe.add_to_group(principal_id text, group_path text) returns void
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
create or replace function awe.remove_from_group(principal_id text, group_path text) returns void
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
create or replace function awe.set_delegation(principal_id text, delegate_id text, starts_at timestamptz, ends_at timestamptz,
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
create or replace function awe.revoke_delegation(delegation_id uuid) returns void
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
create or replace function awe.activate_policy(policy_key text, version int) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); v awe.policy_version; prev int;
begin
    -- Serialize activations of one key on the policy row; the partial unique
    -- index is the backstop.
    perform 1 from awe.policy p where p.tenant_id = t and p.policy_key = activate_policy.policy_key for update;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('no policy %s', policy_key));
    end if;
    select * into v from awe.policy_version pv
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.version = activate_policy.version;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('policy %s has no version %s', policy_key, version));
    elsif v.status <> 'draft' then
        perform awe._raise('AWE-POLICY-NOT-DRAFT', format('%s v%s is %s; only drafts can be activated', policy_key, version, v.status));
    end if;
    update awe.policy_version pv set status = 'archived', archived_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.status = 'active'
    returning pv.version into prev;
    update awe.policy_version pv set status = 'active', activated_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.version = activate_policy.version;
    perform awe._changed('awe.policy_version');
    return jsonb_build_object('policy_key', policy_key, 'version', version, 'status', 'active', 'archived_version', prev);
end $$;
create or replace function awe.deactivate_policy(policy_key text) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); prev int;
begin
    perform 1 from awe.policy p where p.tenant_id = t and p.policy_key = deactivate_policy.policy_key for update;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('no policy %s', policy_key));
    end if;
    update awe.policy_version pv set status = 'archived', archived_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = deactivate_policy.policy_key and pv.status = 'active'
    returning pv.version into prev;
    if prev is null then
        perform awe._raise('AWE-POLICY-NOT-ACTIVE', format('policy %s has no active version', policy_key));
    end if;
    perform awe._changed('awe.policy_version');
    return jsonb_build_object('policy_key', policy_key, 'archived_version', prev);
end $$;
create or replace function awe.timeline(request_id uuid)
    returns table (seq int, event_id uuid, type text, actor text, stage_index int, stage text, task_id uuid,
                   status text, data jsonb, created_at timestamptz)
    language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    if not exists (select 1 from awe.request r where r.tenant_id = t and r.request_id = timeline.request_id) then
        perform awe._raise('AWE-REQUEST-NOT-FOUND', format('request %s not found', timeline.request_id));
    end if;
    return query
    select e.seq, e.event_id, e.type::text, e.actor::text, e.stage_index, e.data ->> 'stage', e.task_id, e.status::text,
           e.data::jsonb, e.created_at
      from awe.event e
     where e.tenant_id = t and e.request_id = timeline.request_id
     order by e.seq;
end $$;
create or replace function awe.inbox(principal text default null, status text default 'open', artifact_type text default null,
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
create or replace function awe.register_endpoint(url text, description text default null) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); e awe.endpoint; s text := awe._new_secret();
begin
    if url is null or url !~ '^https?://[^/\s]+' or url ~ '\s' or length(url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'url must be an http:// or https:// URL without spaces, at most 2048 characters');
    end if;
    if length(description) > 4000 then
        perform awe._raise('AWE-LIMIT-EXCEEDED', 'description is longer than 4000 characters');
    end if;
    insert into awe.endpoint (tenant_id, url, description) values (t, rtrim(register_endpoint.url, '/'), description)
    on conflict on constraint endpoint_tenant_id_url_key do nothing returning * into e;
    if e is null then
        select * into e from awe.endpoint x where x.tenant_id = t and x.url = rtrim(register_endpoint.url, '/');
        perform awe._raise('AWE-BAD-INPUT', format('endpoint %s is already registered (%s)', url, e.endpoint_id),
            jsonb_build_object('endpoint_id', e.endpoint_id, 'enabled', e.enabled),
            case when e.enabled then 'rotate its secret with awe.rotate_endpoint_secret(endpoint_id)'
                 else format('it is disabled (%s): enable it with awe.set_endpoint_enabled(%L, true)', e.disabled_reason, e.endpoint_id) end);
    end if;
    insert into awe.endpoint_secret (tenant_id, endpoint_id, secret) values (t, e.endpoint_id, s);
    perform awe._changed('awe.endpoint');
    return jsonb_build_object('endpoint_id', e.endpoint_id, 'url', e.url, 'secret', s);
end $$;
create or replace function awe.set_endpoint_enabled(endpoint_id uuid, enabled boolean, reason text default null) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    if enabled is null then
        perform awe._raise('AWE-BAD-INPUT', 'enabled must be true or false');
    end if;
    update awe.endpoint e set enabled = set_endpoint_enabled.enabled,
           disabled_reason = case when set_endpoint_enabled.enabled then null else coalesce(left(reason, 4000), 'disabled by an admin') end
     where e.tenant_id = t and e.endpoint_id = set_endpoint_enabled.endpoint_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no endpoint %s', endpoint_id));
    end if;
    perform awe._changed('awe.endpoint');
    if enabled then
        perform awe._wake_worker();
    end if;
end $$;
create or replace function awe.replay_deliveries(delivery_id bigint default null, request_id uuid default null,
                                      since timestamptz default null) returns int
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare n int; t text := awe.current_tenant();
begin
    if delivery_id is null and request_id is null and since is null then
        perform awe._raise('AWE-BAD-INPUT', 'name a delivery_id, a request_id or a since time');
    end if;
    update awe.delivery d set status = 'pending', next_attempt_at = now(), attempts = 0, first_attempt_at = null,
           lease_until = null, last_error = null
     where d.tenant_id = t and d.status in ('dead', 'delivered')
       and (replay_deliveries.delivery_id is null or d.delivery_id = replay_deliveries.delivery_id)
       and (replay_deliveries.request_id is null or d.request_id = replay_deliveries.request_id)
       and (since is null or d.created_at >= since);
    get diagnostics n = row_count;
    if n > 0 then perform awe._wake_worker(); end if;
    return n;
end $$;
create or replace function awe.purge_expired(delivery_retention interval, max_rows int default 10000) returns jsonb
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare deliveries int := 0; keys int := 0; n int; t text;
begin
    -- The tenants with the oldest expired rows (a read of every tenant),
    -- then each tenant's rows by a statement of its own: no delete spans
    -- tenants (on Citus each runs on one node).
    for t in select distinct x.tenant_id
               from (select d.tenant_id from awe.delivery d /* awe:all-tenants: who has expired deliveries */
                      where d.status = 'delivered' and d.delivered_at < now() - delivery_retention
                      order by d.delivered_at limit max_rows) x loop
        exit when deliveries >= max_rows;
        delete from awe.delivery d
         using (select o.delivery_id from awe.delivery o
                 where o.tenant_id = t and o.status = 'delivered' and o.delivered_at < now() - delivery_retention
                 order by o.delivered_at limit max_rows - deliveries) old
         where d.tenant_id = t and d.delivery_id = old.delivery_id;
        get diagnostics n = row_count;
        deliveries := deliveries + n;
    end loop;
    for t in select distinct x.tenant_id
               from (select k.tenant_id from awe.idempotency_key k /* awe:all-tenants: who has expired keys */
                      where k.expires_at < now() order by k.expires_at limit max_rows) x loop
        exit when keys >= max_rows;
        delete from awe.idempotency_key k
         using (select o.key from awe.idempotency_key o
                 where o.tenant_id = t and o.expires_at < now() order by o.expires_at limit max_rows - keys) old
         where k.tenant_id = t and k.key = old.key;
        get diagnostics n = row_count;
        keys := keys + n;
    end loop;
    return jsonb_build_object('deliveries', deliveries, 'idempotency_keys', keys);
end $$;
create or replace function awe.run_due_timers(max_items int default 200) returns jsonb
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    item record;
    tn text;
    timers text[] := '{}';
    expiries text[] := '{}';
    notices text[] := '{}';
    has_timer boolean;
    has_expiry boolean;
    has_notice boolean;
    breached int := 0;
    expired int := 0;
    due_soon int := 0;
    deferred int := 0;
    failed int := 0;
    clock timestamptz := awe.now();
begin
    -- Which tenants have due work: one statement per tenant, each reading
    -- that tenant's rows only (an index probe per kind). One statement
    -- over every tenant would correlate the tenant list with their tasks,
    -- which Citus cannot run.
    for tn in select t.tenant_id from awe.tenant t order by t.tenant_id loop
        select exists (select 1 from awe.task k where k.tenant_id = tn and k.status = 'open' and k.timer_at <= clock),
               exists (select 1 from awe.request r where r.tenant_id = tn and r.expires_at <= clock
                          and r.status in ('pending', 'in_review', 'changes_requested')),
               exists (select 1 from awe.task k where k.tenant_id = tn and k.status = 'open' and k.notify_at <= clock)
          into has_timer, has_expiry, has_notice;
        if has_timer then timers := timers || tn; end if;
        if has_expiry then expiries := expiries || tn; end if;
        if has_notice then notices := notices || tn; end if;
    end loop;
    foreach tn in array timers loop
        for item in select k.task_id from awe.task k
                     where k.tenant_id = tn and k.status = 'open' and k.timer_at <= clock
                     order by k.timer_at limit greatest(1, max_items / cardinality(timers)) loop
            begin
                if awe._fire_task_timer(tn, item.task_id) then breached := breached + 1; end if;
            exception
                -- Busy, not broken (a lock not taken within lock_timeout, a
                -- deadlock): due again next round.
                when lock_not_available or deadlock_detected or serialization_failure or sqlstate 'PT503' then
                    deferred := deferred + 1;
                when others then
                    failed := failed + 1;
                    raise warning 'awe: SLA timer of task % (tenant %) failed and is switched off: %', item.task_id, tn, sqlerrm;
                    update awe.task t set timer_at = null where t.tenant_id = tn and t.task_id = item.task_id;
            end;
        end loop;
    end loop;
    foreach tn in array expiries loop
        for item in select r.request_id from awe.request r
                     where r.tenant_id = tn and r.expires_at <= clock and r.status in ('pending', 'in_review', 'changes_requested')
                     order by r.expires_at limit greatest(1, max_items / cardinality(expiries)) loop
            begin
                if awe._expire_request(tn, item.request_id) then expired := expired + 1; end if;
            exception
                -- Busy, not broken (a lock not taken within lock_timeout, a
                -- deadlock): due again next round.
                when lock_not_available or deadlock_detected or serialization_failure or sqlstate 'PT503' then
                    deferred := deferred + 1;
                when others then
                    failed := failed + 1;
                    raise warning 'awe: expiry of request % (tenant %) failed: %', item.request_id, tn, sqlerrm;
            end;
        end loop;
    end loop;
    -- Due-soon notifications (sql/08_notifications.sql).
    foreach tn in array notices loop
        for item in select k.task_id from awe.task k
                     where k.tenant_id = tn and k.status = 'open' and k.notify_at <= clock
                     order by k.notify_at limit greatest(1, max_items / cardinality(notices)) loop
            begin
                if awe._task_due_soon(tn, item.task_id) then due_soon := due_soon + 1; end if;
            exception
                -- Busy, not broken (a lock not taken within lock_timeout, a
                -- deadlock): due again next round.
                when lock_not_available or deadlock_detected or serialization_failure or sqlstate 'PT503' then
                    deferred := deferred + 1;
                when others then
                    failed := failed + 1;
                    raise warning 'awe: due-soon notification of task % (tenant %) failed and is dropped: %', item.task_id, tn, sqlerrm;
                    update awe.task t set notify_at = null where t.tenant_id = tn and t.task_id = item.task_id;
            end;
        end loop;
    end loop;
    return jsonb_build_object('breached', breached, 'expired', expired, 'due_soon', due_soon, 'failed', failed, 'deferred', deferred);
end $$;
create or replace function awe._handle_leavers(max_items int default 200) returns jsonb
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
create or replace function awe.remove_directory_source() returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.directory_source s where s.tenant_id = t;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', t));
    end if;
end $$;
create or replace function awe._endpoint_of_url(tenant_id text, url text) returns uuid
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
    return (select e.endpoint_id from awe.endpoint e
             where e.tenant_id = _endpoint_of_url.tenant_id
               and (_endpoint_of_url.url = e.url or left(_endpoint_of_url.url, length(e.url) + 1) in (e.url || '/', e.url || '?', e.url || '#'))
             order by length(e.url) desc limit 1);
end $$;
create or replace function awe._send_digests(max_channels int default 100) returns int
    language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    ch record;
    sent int := 0;
    items jsonb;
    n int;
    last_id bigint;
begin
    for ch in select c.tenant_id, c.principal_id, c.url, c.endpoint_id
                from awe.notification_channel c /* awe:all-tenants: the digests due */
               where c.digest is not null and (c.last_digest_at is null or c.last_digest_at + c.digest <= now())
                 and exists (select 1 from awe.notification_pending p where p.tenant_id = c.tenant_id and p.principal_id = c.principal_id)
               order by c.last_digest_at nulls first
               limit max_channels loop
        select jsonb_agg(p.body order by p.notification_id), count(*), max(p.notification_id) into items, n, last_id
          from awe.notification_pending p where p.tenant_id = ch.tenant_id and p.principal_id = ch.principal_id;
        insert into awe.delivery (tenant_id, event_id, event_type, endpoint_id, url, next_attempt_at, created_at, message)
        values (ch.tenant_id, gen_random_uuid(), 'task.digest', ch.endpoint_id, ch.url, now(), now(),
                jsonb_build_object('type', 'task.digest',
                                   'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                   'data', jsonb_build_object('tenant', ch.tenant_id, 'principal', ch.principal_id,
                                                              'count', n, 'notifications', items)));
        delete from awe.notification_pending p
         where p.tenant_id = ch.tenant_id and p.principal_id = ch.principal_id and p.notification_id <= last_id;
        update awe.notification_channel c set last_digest_at = now()
         where c.tenant_id = ch.tenant_id and c.principal_id = ch.principal_id;
        sent := sent + 1;
    end loop;
    if sent > 0 then
        perform awe._wake_worker();
    end if;
    return sent;
end $$;
create or replace function awe.remove_notification_channel(principal_id text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.notification_channel c where c.tenant_id = t and c.principal_id = remove_notification_channel.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s has no notification channel', principal_id));
    end if;
    perform awe._changed('awe.notification_channel');
end $$;
create or replace function awe.set_notification_channel(principal_id text, url text, kinds text[] default null, digest interval default null)
    returns jsonb language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); e uuid; r awe.notification_channel; ts timestamptz := now();
begin
    perform awe._check_principal_id(principal_id);
    if url is null or length(url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'url is required (at most 2048 characters)');
    end if;
    if kinds is not null and (cardinality(kinds) = 0 or exists (
            select 1 from unnest(kinds) k where k is null or k not in ('task.assigned', 'task.escalated', 'task.reminder', 'task.due_soon'))) then
        perform awe._raise('AWE-BAD-INPUT', 'kinds must be null (every kind) or a non-empty list of task.assigned, task.escalated, task.reminder, task.due_soon');
    end if;
    if digest is not null and digest < interval '1 second' then
        perform awe._raise('AWE-BAD-INPUT', 'digest must be at least 1 second (or null: each notification at once)');
    end if;
    e := awe._endpoint_of_url(t, url);
    if e is null then
        perform awe._raise('AWE-CALLBACK-NOT-ALLOWED', format('%s is not under any endpoint registered for tenant %s', url, t));
    end if;
    insert into awe.notification_channel as c (tenant_id, principal_id, url, endpoint_id, kinds, digest)
    values (t, set_notification_channel.principal_id, set_notification_channel.url, e, set_notification_channel.kinds,
            set_notification_channel.digest)
    on conflict on constraint notification_channel_pkey do update
       set url = excluded.url, endpoint_id = excluded.endpoint_id, kinds = excluded.kinds, digest = excluded.digest, updated_at = ts
    returning * into r;
    perform awe._changed('awe.notification_channel');
    return to_jsonb(r) - 'tenant_id' - 'endpoint_id';
end $$;
create or replace function awe.register_model_endpoint(name text, api text, base_url text, bearer_token text default null) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); r awe.model_endpoint; ts timestamptz := now();
begin
    if name is null or name !~ '^[A-Za-z0-9._-]{1,64}$' then
        perform awe._raise('AWE-BAD-INPUT', 'name must be 1-64 letters, digits, dots, dashes or underscores');
    elsif api is null or api not in ('ollama', 'openai') then
        perform awe._raise('AWE-BAD-INPUT', 'api must be "ollama" (POST /api/chat) or "openai" (POST /v1/chat/completions)');
    elsif base_url is null or base_url !~ '^https?://[^/?#]+' or length(base_url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'base_url must be an http:// or https:// URL such as http://localhost:11434');
    end if;
    insert into awe.model_endpoint as m (tenant_id, name, api, base_url)
    values (t, register_model_endpoint.name, register_model_endpoint.api, rtrim(register_model_endpoint.base_url, '/'))
    on conflict on constraint model_endpoint_pkey do update set api = excluded.api, base_url = excluded.base_url, updated_at = ts
    returning * into r;
    delete from awe.model_endpoint_secret s where s.tenant_id = t and s.name = register_model_endpoint.name;
    if bearer_token is not null and bearer_token <> '' then
        insert into awe.model_endpoint_secret (tenant_id, name, bearer) values (t, register_model_endpoint.name, bearer_token);
    end if;
    return to_jsonb(r) - 'tenant_id' || jsonb_build_object('has_bearer_token', coalesce(bearer_token, '') <> '');
end $$;
create or replace function awe.remove_model_endpoint(name text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.model_endpoint m where m.tenant_id = t and m.name = remove_model_endpoint.name;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no model endpoint %s', name));
    end if;
end $$;
create or replace function awe_api.revoke_delegation(delegation_id text) returns void
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
