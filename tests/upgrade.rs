//! `ALTER EXTENSION awe UPDATE` carries a database across releases. For
//! every release (scripts/releases.sh builds each from its tag; `make
//! upgrade` passes them in AWE_RELEASES), on a cluster of its own:
//! run that release's PostgreSQL installation, create awe, fill every
//! table through its API (requests in every state, open tasks, due
//! timers, pending and dead-lettered deliveries, held resolver jobs,
//! idempotency keys, delegations, a role mapping); restart on this tree's
//! library as a DBA does after installing the package (until the update,
//! operations refuse with AWE-VERSION-MISMATCH and the worker waits);
//! update, and then
//!  (a) the catalog equals a fresh install of the current version: the
//!      normalised `pg_dump --schema-only --binary-upgrade` (the one mode
//!      that dumps an extension's member objects) and a catalog listing
//!      (tests/sql/catalog_snapshot.sql) of both, so an upgrade script that
//!      misses a change fails here;
//!  (b) every row is still there, every hash chain verifies, open requests
//!      are decided to the end, pending webhooks are delivered, timers fire;
//!  (c) the same after pg_dump and pg_restore of the upgraded database.

use awe_e2e::cluster::{current_bin, ScratchCluster};
use awe_e2e::receiver::{resp, wait_until, Receiver};
use postgres::Client;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DB: &str = "awe_upgrade";

/// (version, PostgreSQL bin directory) of every release, oldest first.
fn releases() -> Vec<(String, String)> {
    let list = std::env::var("AWE_RELEASES").expect("AWE_RELEASES is unset: run the upgrade test with `make upgrade`");
    let found: Vec<(String, String)> = list.lines().filter_map(|l| l.split_once(' '))
        .map(|(v, tree)| (v.to_string(), format!("{tree}/usr/lib/postgresql/15/bin"))).collect();
    assert!(!found.is_empty(), "AWE_RELEASES names no release");
    found
}

fn one(c: &mut Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, Option<String>>(0).unwrap_or_default()
}

fn jsonq(c: &mut Client, sql: &str) -> Value {
    serde_json::from_str(&one(c, sql)).unwrap_or(Value::Null)
}

/// `pg_dump --schema-only --binary-upgrade` of awe's schemas, as a sorted
/// list of statements without OIDs: binary-upgrade mode is the one that
/// dumps the extension's member objects (each with its ALTER EXTENSION
/// ADD), where a plain dump says only CREATE EXTENSION.
fn schema_dump(cluster: &ScratchCluster, db: &str) -> Vec<String> {
    let out = cluster.tool("pg_dump").args(["--schema-only", "--binary-upgrade", "-n", "awe", "-n", "awe_api", db]).output().unwrap();
    assert!(out.status.success(), "pg_dump --schema-only: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut statements: Vec<String> = text.split(";\n").map(|st| {
        st.lines().filter(|l| !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict") && !l.trim().is_empty())
            .collect::<Vec<_>>().join("\n")
    })
    // OID assignments, and sequence positions (data, not schema).
    .filter(|st| !st.is_empty() && !st.contains("binary_upgrade_") && !st.starts_with("SELECT pg_catalog.setval(")).collect();
    statements.sort();
    statements
}

/// What one list has that the other lacks, both ways, or `None`.
fn differences(upgraded: &[String], fresh: &[String]) -> Option<String> {
    let missing: Vec<&str> = fresh.iter().filter(|l| !upgraded.contains(l)).map(|s| s.as_str()).collect();
    let extra: Vec<&str> = upgraded.iter().filter(|l| !fresh.contains(l)).map(|s| s.as_str()).collect();
    (!missing.is_empty() || !extra.is_empty()).then(|| format!(
        "  in a fresh install but not after the upgrade:\n    {}\n  only after the upgrade:\n    {}",
        missing.join("\n    "), extra.join("\n    ")))
}

fn snapshot(c: &mut Client) -> Vec<String> {
    let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/catalog_snapshot.sql")).unwrap();
    c.query(&sql, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Row counts of every awe table.
fn counts(c: &mut Client) -> BTreeMap<String, i64> {
    let tables: Vec<String> = c.query("select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                        where n.nspname = 'awe' and c.relkind = 'r' order by 1", &[]).unwrap()
        .iter().map(|r| r.get(0)).collect();
    tables.into_iter().filter(|t| t != "worker_heartbeat")
        .map(|t| { let n: i64 = c.query_one(&format!("select count(*) from awe.{t}"), &[]).unwrap().get(0); (t, n) }).collect()
}

fn all_chains_verify(c: &mut Client, tenant: &str) {
    c.batch_execute(&format!("set awe.tenant = '{tenant}'")).unwrap();
    let bad: Vec<String> = c.query("select request_id::text || ' ' || awe.verify_timeline(request_id)::text from awe.requests
                                     where not (awe.verify_timeline(request_id) ->> 'valid')::boolean", &[]).unwrap()
        .iter().map(|r| r.get(0)).collect();
    assert!(bad.is_empty(), "chains that do not verify: {bad:?}");
}

/// Fills every table of the oldest release through its API.
fn fill(c: &mut Client, recv: &Receiver, gone: &Receiver, resolver_url: &str) {
    c.batch_execute("select awe.create_tenant('up'); set awe.tenant = 'up'; set awe.actor = 'app';
                     create role awe_upgrade_app login; grant awe_user to awe_upgrade_app;
                     select awe.map_role_to_tenant('awe_upgrade_app', 'up');").unwrap();
    c.batch_execute("select awe.grant_role('dora', 'fd'); select awe.add_to_group('fin.ana', '/finance'); select awe.add_to_group('fin.ben', '/finance');
                     select awe.upsert_principal('mia', 'Mia', 'mia@example.com', '{\"team\": \"ops\"}');
                     select awe.set_delegation('lead', 'deputy', now() - interval '1 hour', now() + interval '30 days', 'holiday');").unwrap();
    let ep = jsonq(c, &format!("select awe.register_endpoint('{}')::text", recv.url()));
    jsonq(c, &format!("select awe.rotate_endpoint_secret('{}', '1 hour')::text", ep["endpoint_id"].as_str().unwrap()));
    jsonq(c, &format!("select awe.register_endpoint('{}')::text", gone.url()));
    jsonq(c, &format!("select awe.register_endpoint('{}')::text", resolver_url.trim_end_matches("/resolve")));
    let policy = json!({"key": "up.flow", "artifact_type": "doc", "forbid_self_approval": true, "expires_after": "30d", "stages": [
        {"name": "one", "mode": "all", "rules": [{"type": "user", "user": "mia"}], "sla": "1h",
         "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "fd"}]}},
        {"name": "two", "mode": "any", "rules": [{"type": "group", "group": "/finance"}]}]});
    one(c, &format!("select awe.create_policy('{policy}')::text"));
    one(c, "select awe.activate_policy('up.flow', 1)::text");
    let mut v2 = policy.clone();
    v2["title"] = json!("second version");
    one(c, &format!("select awe.create_policy_version('{v2}')::text")); // a draft
    let http = json!({"key": "up.http", "artifact_type": "doc", "stages": [{"name": "r", "rules": [{"type": "http", "url": resolver_url}]}]});
    one(c, &format!("select awe.create_policy('{http}')::text"));
    one(c, "select awe.activate_policy('up.http', 1)::text");
    let cb = format!("{}/hooks", recv.url());
    let submit = |c: &mut Client, id: &str, callback: &str| -> Value {
        jsonq(c, &format!("select awe.submit('up.flow', 'doc', '{id}', '{{\"n\": 98765432109876543210}}', 'sam', '{callback}', 'key-{id}')::text"))
    };
    let decide = |c: &mut Client, r: &Value, who: &str, decision: &str| {
        let rid = r["request_id"].as_str().unwrap();
        c.batch_execute(&format!("set awe.actor = '{who}'")).unwrap();
        one(c, &format!("select awe.decide((select task_id from awe.tasks where request_id = '{rid}' and assignee = '{who}' and status = 'open'), '{decision}')::text"));
        c.batch_execute("set awe.actor = 'app'").unwrap();
    };
    // One request in every state.
    submit(c, "open", &cb);
    let approved = submit(c, "approved", &cb);
    decide(c, &approved, "mia", "approve");
    decide(c, &approved, "fin.ana", "approve");
    let rejected = submit(c, "rejected", &cb);
    decide(c, &rejected, "mia", "reject");
    let sent_back = submit(c, "sent-back", &cb);
    decide(c, &sent_back, "mia", "request_changes");
    let cancelled = submit(c, "cancelled", &cb);
    one(c, &format!("select awe.cancel('{}', 'no longer needed')::text", cancelled["request_id"].as_str().unwrap()));
    let in_two = submit(c, "in-two", &cb);
    decide(c, &in_two, "mia", "approve");
    one(c, &format!("select awe.comment('{}', 'looked at it')::text", in_two["request_id"].as_str().unwrap()));
    // A request whose deliveries go to an endpoint that answers 410: dead letters.
    submit(c, "dead", &format!("{}/hooks", gone.url()));
    // A request waiting on its http resolver (which is down): a resolver job.
    one(c, "select awe.submit('up.http', 'doc', 'resolving', '{}', 'sam')::text");
    // An expired request: expiry as of 31 days on.
    submit(c, "expiring", &cb);
    c.batch_execute("set awe.clock_offset = '31 days'; select awe.run_due_timers(); reset awe.clock_offset").unwrap();
    // The receiver's endpoint disabled: what comes next is held, pending.
    one(c, &format!("select awe.set_endpoint_enabled('{}', false, 'maintenance')::text", ep["endpoint_id"].as_str().unwrap()));
    // Open ones with SLA timers due an hour on, for after the update.
    submit(c, "due-timer", &cb);
}

#[test]
fn alter_extension_update_carries_every_row_across() {
    for (release, bin) in releases() {
        from_release(&release, &bin);
    }
}

fn from_release(release: &str, release_bin: &str) {
    let recv = Receiver::start(|_, _| resp(204));
    let gone = Receiver::start(|_, _| resp(410));
    let resolver = Receiver::start(|_, _| resp(503));
    let resolver_url = format!("{}/resolve", resolver.url());
    let mut cluster = ScratchCluster::start_on(DB, release_bin);
    let mut c = cluster.connect(DB);
    c.batch_execute("create extension awe").unwrap();
    assert_eq!(one(&mut c, "select extversion from pg_extension where extname = 'awe'"), release);
    fill(&mut c, &recv, &gone, &resolver_url);
    wait_until("the 410 endpoint's dead letters", 30, || (one(&mut c, "select count(*)::text from awe.delivery where status = 'dead'") != "0").then_some(()));
    let before = counts(&mut c);
    let empty: Vec<&String> = before.iter().filter(|(_, n)| **n == 0).map(|(t, _)| t).collect();
    assert!(empty.is_empty(), "the fixture must fill every table of {release}: {empty:?} are empty");
    drop(c);

    // The new package installed, PostgreSQL restarted: the new library on
    // the old SQL refuses to operate, and its worker waits, until the update.
    cluster.restart_on(&current_bin());
    let mut c = cluster.connect(DB);
    let current: String = one(&mut c, "select default_version from pg_available_extensions where name = 'awe'");
    assert_ne!(current, release, "the tree's version must be newer than the release it updates from");
    c.batch_execute("set awe.tenant = 'up'; set awe.actor = 'app'").unwrap();
    let refused = c.query_one("select awe.submit('up.flow', 'doc', 'too-early', '{}', 'sam')::text", &[]).unwrap_err();
    let refused = refused.as_db_error().expect("a database error");
    assert!(refused.message().contains(&format!("awe's library is {current} but this database has awe {release} installed")), "{}", refused.message());
    assert_eq!(refused.code().code(), "PT503");
    wait_until("the worker's warning about the versions", 30, || {
        cluster.log().contains(&format!("the library is {current} but the database has awe {release} installed")).then_some(())
    });
    assert_eq!(counts(&mut c), before, "nothing changed while the versions differed");
    // Waiting, it sleeps between its polls (it once spun a whole CPU).
    let worker: i32 = c.query_one("select pid from pg_stat_activity where backend_type = 'awe worker'", &[]).unwrap().get(0);
    let ticks = cpu_ticks(worker);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_ticks(worker) - ticks;
    assert!(used < 50, "the waiting worker used {used} clock ticks of CPU in 2 s");

    // The library still has every entry point the release's script names:
    // that script installs on it (CREATE FUNCTION checks each symbol).
    cluster.admin().batch_execute("create database awe_old").unwrap();
    let mut old = cluster.connect("awe_old");
    old.batch_execute(&format!("create extension awe version '{release}'")).expect("the release's script installs on the current library");
    drop(old);
    cluster.admin().batch_execute("drop database awe_old").unwrap();

    c.batch_execute("alter extension awe update").unwrap();
    assert_eq!(one(&mut c, "select extversion from pg_extension where extname = 'awe'"), current);
    let version = jsonq(&mut c, "select awe.version()::text");
    assert_eq!(version, json!({"library": current, "sql": current, "matches": true}));

    // (a) The catalog is what a fresh install of the current version makes.
    cluster.admin().batch_execute("create database awe_fresh").unwrap();
    let mut fresh = cluster.connect("awe_fresh");
    fresh.batch_execute("create extension awe").unwrap();
    if let Some(d) = differences(&schema_dump(&cluster, DB), &schema_dump(&cluster, "awe_fresh")) {
        panic!("pg_dump --schema-only of awe updated from {release} differs from a fresh install of {current}:\n{d}");
    }
    if let Some(d) = differences(&snapshot(&mut c), &snapshot(&mut fresh)) {
        panic!("the catalog of awe updated from {release} differs from a fresh install of {current}:\n{d}");
    }
    drop(fresh);
    cluster.admin().batch_execute("drop database awe_fresh").unwrap();

    // (b) The rows, the chains, and the engine carrying on.
    let after = counts(&mut c);
    let kept: BTreeMap<String, i64> = after.iter().filter(|(t, _)| before.contains_key(*t)).map(|(t, n)| (t.clone(), *n)).collect();
    assert_eq!(kept, before, "every row is still there");
    let added: Vec<(&String, &i64)> = after.iter().filter(|(t, _)| !before.contains_key(*t)).collect();
    assert!(added.iter().all(|(_, n)| **n == 0), "tables new in {current} start empty: {added:?}");
    all_chains_verify(&mut c, "up");
    carry_on(&mut c, &recv);
    let status = jsonq(&mut c, "select row_to_json(s)::text from awe.worker_status s");
    assert_eq!((status["library_version"].as_str(), status["version_mismatch"].as_bool()), (Some(current.as_str()), Some(false)), "{status}");

    // (c) Dump, restore, and the same again.
    let dump = cluster.dir.join("upgraded.dump");
    let ok = cluster.tool("pg_dump").args(["-Fc", "-f", dump.to_str().unwrap(), DB]).status().unwrap().success();
    assert!(ok, "pg_dump");
    let after = counts(&mut c);
    drop(c);
    let mut admin = cluster.admin();
    admin.batch_execute(&format!("drop database {DB} with (force)")).unwrap();
    admin.batch_execute(&format!("create database {DB}")).unwrap();
    drop(admin);
    let ok = cluster.tool("pg_restore").args(["--exit-on-error", "-d", DB, dump.to_str().unwrap()]).status().unwrap().success();
    assert!(ok, "pg_restore");
    let mut r = cluster.connect(DB);
    assert_eq!(counts(&mut r), after, "every row restored");
    assert_eq!(one(&mut r, "select extversion from pg_extension where extname = 'awe'"), current);
    all_chains_verify(&mut r, "up");
    r.batch_execute("set awe.tenant = 'up'; set awe.actor = 'app'").unwrap();
    let more = jsonq(&mut r, &format!("select awe.submit('up.flow', 'doc', 'after-restore', '{{}}', 'sam', '{}/hooks')::text", recv.url()));
    assert_eq!(more["status"], "in_review");
    all_chains_verify(&mut r, "up");
    let role_still_mapped: String = one(&mut r, "select string_agg(role::text, ',') from awe.tenant_role");
    assert_eq!(role_still_mapped, "awe_upgrade_app");
    drop(r);
    cluster.admin().batch_execute("drop role if exists awe_upgrade_app").ok();
}

/// User and system CPU time of a process, in clock ticks (/proc/<pid>/stat).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line.
    let rest: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap()
}

/// After the update: held deliveries go out once their endpoint is enabled,
/// due timers fire, open requests are decided to the end.
fn carry_on(c: &mut Client, recv: &Receiver) {
    c.batch_execute("set awe.tenant = 'up'; set awe.actor = 'app'").unwrap();
    let ids: Vec<String> = c.query("select endpoint_id::text from awe.endpoints where not enabled", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    for id in ids {
        one(c, &format!("select awe.set_endpoint_enabled('{id}', true)::text"));
    }
    wait_until("every pending delivery delivered", 60, || {
        let left = one(c, "select count(*)::text from awe.delivery d join awe.endpoint e using (tenant_id, endpoint_id)
                            where d.status in ('pending', 'delivering') and e.enabled and e.url not like '%/resolve'");
        (left == "0").then_some(())
    });
    assert!(recv.count() > 0);
    // Timers: the SLA of open tasks, an hour on.
    c.batch_execute("set awe.clock_offset = '2 hours'").unwrap();
    let fired = jsonq(c, "select awe.run_due_timers(10000)::text");
    c.batch_execute("reset awe.clock_offset").unwrap();
    assert!(fired["breached"].as_i64().unwrap() > 0, "the SLA timers fire after the update: {fired}");
    // Decide every open task by its assignee, until nothing is open.
    for _ in 0..10 {
        let open: Vec<(String, String)> = c.query("select task_id::text, assignee from awe.tasks where status = 'open' and kind = 'approver'", &[]).unwrap()
            .iter().map(|r| (r.get(0), r.get(1))).collect();
        if open.is_empty() {
            break;
        }
        for (task, who) in open {
            c.batch_execute(&format!("set awe.actor = '{who}'")).unwrap();
            let _ = c.query_one(&format!("select awe.decide('{task}', 'approve')::text"), &[]);
        }
    }
    c.batch_execute("set awe.actor = 'app'").unwrap();
    let still: String = one(c, "select count(*)::text from awe.requests where status = 'in_review'");
    assert_eq!(still, "0", "every open request decided to the end");
    all_chains_verify(c, "up");
}
