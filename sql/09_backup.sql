-- pg_dump and awe's data.
--
-- awe's tables belong to the extension, and pg_dump writes an extension's
-- tables as part of its CREATE EXTENSION, without their rows, unless the
-- table is registered here. Without this a logical backup of a database
-- using awe would restore every policy, request, task and event as empty.
-- pg_dump loads the rows after CREATE EXTENSION, in foreign-key order.
-- Not registered: worker_heartbeat (the restored cluster's worker writes
-- its own).
-- One call per statement: each call rewrites the extension's catalog row.
do $$
declare t text;
begin
    foreach t in array array['tenant', 'tenant_role', 'principal', 'role_grant', 'group_member', 'delegation', 'policy',
                             'policy_version', 'request', 'task', 'event', 'idempotency_key', 'endpoint', 'endpoint_secret',
                             'delivery', 'delivery_delivery_id_seq', 'resolver_job'] loop
        perform pg_catalog.pg_extension_config_dump(('awe.' || t)::regclass, '');
    end loop;
end $$;
