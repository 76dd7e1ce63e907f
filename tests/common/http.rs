//! A small HTTP/1.1 client and an HS256 signer, independent of awe's code:
//! the REST tests and the REST benchmark talk to the server with them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An HS256 token signed with `secret`; `exp` defaults to ten minutes.
pub fn hs256(secret: &str, mut claims: Value) -> String {
    if claims.get("exp").is_none() {
        claims["exp"] = json!(now() + 600);
    }
    let head = B64URL.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let body = B64URL.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", B64URL.encode(mac.finalize().into_bytes()))
}

/// One keep-alive connection to `host:port`.
pub struct Conn {
    host: String,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(base: &str) -> std::io::Result<Conn> {
        let host = base.trim_start_matches("http://").trim_end_matches('/').to_string();
        let s = TcpStream::connect(&host)?;
        s.set_nodelay(true)?;
        Ok(Conn { host, reader: BufReader::new(s) })
    }

    /// Sends one request and reads the whole response: (status, body).
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<(u16, String)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n", self.host);
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            self.reader.read_exact(&mut out)?;
        } else if close {
            self.reader.read_to_end(&mut out)?;
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }
}

/// One request on a fresh connection: (status, body as JSON, or as a JSON
/// string when it is not JSON).
pub fn request(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut c = Conn::open(base).expect("REST server reachable");
    let (status, text) = c.send(method, path, headers, body).expect("REST response");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
