//! Split mode (`make split`, `scripts/split`) and its blue-green swap (`make swap`,
//! `scripts/swap`), on the run's host: the whole API on one gateway address (HAProxy), each
//! service its own process group; a service process that exits is started again alone; a new
//! build replaces one service under load without failing a request, even when the old
//! processes die abruptly; a build that cannot start
//! is refused; and when split mode stops, nothing of it is left.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use e2e::double::DyingServer;
use e2e::gateway_load::{swap_under_load, Checked, GatewayLoad};
use e2e::load::StopFlag;
use e2e::split::{self, SplitScript};
use e2e::{built_wasm, process, swap_test_wasm};
use serde_json::json;

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
    // Every other path is the web page's: its file, or its 404.
    assert!(split.version("/").starts_with("web-component/"));
    split.gateway.get("/nowhere").problem(404);

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

/// Swaps of each service in the repeated swap test, user and board alternating.
const SWAPS_PER_SERVICE: usize = 10;

#[test]
fn swapping_each_service_ten_times_under_load_with_abrupt_exits_fails_no_request() {
    let split = SplitScript::start();
    let services = [
        Service::new(&split, "user-component", "users"),
        Service::new(&split, "board-component", "boards"),
    ];
    let load = GatewayLoad::start_on(&split);
    thread::sleep(PHASE);
    let mut per_swap = Vec::new();
    for round in 0..SWAPS_PER_SERVICE {
        for (service, other) in [(&services[0], &services[1]), (&services[1], &services[0])] {
            let (wasm, version) = service.build(round);
            let other_pids = split.pids(other.component);
            let (during, _) = swap_under_load(&split, service.component, wasm, &load.done);
            assert_eq!(split.version(&service.health), *version);
            assert_eq!(
                split.pids(other.component),
                other_pids,
                "{} was touched",
                other.component
            );
            per_swap.push(format!("{} {during}", service.path));
        }
    }
    thread::sleep(PHASE);
    let Checked { tally, requests } = load.stop_and_check(&split);
    let retried = requests
        .iter()
        .filter(|request| request.retries > 0)
        .count();
    eprintln!(
        "gateway swaps, abrupt exits: {} swaps, {} client requests answered, 0 failed; the gateway \
         logged {} requests (board's calls to the user service included), 0 failed, {retried} \
         retried\n  requests during each swap: {}",
        per_swap.len(),
        tally.answered,
        requests.len(),
        per_swap.join(", ")
    );
    assert!(
        per_swap.iter().all(|swap| !swap.ends_with(" 0")),
        "the load did not run during every swap"
    );
    split
        .gateway
        .assert_readable(&tally.users, &tally.posts, "after every swap");
    split.stop();
}

/// A service of the swap test and the two builds it alternates between.
struct Service {
    component: &'static str,
    path: &'static str,
    health: String,
    /// (wasm, the version it reports): the swap-test build, then the one split mode started.
    builds: [(PathBuf, String); 2],
}

impl Service {
    fn new(split: &SplitScript, component: &'static str, path: &'static str) -> Self {
        let crate_name = component.replace('-', "_");
        let health = format!("/{path}/health");
        let builds = [
            (
                swap_test_wasm(&crate_name),
                format!("{component}/0.1.0+swap-test"),
            ),
            (built_wasm(&crate_name), split.version(&health)),
        ];
        Self {
            component,
            path,
            health,
            builds,
        }
    }

    fn build(&self, round: usize) -> &(PathBuf, String) {
        &self.builds[round % 2]
    }
}

#[test]
fn the_gateway_sends_a_get_a_dying_process_dropped_to_another_replica_and_never_repeats_a_post() {
    let split = SplitScript::start();
    let ann = split.gateway.sign_up("ann@example.org", "Ann");
    // A user replica that passes its health checks and dies with every other request in flight.
    let dying = DyingServer::start(|request| {
        request
            .starts_with("GET /users/health ")
            .then(|| (200, br#"{"status":"ok"}"#.to_vec()))
    });
    split.put_in_slot("users", "green1", dying.addr);

    let before = split.gateway_requests().len();
    let reads: Vec<u16> = (0..20)
        .map(|_| split.gateway.get(&format!("/users/{ann}")).status)
        .collect();
    assert!(reads.iter().all(|status| *status == 200), "{reads:?}");
    let dropped_reads = dying.dropped().len();
    assert!(dropped_reads > 0, "no read reached the dying replica");
    // The gateway itself answered each (the client library would have hidden a closed
    // connection by sending the GET again).
    // The gateway logs a request once it is over, which can be just after its answer.
    split.wait_for("the gateway to log every read", || {
        split.gateway_requests().len() >= before + 20
    });
    let logged = split.gateway_requests().split_off(before);
    assert_eq!(logged.len(), 20, "{logged:#?}");
    assert!(logged.iter().all(|read| !read.failed()), "{logged:#?}");
    assert!(logged.iter().any(|read| read.retries > 0), "{logged:#?}");

    let mut lost = Vec::new();
    for n in 0..10 {
        let email = format!("sign-up-{n}@example.org");
        let body = json!({ "email": email, "name": "N", "password": "correct horse" });
        let reply = split.gateway.try_send(
            "POST",
            "/users",
            Some("application/json"),
            body.to_string().as_bytes(),
        );
        match reply {
            Ok(reply) if reply.status == 201 => {}
            Ok(reply) => {
                reply.problem(502);
                lost.push(email);
            }
            // On a kept-alive connection the gateway closes instead of sending its 502, as
            // HTTP/1.1 lets it: the client learns the same (no answer) and decides.
            Err(_) => lost.push(email),
        }
    }
    assert!(!lost.is_empty(), "no sign-up reached the dying replica");
    // Each lost sign-up reached the dying process once and was never sent on to a live one:
    // with it out of service, each email is still free.
    assert_eq!(dying.dropped().len() - dropped_reads, lost.len());
    split.gateway_command("set server users/green1 state maint");
    for email in &lost {
        let again = split.gateway.post_json(
            "/users",
            &json!({ "email": email, "name": "N", "password": "correct horse" }),
        );
        assert_eq!(again.status, 201, "{email}: {}", again.text());
    }
    eprintln!(
        "dying replica: {dropped_reads} of 20 reads reached it, all answered by another; {} of 10 \
         sign-ups reached it and got no answer or a 502, none repeated",
        lost.len()
    );
    split.stop();
}

#[test]
fn the_page_is_swapped_blue_green_under_reads_and_neither_service_is_touched() {
    let split = SplitScript::start();
    let services = [split.pids("user-component"), split.pids("board-component")];
    let before = split.version("/");
    let (reads, failures) = thread::scope(|scope| {
        // Inside the scope: should the swap panic, the flag drops, the reader stops, and the
        // scope's join returns instead of waiting on it for ever.
        let done = StopFlag::default();
        let (client, stopped) = (split.gateway.fresh(), done.watcher());
        let reader = scope.spawn(move || {
            let (mut reads, mut failures) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                match client.try_send("GET", "/app.js", None, b"") {
                    Ok(reply) if reply.status == 200 => reads += 1,
                    other => failures.push(format!("{other:?}")),
                }
            }
            (reads, failures)
        });
        let swapped = split.swap("web-component", &swap_test_wasm("web_component"));
        done.raise();
        assert!(swapped.status.success(), "{swapped:?}");
        reader.join().unwrap()
    });
    assert_eq!(failures, Vec::<String>::new(), "of {reads} reads");
    assert!(reads > 0);
    assert_eq!(before, "web-component/0.1.0+local");
    assert_eq!(split.version("/"), "web-component/0.1.0+swap-test");
    assert_eq!(
        [split.pids("user-component"), split.pids("board-component")],
        services,
        "the services were not touched"
    );
    split.stop();
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

/// A service whose processes all freeze (SIGSTOP) holds no client longer than the gateway's
/// timeout for it (5 s for board, `deploy/gateway/haproxy.cfg`): a request already sent and
/// the ones after it get the gateway's 503 problem+json with `Retry-After`; the user service
/// answers throughout, and board answers again once its processes resume.
#[test]
fn a_frozen_service_gets_the_gateways_503_within_its_timeout_and_the_other_answers() {
    let split = SplitScript::start();
    let ann = split.gateway.sign_up("ann@example.org", "Ann");
    let post = split.gateway.write_post(ann, "before")["id"]
        .as_i64()
        .unwrap();
    let boards = split.pids("board-component");
    for &pid in &boards {
        process::freeze_group(pid);
    }
    for attempt in 0..3 {
        let took = e2e::client::assert_unavailable_within(
            Duration::from_secs(6),
            &format!("GET /boards/{post}, attempt {attempt}"),
            || split.gateway.get(&format!("/boards/{post}")),
        );
        eprintln!("split mode: board frozen, the gateway's 503 after {took:?}");
    }
    assert_eq!(split.gateway.get(&format!("/users/{ann}")).status, 200);
    for &pid in &boards {
        process::signal_group(pid, libc::SIGCONT);
    }
    split.wait_for("board back after SIGCONT", || {
        split.gateway.get(&format!("/boards/{post}")).status == 200
    });
}
