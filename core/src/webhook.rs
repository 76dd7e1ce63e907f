//! Standard Webhooks: signing, the retry schedule and the body. Pure: the
//! worker supplies time, randomness and the HTTP client.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// `whsec_` + base64 of the secret bytes (≥ 24 random bytes).
pub fn format_secret(bytes: &[u8]) -> String {
    format!("whsec_{}", B64.encode(bytes))
}

/// The secret's key bytes, or `None` for a malformed secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix("whsec_")?).ok().filter(|k| k.len() >= 24)
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret,
/// space-separated (several during a rotation).
pub fn signature_header(secrets: &[String], msg_id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| secret_key(s))
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Delays after the 1st, 2nd, … failed attempt (seconds); then every 6 hours.
pub const RETRY_DELAYS: [i64; 5] = [60, 300, 900, 3_600, 21_600];
/// Give up once the next attempt would fall later than this after the first (seconds).
pub const GIVE_UP_AFTER: i64 = 26 * 3_600;
const US: i64 = 1_000_000;

/// When to try again after `attempts` failed attempts, in Unix microseconds,
/// or `None` when the delivery is exhausted and becomes a dead letter.
/// `retry_after_ms` (from a 429/503) replaces the schedule's delay and is
/// honoured to the millisecond, never earlier; `jitter_seed` spreads
/// scheduled retries ±10% so a recovering endpoint is not hit all at once.
pub fn next_attempt_at(attempts: i32, first_attempt_us: i64, now_us: i64, retry_after_ms: Option<i64>, jitter_seed: u64) -> Option<i64> {
    let base = RETRY_DELAYS.get((attempts.max(1) - 1) as usize).copied().unwrap_or(21_600) * US;
    let delay = match retry_after_ms {
        Some(ms) => (ms * 1_000).clamp(0, 21_600 * US),
        None => {
            let spread = base / 10;
            let jitter = if spread > 0 { (splitmix(jitter_seed ^ attempts as u64) % (2 * spread as u64 + 1)) as i64 - spread } else { 0 };
            base + jitter
        }
    };
    let at = now_us + delay;
    (at - first_attempt_us <= GIVE_UP_AFTER * US).then_some(at)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `Retry-After` as milliseconds from `now_ms`: delay-seconds (RFC 9110
/// allows only whole seconds; a fraction is honoured too, rounded up to the
/// millisecond) or an HTTP-date. `None` for a value that is neither.
pub fn parse_retry_after_ms(v: &str, now_ms: i64) -> Option<i64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as i64);
    }
    let at = crate::time::parse_http_date(v)?;
    Some((at * 1000 - now_ms).max(0))
}

/// What the worker does with an HTTP outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 410 Gone: disable the endpoint, keep the delivery as a dead letter.
    Gone,
    Retry,
}

/// 2xx delivers; 410 disables; everything else (3xx included) retries.
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(s) if (200..300).contains(&s) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        _ => Verdict::Retry,
    }
}

/// The event as a webhook body: `{type, timestamp, data}`.
pub struct EventForBody<'a> {
    pub kind: &'a str,
    pub created_at: i64,
    pub event_id: &'a str,
    pub seq: i32,
    pub tenant: &'a str,
    pub request_id: &'a str,
    pub policy_key: &'a str,
    pub policy_version: i32,
    pub artifact_type: &'a str,
    pub artifact_id: &'a str,
    pub status: &'a str,
    pub actor: &'a str,
    pub stage_index: Option<i32>,
    pub task_id: Option<&'a str>,
    pub data: &'a Value,
    /// The event's place in its request's hash chain (the outside witness:
    /// a receiver that keeps the last hash per request can tell when the
    /// stored trail no longer continues what it was sent).
    pub hash: &'a [u8],
    pub prev_hash: Option<&'a [u8]>,
    /// The request's summary when the webhook is sent (not part of the
    /// event, so not hashed: the template's, or the model's once it came).
    pub summary: Option<&'a Value>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn body(e: &EventForBody<'_>) -> String {
    json!({
        "type": e.kind,
        "timestamp": crate::time::rfc3339(e.created_at),
        "data": {
            "event_id": e.event_id,
            "seq": e.seq,
            "tenant": e.tenant,
            "request_id": e.request_id,
            "policy_key": e.policy_key,
            "policy_version": e.policy_version,
            "artifact_type": e.artifact_type,
            "artifact_id": e.artifact_id,
            "status": e.status,
            "stage": e.data.get("stage"),
            "stage_index": e.stage_index,
            "task_id": e.task_id,
            "actor": e.actor,
            "details": e.data,
            "hash": hex(e.hash),
            "prev_hash": e.prev_hash.map(hex),
            "summary": e.summary,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let body = r#"{"test": 2432232314}"#;
        let sig = signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let a = format_secret(&[1u8; 32]);
        let b = format_secret(&[2u8; 32]);
        let both = signature_header(&[a.clone(), b], "id", 1, "{}");
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.starts_with(&signature_header(&[a], "id", 1, "{}")));
        assert_eq!(signature_header(&["whsec_short".into()], "id", 1, "{}"), "");
    }

    #[test]
    fn schedule_then_dead_letter_after_about_a_day() {
        let t0 = 1_000_000 * US;
        let mut now = t0;
        let mut gaps = Vec::new();
        let mut attempts = 1;
        while let Some(at) = next_attempt_at(attempts, t0, now, None, 7) {
            gaps.push((at - now) / US);
            now = at;
            attempts += 1;
        }
        // Eight retries, or seven when the jitter pushes the eighth past 26 h.
        assert!((7..=8).contains(&gaps.len()), "{gaps:?}");
        for (gap, want) in gaps.iter().zip([60, 300, 900, 3_600, 21_600, 21_600, 21_600, 21_600]) {
            assert!((gap - want).abs() <= want / 10, "{gap} vs {want}");
        }
        assert!(now - t0 > 19 * 3_600 * US && now - t0 <= GIVE_UP_AFTER * US);
    }

    #[test]
    fn retry_after_replaces_the_delay_to_the_millisecond() {
        let now = 100 * US + 123_456;
        assert_eq!(next_attempt_at(1, 0, now, Some(1_000), 1), Some(now + US));
        assert_eq!(next_attempt_at(1, 0, now, Some(250), 1), Some(now + 250_000));
        assert_eq!(next_attempt_at(1, 0, now, Some(999_999_999), 1), Some(now + 21_600 * US));
        assert_eq!(parse_retry_after_ms(" 30 ", 0), Some(30_000));
        assert_eq!(parse_retry_after_ms("1", 0), Some(1_000));
        assert_eq!(parse_retry_after_ms("0.25", 0), Some(250));
        assert_eq!(parse_retry_after_ms("-3", 0), None);
        assert_eq!(parse_retry_after_ms("soon", 0), None);
        // 2015-10-21T07:28:00Z, asked 10 s before.
        let at_ms = 1_445_412_480_000;
        assert_eq!(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", at_ms - 10_000), Some(10_000));
        assert_eq!(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", at_ms + 5_000), Some(0));
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(204)), Verdict::Delivered);
        assert_eq!(verdict(Some(301)), Verdict::Retry);
        assert_eq!(verdict(Some(410)), Verdict::Gone);
        assert_eq!(verdict(Some(500)), Verdict::Retry);
        assert_eq!(verdict(None), Verdict::Retry);
    }
}
