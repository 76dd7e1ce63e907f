//! `awe deliveries ls` (awe.deliveries) and `awe deliveries replay`
//! (awe.replay_deliveries, then a progress bar while the worker delivers).

use crate::args::{DeliveriesLsArgs, ReplayArgs};
use crate::db::{compact, pretty, time, Db, Failure};
use crate::exit;
use crate::request::check_uuid;
use crate::table;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn ls(args: &DeliveriesLsArgs) -> i32 {
    match list(args) {
        Ok(rows) => {
            if args.json {
                println!("{}", pretty(&Value::Array(rows)));
            } else if rows.is_empty() {
                println!("no {}deliveries", if args.dead { "dead " } else { "" });
            } else {
                let mut t = table::new(&["id", "request", "seq", "event", "url", "status", "attempts", "last", "created", "next / delivered"]);
                for r in &rows {
                    let last = match (r["last_status"].as_i64(), r["last_error"].as_str()) {
                        (Some(s), Some(e)) => format!("{s} {}", table::clip(e, 40)),
                        (Some(s), None) => s.to_string(),
                        (None, Some(e)) => table::clip(e, 40),
                        (None, None) => String::new(),
                    };
                    let when = match r["status"].as_str() {
                        Some("delivered") => time(&r["delivered_at"]),
                        Some("pending") => time(&r["next_attempt_at"]),
                        _ => String::new(),
                    };
                    t.add_row(vec![
                        compact(&r["delivery_id"]), compact(&r["request_id"]), compact(&r["seq"]), compact(&r["event_type"]),
                        compact(&r["url"]), compact(&r["status"]), compact(&r["attempts"]), last, time(&r["created_at"]), when,
                    ]);
                }
                println!("{t}");
            }
            exit::SUCCESS
        }
        Err(f) => f.print(args.json),
    }
}

fn list(args: &DeliveriesLsArgs) -> Result<Vec<Value>, Failure> {
    if let Some(r) = &args.request {
        check_uuid("request id", r)?;
    }
    if args.limit < 1 {
        return Err(Failure::usage("--limit must be at least 1"));
    }
    let status = if args.dead { Some("dead".to_string()) } else { args.status.clone() };
    let mut db = Db::connect(&args.db)?;
    db.rows(
        "select delivery_id, request_id, seq, event_type, url, status, attempts, last_status, last_error,
                created_at, next_attempt_at, first_attempt_at, delivered_at, endpoint_id, event_id
           from awe.deliveries
          where ($1::text is null or status = $1) and ($2::text is null or request_id = $2::text::uuid)
          order by delivery_id desc limit $3",
        &[&status, &args.request, &args.limit],
    )
}

/// `--since`: an awe duration (that long ago) or a timestamp, as SQL text.
fn since_sql(since: &str) -> String {
    match awe_core::duration::parse_duration(since) {
        Ok(seconds) => format!("-{seconds} seconds"),
        Err(_) => since.to_string(),
    }
}

pub fn replay(args: &ReplayArgs) -> i32 {
    match run_replay(args) {
        Ok((doc, code)) => {
            if args.json {
                println!("{}", pretty(&doc));
            }
            code
        }
        Err(f) => f.print(args.json),
    }
}

fn run_replay(args: &ReplayArgs) -> Result<(Value, i32), Failure> {
    if let Some(r) = &args.request {
        check_uuid("request id", r)?;
    }
    let timeout = awe_core::duration::parse_duration(&args.timeout).map_err(|e| Failure::usage(format!("--timeout: {e}")))?;
    // A duration is relative to the database's clock, a timestamp is read by it.
    let since = args.since.as_deref().map(|s| (s, awe_core::duration::parse_duration(s).is_ok()));
    let since_text = args.since.as_deref().map(since_sql);
    let relative = since.map(|(_, r)| r).unwrap_or(false);
    let mut db = Db::connect(&args.db)?;
    let since_expr = if relative { "now() + $3::text::interval" } else { "$3::text::timestamptz" };
    // Which deliveries the replay takes (the same filter as the function),
    // read in its transaction so the progress counts exactly those.
    db.exec("begin")?;
    let ids = db.json(
        &format!(
            "select coalesce(json_agg(delivery_id order by delivery_id), '[]')::text from awe.deliveries
              where status in ('dead', 'delivered') and ($1::bigint is null or delivery_id = $1)
                and ($2::text is null or request_id = $2::text::uuid) and ($3::text is null or created_at >= {since_expr})"
        ),
        &[&args.delivery, &args.request, &since_text],
    )?;
    let queued = db.json(
        &format!("select awe.replay_deliveries($1, $2::text::uuid, case when $3::text is null then null else {since_expr} end)::text"),
        &[&args.delivery, &args.request, &since_text],
    )?;
    db.exec("commit")?;
    let ids: Vec<i64> = ids.as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
    let n = queued.as_i64().unwrap_or(0) as usize;
    if !args.json {
        println!("{} queued for delivery", table::count(n, "delivery", "deliveries"));
    }
    if n == 0 || args.no_wait {
        let note = if n == 0 { Some("only dead and delivered deliveries are replayed; none matched") } else { None };
        if let (Some(note), false) = (note, args.json) {
            println!("{note}");
        }
        return Ok((json!({"queued": n, "delivery_ids": ids, "waited": false}), exit::SUCCESS));
    }
    wait(&mut db, &ids, Duration::from_secs(timeout as u64), args.json)
}

/// Polls the replayed deliveries until each is delivered or dead again, a
/// held one's endpoint is disabled, or the time is up.
fn wait(db: &mut Db, ids: &[i64], timeout: Duration, json: bool) -> Result<(Value, i32), Failure> {
    let bar = ProgressBar::new(ids.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} delivered or dead {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let rows = loop {
        let rows = db.rows(
            "select d.delivery_id, d.status, d.attempts, d.last_status, d.last_error, d.url, e.enabled as endpoint_enabled, e.disabled_reason
               from awe.deliveries d left join awe.endpoints e using (endpoint_id)
              where d.delivery_id = any($1) order by d.delivery_id",
            &[&ids],
        )?;
        let done = rows.iter().filter(|r| r["status"] == "delivered" || r["status"] == "dead").count();
        bar.set_position(done as u64);
        let held = rows.iter().any(|r| r["status"] == "pending" && r["endpoint_enabled"] == false);
        if done == rows.len() || held || started.elapsed() >= timeout {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    bar.finish_and_clear();
    let count = |s: &str| rows.iter().filter(|r| r["status"] == s).count();
    let (delivered, dead) = (count("delivered"), count("dead"));
    let waiting: Vec<&Value> = rows.iter().filter(|r| r["status"] != "delivered" && r["status"] != "dead").collect();
    let held: Vec<&Value> = waiting.iter().copied().filter(|r| r["endpoint_enabled"] == false).collect();
    if !json {
        println!("{delivered} delivered, {dead} dead again, {} still waiting", waiting.len());
        for r in rows.iter().filter(|r| r["status"] == "dead") {
            let why = match (r["last_status"].as_i64(), r["last_error"].as_str()) {
                (Some(s), _) => format!("HTTP {s}"),
                (None, Some(e)) => e.to_string(),
                _ => String::new(),
            };
            println!("  dead: delivery {} to {} ({why})", compact(&r["delivery_id"]), compact(&r["url"]));
        }
        for r in &held {
            println!("  held: delivery {} waits for its disabled endpoint {} ({})", compact(&r["delivery_id"]), compact(&r["url"]),
                compact(&r["disabled_reason"]));
        }
        if !held.is_empty() {
            println!("hint: enable the endpoint with awe.set_endpoint_enabled(endpoint_id, true); its deliveries go out then");
        } else if !waiting.is_empty() {
            println!("hint: the worker did not finish within --timeout; `awe doctor` checks it is running");
        }
    }
    let code = if dead == 0 && waiting.is_empty() { exit::SUCCESS } else { exit::FOUND };
    Ok((json!({"queued": ids.len(), "delivery_ids": ids, "waited": true, "delivered": delivered, "dead": dead,
               "waiting": waiting.len(), "held_by_disabled_endpoint": held.len(), "deliveries": rows}), code))
}
