//! The worker's HTTP client: one signed POST, as webhooks and resolver calls
//! make it. Runs on the HTTP threads, so it never touches Postgres.

use crate::settings;
use awe_core::webhook;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a call got back.
pub struct Answer {
    /// `None` when no HTTP answer came (connection refused, timeout).
    pub status: Option<u16>,
    /// Why it is not a success, for the delivery's `last_error`.
    pub error: Option<String>,
    /// `Retry-After` of a 429 or 503, in milliseconds.
    pub retry_after_ms: Option<i64>,
    pub body: String,
}

pub struct Http {
    agent: ureq::Agent,
}

pub fn unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

impl Http {
    pub fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(settings::TIMEOUT_MS.get() as u64)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("awe-webhooks/", env!("CARGO_PKG_VERSION")))
            .build();
        Http { agent: config.into() }
    }

    /// POSTs `body` signed the Standard Webhooks way with every secret.
    pub fn post(&self, url: &str, msg_id: &str, body: &str, secrets: &[String]) -> Answer {
        let ts = unix_us() / 1_000_000;
        let sig = webhook::signature_header(secrets, msg_id, ts, body);
        let result = self.agent.post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .send(body);
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after_ms = resp.headers().get("retry-after").and_then(|v| v.to_str().ok())
                    .and_then(|v| webhook::parse_retry_after_ms(v, unix_us() / 1000))
                    .filter(|_| status == 429 || status == 503);
                let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default();
                let error = (!(200..300).contains(&status)).then(|| format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
                Answer { status: Some(status), error, retry_after_ms, body: text }
            }
            Err(e) => Answer { status: None, error: Some(e.to_string()), retry_after_ms: None, body: String::new() },
        }
    }
}
