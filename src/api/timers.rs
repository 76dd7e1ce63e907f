//! `awe.run_due_timers()`: SLA breaches, reminders, escalations and expiry
//! as of awe.now(). The worker calls it every tick; tests call it with a
//! shifted clock, so both take the same path. Each item is handled in the
//! caller's transaction under the request's row lock, so a timer fires once
//! even if the worker dies part-way (its transaction rolls back whole).

use super::request::operate;
use crate::fmgr::{jsonb, Args};
use crate::store::{big, first, i, req, run, t, Session};
use awe_core::model::{RequestStatus, SYSTEM_ACTOR};
use awe_core::AweResult;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::json;

crate::entry!(pg_finfo_awe_run_due_timers, awe_run_due_timers, run_due_timers);

/// Takes the request's lock unless another transaction holds it (a busy
/// request is simply handled on the next tick).
fn try_lock(c: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<bool> {
    Ok(first(c, "select 1 from awe.request where tenant_id = $1 and request_id = $2::uuid for update skip locked",
        &[t(tenant), t(request_id)])?.is_some())
}

fn run_due_timers(a: &Args) -> AweResult<pgrx::JsonB> {
    let max = a.int(0).unwrap_or(200).clamp(1, 10_000);
    Spi::connect_mut(|c| {
        let now = crate::identity::now_us(c)?;
        let (mut breached, mut expired) = (0, 0);
        let due: Vec<(String, String, String, i32)> = run(c,
            "select tenant_id, task_id::text, request_id::text, reminders_sent from awe.task
              where status = 'open' and timer_at <= awe._from_us($1) order by timer_at limit $2",
            &[big(now), i(max)])?
            .map(|r| Ok((req(&r, 1)?, req(&r, 2)?, req(&r, 3)?, req(&r, 4)?)))
            .collect::<AweResult<_>>()?;
        for (tenant, task_id, request_id, reminders) in due {
            if !try_lock(c, &tenant, &request_id)? {
                continue;
            }
            let s = Session { tenant: tenant.clone(), actor: SYSTEM_ACTOR.into(), now };
            let (next, _, _) = operate(c, &s, &request_id, None, |m, _| m.breach(&task_id, reminders as u32))?;
            run(c, "update awe.task set timer_at = awe._from_us($3), reminders_sent = reminders_sent + case when $3 is null then 0 else 1 end
                     where tenant_id = $1 and task_id = $2::uuid",
                &[t(&tenant), t(&task_id), match next { Some(v) => big(v), None => pgrx::datum::DatumWithOid::null::<i64>() }])?;
            breached += 1;
        }
        let expiring: Vec<(String, String)> = run(c,
            "select tenant_id, request_id::text from awe.request
              where expires_at <= awe._from_us($1) and status in ('pending', 'in_review', 'changes_requested')
              order by expires_at limit $2",
            &[big(now), i(max)])?
            .map(|r| Ok((req(&r, 1)?, req(&r, 2)?)))
            .collect::<AweResult<_>>()?;
        for (tenant, request_id) in expiring {
            if !try_lock(c, &tenant, &request_id)? {
                continue;
            }
            let s = Session { tenant, actor: SYSTEM_ACTOR.into(), now };
            operate(c, &s, &request_id, None, |m, _| m.terminate(RequestStatus::Expired, "request.expired", SYSTEM_ACTOR, "expires_after passed"))?;
            expired += 1;
        }
        Ok(jsonb(json!({"breached": breached, "expired": expired})))
    })
}
