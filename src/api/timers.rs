//! One timer at a time: an SLA breach (notify, remind, escalate, auto
//! decisions) or an expiry, each under its request's row lock and
//! re-checked once locked, so a timer fires once even with concurrent runs
//! or a worker that dies part-way. awe.run_due_timers() (sql/06_worker.sql)
//! loops over what is due, isolating each item in a subtransaction.

use crate::fmgr::Args;
use crate::operate::operate;
use crate::session::Session;
use crate::store::{arg, first, required, run};
use awe_core::model::{RequestStatus, SYSTEM_ACTOR};
use awe_core::AweResult;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

crate::entry!(pg_finfo_awe_fire_task_timer, awe_fire_task_timer, fire_task_timer);
crate::entry!(pg_finfo_awe_expire_request, awe_expire_request, expire_request);

/// Takes the request's lock unless another transaction holds it (a busy
/// request is simply handled on the next tick).
fn try_lock(c: &SpiClient<'_>, tenant: &str, request_id: &str) -> AweResult<bool> {
    Ok(first(c, "select 1 from awe.request where tenant_id = $1 and request_id = $2 for update skip locked",
        &[arg::text(tenant), arg::uuid(request_id)])?.is_some())
}

/// Fires one task's SLA timer if it is still due once its request is
/// locked (a concurrent run may have fired it already). `false` when it was
/// not fired (busy, or no longer due).
fn fire_task_timer(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let task_id = a.uuid(1, "task_id")?;
    Spi::connect_mut(|c| {
        let now = crate::session::now_us(c)?;
        let Some(row) = first(c, "select request_id::text from awe.task where tenant_id = $1 and task_id = $2", &[arg::text(&tenant), arg::uuid(&task_id)])? else {
            return Ok(false);
        };
        let request_id: String = required(&row, 1)?;
        if !try_lock(c, &tenant, &request_id)? {
            return Ok(false);
        }
        let Some(due) = first(c, "select reminders_sent from awe.task where tenant_id = $1 and task_id = $2
                                     and status = 'open' and timer_at <= $3",
            &[arg::text(&tenant), arg::uuid(&task_id), arg::timestamptz(now)])? else {
            return Ok(false);
        };
        let reminders: i32 = required(&due, 1)?;
        let s = Session { tenant: tenant.clone(), actor: SYSTEM_ACTOR.into(), now };
        let (next, _, _) = operate(c, &s, crate::store::request::Target::Request(&request_id), |m, _| m.breach(&task_id, reminders as u32))?;
        // Past its SLA, a task is no longer "due soon".
        run(c, "update awe.task set timer_at = $3, reminders_sent = reminders_sent + $4, notify_at = null
                 where tenant_id = $1 and task_id = $2",
            &[arg::text(&tenant), arg::uuid(&task_id), arg::opt_timestamptz(next), arg::int(next.is_some() as i32)])?;
        Ok(true)
    })
}

/// Expires one request if it is still open and past `expires_at` once locked.
fn expire_request(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let request_id = a.uuid(1, "request_id")?;
    Spi::connect_mut(|c| {
        let now = crate::session::now_us(c)?;
        if !try_lock(c, &tenant, &request_id)? {
            return Ok(false);
        }
        let still = first(c, "select 1 from awe.request where tenant_id = $1 and request_id = $2 and expires_at <= $3
                                and status in ('pending', 'in_review', 'changes_requested')",
            &[arg::text(&tenant), arg::uuid(&request_id), arg::timestamptz(now)])?;
        if still.is_none() {
            return Ok(false);
        }
        let s = Session { tenant, actor: SYSTEM_ACTOR.into(), now };
        operate(c, &s, crate::store::request::Target::Request(&request_id), |m, _| m.terminate(RequestStatus::Expired, "request.expired", SYSTEM_ACTOR, "expires_after passed"))?;
        Ok(true)
    })
}

crate::entry!(pg_finfo_awe_task_due_soon, awe_task_due_soon, task_due_soon);

/// `awe._task_due_soon(tenant, task_id)`: the task's due-soon notification,
/// if it is still open and its assignee has a channel for it; its
/// notify_at is cleared either way (one notice per task).
fn task_due_soon(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let task_id = a.uuid(1, "task_id")?;
    Spi::connect_mut(|c| {
        // The request's lock first, as every timer takes it: a busy request
        // is handled on the next tick.
        let request_id = request_of(c, &tenant, &task_id)?;
        if !try_lock(c, &tenant, &request_id)? {
            return Ok(false);
        }
        run(c, "update awe.task set notify_at = null where tenant_id = $1 and task_id = $2", &[arg::text(&tenant), arg::uuid(&task_id)])?;
        let s = Session { tenant: tenant.clone(), actor: SYSTEM_ACTOR.into(), now: crate::session::now_us(c)? };
        let (row, policy) = crate::operate::load_unlocked(c, &s, &request_id)?;
        if row.state.status.is_terminal() {
            return Ok(false);
        }
        crate::notify::due_soon(c, &s, &row, &policy, &task_id)
    })
}

fn request_of(c: &SpiClient<'_>, tenant: &str, task_id: &str) -> AweResult<String> {
    let row = first(c, "select request_id::text from awe.task where tenant_id = $1 and task_id = $2", &[arg::text(tenant), arg::uuid(task_id)])?
        .ok_or_else(|| awe_core::AweError::new(awe_core::Code::TaskNotFound, format!("task {task_id} not found")))?;
    required(&row, 1)
}
