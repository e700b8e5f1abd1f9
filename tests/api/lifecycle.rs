//! Stopping and starting like a service, on the run's host: SIGTERM and SIGINT end the host with
//! status 0; requests in flight at SIGTERM still get their answer (devhost); a failed `accept`
//! does not stop the server (devhost); the listen address can come from `SPIN_HTTP_LISTEN_ADDR`
//! and application variables from a `.env` file in the working directory, as in Spin; devhost's
//! own log can be JSON.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use e2e::host::{write_file, AppSpec, Host, RunningApp};
use e2e::wait::eventually;

const DEVHOST_ONLY_DRAIN: &str = "Spin 4.0.2 aborts its accept loop on SIGTERM and exits without \
     waiting for requests in flight (crates/trigger/src/cli.rs): skip this test by name on Spin";
const DEVHOST_ONLY_LOG_FORMAT: &str =
    "devhost's --log-format; Spin has no such option: skip this test by name on Spin";
const DEVHOST_ONLY_ACCEPT: &str = "Spin 4.0.2 ends its server on the first failed accept \
     (crates/trigger-http/src/server.rs, serve_http): skip this test by name on Spin";

#[test]
fn sigterm_and_sigint_each_stop_the_host_with_status_0() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut app = RunningApp::start_default();
        app.client.sign_up(&format!("{name}@example.org"), name);
        let status = app.stop_with(signal);
        assert_eq!(status.code(), Some(0), "{name}: {status:?}\n{}", app.log());
    }
}

/// A sign-up whose body the client sends in two parts, with SIGTERM between them.
#[test]
fn a_request_in_flight_at_sigterm_is_answered_and_then_the_host_exits() {
    assert!(!Host::detect().is_spin(), "{DEVHOST_ONLY_DRAIN}");
    let mut app = RunningApp::start_default();
    let body = r#"{"email":"late@example.org","name":"Late","password":"a long enough password"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = TcpStream::connect(app.addr).unwrap();
    write!(
        stream,
        "POST /users HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{first}",
        app.addr,
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let pid = app.pid().unwrap();
    e2e::process::signal_group(pid, libc::SIGTERM);
    eventually(Duration::from_secs(10), || {
        TcpStream::connect(app.addr).is_err()
    })
    .expect("still accepting after SIGTERM");

    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "{answer}\n{}",
        app.log()
    );
    let status = app.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", app.log());
    assert!(
        app.log().contains("every request finished"),
        "{}",
        app.log()
    );
}

/// Out of file descriptors, `accept` fails; once some are free again, the server takes the
/// connections that waited and new ones.
#[test]
fn a_failed_accept_is_logged_and_the_server_goes_on() {
    assert!(!Host::detect().is_spin(), "{DEVHOST_ONLY_ACCEPT}");
    let app = RunningApp::start_default();
    let pid = app.pid().unwrap();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    // Only the soft limit moves: raising a hard limit again takes a privilege tests lack.
    let (soft, hard) = nofile_limits(pid);
    set_soft_nofile_limit(pid, open + 2, hard);

    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(app.addr).unwrap())
        .collect();
    eventually(Duration::from_secs(10), || {
        app.log().contains("accept failed")
    })
    .unwrap_or_else(|| panic!("no failed accept:\n{}", app.log()));
    drop(idle);
    set_soft_nofile_limit(pid, soft, hard);

    let health = app.client.get("/users/health");
    assert_eq!(health.status, 200, "{}", app.log());
    let id = app.client.sign_up("after@example.org", "After");
    assert_eq!(app.client.get(&format!("/users/{id}")).status, 200);
}

/// The process's open-file limits, soft and hard.
fn nofile_limits(pid: u32) -> (usize, usize) {
    let output = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            "--nofile",
            "--raw",
            "--noheadings",
            "--output=SOFT,HARD",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let limits: Vec<usize> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (limits[0], limits[1])
}

fn set_soft_nofile_limit(pid: u32, soft: usize, hard: usize) {
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={soft}:{hard}"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_listen_address_can_come_from_spin_http_listen_addr() {
    let app = RunningApp::start(AppSpec {
        listen_via_env: true,
        ..AppSpec::default()
    });
    let health = app.client.get("/users/health");
    assert_eq!(health.status, 200, "{}", app.log());
}

/// Board alone finds the user service through `SPIN_VARIABLE_USER_SERVICE_URL` written in a
/// `.env` file, as split mode's board would; without it board could not check the author.
#[test]
fn application_variables_can_come_from_a_dotenv_file() {
    let user = RunningApp::start(AppSpec {
        component_ids: vec!["user-component".into()],
        ..AppSpec::default()
    });
    let ann = user.client.sign_up("ann@example.org", "Ann");
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        ".env",
        &format!(
            "# board finds users here\nSPIN_VARIABLE_USER_SERVICE_URL=http://{}\n",
            user.addr
        ),
    );
    let mut board = RunningApp::start(AppSpec {
        component_ids: vec!["board-component".into()],
        dir: Some(dir.path().to_path_buf()),
        ..AppSpec::default()
    });
    board.client.share_accounts(user.client.accounts());
    // Board fetches the user service's keys, at the address the .env gave it, to check the token.
    let post = board.client.write_post(ann, "configured by .env");
    let read = board.client.get(&format!("/boards/{}", post["id"]));
    assert_eq!(read.status, 200, "{}", board.log());
    assert_eq!(read.json()["author"]["name"], "Ann", "{}", board.log());
}

/// devhost's own events as JSON lines, a request's facts as fields (component output stays
/// prefixed text: it is the component's, not devhost's).
#[test]
fn devhosts_log_can_be_json_with_each_requests_facts_as_fields() {
    assert!(!Host::detect().is_spin(), "{DEVHOST_ONLY_LOG_FORMAT}");
    let app = RunningApp::start(AppSpec {
        env: vec![("DEVHOST_LOG_FORMAT".into(), "json".into())],
        ..AppSpec::default()
    });
    let ann = app.client.sign_up("ann@example.org", "Ann");
    app.client.write_post(ann, "logged");
    let log = app.log();
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request = |component: &str, method: &str, path: &str| {
        events.iter().find(|event| {
            event["message"] == "request"
                && event["component"] == component
                && event["method"] == method
                && event["path"] == path
        })
    };
    let sign_up = request("user-component", "POST", "/users").expect(&log);
    assert_eq!(sign_up["status"], 201);
    assert_eq!(sign_up["chained"], false);
    assert!(sign_up["micros"].as_u64().is_some_and(|micros| micros > 0));
    // The first post fetches the user service's signing keys, by chaining.
    let keys = request("user-component", "GET", "/users/keys").expect(&log);
    assert_eq!(keys["chained"], true);
    assert_eq!(
        request("board-component", "POST", "/boards").expect(&log)["status"],
        201
    );
}
