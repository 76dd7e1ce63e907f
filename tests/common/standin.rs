//! Stand-ins for counterparts that cannot be installed on these machines
//! (tests/standins/*.py: Keycloak's Admin API, a model server): each a
//! process of its own on a free port, scripted through its control API,
//! stopped when the test ends.

use crate::http::request;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct StandIn {
    child: Child,
    pub url: String,
}

impl StandIn {
    /// Starts `tests/standins/<script>` with `args` and waits until it listens.
    pub fn script(script: &str, args: &[&str]) -> StandIn {
        let path = format!("{}/standins/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3").arg(&path).args(["--port", "0"]).args(args)
            .stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap_or_else(|e| panic!("python3 runs {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{script} said {line:?}")).to_string();
        StandIn { child, url: format!("http://{addr}") }
    }

    /// Scripts faults and changes (the stand-in's control API).
    pub fn control(&self, v: Value) {
        let (status, body) = request(&self.url, "POST", "/__control", &[("content-type", "application/json")], &v.to_string());
        assert_eq!(status, 200, "control {v}: {body}");
    }

    /// A read of the stand-in's own API (`/__stats`, `/__requests`).
    pub fn get(&self, path: &str) -> Value {
        request(&self.url, "GET", path, &[], "").1
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
