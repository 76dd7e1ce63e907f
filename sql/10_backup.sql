-- pg_dump and awe's data.
--
-- awe's tables belong to the extension, and pg_dump writes an extension's
-- tables as part of its CREATE EXTENSION, without their rows, unless the
-- table is registered here. Without this a logical backup of a database
-- using awe would restore every policy, request, task and event as empty.
-- pg_dump loads the rows after CREATE EXTENSION, in foreign-key order.
-- Registered: every table and sequence in schema awe (all the extension's,
-- so a table added later is covered too), except worker_heartbeat (the
-- restored cluster's worker writes its own).
-- One call per statement: each call rewrites the extension's catalog row.
do $$
declare t regclass;
begin
    for t in select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = 'awe' and c.relkind in ('r', 'S') and c.relname <> 'worker_heartbeat' loop
        perform pg_catalog.pg_extension_config_dump(t, '');
    end loop;
end $$;
