//! `cargo run --release -p awe-core --example keycloak_sync [-- --url http://127.0.0.1:PORT] [--quick] [--options JSON]`
//!
//! A self-check of the Keycloak directory sync against the stand-in
//! (`tests/standins/keycloak.py`): a `ureq` implementation of `Transport`
//! (what the extension's worker will use, minus TLS), a full first sync of
//! the big seed with its time and HTTP calls, an unchanged re-sync that must
//! diff empty, then the fault and change scripts of the stand-in's control
//! API, each with what the sync did. Without `--url` it starts the stand-in
//! with `--seed big` itself and stops it at the end. `--quick` runs only the
//! first sync and the re-sync; `--options` replaces the source options
//! (default: all realm roles, all roles of client `expense-app`, all groups,
//! attributes `department` and `costCenter`; the expense seed has no
//! `expense-app`, so use `--options '{}'` with it).

#[path = "support/standin.rs"]
mod standin;
use standin::StandIn;
use awe_core::directory_sync::{diff, Snapshot};
use awe_core::http_transport::{HttpRequest, HttpResponse, Method, Transport};
use awe_core::keycloak::{fetch_snapshot, Fetched, SyncError};
use awe_core::keycloak_options::{KeycloakOptions, KeycloakSource};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The worker's transport, minus TLS: 4xx/5xx come back as responses.
struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        UreqTransport { agent: ureq::Agent::new_with_config(config) }
    }
}

impl Transport for UreqTransport {
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, String> {
        let result = match req.method {
            Method::Get => {
                let mut b = self.agent.get(&req.url);
                for (k, v) in &req.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.call()
            }
            Method::Post => {
                let mut b = self.agent.post(&req.url);
                for (k, v) in &req.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.send(req.body.as_deref().unwrap_or(""))
            }
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
        // A page of 1,000 full users is well under a megabyte; 64 MiB bounds a runaway body.
        let body = resp.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| e.to_string())?;
        Ok(HttpResponse { status, headers, body })
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn now_millis(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

fn control(agent: &ureq::Agent, base: &str, cmd: Value) {
    let mut r = agent.post(format!("{base}/__control")).header("Content-Type", "application/json").send(cmd.to_string()).unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 200, "control {cmd} answered {body}");
}

fn default_options() -> Value {
    json!({
        "realm_roles": "all",
        "client_roles": {"expense-app": "all"},
        "groups": "all",
        "attributes": ["department", "costCenter"],
        "page_size": 100
    })
}

fn source(base: &str, secret: &str, options: &Value) -> KeycloakSource {
    KeycloakSource {
        base_url: base.to_string(),
        realm: "acme".into(),
        client_id: "awe-sync".into(),
        client_secret: secret.into(),
        options: KeycloakOptions::parse(options).unwrap_or_else(|p| panic!("bad --options: {p:?}")),
    }
}

fn describe(r: &Result<Fetched, SyncError>, secs: f64) -> String {
    match r {
        Ok(f) => format!(
            "ok in {secs:.2} s: {} principals, {} grants over {} roles, {} memberships over {} groups; {} HTTP calls, {} retries, {} re-authentications, slept {} ms, {} skipped members, {} disabled left out, {} warnings",
            f.snapshot.principals.len(),
            f.snapshot.grant_count(),
            f.snapshot.roles.len(),
            f.snapshot.membership_count(),
            f.snapshot.groups.len(),
            f.stats.http_calls,
            f.stats.retries,
            f.stats.reauthentications,
            f.stats.slept_ms,
            f.stats.skipped_members,
            f.stats.disabled_skipped,
            f.stats.warnings.len() + f.stats.warnings_dropped,
        ),
        Err(e) => format!("failed in {secs:.2} s after {} HTTP calls: {e}", e.http_calls),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let standin = match args.iter().position(|a| a == "--url") {
        Some(i) => StandIn::at(args[i + 1].trim_end_matches('/').to_string()),
        None => StandIn::start("keycloak.py", &["--seed", "big"]),
    };
    let base = standin.base.clone();
    let secret = "awe-sync-secret";
    let options: Value = match args.iter().position(|a| a == "--options") {
        Some(i) => serde_json::from_str(&args[i + 1]).expect("--options takes a JSON object"),
        None => default_options(),
    };
    let run = |secret: &str| -> (Result<Fetched, SyncError>, f64) {
        let t = Instant::now();
        let r = fetch_snapshot(&source(&base, secret, &options), &mut UreqTransport::new());
        (r, t.elapsed().as_secs_f64())
    };
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    control(&agent, &base, json!({"reset": true}));

    let (first, secs) = run(secret);
    println!("first full sync: {}", describe(&first, secs));
    let first = first.expect("the first sync succeeds").snapshot;
    println!("  applied to an empty directory: {:?}", diff(&Snapshot::default(), &first).counts());
    let (again, secs) = run(secret);
    let again = again.expect("the re-sync succeeds");
    println!("unchanged re-sync: {} HTTP calls in {secs:.2} s; diff empty: {}", again.stats.http_calls, diff(&first, &again.snapshot).is_empty());
    if quick {
        return;
    }

    let same = |r: &Result<Fetched, SyncError>| r.as_ref().map(|f| f.snapshot == first).unwrap_or(false);
    let scenarios: Vec<(&str, Value)> = vec![
        ("token expires every 10 admin calls", json!({"token_ttl_requests": 10})),
        ("users page first=200 answers 500 three times", json!({"fail_page": {"path_contains": "/acme/users?", "first": 200, "status": 500, "times": 3}})),
        ("users page first=200 answers 500 every time", json!({"fail_page": {"path_contains": "/acme/users?", "first": 200, "status": 500, "times": 1000}})),
        ("429 Retry-After: 1, twice", json!({"rate_limit": {"status": 429, "retry_after": "1", "times": 2}})),
        ("503 Retry-After: 1 on /children, once", json!({"rate_limit": {"status": 503, "retry_after": "1", "times": 1, "path_contains": "/children"}})),
        ("a /groups answer cut in half", json!({"malformed": {"path_contains": "/groups", "times": 1}})),
        ("a 403 on the role list", json!({"fail_page": {"path_contains": "/acme/roles?", "status": 403}})),
        ("20 ms delay on every request", json!({"delay_ms": 20})),
    ];
    for (name, cmd) in scenarios {
        control(&agent, &base, json!({"reset": true}));
        control(&agent, &base, cmd);
        let (r, secs) = run(secret);
        println!("{name}: {}{}", describe(&r, secs), if r.is_ok() { format!("; same snapshot as the first sync: {}", same(&r)) } else { String::new() });
    }

    control(&agent, &base, json!({"reset": true}));
    let (r, secs) = run("wrong-secret");
    println!("wrong client secret: {}", describe(&r, secs));

    // Directory changes between two syncs: the diff carries only them.
    control(&agent, &base, json!({"reset": true}));
    let dump: Value = serde_json::from_str(&agent.get(format!("{base}/__dump")).call().unwrap().body_mut().read_to_string().unwrap()).unwrap();
    let usernames: Vec<&str> = dump["users"].as_array().unwrap().iter().filter(|u| u.get("serviceAccountClientId").is_none()).map(|u| u["username"].as_str().unwrap()).collect();
    let member = first.groups["/finance/approvers/emea"].iter().next().unwrap().clone();
    control(
        &agent,
        &base,
        json!({
            "remove_user_from_group": {"user": member, "group": "/finance/approvers/emea"},
            "disable_user": usernames[10],
            "delete_user": usernames[20],
            "grant_role": {"user": usernames[30], "role": "finance-director"}
        }),
    );
    let (r, secs) = run(secret);
    println!("after remove-from-group, disable, delete, grant: {}", describe(&r, secs));
    let d = diff(&first, &r.unwrap().snapshot);
    println!("  diff counts: {:?}", d.counts());
    println!("  deactivated: {:?}; memberships removed: {}; grants added: {:?}", d.deactivate, d.memberships_remove.len(), d.grants_add.iter().map(|g| format!("{}→{}", g.role, g.principal_id)).collect::<Vec<_>>());
    control(&agent, &base, json!({"reset": true}));
}
