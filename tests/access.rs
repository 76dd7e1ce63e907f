//! Who may do what through REST, cell by cell (docs/rest.md has the table
//! and awe_core::access holds it), and the REST seams the outside trial
//! found: a delegate reading what it may decide, policy authors' tools kept
//! from approvers, a token naming an unregistered tenant, malformed ids.

use awe_e2e::http::{hs256, request};
use awe_e2e::*;
use serde_json::{json, Value};

fn rest_url() -> String {
    dev_env("AWE_REST_URL")
}

fn token(tenant: &str, role: &str, sub: &str) -> String {
    hs256(&dev_env("AWE_JWT_SECRET"), json!({"role": role, "sub": sub, "tenant": tenant}))
}

fn rpc(token: &str, func: &str, args: Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    request(&rest_url(), "POST", &format!("/rpc/{func}"), &[("Authorization", auth.as_str())], &args.to_string())
}

fn get(token: &str, path: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    request(&rest_url(), "GET", path, &[("Authorization", auth.as_str())], "")
}

fn code(v: &Value) -> String {
    v["message"].as_str().unwrap_or("").split(':').next().unwrap_or("").to_string()
}

/// A request sent back to its requester `sam`, submitted by service
/// `svc`, with `mia` the approver whose task it is and `dep` her deputy.
fn sent_back(db: &mut Db) -> String {
    let key = db.stages(json!([{"name": "s", "rules": users(&["mia"])}]));
    db.act_as("svc");
    let r = db.try_submit(&key, json!({"n": 1}), Some("sam")).unwrap();
    db.decide(&r, "mia", "request_changes");
    rid(&r)
}

#[test]
fn every_cell_of_the_request_permission_table() {
    // (token role, actor, operation, expected status)
    // actors: sam the requester, svc the submitting service, mia who had the
    // task, stranger nobody.
    let cells: &[(&str, &str, &str, u16)] = &[
        ("awe_viewer", "auditor", "read", 200), ("awe_viewer", "auditor", "comment", 403),
        ("awe_viewer", "auditor", "resubmit", 403), ("awe_viewer", "auditor", "withdraw", 403), ("awe_viewer", "auditor", "cancel", 403),
        ("awe_approver", "mia", "read", 200), ("awe_approver", "mia", "comment", 200),
        ("awe_approver", "mia", "resubmit", 403), ("awe_approver", "mia", "withdraw", 403), ("awe_approver", "mia", "cancel", 403),
        ("awe_approver", "sam", "read", 200), ("awe_approver", "sam", "comment", 200),
        ("awe_approver", "sam", "resubmit", 200), ("awe_approver", "sam", "withdraw", 200), ("awe_approver", "sam", "cancel", 403),
        ("awe_approver", "stranger", "read", 404), ("awe_approver", "stranger", "comment", 404),
        ("awe_approver", "stranger", "resubmit", 404), ("awe_approver", "stranger", "withdraw", 404), ("awe_approver", "stranger", "cancel", 403),
        ("awe_caller", "svc", "read", 200), ("awe_caller", "svc", "comment", 200),
        ("awe_caller", "svc", "resubmit", 200), ("awe_caller", "svc", "withdraw", 200), ("awe_caller", "svc", "cancel", 200),
        ("awe_caller", "other-svc", "read", 200), ("awe_caller", "other-svc", "comment", 200),
        ("awe_caller", "other-svc", "resubmit", 403), ("awe_caller", "other-svc", "withdraw", 403), ("awe_caller", "other-svc", "cancel", 403),
        ("awe_admin", "root", "read", 200), ("awe_admin", "root", "comment", 200),
        ("awe_admin", "root", "resubmit", 403), ("awe_admin", "root", "withdraw", 403), ("awe_admin", "root", "cancel", 200),
    ];
    for (role, actor, op, want) in cells {
        // A fresh request per cell: operations change state.
        let mut db = Db::new();
        let id = sent_back(&mut db);
        let t = token(&db.tenant, role, actor);
        let (st, body) = match *op {
            "read" => rpc(&t, "get_request", json!({"request_id": id})),
            "comment" => rpc(&t, "comment", json!({"request_id": id, "body": "hello"})),
            "resubmit" => rpc(&t, "resubmit", json!({"request_id": id, "context": {"n": 2}})),
            "withdraw" => rpc(&t, "withdraw", json!({"request_id": id, "reason": "no longer needed"})),
            _ => rpc(&t, "cancel", json!({"request_id": id, "reason": "stop"})),
        };
        // 403 from postrust for a role the function refuses may come as 401
        // (a 42501 with a valid token); awe raises PT403 itself.
        assert_eq!(st, *want, "{role} {actor} {op}: {body}");
        if *want == 404 {
            assert_eq!(code(&body), "AWE-REQUEST-NOT-FOUND", "{role} {actor} {op}");
        }
    }
}

#[test]
fn a_delegate_may_read_what_it_may_decide() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["lead"])}]));
    let r = db.try_submit(&key, json!({}), Some("sam")).unwrap();
    db.exec("select awe.set_delegation('lead', 'deputy', now() - interval '1 minute', now() + interval '1 day')");
    let deputy = token(&db.tenant, "awe_approver", "deputy");
    let id = rid(&r);
    assert_eq!(rpc(&deputy, "get_request", json!({"request_id": id})).0, 200);
    assert_eq!(rpc(&deputy, "timeline", json!({"request_id": id})).0, 200);
    assert_eq!(rpc(&deputy, "verify_timeline", json!({"request_id": id})).0, 200);
    assert_eq!(rpc(&deputy, "comment", json!({"request_id": id, "body": "on it"})).0, 200);
    let (_, inbox) = rpc(&deputy, "inbox", json!({}));
    let task = inbox[0]["task_id"].clone();
    assert_eq!(rpc(&deputy, "decide", json!({"task_id": task, "decision": "approve"})).0, 200);
    // Someone else's deputy sees nothing.
    let other = token(&db.tenant, "awe_approver", "other");
    assert_eq!(rpc(&other, "get_request", json!({"request_id": id})).0, 404);
}

#[test]
fn policy_authors_tools_are_for_admins() {
    let mut db = Db::new();
    let key = db.stages(json!([{"name": "s", "rules": users(&["mia"])}]));
    let mia = token(&db.tenant, "awe_approver", "mia");
    let (st, e) = rpc(&mia, "eval_logic", json!({"rule": {"+": [1, 2]}}));
    assert_eq!((st, code(&e)), (403, "AWE-FORBIDDEN".into()), "{e}");
    assert_eq!(rpc(&mia, "validate_policy", json!({"definition": {}})).0, 403);
    let (st, rows) = get(&mia, "/policies");
    assert_eq!((st, rows), (200, json!([])), "approvers do not read policy definitions");
    let admin = token(&db.tenant, "awe_admin", "root");
    assert_eq!(rpc(&admin, "eval_logic", json!({"rule": {"+": [1, 2]}})), (200, json!(3)));
    let (st, rows) = get(&admin, &format!("/policies?policy_key=eq.{key}&select=version"));
    assert_eq!((st, rows), (200, json!([{"version": 1}])));
}

#[test]
fn a_token_for_an_unregistered_tenant_gets_tenant_unknown() {
    let t = token("never-registered", "awe_caller", "svc");
    let (st, e) = rpc(&t, "submit", json!({"policy_key": "k", "artifact_type": "doc", "artifact_id": "x"}));
    assert_eq!((st, code(&e)), (403, "AWE-TENANT-UNKNOWN".into()), "{e}");
    let t = token("never-registered", "awe_admin", "root");
    let (st, e) = rpc(&t, "register_endpoint", json!({"url": "https://example.com/hooks"}));
    assert_eq!((st, code(&e)), (403, "AWE-TENANT-UNKNOWN".into()), "{e}");
}

#[test]
fn malformed_arguments_are_bad_input_naming_the_argument() {
    let db = Db::new();
    let mia = token(&db.tenant, "awe_approver", "mia");
    let admin = token(&db.tenant, "awe_admin", "root");
    for (t, func, args, name) in [
        (&mia, "decide", json!({"task_id": "not-a-uuid", "decision": "approve"}), "task_id"),
        (&mia, "inbox", json!({"page_size": "lots"}), "page_size"),
        (&mia, "inbox", json!({"after_created_at": "yesterday-ish", "after_task_id": "00000000-0000-4000-8000-000000000000"}), "after_created_at"),
        (&mia, "set_delegation", json!({"delegate_id": "x", "starts_at": "soon", "ends_at": "later"}), "starts_at"),
        (&admin, "activate_policy", json!({"policy_key": "k", "version": "one"}), "version"),
        (&admin, "set_endpoint_enabled", json!({"endpoint_id": "00000000-0000-4000-8000-000000000000", "enabled": "maybe"}), "enabled"),
    ] {
        let (st, e) = rpc(t, func, args);
        assert_eq!((st, code(&e)), (400, "AWE-BAD-INPUT".into()), "{func}: {e}");
        assert!(e["message"].as_str().unwrap().contains(name), "{func}: {e}");
        assert!(!e.to_string().contains("rust_begin_unwind"), "no backtrace: {e}");
    }
}
