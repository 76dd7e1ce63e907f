-- What the background worker works on: webhook endpoints and deliveries
-- (a transactional outbox), http resolver jobs, and its heartbeat.

create table awe.endpoint (
    tenant_id       text collate "C" not null references awe.tenant on delete cascade,
    endpoint_id     uuid not null default gen_random_uuid(),
    url             text not null check (url ~ '^https?://' and length(url) <= 2048),
    description     text,
    enabled         boolean not null default true,
    disabled_reason text,
    created_at      timestamptz not null default now(),
    primary key (tenant_id, endpoint_id),
    unique (tenant_id, url)
);

-- Secrets are readable only by the worker (no API role is granted this
-- table); during a rotation the old secret signs too until it expires.
create table awe.endpoint_secret (
    tenant_id   text collate "C" not null,
    endpoint_id uuid not null,
    secret_id   uuid not null default gen_random_uuid(),
    secret      text not null check (secret like 'whsec_%'),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz,
    primary key (tenant_id, endpoint_id, secret_id),
    foreign key (tenant_id, endpoint_id) references awe.endpoint on delete cascade
);

-- Domains, not CHECK constraints: see awe.request_status.
create domain awe.delivery_status as text collate "C" check (value in ('pending', 'delivering', 'delivered', 'dead'));
create domain awe.job_status as text collate "C" check (value in ('pending', 'running', 'done', 'failed'));

create table awe.delivery (
    tenant_id        text collate "C" not null,
    delivery_id      bigint generated always as identity,
    -- A request's event (request_id, seq), or a message of its own
    -- (`message`: the whole body, e.g. directory.sync_failed), whose
    -- event_id is the message's id.
    request_id       uuid,
    seq              int,
    event_id         uuid not null,
    event_type       text collate "C" not null,
    endpoint_id      uuid not null,
    url              text not null,
    status           awe.delivery_status not null default 'pending',
    attempts         int not null default 0,
    next_attempt_at  timestamptz not null,
    lease_until      timestamptz,
    first_attempt_at timestamptz,
    last_status      int,
    last_error       text,
    created_at       timestamptz not null,
    delivered_at     timestamptz,
    message          jsonb,
    primary key (tenant_id, delivery_id),
    check ((request_id is not null and seq is not null) or message is not null)
);
-- Due deliveries per endpoint: the worker finds each endpoint's oldest due
-- delivery here, and claims an endpoint's share in due order.
create index delivery_due on awe.delivery (tenant_id, endpoint_id, next_attempt_at) where status = 'pending';
create index delivery_lease on awe.delivery (lease_until) where status = 'delivering';
create index delivery_request on awe.delivery (tenant_id, request_id, seq);
-- Retention (awe.purge_expired): delivered rows by age.
create index delivery_delivered on awe.delivery (delivered_at) where status = 'delivered';
comment on table awe.delivery is 'Outbox: one row per event of a request with a callback (or message of its own), written in its transaction.';

create table awe.resolver_job (
    tenant_id       text collate "C" not null,
    request_id      uuid not null,
    stage_index     int not null,
    revision        int not null,
    url             text not null,
    status          awe.job_status not null default 'pending',
    attempts        int not null default 0,
    next_attempt_at timestamptz not null,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz not null,
    primary key (tenant_id, request_id, stage_index, revision)
);
create index resolver_job_due on awe.resolver_job (next_attempt_at) where status in ('pending', 'running');

create table awe.worker_heartbeat (
    id         int primary key default 1 check (id = 1),
    pid        int,
    started_at timestamptz,
    beat_at    timestamptz,
    delivered  bigint not null default 0,
    failed     bigint not null default 0,
    -- The worker's library version: after an ALTER EXTENSION awe UPDATE
    -- made while the old library is still loaded, it differs from the SQL.
    library_version text
);

-- Endpoint administration. The secret is returned once, at creation or
-- rotation, and never readable through the API afterwards.
create function awe._new_secret() returns text
    language c volatile as 'MODULE_PATHNAME', 'awe_new_secret';

create function awe.register_endpoint(url text, description text default null) returns jsonb
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

create function awe.rotate_endpoint_secret(endpoint_id uuid, overlap interval default '24 hours') returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); s text := awe._new_secret();
begin
    if overlap is null or overlap < interval '0' or overlap > interval '30 days' then
        perform awe._raise('AWE-BAD-INPUT', 'overlap must be between 0 and 30 days');
    end if;
    perform 1 from awe.endpoint e where e.tenant_id = t and e.endpoint_id = rotate_endpoint_secret.endpoint_id for update;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no endpoint %s', endpoint_id));
    end if;
    update awe.endpoint_secret x set expires_at = least(coalesce(x.expires_at, 'infinity'), now() + overlap)
     where x.tenant_id = t and x.endpoint_id = rotate_endpoint_secret.endpoint_id;
    insert into awe.endpoint_secret (tenant_id, endpoint_id, secret) values (t, rotate_endpoint_secret.endpoint_id, s);
    return jsonb_build_object('endpoint_id', endpoint_id, 'secret', s, 'previous_expires_at', now() + overlap);
end $$;

-- Disabling holds the endpoint's deliveries (they wait, visible in
-- awe.delivery_backlog); enabling lets them go out again at once.
create function awe.set_endpoint_enabled(endpoint_id uuid, enabled boolean, reason text default null) returns void
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

create view awe.endpoints with (security_invoker = true) as
select endpoint_id, url, description, enabled, disabled_reason, created_at,
       (select count(*) from awe.endpoint_secret s where s.tenant_id = e.tenant_id and s.endpoint_id = e.endpoint_id
           and (s.expires_at is null or s.expires_at > now())) as active_secrets
  from awe.endpoint e
 where tenant_id = awe.current_tenant();

create view awe.deliveries with (security_invoker = true) as
select delivery_id, request_id, seq, event_id, event_type, endpoint_id, url, status, attempts, next_attempt_at,
       first_attempt_at, last_status, last_error, created_at, delivered_at
  from awe.delivery
 where tenant_id = awe.current_tenant();

-- Replays: dead (or delivered) deliveries go back to pending, with a fresh
-- retry window. Returns how many were queued.
create function awe.replay_deliveries(delivery_id bigint default null, request_id uuid default null,
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

-- Retention, run by the worker every poll with awe.delivery_retention:
-- delivered deliveries older than `delivery_retention` (null: keep them)
-- and idempotency keys past their expiry, at most `max_rows` of each per
-- call. Dead letters stay until someone replays them; events (the audit
-- trail) are never purged.
create function awe.purge_expired(delivery_retention interval, max_rows int default 10000) returns jsonb
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

-- DBA views: backlog by endpoint and state (a disabled endpoint's pending
-- deliveries are held until it is enabled), oldest due, dead letters, worker.
create view awe.delivery_backlog as
select d.tenant_id, d.endpoint_id, d.url, d.status, e.enabled as endpoint_enabled, e.disabled_reason,
       count(*) as deliveries, min(d.next_attempt_at) as oldest_due, max(d.attempts) as max_attempts
  from awe.delivery d
  left join awe.endpoint e on e.tenant_id = d.tenant_id and e.endpoint_id = d.endpoint_id
 where d.status <> 'delivered'
 group by d.tenant_id, d.endpoint_id, d.url, d.status, e.enabled, e.disabled_reason;

create view awe.dead_letters as
select tenant_id, delivery_id, request_id, seq, event_type, url, attempts, last_status, last_error, created_at
  from awe.delivery where status = 'dead';

create view awe.worker_status as
select pid, started_at, beat_at, now() - beat_at as since_last_beat, delivered, failed,
       (select count(*) from awe.delivery where status = 'pending' and next_attempt_at <= now()) as due_now,
       library_version,
       (select extversion from pg_catalog.pg_extension where extname = 'awe') as sql_version,
       library_version is distinct from (select extversion from pg_catalog.pg_extension where extname = 'awe') as version_mismatch
  from awe.worker_heartbeat;

-- Wakes the worker when the current transaction commits.
create function awe._wake_worker() returns void
    language c volatile as 'MODULE_PATHNAME', 'awe_wake_worker';

-- One timer (Rust): fire a task's SLA timer / expire a request, if still due.
create function awe._fire_task_timer(tenant_id text, task_id uuid) returns boolean
    language c volatile as 'MODULE_PATHNAME', 'awe_fire_task_timer';
create function awe._expire_request(tenant_id text, request_id uuid) returns boolean
    language c volatile as 'MODULE_PATHNAME', 'awe_expire_request';

-- Runs due timers (SLA breaches, reminders, escalations, expiry) as of
-- awe.now(). The worker calls exactly this; tests call it with a shifted
-- clock (awe.clock_offset) to run time forward. Tenants with due timers
-- share `max_items` equally, so one tenant's thousands of due timers
-- cannot hold up another's. Each item runs in its own subtransaction: a
-- timer whose request is busy (a lock not taken within lock_timeout, a
-- deadlock) stays due for the next round (`deferred`); one that fails
-- otherwise (a bug) is logged and switched off, never blocking the others.
create function awe.run_due_timers(max_items int default 200) returns jsonb
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

-- Say at once when nothing will deliver this database's webhooks or run its
-- timers: the worker serves one database (awe.database), and exists only
-- when awe is preloaded (only then is awe.database defined).
do $$
begin
    if current_setting('awe.database', true) is null then
        raise warning 'awe is not in shared_preload_libraries: no worker will deliver webhooks or run timers'
            using hint = 'Add awe to shared_preload_libraries and restart PostgreSQL.';
    elsif current_setting('awe.database') <> current_database() then
        raise warning 'the awe worker serves database "%" (awe.database), so webhooks and timers of database "%" will not run',
                      current_setting('awe.database'), current_database()
            using hint = format('Set awe.database = %L in postgresql.conf and restart PostgreSQL.', current_database());
    end if;
end $$;
