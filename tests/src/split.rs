//! Split mode in tests. `SplitApp`: each service in its own host process, board pointed at user
//! by `SPIN_VARIABLE_USER_SERVICE_URL`, both in one working directory (each opens only its
//! file). `SplitScript`: split mode as users run it, `scripts/split` with its gateway; in the
//! libSQL configuration with `DB=libsql REPLICAS=2`, as a cluster runs the services.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::client::Client;
use crate::host::{free_port, write_file, AppSpec, Host, RunningApp};
use crate::sqld::Backend;
use crate::wait::eventually;
use crate::{process, workspace};

/// Replicas per service split mode runs in the tests: one per file, two per libSQL server (as
/// `deploy/spinkube/*.yaml` does).
pub const REPLICAS_ON_FILES: usize = 1;
pub const REPLICAS_ON_LIBSQL: usize = 2;

pub struct SplitApp {
    pub user: RunningApp,
    pub board: RunningApp,
    /// The shared working directory, where both database files live.
    pub dir: tempfile::TempDir,
}

impl SplitApp {
    pub fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("a temporary directory"))
    }

    /// Both services in `dir`, e.g. one that already holds a database file.
    pub fn start_in(dir: tempfile::TempDir) -> Self {
        let user = RunningApp::start(AppSpec {
            component_ids: vec!["user-component".to_owned()],
            dir: Some(dir.path().to_path_buf()),
            ..AppSpec::default()
        });
        let mut board = Self::start_board(dir.path(), user.addr);
        board.client.share_accounts(user.client.accounts());
        Self { user, board, dir }
    }

    /// A board process that finds the user service at `user_addr`.
    pub fn start_board(dir: &std::path::Path, user_addr: SocketAddr) -> RunningApp {
        RunningApp::start(AppSpec {
            component_ids: vec!["board-component".to_owned()],
            dir: Some(dir.to_path_buf()),
            env: vec![(
                "SPIN_VARIABLE_USER_SERVICE_URL".to_owned(),
                format!("http://{user_addr}"),
            )],
            ..AppSpec::default()
        })
    }
}

/// `scripts/split` running in a fresh directory on a free gateway port, on this run's host.
pub struct SplitScript {
    script: Child,
    pub dir: tempfile::TempDir,
    pub gateway: Client,
}

impl SplitScript {
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Split mode with `env` added to the environment of the script and the hosts it starts.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gateway_addr = free_port();
        let log = std::fs::File::create(dir.path().join("split.log")).unwrap();
        let (database, replicas) = match Backend::detect() {
            Backend::File => ("file", REPLICAS_ON_FILES),
            Backend::Libsql => ("libsql", REPLICAS_ON_LIBSQL),
        };
        // Under GNU make, as `make split` runs it (without its build step): make passes a
        // SIGTERM to the group on to its child once more, which once cut split mode's cleanup
        // short and left every process running.
        let makefile = write_file(
            dir.path(),
            "Makefile",
            &format!(
                "split:\n\t{}\n",
                workspace().join("scripts/split").display()
            ),
        );
        let settings = script_command("split", dir.path());
        let script = Command::new("make")
            .arg("-s")
            .arg("-f")
            .arg(makefile)
            .arg("split")
            .envs(settings.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::null())
            .current_dir(dir.path())
            .env("GATEWAY_ADDR", gateway_addr.to_string())
            .env("DB", database)
            .env("REPLICAS", replicas.to_string())
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let split = Self {
            script,
            dir,
            gateway: Client::new(&format!("http://{gateway_addr}")),
        };
        split.wait_for("both services and the page through the gateway", || {
            ["/users/health", "/boards/health", "/"]
                .iter()
                .all(|path| answers(&split.gateway, path))
        });
        split
    }

    pub fn state(&self, name: &str) -> Value {
        let path = self.dir.path().join(format!(".spin/split/{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The process (group) of the first replica serving `component`.
    pub fn pid(&self, component: &str) -> u32 {
        self.pids(component)[0]
    }

    /// The process (group) of every replica serving `component`.
    pub fn pids(&self, component: &str) -> Vec<u32> {
        self.state(component)["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|replica| replica["pid"].as_u64().unwrap() as u32)
            .collect()
    }

    /// Every process group of split mode: the gateway, each replica and each database server.
    pub fn groups(&self) -> Vec<u32> {
        let mut groups = vec![self.state("gateway")["pid"].as_u64().unwrap() as u32];
        for component in ["user-component", "board-component"] {
            groups.extend(self.pids(component));
        }
        let servers = self.state("databases")["servers"].clone();
        groups.extend(
            servers
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, pid)| pid.as_u64().unwrap() as u32),
        );
        groups
    }

    pub fn version(&self, path: &str) -> String {
        self.gateway.service_version(path)
    }

    pub fn swap(&self, component: &str, wasm: &Path) -> Output {
        self.swap_with(component, wasm, &[])
    }

    /// `scripts/swap component --build build`, what `make swap COMPONENT=... BUILD=...` runs:
    /// `next` or `breaking` (which `make test` has built), or `release`.
    pub fn swap_to(&self, component: &str, build: &str) -> Output {
        script_command("swap", self.dir.path())
            .args([component, "--build", build])
            .output()
            .unwrap()
    }

    /// `scripts/swap` with `options` added, e.g. `--abrupt-exit`.
    pub fn swap_with(&self, component: &str, wasm: &Path, options: &[&str]) -> Output {
        script_command("swap", self.dir.path())
            .arg(component)
            .arg("--wasm")
            .arg(wasm)
            .args(options)
            .output()
            .unwrap()
    }

    /// One command to the gateway's runtime API (HAProxy's stats socket); returns its answer.
    pub fn gateway_command(&self, command: &str) -> String {
        let mut socket = UnixStream::connect(self.dir.path().join(".spin/split/gateway.sock"))
            .expect("the gateway's runtime API");
        socket.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Points the gateway's `backend/slot` at `addr` and waits until its health checks find
    /// it up.
    pub fn put_in_slot(&self, backend: &str, slot: &str, addr: SocketAddr) {
        let server = format!("{backend}/{slot}");
        self.gateway_command(&format!(
            "set server {server} addr {} port {}",
            addr.ip(),
            addr.port()
        ));
        self.gateway_command(&format!("set server {server} state ready"));
        self.wait_for(&format!("{server} up"), || {
            let stat = self.gateway_command("show stat");
            stat.lines().any(|line| {
                line.starts_with(&format!("{backend},{slot},")) && line.contains(",UP,")
            })
        });
    }

    /// Every request the gateway has logged so far: the clients' and board's own calls to the
    /// user service, which go through it too.
    pub fn gateway_requests(&self) -> Vec<GatewayRequest> {
        let log = self.dir.path().join(".spin/split/gateway.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(GatewayRequest::parse)
            .collect()
    }

    /// How many lines that `component` logged, in every replica and colour that has run,
    /// contain `text`: on Spin its `--log-dir` files of the component's stderr (its terminal
    /// output repeats them), on devhost each process's log.
    pub fn service_log_lines(&self, component: &str, text: &str) -> usize {
        let logs = self.dir.path().join(".spin/split/logs");
        let spin = Host::detect().is_spin();
        let files = walk(&logs).into_iter().filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let kind = if spin { "_stderr.txt" } else { ".log" };
            name.starts_with(component) && name.ends_with(kind)
        });
        files
            .map(|path| {
                std::fs::read_to_string(path)
                    .unwrap_or_default()
                    .matches(text)
                    .count()
            })
            .sum()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("split.log")).unwrap_or_default()
    }

    pub fn wait_for(&self, what: &str, ready: impl FnMut() -> bool) {
        eventually(Duration::from_secs(90), ready)
            .unwrap_or_else(|| panic!("timed out waiting for {what}:\n{}", self.log()));
    }

    /// Stops the script as a service manager would (SIGTERM to its process group) and asserts
    /// nothing of split mode is left: no process in the gateway's, the replicas' or the
    /// databases' groups, no state naming them, and the gateway refuses connections.
    pub fn stop(mut self) {
        let groups = self.groups();
        process::signal_group(self.script.id(), libc::SIGTERM);
        // make dies of the signal once its child, split mode, has finished stopping.
        self.script.wait().unwrap();
        for group in groups {
            assert_eq!(
                process::group_members(group),
                Vec::<u32>::new(),
                "{}",
                self.log()
            );
        }
        assert!(self
            .gateway
            .try_send("GET", "/users/health", None, b"")
            .is_err());
        let state = self.dir.path().join(".spin/split");
        let left: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".json"))
            .collect();
        assert!(left.is_empty(), "state left behind: {left:?}");
    }
}

impl Drop for SplitScript {
    fn drop(&mut self) {
        process::signal_group(self.script.id(), libc::SIGTERM);
        let _ = self.script.wait();
    }
}

/// One line of HAProxy's `option httplog`: `client [date] frontend backend/server timers status
/// bytes - - termination conns/.../retries queues "request"`.
#[derive(Debug)]
pub struct GatewayRequest {
    pub line: String,
    /// -1 when no response was sent.
    pub status: i32,
    /// Four flags; `--` first when the session ended normally on both sides.
    pub termination: String,
    /// Attempts made again on a server (`+` marks one redispatched to another server).
    pub retries: u32,
}

impl GatewayRequest {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 13 || fields[2] != "api" {
            return None;
        }
        Some(Self {
            line: line.to_owned(),
            status: fields[5].parse().ok()?,
            termination: fields[9].to_owned(),
            retries: fields[10]
                .rsplit('/')
                .next()?
                .trim_start_matches('+')
                .parse()
                .ok()?,
        })
    }

    /// Whether the gateway gave up on it: a 5xx (its own 503 included), no response at all, or
    /// a session cut short on either side.
    pub fn failed(&self) -> bool {
        self.status >= 500 || self.status < 0 || !self.termination.starts_with("--")
    }
}

/// Every file under `dir`, at any depth.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .flat_map(|path| {
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// `scripts/<name>` on this run's host, with split mode's state in `dir`.
pub fn script_command(name: &str, dir: &Path) -> Command {
    let host = if Host::detect().is_spin() {
        "spin"
    } else {
        "devhost"
    };
    let mut command = Command::new(workspace().join("scripts").join(name));
    command
        .env("APP_HOST", host)
        .env("SPLIT_DIR", dir)
        .stdin(Stdio::null());
    command
}

pub fn answers(client: &Client, path: &str) -> bool {
    client
        .try_send("GET", path, None, b"")
        .is_ok_and(|reply| reply.status == 200)
}
