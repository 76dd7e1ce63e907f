//! One tenant cannot stall everyone's webhooks: a disabled endpoint's
//! backlog is never in the way, a long backlog on one endpoint does not hold
//! up another endpoint's fresh webhooks, and Retry-After is honoured to the
//! millisecond. (The crash-time guarantee, claims taken back at once by a
//! restarted worker, is in tests/crash.rs.)

use awe_e2e::receiver::{now_secs, resp, wait_until, Receiver, Resp};
use awe_e2e::webhook::*;
use awe_e2e::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Queues `n` due deliveries of one event on an endpoint, as a replay or a
/// receiver back after an outage leaves them (written directly: building
/// thousands of requests would take the test minutes).
fn backlog(db: &mut Db, ep: &Endpoint, n: usize) -> Value {
    let key = one_stage(db, "alice");
    let r = submit_cb(db, &key, &ep.callback);
    db.exec(&format!(
        "insert into awe.delivery (tenant_id, request_id, seq, event_id, event_type, endpoint_id, url, next_attempt_at, created_at)
         select d.tenant_id, d.request_id, d.seq, d.event_id, d.event_type, d.endpoint_id, d.url, now() - interval '1 minute', now()
           from awe.delivery d, generate_series(1, {n})
          where d.tenant_id = '{}' and d.request_id = '{}' and d.seq = 1",
        db.tenant,
        rid(&r)
    ));
    r
}

/// When each webhook-id arrived (receiver clock), for latency.
fn arrivals(recv: &Receiver) -> HashMap<String, f64> {
    let mut at = HashMap::new();
    for r in recv.requests() {
        at.entry(r.id()).or_insert(r.at);
    }
    at
}

#[test]
fn a_disabled_endpoints_backlog_stops_nobody_else() {
    let mut x = Db::new();
    let held = Receiver::ok();
    let ep_x = register(&mut x, &held);
    x.json("select awe.set_endpoint_enabled($1::text::uuid, false, 'receiver down')::text", &[&ep_x.id]);
    backlog(&mut x, &ep_x, 1_000);

    let mut y = Db::new();
    let fine = Receiver::ok();
    let ep_y = register(&mut y, &fine);
    let key = one_stage(&mut y, "alice");
    let sent = now_secs();
    let r = submit_cb(&mut y, &key, &ep_y.callback);
    fine.wait("tenant Y's three webhooks", |all| all.len() >= 3);
    let took = fine.requests().iter().map(|q| q.at).fold(0.0, f64::max) - sent;
    assert!(took < 1.0, "tenant Y waited {took:.2} s behind tenant X's disabled endpoint");
    assert!(deliveries(&mut y, &r).iter().all(|d| d["status"] == "delivered"));
    assert_eq!(held.count(), 0, "nothing goes to a disabled endpoint");
    let waiting = x.json("select deliveries::text from awe.delivery_backlog where endpoint_id = $1::text::uuid and status = 'pending'", &[&ep_x.id]);
    assert_eq!(waiting, 1_003, "its deliveries wait, visible in the backlog");
}

#[test]
fn a_long_backlog_on_one_endpoint_does_not_delay_anothers_fresh_webhooks() {
    let mut a = Db::new();
    let busy = Receiver::ok();
    let ep_a = register(&mut a, &busy);
    backlog(&mut a, &ep_a, 15_000);
    a.exec("select awe._wake_worker()");
    wait_until("the backlog flowing", 20, || (busy.count() > 500).then_some(()));

    let mut c = Db::new();
    let quiet = Receiver::ok();
    let ep_c = register(&mut c, &quiet);
    let key = one_stage(&mut c, "alice");
    // Commit time of each request, then the arrival of its three webhooks.
    let mut submitted: Vec<(Value, f64)> = Vec::new();
    for _ in 0..20 {
        let t = now_secs();
        submitted.push((submit_cb(&mut c, &key, &ep_c.callback), t));
        std::thread::sleep(Duration::from_millis(100));
    }
    quiet.wait("tenant C's 60 webhooks", |all| all.len() >= 60);
    let at = arrivals(&quiet);
    let mut latencies: Vec<f64> = Vec::new();
    for (r, t) in &submitted {
        for d in deliveries(&mut c, r) {
            latencies.push(at[d["event_id"].as_str().unwrap()] - t);
        }
    }
    latencies.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let still_queued = a.json("select count(*)::text from awe.delivery where tenant_id = $1 and status = 'pending'", &[&a.tenant.clone()]);
    eprintln!("fresh webhooks during a 15,000 backlog: p50 {:.1} ms, p99 {:.1} ms, backlog left {still_queued}",
              latencies[latencies.len() / 2] * 1000.0, p99 * 1000.0);
    assert!(still_queued.as_i64().unwrap() > 0, "the backlog drained before the test measured anything");
    assert!(p99 <= 0.25, "p99 {:.0} ms: the backlog crowded out another endpoint", p99 * 1000.0);
}

#[test]
fn retry_after_below_a_second_and_never_early() {
    let mut db = Db::new();
    // 503 with Retry-After: 1 on each first attempt; the retry must not come
    // before a full second has passed.
    let first: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let f = first.clone();
    let recv = Receiver::start(move |req, nth| {
        if nth == 1 {
            f.lock().unwrap().insert(req.id(), req.at);
            return Resp { retry_after: Some("1".into()), ..resp(503) };
        }
        resp(200)
    });
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let rs: Vec<Value> = (0..5).map(|_| submit_cb(&mut db, &key, &ep.callback)).collect();
    for r in &rs {
        wait_deliveries(&mut db, r, "delivered on the second attempt", |d| d["status"] == "delivered");
    }
    let first = first.lock().unwrap();
    let mut gaps = Vec::new();
    for q in recv.requests() {
        if let Some(t0) = first.get(&q.id()) {
            if q.at > *t0 {
                gaps.push(q.at - t0);
            }
        }
    }
    assert_eq!(gaps.len(), 15, "one retry for each of the 15 webhooks: {gaps:?}");
    let earliest = gaps.iter().cloned().fold(f64::MAX, f64::min);
    assert!(earliest >= 1.0, "a retry came {earliest:.3} s after a Retry-After of 1 s");
}
