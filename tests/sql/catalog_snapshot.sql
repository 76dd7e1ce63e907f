-- Everything the awe extension defines, as stable, sorted text: one line
-- per object or property. The upgrade test takes it of a database upgraded
-- from an older release and of a fresh install of the current one, and they
-- must be identical. (pg_dump --schema-only cannot serve here: it dumps an
-- extension as one CREATE EXTENSION statement, never its member objects.)
-- OIDs never appear; names, types and definitions do.
with ext as (
    select objid, classid from pg_depend
     where refclassid = 'pg_extension'::regclass and deptype = 'e'
       and refobjid = (select oid from pg_extension where extname = 'awe')
),
lines(line) as (
    -- schemas
    select 'schema ' || nspname || ' acl=' || coalesce(nspacl::text, '') || ' comment=' || coalesce(obj_description(oid, 'pg_namespace'), '')
      from pg_namespace where nspname in ('awe', 'awe_api')
    union all
    -- relations: tables, views, sequences, types' relations, with options
    select format('relation %s kind=%s persistence=%s options=%s rls=%s force=%s acl=%s comment=%s',
                  c.oid::regclass, c.relkind, c.relpersistence, coalesce(c.reloptions::text, ''), c.relrowsecurity,
                  c.relforcerowsecurity, coalesce(c.relacl::text, ''), coalesce(obj_description(c.oid, 'pg_class'), ''))
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('awe', 'awe_api') and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
    union all
    -- columns
    select format('column %s.%s %s notnull=%s default=%s collation=%s identity=%s generated=%s acl=%s',
                  c.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(co.collname, ''), a.attidentity, a.attgenerated,
                  coalesce(a.attacl::text, ''))
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      left join pg_collation co on co.oid = a.attcollation and a.attcollation <> 100
     where n.nspname in ('awe', 'awe_api') and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v', 'm', 'c', 'f')
    union all
    -- constraints
    select format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      from pg_constraint where connamespace in (select oid from pg_namespace where nspname in ('awe', 'awe_api')) and conrelid <> 0
    union all
    -- indexes
    select 'index ' || pg_get_indexdef(i.indexrelid)
      from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('awe', 'awe_api')
    union all
    -- views
    select format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid, true))
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('awe', 'awe_api') and c.relkind in ('v', 'm')
    union all
    -- functions, whole (body, volatility, security, settings), with grants
    select format('function %s acl=%s comment=%s %s', p.oid::regprocedure, coalesce(p.proacl::text, ''),
                  coalesce(obj_description(p.oid, 'pg_proc'), ''), pg_get_functiondef(p.oid))
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('awe', 'awe_api') and p.prokind in ('f', 'p', 'w')
    union all
    select format('aggregate %s', p.oid::regprocedure)
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('awe', 'awe_api') and p.prokind = 'a'
    union all
    -- triggers
    select 'trigger ' || pg_get_triggerdef(t.oid)
      from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('awe', 'awe_api') and not t.tgisinternal
    union all
    -- row-level security policies
    select format('policy %s.%s %s roles=%s using=%s check=%s', schemaname, tablename, policyname, roles::text,
                  coalesce(qual, ''), coalesce(with_check, ''))
      from pg_policies where schemaname in ('awe', 'awe_api')
    union all
    -- types and domains
    select format('type %s type=%s base=%s constraints=%s', t.oid::regtype, t.typtype, coalesce(format_type(t.typbasetype, t.typtypmod), ''),
                  coalesce((select string_agg(pg_get_constraintdef(c.oid), ' and ' order by c.conname) from pg_constraint c where c.contypid = t.oid), ''))
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
     where n.nspname in ('awe', 'awe_api') and t.typtype in ('d', 'e', 'c') and t.typrelid = 0 or
           n.nspname in ('awe', 'awe_api') and t.typtype = 'd'
    union all
    -- what belongs to the extension (pg_dump, ALTER EXTENSION … DROP)
    select 'member ' || pg_describe_object(classid, objid, 0) from ext
    union all
    -- tables pg_dump dumps the rows of
    select 'dumped ' || t::regclass || ' ' || coalesce(c, '')
      from pg_extension e, unnest(e.extconfig, e.extcondition) as u(t, c)
     where e.extname = 'awe'
    union all
    -- roles awe creates, and who is a member of which
    select format('role %s login=%s member_of=%s', r.rolname, r.rolcanlogin,
                  (select string_agg(g.rolname, ',' order by g.rolname) from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid))
      from pg_roles r where r.rolname like 'awe\_%'
)
select line from lines order by line;
