-- Notifications to an approver's own channel (core/src/notify.rs,
-- docs/notifications.md): task.assigned, task.escalated, task.reminder and
-- task.due_soon, each with the request's summary, the deadline, the actions
-- the principal may take and a link to the request. They go through the
-- webhook outbox (signed with the endpoint's secrets, retried,
-- dead-lettered) to a URL under one of the tenant's registered endpoints,
-- at once or gathered into one task.digest per interval.

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
-- PL/pgSQL, not SQL: Citus cannot plan a parameterised SQL function over
-- a distributed table.
create function awe._endpoint_of_url(tenant_id text, url text) returns uuid
    language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
    return (select e.endpoint_id from awe.endpoint e
             where e.tenant_id = _endpoint_of_url.tenant_id
               and (_endpoint_of_url.url = e.url or left(_endpoint_of_url.url, length(e.url) + 1) in (e.url || '/', e.url || '?', e.url || '#'))
             order by length(e.url) desc limit 1);
end $$;

-- A principal's channel: where their notifications go, which kinds, and
-- whether they come one by one or as a digest per interval (at least a
-- second). Replaces an earlier one.
create function awe.set_notification_channel(principal_id text, url text, kinds text[] default null, digest interval default null)
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

create function awe.remove_notification_channel(principal_id text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.notification_channel c where c.tenant_id = t and c.principal_id = remove_notification_channel.principal_id;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('%s has no notification channel', principal_id));
    end if;
    perform awe._changed('awe.notification_channel');
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
