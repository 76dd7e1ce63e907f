//! Full lifecycles through REST: a caller service submits, two approvers
//! decide, each with its own JWT, from N concurrent clients on keep-alive
//! connections. Prints `<lifecycles/s> <done> <errors>`. A compiled driver,
//! so that the load generator takes little of the CPU it shares with the
//! server (pgbench plays that part for the SQL figure).
//!
//!     rest_bench <rest-url> <jwt-secret> <tenant> <clients> <seconds>

use awe_e2e::http::{hs256, Conn};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (url, secret, tenant) = (a[1].clone(), a[2].clone(), a[3].clone());
    let clients: usize = a[4].parse().unwrap();
    let seconds: f64 = a[5].parse().unwrap();
    let token = |role: &str, sub: &str| format!("Bearer {}", hs256(&secret, json!({"role": role, "sub": sub, "tenant": tenant, "exp": 4_102_444_800i64})));
    let (caller, ann, dee) = (token("awe_caller", "bench-app"), token("awe_approver", "ann"), token("awe_approver", "dee"));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let results: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients).map(|i| {
            let (url, caller, ann, dee) = (&url, &caller, &ann, &dee);
            s.spawn(move || {
                let (mut done, mut errors) = (0u64, 0u64);
                let mut conn = Conn::open(url).expect("REST server reachable");
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let mut rpc = |tok: &str, f: &str, args: Value| -> Result<Value, String> {
                        let (st, body) = conn.send("POST", &format!("/rpc/{f}"), &[("Authorization", tok)], &args.to_string())
                            .map_err(|e| format!("{f}: {e}"))?;
                        if st != 200 {
                            return Err(format!("{f}: {st} {}", &body[..body.len().min(200)]));
                        }
                        serde_json::from_str(&body).map_err(|e| format!("{f}: {e}"))
                    };
                    let lifecycle = (|| {
                        let r = rpc(caller, "submit", json!({"policy_key": "bench.lifecycle", "artifact_type": "doc",
                            "artifact_id": format!("rest-{i}-{n}-{:?}", start.elapsed()), "context": {"amount": 5}}))?;
                        let r = rpc(ann, "decide", json!({"task_id": r["tasks"][0]["task_id"], "decision": "approve"}))?;
                        let r = rpc(dee, "decide", json!({"task_id": r["tasks"][1]["task_id"], "decision": "approve"}))?;
                        if r["status"] != "approved" {
                            return Err(format!("ended {}", r["status"]));
                        }
                        Ok(())
                    })();
                    match lifecycle {
                        Ok(()) => done += 1,
                        // Counted and reported, never hidden.
                        Err(e) => {
                            errors += 1;
                            if errors == 1 {
                                eprintln!("client {i}: {e}");
                            }
                            conn = Conn::open(url).expect("REST server reachable");
                        }
                    }
                }
                (done, errors)
            })
        }).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let done: u64 = results.iter().map(|r| r.0).sum();
    let errors: u64 = results.iter().map(|r| r.1).sum();
    println!("{:.2} {done} {errors}", done as f64 / elapsed);
}
