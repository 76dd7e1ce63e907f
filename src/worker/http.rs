//! The worker's HTTP clients: one signed POST, as webhooks and resolver
//! calls make it, and the transport of awe's pure HTTP clients (the
//! Keycloak reader, the summarizer). Runs on the HTTP threads, so it never
//! touches Postgres.

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

/// The network for awe's pure HTTP clients (the Keycloak reader, the
/// summarizer): every status comes back as a response (the client decides
/// what to retry), no redirects, one timeout per call, bodies read up to
/// 64 MB (a page of 1,000 Keycloak users with attributes is about 1 MB).
pub struct Transport {
    agent: ureq::Agent,
}

const MAX_BODY: u64 = 64 << 20;

impl Transport {
    pub fn new(timeout: Duration, user_agent: &str) -> Transport {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(user_agent)
            .build();
        Transport { agent: config.into() }
    }
}

impl awe_core::http_transport::Transport for Transport {
    fn send(&mut self, req: &awe_core::http_transport::HttpRequest) -> Result<awe_core::http_transport::HttpResponse, String> {
        use awe_core::http_transport::Method;
        let result = match req.method {
            Method::Get => {
                let mut r = self.agent.get(&req.url);
                for (n, v) in &req.headers {
                    r = r.header(n, v);
                }
                r.call()
            }
            Method::Post => {
                let mut r = self.agent.post(&req.url);
                for (n, v) in &req.headers {
                    r = r.header(n, v);
                }
                r.send(req.body.as_deref().unwrap_or(""))
            }
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
        let body = resp.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| e.to_string())?;
        Ok(awe_core::http_transport::HttpResponse { status, headers, body })
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn now_millis(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}
