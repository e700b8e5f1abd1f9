//! A build that meets a schema newer than it knows, as after a rollback or beside a newer colour
//! or pod: it serves on where every migration past it was compatible, and where a breaking one
//! moved the database past it, it answers 503 saying why, writes nothing, migrates nothing down,
//! and serves again as soon as the database allows it, with no restart. And a build whose own
//! migration fails, or that finds a state row it cannot read: 503, nothing written, nothing
//! migrated, until the database allows it. The newer build's steps and the faults are planted
//! as an operator's statements, the way `crashes.rs` plants a crash's leftovers; the migration
//! protocol itself is unit-tested in service-kit (`db::migrate`).

use e2e::client::Reply;
use e2e::host::RunningApp;

/// Board's schema version in the state row.
fn version(app: &RunningApp) -> i64 {
    app.store("boards")
        .text("SELECT version FROM service_schema WHERE id = ?", 1)
        .parse()
        .unwrap()
}

/// A 503 problem with Retry-After whose detail says `why`.
fn assert_refused(reply: &Reply, why: &str) {
    assert!(reply.is_refusal(), "{}", reply.text());
    let detail = reply.problem(503)["detail"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(detail.contains(why), "{detail}");
}

fn assert_refused_as_too_old(reply: &Reply) {
    assert_refused(reply, "older than its database's schema");
}

#[test]
fn a_build_serves_a_newer_compatible_schema_and_refuses_one_a_breaking_migration_moved_past_it() {
    let app = RunningApp::start_default();
    let author = app.client.sign_up("author@example.org", "A");
    let first = app.client.write_post(author, "before")["id"]
        .as_i64()
        .unwrap();
    let boards = app.store("boards");
    let release = version(&app);

    // A newer build's compatible step: a column this build never names.
    boards.execute("ALTER TABLE posts ADD COLUMN mood TEXT");
    boards.execute("UPDATE service_schema SET version = version + 1");
    let second = app.client.write_post(author, "beside a newer schema")["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.client.get(&format!("/boards/{second}")).status, 200);
    assert_eq!(version(&app), release + 1, "nothing migrated down");

    // A breaking step past it: a rename, recorded as such.
    boards.execute("ALTER TABLE posts RENAME TO entries");
    boards
        .execute("UPDATE service_schema SET version = version + 1, compatible_from = version + 1");
    assert_refused_as_too_old(&app.client.try_write_post(author, "refused"));
    assert_refused_as_too_old(&app.client.get(&format!("/boards/{first}")));
    assert_eq!(boards.row_count("entries"), 2, "nothing written");
    assert_eq!(version(&app), release + 2, "nothing migrated down");
    let log = app.component_stderr("board-component");
    let newest = release + 2;
    assert!(
        log.contains(&format!(
            "schema version {newest} and needs a build of version {newest}"
        )) && log.contains(&format!("this build knows version {release}")),
        "one line names both versions:\n{log}"
    );

    // The database allows this build again (the newer build undone): it serves, as it was.
    boards.execute("ALTER TABLE entries RENAME TO posts");
    boards.execute("UPDATE service_schema SET version = version - 1, compatible_from = 0");
    let third = app.client.write_post(author, "after")["id"]
        .as_i64()
        .unwrap();
    app.client
        .assert_readable(&[author], &[first, second, third], "after the refusal");
}

#[test]
fn a_migration_that_fails_is_rolled_back_and_its_build_answers_503_until_it_can_migrate() {
    let app = RunningApp::start_default();
    let author = app.client.sign_up("author@example.org", "A");
    let first = app.client.write_post(author, "before")["id"]
        .as_i64()
        .unwrap();
    let boards = app.store("boards");
    let release = version(&app);
    // The last step inserts key_refresh's one row, which is there: run again, it breaks the
    // primary key, as a backfill breaks a constraint on rows it did not expect.
    boards.execute("UPDATE service_schema SET version = version - 1");
    for _ in 0..2 {
        // Every write tries again, and is refused again: the claim does not outlive a failure.
        assert_refused(
            &app.client.try_write_post(author, "refused"),
            "could not bring its database's schema up to date",
        );
    }
    assert_eq!(boards.row_count("posts"), 1, "nothing written");
    assert_eq!(version(&app), release - 1, "rolled back");
    assert_eq!(
        boards.text(
            "SELECT count(*) FROM service_schema WHERE id = ? AND claimed_until = 0",
            1
        ),
        "1",
        "the claim is released"
    );
    let log = app.component_stderr("board-component");
    assert!(
        log.contains(&format!(
            "schema migration failed: step {release} of {release}"
        )) && log.contains("UNIQUE constraint failed"),
        "the log names the step and the cause:\n{log}"
    );
    // Reads need no migration and go on.
    assert_eq!(app.client.get(&format!("/boards/{first}")).status, 200);

    // The operator repairs the database: the next write migrates nothing and lands.
    boards.execute("UPDATE service_schema SET version = version + 1");
    let second = app.client.write_post(author, "after")["id"]
        .as_i64()
        .unwrap();
    app.client
        .assert_readable(&[author], &[first, second], "after the failed migration");
}

#[test]
fn a_state_row_that_makes_no_sense_is_a_503_and_never_a_migration() {
    let app = RunningApp::start_default();
    let author = app.client.sign_up("author@example.org", "A");
    let first = app.client.write_post(author, "before")["id"]
        .as_i64()
        .unwrap();
    let boards = app.store("boards");
    let release = version(&app);
    boards.execute("UPDATE service_schema SET compatible_from = 'soon'");
    assert_refused(
        &app.client.try_write_post(author, "refused"),
        "database cannot be reached",
    );
    assert_eq!(boards.row_count("posts"), 1, "nothing written");
    assert_eq!(version(&app), release, "nothing migrated");
    let log = app.component_stderr("board-component");
    assert!(
        log.contains("unreadable schema state"),
        "one line says why:\n{log}"
    );
    boards.execute("UPDATE service_schema SET compatible_from = 0");
    let second = app.client.write_post(author, "after")["id"]
        .as_i64()
        .unwrap();
    app.client
        .assert_readable(&[author], &[first, second], "after the repair");
}
