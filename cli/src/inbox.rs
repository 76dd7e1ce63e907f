//! `awe inbox [PRINCIPAL]` (awe.inbox, page by page) and `awe decide TASK
//! DECISION` (awe.decide as the actor). What a principal may do is the
//! engine's answer (`available_actions`); nothing is decided here.

use crate::args::{DecideArgs, InboxArgs};
use crate::db::{compact, pretty, time, Db, Failure};
use crate::exit;
use crate::files::{self, Text};
use crate::request::check_uuid;
use crate::table;
use awe_core::document::{read_document, Format};
use serde_json::Value;
use std::path::Path;

/// awe.inbox's largest page.
const PAGE: usize = 500;

pub fn inbox(args: &InboxArgs) -> i32 {
    match list(args) {
        Ok(rows) => {
            if args.json {
                println!("{}", pretty(&Value::Array(rows)));
            } else if rows.is_empty() {
                println!("no {} tasks", if args.status == "all" { "" } else { args.status.as_str() }.trim());
            } else {
                let mut t = table::new(&["task", "request", "artifact", "stage", "assignee", "requester", "due", "actions", "summary"]);
                for r in &rows {
                    let actions: Vec<String> = r["available_actions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| a["action"].as_str().map(str::to_string).unwrap_or_else(|| compact(a)))
                        .collect();
                    let mut who = compact(&r["assignee"]);
                    if let Some(from) = r["delegated_from"].as_str() {
                        who = format!("{who} (for {from})");
                    }
                    let stage = if r["kind"] == "approver" { compact(&r["stage"]) } else { format!("{} ({})", compact(&r["stage"]), compact(&r["kind"])) };
                    t.add_row(vec![
                        compact(&r["task_id"]), compact(&r["request_id"]),
                        format!("{} {}", compact(&r["artifact_type"]), compact(&r["artifact_id"])),
                        stage, who, compact(&r["requester"]), time(&r["due_at"]), actions.join(", "),
                        table::clip(r["summary"]["text"].as_str().unwrap_or(""), 60),
                    ]);
                }
                println!("{t}");
                if rows.len() == args.limit {
                    println!("(the first {}; --limit shows more)", rows.len());
                }
            }
            exit::SUCCESS
        }
        Err(f) => f.print(args.json),
    }
}

fn list(args: &InboxArgs) -> Result<Vec<Value>, Failure> {
    if args.limit == 0 {
        return Err(Failure::usage("--limit must be at least 1"));
    }
    let mut db = Db::connect(&args.db)?;
    let principal = args.principal.clone().or_else(|| db.actor.clone());
    if principal.is_none() {
        return Err(Failure::usage("whose inbox? name a PRINCIPAL, or pass --actor (AWE_ACTOR)"));
    }
    let status: Option<&str> = if args.status == "all" { None } else { Some(&args.status) };
    let mut rows: Vec<Value> = Vec::new();
    loop {
        let page = PAGE.min(args.limit - rows.len()) as i32;
        let (after_at, after_id) = match rows.last() {
            Some(last) => (Some(compact(&last["created_at"])), Some(compact(&last["task_id"]))),
            None => (None, None),
        };
        let got = db.rows(
            "select * from awe.inbox(principal => $1, status => $2, policy_key => $3,
                                     after_created_at => $4::text::timestamptz, after_task_id => $5::text::uuid, page_size => $6)",
            &[&principal, &status, &args.policy, &after_at, &after_id, &page],
        )?;
        let n = got.len();
        rows.extend(got);
        if n < page as usize || rows.len() >= args.limit {
            return Ok(rows);
        }
    }
}

pub fn decide(args: &DecideArgs) -> i32 {
    match record(args) {
        Ok(request) => {
            if args.json {
                println!("{}", pretty(&request));
            } else {
                let open: Vec<String> = request["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["status"] == "open")
                    .map(|t| format!("{} ({})", compact(&t["assignee"]), compact(&t["stage"])))
                    .collect();
                println!(
                    "recorded {} on task {}; request {} is {}",
                    args.decision, args.task, compact(&request["request_id"]), compact(&request["status"])
                );
                if !open.is_empty() {
                    println!("open tasks: {}", open.join(", "));
                }
            }
            exit::SUCCESS
        }
        Err(f) => f.print(args.json),
    }
}

fn record(args: &DecideArgs) -> Result<Value, Failure> {
    check_uuid("task id", &args.task)?;
    let data = match &args.data {
        None => None,
        Some(d) => Some(read_json_arg("--data", d)?.to_string()),
    };
    let mut db = Db::connect(&args.db)?;
    db.json(
        "select awe.decide($1::text::uuid, $2, $3, null, $4::text::jsonb)::text",
        &[&args.task, &args.decision, &args.comment, &data],
    )
}

/// Inline JSON (starting with `{` or `[`), or a JSON or YAML file.
pub fn read_json_arg(flag: &str, arg: &str) -> Result<Value, Failure> {
    let trimmed = arg.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return read_document(arg, Format::Json).map_err(|e| Failure::usage(format!("{flag}: {e}")));
    }
    let path = Path::new(arg);
    let text = match files::read_text(path) {
        Ok(Text::Read(t)) => t,
        Ok(Text::NotUtf8) => return Err(Failure::usage(format!("{flag} {arg}: not UTF-8 text"))),
        Err(e) => return Err(Failure::usage(format!("{flag} {e}"))),
    };
    read_document(&text, Format::from_path(path).unwrap_or(Format::Yaml)).map_err(|e| Failure::usage(format!("{flag} {arg}: {e}")))
}
