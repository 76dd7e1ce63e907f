//! The Debian package as a DBA meets it. `make package-test` builds
//! dist/postgresql-15-awe_<version>_<arch>.deb, then this test, as root:
//! creates a cluster of its own with pg_createcluster on a free port, runs
//! every command block of docs/operations.md in the guide's order (install
//! with apt-get, preload, CREATE EXTENSION, roles, PostgREST settings,
//! monitoring, backup and restore, retention, upgrade, uninstall) with the
//! cluster's name in place of `main`, and between them drives a full
//! lifecycle whose webhook reaches a local receiver, signed. The package and
//! the cluster are removed however the test ends.
//!
//! Every ```sh and ```sql block of the guide must carry a
//! `<!-- test: package <phase> -->` marker, so no command there goes unrun.

use awe_e2e::receiver::{resp, wait_until, Receiver};
use awe_e2e::webhook::verifies;
use postgres::{Client, NoTls};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const GUIDE: &str = include_str!("../docs/operations.md");
const PHASES: [&str; 10] = ["install", "check", "roles", "directory", "postgrest", "monitoring", "backup", "retention", "upgrade", "uninstall"];

struct Block {
    phase: String,
    sql: bool,
    text: String,
}

/// The guide's command blocks, in order, with their phases.
fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker: Option<(String, bool)> = None;
    let mut lines = GUIDE.lines();
    while let Some(line) = lines.next() {
        if let Some(m) = line.strip_prefix("<!-- test: package ").and_then(|m| m.strip_suffix(" -->")) {
            let mut words = m.split_whitespace();
            let phase = words.next().unwrap().to_string();
            assert!(PHASES.contains(&phase.as_str()), "operations.md: unknown phase {phase}");
            marker = Some((phase, words.next() == Some("sql")));
            continue;
        }
        let fence = line.strip_prefix("```").map(str::trim);
        if let Some(lang @ ("sh" | "sql")) = fence {
            let (phase, sql) = marker.take().unwrap_or_else(|| panic!("operations.md: a ```{lang} block without a `<!-- test: package … -->` marker"));
            assert_eq!(sql, lang == "sql", "operations.md: the {phase} block's marker and language disagree");
            let text: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            out.push(Block { phase, sql, text: text.join("\n") + "\n" });
        } else if fence.is_some_and(|f| !f.is_empty()) {
            marker = None;
            lines.by_ref().take_while(|l| !l.starts_with("```")).for_each(drop);
        }
    }
    out
}

struct Scratch {
    name: String,
    port: u16,
    dist: PathBuf,
}

impl Scratch {
    /// The guide's commands for `15/main`, aimed at this cluster.
    fn aim(&self, text: &str) -> String {
        text.replace("15 main", &format!("15 {}", self.name)).replace("15/main", &format!("15/{}", self.name))
    }

    fn run_phase(&self, phase: &str) {
        let found: Vec<Block> = blocks().into_iter().filter(|b| b.phase == phase).collect();
        assert!(!found.is_empty(), "operations.md has no {phase} block");
        for b in found {
            let text = self.aim(&b.text);
            let out = if b.sql {
                let file = std::env::temp_dir().join(format!("awe-package-{}-{phase}.sql", self.name));
                std::fs::write(&file, &text).unwrap();
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
                let cluster = format!("15/{}", self.name);
                let out = Command::new("sudo").args(["-u", "postgres", "psql", "--cluster", &cluster, "-X", "-v", "ON_ERROR_STOP=1", "-d", "app", "-f"])
                    .arg(&file).current_dir("/").output().unwrap();
                let _ = std::fs::remove_file(&file);
                out
            } else {
                Command::new("bash").args(["-euo", "pipefail", "-c", &text]).current_dir(&self.dist).output().unwrap()
            };
            assert!(out.status.success(), "operations.md, {phase}:\n{text}\nfailed:\n{}{}",
                String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
    }

    fn connect(&self, db: &str, user: &str) -> Client {
        Client::connect(&format!("postgres://{user}@127.0.0.1:{}/{db}", self.port), NoTls)
            .unwrap_or_else(|e| panic!("connect to {db} as {user}: {e}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster").args(["--stop", "15", &self.name]).status();
        if installed() {
            let _ = Command::new("apt-get").args(["remove", "-y", "-q", "postgresql-15-awe"]).status();
        }
        let _ = std::fs::remove_file("/tmp/app.dump");
    }
}

fn installed() -> bool {
    Command::new("dpkg-query").args(["-W", "-f", "${Status}", "postgresql-15-awe"]).output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed")).unwrap_or(false)
}

fn one(c: &mut Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, Option<String>>(0).unwrap_or_default()
}

fn jsonq(c: &mut Client, sql: &str) -> Value {
    serde_json::from_str(&one(c, sql)).unwrap_or(Value::Null)
}

fn version() -> String {
    let cargo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
    cargo.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"').to_string()
}

#[test]
fn the_package_installs_works_and_uninstalls_as_the_guide_says() {
    assert!(std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false),
        "the package test installs a package: run it as root (make package-test)");
    assert!(!installed(), "postgresql-15-awe is installed already; remove it first (apt-get remove postgresql-15-awe)");
    let version = version();
    let arch = String::from_utf8(Command::new("dpkg").arg("--print-architecture").output().unwrap().stdout).unwrap().trim().to_string();
    let dist = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist")).canonicalize().expect("dist/: run make package");
    let deb = dist.join(format!("postgresql-15-awe_{version}_{arch}.deb"));
    assert!(deb.exists(), "{} is missing: run make package", deb.display());
    assert!(GUIDE.contains(&format!("./postgresql-15-awe_{version}_amd64.deb")), "operations.md must install this version's package ({version})");

    // The package's metadata and files.
    let info = String::from_utf8(Command::new("dpkg-deb").args(["-f"]).arg(&deb).args(["Package", "Version", "Depends"]).output().unwrap().stdout).unwrap();
    assert!(info.contains("Package: postgresql-15-awe") && info.contains(&format!("Version: {version}")) && info.contains("postgresql-15"), "{info}");
    let files = String::from_utf8(Command::new("dpkg-deb").arg("-c").arg(&deb).output().unwrap().stdout).unwrap();
    for f in ["./usr/lib/postgresql/15/lib/awe.so", "./usr/share/postgresql/15/extension/awe.control", "./usr/bin/awe",
              &format!("./usr/share/postgresql/15/extension/awe--{version}.sql"),
              "./usr/share/postgresql/15/extension/awe--0.1.0.sql", "./usr/share/postgresql/15/extension/awe--0.1.0--0.2.0.sql"] {
        assert!(files.lines().any(|l| l.ends_with(f)), "the package lacks {f}");
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = Scratch { name: format!("awepkg{}", std::process::id()), port, dist };
    let ok = Command::new("pg_createcluster").args(["15", &s.name, "-p", &port.to_string(), "--", "--auth=trust"])
        .stdout(std::process::Stdio::null()).status().unwrap().success();
    assert!(ok, "pg_createcluster");
    assert!(Command::new("pg_ctlcluster").args(["15", &s.name, "start"]).status().unwrap().success());

    s.run_phase("install");
    assert!(installed(), "apt-get installed the package");
    s.run_phase("check");
    let mut c = s.connect("app", "postgres");
    assert_eq!(jsonq(&mut c, "select awe.version()::text"), json!({"library": version, "sql": version, "matches": true}));
    wait_until("the worker's heartbeat", 30, || (one(&mut c, "select count(*)::text from awe.worker_status") == "1").then_some(()));

    s.run_phase("roles");
    s.run_phase("directory");
    assert_eq!(one(&mut c, "select realm from awe.directory_source where tenant_id = 'acme'"), "acme", "the directory source is registered");
    s.run_phase("postgrest");
    // The application role sees its tenant, and only through awe's functions.
    let mut app = s.connect("app", "billing_app");
    assert_eq!(one(&mut app, "select awe.current_tenant()"), "acme");
    assert!(app.batch_execute("insert into awe.tenant (tenant_id) values ('x')").is_err(), "callers cannot write awe's tables");

    // A full lifecycle; its webhooks reach the receiver, signed.
    let recv = Receiver::start(|_, _| resp(204));
    let secret = jsonq(&mut app, &format!("select awe.register_endpoint('{}')::text", recv.url()))["secret"].as_str().unwrap().to_string();
    let policy = json!({"key": "pkg.flow", "artifact_type": "invoice", "stages": [
        {"name": "check", "rules": [{"type": "user", "user": "ana"}]},
        {"name": "pay", "rules": [{"type": "user", "user": "ben"}]}]});
    one(&mut app, &format!("select awe.create_policy('{policy}')::text"));
    one(&mut app, "select awe.activate_policy('pkg.flow', 1)::text");
    app.batch_execute("set awe.actor = 'billing'").unwrap();
    let r = jsonq(&mut app, &format!("select awe.submit('pkg.flow', 'invoice', 'inv-1', '{{\"amount\": 12}}', 'sam', '{}/hooks')::text", recv.url()));
    let rid = r["request_id"].as_str().unwrap().to_string();
    for who in ["ana", "ben"] {
        app.batch_execute(&format!("set awe.actor = '{who}'")).unwrap();
        one(&mut app, &format!("select awe.decide((select task_id from awe.tasks where request_id = '{rid}' and status = 'open'), 'approve')::text"));
    }
    assert_eq!(one(&mut app, &format!("select status from awe.requests where request_id = '{rid}'")), "approved");
    let done = wait_until("the request.approved webhook", 30, || recv.requests().into_iter().find(|q| q.kind() == "request.approved"));
    assert!(verifies(&secret, &done), "the webhook is signed with the endpoint's secret");
    assert_eq!(done.json()["data"]["request_id"], rid.as_str());
    assert!(jsonq(&mut app, &format!("select awe.verify_timeline('{rid}')::text"))["valid"].as_bool().unwrap());
    drop(app);

    s.run_phase("monitoring");
    let alarms = one(&mut c, "select (coalesce(max(now() - beat_at) > interval '1 minute', true) or bool_or(version_mismatch))::text from awe.worker_status");
    assert_eq!(alarms, "false", "the monitoring queries raise no alarm on a healthy install");

    s.run_phase("backup");
    let counts = "select (select count(*) from awe.request)::text || '/' || (select count(*) from awe.event) || '/' || (select count(*) from awe.delivery)";
    let original = one(&mut c, counts);
    let mut restored = s.connect("app_restored", "postgres");
    assert_eq!(one(&mut restored, counts), original, "the restored database has every row");
    drop(restored);

    s.run_phase("retention");
    s.run_phase("upgrade");
    let mut c = s.connect("app", "postgres");
    assert_eq!(jsonq(&mut c, "select awe.version()::text")["matches"], true);
    drop(c);

    s.run_phase("uninstall");
    assert!(!installed(), "apt-get removed the package");
    for f in ["/usr/lib/postgresql/15/lib/awe.so", "/usr/bin/awe"] {
        assert!(!Path::new(f).exists(), "{f} is gone with the package");
    }
    let mut c = s.connect("app", "postgres");
    assert_eq!(one(&mut c, "select count(*)::text from pg_extension where extname = 'awe'"), "0");
    assert_eq!(one(&mut c, "select count(*)::text from pg_namespace where nspname in ('awe', 'awe_api')"), "0");
}
