//! What an approver reads first: the policy's summary template, rendered at
//! submit and resubmit and shown everywhere the request is (its rendering,
//! the inbox, every webhook), and the model's summary, which the worker asks
//! for after the submit committed, against the model stand-in
//! (tests/standins/model.py, speaking Ollama's and OpenAI's chat APIs).

use awe_e2e::receiver::{resp, wait_until, Receiver};
use awe_e2e::standin::StandIn;
use awe_e2e::webhook::register;
use awe_e2e::{events_of, policy_with, rid, users, Db};
use serde_json::{json, Value};

fn expense_policy(db: &mut Db, summarizer: Option<Value>) -> String {
    let mut extra = json!({
        "context_schema": {"type": "object", "properties": {"amount": {"type": "number"}, "currency": {"type": "string"},
                                                            "purpose": {"type": "string"}, "iban": {"type": "string"}}},
        "summary": "{{ requester }} asks {{ amount }} {{ currency }} for {{ purpose }}",
    });
    if let Some(s) = summarizer {
        extra["summarizer"] = s;
    }
    policy_with(db, extra, json!([{"name": "Finance", "rules": users(&["ana"])}]))
}

/// Parsed from text, so the amount keeps its exact digits (12500.50).
fn context() -> Value {
    serde_json::from_str(r#"{"amount": 12500.50, "currency": "EUR", "purpose": "a team offsite", "iban": "DE89370400440532013000"}"#).unwrap()
}

fn summarized(db: &mut Db, r: &Value) -> Value {
    wait_until("request.summarized", 60, || {
        let e = events_of(db, r, "request.summarized");
        (!e.is_empty()).then(|| e[0].clone())
    })
}

#[test]
fn the_template_summary_is_everywhere_the_request_is() {
    let recv = Receiver::start(|_, _| resp(204));
    let mut db = Db::new();
    let e = register(&mut db, &recv);
    let key = expense_policy(&mut db, None);
    let r = db.json("select awe.submit($1, 'doc', 'EXP-1', $2::text::jsonb, 'sam', $3)::text", &[&key, &context().to_string(), &e.callback]);
    let text = "sam asks 12500.50 EUR for a team offsite";
    assert_eq!((r["summary"]["text"].as_str(), r["summary"]["source"].as_str()), (Some(text), Some("template")));
    let got = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(got["summary"]["text"], text);
    let inbox = db.json("select summary::text from awe.inbox('ana') where request_id = $1::text::uuid", &[&rid(&r)]);
    assert_eq!(inbox["text"], text);
    let hook = wait_until("the request.created webhook", 30, || recv.requests().into_iter().find(|q| q.kind() == "request.created"));
    assert_eq!(hook.json()["data"]["summary"]["text"], text, "every webhook of the request carries it");
    // A missing value renders as nothing, never as an error.
    let r2 = db.json("select awe.submit($1, 'doc', 'EXP-2', '{\"amount\": 5}', null)::text", &[&key]);
    assert_eq!(r2["summary"]["text"], " asks 5  for ");
    // Resubmit renders it again with the new context.
    let task = db.task_of(&r, "ana");
    db.act_as("ana");
    db.json("select awe.decide($1::text::uuid, 'request_changes', 'which team?')::text", &[&task]);
    db.exec("reset awe.actor");
    let mut ctx = context();
    ctx["purpose"] = json!("the platform team's offsite");
    let again = db.json("select awe.resubmit($1::text::uuid, $2::text::jsonb)::text", &[&rid(&r), &ctx.to_string()]);
    assert_eq!(again["summary"]["text"], "sam asks 12500.50 EUR for the platform team's offsite");
}

#[test]
fn a_policy_with_an_unknown_variable_is_refused_with_its_path() {
    let mut db = Db::new();
    let def = json!({"key": "bad.summary", "artifact_type": "doc",
        "context_schema": {"type": "object", "additionalProperties": false, "properties": {"amount": {"type": "number"}}},
        "summary": "{{ requester }} asks {{ amout }}", "stages": [{"name": "s", "rules": users(&["a"])}]});
    let e = db.try_json("select awe.create_policy($1::text::jsonb)::text", &[&def.to_string()]).unwrap_err();
    assert_eq!(e.code(), "AWE-POLICY-INVALID");
    let problems = e.detail.unwrap()["details"]["problems"].clone();
    assert_eq!(problems[0]["path"], "summary", "{problems}");
    assert!(problems[0]["message"].as_str().unwrap().contains("amout"), "{problems}");
}

#[test]
fn the_model_summarizes_after_the_submit_with_only_the_listed_fields() {
    let model = StandIn::script("model.py", &[]);
    let mut db = Db::new();
    db.json("select awe.register_model_endpoint('local', 'ollama', $1)::text", &[&model.url]);
    let key = expense_policy(&mut db, Some(json!({"endpoint": "local", "model": "llama3.2", "fields": ["amount", "currency", "purpose"],
                                                   "instructions": "Say whether it is within the travel policy."})));
    // Nothing is asked of the model while the submit's transaction is open.
    db.exec("begin");
    let r = db.json("select awe.submit($1, 'doc', 'EXP-3', $2::text::jsonb, 'sam')::text", &[&key, &context().to_string()]);
    assert_eq!(r["tasks"][0]["assignee"], "ana", "the approval does not wait for the model");
    assert_eq!(model.get("/__requests").as_array().map(Vec::len), Some(0), "no model call on the submit path");
    db.exec("commit");
    let event = summarized(&mut db, &r);
    assert_eq!(event["data"]["model"], "llama3.2");
    assert!(["low", "medium", "high"].contains(&event["data"]["risk"].as_str().unwrap()), "{event}");
    let got = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r)]);
    let s = &got["summary"];
    assert_eq!((s["source"].as_str(), s["model"].as_str()), (Some("model"), Some("llama3.2")));
    assert_eq!(s["template"], "sam asks 12500.50 EUR for a team offsite", "the template text is kept");
    assert!(s["text"].as_str().unwrap().len() > 5 && s["impact"].is_string(), "{s}");
    // Only the listed fields left the database (never the IBAN), with the instructions.
    let sent = model.get("/__requests");
    let body = &sent[0]["body"];
    assert_eq!(sent[0]["path"], "/api/chat");
    let prompt = body["messages"].to_string();
    assert!(prompt.contains("12500.50") && prompt.contains("a team offsite") && prompt.contains("travel policy"), "{prompt}");
    assert!(!prompt.contains("DE89370400440532013000") && !prompt.contains("sam"), "only the listed fields leave: {prompt}");
    let v = db.json("select awe.verify_timeline($1::text::uuid)::text", &[&rid(&r)]);
    assert_eq!(v["valid"], true, "request.summarized is in the trail: {v}");
}

#[test]
fn an_openai_compatible_endpoint_with_a_token_and_its_failures() {
    let model = StandIn::script("model.py", &["--require-token", "sk-test"]);
    let mut db = Db::new();
    db.json("select awe.register_model_endpoint('hosted', 'openai', $1, 'sk-test')::text", &[&model.url]);
    let e = db.json("select row_to_json(m)::text from awe.model_endpoints m where name = 'hosted'", &[]);
    assert_eq!(e["has_bearer_token"], true);
    assert!(e.get("bearer").is_none() && !e.to_string().contains("sk-test"), "the token is never shown: {e}");
    let key = expense_policy(&mut db, Some(json!({"endpoint": "hosted", "model": "gpt-4o-mini", "fields": ["amount"]})));
    let r = db.json("select awe.submit($1, 'doc', 'EXP-4', $2::text::jsonb, 'sam')::text", &[&key, &context().to_string()]);
    summarized(&mut db, &r);
    assert_eq!(model.get("/__requests")[0]["path"], "/v1/chat/completions");
    // A wrong token is not worth retrying: the summary fails at once, the
    // template summary stands and the approval goes on.
    db.json("select awe.register_model_endpoint('hosted', 'openai', $1, 'sk-wrong')::text", &[&model.url]);
    let r2 = db.json("select awe.submit($1, 'doc', 'EXP-5', $2::text::jsonb, 'sam')::text", &[&key, &context().to_string()]);
    let failed = wait_until("request.summary_failed", 60, || {
        let e = events_of(&mut db, &r2, "request.summary_failed");
        (!e.is_empty()).then(|| e[0].clone())
    });
    assert_eq!(failed["data"]["attempts"], 1);
    let got = db.json("select awe.get_request($1::text::uuid)::text", &[&rid(&r2)]);
    assert_eq!((got["summary"]["source"].as_str(), got["status"].as_str()), (Some("template"), Some("in_review")));
    // An unparsable answer is retried later, with its reason on the job.
    db.json("select awe.register_model_endpoint('hosted', 'openai', $1, 'sk-test')::text", &[&model.url]);
    model.control(json!({"answer": "I would rather not say."}));
    let r3 = db.json("select awe.submit($1, 'doc', 'EXP-6', $2::text::jsonb, 'sam')::text", &[&key, &context().to_string()]);
    let job = wait_until("the first attempt to fail", 60, || {
        let j = db.json("select row_to_json(j)::text from awe.summary_jobs j where request_id = $1::text::uuid", &[&rid(&r3)]);
        (j["attempts"] == 1 && j["status"] == "pending").then_some(j)
    });
    assert!(job["last_error"].as_str().unwrap().contains("unparsable"), "{job}");
}

#[test]
fn a_model_that_is_down_never_holds_up_the_approval() {
    let mut db = Db::new();
    db.json("select awe.register_model_endpoint('gone', 'ollama', 'http://127.0.0.1:9')::text", &[]);
    let key = expense_policy(&mut db, Some(json!({"endpoint": "gone", "model": "m", "fields": ["amount"]})));
    let r = db.json("select awe.submit($1, 'doc', 'EXP-7', $2::text::jsonb, 'sam')::text", &[&key, &context().to_string()]);
    assert_eq!(db.decide(&r, "ana", "approve"), "approved");
    // A summarizer naming an endpoint that does not exist fails its job at once.
    let key2 = expense_policy(&mut db, Some(json!({"endpoint": "nowhere", "model": "m", "fields": ["amount"]})));
    let r2 = db.json("select awe.submit($1, 'doc', 'EXP-8', $2::text::jsonb, 'sam')::text", &[&key2, &context().to_string()]);
    let failed = wait_until("request.summary_failed", 60, || {
        let e = events_of(&mut db, &r2, "request.summary_failed");
        (!e.is_empty()).then(|| e[0].clone())
    });
    assert!(failed["data"]["error"].as_str().unwrap().contains("no model endpoint \"nowhere\""), "{failed}");
}
