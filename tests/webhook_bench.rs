//! `make bench` webhook figures, against the worker of the local cluster:
//!   - sustained delivery rate to a local receiver (deliveries/s);
//!   - median commit → receipt latency with an idle queue;
//!   - the worker's RSS after the sustained run;
//!   - fairness: how fast a 100,000-delivery backlog on one endpoint drains
//!     alone and while a second endpoint gets fresh webhooks, and those fresh
//!     webhooks' p50/p99 commit → receipt latency meanwhile.
//! The baseline for the rate is the same receiver hit directly by this
//! process with the same number of concurrent connections.
//! Usage: cargo run --release -p awe-e2e --example webhook_bench -- [deliveries]

use awe_e2e::receiver::{now_secs, resp, Receiver};
use awe_e2e::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// (private, total) resident memory of the worker in kB. Total RSS also
/// counts the shared buffers it touched; private (RssAnon) is its own.
fn worker_rss_kb(db: &mut Db) -> (u64, u64) {
    let pid = db.column("select pid::text from pg_stat_activity where backend_type = 'awe worker'", &[]);
    let Some(pid) = pid.first() else { return (0, 0) };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0);
    (field("RssAnon:"), field("VmRSS:"))
}

fn main() {
    let target: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let recv = Receiver::start(|_, _| resp(204));
    let url = format!("{}/hooks", recv.url());
    let count = || recv.count() as u64;

    // Baseline: this process posting to the same receiver, 16 keep-alive connections.
    let n_base = 20_000u64;
    let start = Instant::now();
    let threads: Vec<_> = (0..16).map(|_| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap()).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            for _ in 0..n_base / 16 {
                s.write_all(b"POST /hooks HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nwebhook-id: base\r\n\r\n{}").unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    if line == "\r\n" {
                        break;
                    }
                }
            }
        })
    }).collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let base_rate = n_base as f64 / start.elapsed().as_secs_f64();
    let baseline_requests = count();

    let mut db = Db::new();
    db.exec(&format!("select awe.register_endpoint('{url}')"));
    let key = db.stages(json!([{"name": "s", "rules": [{"type": "user", "user": "a"}, {"type": "user", "user": "b"}]}]));

    // Sustained: submit requests (4 events each) from 4 connections as fast
    // as possible, and time until the receiver has them all.
    let per_request = 4u64;
    let requests = target / per_request;
    let start = Instant::now();
    let submitters: Vec<_> = (0..4).map(|w| {
        let mut c = db.another();
        let (key, url) = (key.clone(), url.clone());
        std::thread::spawn(move || {
            for i in 0..requests / 4 {
                c.json("select awe.submit($1, 'doc', $2, '{}', null, $3)::text", &[&key, &format!("wb-{w}-{i}"), &url]);
            }
        })
    }).collect();
    submitters.into_iter().for_each(|t| t.join().unwrap());
    let expected = (requests / 4) * 4 * per_request;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count() - baseline_requests < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = count() - baseline_requests;
    let rate = got as f64 / start.elapsed().as_secs_f64();
    // `webhook_bench <n> rate-only`: the sustained rate alone, as one
    // number (bench.sh compares it across max_wal_size values).
    if std::env::args().nth(2).as_deref() == Some("rate-only") {
        println!("{rate:.0}");
        return;
    }
    println!("bench webhook_deliveries_per_second: {rate:.0} deliveries/s (ratio {:.2} vs direct_posts_to_the_same_receiver {base_rate:.0}/s; {got}/{expected} delivered; target >= 1000)", rate / base_rate);
    let (private, total) = worker_rss_kb(&mut db);
    println!("bench worker_private_rss_after_{got}_deliveries: {:.1} MB (ratio {:.2} vs its total RSS {:.1} MB incl. shared buffers; target < 100 MB)",
        private as f64 / 1024.0, private as f64 / total.max(1) as f64, total as f64 / 1024.0);

    // Latency with an idle queue: one request at a time, commit → receipt of
    // its first webhook (request.created).
    let mut lat = Vec::new();
    for i in 0..50 {
        std::thread::sleep(Duration::from_millis(30));
        let before = recv.count();
        let committed = now_secs();
        db.json("select awe.submit($1, 'doc', $2, '{}', null, $3)::text", &[&key, &format!("lat-{i}"), &url]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = recv.nth(before) {
                lat.push((r.at - committed) * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = lat.get(lat.len() / 2).copied().unwrap_or(f64::NAN);
    let poll_ms = 1000.0;
    println!("bench webhook_commit_to_receipt_median: {median:.1} ms (ratio {:.3} vs worker_poll_interval {poll_ms} ms; target <= 100 ms)", median / poll_ms);

    fairness(std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(100_000));
}

/// Queues `n` due deliveries of one event on the tenant's endpoint for
/// `url` (what a replay or a receiver back after an outage leaves), and
/// wakes the worker.
fn queue_backlog(db: &mut Db, key: &str, url: &str, n: u64) {
    let r = db.json("select awe.submit($1, 'doc', 'backlog', '{}', null, $2)::text", &[key, url]);
    db.exec(&format!(
        "begin;
         insert into awe.delivery (tenant_id, request_id, seq, event_id, event_type, endpoint_id, url, next_attempt_at, created_at)
         select d.tenant_id, d.request_id, d.seq, d.event_id, d.event_type, d.endpoint_id, d.url, now(), now()
           from awe.delivery d, generate_series(1, {n}) where d.tenant_id = '{}' and d.request_id = '{}' and d.seq = 1;
         select awe._wake_worker();
         commit;", db.tenant, rid(&r)));
}

/// Seconds until the receiver holds `n` more requests than `before`.
fn drained(recv: &Receiver, before: u64, n: u64, start: Instant) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(900);
    while (recv.count() as u64) < before + n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed().as_secs_f64()
}

fn fairness(backlog: u64) {
    let busy = Receiver::start(|_, _| resp(204));
    let quiet = Receiver::start(|_, _| resp(204));
    let mut a = Db::new();
    let mut c = Db::new();
    let (url_a, url_c) = (format!("{}/hooks", busy.url()), format!("{}/hooks", quiet.url()));
    a.exec(&format!("select awe.register_endpoint('{}')", busy.url()));
    c.exec(&format!("select awe.register_endpoint('{}')", quiet.url()));
    let key_a = a.stages(json!([{"name": "s", "rules": [{"type": "user", "user": "a"}]}]));
    let key_c = c.stages(json!([{"name": "s", "rules": [{"type": "user", "user": "a"}]}]));

    // The backlog alone.
    let before = busy.count() as u64;
    let start = Instant::now();
    queue_backlog(&mut a, &key_a, &url_a, backlog);
    let alone = backlog as f64 / drained(&busy, before, backlog + 3, start);

    // The same backlog while the other endpoint gets a request every 50 ms.
    let before = busy.count() as u64;
    let start = Instant::now();
    queue_backlog(&mut a, &key_a, &url_a, backlog);
    let mut sent: Vec<(String, f64)> = Vec::new();
    while (busy.count() as u64) < before + backlog * 9 / 10 {
        let committed = now_secs();
        let r = c.json("select awe.submit($1, 'doc', $2, '{}', null, $3)::text", &[&key_c, &unique("f"), &url_c]);
        sent.push((rid(&r), committed));
        std::thread::sleep(Duration::from_millis(50));
    }
    let with_traffic = backlog as f64 / drained(&busy, before, backlog + 3, start);
    // Commit → receipt of each request's webhooks.
    let expect = sent.len() * 3;
    let deadline = Instant::now() + Duration::from_secs(30);
    while quiet.count() < expect && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let committed_at: std::collections::HashMap<String, f64> = sent.into_iter().collect();
    let mut lat: Vec<f64> = quiet.requests().iter()
        .filter_map(|q| Some((q.at - committed_at.get(q.json()["data"]["request_id"].as_str()?)?) * 1000.0))
        .collect();
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
    println!("bench webhook_backlog_drain_alone: {alone:.0} deliveries/s ({backlog} due on one endpoint)");
    println!("bench webhook_backlog_drain_beside_fresh_traffic: {with_traffic:.0} deliveries/s (ratio {:.2} vs webhook_backlog_drain_alone; target >= 0.90)", with_traffic / alone);
    println!("bench webhook_fresh_delivery_during_backlog: p50 {:.1} ms, p99 {:.1} ms (ratio {:.3} vs worker_poll_interval 1000 ms; {} requests to a quiet endpoint while {backlog} were due elsewhere; target p99 <= 250 ms)",
        pct(50), pct(99), pct(99) / 1000.0, lat.len());
}
