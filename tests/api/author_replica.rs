//! Board's replica of its authors' names, fed by the user service's change feed: renames show
//! within the sync interval, a burst of reads pulls the feed once, old databases upgrade in
//! place, and crashes leave replica and feed in agreement. (Reads answering with the names
//! they know while the user service is down: `independence.rs`.)

use std::thread;
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::db::Store;
use e2e::host::{AppSpec, RunningApp, LABELS};
use e2e::load;
use e2e::split::SplitApp;
use e2e::wait::eventually;
use e2e::workspace;
use serde_json::Value;

/// A short sync interval keeps the tests quick; the default is 2 s.
const INTERVAL: Duration = Duration::from_secs(1);

fn with_interval(seconds: &str) -> AppSpec {
    AppSpec {
        env: vec![(
            "SPIN_VARIABLE_AUTHOR_SYNC_INTERVAL".to_owned(),
            seconds.to_owned(),
        )],
        ..AppSpec::default()
    }
}

fn try_rename(
    client: &Client,
    id: i64,
    email: &str,
    name: &str,
) -> Result<e2e::client::Reply, String> {
    let credentials = e2e::client::basic(email, e2e::client::PASSWORD);
    client.try_rename_as(id, Some(&credentials), name)
}

fn rename(client: &Client, id: i64, email: &str, name: &str) {
    let reply = try_rename(client, id, email, name).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn author_of(client: &Client, post: i64) -> Value {
    let reply = client.get(&format!("/boards/{post}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["author"].clone()
}

fn feed_reads(app: &RunningApp) -> usize {
    app.component_stderr("user-component")
        .matches("change feed read")
        .count()
}

#[test]
fn a_rename_shows_on_board_reads_within_the_interval() {
    let app = RunningApp::start(with_interval("1"));
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let post = app.client.write_post(ann, "hello")["id"].as_i64().unwrap();
    assert_eq!(author_of(&app.client, post)["name"], "Ann");
    rename(&app.client, ann, "ann@example.org", "Annie");
    let renamed = Instant::now();
    // The interval, plus the read that finds the feed due and the pull after it.
    eventually(INTERVAL + Duration::from_secs(2), || {
        author_of(&app.client, post)["name"] == "Annie"
    })
    .unwrap_or_else(|| panic!("the rename did not show:\n{}", app.log()));
    eprintln!(
        "replica: the rename showed on board {:?} after it",
        renamed.elapsed()
    );
}

#[test]
fn fifty_concurrent_reads_after_the_interval_pull_the_feed_once() {
    const READERS: usize = 50;
    let interval = Duration::from_secs(3);
    let app = RunningApp::start(with_interval("3"));
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let post = app.client.write_post(ann, "t")["id"].as_i64().unwrap();
    author_of(&app.client, post);
    thread::sleep(interval + Duration::from_millis(300));
    let before = feed_reads(&app);
    let readers = load::at_once(READERS, |_| {
        Client::new(app.client.base())
            .get(&format!("/boards/{post}"))
            .status
    });
    for (status, _) in readers {
        assert_eq!(status, 200);
    }
    // The pull runs after the responses; give it a moment to be logged.
    eventually(Duration::from_secs(2), || feed_reads(&app) != before);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        feed_reads(&app) - before,
        1,
        "{}",
        app.component_stderr("user-component")
    );
}

#[test]
fn a_boards_database_from_before_the_replica_upgrades_in_place_and_repairs_its_authors() {
    let dir = tempfile::tempdir().unwrap();
    let boards_db = dir.path().join(".spin/boards.db");
    std::fs::create_dir_all(boards_db.parent().unwrap()).unwrap();
    std::fs::copy(
        workspace().join("tests/fixtures/databases/boards-v2.db"),
        &boards_db,
    )
    .unwrap();
    // Made by the code of before the replica, when the posts' table was still called `boards`.
    let file = Store::File(boards_db);
    let posts_before = file.dump("boards");
    assert_eq!(posts_before.len(), 3);

    let mut split = SplitApp::start_in(dir);
    split.user.stop();
    // Authors board has never met, and no user service to ask: the posts still load.
    let page = split.board.client.get("/boards").json();
    let authors: Vec<&Value> = page["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["author"])
        .collect();
    assert_eq!(authors, [&Value::Null, &Value::Null, &Value::Null]);

    split.user.restart();
    let ann = split.user.client.sign_up("ann@example.org", "Ann");
    let bob = split.user.client.sign_up("bob@example.org", "Bob");
    assert_eq!((ann, bob), (1, 2));
    let page = split.board.client.get("/boards").json();
    let names: Vec<&str> = page["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["author"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Bob", "Ann", "Bob"],
        "posts 3, 2, 1 by users 2, 1, 2"
    );

    // Read-repair kept them: they show with the user service gone again.
    split.user.stop();
    assert_eq!(author_of(&split.board.client, 1)["name"], "Bob");
    assert_eq!(
        file.dump("posts"),
        posts_before,
        "the posts are intact, in the table renamed `posts`"
    );
    assert_eq!(file.row_count("authors"), 2);
}

#[test]
fn after_sigkill_crash_rounds_the_replica_and_the_feed_agree() {
    const ROUNDS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let mut app = RunningApp::start(AppSpec {
        dir: Some(dir.path().to_path_buf()),
        ..with_interval("0.2")
    });
    let users: Vec<i64> = (0..4)
        .map(|i| {
            app.client
                .sign_up(&format!("u{i}@example.org"), &format!("User {i}"))
        })
        .collect();
    for &user in &users {
        app.client.write_post(user, "first");
    }
    for round in 0..ROUNDS {
        let load = rename_and_read(app.client.base(), users.clone(), round);
        thread::sleep(Duration::from_millis(700 + 300 * round as u64));
        app.kill();
        let _ = load.join();
        app.restart();
    }
    // Once a pull has run after the last rename, every author reads as the user service says.
    let expected = names_in_the_user_service(&app.client, &users);
    eventually(Duration::from_secs(10), || {
        authors_shown_by_board(&app.client) == expected
    })
    .unwrap_or_else(|| {
        let shown = authors_shown_by_board(&app.client);
        panic!("replica {shown:?} != users {expected:?}")
    });
    for label in LABELS {
        assert_eq!(app.store(label).integrity_check(), "ok", "{label}");
    }
}

/// Renames and reads (which pull the feed) until the host is killed under them.
fn rename_and_read(base: &str, users: Vec<i64>, round: usize) -> thread::JoinHandle<()> {
    let client = Client::new(base);
    thread::spawn(move || {
        for (n, user) in users.iter().cycle().enumerate().take(40) {
            let email = format!("u{}@example.org", user - 1);
            // A rename cut off by the kill may or may not have landed: the end state decides.
            let renamed = try_rename(
                &client,
                *user,
                &email,
                &format!("User {user} r{round} n{n}"),
            );
            if renamed.is_err()
                || client
                    .try_send("GET", "/boards?limit=50", None, b"")
                    .is_err()
            {
                return;
            }
        }
    })
}

/// `(id, name)` of each of `users`, as the user service has them, by id.
fn names_in_the_user_service(client: &Client, users: &[i64]) -> Vec<(i64, String)> {
    let ids: Vec<String> = users.iter().map(i64::to_string).collect();
    client.get(&format!("/users?ids={}", ids.join(","))).json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_i64().unwrap(),
                u["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `(userId, author name)` of every post board lists, each pair once, by id.
fn authors_shown_by_board(client: &Client) -> Vec<(i64, String)> {
    let page = client.get("/boards?limit=100").json();
    let mut shown: Vec<(i64, String)> = page["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["userId"].as_i64().unwrap(),
                p["author"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shown.sort();
    shown.dedup();
    shown
}
