//! `scripts/split` (what `make split` runs): two supervised processes on two ports, board
//! finding user over HTTP; when one process exits (as `scripts/swap` makes it on Spin), only that
//! one is started again; stopping the script stops both.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::host::free_port;
use e2e::workspace;

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

struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
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
    assert!(Command::new("kill")
        .args(["-9", &old_board_pid])
        .status()
        .unwrap()
        .success());
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

    drop(script);
    assert!(
        user.try_send("GET", "/users/health", None, b"").is_err(),
        "user still running"
    );
    assert!(
        board.try_send("GET", "/boards/health", None, b"").is_err(),
        "board still running"
    );
}
