//! Webhook test helpers shared by the worker suites: an endpoint registered
//! for a test receiver, submits with a callback, the outbox rows of a
//! request, and signature checks computed with hmac/sha2/base64 directly,
//! never with awe's code.

use crate::receiver::{now_secs, wait_until, Receiver, Req};
use crate::{rid, unique, users, Db, DbError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// `v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`, computed here.
pub fn sign(secret: &str, id: &str, ts: &str, body: &str) -> String {
    let key = B64.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("secret is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

pub fn signatures(r: &Req) -> Vec<String> {
    r.header("webhook-signature").expect("webhook-signature header").split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The request carries a valid signature made with `secret`.
pub fn verifies(secret: &str, r: &Req) -> bool {
    let want = sign(secret, &r.id(), r.header("webhook-timestamp").unwrap(), &r.body);
    signatures(r).contains(&want)
}

pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (now_secs().to_bits() >> (i % 8)) as u8 ^ i as u8;
    }
    format!("whsec_{}", B64.encode(bytes))
}

pub struct Endpoint {
    pub id: String,
    pub secret: String,
    pub callback: String,
}

/// Registers the receiver's base URL; callbacks go to `/hooks`.
pub fn register(db: &mut Db, recv: &Receiver) -> Endpoint {
    let e = db.json("select awe.register_endpoint($1, 'test receiver')::text", &[&recv.url()]);
    Endpoint {
        id: e["endpoint_id"].as_str().unwrap().to_string(),
        secret: e["secret"].as_str().unwrap().to_string(),
        callback: format!("{}/hooks", recv.url()),
    }
}

pub fn submit_cb(db: &mut Db, key: &str, callback: &str) -> Value {
    try_submit_cb(db, key, callback).unwrap_or_else(|e| panic!("submit: {e:?}"))
}

pub fn try_submit_cb(db: &mut Db, key: &str, callback: &str) -> Result<Value, DbError> {
    let artifact = unique("a");
    db.try_json("select awe.submit($1, 'doc', $2, '{\"amount\": 5}'::jsonb, 'requester', $3)::text", &[key, &artifact, callback])
}

pub fn one_stage(db: &mut Db, who: &str) -> String {
    db.stages(json!([{"name": "Review", "mode": "all", "rules": users(&[who])}]))
}

/// The request's deliveries (awe.deliveries), by seq, with epoch seconds.
pub fn deliveries(db: &mut Db, r: &Value) -> Vec<Value> {
    let v = db.json(
        "select coalesce(json_agg(json_build_object(
                'delivery_id', delivery_id, 'seq', seq, 'event_id', event_id, 'event_type', event_type, 'url', url,
                'status', status, 'attempts', attempts, 'last_status', last_status, 'last_error', last_error,
                'next_attempt_at', extract(epoch from next_attempt_at)::float8,
                'first_attempt_at', extract(epoch from first_attempt_at)::float8,
                'delivered_at', extract(epoch from delivered_at)::float8) order by seq), '[]')::text
           from awe.deliveries where request_id = $1::text::uuid",
        &[&rid(r)],
    );
    v.as_array().unwrap().clone()
}

/// Waits until every delivery of the request satisfies `ok`.
pub fn wait_deliveries(db: &mut Db, r: &Value, what: &str, ok: impl Fn(&Value) -> bool) -> Vec<Value> {
    wait_until(what, 20, || {
        let d = deliveries(db, r);
        (!d.is_empty() && d.iter().all(&ok)).then_some(d)
    })
}

pub fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |d: &Value| d["status"] == s
}

/// Makes the request's pending deliveries due now and wakes the worker.
pub fn fast_forward(db: &mut Db, r: &Value) {
    db.exec(&format!(
        "begin;
         update awe.delivery set next_attempt_at = now() where tenant_id = '{}' and request_id = '{}' and status = 'pending';
         select awe._wake_worker();
         commit;",
        db.tenant,
        rid(r)
    ));
}

/// Waits until the worker has run a whole tick that started after now.
pub fn worker_ticks(db: &mut Db) {
    let t0: f64 = db.json("select extract(epoch from clock_timestamp())::float8::text", &[]).as_f64().unwrap();
    let beat = |db: &mut Db| db.json("select extract(epoch from beat_at)::float8::text from awe.worker_status", &[]).as_f64().unwrap_or(0.0);
    let b1 = wait_until("a worker tick", 20, || Some(beat(db)).filter(|b| *b > t0));
    wait_until("a second worker tick", 20, || Some(beat(db)).filter(|b| *b > b1));
}

