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

/// The app with one author and their first post, and board's schema version after it.
struct Board {
    app: RunningApp,
    author: i64,
    first: i64,
    release: i64,
}

impl Board {
    fn start() -> Self {
        let app = RunningApp::start_default();
        let author = app.client.sign_up("author@example.org", "A");
        let first = app.client.write_post(author, "before")["id"]
            .as_i64()
            .unwrap();
        let release = version(&app);
        Self {
            app,
            author,
            first,
            release,
        }
    }
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
    let Board {
        app,
        author,
        first,
        release,
    } = Board::start();
    let boards = app.store("boards");

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

/// Plants `fault` in board's database and checks that every write is refused with `detail`
/// (twice: the refusal does not outlive its cause, it is decided again at each write), that
/// nothing is written and board's log says `why`; `check` adds the fault's own checks. Then
/// `repair` and checks that the next write lands and every post reads back.
fn writes_refused_until_repaired(
    fault: &str,
    detail: &str,
    why: &str,
    check: impl Fn(&Board),
    repair: &str,
) {
    let board = Board::start();
    let Board {
        app, author, first, ..
    } = &board;
    let boards = app.store("boards");
    boards.execute(fault);
    for _ in 0..2 {
        assert_refused(&app.client.try_write_post(*author, "refused"), detail);
    }
    assert_eq!(boards.row_count("posts"), 1, "nothing written");
    let log = app.component_stderr("board-component");
    assert!(log.contains(why), "the log says {why:?}:\n{log}");
    check(&board);
    boards.execute(repair);
    let second = app.client.write_post(*author, "after")["id"]
        .as_i64()
        .unwrap();
    app.client
        .assert_readable(&[*author], &[*first, second], "after the repair");
}

#[test]
fn a_migration_that_fails_is_rolled_back_and_its_build_answers_503_until_it_can_migrate() {
    // The last step creates the trigger that moves an author's `seq`, which is there: run
    // again, the database refuses it, as it refuses a backfill that breaks a constraint.
    writes_refused_until_repaired(
        "UPDATE service_schema SET version = version - 1",
        "could not bring its database's schema up to date",
        "trigger authors_seq_on_rename already exists",
        |board| {
            let Board {
                app,
                first,
                release,
                ..
            } = board;
            assert_eq!(version(app), release - 1, "rolled back");
            let claims = "SELECT count(*) FROM service_schema WHERE id = ? AND claimed_until = 0";
            assert_eq!(app.store("boards").text(claims, 1), "1", "claim released");
            let log = app.component_stderr("board-component");
            let step = format!("schema migration failed: step {release} of {release}");
            assert!(log.contains(&step), "the log names the step:\n{log}");
            // Reads need no migration and go on.
            assert_eq!(app.client.get(&format!("/boards/{first}")).status, 200);
        },
        // The operator's repair: the next write has nothing to migrate.
        "UPDATE service_schema SET version = version + 1",
    );
}

#[test]
fn a_state_row_that_makes_no_sense_is_a_503_and_never_a_migration() {
    writes_refused_until_repaired(
        "UPDATE service_schema SET compatible_from = 'soon'",
        "database cannot be reached",
        "unreadable schema state",
        |board| assert_eq!(version(&board.app), board.release, "nothing migrated"),
        "UPDATE service_schema SET compatible_from = 0",
    );
}
