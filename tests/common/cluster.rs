//! A PostgreSQL 15 cluster of a test's own, with awe preloaded and its
//! worker serving one named database: for tests that must not disturb the
//! shared local stack (the upgrade test runs an older release, restarts on
//! the current one, drops and restores its database). Runs as the
//! `postgres` user, like `make up`'s cluster; removed however the test ends.
//! Its binaries are the machine's PostgreSQL 15, or another installation
//! of it (scripts/releases.sh makes one per release of awe).

use postgres::{Client, NoTls};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The PostgreSQL 15 this tree's awe is installed into: the machine's, or
/// the private copy `make PG_CONFIG=…` names (AWE_PG_BIN).
pub fn current_bin() -> String {
    std::env::var("AWE_PG_BIN").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into())
}

pub struct ScratchCluster {
    pub dir: PathBuf,
    pub port: u16,
    pub database: String,
    /// The binaries it runs on now.
    bin: PathBuf,
}

fn as_postgres(args: &[&str]) -> bool {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(args);
        c
    } else {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    cmd.current_dir("/").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ScratchCluster {
    /// Initialises and starts a cluster whose awe worker serves `database`
    /// (created here, empty).
    pub fn start(database: &str) -> ScratchCluster {
        ScratchCluster::start_on(database, &current_bin())
    }

    /// The same on the PostgreSQL binaries in `bin`.
    pub fn start_on(database: &str, bin: &str) -> ScratchCluster {
        let dir = std::env::temp_dir().join(crate::unique("awe-cluster"));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            assert!(Command::new("chown").args(["postgres:", dir.to_str().unwrap()]).status().unwrap().success());
        }
        let port = free_port();
        let data = dir.join("data");
        let data_s = data.to_str().unwrap().to_string();
        assert!(as_postgres(&[&format!("{bin}/initdb"), "-D", &data_s, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]), "initdb");
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nshared_preload_libraries = 'awe'\n\
             awe.database = '{database}'\nawe.worker_poll_interval = '200ms'\nfsync = off\nlog_min_messages = warning\nlc_messages = 'C'\n",
            dir.display()
        );
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap().write_all(conf.as_bytes()).unwrap();
        let c = ScratchCluster { dir, port, database: database.to_string(), bin: PathBuf::from(bin) };
        c.pg_ctl("start");
        c.admin().batch_execute(&format!("create database {database}")).unwrap();
        c
    }

    fn pg_ctl(&self, action: &str) {
        let (data, log) = (self.dir.join("data"), self.dir.join("postgres.log"));
        let ok = as_postgres(&[&format!("{}/pg_ctl", self.bin.display()), "-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(),
                               "-m", "fast", "-w", "-t", "60", action]);
        assert!(ok, "pg_ctl {action} on {}", self.bin.display());
    }

    /// Stops the cluster and starts it on the binaries in `bin`: what a DBA
    /// does after installing a new package.
    pub fn restart_on(&mut self, bin: &str) {
        self.pg_ctl("stop");
        self.bin = PathBuf::from(bin);
        self.pg_ctl("start");
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn connect(&self, db: &str) -> Client {
        Client::connect(&self.url(db), NoTls).unwrap_or_else(|e| panic!("connect to {db} on port {}: {e}", self.port))
    }

    /// The maintenance database.
    pub fn admin(&self) -> Client {
        self.connect("postgres")
    }

    /// A PostgreSQL client program (pg_dump, pg_restore, psql) against this cluster.
    pub fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"]);
        c
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        as_postgres(&[&format!("{}/pg_ctl", self.bin.display()), "-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
