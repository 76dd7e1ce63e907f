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
