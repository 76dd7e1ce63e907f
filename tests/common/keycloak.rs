//! The Keycloak stand-in (tests/standins/keycloak.py) as a test uses it: a
//! process of its own on a free port, scripted through its control API,
//! stopped when the test ends. Keycloak itself cannot be installed on these
//! machines; the stand-in answers the Admin API endpoints awe reads with
//! Keycloak's shapes, paging and errors (see its docstring).

use crate::http::request;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const REALM: &str = "acme";
pub const CLIENT_ID: &str = "awe-sync";
pub const CLIENT_SECRET: &str = "awe-sync-secret";

pub struct StandIn {
    child: Child,
    pub url: String,
}

impl StandIn {
    /// Starts it with a seed: `expense` (the example's six people), `big`
    /// (5,000 users, 60 groups three deep, a role of 1,200) or `empty`; or
    /// extra arguments such as `--realm-export FILE`.
    pub fn start(args: &[&str]) -> StandIn {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/standins/keycloak.py");
        let mut child = Command::new("python3").arg(script).args(["--port", "0"]).args(args)
            .stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("python3 runs the Keycloak stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("the stand-in said {line:?}")).to_string();
        StandIn { child, url: format!("http://{addr}") }
    }

    pub fn seeded(seed: &str) -> StandIn {
        StandIn::start(&["--seed", seed])
    }

    /// Scripts faults and directory changes (the stand-in's control API).
    pub fn control(&self, v: Value) {
        let (status, body) = request(&self.url, "POST", "/__control", &[("content-type", "application/json")], &v.to_string());
        assert_eq!(status, 200, "control {v}: {body}");
    }

    /// Requests served so far, by path.
    pub fn stats(&self) -> Value {
        request(&self.url, "GET", "/__stats", &[], "").1
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
