//! A real libSQL server (`sqld`) per service database, for the libSQL configuration of the
//! suites (`E2E_DB=libsql`). Found as `scripts/hosts.py` finds it (`SQLD_BIN`, or `sqld` on
//! `PATH`). Each server runs in a process group of its own, on a port of its own, with its own
//! data directory, and is stopped as a group. The app reaches each server through its guard
//! (`deploy/libsql-guard/haproxy.cfg`), as every way of running the app here does; an
//! operator's queries go to the server itself.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::host::free_port;
use crate::load::StopFlag;
use crate::wait::eventually;
use crate::{process, workspace};

/// How long a fresh server may take to answer `GET /health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Which kind of database the app's labels are in this run: `E2E_DB`, as `make test` sets it
/// for each configuration; local files when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    File,
    Libsql,
}

impl Backend {
    pub fn detect() -> Self {
        match std::env::var("E2E_DB").as_deref() {
            Ok("libsql") => Backend::Libsql,
            Ok("file") | Err(_) => Backend::File,
            Ok(other) => panic!("E2E_DB is `{other}`; expected `file` or `libsql`"),
        }
    }
}

/// The server binary, asked of `scripts/hosts.py` once per test process.
pub fn sqld_binary() -> PathBuf {
    static SQLD: OnceLock<Option<PathBuf>> = OnceLock::new();
    SQLD.get_or_init(|| {
        let output = Command::new("python3")
            .arg(workspace().join("scripts/hosts.py"))
            .arg("sqld")
            .output()
            .expect("python3 runs scripts/hosts.py");
        let path = String::from_utf8(output.stdout).expect("a path");
        let path = path.trim();
        (!path.is_empty()).then(|| PathBuf::from(path))
    })
    .clone()
    .expect("the libSQL configuration needs sqld: set SQLD_BIN or put sqld on PATH")
}

/// One running `sqld` and the guard in front of it.
pub struct Sqld {
    /// Where the server itself listens.
    pub addr: SocketAddr,
    dir: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
    guard: Guard,
}

/// The guard in front of a server: HAProxy with `deploy/libsql-guard/haproxy.cfg`, in a process
/// group of its own. It outlives the server's restarts, as it would in a deployment.
struct Guard {
    addr: SocketAddr,
    child: Child,
}

impl Guard {
    fn start(server: SocketAddr, log: File) -> Self {
        let addr = free_port();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(workspace().join("deploy/libsql-guard/haproxy.cfg"))
            .env("GUARD_ADDR", addr.to_string())
            .env("SQLD_ADDR", server.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("haproxy starts (Debian package `haproxy`)");
        Self { addr, child }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        process::signal_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Sqld {
    /// A fresh server keeping its data under `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, Vec::new())
    }

    /// A fresh server with further flags, e.g. `--auth-jwt-key-file`.
    pub fn start_with(dir: &Path, extra_args: Vec<String>) -> Self {
        std::fs::create_dir_all(dir).expect("a data directory");
        let addr = free_port();
        let mut server = Self {
            addr,
            dir: dir.to_path_buf(),
            extra_args,
            child: None,
            guard: Guard::start(addr, log_file(&dir.join("guard.log"))),
        };
        server.launch();
        server
    }

    /// Where the app connects: the guard.
    pub fn url(&self) -> String {
        format!("http://{}", self.guard.addr)
    }

    /// The server itself, for an operator's queries: they do not wait for the guard to see a
    /// restarted server.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn launch(&mut self) {
        let log = log_file(&self.dir.join("sqld.log"));
        let child = Command::new(sqld_binary())
            .arg("--db-path")
            .arg(self.dir.join("data"))
            .arg("--http-listen-addr")
            .arg(self.addr.to_string())
            .arg("--no-welcome")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("sqld starts");
        self.child = Some(child);
        self.wait_until_healthy();
    }

    /// Waits until the server answers its health check through the guard: the guard has seen
    /// it up (within its 250 ms check interval of the server's first answer).
    fn wait_until_healthy(&mut self) {
        let agent = agent();
        let healthy = eventually(START_TIMEOUT, || {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("sqld exited at start-up ({status}):\n{}", self.log());
                }
            }
            agent.get(&format!("{}/health", self.url())).call().is_ok()
        });
        if healthy.is_none() {
            panic!(
                "sqld did not answer within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
        }
    }

    /// The server's log, then its guard's (which says when and why it marked the server down).
    pub fn log(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}\n[guard]\n{}", read("sqld.log"), read("guard.log"))
    }

    /// Stops the server (SIGTERM to its group) and waits until it is gone.
    pub fn stop(&mut self) {
        self.end(libc::SIGTERM);
    }

    /// Crashes the server: SIGKILL to its group, no chance to flush anything.
    pub fn kill(&mut self) {
        self.end(libc::SIGKILL);
    }

    /// Starts the server again on the same port and data, after `stop` or `kill`.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Freezes the server (SIGSTOP): it keeps its port and accepts connections, and answers
    /// nothing until [`Sqld::thaw`].
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Wakes a frozen server and waits until the guard lets connections through again.
    pub fn thaw(&mut self) {
        self.signal(libc::SIGCONT);
        self.wait_until_healthy();
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("sqld is running");
        process::signal_group(child.id(), signal);
    }

    fn end(&mut self, signal: libc::c_int) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        process::signal_group(child.id(), libc::SIGCONT);
        process::signal_group(child.id(), signal);
        let _ = child.wait();
        process::wait_until_gone(child.id(), self.addr);
    }

    /// Runs one statement over the server's HTTP API, as an operator's client would, and
    /// returns its rows; `Err` with the server's message when it refuses the statement.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
        query(&self.server_url(), sql, params)
    }
}

/// [`Sqld::query`] on the server at `url`.
pub fn query(url: &str, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
    {
        let body = json!({ "statements": [{ "q": sql, "params": params }] });
        let reply = agent()
            .post(&format!("{url}/"))
            .send_string(&body.to_string())
            .map_err(|error| error.to_string())?
            .into_string()
            .map_err(|error| error.to_string())?;
        let reply: Value = serde_json::from_str(&reply).map_err(|error| error.to_string())?;
        if let Some(error) = reply[0]["error"].as_str() {
            return Err(error.to_owned());
        }
        let rows = reply[0]["results"]["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("an answer with rows: {reply}"));
        Ok(rows
            .iter()
            .map(|row| row.as_array().cloned().unwrap_or_default())
            .collect())
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn log_file(path: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .expect("a log file")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
}

/// A runtime config whose labels are the servers at the given URLs, as `deploy/render` writes
/// one, with the read models' stores as the repository's runtime config defines them.
pub fn runtime_config<'a>(servers: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let databases: String = servers
        .into_iter()
        .map(|(label, url)| {
            format!(
                "[sqlite_database.{label}]\ntype = \"libsql\"\nurl = \"{url}\"\ntoken = \"local\"\n\n"
            )
        })
        .collect();
    let repository = std::fs::read_to_string(crate::workspace().join("runtime-config.toml"))
        .expect("the repository's runtime config reads");
    let stores = repository
        .find("[key_value_store.")
        .expect("the repository's runtime config defines the read models' stores");
    databases + &repository[stores..]
}

/// A server that answers its health check and nothing else, behind a guard of its own: what
/// sqld 0.24.33 became for writes after bursts of writers here (docs/libsql.md), on cue. Any
/// other request is read and never answered; its connection is held until this is dropped.
pub struct SilentServer {
    /// Raised when this is dropped, before the guard stops: it ends the server's threads.
    _stop: StopFlag,
    guard: Guard,
}

impl SilentServer {
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("a log directory");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = StopFlag::default();
        let stopped = stop.watcher();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let stopped = stopped.clone();
                        std::thread::spawn(move || answer_health_only(stream, &stopped));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            _stop: stop,
            guard: Guard::start(addr, log_file(&dir.join("guard.log"))),
        }
    }

    /// Where the app connects: the guard.
    pub fn url(&self) -> String {
        format!("http://{}", self.guard.addr)
    }
}

/// Answers `GET /health` with `200`; holds any other request unanswered until `stop`.
fn answer_health_only(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !stop.load(Ordering::Relaxed) && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
    if head.starts_with(b"GET /health ") {
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}
