//! Notifications to an approver's own channel: signed like webhooks (the
//! signatures checked here with hmac/sha2 directly), sent when a task is
//! assigned, escalated, reminded or due soon, with the summary, the
//! deadline, the actions the approver may take and a link; one by one or
//! as a digest; from a channel set by hand or a directory attribute.

use awe_e2e::receiver::{resp, wait_until, Receiver, Req};
use awe_e2e::webhook::{register, verifies};
use awe_e2e::{policy_with, rid, users, Db};
use serde_json::{json, Value};

fn channel(db: &mut Db, who: &str, url: &str, kinds: Option<&[&str]>, digest: Option<&str>) -> Value {
    let kinds = kinds.map(|k| format!("array[{}]", k.iter().map(|x| format!("'{x}'")).collect::<Vec<_>>().join(",")))
        .unwrap_or_else(|| "null".into());
    let digest = digest.map(|d| format!("interval '{d}'")).unwrap_or_else(|| "null".into());
    db.json(&format!("select awe.set_notification_channel($1, $2, {kinds}, {digest})::text"), &[who, url])
}

fn for_task(recv: &Receiver, kind: &str, task: &str) -> Req {
    wait_until(kind, 30, || recv.requests().into_iter().find(|q| q.kind() == kind && q.json()["data"]["task_id"] == task))
}

#[test]
fn an_assigned_task_reaches_the_approver_signed_with_what_they_need() {
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    let e = register(&mut db, &recv);
    channel(&mut db, "mia", &format!("{}/people/mia", recv.url()), None, None);
    let key = policy_with(&mut db, json!({"summary": "{{ requester }} asks {{ amount }}"}), json!([
        {"name": "Manager", "rules": users(&["mia"]), "sla": "8h", "require_comment": ["reject"]}]));
    let r = db.json("select awe.submit($1, 'doc', 'EXP-1', '{\"amount\": 120}', 'sam')::text", &[&key]);
    let task = db.task_of(&r, "mia");
    let n = for_task(&recv, "task.assigned", &task);
    assert!(verifies(&e.secret, &n), "signed with the endpoint's secret");
    assert_eq!(n.path, "/people/mia");
    let d = &n.json()["data"];
    assert_eq!((d["principal"].as_str(), d["request_id"].as_str(), d["stage"].as_str()), (Some("mia"), Some(rid(&r).as_str()), Some("Manager")));
    assert_eq!(d["summary"]["text"], "sam asks 120");
    assert!(d["due_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{d}");
    let actions: Vec<&str> = d["available_actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["approve", "reject", "abstain", "request_changes", "comment", "claim"]);
    assert_eq!(d["available_actions"][1]["requires_comment"], true);
    // Nobody else got anything; a task for someone without a channel sends nothing.
    assert_eq!(recv.requests().iter().filter(|q| q.kind().starts_with("task.")).count(), 1);
}

#[test]
fn reminders_escalations_and_due_soon_are_sent_too() {
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    register(&mut db, &recv);
    for who in ["ana", "dora"] {
        channel(&mut db, who, &format!("{}/people/{who}", recv.url()), None, None);
    }
    let remind = db.stages(json!([{"name": "s", "rules": users(&["ana"]), "sla": "10h", "on_breach": {"action": "remind", "every": "1h", "max": 2}}]));
    let escalate = db.stages(json!([{"name": "s", "rules": users(&["ana"]), "sla": "10h",
        "on_breach": {"action": "escalate", "rules": [{"type": "user", "user": "dora"}]}}]));
    let r1 = db.submit(&remind, json!({}));
    let r2 = db.submit(&escalate, json!({}));
    let (t1, t2) = (db.task_of(&r1, "ana"), db.task_of(&r2, "ana"));
    // 8.5 hours on: past 80% of the SLA, not yet past it.
    db.exec("set awe.clock_offset = '8 hours 30 minutes'");
    let fired = db.json("select awe.run_due_timers(1000)::text", &[]);
    assert!(fired["due_soon"].as_i64().unwrap() >= 2, "{fired}");
    for t in [&t1, &t2] {
        for_task(&recv, "task.due_soon", t);
    }
    // Once only.
    db.json("select awe.run_due_timers(1000)::text", &[]);
    db.exec("set awe.clock_offset = '10 hours 1 minute'");
    db.json("select awe.run_due_timers(1000)::text", &[]);
    db.exec("reset awe.clock_offset");
    let reminder = for_task(&recv, "task.reminder", &t1);
    assert_eq!(reminder.json()["data"]["principal"], "ana");
    let dora = db.task_of(&r2, "dora");
    let escalated = for_task(&recv, "task.escalated", &dora);
    assert_eq!(escalated.json()["data"]["principal"], "dora");
    let due_soon: Vec<Req> = recv.requests().into_iter().filter(|q| q.kind() == "task.due_soon").collect();
    assert_eq!(due_soon.len(), 2, "one due-soon notice per task");
}

#[test]
fn a_digest_gathers_notifications_and_kinds_filter_them() {
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    register(&mut db, &recv);
    channel(&mut db, "ben", &format!("{}/people/ben", recv.url()), None, Some("1 second"));
    channel(&mut db, "cy", &format!("{}/people/cy", recv.url()), Some(&["task.reminder"]), None);
    let key = db.stages(json!([{"name": "s", "mode": "any", "rules": users(&["ben", "cy"])}]));
    let a = db.submit(&key, json!({}));
    let b = db.submit(&key, json!({}));
    let digest = wait_until("task.digest", 30, || recv.requests().into_iter().find(|q| q.kind() == "task.digest"));
    let d = &digest.json()["data"];
    assert_eq!((d["principal"].as_str(), d["count"].as_i64()), (Some("ben"), Some(2)));
    let ids: Vec<&str> = d["notifications"].as_array().unwrap().iter().map(|n| n["data"]["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![rid(&a).as_str(), rid(&b).as_str()], "oldest first");
    assert!(!recv.requests().iter().any(|q| q.path == "/people/cy"), "cy asked for reminders only");
}

#[test]
fn a_directory_attribute_is_a_channel_and_channels_are_checked() {
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    register(&mut db, &recv);
    db.json("select awe.upsert_principal('eve', 'Eve', null, $1::text::jsonb)::text",
        &[&json!({"notification_url": format!("{}/from-directory/eve", recv.url())}).to_string()]);
    let key = db.stages(json!([{"name": "s", "rules": users(&["eve"])}]));
    let r = db.submit(&key, json!({}));
    let task = db.task_of(&r, "eve");
    let n = for_task(&recv, "task.assigned", &task);
    assert_eq!(n.path, "/from-directory/eve");
    // Only URLs under a registered endpoint: no open relay.
    let e = db.try_json("select awe.set_notification_channel('eve', 'http://127.0.0.1:9/elsewhere')::text", &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-CALLBACK-NOT-ALLOWED");
    let e = db.try_json(&format!("select awe.set_notification_channel('eve', '{}/x', array['task.created'])::text", recv.url()), &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-BAD-INPUT");
    let e = db.try_json(&format!("select awe.set_notification_channel('eve', '{}/x', null, interval '10 ms')::text", recv.url()), &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-BAD-INPUT");
}

#[test]
fn a_failing_channel_never_blocks_a_decision() {
    let gone = Receiver::start(|_, _| resp(410));
    let mut db = Db::new();
    register(&mut db, &gone);
    channel(&mut db, "ann", &format!("{}/ann", gone.url()), None, None);
    let key = db.stages(json!([{"name": "s", "rules": users(&["ann"])}]));
    let r = db.submit(&key, json!({}));
    assert_eq!(db.decide(&r, "ann", "approve"), "approved");
    // The notice is dead-lettered like a webhook, replayable.
    wait_until("the dead letter", 30, || {
        let n = db.column("select count(*)::text from awe.deliveries where event_type = 'task.assigned' and status = 'dead'", &[]);
        (n[0] != "0").then_some(())
    });
}
