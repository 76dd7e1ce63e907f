//! Notifications in the shell: after an operation's effects are written,
//! the notices they call for (`awe_core::notify::notices`) go to the
//! channels of the principals concerned, in the same transaction: straight
//! into the webhook outbox, or into the channel's digest queue. A principal
//! without a channel costs nothing but a cached lookup.

use crate::machine::with_machine;
use crate::session::Session;
use crate::settings::{self, text_of};
use crate::store::notify::{self as store, Channel};
use crate::store::request::RequestRow;
use awe_core::model::Effects;
use awe_core::notify::{self, About, Kind, Notice};
use awe_core::policy::Policy;
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::Value;

/// Sends what `effects` call for; `row` is the request as just written.
pub fn after_write(c: &SpiClient<'_>, s: &Session, row: &RequestRow, policy: &Policy, effects: &Effects) -> AweResult<()> {
    let notices = notify::notices(effects);
    if notices.is_empty() {
        return Ok(());
    }
    let principals: Vec<String> = notices.iter().map(|n| n.principal.clone()).collect();
    let channels = store::channels(c, &s.tenant, &principals)?;
    for n in notices {
        if let Some(ch) = channels.get(&n.principal).and_then(|c| c.as_ref()) {
            send(c, s, row, policy, &n, ch)?;
        }
    }
    Ok(())
}

/// One due-soon notice for a task still open (the timer); whether it went.
pub fn due_soon(c: &SpiClient<'_>, s: &Session, row: &RequestRow, policy: &Policy, task_id: &str) -> AweResult<bool> {
    let Some(task) = row.state.tasks.iter().find(|t| t.id == task_id) else { return Ok(false) };
    let channels = store::channels(c, &s.tenant, std::slice::from_ref(&task.assignee))?;
    let Some(ch) = channels.get(&task.assignee).and_then(|c| c.as_ref()) else { return Ok(false) };
    let n = Notice { kind: Kind::DueSoon, task_id: task.id.clone(), principal: task.assignee.clone() };
    send(c, s, row, policy, &n, ch)
}

fn send(c: &SpiClient<'_>, s: &Session, row: &RequestRow, policy: &Policy, n: &Notice, ch: &Channel) -> AweResult<bool> {
    if !notify::wants(ch.kinds.as_deref(), n.kind) {
        return Ok(false);
    }
    let Some(task) = row.state.tasks.iter().find(|t| t.id == n.task_id) else { return Ok(false) };
    // What the principal may do with it now: the engine's own answer.
    let (actions, _, _) = with_machine(c, s, policy, row.state.clone(), |m| m.action_views(&task.id, &n.principal))?;
    let console = text_of(&settings::CONSOLE_URL);
    let about = About {
        tenant: &s.tenant,
        principal: &n.principal,
        task,
        stage: policy.stages.get(task.stage).map(|st| st.name.as_str()),
        request_id: &row.id,
        request_status: row.state.status.as_str(),
        policy_key: &row.policy_key,
        artifact_type: &row.artifact_type,
        artifact_id: &row.artifact_id,
        requester: row.requester.as_deref(),
        summary: row.summary.as_ref(),
        actions: serde_json::to_value(actions).unwrap_or(Value::Null),
        link: notify::link(console.as_deref(), &row.id),
    };
    let body = notify::message(n.kind, &about, &awe_core::time::rfc3339(s.now));
    if ch.digest {
        store::hold_for_digest(c, &s.tenant, &n.principal, body)?;
    } else {
        store::queue(c, &s.tenant, &row.id, ch, n.kind.as_str(), body)?;
    }
    Ok(true)
}
