//! Starting the app on a host: devhost by default, Spin when `SPIN_BIN` names a binary or
//! `spin` is on `PATH`. Both get the same flags (`spin up`'s) and the same files.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::workspace;

/// How long a host may take to answer its first request (Spin compiles components at start).
const START_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Devhost(PathBuf),
    Spin(PathBuf),
}

impl Host {
    pub fn detect() -> Self {
        if let Some(bin) = std::env::var_os("SPIN_BIN").filter(|bin| !bin.is_empty()) {
            return Host::Spin(bin.into());
        }
        if let Some(spin) = on_path("spin") {
            return Host::Spin(spin);
        }
        let devhost = std::env::var_os("DEVHOST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/host/devhost"));
        assert!(
            devhost.exists(),
            "{} is missing: run `make build` first",
            devhost.display()
        );
        Host::Devhost(devhost)
    }

    pub fn is_spin(&self) -> bool {
        matches!(self, Host::Spin(_))
    }

    fn command(&self) -> Command {
        match self {
            Host::Devhost(bin) => Command::new(bin),
            Host::Spin(bin) => {
                let mut command = Command::new(bin);
                command.arg("up");
                command
            }
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What to start: the repository's app unless told otherwise.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub manifest: PathBuf,
    pub runtime_config: PathBuf,
    pub component_ids: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The working directory (where relative database paths land); fresh when `None`.
    pub dir: Option<PathBuf>,
    /// A fixed address; a free port when `None`.
    pub listen: Option<SocketAddr>,
    /// Host-specific flags, e.g. devhost's `--watch`.
    pub extra_args: Vec<String>,
}

impl Default for AppSpec {
    fn default() -> Self {
        Self {
            manifest: workspace().join("spin.toml"),
            runtime_config: workspace().join("runtime-config.toml"),
            component_ids: Vec::new(),
            env: Vec::new(),
            dir: None,
            listen: None,
            extra_args: Vec::new(),
        }
    }
}

/// A host process serving the app. Killed when dropped.
pub struct RunningApp {
    pub client: Client,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub host: Host,
    spec: AppSpec,
    child: Option<Child>,
    _tempdir: Option<tempfile::TempDir>,
}

impl RunningApp {
    /// The whole app, in a fresh directory.
    pub fn start_default() -> Self {
        Self::start(AppSpec::default())
    }

    pub fn start(spec: AppSpec) -> Self {
        let (tempdir, dir) = match &spec.dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let tempdir = tempfile::tempdir().expect("a temporary directory");
                let dir = tempdir.path().to_path_buf();
                (Some(tempdir), dir)
            }
        };
        let addr = spec.listen.unwrap_or_else(free_port);
        let mut app = Self {
            client: Client::new(&format!("http://{addr}")),
            addr,
            dir,
            host: Host::detect(),
            spec,
            child: None,
            _tempdir: tempdir,
        };
        app.launch();
        app
    }

    /// The host's output so far (stdout and stderr), for assertions and failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("host-{}.log", self.addr.port()))
    }

    /// Stops the host abruptly (SIGKILL): no chance to flush or clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same app again, same directory and address, after `kill`.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Whether the host process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    fn launch(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("a log file");
        let mut command = self.host.command();
        command
            .arg("--from")
            .arg(&self.spec.manifest)
            .arg("--runtime-config-file")
            .arg(&self.spec.runtime_config)
            .arg("--listen")
            .arg(self.addr.to_string())
            .current_dir(&self.dir)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for id in &self.spec.component_ids {
            command.arg("--component-id").arg(id);
        }
        command.args(&self.spec.extra_args);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.host));
        self.child = Some(child);
        self.wait_until_answering();
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !self.is_running() {
                panic!("the host exited at start-up:\n{}", self.log());
            }
            if self.client.try_send("GET", "/", None, b"").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the host did not answer within {START_TIMEOUT:?}:\n{}",
            self.log()
        );
    }

    /// Starts the host expecting it to refuse to start; returns what it printed.
    pub fn refuse_to_start(spec: AppSpec) -> String {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let host = Host::detect();
        let mut command = host.command();
        command
            .arg("--from")
            .arg(&spec.manifest)
            .arg("--runtime-config-file")
            .arg(&spec.runtime_config)
            .arg("--listen")
            .arg(free_port().to_string())
            .current_dir(dir.path())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        for id in &spec.component_ids {
            command.arg("--component-id").arg(id);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the host starts");
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                let output = child.wait_with_output().expect("output");
                assert!(
                    !output.status.success(),
                    "the host exited cleanly instead of refusing"
                );
                return format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the host kept running; it should have refused to start");
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody is listening on right now.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("its address")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}
