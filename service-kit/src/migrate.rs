//! Versioned, idempotent schema migrations, applied by each service to its own database on first
//! use. The version lives in `PRAGMA user_version`, so the same build migrates a fresh file under
//! `spin up`, SpinKube or devhost without any `--sqlite` flag.

use crate::db::{Database, Error, Value};

/// Opens the database `label` and brings its schema up to date: every request's first step.
pub fn connect(label: &str, migrations: &[&str]) -> Result<spin_sdk::sqlite::Connection, Error> {
    let connection = spin_sdk::sqlite::Connection::open(label)?;
    migrate(&connection, migrations)?;
    Ok(connection)
}

/// A real SQLite file at `path`, migrated: what the services' host-target tests run against.
#[cfg(any(test, feature = "rusqlite"))]
pub fn migrated_file(path: &std::path::Path, migrations: &[&str]) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("a test database file opens");
    migrate(&connection, migrations).expect("the migrations apply");
    connection
}

/// Brings `db` up to `migrations.len()`. Each entry is one statement and one version: entry `i`
/// takes the schema from version `i` to `i + 1`. Entries are only ever appended.
///
/// Cheap when there is nothing to do (one pragma read), so it can run on every request.
pub fn migrate(db: &impl Database, migrations: &[&str]) -> Result<(), Error> {
    let target = migrations.len() as i64;
    if user_version(db)? >= target {
        return Ok(());
    }
    // WAL lets readers carry on while a writer commits. The mode is stored in the file, so it
    // is set once, and outside a transaction as SQLite requires.
    db.execute("PRAGMA journal_mode = WAL", &[])?;
    // IMMEDIATE takes the write lock up front: two instances migrating at once queue up (Spin's
    // connections wait up to 5 s on a busy file) and the second finds the work done.
    db.execute("BEGIN IMMEDIATE", &[])?;
    match apply_pending(db, migrations, target) {
        Ok(()) => db.execute("COMMIT", &[]).map(drop),
        Err(error) => {
            // The failed migration is what the caller needs to hear about, not a rollback error.
            let _ = db.execute("ROLLBACK", &[]);
            Err(error)
        }
    }
}

fn apply_pending(db: &impl Database, migrations: &[&str], target: i64) -> Result<(), Error> {
    let current = user_version(db)?;
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
