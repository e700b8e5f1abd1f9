//! The cloud path: each service's database on a libSQL server of its own (`sqld`), shared by
//! several replicas of that service, as under SpinKube. These run in the libSQL configuration
//! only (`make test` skips them by name on local files, where a file is not shared by pods).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use e2e::client::{Client, Reply};
use e2e::host::{write_file, AppSpec, RunningApp};
use e2e::sqld::{self, Sqld};
use serde_json::json;

/// Replicas per service in these tests, as `deploy/spinkube/*.yaml` runs them.
const REPLICAS: usize = 2;
/// The bound a service's answer must come within when its server is gone or frozen.
const FAILS_WITHIN: Duration = Duration::from_secs(2);

/// One `sqld` per service and `REPLICAS` host processes per service, every replica of a service
/// on that service's server; board's replicas reach the user service through its replicas.
struct Replicated {
    users_db: Sqld,
    boards_db: Sqld,
    users: Vec<RunningApp>,
    boards: Vec<RunningApp>,
    _dir: tempfile::TempDir,
}

impl Replicated {
    fn start(author_sync_interval: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let users_db = Sqld::start(&dir.path().join("users-db"));
        let boards_db = Sqld::start(&dir.path().join("boards-db"));
        let config = write_file(
            dir.path(),
            "runtime-config.toml",
            &sqld::runtime_config(&[("users", &users_db), ("boards", &boards_db)]),
        );
        let replica = |component: &str, env: Vec<(String, String)>| AppSpec {
            component_ids: vec![component.to_owned()],
            runtime_config: config.clone(),
            env,
            ..AppSpec::default()
        };
        let users: Vec<RunningApp> = (0..REPLICAS)
            .map(|_| RunningApp::start(replica("user-component", Vec::new())))
            .collect();
        let boards = (0..REPLICAS)
            .map(|i| {
                let env = vec![
                    (
                        "SPIN_VARIABLE_USER_SERVICE_URL".to_owned(),
                        format!("http://{}", users[i % REPLICAS].addr),
                    ),
                    (
                        "SPIN_VARIABLE_AUTHOR_SYNC_INTERVAL".to_owned(),
                        author_sync_interval.to_owned(),
                    ),
                ];
                RunningApp::start(replica("board-component", env))
            })
            .collect();
        Self {
            users_db,
            boards_db,
            users,
            boards,
            _dir: dir,
        }
    }

    fn migrations_logged(apps: &[RunningApp], component: &str) -> usize {
        apps.iter()
            .map(|app| {
                app.component_stderr(component)
                    .matches("schema migrated")
                    .count()
            })
            .sum()
    }
}

/// `count` requests released together, spread round-robin over `clients`.
fn all_at_once(
    clients: &[&Client],
    count: usize,
    request: impl Fn(usize, &Client) -> Reply + Send + Sync + 'static,
) -> Vec<Reply> {
    spread(clients, count, count, request)
}

/// `count` requests, `threads` at a time from the same start, request `i` on client
/// `i % clients.len()`; the replies in request order.
fn spread(
    clients: &[&Client],
    count: usize,
    threads: usize,
    request: impl Fn(usize, &Client) -> Reply + Send + Sync + 'static,
) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(threads));
    let request = Arc::new(request);
    let bases: Vec<String> = clients.iter().map(|c| c.base().to_owned()).collect();
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            let clients: Vec<Client> = bases.iter().map(|base| Client::new(base)).collect();
            let (barrier, request) = (barrier.clone(), request.clone());
            thread::spawn(move || {
                barrier.wait();
                (worker..count)
                    .step_by(threads)
                    .map(|i| (i, request(i, &clients[i % clients.len()])))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut replies: Vec<(usize, Reply)> = workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect();
    replies.sort_by_key(|(i, _)| *i);
    replies.into_iter().map(|(_, reply)| reply).collect()
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|reply| reply.status).collect()
}

#[test]
fn two_replicas_migrate_a_fresh_server_once_without_a_5xx() {
    let app = Replicated::start("2");
    let user_clients: Vec<&Client> = app.users.iter().map(|a| &a.client).collect();
    let board_clients: Vec<&Client> = app.boards.iter().map(|a| &a.client).collect();
    // First requests of every kind, on both replicas at once: reads, writes and health.
    let first_users = all_at_once(&user_clients, 24, |i, client| {
        match i % 3 {
        0 => client.get("/users/health"),
        1 => client.get("/users/1"),
        _ => client.post_json(
            "/users",
            &json!({ "email": format!("first{i}@example.org"), "name": "First", "password": "correct horse" }),
        ),
    }
    });
    let first_boards = all_at_once(&board_clients, 24, |i, client| match i % 3 {
        0 => client.get("/boards/health"),
        1 => client.get("/boards"),
        _ => client.get("/boards/1"),
    });
    for reply in first_users.iter().chain(&first_boards) {
        assert!(reply.status < 500, "{}", reply.text());
    }
    assert!(statuses(&first_users).contains(&201));
    assert_eq!(
        Replicated::migrations_logged(&app.users, "user-component"),
        1,
        "the users schema is migrated by exactly one replica"
    );
    assert_eq!(
        Replicated::migrations_logged(&app.boards, "board-component"),
        1,
        "the boards schema is migrated by exactly one replica"
    );
    for (server, table) in [(&app.users_db, "users"), (&app.boards_db, "posts")] {
        let state = server
            .query("SELECT version, local_file FROM service_schema", &[])
            .unwrap();
        assert_eq!(state.len(), 1, "one schema row");
        assert_eq!(state[0][1], 0, "known as a server, not a local file");
        assert!(server
            .query(&format!("SELECT count(*) FROM {table}"), &[])
            .is_ok());
    }
}

#[test]
fn two_replicas_per_service_keep_every_guarantee_of_one() {
    let app = Replicated::start("1");
    let user_clients: Vec<&Client> = app.users.iter().map(|a| &a.client).collect();
    let board_clients: Vec<&Client> = app.boards.iter().map(|a| &a.client).collect();

    // A unique email under a race across replicas: the server's unique constraint decides.
    let race = all_at_once(&user_clients, 100, |i, client| {
        client.post_json(
            "/users",
            &json!({ "email": "race@example.org", "name": format!("Racer {i}"), "password": "correct horse" }),
        )
    });
    let race = statuses(&race);
    let count = |status| race.iter().filter(|s| **s == status).count();
    assert_eq!((count(201), count(409)), (1, 99), "{race:?}");

    // 500 posts spread over both board replicas, all readable afterwards from either.
    let author = app.users[0].client.sign_up("author@example.org", "Author");
    let posts = spread(&board_clients, 500, 32, move |i, client| {
        client.post_json(
            "/boards",
            &json!({ "userId": author, "title": format!("post {i}"), "content": "x" }),
        )
    });
    let ids: Vec<i64> = posts
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, 201, "{}", reply.text());
            reply.json()["id"].as_i64().unwrap()
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let reader = &app.boards[n % REPLICAS].client;
        assert_eq!(
            reader.get(&format!("/boards/{id}")).status,
            200,
            "post {id}"
        );
    }
    assert_eq!(
        app.boards_db
            .query("SELECT count(*) FROM posts", &[])
            .unwrap()[0][0],
        500
    );

    // After the sync interval, 50 concurrent reads over both board replicas: one feed pull.
    thread::sleep(Duration::from_millis(1500));
    let feed_reads_before = feed_reads(&app.users);
    let reads = all_at_once(&board_clients, 50, |_, client| client.get("/boards/1"));
    assert!(reads.iter().all(|reply| reply.status == 200));
    // The pull runs after the responses; give it the time of one.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        feed_reads(&app.users) - feed_reads_before,
        1,
        "exactly one feed request across both board replicas"
    );
}

/// Change-feed requests the user replicas have served.
fn feed_reads(users: &[RunningApp]) -> usize {
    users
        .iter()
        .map(|app| {
            app.component_stderr("user-component")
                .matches("change feed read")
                .count()
        })
        .sum()
}

/// Asserts a `503` problem with `Retry-After` that came within [`FAILS_WITHIN`].
fn assert_unavailable_in_time(send: impl FnOnce() -> Reply, what: &str) {
    let started = Instant::now();
    let reply = send();
    let took = started.elapsed();
    reply.problem(503);
    assert!(
        reply.header("retry-after").is_some(),
        "{what}: no Retry-After"
    );
    assert!(took < FAILS_WITHIN, "{what}: the 503 took {took:?}");
}

fn sign_up_body(email: &str) -> serde_json::Value {
    json!({ "email": email, "name": "Late", "password": "correct horse" })
}

#[test]
fn a_stopped_or_frozen_server_makes_its_service_answer_503_and_recover() {
    let mut app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let post = app.client.write_post(ann, "kept")["id"].as_i64().unwrap();
    let post_path = format!("/boards/{post}");

    for fault in ["frozen", "stopped"] {
        let users_db = app.sqld("users").expect("the libSQL configuration");
        match fault {
            "frozen" => users_db.freeze(),
            _ => users_db.stop(),
        }
        let client = &app.client;
        assert_unavailable_in_time(|| client.get(&format!("/users/{ann}")), fault);
        assert_unavailable_in_time(|| client.get("/users/health"), fault);
        assert_unavailable_in_time(
            || client.post_json("/users", &sign_up_body("late@example.org")),
            fault,
        );
        // The other service keeps answering from its own server.
        assert_eq!(client.get(&post_path).status, 200, "board, users {fault}");
        assert_eq!(client.get("/boards/health").status, 200);

        let users_db = app.sqld("users").unwrap();
        match fault {
            "frozen" => users_db.thaw(),
            _ => users_db.restart(),
        }
        // Back without restarting the host; the refused sign-up wrote nothing.
        assert_eq!(app.client.get(&format!("/users/{ann}")).status, 200);
        assert_eq!(app.store("users").row_count("users"), 1, "{fault}");
    }

    app.sqld("boards").unwrap().freeze();
    assert_unavailable_in_time(|| app.client.get(&post_path), "boards frozen");
    assert_eq!(
        app.client
            .post_json("/users", &sign_up_body("bob@example.org"))
            .status,
        201
    );
    app.sqld("boards").unwrap().thaw();
    assert_eq!(app.client.get(&post_path).status, 200);
    assert_eq!(app.store("boards").row_count("posts"), 1);
}
