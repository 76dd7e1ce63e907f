//! At-least-once delivery across crashes. Run it alone, after the other
//! suites: it kills the awe worker (Postgres then restarts every backend) and
//! restarts the whole cluster while ~3,000 webhooks are on their way.
//!
//!   cargo test -p awe-e2e --test crash -- --test-threads=1
//!
//! The data directory and pg_ctl can be overridden with AWE_PGDATA,
//! AWE_PG_CTL and AWE_PG_LOG; the defaults are those of `make up`'s cluster.
//!
//! Whatever happens, every event must reach the receiver at least once, and a
//! duplicate must carry the same webhook-id and the identical body.

use awe_e2e::receiver::{resp, Receiver};
use awe_e2e::{database_url, unique};
use postgres::{Client, NoTls};
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const REQUESTS: usize = 500; // × 6 events (submit 3, approve 3) = 3,000 deliveries
const SUBMITTERS: usize = 4;

// ---- a receiver that accepts everything ------------------------------------------

/// Accepts everything, with a little latency so the worker has calls in
/// flight when it dies.
fn accepting_receiver() -> Receiver {
    Receiver::start(|_, _| {
        std::thread::sleep(Duration::from_millis(2));
        resp(204)
    })
}

/// webhook-id → every body received with it.
fn bodies_by_id(recv: &Receiver) -> HashMap<String, Vec<String>> {
    let mut got: HashMap<String, Vec<String>> = HashMap::new();
    for r in recv.requests() {
        got.entry(r.id()).or_default().push(r.body);
    }
    got
}

// ---- connections that survive a crash ---------------------------------------------

fn connect(tenant: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match Client::connect(&database_url(), NoTls) {
            Ok(mut c) => match c.batch_execute(&format!("set awe.tenant = '{tenant}'; set awe.actor = 'alice'")) {
                Ok(()) => return c,
                Err(e) if Instant::now() < deadline => eprintln!("retrying after {e}"),
                Err(e) => panic!("{e}"),
            },
            Err(e) if Instant::now() > deadline => panic!("cluster did not come back: {e}"),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A connection for one tenant that reconnects when the server goes away.
struct Conn {
    tenant: String,
    client: Client,
}

/// Either an answer, or the server's own refusal (a database error).
type Answer = Result<Vec<String>, postgres::Error>;

impl Conn {
    fn new(tenant: &str) -> Conn {
        Conn { tenant: tenant.to_string(), client: connect(tenant) }
    }

    /// Runs a text-column query; retries on a lost connection (callers use
    /// only statements that are safe to repeat).
    fn q(&mut self, sql: &str, params: &[&str]) -> Answer {
        let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|s| s as &(dyn postgres::types::ToSql + Sync)).collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.client.query(sql, &p) {
                Ok(rows) => return Ok(rows.iter().map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()).collect()),
                Err(e) if e.as_db_error().is_some_and(|d| !d.code().code().starts_with("57") && !d.code().code().starts_with("08")) => return Err(e),
                Err(e) => {
                    assert!(Instant::now() < deadline, "no connection for 120 s: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                    self.client = connect(&self.tenant);
                }
            }
        }
    }

    fn one(&mut self, sql: &str, params: &[&str]) -> String {
        self.q(sql, params).unwrap_or_else(|e| panic!("{sql}: {e}")).remove(0)
    }

    fn count(&mut self, sql: &str) -> i64 {
        let t = self.tenant.clone();
        self.one(sql, &[&t]).parse().unwrap()
    }
}

fn worker_pid(c: &mut Conn) -> Option<String> {
    c.q("select pid::text from pg_stat_activity where backend_type = 'awe worker'", &[]).unwrap().into_iter().next()
}

fn wait_worker(c: &mut Conn, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = worker_pid(c).filter(|p| Some(p.as_str()) != not) {
            return pid;
        }
        assert!(Instant::now() < deadline, "the awe worker did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---- the scenario -----------------------------------------------------------------

/// Submits and approves `range` requests, retrying through crashes.
fn submit_and_approve(tenant: String, key: String, callback: String, range: std::ops::Range<usize>, run: String) {
    let mut c = Conn::new(&tenant);
    for i in range {
        let artifact = format!("{run}-{i}");
        // The idempotency key makes a retried submit return the original request.
        let r = c.one(
            "select awe.submit($1, 'doc', $2, '{}'::jsonb, 'requester', $3, $2)::text",
            &[&key, &artifact, &callback],
        );
        let rid = serde_json::from_str::<serde_json::Value>(&r).unwrap()["request_id"].as_str().unwrap().to_string();
        let task = c.one("select task_id::text from awe.tasks where request_id = $1::text::uuid and assignee = 'alice'", &[&rid]);
        match c.q("select awe.decide($1::text::uuid, 'approve')::text", &[&task]) {
            Ok(_) => {}
            // Approved before a crash cut the answer off: fine.
            Err(e) if e.as_db_error().is_some_and(|d| d.message().starts_with("AWE-TASK-CLOSED")) => {}
            Err(e) => panic!("decide: {e}"),
        }
    }
}

fn pending(c: &mut Conn) -> i64 {
    c.count("select count(*)::text from awe.delivery where tenant_id = $1 and status in ('pending', 'delivering')")
}

fn run_through(disrupt: impl FnOnce(&mut Conn), what: &str) {
    let tenant = unique("crash");
    let mut setup = Client::connect(&database_url(), NoTls).unwrap();
    setup.batch_execute(&format!("select awe.create_tenant('{tenant}')")).unwrap();
    let mut c = Conn::new(&tenant);
    wait_worker(&mut c, None);
    let recv = accepting_receiver();
    let url = format!("http://127.0.0.1:{}", recv.port);
    c.one("select awe.register_endpoint($1)::text", &[&url]);
    let key = unique("p");
    let def = serde_json::json!({"key": key, "artifact_type": "doc",
        "stages": [{"name": "Review", "mode": "all", "rules": [{"type": "user", "user": "alice"}]}]});
    c.one("select awe.create_policy($1::text::jsonb)::text", &[&def.to_string()]);
    c.one("select awe.activate_policy($1, 1)::text", &[&key]);

    let started = Instant::now();
    let run = unique("run");
    let per = REQUESTS / SUBMITTERS;
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|n| {
            let (tenant, key, callback, run) = (tenant.clone(), key.clone(), format!("{url}/hooks"), run.clone());
            std::thread::spawn(move || submit_and_approve(tenant, key, callback, n * per..(n + 1) * per, run))
        })
        .collect();

    // Strike once deliveries are flowing and plenty are still queued.
    let deadline = Instant::now() + Duration::from_secs(60);
    while recv.count() < 300 {
        assert!(Instant::now() < deadline, "deliveries did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let queued = pending(&mut c);
    let t = tenant.clone();
    let claimed: Vec<String> = c.q("select delivery_id::text from awe.delivery where tenant_id = $1 and status = 'delivering'", &[&t]).unwrap();
    let before = worker_pid(&mut c).expect("a worker");
    let received_at_strike = recv.count();
    disrupt(&mut c);
    let after = wait_worker(&mut c, Some(&before));
    let restarted = Instant::now();
    eprintln!("{what}: struck after {received_at_strike} webhooks with {queued} queued ({} claimed); worker {before} → {after}", claimed.len());
    assert!(queued > 0, "nothing was queued when the worker was disrupted: the test proved nothing");
    // A restarted worker takes back what its predecessor had claimed at
    // once (it knows that worker is gone), not after the 70 s lease.
    let ids = claimed.join(",");
    loop {
        let left = c.count(&format!("select count(*)::text from awe.delivery where tenant_id = $1 and delivery_id in ({}) and status <> 'delivered'",
                                    if ids.is_empty() { "0".to_string() } else { ids.clone() }));
        if left == 0 {
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(5), "{left} of the {} claimed deliveries not re-sent 5 s after the restart", claimed.len());
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{what}: the {} claimed deliveries were delivered {:.2} s after the new worker appeared", claimed.len(), restarted.elapsed().as_secs_f64());

    for s in submitters {
        s.join().expect("a submitter failed");
    }

    let deadline = Instant::now() + Duration::from_secs(240);
    while pending(&mut c) > 0 {
        assert!(Instant::now() < deadline, "{} deliveries still pending after 240 s", pending(&mut c));
        std::thread::sleep(Duration::from_millis(500));
    }
    let t = tenant.clone();
    let events: HashSet<String> = c.q("select event_id::text from awe.event where tenant_id = $1", &[&t]).unwrap().into_iter().collect();
    assert_eq!(events.len(), REQUESTS * 6, "every request submitted and approved once (idempotent retries)");
    let delivered = c.count("select count(*)::text from awe.delivery where tenant_id = $1 and status = 'delivered'");
    let rows = c.count("select count(*)::text from awe.delivery where tenant_id = $1");
    assert_eq!(rows, events.len() as i64, "one outbox row per event");
    assert_eq!(delivered, rows, "every delivery ends delivered");

    let got = bodies_by_id(&recv);
    let missing: Vec<&String> = events.iter().filter(|e| !got.contains_key(*e)).collect();
    assert!(missing.is_empty(), "{} events never reached the receiver, e.g. {:?}", missing.len(), &missing[..missing.len().min(3)]);
    let strangers: Vec<&String> = got.keys().filter(|k| !events.contains(*k)).collect();
    assert!(strangers.is_empty(), "webhook-ids that are no event of the tenant: {strangers:?}");
    let mut duplicates = 0;
    for (id, bodies) in &got {
        let b: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(b["data"]["event_id"].as_str(), Some(id.as_str()), "webhook-id is the event id");
        if bodies.len() > 1 {
            duplicates += bodies.len() - 1;
            assert!(bodies.iter().all(|x| x == &bodies[0]), "a duplicate of {id} has a different body");
        }
    }
    eprintln!(
        "{what}: {} events, {} webhooks received, {duplicates} duplicates, all delivered {:.1} s after the start",
        events.len(),
        recv.count(),
        started.elapsed().as_secs_f64()
    );
}

static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn kill_9_of_the_worker_loses_no_webhook() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_through(
        |c| {
            let pid = worker_pid(c).expect("the awe worker is running");
            let ok = Command::new("kill").args(["-9", &pid]).status().unwrap().success();
            assert!(ok, "kill -9 {pid}");
        },
        "kill -9 worker",
    );
}

#[test]
fn an_immediate_cluster_restart_loses_no_webhook() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_through(
        |_| {
            let default_data = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../.awe/pgdata"))
                .expect("make up's data directory");
            let pgdata = std::env::var("AWE_PGDATA").unwrap_or_else(|_| default_data.display().to_string());
            let pg_ctl = std::env::var("AWE_PG_CTL").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_ctl".into());
            let log = std::env::var("AWE_PG_LOG")
                .unwrap_or_else(|_| default_data.parent().unwrap().join("postgres.log").display().to_string());
            let ok = Command::new("runuser")
                .args(["-u", "postgres", "--", &pg_ctl, "-D", &pgdata, "-m", "immediate", "-w", "restart", "-l", &log])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "pg_ctl restart failed");
        },
        "pg_ctl -m immediate restart",
    );
}
