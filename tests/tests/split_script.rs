//! `scripts/split` (what `make split` runs): two supervised processes on two ports, board
//! finding user over HTTP; when one process exits (as `scripts/swap` makes it on Spin), only that
//! one is started again; stopping the script stops both.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::host::free_port;
use e2e::{process, workspace};

fn pid_of(dir: &Path, component: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(format!(".spin/split/{component}.pid")))
        .ok()
        .map(|pid| pid.trim().to_owned())
}

fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        let output = std::fs::read_to_string(log).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{output}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answers(client: &Client, path: &str) -> bool {
    client
        .try_send("GET", path, None, b"")
        .is_ok_and(|reply| reply.status == 200)
}

/// `scripts/split` in a process group of its own; dropping it stops it as Ctrl-C would.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        process::signal_group(self.0.id(), libc::SIGTERM);
        let _ = self.0.wait();
    }
}

#[test]
fn split_mode_runs_two_supervised_processes_and_restarts_only_the_one_that_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (user_addr, board_addr) = (free_port(), free_port());
    let log = dir.path().join("split.log");
    let output = std::fs::File::create(&log).unwrap();
    let script = Script(
        Command::new(workspace().join("scripts/split"))
            .env("USER_ADDR", user_addr.to_string())
            .env("BOARD_ADDR", board_addr.to_string())
            .env("SPLIT_DIR", dir.path())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let (user, board) = (
        Client::new(&format!("http://{user_addr}")),
        Client::new(&format!("http://{board_addr}")),
    );
    wait_for("both services", &log, || {
        answers(&user, "/users/health") && answers(&board, "/boards/health")
    });
    assert_eq!(
        user.get("/boards/health").status,
        404,
        "the user process serves users only"
    );
    assert_eq!(
        board.get("/users/health").status,
        404,
        "the board process serves boards only"
    );

    let ann = user.sign_up("ann@example.org", "Ann");
    let post = board.write_post(ann, "over HTTP")["id"].as_i64().unwrap();
    assert_eq!(
        board.get(&format!("/boards/{post}")).json()["author"]["name"],
        "Ann"
    );

    let user_pid = pid_of(dir.path(), "user-component").unwrap();
    let old_board_pid = pid_of(dir.path(), "board-component").unwrap();
    // A crash of the board host: SIGKILL to its whole process group.
    process::signal_group(old_board_pid.parse().unwrap(), libc::SIGKILL);
    wait_for("board to be restarted", &log, || {
        pid_of(dir.path(), "board-component").is_some_and(|pid| pid != old_board_pid)
            && answers(&board, "/boards/health")
    });
    assert_eq!(
        pid_of(dir.path(), "user-component").unwrap(),
        user_pid,
        "user was not touched"
    );
    assert_eq!(board.get(&format!("/boards/{post}")).status, 200);

    let user_group = user_pid.parse().unwrap();
    let board_group = pid_of(dir.path(), "board-component")
        .unwrap()
        .parse()
        .unwrap();
    drop(script);
    // The script waits for both groups before it exits: nothing of them may be left.
    assert_eq!(
        process::group_members(user_group),
        Vec::<u32>::new(),
        "user still running"
    );
    assert_eq!(
        process::group_members(board_group),
        Vec::<u32>::new(),
        "board still running"
    );
    assert!(
        user.try_send("GET", "/users/health", None, b"").is_err(),
        "user still answers"
    );
    assert!(
        board.try_send("GET", "/boards/health", None, b"").is_err(),
        "board still answers"
    );
}
