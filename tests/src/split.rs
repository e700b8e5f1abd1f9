//! Split mode in tests. `SplitApp`: each service in its own host process, board pointed at user
//! by `SPIN_VARIABLE_USER_SERVICE_URL`, both in one working directory (each opens only its
//! file). `SplitScript`: split mode as users run it, `scripts/split` with its gateway.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;
use crate::host::{free_port, AppSpec, Host, RunningApp};
use crate::{process, workspace};

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
        let board = Self::start_board(dir.path(), user.addr);
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
        let script = script_command("split", dir.path())
            .env("GATEWAY_ADDR", gateway_addr.to_string())
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
        split.wait_for("both services through the gateway", || {
            answers(&split.gateway, "/users/health") && answers(&split.gateway, "/boards/health")
        });
        split
    }

    pub fn state(&self, name: &str) -> Value {
        let path = self.dir.path().join(format!(".spin/split/{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    pub fn pid(&self, component: &str) -> u32 {
        self.state(component)["pid"].as_u64().unwrap() as u32
    }

    pub fn version(&self, path: &str) -> String {
        self.gateway.service_version(path)
    }

    pub fn swap(&self, component: &str, wasm: &Path) -> Output {
        script_command("swap", self.dir.path())
            .arg(component)
            .arg("--wasm")
            .arg(wasm)
            .output()
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("split.log")).unwrap_or_default()
    }

    pub fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the script as Ctrl-C would and asserts nothing of split mode is left: no process
    /// in the gateway's or the services' groups, and the gateway refuses connections.
    pub fn stop(mut self) {
        let groups: Vec<u32> = ["gateway", "user-component", "board-component"]
            .iter()
            .map(|name| self.state(name)["pid"].as_u64().unwrap() as u32)
            .collect();
        process::signal_group(self.script.id(), libc::SIGTERM);
        assert!(self.script.wait().unwrap().success(), "{}", self.log());
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
    }
}

impl Drop for SplitScript {
    fn drop(&mut self) {
        process::signal_group(self.script.id(), libc::SIGTERM);
        let _ = self.script.wait();
    }
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
