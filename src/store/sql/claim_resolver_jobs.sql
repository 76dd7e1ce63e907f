-- Claims up to $2 due resolver jobs of one tenant ($1) with a lease of $3
-- seconds, and returns each with the request as the resolver receives it.
with due as (
    select j.tenant_id, j.request_id, j.stage_index, j.revision
      from awe.resolver_job j
     where j.tenant_id = $1 and j.status in ('pending', 'running') and j.next_attempt_at <= now()
       and (j.lease_until is null or j.lease_until < now())
     order by j.next_attempt_at
     limit $2
       for update skip locked),
claimed as (
    update awe.resolver_job j
       set status = 'running', attempts = j.attempts + 1, lease_until = now() + make_interval(secs => $3)
      from due
     where (j.tenant_id, j.request_id, j.stage_index, j.revision) = (due.tenant_id, due.request_id, due.stage_index, due.revision)
 returning j.request_id, j.stage_index, j.revision, j.url, j.attempts)
select c.request_id::text, c.stage_index, c.revision, c.url, c.attempts,
       jsonb_build_object('request_id', r.request_id, 'tenant', r.tenant_id, 'policy_key', r.policy_key,
                          'policy_version', r.policy_version, 'artifact_type', r.artifact_type,
                          'artifact_id', r.artifact_id, 'requester', r.requester, 'stage_index', c.stage_index,
                          'revision', c.revision, 'context', r.context)::text
  from claimed c
  join awe.request r on r.tenant_id = $1 and r.request_id = c.request_id
