//! The directory kept in step with Keycloak by the worker, against the
//! Keycloak stand-in (tests/common/keycloak.rs): a first sync of a big
//! realm, a resync that writes nothing, faults that apply nothing and say
//! why, alerts, the engine resolving synced members, leavers, imports, and
//! who may touch what.

use awe_e2e::keycloak::{self, CLIENT_ID, CLIENT_SECRET, REALM};
use awe_e2e::standin::StandIn;
use awe_e2e::receiver::{resp, wait_until, Receiver};
use awe_e2e::webhook::{register, verifies};
use awe_e2e::{rid, Db, ScratchDatabase};
use serde_json::{json, Value};

fn set_source(db: &mut Db, k: &StandIn, options: Value) -> Value {
    db.json("select awe.set_directory_source('keycloak', $1, $2, $3, $4, $5::text::jsonb)::text",
        &[&k.url, REALM, CLIENT_ID, CLIENT_SECRET, &options.to_string()])
}

fn status(db: &mut Db) -> Value {
    db.json("select row_to_json(s)::text from awe.directory_sync_status s", &[])
}

/// Asks for a sync (unless `ask` is false: one is due already) and waits
/// for the worker to finish it; returns the status after it.
fn sync(db: &mut Db, ask: bool) -> Value {
    let before = status(db)["last_attempt_at"].clone();
    if ask {
        db.json("select awe.sync_directory()::text", &[]);
    }
    wait_until("the worker to finish a directory sync", 120, || {
        let s = status(db);
        (s["last_attempt_at"] != before && s["running"] == false).then_some(s)
    })
}

fn count(db: &mut Db, sql: &str) -> i64 {
    db.column(sql, &[])[0].parse().unwrap()
}

/// A fingerprint of every directory row's physical version: equal before
/// and after only if no row was rewritten.
fn row_versions(db: &mut Db) -> String {
    db.column("select md5(coalesce(string_agg(v, ',' order by v), '')) from (
                 select 'p' || xmin::text || ctid::text as v from awe.principal where tenant_id = awe.current_tenant()
                 union all select 'r' || xmin::text || ctid::text from awe.role_grant where tenant_id = awe.current_tenant()
                 union all select 'g' || xmin::text || ctid::text from awe.group_member where tenant_id = awe.current_tenant()) x", &[])[0].clone()
}

#[test]
fn a_big_realm_is_copied_and_a_resync_rewrites_nothing() {
    let k = keycloak::seeded("big");
    let mut db = Db::new();
    let s = set_source(&mut db, &k, json!({"page_size": 100, "attributes": ["department"], "client_roles": {"expense-app": "all"}}));
    assert_eq!((s["options"]["interval"].as_str(), s["options"]["max_deactivations"].as_i64()), (Some("300s"), Some(25)), "defaults filled in: {s}");
    assert!(s.get("client_secret").is_none(), "the secret is never shown");
    let first = sync(&mut db, false);
    assert_eq!(first["last_error"], Value::Null, "{first}");
    // 5,000 users, every 50th disabled and left out; nobody capped at 200.
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and active"), 4900);
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and managed_by is distinct from 'directory'"), 0);
    let approvers = count(&mut db, "select count(*)::text from awe.role_grant where tenant_id = awe.current_tenant() and role = 'approver'");
    assert!(approvers > 1150 && approvers <= 1200, "the 1,200-member role, less disabled users: {approvers}");
    assert_eq!(count(&mut db, "select count(distinct group_path)::text from awe.group_member where tenant_id = awe.current_tenant() and group_path like '/%/%/%'"), 44,
        "members of all 44 third-level groups");
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and attributes ? 'department'"), 4900);
    // Client roles are named <clientId>:<role>; group-mapped roles reach sub-group members.
    assert!(count(&mut db, "select count(*)::text from awe.role_grant where tenant_id = awe.current_tenant() and role = 'expense-app:approver'") > 50);
    assert!(count(&mut db, "select count(*)::text from awe.role_grant where tenant_id = awe.current_tenant() and role = 'finance-staff'") > 100);
    let counts = &first["last_counts"];
    assert_eq!(counts["principals"], 4900);
    assert_eq!(counts["changes"]["principals_added"], 4900);

    let versions = row_versions(&mut db);
    let again = sync(&mut db, true);
    assert_eq!(again["last_error"], Value::Null, "{again}");
    assert_eq!(again["last_counts"]["changes"], json!({"added": 0, "updated": 0, "deactivated": 0, "removed": 0, "principals_added": 0,
        "grants_added": 0, "grants_removed": 0, "memberships_added": 0, "memberships_removed": 0}));
    assert_eq!(row_versions(&mut db), versions, "a sync that changes nothing rewrites no row");
}

#[test]
fn a_failed_read_applies_nothing_and_says_why() {
    let k = keycloak::seeded("expense");
    let mut db = Db::new();
    set_source(&mut db, &k, json!({}));
    assert_eq!(sync(&mut db, false)["last_error"], Value::Null);
    let members = || "select string_agg(principal_id, ',' order by principal_id) from awe.group_member where tenant_id = awe.current_tenant() and group_path = '/finance/approvers'";
    assert_eq!(db.column(members(), &[])[0], "fin.ana,fin.ben,fin.cy");

    // Each fault comes with a real change in the realm, which must not land.
    k.control(json!({"remove_user_from_group": {"user": "fin.ben", "group": "/finance/approvers"}}));
    for (fault, code) in [
        (json!({"fail_page": {"path_contains": "/members", "status": 500, "times": 10}}), "server_error"),
        (json!({"malformed": {"path_contains": "/groups", "times": 1}}), "malformed"),
        (json!({"fail_page": {"path_contains": "/users", "status": 403, "times": 1}}), "forbidden"),
        (json!({"fail_page": {"path_contains": "/protocol/openid-connect/token", "status": 401, "times": 1}}), "auth_failed"),
    ] {
        k.control(fault.clone());
        let s = sync(&mut db, true);
        assert_eq!(s["last_error_code"], code, "{fault}: {s}");
        assert!(s["last_error"].as_str().unwrap().len() > 10, "a message that says what failed: {s}");
        assert_eq!(db.column(members(), &[])[0], "fin.ana,fin.ben,fin.cy", "{fault}: nothing applied");
        k.control(json!({"reset": true}));
        k.control(json!({"remove_user_from_group": {"user": "fin.ben", "group": "/finance/approvers"}}));
    }
    assert!(status(&mut db)["consecutive_failures"].as_i64().unwrap() >= 4);

    // A token that expires mid-sync is renewed, and slow answers only slow it.
    k.control(json!({"token_ttl_requests": 3, "delay_ms": 20}));
    let s = sync(&mut db, true);
    assert_eq!(s["last_error"], Value::Null, "{s}");
    assert!(s["last_stats"]["reauthentications"].as_i64().unwrap() > 0, "{s}");
    assert_eq!((s["consecutive_failures"].as_i64(), db.column(members(), &[])[0].as_str()), (Some(0), "fin.ana,fin.cy"));
}

#[test]
fn repeated_failures_alert_and_recovery_is_announced() {
    let k = keycloak::seeded("expense");
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    let e = register(&mut db, &recv);
    db.json("select awe.set_directory_source('keycloak', $1, $2, $3, $4, '{}', $5)::text",
        &[&k.url, REALM, CLIENT_ID, CLIENT_SECRET, &format!("{}/directory", recv.url())]);
    sync(&mut db, false);
    k.control(json!({"fail_page": {"path_contains": "/protocol/openid-connect/token", "status": 401, "times": 100}}));
    for _ in 0..3 {
        sync(&mut db, true);
    }
    let alert = wait_until("directory.sync_failed", 30, || recv.requests().into_iter().find(|r| r.kind() == "directory.sync_failed"));
    assert!(verifies(&e.secret, &alert), "signed like every webhook");
    let body = alert.json();
    assert_eq!((body["data"]["consecutive_failures"].as_i64(), body["data"]["error_code"].as_str()), (Some(3), Some("auth_failed")));
    assert_eq!(body["data"]["tenant"], db.tenant.as_str());
    // A fourth failure does not alert again.
    sync(&mut db, true);
    k.control(json!({"reset": true}));
    sync(&mut db, true);
    wait_until("directory.sync_recovered", 30, || recv.requests().into_iter().find(|r| r.kind() == "directory.sync_recovered"));
    assert_eq!(recv.requests().iter().filter(|r| r.kind() == "directory.sync_failed").count(), 1);
}

#[test]
fn the_engine_resolves_synced_members_and_handles_leavers() {
    let k = keycloak::seeded("expense");
    let mut db = Db::new();
    set_source(&mut db, &k, json!({}));
    sync(&mut db, false);
    let group = db.stages(json!([{"name": "finance", "mode": "any", "rules": [{"type": "group", "group": "/finance/approvers"}]}]));
    let r = db.submit(&group, json!({}));
    assert_eq!(db.open(&r), vec!["fin.ana", "fin.ben", "fin.cy"]);

    // Removed from the group in Keycloak: no new tasks for them.
    k.control(json!({"remove_user_from_group": {"user": "fin.ben", "group": "/finance/approvers"}}));
    sync(&mut db, true);
    let r2 = db.submit(&group, json!({}));
    assert_eq!(db.open(&r2), vec!["fin.ana", "fin.cy"]);

    // A leaver on an `all` stage that escalates: replaced at once.
    let escalating = db.stages(json!([{"name": "dual", "mode": "all", "rules": [{"type": "user", "user": "fin.ana"}, {"type": "user", "user": "fin.cy"}],
        "sla": "2d", "on_breach": {"action": "escalate", "rules": [{"type": "role", "role": "finance-director"}]}}]));
    let plain = db.stages(json!([{"name": "dual", "mode": "all", "rules": [{"type": "user", "user": "fin.ana"}, {"type": "user", "user": "fin.cy"}]}]));
    let esc = db.submit(&escalating, json!({}));
    let stuck = db.submit(&plain, json!({}));
    db.act_as("fin.cy");
    let delegation = db.json("select awe.set_delegation('fin.cy', 'mia', now(), now() + interval '7 days')::text", &[]);
    db.exec("reset awe.actor");
    k.control(json!({"disable_user": "fin.cy"}));
    sync(&mut db, true);
    wait_until("the leaver's tasks to be handled", 30, || {
        (db.events(&esc).contains(&"stage.escalated".to_string()) && db.events(&stuck).contains(&"task.assignee_inactive".to_string())).then_some(())
    });
    assert_eq!(db.open(&esc), vec!["dora", "fin.ana"], "fin.cy's task expired, the director took its place");
    db.decide(&esc, "fin.ana", "approve");
    db.decide(&esc, "dora", "approve");
    assert_eq!(db.status(&esc), "approved");
    // Without escalation rules the task waits for an admin, and is listed.
    assert_eq!(db.open(&stuck), vec!["fin.ana", "fin.cy"]);
    let stalled = db.column("select task_id::text from awe.stalled_tasks where request_id = $1::text::uuid", &[&rid(&stuck)]);
    assert_eq!(stalled.len(), 1);
    db.json("select awe.reassign($1::text::uuid, 'mia', 'fin.cy left')::text", &[&stalled[0]]);
    assert_eq!(db.open(&stuck), vec!["fin.ana", "mia"]);
    // Their delegations ended; they are named nowhere new.
    let d = db.column("select (revoked_at is not null)::text from awe.delegation where tenant_id = awe.current_tenant() and delegation_id = $1::text::uuid", &[delegation.as_str().unwrap()]);
    assert_eq!(d, vec!["true"]);
    let fresh = db.submit(&plain, json!({}));
    assert_eq!(db.open(&fresh), vec!["fin.ana"], "a user rule naming a leaver makes no task");
    let mias = db.column("select task_id::text from awe.tasks where assignee = 'mia' and status = 'open' limit 1", &[]);
    let refused = db.try_json("select awe.reassign($1::text::uuid, 'fin.cy')::text", &[&mias[0]]).unwrap_err();
    assert_eq!(refused.code(), "AWE-ASSIGNEE-NOT-ALLOWED");
}

#[test]
fn what_a_source_manages_changes_only_there() {
    let k = keycloak::seeded("expense");
    let mut db = Db::new();
    db.exec("select awe.grant_role('local.bot', 'robots')"); // by hand, before the source
    set_source(&mut db, &k, json!({}));
    sync(&mut db, false);
    for (sql, what) in [
        ("select awe.revoke_role('dora', 'finance-director')::text", "revoke"),
        ("select awe.remove_from_group('fin.ana', '/finance/approvers')::text", "remove"),
        ("select awe.upsert_principal('mia', 'Someone else')::text", "upsert"),
        ("select awe.remove_principal('sam')::text", "remove principal"),
        (r#"select awe.import_directory('{"users": [{"id": "x"}]}')::text"#, "import"),
    ] {
        let e = db.try_json(sql, &[]).unwrap_err();
        assert_eq!(e.code(), "AWE-DIRECTORY-MANAGED", "{what}: {e:?}");
    }
    // Hand-made entries the source does not have stay, and stay editable.
    db.exec("select awe.revoke_role('local.bot', 'robots')");
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and principal_id = 'local.bot' and active"), 1);
    // Grants added by hand to a managed principal are the hand's.
    db.exec("select awe.grant_role('mia', 'local-auditor')");
    sync(&mut db, true);
    assert_eq!(count(&mut db, "select count(*)::text from awe.role_grant where tenant_id = awe.current_tenant() and principal_id = 'mia' and role = 'local-auditor'"), 1);
    // Callers never see the client secret.
    db.exec("set role awe_user");
    let e = db.try_json("select client_secret from awe.directory_source_secret", &[]).unwrap_err();
    db.exec("reset role");
    assert_eq!(e.sqlstate, "42501", "{e:?}");
    // A bad source is refused with every problem at its path.
    let bad = db.try_json("select awe.set_directory_source('keycloak', 'ftp://x', '', 'c', 's', '{\"groups\": 5, \"interval\": \"10s\"}')::text", &[]).unwrap_err();
    assert_eq!(bad.code(), "AWE-BAD-INPUT");
    let paths: Vec<String> = bad.detail.clone().unwrap()["details"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(paths, vec!["realm", "base_url", "options.groups", "options.interval"]);
    db.exec("select awe.remove_directory_source()");
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and managed_by = 'directory'"), 6, "the directory stays");
}

#[test]
fn an_import_is_a_sync_from_a_document_and_guards_against_emptying() {
    let mut db = Db::new();
    let users: Vec<Value> = (0..30).map(|i| json!({"id": format!("u{i:02}"), "display_name": format!("User {i}"),
        "roles": if i < 3 { json!(["finance-director"]) } else { json!([]) }, "groups": ["/staff"]})).collect();
    let out = db.json("select awe.import_directory($1::text::jsonb)::text", &[&json!({"users": users}).to_string()]);
    assert_eq!((out["changed"].as_bool(), out["counts"]["principals_added"].as_i64()), (Some(true), Some(30)));
    let again = db.json("select awe.import_directory($1::text::jsonb)::text", &[&json!({"users": users}).to_string()]);
    assert_eq!(again["changed"], false);
    // A document that would deactivate 25 of 30 is refused unless forced.
    let few = json!({"users": users[..5]});
    let refused = db.try_json("select awe.import_directory($1::text::jsonb)::text", &[&few.to_string()]).unwrap_err();
    assert_eq!(refused.code(), "AWE-BAD-INPUT");
    assert!(refused.message.contains("deactivate 25 of 30"), "{refused:?}");
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and active"), 30, "nothing applied");
    db.json("select awe.import_directory($1::text::jsonb, force => true)::text", &[&few.to_string()]);
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and active"), 5);
    // Every problem of a bad document, with its path; nothing applied.
    let bad = db.try_json(r#"select awe.import_directory('{"users": [{"id": ""}, {"id": "u01", "roles": ["Bad Role"]}], "extra": 1}')::text"#, &[]).unwrap_err();
    assert_eq!(bad.code(), "AWE-BAD-INPUT");
    assert!(bad.detail.clone().unwrap()["details"]["problems"].as_array().unwrap().len() >= 3, "{bad:?}");
    assert_eq!(count(&mut db, "select count(*)::text from awe.principal where tenant_id = awe.current_tenant() and active"), 5);
}

#[test]
fn the_compose_realm_export_gives_the_expense_directory() {
    // docker/keycloak/realm-awe.json, read by the stand-in as Keycloak would
    // import it, synced with the client it defines for awe.
    let export = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/keycloak/realm-awe.json");
    let k = keycloak::start(&["--realm-export", export]);
    let mut db = Db::new();
    db.json("select awe.set_directory_source('keycloak', $1, 'awe', 'awe-directory-sync', 'change-me-directory-sync', '{\"realm_roles\": [\"finance-director\", \"awe_approver\"]}')::text",
        &[&k.url]);
    let s = sync(&mut db, false);
    assert_eq!(s["last_error"], Value::Null, "{s}");
    let principals = db.column("select string_agg(principal_id, ',' order by principal_id) from awe.principal where tenant_id = awe.current_tenant()", &[]);
    assert_eq!(principals[0], "ada,dora,fin.ana,fin.ben,fin.cy,mia,sam", "people, never the service accounts");
    let members = db.column("select string_agg(principal_id, ',' order by principal_id) from awe.group_member where tenant_id = awe.current_tenant() and group_path = '/finance/approvers'", &[]);
    assert_eq!(members[0], "fin.ana,fin.ben,fin.cy");
    assert_eq!(db.column("select string_agg(principal_id, ',') from awe.role_grant where tenant_id = awe.current_tenant() and role = 'finance-director'", &[]), vec!["dora"]);
    // The expense example's policy resolves against it.
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/expense-report.yaml")).unwrap();
    let imported = db.json("select awe.import_policy($1, 'yaml')::text", &[&yaml]);
    db.json("select awe.activate_policy('expense.report', $1::text::int)::text", &[&imported["version"].to_string()]);
    let r = db.json("select awe.submit('expense.report', 'expense_report', 'EXP-1', '{\"amount\": 12500, \"submitter\": \"sam\", \"manager\": \"mia\"}', 'sam')::text", &[]);
    db.decide(&r, "mia", "approve");
    assert_eq!(db.open(&r), vec!["fin.ana", "fin.ben", "fin.cy"]);
}

#[test]
fn sync_without_a_source_says_how_to_get_one() {
    let mut db = Db::new();
    let e = db.try_json("select awe.sync_directory()::text", &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-NOT-FOUND", "{e:?}");
    assert!(e.hint.as_deref().unwrap_or("").contains("awe.set_directory_source"), "{e:?}");
}

/// On Citus the watched tables' triggers fire on the node holding the
/// shard, not in the coordinator's backends where the caches are, so awe's
/// own functions tell the caches too. Here the triggers are off (in a
/// database of its own) and a second session's caches still follow role
/// grants, group memberships, deactivations, delegations and policy
/// activations made by the first.
#[test]
fn caches_follow_awes_own_writes_without_the_triggers() {
    let scratch = ScratchDatabase::new("no_triggers");
    let mut admin = Db { client: postgres::Client::connect(&scratch.url(), postgres::NoTls).unwrap(), tenant: "acme".into() };
    admin.exec("create extension awe; select awe.create_tenant('acme'); set awe.tenant = 'acme'");
    for (table, trigger) in [("principal", "principal_changed"), ("role_grant", "role_grant_changed"), ("group_member", "group_member_changed"),
                             ("delegation", "delegation_changed"), ("policy_version", "policy_versions_changed"), ("tenant", "tenant_changed")] {
        admin.exec(&format!("alter table awe.{table} disable trigger {trigger}"));
    }
    admin.exec("select awe.grant_role('ann', 'finance'), awe.add_to_group('gus', '/ops')");
    let by_role = admin.stages(json!([{"name": "s", "rules": [{"type": "role", "role": "finance"}]}]));
    let by_group = admin.stages(json!([{"name": "s", "rules": [{"type": "group", "group": "/ops"}]}]));
    let mut other = Db { client: postgres::Client::connect(&scratch.url(), postgres::NoTls).unwrap(), tenant: "acme".into() };
    other.exec("set awe.tenant = 'acme'");
    let open = |db: &mut Db, key: &str| { let r = db.submit(key, json!({})); db.open(&r) };
    // The other session fills its caches.
    assert_eq!(open(&mut other, &by_role), ["ann"]);
    assert_eq!(open(&mut other, &by_group), ["gus"]);
    admin.exec("select awe.grant_role('bea', 'finance'), awe.add_to_group('hal', '/ops')");
    assert_eq!(open(&mut other, &by_role), ["ann", "bea"], "a role granted");
    assert_eq!(open(&mut other, &by_group), ["gus", "hal"], "a member added");
    admin.exec("select awe.upsert_principal('bea', active => false), awe.remove_from_group('gus', '/ops')");
    assert_eq!(open(&mut other, &by_role), ["ann"], "a principal deactivated");
    assert_eq!(open(&mut other, &by_group), ["hal"], "a member removed");
    admin.exec("select awe.set_delegation('ann', 'deb', now() - interval '1 minute', now() + interval '1 day')");
    assert_eq!(open(&mut other, &by_role), ["deb"], "a delegation");
    // A new version of the role policy, activated: the other session submits against it.
    let v2 = json!({"key": by_role, "artifact_type": "doc", "stages": [{"name": "s", "rules": [{"type": "user", "user": "zed"}]}]});
    let out = admin.json("select awe.create_policy_version($1::text::jsonb)::text", &[&v2.to_string()]);
    admin.json("select awe.activate_policy($1, $2::text::int)::text", &[&by_role, &out["version"].to_string()]);
    assert_eq!(open(&mut other, &by_role), ["zed"], "a policy version activated");
}
