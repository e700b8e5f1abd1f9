//! Swapping one component for a new build while both services are under load: no request
//! fails, clients see the new version, board answers throughout, and every acknowledged write
//! is still readable. In-place swap is devhost's `--watch`; Spin has no equivalent in one
//! process, so `make test` skips these tests by name on Spin (see `scripts/test`); its swap is
//! split mode's blue-green one, tested on both hosts in `split_mode.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use e2e::client::Client;
use e2e::host::{manifest_with_sources, AppSpec, Host, RunningApp};
use e2e::load;
use e2e::wait::eventually;
use e2e::{built_wasm, other_build};
use serde_json::json;

const DEVHOST_ONLY: &str = "in-place swap is devhost's --watch: skip this test by name on Spin";

/// Load: two clients on the user service and two on the board service, back to back.
const USER_CLIENTS: usize = 2;
const BOARD_CLIENTS: usize = 2;
/// Load before and after the swap.
const PHASE: Duration = Duration::from_secs(2);

/// The app's components and their crates, each copied into the test's folder.
const COMPONENTS: [(&str, &str); 3] = [
    ("user-component", "user_component"),
    ("board-component", "board_component"),
    ("web-component", "web_component"),
];

/// The app with each component's `.wasm` copied into a fresh folder, on devhost `--watch`, so
/// the test can replace a build without touching the repository's.
fn start_watched_copy() -> (tempfile::TempDir, RunningApp) {
    let files = tempfile::tempdir().unwrap();
    for (_, crate_name) in COMPONENTS {
        let copy = files.path().join(format!("{crate_name}.wasm"));
        std::fs::copy(built_wasm(crate_name), copy).unwrap();
    }
    // Each component's source at its copy, e.g. `files/user_component.wasm`.
    let sources: Vec<(&str, PathBuf)> = COMPONENTS
        .iter()
        .map(|(id, crate_name)| (*id, files.path().join(format!("{crate_name}.wasm"))))
        .collect();
    let app = RunningApp::start(AppSpec {
        manifest: manifest_with_sources(files.path(), &sources),
        dir: Some(files.path().to_path_buf()),
        extra_args: vec!["--watch".to_owned()],
        ..AppSpec::default()
    });
    (files, app)
}

#[derive(Default)]
struct Tally {
    answered: usize,
    failed: Vec<String>,
    user_versions: Vec<String>,
    users_written: Vec<i64>,
    posts_written: Vec<i64>,
    board_answers_after_swap: usize,
}

/// One client of the steady load: sign-ups (`author` is `None`) or posts by `author`, recording
/// every answer in `tally`.
fn client_load(
    client: Client,
    author: Option<i64>,
    worker: usize,
    stop: Arc<AtomicBool>,
    swapped: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let request = move |n| match author {
        None => (
            "/users",
            json!({ "email": format!("load-{worker}-{n}@example.org"), "name": "Load", "password": "correct horse" }),
        ),
        Some(author) => (
            "/boards",
            json!({ "userId": author, "title": "load", "content": "steady" }),
        ),
    };
    load::send_while(
        &client,
        || !stop.load(Ordering::Relaxed),
        request,
        |path, reply, _| {
            let mut tally = tally.lock().unwrap();
            match reply {
                Ok(reply) if reply.status == 201 => {
                    tally.answered += 1;
                    let id = reply.json()["id"].as_i64().unwrap();
                    if path == "/users" {
                        tally.users_written.push(id);
                        tally.user_versions.push(reply.service_version().to_owned());
                    } else {
                        tally.posts_written.push(id);
                        if swapped.load(Ordering::Relaxed) {
                            tally.board_answers_after_swap += 1;
                        }
                    }
                }
                Ok(reply) => {
                    tally
                        .failed
                        .push(format!("{path}: {} {}", reply.status, reply.text()))
                }
                Err(error) => tally.failed.push(format!("{path}: {error}")),
            }
        },
    );
}

/// The new build is user's next version, whose schema has a column more: its first write
/// migrates the database while requests in flight finish on the old build.
#[test]
fn swapping_user_component_for_its_next_version_under_load_loses_no_request() {
    assert!(!Host::detect().is_spin(), "{DEVHOST_ONLY}");
    let new_build = other_build("next", "user_component");
    let (files, app) = start_watched_copy();
    let author = app.client.sign_up("author@example.org", "A");
    let old_version = app.client.service_version("/users/health");

    let load = Load::start(&app.client, author);
    thread::sleep(PHASE);
    // Replace the file the way a build tool should: write beside it, then rename over it.
    let staged = files.path().join("user_component.wasm.new");
    std::fs::copy(&new_build, &staged).unwrap();
    std::fs::rename(&staged, files.path().join("user_component.wasm")).unwrap();
    let new_version = wait_for_a_new_version(&app, &old_version);
    load.swapped.store(true, Ordering::Relaxed);
    thread::sleep(PHASE);
    let tally = load.stop();
    eprintln!(
        "live swap: {} requests answered, {} failed, {} users and {} posts written; {old_version} -> {new_version}",
        tally.answered,
        tally.failed.len(),
        tally.users_written.len(),
        tally.posts_written.len()
    );
    assert!(
        tally.failed.is_empty(),
        "failed requests: {:?}",
        tally.failed
    );
    assert!(new_version.ends_with("+next"), "{new_version}");
    let migrations = app
        .component_stderr("user-component")
        .matches("schema migrated from version")
        .count();
    assert_eq!(
        migrations, 2,
        "start-up's and the next version's, once each"
    );
    let with_bio = json!({
        "email": "bio@example.org", "name": "B", "password": "correct horse", "bio": "hi",
    });
    let written = app.client.post_json("/users", &with_bio);
    assert_eq!(written.status, 201, "{}", written.text());
    assert_eq!(written.json()["bio"], "hi");
    assert!(
        tally.user_versions.contains(&old_version) && tally.user_versions.contains(&new_version)
    );
    assert!(
        tally.board_answers_after_swap > 0,
        "board must answer after the swap too"
    );
    assert!(
        app.log().contains("swapped in the new build"),
        "{}",
        app.log()
    );
    app.client
        .assert_readable(&tally.users_written, &tally.posts_written, "after the swap");
}

/// The clients of `client_load`, on the user and the board service, until stopped; `swapped`
/// tells them the new build serves.
struct Load {
    swapped: Arc<AtomicBool>,
    workers: load::Workers<Tally>,
}

impl Load {
    fn start(app: &Client, author: i64) -> Self {
        let swapped = Arc::new(AtomicBool::new(false));
        let workers = load::Workers::start(USER_CLIENTS + BOARD_CLIENTS, |worker| {
            let posts_by = (worker >= USER_CLIENTS).then_some(author);
            let (client, swapped) = (app.fresh(), swapped.clone());
            move |stop, tally| client_load(client, posts_by, worker, stop, swapped, tally)
        });
        Self { swapped, workers }
    }

    fn stop(self) -> Tally {
        self.workers.stop()
    }
}

/// Waits until the user service answers with a build other than `old`; returns it.
fn wait_for_a_new_version(app: &RunningApp, old: &str) -> String {
    eventually(Duration::from_secs(20), || {
        let version = app.client.service_version("/users/health");
        (version != old).then_some(version)
    })
    .unwrap_or_else(|| panic!("the new build was not swapped in:\n{}", app.log()))
}

#[test]
fn a_broken_build_is_refused_and_the_previous_one_keeps_serving() {
    assert!(!Host::detect().is_spin(), "{DEVHOST_ONLY}");
    let (files, app) = start_watched_copy();
    let before = app.client.service_version("/users/health");
    std::fs::write(
        files.path().join("user_component.wasm"),
        b"\0asm not really",
    )
    .unwrap();
    eventually(Duration::from_secs(10), || {
        app.log().contains("refused the new build")
    })
    .unwrap_or_else(|| panic!("no refusal logged:\n{}", app.log()));
    assert_eq!(app.client.service_version("/users/health"), before);
}
