//! Under concurrent load nothing is lost and nothing is duplicated: the unique constraint
//! decides races, SQLite's busy wait absorbs contention, and the row counts match the 201s.
//! Spin opens a connection per request, so these run the way production does on both hosts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::host::RunningApp;
use e2e::load;
use serde_json::json;

const SAME_EMAIL_SIGN_UPS: usize = 100;
const RACE_ROUNDS: usize = 5;
const LOAD_CONCURRENCY: usize = 32;
const LOAD_DURATION: Duration = Duration::from_secs(20);

/// 100 sign-ups with one email, released together against a fresh database: the first use of
/// the file (its migrations) races with the inserts. Returns (201s, 409s) and the statuses.
fn race_for_one_email(app: &RunningApp) -> (usize, usize, Vec<u16>) {
    let barrier = Arc::new(Barrier::new(SAME_EMAIL_SIGN_UPS));
    let base = app.client.base().to_owned();
    let workers: Vec<_> = (0..SAME_EMAIL_SIGN_UPS)
        .map(|i| {
            let (barrier, client) = (barrier.clone(), Client::new(&base));
            thread::spawn(move || {
                let body = json!({ "email": "race@example.org", "name": format!("Racer {i}"), "password": "correct horse" });
                barrier.wait();
                client.post_json("/users", &body).status
            })
        })
        .collect();
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    (created, conflicts, statuses)
}

#[test]
fn of_100_simultaneous_sign_ups_with_one_email_exactly_one_wins() {
    // Another app instance on the same machine under 32 writers: the CPU is contended, as it
    // is in production, which is when lock waits run out.
    let loaded = RunningApp::start_default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, stop) = (loaded.client.fresh(), stop.clone());
        let author = client.sign_up("author@example.org", "A");
        thread::spawn(move || write_load(&client, author, move || !stop.load(Ordering::Relaxed)))
    };
    for round in 1..=RACE_ROUNDS {
        let app = RunningApp::start_default();
        let (created, conflicts, statuses) = race_for_one_email(&app);
        assert_eq!(
            (created, conflicts),
            (1, SAME_EMAIL_SIGN_UPS - 1),
            "round {round}: {statuses:?}\n{}",
            app.log()
        );
        assert_eq!(app.store("users").row_count("users"), 1);
        assert_no_lock_errors(&app);
    }
    stop.store(true, Ordering::Relaxed);
    let load = load.join().unwrap();
    eprintln!(
        "race: {RACE_ROUNDS} rounds of 1 x 201 + 99 x 409, beside {} sign-ups and {} posts by {LOAD_CONCURRENCY} writers",
        load.users, load.posts
    );
    load.assert_clean(&loaded);
}

fn assert_no_lock_errors(app: &RunningApp) {
    let log = app.log();
    assert!(!log.contains("database is locked"), "{log}");
}

#[derive(Default)]
struct Counts {
    created: usize,
    other: Vec<String>,
}

fn hammer(
    client: &Client,
    keep_going: &impl Fn() -> bool,
    request: impl Fn(usize) -> (&'static str, serde_json::Value),
) -> Counts {
    let mut counts = Counts::default();
    load::send_while(client, keep_going, request, |path, reply| match reply {
        Ok(reply) if reply.status == 201 => counts.created += 1,
        Ok(reply) => counts
            .other
            .push(format!("{path}: {} {}", reply.status, reply.text())),
        Err(error) => counts.other.push(format!("{path}: {error}")),
    });
    counts
}

/// What `LOAD_CONCURRENCY` writers achieved: half sign up, half post by one author.
#[derive(Default)]
struct Load {
    users: usize,
    posts: usize,
    failures: Vec<String>,
}

impl Load {
    /// No unexpected answer, no lock error logged, and the rows are exactly the 201s.
    fn assert_clean(&self, app: &RunningApp) {
        assert!(
            self.failures.is_empty(),
            "{} unexpected answers, e.g. {:?}\n{}",
            self.failures.len(),
            self.failures.first(),
            app.log()
        );
        assert_no_lock_errors(app);
        assert_eq!(app.store("users").row_count("users"), self.users as i64 + 1);
        assert_eq!(app.store("boards").row_count("posts"), self.posts as i64);
    }
}

fn write_load(
    app: &Client,
    author: i64,
    keep_going: impl Fn() -> bool + Clone + Send + 'static,
) -> Load {
    let workers: Vec<_> = (0..LOAD_CONCURRENCY)
        .map(|worker| {
            let (client, keep_going) = (app.fresh(), keep_going.clone());
            thread::spawn(move || {
                if worker.is_multiple_of(2) {
                    let sign_up = move |n| ("/users", json!({ "email": format!("w{worker}-{n}@example.org"), "name": "W", "password": "correct horse" }));
                    ("users", hammer(&client, &keep_going, sign_up))
                } else {
                    let post = move |n| ("/boards", json!({ "userId": author, "title": format!("w{worker} #{n}"), "content": "load" }));
                    ("boards", hammer(&client, &keep_going, post))
                }
            })
        })
        .collect();
    let mut load = Load::default();
    for worker in workers {
        let (service, counts) = worker.join().unwrap();
        match service {
            "users" => load.users += counts.created,
            _ => load.posts += counts.created,
        }
        load.failures.extend(counts.other);
    }
    load
}

#[test]
fn writes_to_both_services_at_concurrency_32_for_20_seconds_all_land() {
    let app = RunningApp::start_default();
    let author = app.client.sign_up("author@example.org", "A");
    let until = Instant::now() + LOAD_DURATION;
    let load = write_load(&app.client, author, move || Instant::now() < until);
    eprintln!(
        "load: {} sign-ups and {} posts in {LOAD_DURATION:?} at concurrency {LOAD_CONCURRENCY}",
        load.users, load.posts
    );
    load.assert_clean(&app);
}
