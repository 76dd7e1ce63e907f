//! A stand-in server from `tests/standins/` run for an example: started on a
//! free port with the given arguments, stopped when dropped; or, with a URL
//! given on the command line, one that is already running.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct StandIn {
    child: Option<Child>,
    pub base: String,
}

impl StandIn {
    /// Starts `tests/standins/<script>` with `--port 0` and `args`, and
    /// reads the address it listens on from its first line.
    pub fn start(script: &str, args: &[&str]) -> StandIn {
        let path = format!("{}/../tests/standins/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(&path)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected stand-in output {line:?}"));
        StandIn { child: Some(child), base: format!("http://{addr}") }
    }

    /// A stand-in already running at `base`.
    pub fn at(base: String) -> StandIn {
        StandIn { child: None, base }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
