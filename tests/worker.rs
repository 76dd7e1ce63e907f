//! The background worker end to end: signed webhooks from the outbox, the
//! retry schedule, 3xx/410/429/503 handling, dead letters and replay, an
//! endpoint that is down for a while (scenario 33) or gone (34), SLA timers
//! (17), expiry (18) and http approver resolvers (12).
//!
//! Each test runs its own HTTP receiver (below) on 127.0.0.1 and registers it
//! as an endpoint of a fresh tenant. Signatures are checked with the hmac,
//! sha2 and base64 crates directly, never with awe's code.
//!
//! Tests that shift awe's clock (awe.clock_offset + awe.run_due_timers) take
//! the TIMERS lock for their whole body: run_due_timers fires every tenant's
//! due timers, so two of them running at once would fire each other's.

use awe_e2e::webhook::*;
use awe_e2e::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use awe_e2e::receiver::{now_secs, resp, wait_until, Receiver, Req, Resp};

static TIMERS: Mutex<()> = Mutex::new(());

fn timers_lock() -> MutexGuard<'static, ()> {
    TIMERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs due timers as of now + `offset`, on this test's connection only.
fn run_timers_at(db: &mut Db, offset: &str) -> Value {
    db.exec(&format!("set awe.clock_offset = '{offset}'"));
    let out = db.json("select awe.run_due_timers(10000)::text", &[]);
    db.exec("reset awe.clock_offset");
    out
}

fn count_type(db: &mut Db, r: &Value, kind: &str) -> usize {
    events_of(db, r, kind).len()
}

// ---- 1. signatures -------------------------------------------------------------

#[test]
fn signatures_verify_with_an_independent_hmac_and_survive_rotation() {
    // The verifier itself, against the Standard Webhooks reference vector.
    assert_eq!(
        sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", r#"{"test": 2432232314}"#),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );

    let mut db = Db::new();
    let recv = Receiver::ok();
    let ep = register(&mut db, &recv);
    let key_bytes = B64.decode(ep.secret.strip_prefix("whsec_").expect("secret starts with whsec_")).expect("base64 secret");
    assert!(key_bytes.len() >= 24, "secret has {} bytes", key_bytes.len());
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    let id = rid(&r);

    let got = recv.wait("the three submit webhooks", |all| all.len() >= 3);
    assert_eq!(got.len(), 3);
    let tl = timeline(&mut db, &r);
    assert_eq!(tl.len(), 3, "{tl:?}");
    let wrong = random_secret();
    for h in &got {
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/hooks");
        assert!(h.header("content-type").unwrap_or("").starts_with("application/json"), "{:?}", h.headers);
        let ts: f64 = h.header("webhook-timestamp").expect("webhook-timestamp").parse().expect("unix seconds");
        assert!((ts - h.at).abs() <= 10.0, "webhook-timestamp {ts} vs received at {}", h.at);
        let sigs = signatures(h);
        assert_eq!(sigs.len(), 1, "one secret, one signature: {sigs:?}");
        assert!(verifies(&ep.secret, h), "signature does not verify: {:?}", h.headers);
        assert!(!verifies(&wrong, h), "a wrong secret verifies");
        let mut tampered = h.clone();
        tampered.body = tampered.body.replace("requester", "requestor");
        tampered.body.push(' ');
        assert!(!verifies(&ep.secret, &tampered), "a tampered body verifies");
        let mut replayed = h.clone();
        replayed.headers.retain(|(k, _)| k != "webhook-timestamp");
        replayed.headers.push(("webhook-timestamp".into(), format!("{}", ts as i64 + 1)));
        assert!(!verifies(&ep.secret, &replayed), "a changed timestamp verifies");

        let b = h.json();
        let seq = b["data"]["seq"].as_i64().unwrap();
        let event = &tl[(seq - 1) as usize];
        assert_eq!(event["seq"].as_i64(), Some(seq));
        assert_eq!(b["type"], event["type"]);
        assert_eq!(h.id(), event["event_id"].as_str().unwrap(), "webhook-id is the event id");
        assert_eq!(b["data"]["event_id"], event["event_id"]);
        assert_eq!(b["data"]["request_id"].as_str(), Some(id.as_str()));
        assert_eq!(b["data"]["tenant"].as_str(), Some(db.tenant.as_str()));
        assert_eq!(b["data"]["policy_key"].as_str(), Some(key.as_str()));
        assert_eq!(b["data"]["policy_version"], 1);
        assert_eq!(b["data"]["artifact_type"], "doc");
        assert_eq!(b["data"]["artifact_id"], r["artifact_id"]);
        assert_eq!(b["data"]["actor"], event["actor"]);
        assert!(b["timestamp"].as_str().is_some_and(|t| t.len() >= 20), "timestamp: {b}");
    }
    let mut kinds: Vec<String> = got.iter().map(Req::kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["request.created", "stage.started", "task.created"]);
    for h in &got {
        let e = &tl[(h.seq() - 1) as usize];
        assert_eq!(h.json()["data"]["status"], e["status"], "data.status is the event's status");
        assert_eq!(h.json()["data"]["stage_index"], e["stage_index"]);
        assert_eq!(h.json()["data"]["task_id"], e["task_id"]);
    }

    // Rotation: both secrets sign until the overlap ends.
    let rotated = db.json("select awe.rotate_endpoint_secret($1::text::uuid)::text", &[&ep.id]);
    let s2 = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(s2, ep.secret);
    assert!(s2.starts_with("whsec_"));
    assert_eq!(db.json("select active_secrets::text from awe.endpoints where endpoint_id = $1::text::uuid", &[&ep.id]), 2);
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    let got = recv.wait("the three decision webhooks", |all| all.len() >= 6);
    for h in &got[3..] {
        let sigs = signatures(h);
        assert_eq!(sigs.len(), 2, "two signatures during the overlap: {sigs:?}");
        let ts = h.header("webhook-timestamp").unwrap();
        let mut want = vec![sign(&ep.secret, &h.id(), ts, &h.body), sign(&s2, &h.id(), ts, &h.body)];
        want.sort();
        let mut have = sigs.clone();
        have.sort();
        assert_eq!(have, want, "one signature per live secret");
        assert!(!verifies(&wrong, h));
    }

    // A rotation without overlap retires every older secret at once.
    let s3 = db.json("select awe.rotate_endpoint_secret($1::text::uuid, '0 seconds')::text", &[&ep.id])["secret"].as_str().unwrap().to_string();
    let r2 = submit_cb(&mut db, &key, &ep.callback);
    let mine = |all: &[Req]| all.iter().filter(|h| h.json()["data"]["request_id"] == r2["request_id"]).cloned().collect::<Vec<_>>();
    recv.wait("the second request's webhooks", |all| mine(all).len() >= 3);
    for h in mine(&recv.requests()) {
        assert_eq!(signatures(&h).len(), 1, "{:?}", signatures(&h));
        assert!(verifies(&s3, &h));
        assert!(!verifies(&ep.secret, &h) && !verifies(&s2, &h), "a retired secret still signs");
    }
}

// ---- 2. a full lifecycle -----------------------------------------------------------

#[test]
fn every_event_of_a_lifecycle_is_delivered_once_with_its_event_id() {
    let mut db = Db::new();
    let recv = Receiver::ok();
    let ep = register(&mut db, &recv);
    let key = db.stages(json!([
        {"name": "One", "mode": "all", "rules": users(&["alice"])},
        {"name": "Two", "mode": "all", "rules": users(&["bob"])}
    ]));
    let r = submit_cb(&mut db, &key, &format!("{}?ref=42", recv.url()));
    assert_eq!(db.decide(&r, "alice", "approve"), "in_review");
    assert_eq!(db.decide(&r, "bob", "approve"), "approved");
    let tl = timeline(&mut db, &r);
    let types: Vec<&str> = tl.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"request.created"));
    assert_eq!(types.last(), Some(&"request.approved"));

    let got = recv.wait("every event", |all| all.len() >= tl.len());
    wait_deliveries(&mut db, &r, "every delivery recorded as delivered", status_is("delivered"));
    worker_ticks(&mut db);
    let got_now = recv.requests();
    assert_eq!(got_now.len(), tl.len(), "exactly one webhook per event without failures");
    assert!(got.iter().all(|h| h.path == "/?ref=42"), "posted to the callback URL as given");
    assert!(got_now.iter().all(|h| verifies(&ep.secret, h)), "every webhook is signed");

    // Receivers can order by seq: 1..n, no gaps, same types as the timeline.
    let mut by_seq: Vec<(i64, String, String)> = got_now.iter().map(|h| (h.seq(), h.kind(), h.id())).collect();
    by_seq.sort();
    assert_eq!(by_seq.iter().map(|x| x.0).collect::<Vec<_>>(), (1..=tl.len() as i64).collect::<Vec<_>>());
    for ((seq, kind, wid), e) in by_seq.iter().zip(&tl) {
        assert_eq!(Some(*seq), e["seq"].as_i64());
        assert_eq!(kind, e["type"].as_str().unwrap());
        assert_eq!(wid, e["event_id"].as_str().unwrap(), "webhook-id = event_id of awe.timeline");
    }
    let mut ids: Vec<&String> = by_seq.iter().map(|x| &x.2).collect();
    ids.dedup();
    assert_eq!(ids.len(), tl.len(), "webhook-ids are unique per event");
    // What a DBA watches: the worker is the one in pg_stat_activity and beating.
    let st = db.json(
        "select json_build_object('same_pid', pid = (select pid from pg_stat_activity where backend_type = 'awe worker'),
                                  'recent', since_last_beat < interval '10 seconds')::text from awe.worker_status",
        &[],
    );
    assert_eq!(st, json!({"same_pid": true, "recent": true}));
    let last = got_now.iter().find(|h| h.kind() == "request.approved").unwrap().json();
    assert_eq!(last["data"]["status"], "approved");

    let d = deliveries(&mut db, &r);
    assert_eq!(d.len(), tl.len(), "one delivery row per event");
    for (row, e) in d.iter().zip(&tl) {
        assert_eq!(row["event_id"], e["event_id"]);
        assert_eq!(row["event_type"], e["type"]);
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["last_status"], 200);
        assert!(row["delivered_at"].is_number(), "{row}");
    }
}

// ---- 3. retries ------------------------------------------------------------------

#[test]
fn a_failing_endpoint_is_retried_on_schedule_with_the_same_webhook_id() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, nth| if nth <= 2 { Resp { body: "boom".into(), ..resp(500) } } else { resp(204) });
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);

    let d = wait_deliveries(&mut db, &r, "a first failed attempt", |d| d["attempts"] == 1 && d["status"] == "pending" && d["last_status"] == 500);
    assert_eq!(d.len(), 3);
    let first = recv.requests();
    for row in &d {
        let sent = first.iter().find(|h| h.id() == row["event_id"].as_str().unwrap()).expect("the failed attempt reached the receiver");
        let delay = row["next_attempt_at"].as_f64().unwrap() - sent.at;
        assert!((53.0..=67.0).contains(&delay), "first retry after 60 s ± 10%, got {delay:.1} s");
        assert!(row["last_error"].as_str().unwrap_or("").contains("500"), "{row}");
        assert!(row["first_attempt_at"].is_number());
    }
    // Not retried before it is due.
    worker_ticks(&mut db);
    assert_eq!(recv.count(), 3, "retried before next_attempt_at");

    fast_forward(&mut db, &r);
    let d = wait_deliveries(&mut db, &r, "a second failed attempt", |d| d["attempts"] == 2 && d["status"] == "pending");
    for row in &d {
        let delay = row["next_attempt_at"].as_f64().unwrap() - now_secs();
        assert!((260.0..=331.0).contains(&delay), "second retry after 5 min ± 10%, got {delay:.1} s");
    }
    fast_forward(&mut db, &r);
    let d = wait_deliveries(&mut db, &r, "delivery on the third attempt", status_is("delivered"));
    for row in &d {
        assert_eq!(row["attempts"], 3);
        assert_eq!(row["last_status"], 204);
        let attempts: Vec<Req> = recv.requests().into_iter().filter(|h| h.id() == row["event_id"].as_str().unwrap()).collect();
        assert_eq!(attempts.len(), 3, "three attempts, one webhook-id");
        assert!(attempts.iter().all(|h| h.body == attempts[0].body), "the body is the same on every attempt");
    }
}

// ---- 4. 3xx ----------------------------------------------------------------------

#[test]
fn a_redirect_is_a_failure_and_is_not_followed() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| resp(200));
    let target = format!("{}/elsewhere", recv.url());
    recv.set(move |req, _| if req.path == "/hooks" { Resp { location: Some(target.clone()), ..resp(302) } } else { resp(200) });
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    let d = wait_deliveries(&mut db, &r, "the redirect recorded", |d| d["attempts"] == 1 && d["status"] != "delivering");
    for row in &d {
        assert_eq!(row["status"], "pending", "a 3xx must be retried, not counted as delivered");
        assert!(row["next_attempt_at"].as_f64().unwrap() > now_secs() + 40.0);
    }
    assert!(recv.on_path("/elsewhere").is_empty(), "the redirect was followed");

    // 301 and 307 too.
    let target = format!("{}/elsewhere", recv.url());
    recv.set(move |req, nth| if req.path == "/elsewhere" { resp(200) } else { Resp { location: Some(target.clone()), ..resp(if nth == 2 { 301 } else { 307 }) } });
    fast_forward(&mut db, &r);
    let d = wait_deliveries(&mut db, &r, "the second redirect recorded", |d| d["attempts"] == 2 && d["status"] != "delivering");
    assert!(d.iter().all(|d| d["status"] == "pending" && d["last_status"] == 301), "{d:?}");
    fast_forward(&mut db, &r);
    let d = wait_deliveries(&mut db, &r, "the third redirect recorded", |d| d["attempts"] == 3 && d["status"] != "delivering");
    assert!(d.iter().all(|d| d["status"] == "pending" && d["last_status"] == 307), "{d:?}");
    assert!(recv.on_path("/elsewhere").is_empty(), "the redirect was followed");
}

// ---- 5. 410 Gone -------------------------------------------------------------------

#[test]
fn gone_disables_the_endpoint_and_keeps_later_deliveries_pending() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| resp(410));
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    let d = wait_deliveries(&mut db, &r, "dead letters after 410", status_is("dead"));
    assert!(d.iter().all(|d| d["attempts"] == 1 && d["last_status"] == 410), "{d:?}");
    let e = db.json("select row_to_json(e)::text from awe.endpoints e where endpoint_id = $1::text::uuid", &[&ep.id]);
    assert_eq!(e["enabled"], false, "{e}");
    assert!(e["disabled_reason"].as_str().unwrap_or("").contains("410"), "{e}");
    let dead = db.json("select count(*)::text from awe.dead_letters where tenant_id = $1 and request_id = $2::text::uuid", &[&db.tenant.clone(), &rid(&r)]);
    assert_eq!(dead, 3);
    assert_eq!(recv.count(), 3);

    // Events after that queue up but are not sent.
    recv.set(|_, _| resp(200));
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
    worker_ticks(&mut db);
    worker_ticks(&mut db);
    let later: Vec<Value> = deliveries(&mut db, &r).into_iter().filter(|d| d["seq"].as_i64().unwrap() > 3).collect();
    assert_eq!(later.len(), 3);
    assert!(later.iter().all(|d| d["status"] == "pending" && d["attempts"] == 0), "{later:?}");
    assert_eq!(recv.count(), 3, "sent to a disabled endpoint");
    // Approvals never depend on a receiver's health: a submit naming the
    // disabled endpoint is accepted, and its deliveries wait with the others.
    let r2 = try_submit_cb(&mut db, &key, &ep.callback).expect("a submit to a disabled endpoint's URL is accepted");
    worker_ticks(&mut db);
    assert!(deliveries(&mut db, &r2).iter().all(|d| d["status"] == "pending" && d["attempts"] == 0));
    let held = db.json("select deliveries::text from awe.delivery_backlog where endpoint_id = $1::text::uuid and not endpoint_enabled and status = 'pending'", &[&ep.id]);
    assert_eq!(held, 6, "the backlog view shows what the disabled endpoint holds");

    // Re-enabled: the queued ones go out; the dead ones stay dead until replayed.
    db.json("select awe.set_endpoint_enabled($1::text::uuid, true)::text", &[&ep.id]);
    db.exec("select awe._wake_worker()");
    recv.wait("the queued deliveries", |all| all.len() >= 9);
    let d = wait_until("queued deliveries delivered", 20, || {
        let d = deliveries(&mut db, &r);
        d.iter().filter(|d| d["seq"].as_i64().unwrap() > 3).all(|d| d["status"] == "delivered").then_some(d)
    });
    assert!(d.iter().filter(|d| d["seq"].as_i64().unwrap() <= 3).all(|d| d["status"] == "dead"));
}

#[test]
fn gone_disables_only_the_endpoint_that_said_so() {
    let mut db = Db::new();
    let recv = Receiver::start(|req, _| if req.path.starts_with("/hooks-gone") { resp(410) } else { resp(200) });
    let keep = db.json("select awe.register_endpoint($1)::text", &[&format!("{}/hooks", recv.url())]);
    let gone = db.json("select awe.register_endpoint($1)::text", &[&format!("{}/hooks-gone", recv.url())]);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, gone["url"].as_str().unwrap());
    wait_deliveries(&mut db, &r, "dead letters after 410", status_is("dead"));
    let enabled = |db: &mut Db, e: &Value| db.json("select enabled::text from awe.endpoints where endpoint_id = $1::text::uuid", &[e["endpoint_id"].as_str().unwrap()]);
    assert_eq!(enabled(&mut db, &gone), false);
    assert_eq!(enabled(&mut db, &keep), true, "http://…/hooks was disabled because http://…/hooks-gone answered 410");
}

// ---- 5b. a hanging endpoint or resolver holds up no one else ---------------------------

/// A receiver whose calls hang until `open` is set (or 30 s pass); `arrived`
/// counts the calls that reached it. Resolver calls get `["h1"]`.
fn hanging_receiver() -> (Receiver, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let (a, o) = (arrived.clone(), open.clone());
    let recv = Receiver::start(move |req, _| {
        a.fetch_add(1, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(30);
        while !o.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        if req.path == "/resolve" { Resp { body: r#"["h1"]"#.into(), ..resp(200) } } else { resp(200) }
    });
    (recv, arrived, open)
}

/// Another endpoint's webhooks, committed while `hanging` has calls open,
/// are all delivered before those calls answer.
fn delivered_past(db: &mut Db, hanging: &Receiver) {
    let fast = Receiver::ok();
    let ep = register(db, &fast);
    let key = one_stage(db, "alice");
    let r = submit_cb(db, &key, &ep.callback);
    let got = wait_deliveries(db, &r, "the other endpoint's webhooks", status_is("delivered"));
    assert_eq!(got.len(), 3, "request.created, stage.started, task.created");
    assert_eq!(hanging.count(), 0, "the hanging calls answered early (or timed out)");
}

/// An endpoint that hangs holds only its own calls: the worker does not wait
/// for a batch to finish before serving other endpoints, and one endpoint
/// gets at most awe.worker_endpoint_concurrency (8) of its 16 threads, even
/// with more deliveries due than threads.
#[test]
fn a_hanging_endpoint_does_not_hold_up_another_endpoints_webhooks() {
    let mut db = Db::new();
    let (slow, arrived, open) = hanging_receiver();
    let ep_slow = register(&mut db, &slow);
    let key = one_stage(&mut db, "alice");
    let stuck: Vec<Value> = (0..6).map(|_| submit_cb(&mut db, &key, &ep_slow.callback)).collect();
    wait_until("8 calls open on the hanging endpoint", 20, || (arrived.load(Ordering::SeqCst) >= 8).then_some(()));

    delivered_past(&mut db, &slow);
    assert_eq!(arrived.load(Ordering::SeqCst), 8, "calls open at once on one endpoint");
    let held = deliveries(&mut db, &stuck[0]);
    assert!(held.iter().any(|d| d["status"] == "delivering"), "the hanging calls were given up: {held:?}");

    open.store(true, Ordering::SeqCst);
    for r in &stuck {
        let done = wait_deliveries(&mut db, r, "the hanging endpoint's webhooks, once it answers", status_is("delivered"));
        assert!(done.iter().all(|d| d["attempts"] == 1), "sent once each: {done:?}");
    }
}

/// Likewise an approver resolver that hangs (scenario 12).
#[test]
fn a_hanging_resolver_does_not_hold_up_webhooks() {
    let mut db = Db::new();
    let (slow, arrived, open) = hanging_receiver();
    register(&mut db, &slow);
    let key = http_policy(&mut db, &format!("{}/resolve", slow.url()));
    let r = db.submit(&key, json!({}));
    wait_until("the resolver call", 20, || (arrived.load(Ordering::SeqCst) > 0).then_some(()));

    delivered_past(&mut db, &slow);
    assert_eq!(resolver_job(&mut db, &r)["status"], "running");

    open.store(true, Ordering::SeqCst);
    wait_status(&mut db, &r, "in_review");
    assert_eq!(db.open(&r), ["h1"]);
}

// ---- 6. Retry-After ------------------------------------------------------------------

#[test]
fn retry_after_is_honoured_on_429_and_503_only() {
    let mut db = Db::new();
    let recv = Receiver::start(|req, nth| {
        if nth > 1 {
            return resp(200);
        }
        let ra = Some("5".to_string());
        match req.kind().as_str() {
            "request.created" => Resp { retry_after: ra, ..resp(429) },
            "stage.started" => Resp { retry_after: ra, ..resp(503) },
            _ => Resp { retry_after: ra, ..resp(500) },
        }
    });
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    let d = wait_deliveries(&mut db, &r, "first attempts", |d| d["attempts"] == 1 && d["status"] == "pending");
    let first = recv.requests();
    for row in &d {
        let sent = first.iter().find(|h| h.id() == row["event_id"].as_str().unwrap()).unwrap();
        let delay = row["next_attempt_at"].as_f64().unwrap() - sent.at;
        match row["event_type"].as_str().unwrap() {
            "request.created" | "stage.started" => assert!((3.5..=6.5).contains(&delay), "{}: Retry-After 5 gave {delay:.1} s", row["event_type"]),
            _ => assert!(delay > 50.0, "Retry-After on a 500 must not shorten the schedule: {delay:.1} s"),
        }
    }
    // No fast-forward: the worker comes back by itself after ~5 s.
    let d = wait_until("the 429/503 retries delivered", 20, || {
        let d = deliveries(&mut db, &r);
        d.iter().filter(|d| d["event_type"] != "task.created").all(|d| d["status"] == "delivered").then_some(d)
    });
    for row in d.iter().filter(|d| d["event_type"] != "task.created") {
        let tries: Vec<f64> = recv.requests().iter().filter(|h| h.id() == row["event_id"].as_str().unwrap()).map(|h| h.at).collect();
        assert_eq!(tries.len(), 2);
        assert!(tries[1] - tries[0] >= 4.0, "retried {:.1} s after a Retry-After: 5", tries[1] - tries[0]);
        assert_eq!(row["attempts"], 2);
    }
    let task = d.iter().find(|d| d["event_type"] == "task.created").unwrap();
    assert_eq!(task["status"], "pending");
    assert_eq!(task["attempts"], 1);
}

// ---- 6b. retention ------------------------------------------------------------------------

/// awe.purge_expired (the worker runs it every poll with
/// awe.delivery_retention, 30 days by default): delivered webhooks past the
/// retention and expired idempotency keys go; dead letters, recent
/// deliveries, live keys and every event stay.
#[test]
fn retention_purges_old_delivered_webhooks_and_expired_keys_only() {
    let mut db = Db::new();
    let recv = Receiver::ok();
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let (old, recent) = (submit_cb(&mut db, &key, &ep.callback), submit_cb(&mut db, &key, &ep.callback));
    for r in [&old, &recent] {
        wait_deliveries(&mut db, r, "the webhooks", status_is("delivered"));
    }
    let artifact = unique("a");
    for k in ["stale-key", "live-key"] {
        db.json("select awe.submit($1, 'doc', $2, '{}'::jsonb, 'requester', null, $3)::text", &[&key, &artifact, k]);
    }
    db.exec(&format!(
        "update awe.delivery set delivered_at = now() - interval '31 days' where tenant_id = '{t}' and request_id = '{o}';
         update awe.delivery set status = 'dead', delivered_at = null where tenant_id = '{t}' and request_id = '{o}' and seq = 1;
         update awe.idempotency_key set expires_at = now() - interval '1 second' where tenant_id = '{t}' and key = 'stale-key';",
        t = db.tenant, o = rid(&old)
    ));
    let events_before = count_type(&mut db, &old, "task.created");

    let out = db.json("select awe.purge_expired('30 days')::text", &[]);
    assert!(out["deliveries"].as_i64().is_some() && out["idempotency_keys"].as_i64().is_some(), "{out}");
    let kept: Vec<(i64, String)> = deliveries(&mut db, &old).iter().map(|d| (d["seq"].as_i64().unwrap(), d["status"].as_str().unwrap().to_string())).collect();
    assert_eq!(kept, [(1, "dead".to_string())], "only the dead letter of the old request is left");
    assert_eq!(deliveries(&mut db, &recent).len(), 3, "recent deliveries are kept");
    let keys = db.column("select key from awe.idempotency_key where tenant_id = $1 order by key", &[&db.tenant.clone()]);
    assert_eq!(keys, ["live-key"]);
    assert_eq!(count_type(&mut db, &old, "task.created"), events_before, "events are never purged");
    assert_eq!(db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&old)])["valid"], true);
}

// ---- 7. dead letters and replay (scenario 34) -------------------------------------------

#[test]
fn s34_dead_letter_after_a_day_then_replayed() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| Resp { body: "gone fishing".into(), ..resp(500) });
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    wait_deliveries(&mut db, &r, "first failures", |d| d["attempts"] == 1 && d["status"] == "pending");

    // Still failing late in the window: retried, not dead, while the next try stays within ~26 h.
    db.exec(&format!(
        "update awe.delivery set first_attempt_at = now() - interval '20 hours', next_attempt_at = now()
          where tenant_id = '{}' and request_id = '{}'; select awe._wake_worker();",
        db.tenant, rid(&r)
    ));
    let d = wait_deliveries(&mut db, &r, "a retry 20 h in", |d| d["attempts"] == 2 && d["status"] != "delivering");
    for row in &d {
        assert_eq!(row["status"], "pending", "{row}");
        let delay = row["next_attempt_at"].as_f64().unwrap() - now_secs();
        assert!((250.0..=335.0).contains(&delay), "{delay}");
    }
    // Past the window: the failing attempt makes it a dead letter.
    db.exec(&format!(
        "update awe.delivery set first_attempt_at = now() - interval '30 hours', next_attempt_at = now()
          where tenant_id = '{}' and request_id = '{}'; select awe._wake_worker();",
        db.tenant, rid(&r)
    ));
    let d = wait_deliveries(&mut db, &r, "dead letters", status_is("dead"));
    for row in &d {
        assert_eq!(row["attempts"], 3);
        assert_eq!(row["last_status"], 500);
        assert!(row["last_error"].as_str().unwrap().contains("gone fishing"), "{row}");
    }
    let letters = db.json(
        "select json_agg(row_to_json(x) order by seq)::text from awe.dead_letters x where tenant_id = $1 and request_id = $2::text::uuid",
        &[&db.tenant.clone(), &rid(&r)],
    );
    assert_eq!(letters.as_array().unwrap().len(), 3);
    assert!(letters.as_array().unwrap().iter().all(|l| l["last_status"] == 500 && l["last_error"].as_str().is_some()));
    worker_ticks(&mut db);
    assert_eq!(recv.count(), 9, "a dead letter is not retried");

    // Replay one by delivery id.
    recv.set(|_, _| resp(200));
    let one = d[0].clone();
    let n = db.json("select awe.replay_deliveries(delivery_id => $1::text::bigint)::text", &[&one["delivery_id"].to_string()]);
    assert_eq!(n, 1);
    let replayed = wait_until("the replayed delivery", 20, || {
        let d = deliveries(&mut db, &r);
        (d[0]["status"] == "delivered").then_some(d)
    });
    assert_eq!(replayed[0]["attempts"], 1, "a replay starts a fresh retry window");
    assert!(replayed[1..].iter().all(|d| d["status"] == "dead"), "only the named delivery is replayed");
    let last = recv.requests().into_iter().rfind(|h| h.id() == one["event_id"].as_str().unwrap()).unwrap();
    assert!(verifies(&ep.secret, &last));

    // Replay the rest by request id (the delivered one is sent again too).
    let n = db.json("select awe.replay_deliveries(request_id => $1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(n, 3);
    wait_deliveries(&mut db, &r, "every replayed delivery", status_is("delivered"));
    for row in &d {
        let n = recv.requests().iter().filter(|h| h.id() == row["event_id"].as_str().unwrap() && h.header("webhook-signature").is_some()).count();
        assert!(n >= 4, "{} sent {n} times", row["event_type"]);
    }
    assert_eq!(db.json("select count(*)::text from awe.dead_letters where tenant_id = $1", &[&db.tenant.clone()]), 0);
    // Naming nothing is refused.
    assert_eq!(db.try_json("select awe.replay_deliveries()::text", &[]).unwrap_err().code(), "AWE-BAD-INPUT");
}

// ---- 8. an endpoint down for a while (scenario 33) ------------------------------------------

#[test]
fn s33_endpoint_down_then_back_nothing_lost() {
    let mut db = Db::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let ep = db.json("select awe.register_endpoint($1)::text", &[&url]);
    let secret = ep["secret"].as_str().unwrap().to_string();
    let key = db.stages(json!([
        {"name": "One", "mode": "all", "rules": users(&["alice"])},
        {"name": "Two", "mode": "all", "rules": users(&["bob"])}
    ]));
    let r = submit_cb(&mut db, &key, &format!("{url}/hooks"));
    let d = wait_deliveries(&mut db, &r, "failed attempts (connection refused)", |d| d["attempts"] == 1 && d["status"] == "pending");
    for row in &d {
        assert!(row["last_status"].is_null(), "{row}");
        assert!(!row["last_error"].as_str().unwrap_or("").is_empty(), "the connection error is recorded: {row}");
    }
    // More events while it is down, and an hour of failures.
    assert_eq!(db.decide(&r, "alice", "approve"), "in_review");
    db.exec(&format!(
        "update awe.delivery set first_attempt_at = now() - interval '1 hour', next_attempt_at = now()
          where tenant_id = '{}' and request_id = '{}'; select awe._wake_worker();",
        db.tenant, rid(&r)
    ));
    let d = wait_deliveries(&mut db, &r, "more failed attempts", |d| {
        let want = if d["seq"].as_i64() <= Some(3) { 2 } else { 1 };
        d["attempts"].as_i64() >= Some(want) && d["status"] == "pending" && d["last_error"].is_string()
    });
    for row in d.iter().filter(|d| d["seq"].as_i64() <= Some(3)) {
        let delay = row["next_attempt_at"].as_f64().unwrap() - now_secs();
        assert!(delay > 200.0, "an hour-old outage keeps the schedule (5 min after the 2nd failure), got {delay:.1} s");
    }
    let tl = timeline(&mut db, &r);
    assert_eq!(d.len(), tl.len());
    let backlog = db.json(
        "select json_build_object('n', sum(deliveries), 'statuses', array_agg(distinct status))::text from awe.delivery_backlog
          where tenant_id = $1 and endpoint_id = $2::text::uuid",
        &[&db.tenant.clone(), ep["endpoint_id"].as_str().unwrap()],
    );
    assert_eq!(backlog, json!({"n": tl.len(), "statuses": ["pending"]}), "the backlog view shows the outage");

    // Back up: everything arrives, none lost.
    let recv = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), |_, _| resp(200));
    assert_eq!(db.decide(&r, "bob", "approve"), "approved");
    fast_forward(&mut db, &r);
    let tl = timeline(&mut db, &r);
    let d = wait_deliveries(&mut db, &r, "all delivered after the outage", status_is("delivered"));
    assert_eq!(d.len(), tl.len());
    let got = recv.requests();
    for e in &tl {
        let h: Vec<&Req> = got.iter().filter(|h| h.id() == e["event_id"].as_str().unwrap()).collect();
        assert_eq!(h.len(), 1, "{} received {} times", e["type"], h.len());
        assert_eq!(h[0].kind(), e["type"].as_str().unwrap());
        assert!(verifies(&secret, h[0]));
    }
    assert!(d.iter().filter(|d| d["seq"].as_i64() <= Some(3)).all(|d| d["attempts"].as_i64() >= Some(3)), "{d:?}");
}

// ---- 9. timers (scenarios 17 and 18) ----------------------------------------------------

fn sla_policy(db: &mut Db, on_breach: Value) -> String {
    sla_policy_mode(db, "all", on_breach)
}

fn sla_policy_mode(db: &mut Db, mode: &str, on_breach: Value) -> String {
    let mut stage = json!({"name": "Review", "mode": mode, "rules": users(&["alice"]), "sla": "8h", "on_breach": on_breach});
    if mode == "any" {
        stage["n"] = json!(1);
    }
    db.stages(json!([stage]))
}

#[test]
fn s17_notify_once_when_overdue() {
    let _t = timers_lock();
    let mut db = Db::new();
    let key = sla_policy(&mut db, json!({"action": "notify"}));
    let r = db.submit(&key, json!({}));
    run_timers_at(&mut db, "7 hours 50 minutes");
    assert_eq!(count_type(&mut db, &r, "task.overdue"), 0, "fired before the SLA");
    run_timers_at(&mut db, "8 hours 10 minutes");
    run_timers_at(&mut db, "8 hours 10 minutes");
    run_timers_at(&mut db, "20 hours");
    let overdue = events_of(&mut db, &r, "task.overdue");
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["actor"], "system");
    assert_eq!(overdue[0]["data"]["action"], "notify");
    assert_eq!(overdue[0]["data"]["assignee"], "alice");
    assert_eq!(overdue[0]["task_id"].as_str(), Some(db.task_of(&r, "alice").as_str()));
    assert_eq!(db.status(&r), "in_review");
    assert_eq!(db.decide(&r, "alice", "approve"), "approved");
}

#[test]
fn s17_remind_every_hour_at_most_twice() {
    let _t = timers_lock();
    let mut db = Db::new();
    let key = sla_policy(&mut db, json!({"action": "remind", "every": "1h", "max": 2}));
    let r = db.submit(&key, json!({}));
    run_timers_at(&mut db, "8 hours 5 minutes");
    run_timers_at(&mut db, "8 hours 5 minutes");
    assert_eq!(count_type(&mut db, &r, "task.reminder"), 1);
    run_timers_at(&mut db, "8 hours 50 minutes");
    assert_eq!(count_type(&mut db, &r, "task.reminder"), 1, "reminded before `every` passed");
    run_timers_at(&mut db, "9 hours 10 minutes");
    run_timers_at(&mut db, "9 hours 10 minutes");
    assert_eq!(count_type(&mut db, &r, "task.reminder"), 2);
    run_timers_at(&mut db, "10 hours 20 minutes");
    run_timers_at(&mut db, "2 days");
    let reminders = events_of(&mut db, &r, "task.reminder");
    assert_eq!(reminders.len(), 2, "max 2 reminders: {reminders:?}");
    assert_eq!(reminders.iter().map(|e| e["data"]["reminder"].clone()).collect::<Vec<_>>(), [json!(1), json!(2)]);
    assert!(reminders.iter().all(|e| e["actor"] == "system" && e["data"]["assignee"] == "alice"));
    assert_eq!(db.open(&r), ["alice"]);
}

#[test]
fn s17_escalate_adds_the_role_member_who_can_approve() {
    let _t = timers_lock();
    let mut db = Db::new();
    db.exec("select awe.grant_role('dana', 'director')");
    let key = sla_policy_mode(&mut db, "any", json!({"action": "escalate", "rules": [{"type": "role", "role": "director"}]}));
    let r = db.submit(&key, json!({}));
    run_timers_at(&mut db, "7 hours");
    assert_eq!(db.open(&r), ["alice"]);
    run_timers_at(&mut db, "9 hours");
    run_timers_at(&mut db, "9 hours");
    let esc = events_of(&mut db, &r, "stage.escalated");
    assert_eq!(esc.len(), 1, "{esc:?}");
    assert_eq!(esc[0]["actor"], "system");
    assert_eq!(esc[0]["data"]["added"], json!(["dana"]));
    assert_eq!(count_type(&mut db, &r, "task.overdue"), 1);
    assert_eq!(db.open(&r), ["alice", "dana"]);
    assert_eq!(db.decide(&r, "dana", "approve"), "approved");
    assert_eq!(db.status(&r), "approved");
    run_timers_at(&mut db, "30 hours");
    assert_eq!(count_type(&mut db, &r, "stage.escalated"), 1);
}

/// The worked expense-report example escalates an untouched `mode: all`
/// manager stage to the finance director; the director's approval should
/// move the request on without the unresponsive manager.
#[test]
fn s17_escalation_on_an_all_stage_lets_the_director_decide() {
    let _t = timers_lock();
    let mut db = Db::new();
    db.exec("select awe.grant_role('dana', 'director')");
    let key = sla_policy(&mut db, json!({"action": "escalate", "rules": [{"type": "role", "role": "director"}]}));
    let r = db.submit(&key, json!({}));
    run_timers_at(&mut db, "9 hours");
    // On an `all` stage the overdue task expires and the director takes its place.
    assert_eq!(db.open(&r), ["dana"]);
    let alice = db.column("select status from awe.tasks where request_id = $1::text::uuid and assignee = 'alice'", &[&rid(&r)]);
    assert_eq!(alice, ["expired"]);
    assert_eq!(db.decide(&r, "dana", "approve"), "approved", "the escalation did not unblock the stage: alice must still approve");
}

#[test]
fn s17_auto_approve_and_auto_reject() {
    let _t = timers_lock();
    for (action, decision, end) in [("auto_approve", "approve", "approved"), ("auto_reject", "reject", "rejected")] {
        let mut db = Db::new();
        let key = sla_policy(&mut db, json!({"action": action}));
        let r = db.submit(&key, json!({}));
        run_timers_at(&mut db, "7 hours 59 minutes");
        assert_eq!(db.status(&r), "in_review");
        run_timers_at(&mut db, "8 hours 1 minute");
        run_timers_at(&mut db, "8 hours 1 minute");
        assert_eq!(db.status(&r), end, "{action}");
        let decided = events_of(&mut db, &r, "task.decided");
        assert_eq!(decided.len(), 1, "{decided:?}");
        assert_eq!(decided[0]["actor"], "system");
        assert_eq!(decided[0]["data"]["auto"], true);
        assert_eq!(decided[0]["data"]["decision"], decision);
        assert_eq!(count_type(&mut db, &r, &format!("request.{end}")), 1);
        let tasks = db.column("select status from awe.tasks where request_id = $1::text::uuid", &[&rid(&r)]);
        assert_eq!(tasks, [if end == "approved" { "approved" } else { "rejected" }]);
        let task = db.column("select task_id::text from awe.tasks where request_id = $1::text::uuid", &[&rid(&r)]).remove(0);
        assert_eq!(db.try_decide(&task, "alice", "approve").unwrap_err().code(), "AWE-TASK-CLOSED");
    }
}

#[test]
fn s18_expires_after_closes_open_tasks() {
    let _t = timers_lock();
    let mut db = Db::new();
    let key = unique("p");
    db.policy(json!({"key": key, "artifact_type": "doc", "expires_after": "30d",
                     "stages": [{"name": "Review", "mode": "all", "rules": users(&["alice", "bob"])}]}));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "alice", "approve"), "in_review");
    run_timers_at(&mut db, "29 days 23 hours");
    assert_eq!(db.status(&r), "in_review");
    run_timers_at(&mut db, "30 days 1 hour");
    run_timers_at(&mut db, "30 days 1 hour");
    assert_eq!(db.status(&r), "expired");
    assert!(db.open(&r).is_empty(), "open tasks remain after expiry");
    assert_eq!(count_type(&mut db, &r, "request.expired"), 1);
    let ev = events_of(&mut db, &r, "request.expired");
    assert_eq!(ev[0]["actor"], "system");
    let task = db.column("select task_id::text from awe.tasks where request_id = $1::text::uuid and assignee = 'bob'", &[&rid(&r)]).remove(0);
    assert!(db.try_decide(&task, "bob", "approve").is_err(), "decided on an expired request");
    // A request decided in time never expires.
    let r2 = db.submit(&key, json!({}));
    db.decide(&r2, "alice", "approve");
    assert_eq!(db.decide(&r2, "bob", "approve"), "approved");
    run_timers_at(&mut db, "40 days");
    assert_eq!(db.status(&r2), "approved");
}

// ---- 10. http approver rules (scenario 12) ------------------------------------------------

fn http_policy(db: &mut Db, url: &str) -> String {
    db.stages(json!([{"name": "Resolved", "mode": "all", "rules": [{"type": "http", "url": url}]}]))
}

fn resolver_job(db: &mut Db, r: &Value) -> Value {
    db.json(
        "select row_to_json(j)::text from awe.resolver_job j where tenant_id = $1 and request_id = $2::text::uuid",
        &[&db.tenant.clone(), &rid(r)],
    )
}

fn wait_status(db: &mut Db, r: &Value, status: &str) {
    wait_until(&format!("request {status}"), 20, || (db.status(r) == status).then_some(()));
}

#[test]
fn s12_http_resolver_answers_the_approvers() {
    let mut db = Db::new();
    let recv = Receiver::start(|req, _| {
        if req.path == "/resolve" { Resp { body: r#"["h1","h2"]"#.into(), ..resp(200) } } else { resp(200) }
    });
    let ep = register(&mut db, &recv);
    let key = http_policy(&mut db, &format!("{}/resolve", recv.url()));
    let artifact = unique("a");
    let r = db.json(
        "select awe.submit($1, 'doc', $2, '{\"amount\": 12}'::jsonb, 'rita')::text",
        &[&key, &artifact],
    );
    assert_eq!(r["status"], "pending", "waits for the resolver: {r}");
    assert_eq!(count_type(&mut db, &r, "stage.resolving"), 1);
    wait_status(&mut db, &r, "in_review");
    assert_eq!(db.open(&r), ["h1", "h2"]);
    let calls = recv.on_path("/resolve");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert!(verifies(&ep.secret, call), "the resolver call is signed: {:?}", call.headers);
    let b = call.json();
    assert_eq!(b["request_id"].as_str(), Some(rid(&r).as_str()));
    assert_eq!(b["tenant"].as_str(), Some(db.tenant.as_str()));
    assert_eq!(b["policy_key"].as_str(), Some(key.as_str()));
    assert_eq!(b["stage_index"], 0);
    assert_eq!(b["revision"], 1);
    assert_eq!(b["context"], json!({"amount": 12}));
    assert_eq!(b["requester"], "rita");
    assert_eq!(resolver_job(&mut db, &r)["status"], "done");
    db.decide(&r, "h1", "approve");
    assert_eq!(db.decide(&r, "h2", "approve"), "approved");

    // The {"principals": [...]} form works too.
    recv.set(|req, _| if req.path == "/resolve" { Resp { body: r#"{"principals": ["h3"]}"#.into(), ..resp(200) } } else { resp(200) });
    let r = db.submit(&key, json!({}));
    wait_status(&mut db, &r, "in_review");
    assert_eq!(db.open(&r), ["h3"]);
}

#[test]
fn s12_http_resolver_failing_five_times_fails_the_request() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| Resp { body: "resolver down".into(), ..resp(500) });
    register(&mut db, &recv);
    let key = http_policy(&mut db, &format!("{}/resolve", recv.url()));
    let r = db.submit(&key, json!({}));
    assert_eq!(r["status"], "pending");
    let waits = [10.0, 30.0, 60.0, 300.0];
    for attempt in 1..=5 {
        let job = wait_until(&format!("resolver attempt {attempt}"), 20, || {
            let j = resolver_job(&mut db, &r);
            (j["attempts"] == attempt && j["status"] != "running").then_some(j)
        });
        assert_eq!(recv.on_path("/resolve").len(), attempt as usize);
        assert!(job["last_error"].as_str().unwrap_or("").contains("500"), "{job}");
        if attempt < 5 {
            assert_eq!(job["status"], "pending");
            assert_eq!(db.status(&r), "pending", "still waiting after {attempt} failures");
            let due = db.json(
                "select extract(epoch from next_attempt_at - now())::float8::text from awe.resolver_job where tenant_id = $1 and request_id = $2::text::uuid",
                &[&db.tenant.clone(), &rid(&r)],
            );
            let wait = waits[attempt as usize - 1];
            assert!((wait - 3.0..=wait + 0.5).contains(&due.as_f64().unwrap()), "attempt {attempt}: next in {due} s, want {wait}");
            db.exec(&format!(
                "update awe.resolver_job set next_attempt_at = now() where tenant_id = '{}' and request_id = '{}'; select awe._wake_worker();",
                db.tenant, rid(&r)
            ));
        } else {
            assert_eq!(job["status"], "failed");
        }
    }
    wait_status(&mut db, &r, "failed");
    let failed = events_of(&mut db, &r, "request.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["actor"], "system");
    assert!(failed[0]["data"]["reason"].as_str().unwrap_or("").contains("/resolve"), "{failed:?}");
    assert!(db.open(&r).is_empty());
    worker_ticks(&mut db);
    assert_eq!(recv.on_path("/resolve").len(), 5, "called again after failing");
}

#[test]
fn s12_unregistered_resolver_url_is_never_called_and_fails() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| Resp { body: r#"["x1"]"#.into(), ..resp(200) });
    // Registered by another tenant only: no open relay.
    let mut other = Db::new();
    register(&mut other, &recv);
    let key = http_policy(&mut db, &format!("{}/resolve", recv.url()));
    let r = db.submit(&key, json!({}));
    for attempt in 1..=5 {
        wait_until(&format!("resolver attempt {attempt}"), 20, || {
            let j = resolver_job(&mut db, &r);
            (j["attempts"] == attempt && j["status"] != "running").then_some(())
        });
        db.exec(&format!(
            "update awe.resolver_job set next_attempt_at = now() where tenant_id = '{}' and request_id = '{}'; select awe._wake_worker();",
            db.tenant, rid(&r)
        ));
    }
    wait_status(&mut db, &r, "failed");
    assert_eq!(count_type(&mut db, &r, "request.failed"), 1);
    assert!(resolver_job(&mut db, &r)["last_error"].as_str().unwrap_or("").contains("registered"));
    assert_eq!(recv.count(), 0, "an unregistered URL was called");
}

// ---- 11. the worker runs timers by itself -------------------------------------------------

#[test]
fn the_worker_fires_sla_timers_and_sends_their_webhooks() {
    let _t = timers_lock();
    let mut db = Db::new();
    let recv = Receiver::ok();
    let ep = register(&mut db, &recv);
    let key = db.stages(json!([{"name": "Quick", "mode": "all", "rules": users(&["alice"]), "sla": "2s", "on_breach": {"action": "notify"}}]));
    let r = submit_cb(&mut db, &key, &ep.callback);
    let t0 = Instant::now();
    let got = recv.wait("a task.overdue webhook", |all| all.iter().any(|h| h.kind() == "task.overdue"));
    assert!(t0.elapsed() >= Duration::from_millis(1500), "overdue before the SLA passed");
    let h = got.iter().find(|h| h.kind() == "task.overdue").unwrap();
    assert!(verifies(&ep.secret, h));
    assert_eq!(h.json()["data"]["actor"], "system");
    assert_eq!(h.json()["data"]["task_id"].as_str(), Some(db.task_of(&r, "alice").as_str()));
    assert_eq!(count_type(&mut db, &r, "task.overdue"), 1);
    worker_ticks(&mut db);
    assert_eq!(count_type(&mut db, &r, "task.overdue"), 1, "the worker fired the timer twice");
}

// ---- timers that must not hurt anyone else -----------------------------------------------

/// Cancels a request when dropped, so a poisoned timer cannot outlive its test.
struct CancelOnDrop(Db, Value);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let id = rid(&self.1);
        let _ = self.0.try_json("select awe.cancel($1::text::uuid, 'test cleanup')::text", &[&id]);
    }
}

#[test]
fn a_failing_timer_does_not_stop_other_tenants_webhooks() {
    let _t = timers_lock();
    let mut bad = Db::new();
    let key = bad.stages(json!([{"name": "s", "mode": "any", "n": 1, "rules": users(&["alice"]), "sla": "1s",
        "on_breach": {"action": "escalate", "rules": [{"type": "expression", "logic": {"var": "boss"}}]}}]));
    let poisoned = bad.submit(&key, json!({"boss": 5}));
    let _cleanup = CancelOnDrop(bad, poisoned);
    std::thread::sleep(Duration::from_millis(2500));

    // Another tenant's work goes on: its own due timers fire, its webhooks arrive.
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "mode": "all", "rules": users(&["alice"]), "sla": "1s", "on_breach": {"action": "notify"}}]));
    let mut other = db.another();
    let r0 = other.submit(&key, json!({}));
    let recv = Receiver::ok();
    let ep = register(&mut db, &recv);
    let r = submit_cb(&mut db, &key, &ep.callback);
    wait_deliveries(&mut db, &r, "another tenant's webhooks", status_is("delivered"));
    wait_until("another tenant's SLA timer", 20, || (count_type(&mut db, &r0, "task.overdue") == 1).then_some(()));
    // And a caller of awe.run_due_timers() is not failed by someone else's policy.
    assert!(db.try_json("select awe.run_due_timers()::text", &[]).is_ok(), "run_due_timers fails because of another tenant's timer");
}

#[test]
fn concurrent_timer_runs_fire_each_timer_once() {
    let _t = timers_lock();
    let mut db = Db::new();
    let key = sla_policy(&mut db, json!({"action": "notify"}));
    db.exec(&format!(
        "select count(awe.submit('{key}', 'doc', 'a' || g, '{{}}'::jsonb, 'requester')) from generate_series(1, 2000) g"
    ));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let mut c = db.another();
            std::thread::spawn(move || {
                // Small batches, as several callers (or a worker and an admin) would run them.
                c.exec("set awe.clock_offset = '9 hours'");
                while c.json("select awe.run_due_timers(20)::text", &[])["breached"] != 0 {}
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let dup = db.column(
        "select task_id::text from awe.event where tenant_id = $1 and type = 'task.overdue' group by task_id having count(*) > 1",
        &[&db.tenant.clone()],
    );
    let fired = db.json("select count(*)::text from awe.event where tenant_id = $1 and type = 'task.overdue'", &[&db.tenant.clone()]);
    assert!(fired.as_i64() >= Some(2000), "every timer fired: {fired}");
    assert!(dup.is_empty(), "{} of 2000 timers fired more than once, e.g. {:?}", dup.len(), &dup[..dup.len().min(3)]);
}

// ---- 12. a database the worker does not serve --------------------------------------------

/// Creating awe in a database other than awe.database says at once that its
/// webhooks and timers will not run, naming both databases.
#[test]
fn creating_awe_where_the_worker_does_not_run_warns() {
    let served: String = connect().query_one("show awe.database", &[]).unwrap().get(0);
    let elsewhere = ScratchDatabase::new("elsewhere");
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let mut config: postgres::Config = elsewhere.url().parse().unwrap();
    let seen = warnings.clone();
    config.notice_callback(move |n| seen.lock().unwrap().push(format!("{}: {}", n.severity(), n.message())));
    config.connect(postgres::NoTls).unwrap().batch_execute("create extension awe").unwrap();
    let warnings = warnings.lock().unwrap();
    let expected = format!("WARNING: the awe worker serves database \"{served}\" (awe.database), so webhooks and timers of database \"{}\" will not run", elsewhere.name);
    assert!(warnings.contains(&expected), "{warnings:?}");
}
