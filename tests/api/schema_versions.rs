//! A build that meets a schema newer than it knows, as after a rollback or beside a newer colour
//! or pod: it serves on where every migration past it was compatible, and where a breaking one
//! moved the database past it, it answers 503 saying why, writes nothing, migrates nothing down,
//! and serves again as soon as the database allows it, with no restart. The newer build's steps
//! are planted as an operator's statements, the way `crashes.rs` plants a crash's leftovers;
//! the migration protocol itself is unit-tested in service-kit (`db::migrate`).

use e2e::client::Reply;
use e2e::host::RunningApp;

/// Board's schema version in the state row.
fn version(app: &RunningApp) -> i64 {
    app.store("boards")
        .text("SELECT version FROM service_schema WHERE id = ?", 1)
        .parse()
        .unwrap()
}

fn assert_refused_as_too_old(reply: &Reply) {
    assert!(reply.is_refusal(), "{}", reply.text());
    let detail = reply.problem(503)["detail"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        detail.contains("older than its database's schema"),
        "{detail}"
    );
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
