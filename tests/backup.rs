//! Logical backups: `pg_dump` of a database that uses awe, restored with
//! `pg_restore` into a fresh database, brings back every row of every awe
//! table, and the restored database carries on where the original stopped.
//!
//! Works in two throwaway databases on the local cluster. pg_dump and
//! pg_restore come from AWE_PG_BIN (default: PostgreSQL 15's bin directory).

use awe_e2e::{rid, unique, users, Db, ScratchDatabase};
use postgres::{Client, NoTls};
use serde_json::{json, Value};
use std::process::Command;

fn pg_bin(tool: &str) -> String {
    let dir = std::env::var("AWE_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    format!("{dir}/{tool}")
}

/// Row count of every awe table, by name, as the superuser sees them.
fn counts(client: &mut Client) -> Vec<(String, i64)> {
    let tables: Vec<String> = client
        .query("select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'awe' and c.relkind = 'r' and c.relname <> 'worker_heartbeat' order by 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = client.query_one(&format!("select count(*) from awe.{t}"), &[]).unwrap().get(0);
            (t, n)
        })
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pg_dump_and_pg_restore_keep_every_row_and_the_restored_database_carries_on() {
    let (src, dst) = (ScratchDatabase::new("backup_src"), ScratchDatabase::new("backup_dst"));

    // Something in every table: directory, policies, a request part-way
    // through (tasks, events, deliveries, a resolver job), keys and secrets.
    let mut db = Db { client: Client::connect(&src.url(), NoTls).unwrap(), tenant: "acme".into() };
    db.exec("create extension awe; select awe.create_tenant('acme'); set awe.tenant = 'acme';
             select awe.map_role_to_tenant('awe_anon', 'acme');
             select awe.upsert_principal('ann', 'Ann'); select awe.grant_role('bob', 'finance');
             select awe.add_to_group('cyd', '/org/eng'); select awe.set_delegation('cyd', 'dee', now(), now() + interval '1 day');
             select awe.set_directory_source('keycloak', 'http://127.0.0.1:9', 'acme', 'awe-sync', 'secret');
             select awe.upsert_principal('gone', 'Left'); select awe.upsert_principal('gone', active => false)");
    let endpoint = db.json("select awe.register_endpoint('http://127.0.0.1:9/hooks')::text", &[]);
    let resolver = "http://127.0.0.1:9/resolve";
    let key = db.stages(json!([
        {"name": "Review", "mode": "all", "rules": users(&["ann", "bob"])},
        {"name": "Resolved", "rules": [{"type": "http", "url": resolver}]},
    ]));
    let submit = "select awe.submit($1, 'doc', 'inv-1', '{\"amount\": 5}', 'requester', 'http://127.0.0.1:9/hooks', 'key-1')::text";
    let r = db.json(submit, &[&key]);
    db.decide(&r, "bob", "approve");
    let half = db.json(
        "select awe.submit($1, 'doc', 'inv-2', '{\"amount\": 5}', 'requester', 'http://127.0.0.1:9/hooks')::text",
        &[&key],
    );
    db.decide(&half, "ann", "approve");
    db.decide(&half, "bob", "approve"); // its second stage now waits for the resolver
    let before = counts(&mut db.client);
    for (t, n) in &before {
        assert!(*n > 0, "the fixture leaves awe.{t} empty, so the test could not tell it is restored");
    }
    let last_delivery: i64 = db.client.query_one("select max(delivery_id) from awe.delivery", &[]).unwrap().get(0);

    let file = std::env::temp_dir().join(format!("{}.dump", src.name));
    run(Command::new(pg_bin("pg_dump")).args(["-Fc", "-f"]).arg(&file).arg(src.url()));
    run(Command::new(pg_bin("pg_restore")).args(["--exit-on-error", "-d", &dst.url()]).arg(&file));
    let _ = std::fs::remove_file(&file);

    let mut db = Db { client: Client::connect(&dst.url(), NoTls).unwrap(), tenant: "acme".into() };
    db.exec("set awe.tenant = 'acme'");
    assert_eq!(counts(&mut db.client), before, "row counts after restore");
    let verified = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(verified["valid"], json!(true), "{verified}");

    // It carries on: the idempotency key still returns the original request,
    // the open task can be decided (the hash chain continues), and new
    // deliveries take ids after the restored ones.
    let again = db.json(submit, &[&key]);
    assert_eq!(rid(&again), rid(&r));
    assert_eq!(db.decide(&r, "ann", "approve"), "in_review");
    let verified = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(verified["valid"], json!(true), "{verified}");
    let next: i64 = db.client.query_one("select min(delivery_id) from awe.delivery where delivery_id > $1", &[&last_delivery])
        .unwrap()
        .get(0);
    assert!(next > last_delivery);
    let resolving: Value = db.json("select status::text from awe.resolver_job where request_id = $1::text::uuid", &[&rid(&half)]);
    assert_eq!(resolving, json!("pending"));
    assert_eq!(endpoint["endpoint_id"], db.json("select endpoint_id::text from awe.endpoint", &[]));
}
