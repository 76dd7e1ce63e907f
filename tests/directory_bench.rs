//! `make bench`: a first directory sync of the big stand-in realm (5,000
//! users, 60 groups three deep, a role of 1,200 members) and a resync that
//! finds nothing changed, timed from the worker's own record
//! (`last_duration_ms`: reading Keycloak and applying) and end to end (from
//! the request to the status showing it). The resync must rewrite no row:
//! the bench fails if it did.

use awe_e2e::keycloak::{StandIn, CLIENT_ID, CLIENT_SECRET, REALM};
use awe_e2e::receiver::wait_until;
use awe_e2e::Db;
use serde_json::{json, Value};
use std::time::Instant;

fn status(db: &mut Db) -> Value {
    db.json("select row_to_json(s)::text from awe.directory_sync_status s", &[])
}

fn synced(db: &mut Db, before: &Value) -> Value {
    wait_until("the directory sync", 300, || {
        let s = status(db);
        (s["last_attempt_at"] != *before && s["running"] == false).then_some(s)
    })
}

fn versions(db: &mut Db) -> String {
    db.column("select md5(coalesce(string_agg(v, ',' order by v), '')) from (
                 select xmin::text || ctid::text as v from awe.principal where tenant_id = awe.current_tenant()
                 union all select xmin::text || ctid::text from awe.role_grant where tenant_id = awe.current_tenant()
                 union all select xmin::text || ctid::text from awe.group_member where tenant_id = awe.current_tenant()) x", &[])[0].clone()
}

fn main() {
    let k = StandIn::seeded("big");
    let mut db = Db::new();
    let start = Instant::now();
    db.json("select awe.set_directory_source('keycloak', $1, $2, $3, $4, $5::text::jsonb)::text",
        &[&k.url, REALM, CLIENT_ID, CLIENT_SECRET, &json!({"client_roles": {"expense-app": "all"}}).to_string()]);
    let first = synced(&mut db, &Value::Null);
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(first["last_error"], Value::Null, "{first}");
    let c = &first["last_counts"];
    let calls = first["last_stats"]["http_calls"].as_i64().unwrap_or(0);
    let own = first["last_duration_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    println!("bench directory_first_sync_5000_users: {own:.2} s (ratio {:.2} vs target 10 s; {wall:.2} s from set_directory_source to the status; {} principals, {} grants, {} memberships, {calls} HTTP calls)",
        own / 10.0, c["principals"], c["grants"], c["memberships"]);

    let before_rows = versions(&mut db);
    let before = first["last_attempt_at"].clone();
    let start = Instant::now();
    db.json("select awe.sync_directory()::text", &[]);
    let again = synced(&mut db, &before);
    let wall = start.elapsed().as_secs_f64();
    let own = again["last_duration_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    let rewritten = versions(&mut db) != before_rows;
    assert!(!rewritten, "a resync with nothing changed rewrote rows: {again}");
    println!("bench directory_resync_no_change: {own:.2} s (ratio {:.2} vs the first sync; {wall:.2} s end to end; rows written: 0, asserted; changes {})",
        own / first["last_duration_ms"].as_f64().unwrap_or(f64::NAN) * 1000.0, again["last_counts"]["changes"]);
    db.exec("select awe.remove_directory_source()");
}
