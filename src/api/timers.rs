//! One timer at a time: an SLA breach (notify, remind, escalate, auto
//! decisions) or an expiry, each under its request's row lock and
//! re-checked once locked, so a timer fires once even with concurrent runs
//! or a worker that dies part-way. awe.run_due_timers() (sql/06_worker.sql)
//! loops over what is due, isolating each item in a subtransaction.

use super::request::operate;
use crate::fmgr::Args;
use crate::store::{big, first, req, run, t, u, Session};
use awe_core::model::{RequestStatus, SYSTEM_ACTOR};
use awe_core::AweResult;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

crate::entry!(pg_finfo_awe_fire_task_timer, awe_fire_task_timer, fire_task_timer);
crate::entry!(pg_finfo_awe_expire_request, awe_expire_request, expire_request);

/// Takes the request's lock unless another transaction holds it (a busy
/// request is simply handled on the next tick).
fn try_lock(c: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<bool> {
    Ok(first(c, "select 1 from awe.request where tenant_id = $1 and request_id = $2::uuid for update skip locked",
        &[t(tenant), u(request_id)])?.is_some())
}

/// Fires one task's SLA timer if it is still due once its request is
/// locked (a concurrent run may have fired it already). `false` when it was
/// not fired (busy, or no longer due).
fn fire_task_timer(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let task_id = a.uuid(1, "task_id")?;
    Spi::connect_mut(|c| {
        let now = crate::identity::now_us(c)?;
        let Some(row) = first(c, "select request_id::text from awe.task where tenant_id = $1 and task_id = $2::uuid", &[t(&tenant), u(&task_id)])? else {
            return Ok(false);
        };
        let request_id: String = req(&row, 1)?;
        if !try_lock(c, &tenant, &request_id)? {
            return Ok(false);
        }
        let Some(due) = first(c, "select reminders_sent from awe.task where tenant_id = $1 and task_id = $2::uuid
                                     and status = 'open' and timer_at <= awe._from_us($3)",
            &[t(&tenant), u(&task_id), big(now)])? else {
            return Ok(false);
        };
        let reminders: i32 = req(&due, 1)?;
        let s = Session { tenant: tenant.clone(), actor: SYSTEM_ACTOR.into(), now };
        let (next, _, _) = operate(c, &s, crate::store::request::Target::Request(&request_id), None, |m, _| m.breach(&task_id, reminders as u32))?;
        run(c, "update awe.task set timer_at = awe._from_us($3), reminders_sent = reminders_sent + case when $3 is null then 0 else 1 end
                 where tenant_id = $1 and task_id = $2::uuid",
            &[t(&tenant), u(&task_id), match next { Some(v) => big(v), None => pgrx::datum::DatumWithOid::null::<i64>() }])?;
        Ok(true)
    })
}

/// Expires one request if it is still open and past `expires_at` once locked.
fn expire_request(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let request_id = a.uuid(1, "request_id")?;
    Spi::connect_mut(|c| {
        let now = crate::identity::now_us(c)?;
        if !try_lock(c, &tenant, &request_id)? {
            return Ok(false);
        }
        let still = first(c, "select 1 from awe.request where tenant_id = $1 and request_id = $2::uuid and expires_at <= awe._from_us($3)
                                and status in ('pending', 'in_review', 'changes_requested')",
            &[t(&tenant), u(&request_id), big(now)])?;
        if still.is_none() {
            return Ok(false);
        }
        let s = Session { tenant, actor: SYSTEM_ACTOR.into(), now };
        operate(c, &s, crate::store::request::Target::Request(&request_id), None, |m, _| m.terminate(RequestStatus::Expired, "request.expired", SYSTEM_ACTOR, "expires_after passed"))?;
        Ok(true)
    })
}
