//! Under concurrent load nothing is lost and nothing is duplicated: the unique constraint
//! decides races, SQLite's busy wait absorbs contention, and the row counts match the 201s.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::db;
use e2e::host::RunningApp;
use e2e::load;
use serde_json::json;

const SAME_EMAIL_SIGN_UPS: usize = 100;
const LOAD_CONCURRENCY: usize = 32;
const LOAD_DURATION: Duration = Duration::from_secs(20);

#[test]
fn of_100_simultaneous_sign_ups_with_one_email_exactly_one_wins() {
    let app = RunningApp::start_default();
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
    assert_eq!(
        (created, conflicts),
        (1, SAME_EMAIL_SIGN_UPS - 1),
        "{statuses:?}"
    );
    assert_eq!(db::row_count(&app.dir.join(".spin/users.db"), "users"), 1);
}

#[derive(Default)]
struct Counts {
    created: usize,
    other: Vec<String>,
}

fn hammer(
    client: &Client,
    until: Instant,
    request: impl Fn(usize) -> (&'static str, serde_json::Value),
) -> Counts {
    let mut counts = Counts::default();
    load::send_while(
        client,
        || Instant::now() < until,
        request,
        |path, reply| match reply {
            Ok(reply) if reply.status == 201 => counts.created += 1,
            Ok(reply) => counts
                .other
                .push(format!("{path}: {} {}", reply.status, reply.text())),
            Err(error) => counts.other.push(format!("{path}: {error}")),
        },
    );
    counts
}

#[test]
fn writes_to_both_services_at_concurrency_32_for_20_seconds_all_land() {
    let app = RunningApp::start_default();
    let author = app.client.sign_up("author@example.org", "A");
    let until = Instant::now() + LOAD_DURATION;
    let base = app.client.base().to_owned();
    let workers: Vec<_> = (0..LOAD_CONCURRENCY)
        .map(|worker| {
            let client = Client::new(&base);
            thread::spawn(move || {
                if worker.is_multiple_of(2) {
                    let sign_up = move |n| ("/users", json!({ "email": format!("w{worker}-{n}@example.org"), "name": "W", "password": "correct horse" }));
                    ("users", hammer(&client, until, sign_up))
                } else {
                    let post = move |n| ("/boards", json!({ "userId": author, "title": format!("w{worker} #{n}"), "content": "load" }));
                    ("boards", hammer(&client, until, post))
                }
            })
        })
        .collect();
    let (mut users, mut posts, mut failures) = (0, 0, Vec::new());
    for worker in workers {
        let (service, counts) = worker.join().unwrap();
        match service {
            "users" => users += counts.created,
            _ => posts += counts.created,
        }
        failures.extend(counts.other);
    }
    eprintln!("load: {} sign-ups and {posts} posts in {LOAD_DURATION:?} at concurrency {LOAD_CONCURRENCY}", users);
    assert!(
        failures.is_empty(),
        "{} unexpected answers, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert!(!app.log().contains("database is locked"), "{}", app.log());
    assert_eq!(
        db::row_count(&app.dir.join(".spin/users.db"), "users"),
        users as i64 + 1
    );
    assert_eq!(
        db::row_count(&app.dir.join(".spin/boards.db"), "boards"),
        posts as i64
    );
}
