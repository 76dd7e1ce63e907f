//! `cargo run -p awe-core --example summarizer_standin [-- --url http://127.0.0.1:PORT --token T]`
//!
//! A self-check of the summarizer against the model stand-in
//! (`tests/standins/model.py`): the requests `summarizer::build_request`
//! makes are sent with `ureq` (as the extension's worker will, minus TLS) to
//! both APIs, the answers read with `summarizer::parse_response`, and the
//! stand-in's fault scripts run, each with what came of it. It checks that
//! only the selected context fields reached the server. Without `--url` it
//! starts the stand-in with `--require-token sk-test` itself and stops it at
//! the end. Exits non-zero on the first surprise.

#[path = "support/standin.rs"]
mod standin;
use standin::StandIn;
use awe_core::http_transport::{HttpRequest, Method};
use awe_core::summarizer::{build_request, parse_response, select_fields, Api, Risk, Summary, SummarizerError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build())
}

/// What the worker does with one request: send, then read the answer.
fn call(agent: &ureq::Agent, api: Api, req: &HttpRequest) -> Result<Summary, SummarizerError> {
    assert_eq!(req.method, Method::Post);
    let mut b = agent.post(&req.url);
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let mut resp = b.send(req.body.as_deref().unwrap_or("")).map_err(|e| SummarizerError::transport(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().with_config().limit(1 << 20).read_to_string().map_err(|e| SummarizerError::transport(e.to_string()))?;
    parse_response(api, status, &body)
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    let body = agent.get(url).call().unwrap().body_mut().read_to_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

fn control(agent: &ureq::Agent, base: &str, cmd: Value) {
    let mut r = agent.post(format!("{base}/__control")).header("Content-Type", "application/json").send(cmd.to_string()).unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 200, "control {cmd} answered {body}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let token = arg("--token").unwrap_or_else(|| "sk-test".into());
    let standin = match arg("--url") {
        Some(url) => StandIn::at(url),
        None => StandIn::start("model.py", &["--require-token", &token]),
    };
    let base = standin.base.clone();
    let http = agent(Duration::from_secs(10));
    control(&http, &base, json!({"reset": true}));

    let context: Value = serde_json::from_str(
        r#"{"amount": 12500.50, "currency": "EUR", "purpose": "team offsite", "merchant": {"name": "Hotel Adler", "iban": "CH93 0076 2011 6238 5295 7"},
            "employee": {"ssn": "756.1234.5678.97"}}"#,
    )
    .unwrap();
    let fields: Vec<String> = ["amount", "currency", "merchant.name"].iter().map(|s| s.to_string()).collect();
    let selected = select_fields(&context, &fields);
    let expected = Summary {
        summary: "Request with 3 fields: amount, currency, merchant.name. Amount 12500.50.".into(),
        impact: "Approving it commits 12500.50.".into(),
        risk: Risk::High,
    };

    let check = |what: &str, got: Result<Summary, SummarizerError>, want: Result<&Summary, (&str, bool)>, secs: f64| {
        let shown = match &got {
            Ok(s) => format!("ok: {}", s.to_json()),
            Err(e) => format!("{} (retryable: {}): {}", e.code, e.retryable(), e.message),
        };
        println!("{what:<44} {secs:>6.3} s  {shown}");
        match (&got, want) {
            (Ok(s), Ok(w)) => assert_eq!(s, w, "{what}"),
            (Err(e), Err((code, retry))) => assert_eq!((e.code, e.retryable()), (code, retry), "{what}: {e}"),
            _ => panic!("{what}: unexpected {shown}"),
        }
    };
    let timed = |f: &dyn Fn() -> Result<Summary, SummarizerError>| {
        let t = Instant::now();
        let r = f();
        (r, t.elapsed().as_secs_f64())
    };

    let ollama = build_request(Api::Ollama, &base, "llama3.2", Some("Name the merchant."), &selected, None);
    let openai = build_request(Api::OpenAi, &base, "gpt-4o-mini", None, &selected, Some(&token));
    let wrong = build_request(Api::OpenAi, &base, "gpt-4o-mini", None, &selected, Some("sk-wrong-token"));
    let anonymous = build_request(Api::OpenAi, &base, "gpt-4o-mini", None, &selected, None);

    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama", r, Ok(&expected), s);
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &openai));
    check("openai", r, Ok(&expected), s);
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &wrong));
    check("openai, wrong token", r, Err(("http_status", false)), s);
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &anonymous));
    check("openai, no token", r, Err(("http_status", false)), s);

    control(&http, &base, json!({"fail": {"status": 503, "times": 1}}));
    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama, 503 once", r, Err(("http_status", true)), s);
    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama, then again", r, Ok(&expected), s);
    control(&http, &base, json!({"fail": {"status": 429, "retry_after": "1"}}));
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &openai));
    check("openai, 429", r, Err(("http_status", true)), s);
    control(&http, &base, json!({"malformed": {"times": 2}}));
    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama, cut JSON", r, Err(("malformed", true)), s);
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &openai));
    check("openai, cut JSON", r, Err(("malformed", true)), s);
    control(&http, &base, json!({"answer": "I am sorry, I cannot summarize this."}));
    let (r, s) = timed(&|| call(&http, Api::OpenAi, &openai));
    check("openai, unparsable answer", r, Err(("unparsable", true)), s);
    control(&http, &base, json!({"answer": format!("SUMMARY: {}\nRISK: low", "x".repeat(5000))}));
    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama, too long", r, Err(("too_long", true)), s);
    control(&http, &base, json!({"answer": "Sure!\n\n**Summary:** Sam's offsite.\n**Impact:** Budget.\n**Risk:** Low.\n\nAnything else?"}));
    let (r, s) = timed(&|| call(&http, Api::Ollama, &ollama));
    check("ollama, chatty answer", r, Ok(&Summary { summary: "Sam's offsite.".into(), impact: "Budget.".into(), risk: Risk::Low }), s);
    control(&http, &base, json!({"answer": null, "delay_ms": 1500}));
    let (r, s) = timed(&|| call(&agent(Duration::from_millis(500)), Api::Ollama, &ollama));
    check("ollama, slower than the timeout", r, Err(("transport", true)), s);
    control(&http, &base, json!({"delay_ms": 0}));

    // What left: only the selected fields, the token only where it belongs.
    let requests = get(&http, &format!("{base}/__requests"));
    let requests = requests.as_array().unwrap();
    for r in requests {
        let user = &r["body"]["messages"][1]["content"];
        let sent: Value = serde_json::from_str(user.as_str().unwrap()).unwrap();
        assert_eq!(sent, selected, "only the listed fields are sent");
        let text = r["body"].to_string();
        for secret in ["iban", "CH93", "ssn", "756.", "purpose", "offsite"] {
            assert!(!text.contains(secret), "{secret} left the database: {text}");
        }
        if r["path"] == "/api/chat" {
            assert_eq!(r["authorization"], "absent");
        }
    }
    let stats = get(&http, &format!("{base}/__stats"));
    println!("{} requests reached the stand-in, each with only {}; stats {stats}", requests.len(), selected);
}
