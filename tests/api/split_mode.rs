//! Split mode (`make split`, `scripts/split`) and its blue-green swap (`make swap`,
//! `scripts/swap`), on the run's host: the whole API on one gateway address (HAProxy), each
//! service its own process group; a service process that exits is started again alone; a new
//! build replaces one service under load without failing a request; a build that cannot start
//! is refused; and when split mode stops, nothing of it is left.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use e2e::client::Client;
use e2e::split::{self, SplitScript};
use e2e::{load, process, swap_test_wasm};
use serde_json::{json, Value};

/// Load before and after each swap.
const PHASE: Duration = Duration::from_secs(3);

#[test]
fn split_mode_serves_the_whole_api_on_one_address_and_restarts_only_the_one_that_exits() {
    let split = SplitScript::start();
    let ann = split.gateway.sign_up("ann@example.org", "Ann");
    let post = split.gateway.write_post(ann, "through the gateway")["id"]
        .as_i64()
        .unwrap();
    let read = split.gateway.get(&format!("/boards/{post}")).json();
    assert_eq!(read["author"], json!({ "id": ann, "name": "Ann" }));
    let nowhere = split.gateway.get("/nowhere");
    assert_eq!((nowhere.status, nowhere.body.len()), (404, 0));

    let user_pid = split.pid("user-component");
    let old_board = split.pid("board-component");
    let status = split::script_command("status", split.dir.path())
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    for expected in [
        format!("pid {user_pid}"),
        format!("pid {old_board}"),
        "user-component/0.1.0+local".to_owned(),
        "board-component/0.1.0+local".to_owned(),
        "HAProxy, running".to_owned(),
    ] {
        assert!(
            status.contains(&expected),
            "`make status` lacks {expected:?}:\n{status}"
        );
    }
    // A crash of the board host: SIGKILL to its whole process group.
    process::signal_group(old_board, libc::SIGKILL);
    split.wait_for("board to be started again", || {
        split.pid("board-component") != old_board
            && split::answers(&split.gateway, "/boards/health")
    });
    assert_eq!(
        split.pid("user-component"),
        user_pid,
        "user was not touched"
    );
    assert_eq!(split.gateway.get(&format!("/boards/{post}")).status, 200);
    split.stop();
}

/// Everything the load's clients saw.
#[derive(Default)]
struct Tally {
    answered: usize,
    unexpected: Vec<String>,
    users: Vec<i64>,
    posts: Vec<i64>,
}

/// One client of the load, sending `request(n)` back to back until `stop`; `expected` is the
/// status every answer must have.
fn client(
    base: String,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
    request: impl Fn(usize) -> (&'static str, String, Option<Value>),
) {
    let client = Client::new(&base);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (method, path, body) = request(n);
        let reply = match &body {
            Some(body) => client.try_send(
                method,
                &path,
                Some("application/json"),
                body.to_string().as_bytes(),
            ),
            None => client.try_send(method, &path, None, b""),
        };
        done.fetch_add(1, Ordering::Relaxed);
        let expected = if method == "POST" { 201 } else { 200 };
        let mut tally = tally.lock().unwrap();
        match reply {
            Ok(reply) if reply.status == expected => {
                tally.answered += 1;
                if method == "POST" {
                    let id = reply.json()["id"].as_i64().unwrap();
                    if path == "/users" {
                        tally.users.push(id)
                    } else {
                        tally.posts.push(id)
                    }
                }
            }
            Ok(reply) => tally.unexpected.push(format!(
                "{method} {path}: {} {}",
                reply.status,
                reply.text()
            )),
            Err(error) => tally.unexpected.push(format!("{method} {path}: {error}")),
        }
    }
}

/// Swaps `component` for `wasm` while the load runs; returns the swap's own report line and how
/// many requests were answered while it ran.
fn swap_under_load(
    split: &SplitScript,
    component: &str,
    wasm: &Path,
    done: &AtomicUsize,
) -> (String, usize) {
    let before = done.load(Ordering::Relaxed);
    let output = split.swap(component, wasm);
    let during = done.load(Ordering::Relaxed) - before;
    let report = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success(),
        "{report}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        split.log()
    );
    (report, during)
}

#[test]
fn swapping_each_service_behind_the_gateway_under_load_fails_no_request() {
    let split = SplitScript::start();
    let author = split.gateway.sign_up("author@example.org", "A");
    let first_post = split.gateway.write_post(author, "first")["id"]
        .as_i64()
        .unwrap();
    let (user_before, board_before) = (
        split.version("/users/health"),
        split.version("/boards/health"),
    );

    let load = GatewayLoad::start(split.gateway.base(), author, first_post);
    thread::sleep(PHASE);
    let (user_report, user_during) =
        swap_one_leaving_the_other(&split, ("user-component", "board-component"), &load.done);
    let user_after = split.version("/users/health");
    assert_ne!(user_after, user_before);
    assert_eq!(split.version("/boards/health"), board_before);

    thread::sleep(PHASE);
    let (board_report, board_during) =
        swap_one_leaving_the_other(&split, ("board-component", "user-component"), &load.done);
    assert_eq!(split.version("/users/health"), user_after);

    thread::sleep(PHASE);
    let tally = load.stop();
    eprintln!(
        "gateway swap: {} requests answered, {} failed; during the user swap {user_during}, during the board swap {board_during}\n  {user_report}\n  {board_report}",
        tally.answered,
        tally.unexpected.len()
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert!(
        user_during > 0 && board_during > 0,
        "the load did not run during the swaps"
    );
    assert!(!tally.users.is_empty() && !tally.posts.is_empty());
    split
        .gateway
        .assert_readable(&tally.users, &tally.posts, "after both swaps");
    split.stop();
}

/// Swaps `component` for its swap-test build under load; asserts it serves that build and the
/// `other` service's process was not touched. Returns the swap's report and how many requests
/// were answered while it ran.
fn swap_one_leaving_the_other(
    split: &SplitScript,
    (component, other): (&str, &str),
    done: &AtomicUsize,
) -> (String, usize) {
    let other_pid = split.pid(other);
    let crate_name = component.replace('-', "_");
    let swapped = swap_under_load(split, component, &swap_test_wasm(&crate_name), done);
    let health = format!(
        "/{}/health",
        if component == "user-component" {
            "users"
        } else {
            "boards"
        }
    );
    assert_eq!(
        split.version(&health),
        format!("{component}/0.1.0+swap-test")
    );
    assert_eq!(split.pid(other), other_pid, "{other}'s process was touched");
    swapped
}

type LoadRequest = Box<dyn Fn(usize) -> (&'static str, String, Option<Value>) + Send>;

/// One client per kind of request, through the gateway, until stopped; `done` counts the
/// answers.
struct GatewayLoad {
    done: Arc<AtomicUsize>,
    workers: load::Workers<Tally>,
}

impl GatewayLoad {
    fn start(base: &str, author: i64, post: i64) -> Self {
        let requests: Vec<LoadRequest> = vec![
            Box::new(|n| {
                (
                    "POST",
                    "/users".into(),
                    Some(
                        json!({ "email": format!("load-{n}@example.org"), "name": "Load", "password": "correct horse" }),
                    ),
                )
            }),
            Box::new(move |_| {
                (
                    "POST",
                    "/boards".into(),
                    Some(json!({ "userId": author, "title": "load", "content": "steady" })),
                )
            }),
            Box::new(move |_| ("GET", format!("/users/{author}"), None)),
            Box::new(move |_| ("GET", format!("/boards/{post}"), None)),
            Box::new(|_| ("GET", "/boards?limit=5".into(), None)),
        ];
        let done = Arc::new(AtomicUsize::new(0));
        let mut requests = requests.into_iter();
        let workers = load::Workers::start(requests.len(), |_| {
            let request = requests.next().expect("one request per worker");
            let (base, done) = (base.to_owned(), done.clone());
            move |stop, tally| client(base, stop, done, tally, request)
        });
        Self { done, workers }
    }

    fn stop(self) -> Tally {
        self.workers.stop()
    }
}

#[test]
fn a_build_that_cannot_start_is_refused_and_the_old_one_keeps_serving() {
    let split = SplitScript::start();
    let files = tempfile::tempdir().unwrap();
    let not_wasm = files.path().join("not-wasm.wasm");
    std::fs::write(&not_wasm, b"this is not wasm").unwrap();
    // A valid module whose start function traps, and which exports no HTTP handler.
    let traps = files.path().join("traps.wasm");
    std::fs::write(
        &traps,
        b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x08\x01\0\x0a\x05\x01\x03\0\0\x0b",
    )
    .unwrap();
    let (pid, version) = (split.pid("user-component"), split.version("/users/health"));
    for broken in [&not_wasm, &traps] {
        let output = split.swap("user-component", broken);
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{} was put into service",
            broken.display()
        );
        assert!(
            said.contains("refused the new build of user-component"),
            "{said}"
        );
        assert!(said.contains(&format!("{version} keeps serving")), "{said}");
        assert_eq!(split.pid("user-component"), pid);
        assert_eq!(split.version("/users/health"), version);
    }
    split.stop();
}

#[test]
fn more_than_one_replica_on_local_files_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let output = split::script_command("split", dir.path())
        .env("DB", "file")
        .env("REPLICAS", "2")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "split mode started: {said}");
    assert!(
        said.contains("not shared between pods") && said.contains("DB=libsql"),
        "{said}"
    );
}
