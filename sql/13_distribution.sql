-- awe on Citus: where each table goes, and awe.distribute(), which puts
-- them there (docs/scale-out.md).
--
-- Every tenant table carries tenant_id first in its primary key and in its
-- foreign keys, so all of them are distributed by tenant_id and co-located:
-- one tenant's rows of every table live on one node, and an operation,
-- which touches one tenant, runs there. The tenant list and the role
-- mappings are reference tables (a copy on every node: identity is read
-- where the caller connected). The worker's heartbeat stays on the
-- coordinator, where the worker runs.

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
