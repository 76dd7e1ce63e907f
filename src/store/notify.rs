//! Notification channels and the queues notifications go into: the
//! webhook outbox (a message of its own, on the request), or a channel's
//! digest queue. Who has a channel is cached per backend with the
//! directory (store::directory), which any change to channels, endpoints or
//! principals invalidates.

pub use super::directory::Channel;
use super::directory::{peek, remember};
use super::watch::{self, Watched};
use super::{arg, column, required, run, first};
use awe_core::AweResult;
use pgrx::spi::SpiClient;
use serde_json::Value;
use std::collections::HashMap;

/// The channels of these principals (`None` for those without one): an
/// explicit channel, else the URL in their directory attribute
/// `notification_url` when it is under a registered endpoint.
pub fn channels(c: &SpiClient<'_>, tenant: &str, principals: &[String]) -> AweResult<HashMap<String, Option<Channel>>> {
    let generation = watch::generation(c, Watched::Directory)?;
    let key = |p: &String| (tenant.to_string(), p.clone());
    let mut out = HashMap::new();
    let mut unknown = Vec::new();
    for p in principals {
        match generation.and_then(|g| peek(g, |k| &mut k.channels, &key(p))) {
            Some(ch) => {
                out.insert(p.clone(), ch);
            }
            None if !unknown.contains(p) => unknown.push(p.clone()),
            None => {}
        }
    }
    if unknown.is_empty() {
        return Ok(out);
    }
    let rows = run(c,
        "select p.id, coalesce(ch.url, attr.url), ch.endpoint_id::text, ch.kinds, ch.digest is not null
           from unnest($2::text[]) as p(id)
           left join awe.notification_channel ch on ch.tenant_id = $1 and ch.principal_id = p.id
           left join lateral (select pr.attributes ->> 'notification_url' as url from awe.principal pr
                               where pr.tenant_id = $1 and pr.principal_id = p.id and pr.active) attr on ch.principal_id is null",
        &[arg::text(tenant), arg::array(unknown.clone())])?;
    type Row = (String, Option<String>, Option<String>, Option<Vec<String>>, bool);
    let rows: Vec<Row> = rows.map(|r| Ok((required(&r, 1)?, column(&r, 2)?, column(&r, 3)?, column(&r, 4)?, required(&r, 5)?)))
        .collect::<AweResult<_>>()?;
    let mut found: HashMap<String, Option<Channel>> = unknown.iter().map(|p| (p.clone(), None)).collect();
    for (id, url, mut endpoint, kinds, digest) in rows {
        // A directory attribute's URL: the endpoint it is under, by a
        // statement of its own (on Citus a function called inside a
        // statement over a tenant's table runs on that table's node).
        if let (Some(u), None) = (&url, &endpoint) {
            endpoint = first(c, "select awe._endpoint_of_url($1, $2)::text", &[arg::text(tenant), arg::text(u)])?
                .map(|e| column::<String>(&e, 1)).transpose()?.flatten();
        }
        if let (Some(url), Some(endpoint_id)) = (url, endpoint) {
            found.insert(id, Some(Channel { url, endpoint_id, kinds, digest }));
        }
    }
    for (p, ch) in found {
        if let Some(g) = generation {
            remember(g, |k| &mut k.channels, key(&p), ch.clone());
        }
        out.insert(p, ch);
    }
    Ok(out)
}

/// Into the webhook outbox, on its request, at once; the worker wakes at
/// commit. Deliveries run on the real clock, not a test's shifted awe.now().
pub fn queue(c: &SpiClient<'_>, tenant: &str, request_id: &str, ch: &Channel, kind: &str, body: Value) -> AweResult<()> {
    run(c, "insert into awe.delivery (tenant_id, request_id, event_id, event_type, endpoint_id, url, next_attempt_at, created_at, message)
            values ($1, $2, $3, $4, $5, $6, now(), now(), $7)",
        &[arg::text(tenant), arg::uuid(request_id), arg::uuid(&super::new_uuid()), arg::text(kind), arg::uuid(&ch.endpoint_id),
          arg::text(&ch.url), arg::jsonb(body)])?;
    crate::worker::wake::wake_on_commit();
    Ok(())
}

/// Into the channel's digest queue (awe._send_digests sends it).
pub fn hold_for_digest(c: &SpiClient<'_>, tenant: &str, principal: &str, body: Value) -> AweResult<()> {
    run(c, "insert into awe.notification_pending (tenant_id, principal_id, body, created_at) values ($1, $2, $3, now())",
        &[arg::text(tenant), arg::text(principal), arg::jsonb(body)])?;
    Ok(())
}
