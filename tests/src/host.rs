//! Starting the app on a host: devhost or Spin. `E2E_HOST` (`devhost` or `spin`) names the host
//! of a run, as `make test` does for each of its runs; without it, Spin when `scripts/hosts.py`
//! finds it, devhost otherwise. Both get the same `spin up` flags and
//! the same files. Each host runs in a process group of its own and is stopped as a group.
//!
//! `E2E_DB` names the databases of a run: local files (the repository's `runtime-config.toml`),
//! or `libsql`, where the app's two labels are each a fresh `sqld` of their own (see `sqld`).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use crate::client::Client;
use crate::db::Store;
use crate::process;
use crate::sqld::{self, Backend, Sqld};
use crate::wait::eventually;
use crate::workspace;

/// The app's labels, each one service's database.
pub const LABELS: [&str; 2] = ["users", "boards"];

/// How long a host may take to answer its first request (Spin compiles components at start).
const START_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Devhost(PathBuf),
    Spin(PathBuf),
}

impl Host {
    pub fn detect() -> Self {
        match std::env::var("E2E_HOST").as_deref() {
            Ok("spin") => Host::Spin(
                spin_binary().expect("E2E_HOST=spin, but Spin is neither SPIN_BIN nor on PATH"),
            ),
            Ok("devhost") => Host::Devhost(devhost_binary()),
            Ok(other) => panic!("E2E_HOST is `{other}`; expected `devhost` or `spin`"),
            Err(_) => spin_binary()
                .map(Host::Spin)
                .unwrap_or_else(|| Host::Devhost(devhost_binary())),
        }
    }

    pub fn is_spin(&self) -> bool {
        matches!(self, Host::Spin(_))
    }

    /// The command line that serves `spec` on `addr` from `dir`, in a process group of its own.
    /// Spin writes component output to files under `logs`; devhost prints it, prefixed.
    fn command(&self, spec: &AppSpec, dir: &Path, addr: SocketAddr, logs: &Path) -> Command {
        let mut command = match self {
            Host::Devhost(bin) => Command::new(bin),
            Host::Spin(bin) => {
                let mut command = Command::new(bin);
                command.arg("up").arg("--log-dir").arg(logs);
                command
            }
        };
        command
            .arg("--from")
            .arg(&spec.manifest)
            .arg("--runtime-config-file")
            .arg(&spec.runtime_config)
            .current_dir(dir)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .process_group(0);
        if spec.listen_via_env {
            command.env("SPIN_HTTP_LISTEN_ADDR", addr.to_string());
        } else {
            command.arg("--listen").arg(addr.to_string());
        }
        for id in &spec.component_ids {
            command.arg("--component-id").arg(id);
        }
        command.args(&spec.extra_args);
        command
    }
}

/// Spin's binary, as `scripts/hosts.py` (the one place that decides) finds it; asked once per
/// test process, not once per host started.
pub fn spin_binary() -> Option<PathBuf> {
    static SPIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    SPIN.get_or_init(ask_hosts_script).clone()
}

fn ask_hosts_script() -> Option<PathBuf> {
    let output = Command::new("python3")
        .arg(workspace().join("scripts/hosts.py"))
        .arg("spin")
        .output()
        .expect("python3 runs scripts/hosts.py");
    assert!(output.status.success(), "scripts/hosts.py: {output:?}");
    let path = String::from_utf8(output.stdout).expect("a path");
    let path = path.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn devhost_binary() -> PathBuf {
    let devhost = std::env::var_os("DEVHOST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/host/devhost"));
    assert!(
        devhost.exists(),
        "{} is missing: run `make build` first",
        devhost.display()
    );
    devhost
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
    /// Give the address in `SPIN_HTTP_LISTEN_ADDR` instead of `--listen`.
    pub listen_via_env: bool,
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
            listen_via_env: false,
            extra_args: Vec::new(),
        }
    }
}

/// A host process group serving the app. Stopped (SIGTERM to the group) when dropped, and
/// with it the run's libSQL servers, if any.
pub struct RunningApp {
    pub client: Client,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub host: Host,
    spec: AppSpec,
    child: Option<Child>,
    /// The app's labels' servers in the libSQL configuration, shared with every app of its
    /// directory.
    servers: Option<Arc<DirectoryServers>>,
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
        let (spec, servers) = databases_for(spec, &dir);
        let mut app = Self {
            client: Client::new(&format!("http://{addr}")),
            addr,
            dir,
            host: Host::detect(),
            spec,
            child: None,
            servers,
            _tempdir: tempdir,
        };
        app.launch();
        app
    }

    /// Where label `label` keeps its data, for looking at it directly.
    pub fn store(&self, label: &str) -> Store {
        match self.sqld(label) {
            Some(server) => Store::Server(server.server_url()),
            None => Store::File(self.dir.join(format!(".spin/{label}.db"))),
        }
    }

    /// Makes label `label`'s database unusable, as an operator's accident would: the file
    /// replaced by bytes SQLite cannot open, or the libSQL server stopped.
    pub fn break_database(&self, label: &str) {
        match self.sqld(label) {
            Some(mut server) => server.stop(),
            None => crate::db::ruin(&self.dir, &format!("{label}.db")),
        }
    }

    /// The libSQL server of `label`; `None` with local files.
    pub fn sqld(&self, label: &str) -> Option<MutexGuard<'_, Sqld>> {
        let servers = self.servers.as_ref()?;
        Some(
            servers.0[label_index(label)]
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Everything the host and its components printed so far, for assertions and failure
    /// messages: the host's own output, then each component log file (Spin's `--log-dir`).
    pub fn log(&self) -> String {
        let mut log = std::fs::read_to_string(self.host_log_path()).unwrap_or_default();
        for file in log_files(&self.component_log_dir()) {
            log.push_str(&std::fs::read_to_string(file).unwrap_or_default());
        }
        log
    }

    /// What component `id` wrote to stderr: Spin's log file, or devhost's lines under its name.
    pub fn component_stderr(&self, id: &str) -> String {
        match self.host {
            Host::Spin(_) => {
                let file = self.component_log_dir().join(format!("{id}_stderr.txt"));
                std::fs::read_to_string(file).unwrap_or_default()
            }
            Host::Devhost(_) => {
                let prefix = format!("[{id}] ");
                let log = std::fs::read_to_string(self.host_log_path()).unwrap_or_default();
                log.lines()
                    .filter_map(|line| line.strip_prefix(&prefix))
                    .map(|line| format!("{line}\n"))
                    .collect()
            }
        }
    }

    fn host_log_path(&self) -> PathBuf {
        self.dir.join(format!("host-{}.log", self.addr.port()))
    }

    fn component_log_dir(&self) -> PathBuf {
        self.dir
            .join(format!("component-logs-{}", self.addr.port()))
    }

    /// Stops the host as an operator would: SIGTERM to its process group, then waits until every
    /// process of it is gone and the port refuses connections.
    pub fn stop(&mut self) {
        self.end(libc::SIGTERM);
    }

    /// Sends `signal` to the host's process group as `stop` does; returns how the host exited.
    pub fn stop_with(&mut self, signal: libc::c_int) -> ExitStatus {
        self.end(signal).expect("the host was running")
    }

    /// Crashes the host: SIGKILL to its whole process group, no chance to flush or clean up.
    /// Returns once every process of it is gone and the port refuses connections.
    pub fn kill(&mut self) {
        self.end(libc::SIGKILL);
    }

    fn end(&mut self, signal: libc::c_int) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        process::signal_group(child.id(), signal);
        let status = child.wait().expect("wait for the host");
        process::wait_until_gone(child.id(), self.addr);
        Some(status)
    }

    /// The host's process id, which is also its process group's.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the same app again, same directory and address, after `stop` or `kill`.
    pub fn restart(&mut self) {
        self.stop();
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
            .open(self.host_log_path())
            .expect("a log file");
        let child = self
            .host
            .command(&self.spec, &self.dir, self.addr, &self.component_log_dir())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.host));
        self.child = Some(child);
        self.wait_until_answering();
    }

    fn wait_until_answering(&mut self) {
        let answering = eventually(START_TIMEOUT, || {
            if !self.is_running() {
                panic!("the host exited at start-up:\n{}", self.log());
            }
            self.client.try_send("GET", "/", None, b"").is_ok()
        });
        if answering.is_none() {
            panic!(
                "the host did not answer within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
        }
    }

    /// Starts the host expecting it to refuse to start; returns what it printed.
    pub fn refuse_to_start(spec: AppSpec) -> String {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let addr = free_port();
        let mut child = Host::detect()
            .command(&spec, dir.path(), addr, &dir.path().join("logs"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the host starts");
        let group = child.id();
        if eventually(START_TIMEOUT, || child.try_wait().expect("wait").is_some()).is_none() {
            process::signal_group(group, libc::SIGKILL);
            let _ = child.wait();
            panic!("the host kept running; it should have refused to start");
        }
        let output = child.wait_with_output().expect("output");
        assert!(
            !output.status.success(),
            "the host exited cleanly instead of refusing"
        );
        process::wait_until_gone(group, addr);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for RunningApp {
    /// Stops the host group without panicking (a panic here would abort a failing test).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::signal_group(child.id(), libc::SIGTERM);
            eventually(Duration::from_secs(10), || {
                !matches!(child.try_wait(), Ok(None))
            });
            process::signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn label_index(label: &str) -> usize {
    LABELS
        .iter()
        .position(|known| *known == label)
        .unwrap_or_else(|| panic!("the app has no label `{label}`"))
}

/// One directory's libSQL servers, a `sqld` per label (in `LABELS` order), as the directory's
/// files would be: shared by every app started in it (split mode's two services, a process
/// started again after another stopped), stopped when the last of those apps is gone.
pub struct DirectoryServers(Vec<Mutex<Sqld>>, PathBuf);

/// In the libSQL configuration, an app started with the repository's runtime config gets its
/// directory's servers instead, and a runtime config naming them; any other runtime config is
/// the test's own and is kept.
fn databases_for(mut spec: AppSpec, dir: &Path) -> (AppSpec, Option<Arc<DirectoryServers>>) {
    static DIRECTORIES: Mutex<Option<HashMap<PathBuf, Weak<DirectoryServers>>>> = Mutex::new(None);
    let default = spec.runtime_config == AppSpec::default().runtime_config;
    if Backend::detect() != Backend::Libsql || !default {
        return (spec, None);
    }
    let mut directories = DIRECTORIES.lock().unwrap_or_else(|e| e.into_inner());
    let directories = directories.get_or_insert_with(HashMap::new);
    let servers = match directories.get(dir).and_then(Weak::upgrade) {
        Some(servers) => servers,
        None => {
            let servers: Vec<Sqld> = LABELS
                .iter()
                .map(|label| Sqld::start(&dir.join("sqld").join(label)))
                .collect();
            let config = write_file(
                dir,
                "runtime-config.libsql.toml",
                &sqld::runtime_config(LABELS.iter().copied().zip(servers.iter().map(Sqld::url))),
            );
            let servers = Arc::new(DirectoryServers(
                servers.into_iter().map(Mutex::new).collect(),
                config,
            ));
            directories.insert(dir.to_path_buf(), Arc::downgrade(&servers));
            servers
        }
    };
    spec.runtime_config = servers.1.clone();
    (spec, Some(servers))
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// A port nobody is listening on right now, and that this process has not handed out before:
/// the kernel may give the same free port to two binds in a row, and an app and the libSQL
/// server started for it once got the same one (the app's sign-up was answered by sqld, 404).
pub fn free_port() -> SocketAddr {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("its address");
        if HANDED_OUT.lock().unwrap().insert(addr.port()) {
            return addr;
        }
    }
}

/// Writes `text` to `dir/name` and returns the path.
/// The repository's manifest written into `dir` with each listed component's source set to
/// another `.wasm` (component id, path), e.g. a service's next version, and every other
/// component's at the repository's build.
pub fn manifest_with_sources(dir: &Path, sources: &[(&str, PathBuf)]) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("spin.toml")).unwrap();
    let mut manifest: toml::Value = toml::from_str(&text).unwrap();
    let components = manifest["component"].as_table_mut().unwrap();
    for (id, component) in components.iter_mut() {
        let source = match sources.iter().find(|(listed, _)| listed == id) {
            Some((_, source)) => source.clone(),
            None => workspace().join(component["source"].as_str().unwrap()),
        };
        component["source"] = toml::Value::String(source.display().to_string());
    }
    write_file(dir, "spin.toml", &toml::to_string(&manifest).unwrap())
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}
