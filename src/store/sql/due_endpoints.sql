-- Enabled endpoints with a due delivery, in (tenant, endpoint) order from
-- just after the worker's round-robin cursor ($1, $2), wrapping around, at
-- most $4, leaving out endpoints whose lane is full ($3). It reads one
-- index entry per enabled endpoint it passes, never a backlog, and never
-- looks at a disabled endpoint's deliveries. No rows are locked: each
-- endpoint's deliveries are then claimed by a statement of their own tenant.
-- (awe:all-tenants: the worker's round robin over every tenant's endpoints.)
select x.tenant_id, x.endpoint_id
  from ((select e.tenant_id, e.endpoint_id::text
           from awe.endpoint e
          where e.enabled and (e.tenant_id, e.endpoint_id) > ($1, $2) and e.endpoint_id <> all ($3)
            and exists (select 1 from awe.delivery d
                         where d.tenant_id = e.tenant_id and d.endpoint_id = e.endpoint_id
                           and d.status = 'pending' and d.next_attempt_at <= now())
          order by e.tenant_id, e.endpoint_id
          limit $4)
        union all
        (select e.tenant_id, e.endpoint_id::text
           from awe.endpoint e
          where e.enabled and (e.tenant_id, e.endpoint_id) <= ($1, $2) and e.endpoint_id <> all ($3)
            and exists (select 1 from awe.delivery d
                         where d.tenant_id = e.tenant_id and d.endpoint_id = e.endpoint_id
                           and d.status = 'pending' and d.next_attempt_at <= now())
          order by e.tenant_id, e.endpoint_id
          limit $4)) x
 limit $4
