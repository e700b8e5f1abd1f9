//! Each service's read model (docs/read-model.md): what a reader may see, held to what the docs
//! say. In one process a write is read back at once; another process's change shows within the
//! model's interval (1 s) plus one read; a read the model holds opens no database; the model
//! never outlives its database; and a store that cannot be used costs the model, not the
//! request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use e2e::client::{basic, PASSWORD};
use e2e::host::{write_file, AppSpec, RunningApp};
use e2e::load::StopFlag;
use e2e::wait::eventually;
use e2e::workspace;

/// The model's interval (`service_kit::read_model::CHECK_INTERVAL_MS`).
const INTERVAL: Duration = Duration::from_secs(1);
/// What a reader may wait beyond it: the read that finds the model due, on a loaded machine.
const ONE_READ: Duration = Duration::from_millis(500);

fn name_of(app: &RunningApp, id: i64) -> String {
    let reply = app.client.get(&format!("/users/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["name"].as_str().unwrap().to_owned()
}

#[test]
fn a_process_reads_its_own_writes_at_once() {
    let app = RunningApp::start_default();
    let client = &app.client;
    let ann = client.sign_up("ann@example.org", "Ann");
    let auth = basic("ann@example.org", PASSWORD);
    for round in 0..10 {
        // Read first, so the model holds the name the rename replaces.
        name_of(&app, ann);
        let name = format!("Ann {round}");
        assert_eq!(client.rename_as(ann, Some(&auth), &name).status, 200);
        assert_eq!(name_of(&app, ann), name, "GET /users/{ann}, round {round}");
        let list = client.get(&format!("/users?ids={ann}")).json();
        assert_eq!(
            list["users"][0]["name"],
            name.as_str(),
            "?ids, round {round}"
        );
    }
    for round in 0..10 {
        let title = format!("post {round}");
        let id = client.write_post(ann, &title)["id"].as_i64().unwrap();
        let read = client.get(&format!("/boards/{id}"));
        assert_eq!(read.status, 200, "{}", read.text());
        assert_eq!(read.json()["title"], title.as_str());
        assert_eq!(read.json()["author"]["id"], ann);
    }
}

#[test]
fn a_read_the_model_holds_opens_no_database_and_none_is_served_past_the_interval_without_it() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let post = app.client.write_post(ann, "kept")["id"].as_i64().unwrap();
    // Each model falls due, so that the first read below asks its database and starts the
    // interval then: the window the model answers alone is timed from that read, not from
    // whatever read came before (stop 39's CI had a loaded machine spend it elsewhere).
    thread::sleep(INTERVAL);
    for (path, label) in [
        (format!("/users/{ann}"), "users"),
        (format!("/boards/{post}"), "boards"),
    ] {
        let asked = Instant::now();
        let read = app.client.get(&path).text();
        app.break_database(label);
        // Within the interval, the model answers alone.
        let again = app.client.get(&path);
        let took = asked.elapsed();
        assert!(took < INTERVAL, "{path}: too slow to tell: {took:?}");
        assert_eq!(again.text(), read, "{path}, {took:?} after the model asked");
    }
    // Past it, the model asks the database before it answers, and cannot.
    thread::sleep(INTERVAL);
    app.client.get(&format!("/users/{ann}")).problem(503);
    app.client.get(&format!("/boards/{post}")).problem(503);
}

/// Two processes of the whole app on the same databases, as two replicas behind a gateway.
fn two_replicas() -> (tempfile::TempDir, RunningApp, RunningApp) {
    let dir = tempfile::tempdir().unwrap();
    let replica = || {
        RunningApp::start(AppSpec {
            dir: Some(dir.path().to_path_buf()),
            ..AppSpec::default()
        })
    };
    let writer = replica();
    let mut reader = replica();
    reader.client.share_accounts(writer.client.accounts());
    (dir, writer, reader)
}

#[test]
fn another_replicas_rename_shows_within_the_interval_under_load_and_new_rows_at_once() {
    let (_dir, writer, reader) = two_replicas();
    let ann = writer.client.sign_up("ann@example.org", "Ann");
    assert_eq!(name_of(&reader, ann), "Ann");
    let auth = basic("ann@example.org", PASSWORD);

    // Readers keep the reader replica's model busy with the same user meanwhile.
    let stop = StopFlag::default();
    let reads = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let client = reader.client.fresh();
            let (stop, reads) = (stop.watcher(), reads.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(client.get(&format!("/users/{ann}")).status, 200);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut seen_after = Vec::new();
    for round in 0..8 {
        let name = format!("Ann {round}");
        assert_eq!(writer.client.rename_as(ann, Some(&auth), &name).status, 200);
        let renamed = Instant::now();
        eventually(INTERVAL + ONE_READ, || name_of(&reader, ann) == name)
            .unwrap_or_else(|| panic!("round {round}: the reader still shows the old name"));
        seen_after.push(renamed.elapsed());
    }
    stop.raise();
    load.into_iter().for_each(|reader| reader.join().unwrap());
    let slowest = seen_after.iter().max().unwrap();
    println!(
        "renames seen by the other replica after {seen_after:?} (slowest {slowest:?}), \
         {} reads of the user meanwhile",
        reads.load(Ordering::Relaxed)
    );

    // A new user and a new post are found at once: the model misses and reads the database.
    let bob = writer.client.sign_up("bob@example.org", "Bob");
    assert_eq!(name_of(&reader, bob), "Bob");
    let post = writer.client.write_post(bob, "fresh")["id"]
        .as_i64()
        .unwrap();
    assert_eq!(reader.client.get(&format!("/boards/{post}")).status, 200);
}

#[test]
fn a_database_replaced_underneath_empties_the_model_within_the_interval() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    assert_eq!(name_of(&app, ann), "Ann");
    // Another database, as a restore or a swap underneath would give: the same user id with
    // another name, and no change in the feed that says so. Only the identity differs.
    let users = app.store("users");
    users.execute("DROP TRIGGER user_changes_on_rename");
    users.execute("UPDATE users SET name = 'Zed'");
    users.execute("UPDATE database_identity SET id = 'another database'");
    let replaced = Instant::now();
    eventually(INTERVAL + ONE_READ, || name_of(&app, ann) == "Zed")
        .unwrap_or_else(|| panic!("the model kept the other database's row"));
    println!("the model started empty {:?} after", replaced.elapsed());
}

#[test]
fn a_model_store_that_cannot_be_opened_leaves_every_request_to_the_database() {
    let dir = tempfile::tempdir().unwrap();
    // Each read model's store a directory, which SQLite cannot open. The databases are the
    // repository's files in either configuration: the store is what fails here.
    std::fs::create_dir_all(dir.path().join("model-store")).unwrap();
    let repository = std::fs::read_to_string(workspace().join("runtime-config.toml")).unwrap();
    let databases = &repository[..repository.find("[key_value_store.").unwrap()];
    let config = write_file(
        dir.path(),
        "runtime-config.toml",
        &format!(
            "{databases}[key_value_store.users_model]\ntype = \"spin\"\npath = \"model-store\"\n\n\
             [key_value_store.boards_model]\ntype = \"spin\"\npath = \"model-store\"\n"
        ),
    );
    let app = RunningApp::start(AppSpec {
        runtime_config: config,
        dir: Some(dir.path().to_path_buf()),
        ..AppSpec::default()
    });
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let post = app.client.write_post(ann, "t")["id"].as_i64().unwrap();
    for _ in 0..2 {
        assert_eq!(name_of(&app, ann), "Ann");
        assert_eq!(app.client.get(&format!("/boards/{post}")).status, 200);
    }
    let auth = basic("ann@example.org", PASSWORD);
    assert_eq!(app.client.rename_as(ann, Some(&auth), "Anna").status, 200);
    assert_eq!(name_of(&app, ann), "Anna");
    for component in ["user-component", "board-component"] {
        let log = app.component_stderr(component);
        assert!(
            log.contains("read model: could not open the store"),
            "{component} says why:\n{log}"
        );
    }
}
