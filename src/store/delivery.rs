//! The webhook outbox as the worker uses it: which endpoints have due work,
//! claiming one endpoint's deliveries, recording outcomes, and taking back
//! claims a dead worker left. Every statement that locks or writes rows
//! works on one tenant's rows.

use super::{arg, column, first, json_column, required, run, unix_us_column};
use awe_core::AweResult;
use pgrx::spi::SpiClient;

/// An endpoint with due deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEndpoint {
    pub tenant: String,
    pub endpoint_id: String,
}

/// Up to `limit` enabled endpoints with due deliveries, round-robin from
/// just after `after`, leaving out the endpoints in `full`.
pub fn due_endpoints(c: &SpiClient<'_>, after: Option<&DueEndpoint>, full: &[String], limit: i32) -> AweResult<Vec<DueEndpoint>> {
    let (tenant, endpoint) = match after {
        Some(e) => (e.tenant.as_str(), e.endpoint_id.as_str()),
        None => ("", "00000000-0000-0000-0000-000000000000"),
    };
    let full: Vec<pgrx::Uuid> = full.iter().filter_map(|e| uuid::Uuid::parse_str(e).ok()).map(|u| pgrx::Uuid::from_bytes(u.into_bytes())).collect();
    run(c, include_str!("sql/due_endpoints.sql"), &[arg::text(tenant), arg::uuid(endpoint), arg::array(full), arg::int(limit)])?
        .map(|r| Ok(DueEndpoint { tenant: required(&r, 1)?, endpoint_id: required(&r, 2)? }))
        .collect()
}

/// A claimed delivery: a request's event, or a message of its own.
pub struct ClaimedDelivery {
    pub delivery_id: i64,
    pub url: String,
    pub attempts: i32,
    pub first_attempt_us: i64,
    /// The event's id, or the message's.
    pub event_id: String,
    pub body: ClaimedBody,
    /// The endpoint's live secrets, newest first.
    pub secrets: Vec<String>,
}

pub enum ClaimedBody {
    Event(Box<ClaimedEvent>),
    /// The whole body, as queued.
    Message(String),
}

/// An event and its request, as stored.
pub struct ClaimedEvent {
    pub event_type: String,
    pub event_created_us: i64,
    pub seq: i32,
    pub actor: String,
    pub stage_index: Option<i32>,
    pub task_id: Option<String>,
    pub status: String,
    pub data: serde_json::Value,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Vec<u8>,
    pub request_id: String,
    pub policy_key: String,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub summary: Option<serde_json::Value>,
}

/// Claims up to `limit` due deliveries of one endpoint with a lease.
pub fn claim(c: &SpiClient<'_>, due: &DueEndpoint, limit: i32, lease_secs: i64) -> AweResult<Vec<ClaimedDelivery>> {
    let rows = run(c, include_str!("sql/claim_deliveries.sql"),
        &[arg::text(&due.tenant), arg::uuid(&due.endpoint_id), arg::int(limit), arg::bigint(lease_secs),
          arg::timestamptz(super::transaction_start_us())])?;
    rows.map(|r| {
        let body = match column::<String>(&r, 22)? {
            Some(message) => ClaimedBody::Message(message),
            None => ClaimedBody::Event(Box::new(ClaimedEvent {
                event_type: required(&r, 6)?,
                event_created_us: unix_us_column(&r, 7)?.unwrap_or_default(),
                seq: required(&r, 8)?,
                actor: required(&r, 9)?,
                stage_index: column(&r, 10)?,
                task_id: column(&r, 11)?,
                status: required(&r, 12)?,
                data: json_column(&r, 13)?,
                prev_hash: column(&r, 14)?,
                hash: required(&r, 15)?,
                request_id: required(&r, 16)?,
                policy_key: required(&r, 17)?,
                policy_version: required(&r, 18)?,
                artifact_type: required(&r, 19)?,
                artifact_id: required(&r, 20)?,
                summary: column::<String>(&r, 23)?.and_then(|t| serde_json::from_str(&t).ok()),
            })),
        };
        Ok(ClaimedDelivery {
            delivery_id: required(&r, 1)?,
            url: required(&r, 2)?,
            attempts: required(&r, 3)?,
            first_attempt_us: unix_us_column(&r, 4)?.unwrap_or_default(),
            event_id: required(&r, 5)?,
            body,
            secrets: column::<Vec<String>>(&r, 21)?.unwrap_or_default(),
        })
    }).collect()
}

/// What became of one delivery.
pub struct Outcome {
    pub delivery_id: i64,
    /// `delivered`, `pending` (retry at `next_at`) or `dead`.
    pub status: &'static str,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub next_at_us: Option<i64>,
    pub finished_us: i64,
}

/// Records one tenant's outcomes in one statement.
pub fn record(c: &SpiClient<'_>, tenant: &str, outcomes: &[Outcome]) -> AweResult<()> {
    run(c, include_str!("sql/record_deliveries.sql"), &[
        arg::text(tenant),
        arg::array(outcomes.iter().map(|o| o.delivery_id).collect::<Vec<_>>()),
        arg::array(outcomes.iter().map(|o| o.status.to_string()).collect::<Vec<_>>()),
        arg::array(outcomes.iter().map(|o| o.http_status).collect::<Vec<_>>()),
        arg::array(outcomes.iter().map(|o| o.error.clone()).collect::<Vec<_>>()),
        arg::timestamptz_array(outcomes.iter().map(|o| o.next_at_us).collect()),
        arg::timestamptz_array(outcomes.iter().map(|o| Some(o.finished_us)).collect()),
    ])?;
    Ok(())
}

/// 410 Gone: the endpoint is disabled; its other deliveries wait (still
/// pending) until an admin enables it again.
pub fn disable_gone_endpoint(c: &SpiClient<'_>, tenant: &str, endpoint_id: &str, url: &str) -> AweResult<()> {
    run(c, "update awe.endpoint set enabled = false, disabled_reason = '410 Gone from ' || $3
             where tenant_id = $1 and endpoint_id = $2 and enabled",
        &[arg::text(tenant), arg::uuid(endpoint_id), arg::text(url)])?;
    super::watch::changed(c, "awe.endpoint")
}

/// Counts the worker's deliveries for `awe.worker_status`.
pub fn count_in_heartbeat(c: &SpiClient<'_>, delivered: i64, failed: i64) -> AweResult<()> {
    run(c, "update awe.worker_heartbeat set delivered = delivered + $1, failed = failed + $2 where id = 1",
        &[arg::bigint(delivered), arg::bigint(failed)])?;
    Ok(())
}

/// Tenants with claimed deliveries to take back: every claim when the
/// worker starts (its predecessor is gone), else claims whose lease ran out
/// (a worker that hung).
pub fn tenants_with_stale_claims(c: &SpiClient<'_>, all: bool) -> AweResult<Vec<String>> {
    run(c, "select distinct tenant_id from awe.delivery /* awe:all-tenants: which tenants have claims */
             where status = 'delivering' and ($1 or lease_until < now()) limit 1000",
        &[arg::boolean(all)])?
        .map(|r| required(&r, 1)).collect()
}

/// Puts one tenant's stale claims back in the queue, in their old place
/// (their due time is kept, so they go out before what came due after
/// them). A delivery whose call may have reached the receiver is sent again
/// with the same webhook-id: at least once.
pub fn release_claims(c: &SpiClient<'_>, tenant: &str, all: bool) -> AweResult<i64> {
    let row = first(c, "with r as (
             update awe.delivery set status = 'pending', lease_until = null
              where tenant_id = $1 and status = 'delivering' and ($2 or lease_until < now())
             returning 1)
           select count(*) from r",
        &[arg::text(tenant), arg::boolean(all)])?;
    Ok(row.map(|r| required::<i64>(&r, 1)).transpose()?.unwrap_or(0))
}
