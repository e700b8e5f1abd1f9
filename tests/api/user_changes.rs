//! Renames and the change feed of the user service: only the account itself renames, with its
//! email and password as HTTP Basic credentials, and every sign-up and rename becomes a
//! numbered change that other services page through without losing or repeating one.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use e2e::client::{basic, Client, Reply};
use e2e::db::Store;
use e2e::host::RunningApp;
use e2e::load::StopFlag;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";

/// Every change after `after`, read in pages of `limit`.
fn all_changes(client: &Client, limit: usize) -> Vec<Value> {
    let (mut after, mut changes) = (0, Vec::new());
    loop {
        let page = client
            .get(&format!("/users/changes?after={after}&limit={limit}"))
            .json();
        let batch = page["changes"].as_array().unwrap().clone();
        after = page["lastSeq"].as_i64().unwrap();
        if batch.is_empty() {
            return changes;
        }
        changes.extend(batch);
    }
}

#[test]
fn a_user_renames_itself_and_the_feed_records_sign_up_and_rename_without_the_email() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let reply = app
        .client
        .rename_as(ann, Some(&basic("ANN@example.org", PASSWORD)), " Annie ");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["name"], "Annie");
    assert!(reply.json().get("email").is_none());
    assert_eq!(
        app.client.get(&format!("/users/{ann}")).json()["name"],
        "Annie"
    );

    let changes = all_changes(&app.client, 1);
    let seen: Vec<(i64, i64, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["seq"].as_i64().unwrap(),
                c["userId"].as_i64().unwrap(),
                c["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(1, ann, "Ann"), (2, ann, "Annie")]);
    let feed = app.client.get("/users/changes").text();
    assert!(
        !feed.contains("ann@example.org") && !feed.contains("argon2"),
        "{feed}"
    );
}

#[test]
fn renames_without_that_accounts_valid_credentials_are_refused_and_change_nothing() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    let users_db = app.store("users");
    let before = users_and_changes(&users_db);
    let wrong_password = basic("ann@example.org", "wrong horse");
    let unknown = basic("nobody@example.org", PASSWORD);
    let other = basic("bob@example.org", PASSWORD);
    let not_basic = "Digest abc".to_owned();
    for (what, authorization, status) in [
        ("no credentials", None, 401),
        ("not Basic", Some(&not_basic), 401),
        ("wrong password", Some(&wrong_password), 401),
        ("unknown email", Some(&unknown), 401),
        ("another account", Some(&other), 403),
    ] {
        let reply = app
            .client
            .rename_as(ann, authorization.map(String::as_str), "Mallory");
        assert_refused(&reply, status, what);
    }
    let own = basic("bob@example.org", PASSWORD);
    app.client.rename_as(999, Some(&own), "Bob").problem(404);
    app.client.rename_as(bob, Some(&own), "").problem(422);
    let reply = app.client.send_json_as(
        "PATCH",
        &format!("/users/{bob}"),
        Some(&own),
        &json!({ "name": "Bob", "email": "x@y.org" }),
    );
    reply.problem(422);
    assert_eq!(
        users_and_changes(&users_db),
        before,
        "a refused rename wrote something"
    );
    assert_eq!(
        app.client.get(&format!("/users/{ann}")).json()["name"],
        "Ann"
    );
    let log = app.log();
    assert!(
        !log.contains(PASSWORD) && !log.contains("wrong horse"),
        "a password reached the log"
    );
}

/// Both tables a rename touches, row by row.
fn users_and_changes(users_db: &Store) -> (Vec<String>, Vec<String>) {
    (users_db.dump("users"), users_db.dump("user_changes"))
}

/// `status`, a Basic challenge with a 401, and no password echoed.
fn assert_refused(reply: &Reply, status: u16, what: &str) {
    reply.problem(status);
    if status == 401 {
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Basic "), "{what}: {challenge:?}");
    }
    assert!(
        !reply.text().contains(PASSWORD) && !reply.text().contains("wrong horse"),
        "{what}"
    );
}

#[test]
fn the_feed_refuses_bad_paging_parameters() {
    let app = RunningApp::start_default();
    for query in ["limit=0", "limit=1001", "limit=x", "after=-1", "after=1.5"] {
        app.client
            .get(&format!("/users/changes?{query}"))
            .problem(400);
    }
    let empty = app.client.get("/users/changes?after=0&limit=1000").json();
    assert_eq!(empty, json!({ "changes": [], "lastSeq": 0 }));
}

/// A client of the feed, as another service would be: pages of 7 from where it left off.
#[derive(Default)]
struct FeedReader {
    after: i64,
    seqs: Vec<i64>,
    users: BTreeSet<i64>,
}

impl FeedReader {
    /// Reads the next page; returns how many changes it held.
    fn read_page(&mut self, client: &Client) -> usize {
        let page = client
            .get(&format!("/users/changes?after={}&limit=7", self.after))
            .json();
        let changes = page["changes"].as_array().unwrap();
        for change in changes {
            self.seqs.push(change["seq"].as_i64().unwrap());
            self.users.insert(change["userId"].as_i64().unwrap());
        }
        self.after = page["lastSeq"].as_i64().unwrap();
        changes.len()
    }
}

#[test]
fn feed_pages_read_during_concurrent_sign_ups_lose_and_repeat_nothing() {
    const WRITERS: usize = 4;
    let app = RunningApp::start_default();
    let stop = StopFlag::default();
    let created = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|worker| {
            let (client, stop, created) = (
                Client::new(app.client.base()),
                stop.watcher(),
                created.clone(),
            );
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = client.sign_up(&format!("w{worker}-{n}@example.org"), "W");
                    created.lock().unwrap().insert(id);
                }
            })
        })
        .collect();
    // Page while the writers run; the last reads after they stop pick up the rest.
    let reader = Client::new(app.client.base());
    let mut feed = FeedReader::default();
    for _ in 0..60 {
        feed.read_page(&reader);
        thread::sleep(Duration::from_millis(50));
    }
    stop.raise();
    for writer in writers {
        writer.join().unwrap();
    }
    while feed.read_page(&reader) > 0 {}
    let (seqs, users) = (feed.seqs, feed.users);
    let created = created.lock().unwrap();
    eprintln!(
        "feed: {} sign-ups by {WRITERS} writers, read in {} changes",
        created.len(),
        seqs.len()
    );
    assert_eq!(
        seqs,
        (1..=created.len() as i64).collect::<Vec<_>>(),
        "seqs must run 1, 2, 3, ... once each"
    );
    assert_eq!(users, *created);
}
