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
        perform awe._raise('AWE-NOT-FOUND', format('tenant %s has no directory source', t))
          using hint = 'awe.set_directory_source(...) registers one; awe.import_directory(document) needs none';
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

-- A principal who becomes inactive: their delegations (from and to them)
-- end, and the worker deals with their open tasks (awe._handle_leavers).
create function awe._principal_left() returns trigger
    language plpgsql set search_path = pg_catalog, pg_temp as $$
begin
    update awe.delegation d set revoked_at = now()
     where d.tenant_id = new.tenant_id and (d.principal_id = new.principal_id or d.delegate_id = new.principal_id)
       and d.revoked_at is null and d.ends_at > now();
    insert into awe.leaver (tenant_id, principal_id) values (new.tenant_id, new.principal_id) on conflict do nothing;
    perform awe._wake_worker();
    return null;
end $$;
create trigger principal_left after update of active on awe.principal
    for each row when (old.active and not new.active) execute function awe._principal_left();

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

-- Grants and row-level security for the new objects (sql/08_security.sql).
grant select on awe.directory_source, awe.leaver, awe.directory_sync_status, awe.stalled_tasks to awe_reader;
revoke all on awe.directory_source_secret from awe_reader;
revoke execute on function awe._refuse_if_managed(text, text, text), awe.set_directory_source(text, text, text, text, text, jsonb, text),
    awe.set_directory_source_secret(text), awe.remove_directory_source(), awe.sync_directory(boolean),
    awe.import_directory(jsonb, boolean), awe._principal_left(), awe._task_assignee_inactive(text, uuid),
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

-- The REST surface (sql/09_api.sql).
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

-- pg_dump keeps the new tables' rows (sql/10_backup.sql).
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
