//! The seam between awe's pure HTTP clients (the Keycloak Admin API client in
//! `keycloak.rs`) and a real network: a [`Transport`] sends one request,
//! sleeps, and tells the time. The extension implements it with `ureq`
//! (outside any transaction); tests implement it in memory with a clock that
//! `sleep` advances, so retry and backoff logic runs without waiting.
//!
//! Also here: what every such client needs and nothing Keycloak-specific,
//! namely percent-encoding of path segments and query/form values, and reading
//! a `Retry-After` header (delay-seconds or an HTTP date, RFC 9110 §10.2.3).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request. Headers are sent as given; `body` is sent as is (the caller
/// sets `Content-Type`).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Debug output never shows header values or the body: they carry bearer
/// tokens and client secrets, and errors end up in logs.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "{} {} (headers: {names:?}, body: {} bytes)", self.method.as_str(), self.url, self.body.as_ref().map_or(0, String::len))
    }
}

/// One response, whatever its status: a transport answers 4xx and 5xx as
/// responses (it must not turn them into errors), because the client decides
/// which to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How a client reaches the network and the clock.
pub trait Transport {
    /// Sends a request and reads the whole response body. `Err` is a failure
    /// to get any response (connection refused, timeout, TLS, a body that is
    /// not UTF-8); the client retries those like a 5xx.
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, String>;
    /// Waits. Tests record the duration and advance their clock instead.
    fn sleep(&mut self, d: Duration);
    /// Wall-clock time as Unix milliseconds: token lifetimes are measured with
    /// it, and a `Retry-After` HTTP date is compared with it.
    fn now_millis(&self) -> u64;
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a value
/// is safe as one path segment or one query/form value (a role named
/// `a/b c` becomes `a%2Fb%20c`).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body from name/value pairs.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect::<Vec<_>>().join("&")
}

/// How long a `Retry-After` value asks to wait: delay-seconds (`"120"`) or an
/// IMF-fixdate (`"Sun, 06 Nov 1994 08:49:37 GMT"`) measured from `now_millis`;
/// a date in the past means no wait. `None` when the value is neither (the
/// caller then uses its own backoff). The obsolete RFC 850 and asctime date
/// forms are not read.
pub fn parse_retry_after(value: &str, now_millis: u64) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = parse_imf_fixdate(v)?;
    let now = (now_millis / 1000) as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// Unix seconds of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_imf_fixdate(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = s.split(' ').collect();
    let [weekday, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    if !weekday.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time.split(':').map(|p| if p.len() == 2 { p.parse().ok() } else { None }).collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    Some(crate::time::days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + sec)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_components_and_forms() {
        assert_eq!(encode_component("finance-director"), "finance-director");
        assert_eq!(encode_component("a/b c:d"), "a%2Fb%20c%3Ad");
        assert_eq!(encode_component("é"), "%C3%A9");
        assert_eq!(form_body(&[("grant_type", "client_credentials"), ("client_secret", "s&=+ x")]), "grant_type=client_credentials&client_secret=s%26%3D%2B%20x");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("1", 0), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(Duration::from_secs(120)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_imf_fixdate("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        let now = 784_111_777_000 - 30_000;
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 3_600_000), Some(Duration::ZERO));
        for bad in ["", "-1", "1.5", "soon", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 UTC"] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn request_debug_hides_secrets() {
        let req = HttpRequest {
            method: Method::Post,
            url: "http://kc/token".into(),
            headers: vec![("Authorization".into(), "Bearer SECRET".into())],
            body: Some("client_secret=SECRET".into()),
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("POST http://kc/token"));
    }
}
