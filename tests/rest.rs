//! REST through the PostgREST-compatible server started by `make up`
//! (postrust-server in PGRST_COMPAT_MODE), with real JWTs: the full
//! lifecycle as a caller service and approvers, and bad input and abuse.
//! Differences from real PostgREST (docs/rest.md, last section) are marked where a
//! test touches them.

use awe_e2e::*;
use awe_e2e::http::{hs256, now, request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn rest_url() -> String {
    dev_env("AWE_REST_URL")
}

fn token(tenant: &str, role: &str, sub: &str) -> String {
    hs256(&dev_env("AWE_JWT_SECRET"), json!({"role": role, "sub": sub, "tenant": tenant}))
}

fn http(base: &str, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut all: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    all.extend_from_slice(headers);
    request(base, method, path, &all, body.unwrap_or(""))
}

fn rpc(token: Option<&str>, func: &str, args: Value) -> (u16, Value) {
    http(&rest_url(), "POST", &format!("/rpc/{func}"), token, &[], Some(&args.to_string()))
}

fn awe_code(v: &Value) -> String {
    v["message"].as_str().unwrap_or("").split(':').next().unwrap_or("").to_string()
}

/// A tenant with the expense-style two-stage policy, set up through SQL.
fn setup() -> (Db, String) {
    let mut db = Db::new();
    let key = db.stages(json!([
        {"name": "manager", "rules": [{"type": "expression", "logic": {"var": "manager"}}]},
        {"name": "finance", "rules": [{"type": "role", "role": "fin"}]}]));
    db.exec("select awe.grant_role('fin.ana', 'fin')");
    (db, key)
}

#[test]
fn full_lifecycle_as_a_caller_service_and_two_approvers() {
    let (db, key) = setup();
    let caller = token(&db.tenant, "awe_caller", "expense-app");
    let (st, r) = rpc(Some(&caller), "submit", json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "r-1",
        "context": {"manager": "mia"}, "requester": "sam"}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["status"], "in_review");
    let rid = r["request_id"].as_str().unwrap().to_string();

    let mia = token(&db.tenant, "awe_approver", "mia");
    let (st, inbox) = rpc(Some(&mia), "inbox", json!({}));
    assert_eq!(st, 200, "{inbox}");
    let task = inbox.as_array().unwrap().iter().find(|t| t["request_id"] == rid.as_str()).expect("mia's task").clone();
    assert_eq!(task["available_actions"][0], json!({"action": "approve", "label": "Approve", "severity": "primary", "requires_comment": false, "form": null}));
    let (st, out) = rpc(Some(&mia), "decide", json!({"task_id": task["task_id"], "decision": "approve", "comment": "ok"}));
    assert_eq!((st, out["status"].as_str()), (200, Some("in_review")), "{out}");

    let ana = token(&db.tenant, "awe_approver", "fin.ana");
    let (_, inbox) = rpc(Some(&ana), "inbox", json!({}));
    let task = inbox[0]["task_id"].clone();
    let (st, out) = rpc(Some(&ana), "decide", json!({"task_id": task, "decision": "approve"}));
    assert_eq!((st, out["status"].as_str()), (200, Some("approved")), "{out}");

    // The caller reads the request and its timeline through views and RPC.
    let (st, rows) = http(&rest_url(), "GET", &format!("/requests?request_id=eq.{rid}&select=status,artifact_id"), Some(&caller), &[], None);
    assert_eq!((st, rows), (200, json!([{"artifact_id": "r-1", "status": "approved"}])));
    let (st, tl) = rpc(Some(&caller), "timeline", json!({"request_id": rid}));
    assert_eq!(st, 200);
    let types: Vec<&str> = tl.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"request.created"));
    assert_eq!(types.last(), Some(&"request.approved"));
    // Actors come from the tokens, never from arguments.
    let actors: Vec<&str> = tl.as_array().unwrap().iter().filter(|e| e["type"] == "task.decided").map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, vec!["mia", "fin.ana"]);
    let (_, v) = rpc(Some(&caller), "verify_timeline", json!({"request_id": rid}));
    assert_eq!(v["valid"], true);
}

#[test]
fn idempotency_key_header() {
    let (db, key) = setup();
    let caller = token(&db.tenant, "awe_caller", "app");
    let body = json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "i-1", "context": {"manager": "m"}}).to_string();
    let hdr = [("Idempotency-Key", "order-42")];
    let (s1, a) = http(&rest_url(), "POST", "/rpc/submit", Some(&caller), &hdr, Some(&body));
    let (s2, b) = http(&rest_url(), "POST", "/rpc/submit", Some(&caller), &hdr, Some(&body));
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a["request_id"], b["request_id"]);
    let other = json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "i-2", "context": {"manager": "m"}}).to_string();
    let (s3, e) = http(&rest_url(), "POST", "/rpc/submit", Some(&caller), &hdr, Some(&other));
    assert_eq!((s3, awe_code(&e)), (409, "AWE-IDEMPOTENCY-CONFLICT".to_string()), "{e}");
}

#[test]
fn authentication_failures() {
    let (db, key) = setup();
    let args = json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "x"});
    // No token: the anonymous role may call nothing.
    let (st, _) = rpc(None, "submit", args.clone());
    assert_eq!(st, 401);
    // Forged (wrong secret) and expired tokens.
    let forged = hs256("not-the-secret-not-the-secret-not-the-secret", json!({"role": "awe_caller", "sub": "x", "tenant": db.tenant}));
    assert_eq!(rpc(Some(&forged), "submit", args.clone()).0, 401);
    let expired = hs256(&dev_env("AWE_JWT_SECRET"), json!({"role": "awe_caller", "sub": "x", "tenant": db.tenant, "exp": now() - 60}));
    assert_eq!(rpc(Some(&expired), "submit", args.clone()).0, 401);
    // A valid token without a tenant claim, or naming no principal.
    let no_tenant = hs256(&dev_env("AWE_JWT_SECRET"), json!({"role": "awe_caller", "sub": "x"}));
    let (st, e) = rpc(Some(&no_tenant), "submit", args.clone());
    assert_eq!((st, awe_code(&e)), (403, "AWE-TENANT-UNKNOWN".to_string()), "{e}");
    let no_sub = hs256(&dev_env("AWE_JWT_SECRET"), json!({"role": "awe_caller", "tenant": db.tenant}));
    let (st, e) = rpc(Some(&no_sub), "submit", args.clone());
    assert_eq!((st, awe_code(&e)), (401, "AWE-UNAUTHENTICATED".to_string()), "{e}");
    // The wrong role for the call: PT403 so both servers agree.
    let viewer = token(&db.tenant, "awe_viewer", "v");
    let (st, e) = rpc(Some(&viewer), "submit", args);
    assert_eq!((st, awe_code(&e)), (403, "AWE-FORBIDDEN".to_string()), "{e}");
}

#[test]
fn a_token_for_tenant_a_cannot_see_or_touch_tenant_b() {
    let (mut a, key_a) = setup();
    let (_b, _key_b) = setup();
    let r = a.submit(&key_a, json!({"manager": "mia"}));
    let rid = r["request_id"].as_str().unwrap();
    let task = r["tasks"][0]["task_id"].as_str().unwrap();
    let b_caller = token(&_b.tenant, "awe_caller", "intruder");
    let b_mia = token(&_b.tenant, "awe_approver", "mia");
    let (st, e) = rpc(Some(&b_caller), "get_request", json!({"request_id": rid}));
    assert_eq!((st, awe_code(&e)), (404, "AWE-REQUEST-NOT-FOUND".to_string()), "{e}");
    let (st, e) = rpc(Some(&b_mia), "decide", json!({"task_id": task, "decision": "approve"}));
    assert_eq!((st, awe_code(&e)), (404, "AWE-TASK-NOT-FOUND".to_string()), "{e}");
    let (st, e) = rpc(Some(&b_caller), "cancel", json!({"request_id": rid}));
    assert_eq!(st, 404, "{e}");
    let (st, rows) = http(&rest_url(), "GET", &format!("/requests?request_id=eq.{rid}"), Some(&b_caller), &[], None);
    assert_eq!((st, rows), (200, json!([])));
    let (_, rows) = http(&rest_url(), "GET", &format!("/tasks?request_id=eq.{rid}"), Some(&b_mia), &[], None);
    assert_eq!(rows, json!([]));
    // Nothing changed in tenant A.
    assert_eq!(a.status(&r), "in_review");
    assert_eq!(a.open(&r), vec!["mia"]);
}

#[test]
fn an_approver_cannot_decide_someone_elses_task_or_see_it() {
    let (mut db, key) = setup();
    let r = db.submit(&key, json!({"manager": "mia"}));
    let task = r["tasks"][0]["task_id"].as_str().unwrap();
    let eve = token(&db.tenant, "awe_approver", "eve");
    let (st, e) = rpc(Some(&eve), "decide", json!({"task_id": task, "decision": "approve"}));
    assert_eq!((st, awe_code(&e)), (403, "AWE-NOT-ASSIGNEE".to_string()), "{e}");
    let (st, e) = rpc(Some(&eve), "get_request", json!({"request_id": r["request_id"]}));
    assert_eq!(st, 404, "approvers only see requests they have a task on: {e}");
    let (_, rows) = http(&rest_url(), "GET", "/tasks", Some(&eve), &[], None);
    assert_eq!(rows, json!([]));
    assert_eq!(db.open(&r), vec!["mia"]);
}

#[test]
fn bad_input_gets_the_documented_status_and_changes_nothing() {
    let (mut db, key) = setup();
    let caller = token(&db.tenant, "awe_caller", "app");
    let count = |db: &mut Db| db.column("select count(*)::text from awe.requests", &[]).remove(0);
    let before = count(&mut db);
    // Malformed JSON body.
    let (st, _) = http(&rest_url(), "POST", "/rpc/submit", Some(&caller), &[], Some("{\"policy_key\": "));
    assert_eq!(st, 400);
    // Wrong types.
    let (st, _) = rpc(Some(&caller), "get_request", json!({"request_id": "not-a-uuid"}));
    assert_eq!(st, 400);
    // Unknown policy.
    let (st, e) = rpc(Some(&caller), "submit", json!({"policy_key": "nope", "artifact_type": "doc", "artifact_id": "x"}));
    assert_eq!((st, awe_code(&e)), (404, "AWE-POLICY-NOT-FOUND".to_string()));
    // Oversize context (the default limit is 64 KiB).
    let big = "x".repeat(70_000);
    let (st, e) = rpc(Some(&caller), "submit", json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "x", "context": {"blob": big}}));
    assert_eq!((st, awe_code(&e)), (400, "AWE-LIMIT-EXCEEDED".to_string()));
    // Callback URL outside the tenant's registered endpoints.
    let (st, e) = rpc(Some(&caller), "submit", json!({"policy_key": key, "artifact_type": "doc", "artifact_id": "x",
        "context": {"manager": "m"}, "callback_url": "https://attacker.example/hook"}));
    assert_eq!((st, awe_code(&e)), (400, "AWE-CALLBACK-NOT-ALLOWED".to_string()));
    assert_eq!(count(&mut db), before, "no bad call wrote a request");
    // SQL-injection-shaped text is data.
    let evil = "'); drop table awe.request; --";
    let (st, r) = rpc(Some(&caller), "submit", json!({"policy_key": key, "artifact_type": "doc", "artifact_id": evil,
        "context": {"manager": evil}, "requester": evil}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["artifact_id"], evil);
    assert_eq!(r["tasks"][0]["assignee"], evil);
    let (st, _) = rpc(Some(&caller), "comment", json!({"request_id": r["request_id"], "body": evil}));
    assert_eq!(st, 200);
    assert_eq!(count(&mut db).parse::<i32>().unwrap(), before.parse::<i32>().unwrap() + 1);
}

#[test]
fn row_level_security_for_in_database_callers() {
    // A login role mapped to tenant A sees only A's rows and cannot write B's.
    let (mut a, key_a) = setup();
    let (mut b, key_b) = setup();
    let ra = a.submit(&key_a, json!({"manager": "mia"}));
    let rb = b.submit(&key_b, json!({"manager": "mia"}));
    let role = unique("app").replace('-', "_");
    a.exec(&format!("create role {role} login; grant awe_user to {role}; select awe.map_role_to_tenant('{role}', '{}')", a.tenant));
    // A mapping left behind by a dropped role must not break anyone's tenant,
    // nor pass to a new role created under the old name.
    a.exec(&format!("create role {role}_dropped; select awe.map_role_to_tenant('{role}_dropped', '{}'); drop role {role}_dropped;
                     create role {role}_dropped login; grant awe_user to {role}_dropped", a.tenant));
    let url = database_url().replacen("postgres@", &format!("{role}_dropped@"), 1);
    let mut reborn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let e = reborn.query("select request_id from awe.request", &[]).map(|rows| rows.len());
    assert!(matches!(e, Ok(0)) || e.is_err(), "a role created under a dropped role's name reads nothing: {e:?}");
    let e = reborn.query("select awe.get_request($1::text::uuid)", &[&ra["request_id"].as_str().unwrap()]).unwrap_err();
    assert_eq!(db_error(e).code(), "AWE-TENANT-UNKNOWN");
    drop(reborn);
    a.exec(&format!("drop owned by {role}_dropped; drop role {role}_dropped"));
    let url = database_url().replacen("postgres@", &format!("{role}@"), 1);
    let mut app = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ids: Vec<String> = app.query("select request_id::text from awe.request", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![ra["request_id"].as_str().unwrap().to_string()]);
    // No caller writes awe's tables at all, its own tenant's or another's.
    for (sql, id) in [("update awe.request set status = 'approved' where request_id = $1::text::uuid", &rb["request_id"]),
                      ("update awe.request set status = 'approved' where request_id = $1::text::uuid", &ra["request_id"])] {
        let e = app.execute(sql, &[&id.as_str().unwrap()]).unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e}");
    }
    let e = app.execute("insert into awe.policy (tenant_id, policy_key, artifact_type) values ($1, 'x', 'doc')", &[&b.tenant]).unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "no write into tenant B");
    // awe.tenant cannot pick a tenant the role is not mapped to.
    app.batch_execute(&format!("set awe.tenant = '{}'", b.tenant)).unwrap();
    let e = app.query("select awe.get_request($1::text::uuid)", &[&rb["request_id"].as_str().unwrap()]).unwrap_err();
    assert_eq!(db_error(e).code(), "AWE-TENANT-UNKNOWN");
    // Secrets are not readable by the role (for its own tenant: with an
    // unmapped awe.tenant the planner's call to awe.current_tenant() in the
    // row-level policy refuses first, with AWE-TENANT-UNKNOWN).
    app.batch_execute("reset awe.tenant").unwrap();
    let e = app.query("select secret from awe.endpoint_secret", &[]).unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"));
    assert_eq!(b.status(&rb), "in_review");
    drop(app);
    a.exec(&format!("drop owned by {role}; drop role {role}"));
}

/// The Keycloak shape: RS256 tokens verified against a JWKS. A second server
/// is started with the JWKS as PGRST_JWT_SECRET; tokens are signed with the
/// openssl command line.
#[test]
fn rs256_jwks_tokens() {
    let dir = std::env::temp_dir().join(unique("jwks"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    let ok = Command::new("openssl").args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]).arg(&key)
        .stderr(Stdio::null()).status().unwrap();
    assert!(ok.success());
    let modulus = Command::new("openssl").args(["rsa", "-noout", "-modulus", "-in"]).arg(&key).output().unwrap();
    let hex = String::from_utf8(modulus.stdout).unwrap().trim().trim_start_matches("Modulus=").to_string();
    let n: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let jwks = json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1", "n": B64URL.encode(&n), "e": "AQAB"}]});

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pg = database_url();
    let pg_port = pg.rsplit(':').next().unwrap().split('/').next().unwrap().to_string();
    let mut server = Command::new(std::env::var("HOME").unwrap() + "/.cargo/bin/postrust")
        // DATABASE_URL (set by a shell that sourced .awe/dev.env) would win over PGRST_DB_URI.
        .env_remove("DATABASE_URL").env_remove("PGUSER")
        .env("PGRST_COMPAT_MODE", "true")
        .env("PGRST_DB_URI", format!("postgres://authenticator@127.0.0.1:{pg_port}/awe"))
        .env("PGRST_DB_SCHEMAS", "awe_api").env("PGRST_DB_ANON_ROLE", "awe_anon")
        .env("PGRST_JWT_SECRET", jwks.to_string()).env("PGRST_SERVER_HOST", "127.0.0.1")
        .env("PGRST_SERVER_PORT", port.to_string()).env("PGRST_LOG_LEVEL", "error")
        .stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (db, policy) = setup();
    let claims = json!({"role": "awe_caller", "sub": "svc", "tenant": db.tenant, "exp": now() + 600, "iss": "keycloak"});
    let head = B64URL.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}).to_string());
    let input = format!("{head}.{}", B64URL.encode(claims.to_string()));
    let mut sign = Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(&key)
        .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    sign.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let sig = sign.wait_with_output().unwrap().stdout;
    let rs256 = format!("{input}.{}", B64URL.encode(sig));
    let args = json!({"policy_key": policy, "artifact_type": "doc", "artifact_id": "k-1", "context": {"manager": "m"}});
    let (st, r) = http(&base, "POST", "/rpc/submit", Some(&rs256), &[], Some(&args.to_string()));
    let (st_hs, _) = http(&base, "POST", "/rpc/submit", Some(&token(&db.tenant, "awe_caller", "svc")), &[], Some(&args.to_string()));
    let _ = server.kill();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["status"], "in_review");
    assert_eq!(st_hs, 401, "an HS256 token is refused by the JWKS-configured server");
}
