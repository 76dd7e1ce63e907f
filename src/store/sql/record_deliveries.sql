-- Records the outcome of one tenant's ($1) finished deliveries: delivered,
-- pending again (with the next attempt's time) or dead. Only rows still
-- claimed are touched, so a late result never overwrites a replay.
update awe.delivery d
   set status = x.status, last_status = x.code, last_error = x.err, lease_until = null,
       next_attempt_at = coalesce(x.next_at, d.next_attempt_at),
       delivered_at = case when x.status = 'delivered' then x.finished_at else d.delivered_at end
  from unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[])
       as x(delivery_id, status, code, err, next_at, finished_at)
 where d.tenant_id = $1 and d.delivery_id = x.delivery_id and d.status = 'delivering'
