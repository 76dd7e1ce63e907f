//! The `awe` command's database side against the local stack (`make up`):
//! each test gets a tenant of its own and drives the binary as a person or
//! a script would — policy push, ls and diff of stored versions, simulate
//! against the database's directory, request show with its timeline and
//! verification, inbox and decide (with the engine's refusals and their
//! exit codes), deliveries ls and replay, directory import and sync (the
//! Keycloak stand-in), and doctor. The binary is built once per run with
//! `cargo build -p awe-cli` into this workspace's target directory.

use awe_e2e::keycloak::{self, CLIENT_ID, CLIENT_SECRET, REALM};
use awe_e2e::receiver::{resp, wait_until, Receiver};
use awe_e2e::webhook::{one_stage, register, status_is, submit_cb, wait_deliveries};
use awe_e2e::{database_url, dev_env, rid, unique, Db};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// target/<profile>/awe, built (or found up to date) once per test process.
fn awe_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // This test runs from target/<profile>/deps/.
        let exe = std::env::current_exe().expect("own path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(workspace).args(["build", "-q", "-p", "awe-cli", "--bin", "awe"]);
        if release {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p awe-cli failed");
        let bin = profile_dir.join("awe");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// A scratch directory outside the checkout (so no .awe/dev.env is found by accident).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("awe-cli-db-{name}")));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `awe` in `dir` with the cluster's URL and the tenant in the environment.
fn awe_in(dir: &Path, tenant: Option<&str>, args: &[&str]) -> Out {
    let mut cmd = Command::new(awe_bin());
    cmd.current_dir(dir).args(args).env("DATABASE_URL", database_url()).env("NO_COLOR", "1")
        .env_remove("AWE_ACTOR").env_remove("AWE_TENANT").env_remove("AWE_REST_URL");
    if let Some(t) = tenant {
        cmd.env("AWE_TENANT", t);
    }
    let out = cmd.output().expect("awe runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

fn awe(db: &Db, args: &[&str]) -> Out {
    awe_in(&std::env::temp_dir(), Some(&db.tenant), args)
}

fn expect(out: Out, code: i32) -> Out {
    assert_eq!(out.code, code, "{out:?}");
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"), "{out:?}");
    out
}

fn policy_yaml(key: &str, stages: &str) -> String {
    format!("key: {key}\nartifact_type: doc\ntitle: CLI test\nstages:\n{stages}")
}

const ONE_STAGE: &str = "  - name: Review\n    rules: [{type: user, user: mia}]\n";
const TWO_STAGES: &str = "  - name: Review\n    rules: [{type: user, user: mia}]\n  - name: Finance\n    rules: [{type: group, group: /finance}]\n";

#[test]
fn policies_are_pushed_listed_and_compared_by_version() {
    let db = Db::new();
    let dir = scratch("push");
    let key = unique("cli.policy");
    let file = dir.join("policy.yaml");
    let f = file.to_str().unwrap();
    fs::write(&file, policy_yaml(&key, ONE_STAGE)).unwrap();

    let out = expect(awe(&db, &["policy", "push", f]), 0);
    assert_eq!(out.stdout, format!("{f}: created {key} version 1 (draft)\n"));
    let out = expect(awe(&db, &["policy", "push", f, "--activate"]), 0);
    assert_eq!(out.stdout, format!("{f}: unchanged: {key} version 1, activated\n"), "the same definition is not stored twice");
    let out = expect(awe(&db, &["policy", "push", f, "--activate"]), 0);
    assert_eq!(out.stdout, format!("{f}: unchanged: {key} version 1 (active)\n"));

    fs::write(&file, policy_yaml(&key, TWO_STAGES)).unwrap();
    let out = expect(awe(&db, &["policy", "push", "--activate", "--json", dir.to_str().unwrap()]), 0);
    let pushed = &out.json()["pushed"][0];
    assert_eq!((pushed["version"].as_i64(), pushed["outcome"].as_str(), pushed["status"].as_str()), (Some(2), Some("new_version"), Some("active")), "{out:?}");

    let out = expect(awe(&db, &["policy", "ls"]), 0);
    assert!(out.stdout.contains(&key) && out.stdout.contains("CLI test"), "{out:?}");
    let rows = expect(awe(&db, &["policy", "ls", "--json"]), 0).json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "a fresh tenant has this one policy: {rows}");
    assert_eq!((rows[0]["active_version"].as_i64(), rows[0]["latest_version"].as_i64()), (Some(2), Some(2)));
    let versions = expect(awe(&db, &["policy", "ls", "--versions", &key, "--json"]), 0).json();
    let statuses: Vec<&str> = versions.as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["archived", "active"]);

    // Stored versions are compared like files, with each other and with files.
    let out = expect(awe(&db, &["policy", "diff", &format!("{key}@1"), &format!("{key}@2")]), 1);
    assert!(out.stdout.contains("Finance"), "the added stage is named: {out:?}");
    let out = expect(awe(&db, &["policy", "diff", &format!("{key}@active"), f]), 0);
    assert_eq!(out.stdout, "no differences\n");
    let diff = expect(awe(&db, &["policy", "diff", &format!("{key}@1"), f, "--json"]), 1).json();
    assert_eq!(diff["identical"], false);
    let out = expect(awe(&db, &["policy", "diff", &format!("{key}@9"), f]), 2);
    assert!(out.stderr.contains("AWE-POLICY-NOT-FOUND"), "{out:?}");

    // A file with problems: nothing is sent; the problems have their paths.
    let bad = dir.join("bad.yaml");
    fs::write(&bad, policy_yaml(&unique("cli.bad"), "  - name: S\n    mode: sometimes\n    rules: [{type: user, user: a}]\n")).unwrap();
    let out = expect(awe(&db, &["policy", "push", bad.to_str().unwrap()]), 1);
    assert!(out.stderr.contains("stages[0].mode") && out.stderr.contains("nothing pushed"), "{out:?}");
    fs::remove_file(&bad).unwrap();

    // The database refuses what only it can know: the key is for another artifact type.
    fs::write(&file, policy_yaml(&key, ONE_STAGE).replace("artifact_type: doc", "artifact_type: invoice")).unwrap();
    let out = expect(awe(&db, &["policy", "push", f]), 1);
    assert!(out.stderr.contains("AWE-BAD-INPUT") && out.stderr.contains("artifact_type"), "{out:?}");
    let out = expect(awe(&db, &["policy", "push", f, "--json"]), 1);
    assert_eq!(out.json()["failed"][0]["code"], "AWE-BAD-INPUT");
}

#[test]
fn simulate_uses_the_databases_directory() {
    let mut db = Db::new();
    db.exec("select awe.add_to_group('fin.ana', '/finance'); select awe.add_to_group('fin.ben', '/finance');");
    let key = unique("cli.sim");
    db.policy(json!({"key": key, "artifact_type": "doc", "forbid_self_approval": true, "stages": [
        {"name": "Review", "rules": [{"type": "user", "user": "mia"}]},
        {"name": "Finance", "rules": [{"type": "group", "group": "/finance"}]}]}));
    let ctx = r#"{"amount": 10}"#;

    let out = expect(awe(&db, &["simulate", &key, "--context", ctx, "--requester", "fin.ben"]), 0);
    assert!(out.stdout.contains("fin.ana") && out.stdout.contains("fin.ben (self_approval)"), "{out:?}");
    assert!(out.stdout.contains("version 1") && out.stdout.contains("prediction: needs_review"), "{out:?}");
    let sim = expect(awe(&db, &["simulate", &format!("{key}@1"), "--context", ctx, "--json"]), 0).json();
    assert_eq!(sim["stages"][1]["approvers"].as_array().unwrap().len(), 2, "{sim}");
    let out = expect(awe(&db, &["simulate", &format!("{key}@7"), "--context", ctx]), 1);
    assert!(out.stderr.contains("AWE-POLICY-NOT-FOUND"), "{out:?}");

    // A file with a group rule: simulated in the database, where nothing stays.
    let dir = scratch("sim");
    let file = dir.join("p.yaml");
    let file_key = unique("cli.simfile");
    fs::write(&file, policy_yaml(&file_key, TWO_STAGES)).unwrap();
    let out = expect(awe(&db, &["simulate", file.to_str().unwrap(), "--context", ctx]), 0);
    assert!(out.stdout.contains("in the database") && out.stdout.contains("not stored") && out.stdout.contains("fin.ana"), "{out:?}");
    assert_eq!(expect(awe(&db, &["policy", "ls", &file_key, "--json"]), 0).json(), json!([]), "the draft was rolled back");
    let out = expect(awe(&db, &["simulate", file.to_str().unwrap(), "--context", ctx, "--offline"]), 0);
    assert!(out.stdout.contains("needs --directory or --db"), "{out:?}");
}

#[test]
fn a_request_is_shown_decided_and_verified() {
    let mut db = Db::new();
    let key = unique("cli.req");
    db.policy(json!({"key": key, "artifact_type": "doc", "stages": [{
        "name": "Finance", "rules": [{"type": "user", "user": "mia"}],
        "require_comment": ["reject"],
        "decision_schema": {"type": "object", "required": ["approved_amount"], "properties": {"approved_amount": {"type": "number", "minimum": 0}}}}]}));
    let r = db.submit(&key, json!({"amount": 1200}));
    let id = rid(&r);
    let task = db.task_of(&r, "mia");

    let out = expect(awe(&db, &["inbox", "mia"]), 0);
    assert!(out.stdout.contains(&task) && out.stdout.contains("approve"), "{out:?}");
    let rows = expect(awe(&db, &["inbox", "--actor", "mia", "--json"]), 0).json();
    assert_eq!(rows[0]["task_id"], task.as_str());
    assert!(rows[0]["available_actions"].as_array().unwrap().iter().any(|a| a["action"] == "approve"));
    assert_eq!(expect(awe(&db, &["inbox", "nobody"]), 0).stdout, "no open tasks\n");
    expect(awe(&db, &["inbox"]), 2);

    // The engine's refusals: code, message, the paths of the problems, exit 1; nothing recorded.
    let out = expect(awe(&db, &["decide", &task, "approve", "--actor", "bob", "--data", r#"{"approved_amount": 1}"#]), 1);
    assert!(out.stderr.starts_with("awe: AWE-NOT-ASSIGNEE"), "{out:?}");
    let out = expect(awe(&db, &["decide", &task, "reject", "--actor", "mia"]), 1);
    assert!(out.stderr.starts_with("awe: AWE-DECISION-INVALID") && out.stderr.contains("\n  comment: "), "{out:?}");
    let out = expect(awe(&db, &["decide", &task, "approve", "--actor", "mia", "--data", r#"{"approved_amount": "lots"}"#]), 1);
    assert!(out.stderr.contains("data.approved_amount"), "{out:?}");
    let out = expect(awe(&db, &["decide", &task, "approve"]), 1);
    assert!(out.stderr.contains("--actor"), "acting as the login role is pointed out: {out:?}");
    expect(awe(&db, &["decide", "not-a-task", "approve", "--actor", "mia"]), 2);

    let out = expect(awe(&db, &["decide", &task, "approve", "--actor", "mia", "-m", "ok", "--data", r#"{"approved_amount": 900}"#]), 0);
    assert_eq!(out.stdout, format!("recorded approve on task {task}; request {id} is approved\n"));
    let out = expect(awe(&db, &["decide", &task, "approve", "--actor", "mia", "--json"]), 1);
    assert_eq!(out.json()["error"]["code"], "AWE-TASK-CLOSED", "{out:?}");

    let out = expect(awe(&db, &["request", "show", &id, "--timeline", "--verify"]), 0);
    for want in ["approved", "Finance", "request.created", "task.decided", "audit trail verified", "approved_amount"] {
        assert!(out.stdout.contains(want), "{want}: {out:?}");
    }
    let doc = expect(awe(&db, &["request", "show", &id, "--timeline", "--verify", "--json"]), 0).json();
    assert_eq!(doc["request"]["status"], "approved");
    assert_eq!(doc["verification"]["valid"], true);
    assert!(doc["timeline"].as_array().unwrap().len() >= 3);
    let out = expect(awe(&db, &["request", "show", "0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d"]), 1);
    assert!(out.stderr.contains("AWE-REQUEST-NOT-FOUND"), "{out:?}");

    // A row changed behind the engine's back: the trail no longer agrees, exit 1.
    db.exec(&format!("update awe.request set status = 'rejected' where tenant_id = '{}' and request_id = '{id}'", db.tenant));
    let out = expect(awe(&db, &["request", "show", &id, "--verify"]), 1);
    assert!(out.stdout.contains("DOES NOT VERIFY"), "{out:?}");
}

#[test]
fn dead_deliveries_are_listed_and_replayed() {
    let mut db = Db::new();
    let recv = Receiver::start(|_, _| resp(410));
    let ep = register(&mut db, &recv);
    let key = one_stage(&mut db, "alice");
    let r = submit_cb(&mut db, &key, &ep.callback);
    let id = rid(&r);
    let dead = wait_deliveries(&mut db, &r, "dead letters after 410", status_is("dead"));

    let rows = expect(awe(&db, &["deliveries", "ls", "--dead", "--json"]), 0).json();
    assert_eq!(rows.as_array().unwrap().len(), dead.len(), "{rows}");
    assert!(rows.as_array().unwrap().iter().all(|d| d["status"] == "dead" && d["last_status"] == 410));
    let out = expect(awe(&db, &["deliveries", "ls", "--request", &id]), 0);
    assert!(out.stdout.contains("dead") && out.stdout.contains("410"), "{out:?}");

    // The endpoint said 410 and is disabled: a replay is held, and says so at once.
    recv.set(|_, _| resp(204));
    let out = expect(awe(&db, &["deliveries", "replay", "--request", &id]), 1);
    assert!(out.stdout.contains("held") && out.stdout.contains("set_endpoint_enabled"), "{out:?}");
    db.json("select awe.set_endpoint_enabled($1::text::uuid, true)::text", &[&ep.id]);
    wait_deliveries(&mut db, &r, "the held deliveries delivered", status_is("delivered"));

    // Delivered ones may be sent again too; the command waits for the worker.
    let out = expect(awe(&db, &["deliveries", "replay", "--request", &id]), 0);
    assert!(out.stdout.contains(&format!("{} deliveries queued", dead.len())) && out.stdout.contains(&format!("{} delivered, 0 dead again", dead.len())), "{out:?}");
    let first = dead[0]["delivery_id"].to_string();
    let doc = expect(awe(&db, &["deliveries", "replay", "--delivery", &first, "--no-wait", "--json"]), 0).json();
    assert_eq!((doc["queued"].as_i64(), doc["waited"].as_bool()), (Some(1), Some(false)), "{doc}");
    wait_deliveries(&mut db, &r, "the replayed delivery delivered", status_is("delivered"));
    let doc = expect(awe(&db, &["deliveries", "replay", "--since", "1h", "--json"]), 0).json();
    assert_eq!(doc["delivered"].as_i64(), Some(dead.len() as i64), "{doc}");
    expect(awe(&db, &["deliveries", "replay"]), 2);
}

fn status(db: &mut Db) -> Value {
    db.json("select row_to_json(s)::text from awe.directory_sync_status s", &[])
}

#[test]
fn a_directory_document_is_imported() {
    let mut db = Db::new();
    let dir = scratch("import");
    let doc = dir.join("people.yaml");
    let people: Vec<String> = (0..12).map(|i| format!("  - {{id: p{i}, roles: [clerk], groups: [/staff]}}")).collect();
    fs::write(&doc, format!("users:\n{}\nroles: {{finance-director: [p0]}}\n", people.join("\n"))).unwrap();
    let d = doc.to_str().unwrap();
    let out = expect(awe(&db, &["directory", "import", d]), 0);
    assert!(out.stdout.contains("12 principals") && out.stdout.contains("12 principals added"), "{out:?}");
    assert!(expect(awe(&db, &["directory", "import", d]), 0).stdout.contains("nothing changed"));
    assert_eq!(db.column("select string_agg(principal_id, ',') from awe.role_grant where tenant_id = awe.current_tenant() and role = 'finance-director'", &[])[0], "p0");

    // Every problem with its path; nothing imported.
    fs::write(&doc, "users:\n  - {id: p0, groups: [staff]}\n  - {name: x}\n").unwrap();
    let out = expect(awe(&db, &["directory", "import", d]), 1);
    assert!(out.stderr.contains("AWE-BAD-INPUT") && out.stderr.contains("users[0].groups[0]") && out.stderr.contains("users[1]"), "{out:?}");
    // Leaving out most people trips the guard; --force applies it.
    fs::write(&doc, "users:\n  - {id: p0}\n").unwrap();
    let out = expect(awe(&db, &["directory", "import", d]), 1);
    assert!(out.stderr.contains("--force"), "{out:?}");
    let counts = expect(awe(&db, &["directory", "import", d, "--force", "--json"]), 0).json();
    assert_eq!(counts["counts"]["deactivated"], 11, "{counts}");
    // No directory source here.
    let out = expect(awe(&db, &["directory", "sync"]), 1);
    assert!(out.stderr.contains("no directory source"), "{out:?}");
}

#[test]
fn the_directory_is_synced_from_keycloak() {
    let k = keycloak::seeded("expense");
    let mut db = Db::new();
    db.json("select awe.set_directory_source('keycloak', $1, $2, $3, $4, '{}'::jsonb)::text", &[&k.url, REALM, CLIENT_ID, CLIENT_SECRET]);
    // The first sync is due at once; wait for it so the command's sync is a new attempt.
    wait_until("the first sync", 120, || (status(&mut db)["last_success_at"] != Value::Null).then_some(()));
    let out = expect(awe(&db, &["directory", "sync"]), 0);
    assert!(out.stdout.starts_with("synced ") && out.stdout.contains("nothing changed"), "{out:?}");

    k.control(json!({"remove_user_from_group": {"user": "fin.ben", "group": "/finance/approvers"}}));
    let s = expect(awe(&db, &["directory", "sync", "--json"]), 0).json();
    assert_eq!(s["last_counts"]["changes"]["memberships_removed"], 1, "{s}");
    let out = expect(awe(&db, &["directory", "status"]), 0);
    assert!(out.stdout.contains("keycloak") && out.stdout.contains(REALM), "{out:?}");

    // A failing Keycloak: the sync fails, says why, and exit 1.
    k.control(json!({"fail_page": {"path_contains": "/users", "status": 403, "times": 1}}));
    let out = expect(awe(&db, &["directory", "sync"]), 1);
    assert!(out.stdout.contains("sync FAILED") && out.stdout.contains("forbidden"), "{out:?}");
    expect(awe(&db, &["directory", "status"]), 1);
    let asked = expect(awe(&db, &["directory", "sync", "--no-wait", "--json"]), 0).json();
    assert_eq!(asked["realm"], REALM);
    // With a source, the directory is Keycloak's.
    let dir = scratch("managed");
    fs::write(dir.join("d.json"), r#"{"users": [{"id": "x"}]}"#).unwrap();
    let out = expect(awe(&db, &["directory", "import", dir.join("d.json").to_str().unwrap()]), 1);
    assert!(out.stderr.contains("AWE-DIRECTORY-MANAGED"), "{out:?}");
}

#[test]
fn doctor_passes_on_the_local_stack() {
    let mut db = Db::new();
    // Right after `make up` (or `make reset`) the worker may not have beaten yet.
    wait_until("the worker's first heartbeat", 30, || {
        (db.column("select count(*)::text from awe.worker_status where beat_at > now() - interval '5 seconds'", &[])[0] == "1").then_some(())
    });
    let mut cmd = Command::new(awe_bin());
    cmd.args(["doctor"]).env("DATABASE_URL", database_url()).env("AWE_TENANT", &db.tenant).env("AWE_REST_URL", dev_env("AWE_REST_URL"));
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for check in ["database", "preload", "extension", "awe.database", "worker", "versions", "settings", "rest", "backlog", "dead letters", "directory"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("ok    {check}: "))), "no ok line for {check}:\n{text}");
    }
    assert!(text.lines().last().unwrap().ends_with("0 fail"), "{text}");

    let doc = expect(awe(&db, &["doctor", "--json", "--rest", &dev_env("AWE_REST_URL")]), 0).json();
    assert_eq!(doc["ok"], true);
    assert!(doc["checks"].as_array().unwrap().iter().all(|c| c["status"] != "fail"), "{doc}");
    // A REST server that is not there is a failed check.
    let out = expect(awe(&db, &["doctor", "--rest", "http://127.0.0.1:9"]), 1);
    assert!(out.stdout.contains("fail  rest: "), "{out:?}");

    // Without superuser rights the DBA views are out of reach, and doctor says so.
    let role = unique("cli_doctor").replace('-', "_");
    let mut admin = awe_e2e::connect();
    admin.batch_execute(&format!("create role {role} login; grant awe_user to {role}; select awe.map_role_to_tenant('{role}', '{}')", db.tenant)).unwrap();
    let url = database_url().replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let out = awe(&db, &["doctor", "--db", &url, "--rest", &dev_env("AWE_REST_URL")]);
    let _ = admin.batch_execute(&format!("select awe.unmap_role_from_tenant('{role}', '{}'); drop role {role}", db.tenant));
    let out = expect(out, 0);
    assert!(out.stdout.contains("warn  worker: cannot read awe.worker_status: permission denied — this check needs a superuser"), "{out:?}");
}

#[test]
fn connections_tenants_and_errors() {
    let db = Db::new();
    let out = expect(awe(&db, &["policy", "ls", "--db", "postgres://postgres@127.0.0.1:9/awe"]), 2);
    assert!(out.stderr.starts_with("awe: cannot connect to postgres://postgres@127.0.0.1:9/awe (from --db)"), "{out:?}");
    let out = expect(awe_in(&std::env::temp_dir(), None, &["policy", "ls"]), 1);
    assert!(out.stderr.contains("AWE-TENANT-UNKNOWN") && out.stderr.contains("--tenant"), "{out:?}");
    let out = expect(awe(&db, &["policy", "ls", "--tenant", "no-such-tenant-here"]), 1);
    assert!(out.stderr.contains("AWE-TENANT-UNKNOWN"), "{out:?}");
    let out = expect(awe(&db, &["policy", "ls", "-v"]), 0);
    assert!(out.stderr.contains("(from DATABASE_URL)") && out.stderr.contains(&db.tenant), "{out:?}");

    // Inside the checkout without DATABASE_URL, .awe/dev.env names the database.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    if std::env::var_os("DATABASE_URL").is_none() && checkout.join(".awe/dev.env").exists() {
        let out = Command::new(awe_bin()).current_dir(checkout.join("cli")).args(["policy", "ls", "-v", "--tenant", &db.tenant])
            .env_remove("DATABASE_URL").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(".awe/dev.env"), "{stderr}");
    }
}
