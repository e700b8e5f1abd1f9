//! Versioned, idempotent schema migrations, applied by each service to its own database on first
//! use. The version lives in `PRAGMA user_version`, so the same build migrates a fresh file under
//! `spin up`, SpinKube or devhost without any `--sqlite` flag.

use std::time::{Duration, Instant};

use crate::db::{Database, Error, Value};

/// Opens the database `label` and brings its schema up to date: every request's first step.
pub fn connect(label: &str, migrations: &[&str]) -> Result<spin_sdk::sqlite::Connection, Error> {
    let connection = spin_sdk::sqlite::Connection::open(label)?;
    migrate(&connection, migrations)?;
    Ok(connection)
}

/// [`connect`], for a request that writes: commits sync the write-ahead log to disk only at
/// checkpoints (`synchronous = NORMAL`) instead of on every commit. Each commit's `fsync` held
/// the file's write lock, and under 16 concurrent writers the queue behind it made the slowest
/// post wait 0.5-0.7 s (p99; 53 ms without). What it gives up: after an OS crash or power loss
/// the last commits may be missing (never a corrupt file); a crash of the host process loses
/// nothing, which `tests/api/crashes.rs` checks with SIGKILL.
pub fn connect_for_writes(
    label: &str,
    migrations: &[&str],
) -> Result<spin_sdk::sqlite::Connection, Error> {
    let connection = connect(label, migrations)?;
    connection.execute("PRAGMA synchronous = NORMAL", &[])?;
    Ok(connection)
}

/// A real SQLite file at `path`, migrated: what the services' host-target tests run against.
#[cfg(any(test, feature = "rusqlite"))]
pub fn migrated_file(path: &std::path::Path, migrations: &[&str]) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("a test database file opens");
    migrate(&connection, migrations).expect("the migrations apply");
    connection
}

/// How long a request waits for another request's migration of the same file to finish.
const MIGRATION_WAIT: Duration = Duration::from_secs(30);
/// The pause between two looks at the schema version while another request migrates.
const MIGRATION_POLL: Duration = Duration::from_millis(10);
/// The busy timeout every Spin connection starts with (rusqlite's), restored after migrating.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// Brings `db` up to `migrations.len()`. Each entry is one statement and one version: entry `i`
/// takes the schema from version `i` to `i + 1`. Entries are only ever appended.
///
/// Cheap when there is nothing to do (one pragma read), so it can run on every request.
///
/// On a host that opens a connection per request (Spin), a fresh file's first requests all find
/// the schema behind at once. Whoever holds the write lock holds it across several host calls,
/// and on a busy machine each call waits its turn behind other requests' CPU-bound work (a
/// sign-up's Argon2 hash); anyone queued for the lock in SQLite's busy handler meanwhile gives
/// up after its 5 s with "database is locked". So only the request that really migrates ever
/// takes the write lock: the others find out under a read lock, which blocks no one, and an
/// attempt that finds the file busy steps back, sleeps (which yields the host's thread) and
/// reads the version again, for up to `MIGRATION_WAIT`.
pub fn migrate(db: &impl Database, migrations: &[&str]) -> Result<(), Error> {
    let target = migrations.len() as i64;
    let deadline = Instant::now() + MIGRATION_WAIT;
    loop {
        if user_version(db)? >= target {
            return Ok(());
        }
        match migrate_without_waiting(db, migrations, target) {
            Err(error) if is_busy(&error) && Instant::now() < deadline => {
                std::thread::sleep(MIGRATION_POLL)
            }
            result => return result,
        }
    }
}

/// One attempt that fails at once, rather than wait, when another connection holds the file.
fn migrate_without_waiting(
    db: &impl Database,
    migrations: &[&str],
    target: i64,
) -> Result<(), Error> {
    db.execute("PRAGMA busy_timeout = 0", &[])?;
    let result = migrate_in_transaction(db, migrations, target);
    db.execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"), &[])?;
    result
}

fn migrate_in_transaction(
    db: &impl Database,
    migrations: &[&str],
    target: i64,
) -> Result<(), Error> {
    // WAL lets readers carry on while a writer commits. The mode is stored in the file, so it
    // is set once, and outside a transaction as SQLite requires.
    db.execute("PRAGMA journal_mode = WAL", &[])?;
    // Deferred: the version is read under a read lock, and the write lock is taken only by the
    // first migration statement. If another connection migrated since that read, SQLite refuses
    // the upgrade as busy rather than let this one write over a stale snapshot.
    db.execute("BEGIN", &[])?;
    let applied =
        apply_pending(db, migrations, target).and_then(|()| db.execute("COMMIT", &[]).map(drop));
    if applied.is_err() {
        // The failure is what the caller needs to hear about, not a rollback error.
        let _ = db.execute("ROLLBACK", &[]);
    }
    applied
}

/// SQLite's SQLITE_BUSY, which Spin's interface passes on only as its message.
fn is_busy(error: &Error) -> bool {
    matches!(error, Error::Io(message) if message.contains("database is locked"))
}

fn apply_pending(db: &impl Database, migrations: &[&str], target: i64) -> Result<(), Error> {
    let current = user_version(db)?;
    if current >= target {
        return Ok(());
    }
    for statement in migrations.iter().skip(current as usize) {
        db.execute(statement, &[])?;
    }
    // PRAGMA does not take bound parameters; `target` is our own integer.
    db.execute(&format!("PRAGMA user_version = {target}"), &[])?;
    Ok(())
}

pub fn user_version(db: &impl Database) -> Result<i64, Error> {
    let result = db.execute("PRAGMA user_version", &[])?;
    match result.rows.first().and_then(|row| row.values.first()) {
        Some(Value::Integer(version)) => Ok(*version),
        other => Err(Error::Io(format!("unexpected user_version: {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        "CREATE INDEX notes_body ON notes (body)",
    ];

    fn open(dir: &tempfile::TempDir) -> rusqlite::Connection {
        rusqlite::Connection::open(dir.path().join("test.db")).unwrap()
    }

    #[test]
    fn a_fresh_file_is_migrated_to_the_latest_version_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        migrate(&db, MIGRATIONS).unwrap();
        assert_eq!(user_version(&db).unwrap(), 2);
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        db.execute_batch("INSERT INTO notes (body) VALUES ('x')")
            .unwrap();
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), MIGRATIONS).unwrap();
        open(&dir)
            .execute_batch("INSERT INTO notes (body) VALUES ('kept')")
            .unwrap();
        migrate(&open(&dir), MIGRATIONS).unwrap();
        let count: i64 = open(&dir)
            .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn only_new_migrations_run_on_an_older_schema() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), &MIGRATIONS[..1]).unwrap();
        assert_eq!(user_version(&open(&dir)).unwrap(), 1);
        migrate(&open(&dir), MIGRATIONS).unwrap();
        assert_eq!(user_version(&open(&dir)).unwrap(), 2);
    }

    #[test]
    fn a_migration_waits_out_another_one_that_holds_the_file_longer_than_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let holder = open(&dir);
        holder
            .execute_batch("PRAGMA journal_mode = WAL; BEGIN IMMEDIATE")
            .unwrap();
        let waiter = std::thread::spawn({
            let path = dir.path().join("test.db");
            move || migrate(&rusqlite::Connection::open(path).unwrap(), MIGRATIONS)
        });
        std::thread::sleep(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS) + 500));
        apply_pending(&holder, MIGRATIONS, 2).unwrap();
        holder.execute_batch("COMMIT").unwrap();
        waiter.join().unwrap().unwrap();
        assert_eq!(user_version(&open(&dir)).unwrap(), 2);
    }

    #[test]
    fn a_failing_migration_leaves_the_schema_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let broken = [MIGRATIONS[0], "CREATE TABLE oops (", MIGRATIONS[1]];
        assert!(migrate(&open(&dir), &broken).is_err());
        let db = open(&dir);
        assert_eq!(user_version(&db).unwrap(), 0);
        let tables: i64 = db
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
