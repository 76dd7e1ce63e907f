//! Webhook deliveries: claiming fairly across endpoints, turning claimed
//! rows into signed calls, and recording what the receivers answered.
//!
//! Fairness: each claim walks the enabled endpoints that have due work in
//! round-robin order from where the last claim stopped, and gives each one
//! an equal share of the room the HTTP threads have (never more than its
//! lane holds). One endpoint's backlog, however long, is one endpoint's
//! share; a disabled endpoint's backlog is never read.

use super::http::{unix_us, Answer};
use crate::store::delivery::{self, ClaimedBody, ClaimedDelivery, DueEndpoint, Outcome};
use awe_core::webhook::{self, EventForBody, Verdict};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use std::collections::BTreeMap;

/// A claimed delivery with everything needed to send it.
pub struct Delivery {
    pub tenant: String,
    pub id: i64,
    pub endpoint_id: String,
    pub url: String,
    pub attempts: i32,
    pub first_attempt_us: i64,
    pub event_id: String,
    pub body: String,
    pub secrets: Vec<String>,
}

/// What a delivery needs for recording once its call is done.
pub struct DeliveryKey {
    pub tenant: String,
    pub id: i64,
    pub endpoint_id: String,
    pub url: String,
    pub attempts: i32,
    pub first_attempt_us: i64,
}

pub struct Sent {
    pub delivery: DeliveryKey,
    pub answer: Answer,
}

impl Delivery {
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            tenant: self.tenant.clone(), id: self.id, endpoint_id: self.endpoint_id.clone(), url: self.url.clone(),
            attempts: self.attempts, first_attempt_us: self.first_attempt_us,
        }
    }

    fn from_claimed(due: &DueEndpoint, c: ClaimedDelivery) -> Delivery {
        let body = match c.body {
            ClaimedBody::Message(message) => message,
            ClaimedBody::Event(e) => webhook::body(&EventForBody {
                kind: &e.event_type, created_at: e.event_created_us, event_id: &c.event_id, seq: e.seq, tenant: &due.tenant,
                request_id: &e.request_id, policy_key: &e.policy_key, policy_version: e.policy_version,
                artifact_type: &e.artifact_type, artifact_id: &e.artifact_id, status: &e.status, actor: &e.actor,
                stage_index: e.stage_index, task_id: e.task_id.as_deref(), data: &e.data,
                hash: &e.hash, prev_hash: e.prev_hash.as_deref(),
            }),
        };
        Delivery {
            tenant: due.tenant.clone(), id: c.delivery_id, endpoint_id: due.endpoint_id.clone(), url: c.url,
            attempts: c.attempts, first_attempt_us: c.first_attempt_us, event_id: c.event_id, body, secrets: c.secrets,
        }
    }
}

/// Where the last claim stopped, so the next one starts with the endpoint after it.
#[derive(Default)]
pub struct Cursor(Option<DueEndpoint>);

/// Claims up to `want` deliveries: every endpoint with due work (up to
/// `want` of them, round-robin) gets an equal share of `want`, bounded by
/// the room its lane has (`lane_limit` minus what it `held`).
pub fn claim(c: &SpiClient<'_>, cursor: &mut Cursor, want: usize, lane_limit: usize, held: &[(String, usize)], lease_secs: i64) -> AweResult<Vec<Delivery>> {
    let full: Vec<String> = held.iter().filter(|(_, n)| *n >= lane_limit).map(|(e, _)| e.clone()).collect();
    let endpoints = delivery::due_endpoints(c, cursor.0.as_ref(), &full, want.max(1) as i32)?;
    let mut out = Vec::new();
    let mut left = want;
    for (i, due) in endpoints.iter().enumerate() {
        if left == 0 {
            break;
        }
        let room = lane_limit.saturating_sub(held.iter().find(|(e, _)| *e == due.endpoint_id).map_or(0, |(_, n)| *n));
        // An equal share of what is left among the endpoints still to serve.
        let share = left.div_ceil(endpoints.len() - i).min(room);
        if share == 0 {
            continue;
        }
        let claimed = delivery::claim(c, due, share as i32, lease_secs)?;
        left -= claimed.len();
        cursor.0 = Some(due.clone());
        out.extend(claimed.into_iter().map(|d| Delivery::from_claimed(due, d)));
    }
    Ok(out)
}

/// Records finished deliveries: one statement per tenant, endpoints that
/// answered 410 disabled, and the heartbeat's counters.
pub fn record(c: &SpiClient<'_>, sent: Vec<Sent>) -> AweResult<()> {
    let now = unix_us();
    let mut by_tenant: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    let (mut delivered, mut failed) = (0i64, 0i64);
    for s in sent {
        let d = &s.delivery;
        let (status, next_at_us) = match webhook::verdict(s.answer.status) {
            Verdict::Delivered => ("delivered", None),
            Verdict::Gone => {
                delivery::disable_gone_endpoint(c, &d.tenant, &d.endpoint_id, &d.url)?;
                ("dead", None)
            }
            Verdict::Retry => match webhook::next_attempt_at(d.attempts, d.first_attempt_us, now, s.answer.retry_after_ms, d.id as u64) {
                Some(at) => ("pending", Some(at)),
                None => ("dead", None),
            },
        };
        if status == "delivered" { delivered += 1 } else { failed += 1 }
        by_tenant.entry(d.tenant.clone()).or_default().push(Outcome {
            delivery_id: d.id, status, http_status: s.answer.status.map(i32::from), error: s.answer.error, next_at_us, finished_us: now,
        });
    }
    for (tenant, outcomes) in by_tenant {
        delivery::record(c, &tenant, &outcomes)?;
    }
    delivery::count_in_heartbeat(c, delivered, failed)
}

/// Takes back claims left by a worker that died (`all`, at start) or hung
/// (leases that ran out). Returns how many deliveries are due again.
pub fn release_stale_claims(c: &SpiClient<'_>, all: bool) -> AweResult<i64> {
    let mut n = 0;
    for tenant in delivery::tenants_with_stale_claims(c, all)? {
        n += delivery::release_claims(c, &tenant, all)?;
    }
    Ok(n)
}
