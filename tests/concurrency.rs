//! Simultaneous decisions on one stage: each request advances exactly once.
//!
//! 240 rounds, 2–10 approvers deciding at the same instant (a barrier), in
//! modes all / any / percentage, some with a concurrent reject. After each
//! round: only documented errors, exactly one completion of the stage,
//! exactly one set of next-stage tasks, and an intact, gap-free timeline.

use awe_e2e::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

const ROUNDS: usize = 240;
const MAX_APPROVERS: usize = 10;

fn policy_for(db: &mut Db, mode: usize, k: usize) -> String {
    let names: Vec<String> = (0..k).map(|i| format!("u{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut first = json!({"name": "committee", "rules": users(&refs)});
    match mode {
        0 => first["mode"] = json!("all"),
        1 => {
            first["mode"] = json!("any");
            first["n"] = json!(1 + k / 3);
        }
        _ => {
            first["mode"] = json!("percentage");
            first["p"] = json!(60);
            first["veto"] = json!(false);
        }
    }
    db.stages(json!([first, {"name": "next", "rules": users(&["next"])}]))
}

#[test]
fn simultaneous_decisions_advance_each_request_exactly_once() {
    let mut main = Db::new();
    let mut policies = HashMap::new();
    for mode in 0..3 {
        for k in 2..=MAX_APPROVERS {
            policies.insert((mode, k), policy_for(&mut main, mode, k));
        }
    }
    // Round plan published by the main thread: (task id, decision) per approver.
    let plan: Arc<Mutex<Vec<Option<(String, &'static str)>>>> = Arc::new(Mutex::new(vec![None; MAX_APPROVERS]));
    let outcomes: Arc<Mutex<Vec<Result<(), DbError>>>> = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(Barrier::new(MAX_APPROVERS + 1));
    let done = Arc::new(Barrier::new(MAX_APPROVERS + 1));
    let workers: Vec<_> = (0..MAX_APPROVERS).map(|i| {
        let mut db = main.another();
        let (plan, outcomes, start, done) = (plan.clone(), outcomes.clone(), start.clone(), done.clone());
        std::thread::spawn(move || {
            db.act_as(&format!("u{i}"));
            for _ in 0..ROUNDS {
                start.wait();
                let mine = plan.lock().unwrap()[i].clone();
                if let Some((task, decision)) = mine {
                    let r = db.try_json("select awe.decide($1::text::uuid, $2)::text", &[&task, decision]).map(|_| ());
                    outcomes.lock().unwrap().push(r);
                }
                done.wait();
            }
        })
    }).collect();

    let mut transitions = 0;
    for round in 0..ROUNDS {
        let (mode, k) = (round % 3, 2 + round % (MAX_APPROVERS - 1));
        let r = main.submit(&policies[&(mode, k)], json!({"round": round}));
        let id = r["request_id"].as_str().unwrap().to_string();
        // Every fourth any/percentage round, one approver rejects while the rest approve.
        let rejecter = (mode != 0 && round % 4 == 1).then_some(round % k);
        {
            let mut p = plan.lock().unwrap();
            for (i, slot) in p.iter_mut().enumerate() {
                *slot = (i < k).then(|| {
                    let task = r["tasks"].as_array().unwrap().iter()
                        .find(|t| t["assignee"] == format!("u{i}")).unwrap()["task_id"].as_str().unwrap().to_string();
                    (task, if rejecter == Some(i) { "reject" } else { "approve" })
                });
            }
        }
        outcomes.lock().unwrap().clear();
        start.wait();
        done.wait();

        for o in outcomes.lock().unwrap().iter() {
            if let Err(e) = o {
                assert!(["AWE-TASK-CLOSED", "AWE-REQUEST-STATE"].contains(&e.code()), "round {round}: undocumented error {e:?}");
            }
        }
        let completions = main.column("select count(*)::text from awe.timeline($1::text::uuid) where type = 'stage.completed' and stage_index = 0", &[&id]);
        assert_eq!(completions, vec!["1"], "round {round}: stage 0 must complete exactly once");
        let status = main.status(&r);
        let next_tasks = main.column("select count(*)::text from awe.tasks where request_id = $1::text::uuid and stage_index = 1", &[&id]);
        let next_created = main.column("select count(*)::text from awe.timeline($1::text::uuid) where type = 'task.created' and stage_index = 1", &[&id]);
        match status.as_str() {
            "in_review" => {
                assert_eq!(next_tasks, vec!["1"], "round {round}: exactly one next-stage task");
                assert_eq!(next_created, vec!["1"], "round {round}");
                transitions += 1;
            }
            "rejected" => {
                assert!(rejecter.is_some(), "round {round}: rejected without a reject");
                assert_eq!(next_tasks, vec!["0"], "round {round}");
            }
            other => panic!("round {round}: unexpected status {other}"),
        }
        if mode == 0 {
            assert_eq!(status, "in_review", "round {round}: all approved in mode all");
        }
        let verified = main.json("select awe.verify_timeline($1::text::uuid)::text", &[&id]);
        assert_eq!(verified["valid"], true, "round {round}: {verified}");
        let seqs = main.column("select string_agg(seq::text, ',' order by seq) from awe.timeline($1::text::uuid)", &[&id]);
        let n: usize = seqs[0].split(',').count();
        assert_eq!(seqs[0], (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(","), "round {round}: gap-free order");
    }
    for w in workers {
        w.join().unwrap();
    }
    assert!(transitions > ROUNDS / 2, "most rounds move on to the next stage ({transitions})");
}

#[test]
fn concurrent_submits_with_one_idempotency_key_create_one_request() {
    let mut main = Db::new();
    let key = main.stages(json!([{"name": "s", "rules": users(&["a"])}]));
    for round in 0..25 {
        let idem = unique("idem");
        let artifact = format!("art-{round}");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8).map(|_| {
            let mut db = main.another();
            let (key, idem, artifact, barrier) = (key.clone(), idem.clone(), artifact.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.try_json("select awe.submit($1, 'doc', $2, '{\"x\": 1}', 'req', null, $3)::text", &[&key, &artifact, &idem])
            })
        }).collect();
        let ids: Vec<String> = handles.into_iter().map(|h| {
            let v = h.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e:?}"));
            v["request_id"].as_str().unwrap().to_string()
        }).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "round {round}: {ids:?}");
        let rows = main.column("select count(*)::text from awe.requests where artifact_id = $1", &[&artifact]);
        assert_eq!(rows, vec!["1"], "round {round}");
    }
}
