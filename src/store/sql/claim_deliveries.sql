-- Claims up to $3 due deliveries of one endpoint ($1 tenant, $2 endpoint),
-- oldest due first, with a lease of $4 seconds, and returns what sending
-- them needs: the event and its request (or the message), and the
-- endpoint's live secrets.
-- Every table is read and locked for this one tenant only. $5 is now():
-- Citus refuses a function that is not IMMUTABLE inside COALESCE.
with due as (
    select d.tenant_id, d.delivery_id
      from awe.delivery d
     where d.tenant_id = $1 and d.endpoint_id = $2 and d.status = 'pending' and d.next_attempt_at <= now()
     order by d.next_attempt_at
     limit $3
       for update skip locked),
claimed as (
    update awe.delivery d
       set status = 'delivering', lease_until = now() + make_interval(secs => $4),
           attempts = d.attempts + 1, first_attempt_at = coalesce(d.first_attempt_at, $5)
      from due
     where d.tenant_id = due.tenant_id and d.delivery_id = due.delivery_id
 returning d.delivery_id, d.request_id, d.seq, d.url, d.attempts, d.first_attempt_at, d.event_id, d.event_type, d.message)
select c.delivery_id, c.url, c.attempts, c.first_attempt_at, c.event_id::text, c.event_type, e.created_at, e.seq,
       e.actor, e.stage_index, e.task_id::text, e.status, e.data::text, e.prev_hash, e.hash,
       r.request_id::text, r.policy_key, r.policy_version, r.artifact_type, r.artifact_id, s.secrets, c.message::text,
       r.summary::text
  from claimed c
  -- A message of its own (c.message) has no event and perhaps no request.
  left join awe.event e on c.message is null and e.tenant_id = $1 and e.request_id = c.request_id and e.seq = c.seq
  left join awe.request r on c.message is null and r.tenant_id = $1 and r.request_id = c.request_id
  cross join lateral (
        select coalesce(array_agg(x.secret order by x.created_at desc), '{}') as secrets
          from awe.endpoint_secret x
         where x.tenant_id = $1 and x.endpoint_id = $2 and (x.expires_at is null or x.expires_at > now())) s
