//! A programmable HTTP/1.1 receiver for webhook and resolver tests: keeps
//! connections alive, records every request, and answers what the test's
//! handler says (given the request and how often its webhook-id was seen).

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Unix seconds when it arrived.
    pub at: f64,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn id(&self) -> String {
        self.header("webhook-id").unwrap_or("").to_string()
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or("").to_string()
    }
    pub fn seq(&self) -> i64 {
        self.json()["data"]["seq"].as_i64().expect("data.seq")
    }
}

#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

pub fn resp(status: u16) -> Resp {
    Resp { status, retry_after: None, location: None, body: String::new() }
}

/// What to answer: gets the request and how many times its key (webhook-id,
/// else path) has been seen, this one included (1 on the first attempt).
pub type Handler = Arc<dyn Fn(&Req, usize) -> Resp + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    reqs: Arc<Mutex<Vec<Req>>>,
    handler: Arc<Mutex<Handler>>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

pub fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

impl Receiver {
    pub fn start(h: impl Fn(&Req, usize) -> Resp + Send + Sync + 'static) -> Receiver {
        Receiver::on(TcpListener::bind("127.0.0.1:0").unwrap(), h)
    }

    pub fn on(listener: TcpListener, h: impl Fn(&Req, usize) -> Resp + Send + Sync + 'static) -> Receiver {
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            reqs: Arc::default(),
            handler: Arc::new(Mutex::new(Arc::new(h))),
            seen: Arc::default(),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let me = me.clone();
                std::thread::spawn(move || me.serve(conn));
            }
        });
        r
    }

    pub fn ok() -> Receiver {
        Receiver::start(|_, _| resp(200))
    }

    pub fn set(&self, h: impl Fn(&Req, usize) -> Resp + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(h);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves one connection: requests until EOF (keep-alive).
    fn serve(&self, conn: TcpStream) {
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let mut body = Vec::new();
            if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                loop {
                    let mut size = String::new();
                    r.read_line(&mut size).unwrap();
                    let n = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
                    let mut chunk = vec![0; n + 2];
                    r.read_exact(&mut chunk).unwrap();
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
            } else if let Some(n) = get("content-length") {
                body = vec![0; n.parse().unwrap()];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
            }
            let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let req = Req { method, path: path.clone(), headers, body: String::from_utf8(body).unwrap(), at: now_secs() };
            let key = req.header("webhook-id").map(str::to_string).unwrap_or(path);
            let nth = {
                let mut seen = self.seen.lock().unwrap();
                let n = seen.entry(key).or_insert(0);
                *n += 1;
                *n
            };
            let h = self.handler.lock().unwrap().clone();
            let out = h(&req, nth);
            self.reqs.lock().unwrap().push(req);
            let mut head = format!("HTTP/1.1 {} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n", out.status, out.body.len());
            if let Some(ra) = &out.retry_after {
                head.push_str(&format!("retry-after: {ra}\r\n"));
            }
            if let Some(l) = &out.location {
                head.push_str(&format!("location: {l}\r\n"));
            }
            head.push_str("\r\n");
            if w.write_all(head.as_bytes()).and_then(|_| w.write_all(out.body.as_bytes())).and_then(|_| w.flush()).is_err() || close {
                return;
            }
        }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.reqs.lock().unwrap().clone()
    }

    /// How many requests arrived, without copying them (a copy holds the
    /// lock the serving threads need, for long once there are many).
    pub fn count(&self) -> usize {
        self.reqs.lock().unwrap().len()
    }

    /// The `i`th request to arrive, if it has.
    pub fn nth(&self, i: usize) -> Option<Req> {
        self.reqs.lock().unwrap().get(i).cloned()
    }

    /// Requests on a path.
    pub fn on_path(&self, path: &str) -> Vec<Req> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits (up to 20 s) until `ok` holds for the requests received so far.
    pub fn wait(&self, what: &str, ok: impl Fn(&[Req]) -> bool) -> Vec<Req> {
        wait_until(what, 20, || {
            let all = self.requests();
            ok(&all).then_some(all)
        })
    }
}

// ---- helpers -----------------------------------------------------------------

pub fn wait_until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
