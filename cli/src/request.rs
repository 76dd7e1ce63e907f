//! `awe request show ID [--timeline] [--verify]`: a request as
//! awe.get_request renders it, its audit trail (awe.timeline) and the
//! verdict of awe.verify_timeline.

use crate::args::RequestShowArgs;
use crate::db::{compact, pretty, time, Db, Failure};
use crate::exit;
use crate::table;
use serde_json::{Map, Value};

/// A UUID as PostgreSQL reads one (hyphenated, 36 characters), checked here
/// so a typo is a usage error rather than a cast failure in SQL.
pub fn check_uuid(what: &str, id: &str) -> Result<(), Failure> {
    let ok = id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if ok { Ok(()) } else { Err(Failure::usage(format!("{what} {id:?} is not a UUID (like 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d)"))) }
}

pub fn show(args: &RequestShowArgs) -> i32 {
    match gather(args) {
        Ok((doc, verified)) => {
            if args.json {
                println!("{}", pretty(&doc));
            } else {
                print_request(&doc["request"]);
                if let Some(events) = doc.get("timeline").and_then(Value::as_array) {
                    println!("\ntimeline");
                    println!("{}", timeline_table(events));
                }
                if let Some(v) = doc.get("verification") {
                    println!("\n{}", verdict(v));
                }
            }
            if verified { exit::SUCCESS } else { exit::FOUND }
        }
        Err(f) => f.print(args.json),
    }
}

/// `{request, timeline?, verification?}` and whether the trail verified
/// (true when not asked).
fn gather(args: &RequestShowArgs) -> Result<(Value, bool), Failure> {
    check_uuid("request id", &args.id)?;
    let mut db = Db::connect(&args.db)?;
    let id = args.id.as_str();
    let mut doc = Map::new();
    doc.insert("request".into(), db.json("select awe.get_request($1::text::uuid)::text", &[&id])?);
    if args.timeline {
        let events = db.rows("select * from awe.timeline($1::text::uuid) order by seq", &[&id])?;
        doc.insert("timeline".into(), Value::Array(events));
    }
    let mut verified = true;
    if args.verify {
        let v = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&id])?;
        verified = v["valid"] == true;
        doc.insert("verification".into(), v);
    }
    Ok((Value::Object(doc), verified))
}

fn print_request(r: &Value) {
    println!("request {} {} (revision {})", compact(&r["request_id"]), compact(&r["status"]), compact(&r["revision"]));
    let mut fields: Vec<(&str, String)> = vec![
        ("policy", format!("{} version {}", compact(&r["policy_key"]), compact(&r["policy_version"]))),
        ("artifact", format!("{} {}", compact(&r["artifact_type"]), compact(&r["artifact_id"]))),
    ];
    let requester = compact(&r["requester"]);
    let by = compact(&r["created_by"]);
    fields.push(("requester", match (requester.is_empty(), by == requester) {
        (true, _) => format!("(none; submitted by {by})"),
        (false, true) => requester,
        (false, false) => format!("{requester} (submitted by {by})"),
    }));
    if let Some(text) = r["summary"]["text"].as_str() {
        fields.push(("summary", text.to_string()));
    }
    fields.push(("created", time(&r["created_at"])));
    for (label, key) in [("decided", "decided_at"), ("expires", "expires_at")] {
        if !r[key].is_null() {
            fields.push((label, time(&r[key])));
        }
    }
    if let Some(cb) = r["callback_url"].as_str() {
        fields.push(("callback", cb.to_string()));
    }
    fields.push(("context", table::clip(&compact(&r["context"]), 200)));
    for (label, value) in fields {
        println!("  {label:<10} {value}");
    }
    let mut stages = table::new(&["step", "stage", "status"]);
    for s in r["stages"].as_array().into_iter().flatten() {
        let step = s["step"].as_u64().map(|n| (n + 1).to_string()).unwrap_or_default();
        stages.add_row(vec![step, compact(&s["name"]), compact(&s["status"])]);
    }
    println!("\nstages\n{stages}");
    let tasks: Vec<&Value> = r["tasks"].as_array().into_iter().flatten().collect();
    if tasks.is_empty() {
        println!("\nno tasks");
        return;
    }
    let mut t = table::new(&["task", "stage", "assignee", "kind", "status", "due", "decided by", "decided", "comment"]);
    for k in tasks {
        let mut who = compact(&k["assignee"]);
        if let Some(from) = k["delegated_from"].as_str() {
            who = format!("{who} (for {from})");
        }
        if k["required"] == true {
            who.push_str(" (required)");
        }
        let mut comment = compact(&k["comment"]);
        if !k["decision_data"].is_null() {
            comment = format!("{comment} {}", compact(&k["decision_data"])).trim().to_string();
        }
        t.add_row(vec![
            compact(&k["task_id"]), compact(&k["stage"]), who, compact(&k["kind"]), compact(&k["status"]),
            time(&k["due_at"]), compact(&k["decided_by"]), time(&k["decided_at"]), table::clip(&comment, 60),
        ]);
    }
    println!("\ntasks\n{t}");
}

fn timeline_table(events: &[Value]) -> comfy_table::Table {
    let mut t = table::new(&["seq", "at", "event", "actor", "stage", "status", "data"]);
    for e in events {
        let stage = match (e["stage"].as_str(), e["stage_index"].as_i64()) {
            (Some(name), _) => name.to_string(),
            (None, Some(i)) => format!("stage {i}"),
            _ => String::new(),
        };
        t.add_row(vec![
            compact(&e["seq"]), time(&e["created_at"]), compact(&e["type"]), compact(&e["actor"]), stage,
            compact(&e["status"]), table::clip(&compact(&e["data"]), 70),
        ]);
    }
    t
}

/// One line (and the divergences) for awe.verify_timeline's answer.
fn verdict(v: &Value) -> String {
    let events = table::count(v["events"].as_u64().unwrap_or(0) as usize, "event", "events");
    if v["valid"] == true {
        return format!("audit trail verified: {events}, hash chain intact, rows agree with it");
    }
    let mut out = format!("audit trail DOES NOT VERIFY ({events})");
    if let Some(seq) = v["broken_at_seq"].as_i64() {
        out.push_str(&format!(": the hash chain breaks at event {seq}"));
    }
    if let Some(reason) = v["reason"].as_str() {
        out.push_str(&format!(": {reason}"));
    }
    for d in v["divergences"].as_array().into_iter().flatten() {
        out.push_str(&format!("\n  {}", compact(d)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids() {
        assert!(super::check_uuid("id", "0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d").is_ok());
        assert!(super::check_uuid("id", "0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0").is_err());
        assert!(super::check_uuid("id", "0190b5c2x7d1e-7a3b-9c4d-5e6f7a8b9c0d").is_err());
    }
}
