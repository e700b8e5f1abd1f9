//! Versioned, idempotent schema migrations, applied by each service to its own database on first
//! use, on either backend a label can be: a local SQLite file (`spin up`) or a libSQL server
//! (Turso, `sqld`; the cloud and SpinKube). The same build migrates both without any `--sqlite`
//! flag and without a setting from the user.
//!
//! Two facts shape it. A libSQL server refuses every `PRAGMA` that sets something (`busy_timeout`,
//! `journal_mode`, `synchronous`: "unsupported statement"), and hosted Turso has refused
//! `PRAGMA user_version` too; so the version lives in a table of our own, and the per-connection
//! tuning a local file wants is sent only to a local file. And every statement is a cost: an HTTP
//! round trip on libSQL, a host call and a statement on a fresh connection under Spin. So a read
//! sends no statement of ours at all ([`super::Db`]), and a write one (the version, and whether
//! the database is a local file, in one row). This module is the protocol only: when a
//! connection runs it is [`super::Db`]'s to decide.
//!
//! Two builds of a service can serve one database at once (replicas mid-rollout, the two colours
//! of a blue-green swap) and a rollback puts the older build back on a schema it never saw. So
//! each migration says whether builds from before it may go on using the database
//! ([`Migration`]), the state row records the oldest version whose builds may
//! (`compatible_from`), and a build that finds a newer schema serves on only when that allows it.
//! It never migrates down and never writes to a schema it may not use.

use std::time::{Duration, Instant};

use super::{
    is_busy, jitter, schema_is_behind, time_left, Backoff, Database, Error, Value, DATABASE_TIME,
};

/// The busy timeout every Spin connection to a file starts with (rusqlite's), restored after
/// migrating.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// The table the schema's state lives in: one row, written by each migration in its own
/// transaction, and claimed (until a time) by the request that is migrating.
/// `compatible_from` is NULL in a row no build that knows the rule has migrated yet.
const STATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS service_schema (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    local_file INTEGER NOT NULL,
    claimed_until REAL NOT NULL,
    compatible_from INTEGER
)";
/// The same column for a state table made by a build from before the rule.
const ADD_COMPATIBILITY: &str = "ALTER TABLE service_schema ADD COLUMN compatible_from INTEGER";

/// One step of a schema, and whether builds from before it may go on reading and writing the
/// database it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// Compatible: a new table, a nullable column or one with a default, a new index or
    /// trigger, a backfill. Older builds never name what it adds, and what they write stays
    /// valid.
    Expand(&'static str),
    /// Breaking: a drop, a rename, a changed meaning. Older builds must stop.
    Contract(&'static str),
}

impl Migration {
    pub fn sql(&self) -> &'static str {
        match self {
            Migration::Expand(sql) | Migration::Contract(sql) => sql,
        }
    }
}

/// The oldest schema version whose builds may use a database that has had `applied`: the one
/// right after the last breaking migration.
fn compatible_from(applied: &[Migration]) -> i64 {
    applied
        .iter()
        .rposition(|migration| matches!(migration, Migration::Contract(_)))
        .map_or(0, |last| last as i64 + 1)
}

/// What a database says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// How many migrations it has had.
    pub version: i64,
    /// Whether it is a local SQLite file, which takes per-connection tuning; `false` for a
    /// libSQL server, which refuses it.
    pub local_file: bool,
    /// The oldest schema version whose builds may read and write it; `None` where only builds
    /// from before the rule have migrated it, which said nothing. Past `version` while a build
    /// is building the database from nothing (`migrate_from`).
    pub compatible_from: Option<i64>,
}

impl State {
    /// Whether a build that knows `target` migrations may use this database: any schema it
    /// knows, and a newer one no breaking migration separates from it.
    fn serves(&self, target: i64) -> bool {
        self.version <= target || self.compatible_from.is_none_or(|oldest| oldest <= target)
    }

    /// Whether a build that knows `target` migrations has nothing to do here.
    fn is_current_for(&self, target: i64) -> bool {
        self.version >= target && self.compatible_from.is_some()
    }
}

/// The message of the error a build gets on a schema it may not use (see [`too_new`]).
const TOO_NEW: &str = "schema too new for this build";

/// Refuses a database migrated past what this build may use; [`super::unavailable`] tells the
/// client why. Names both versions, so the one log line the service writes says which build to
/// put back.
fn too_new(state: &State, target: i64) -> Error {
    Error::Io(format!(
        "{TOO_NEW}: the database is at schema version {} and needs a build of version {} or \
         later; this build knows version {target}",
        state.version,
        state.compatible_from.unwrap_or_default()
    ))
}

/// Whether `error` is a build refusing a schema it may not use.
pub(crate) fn is_too_new(error: &Error) -> bool {
    matches!(error, Error::Io(message) if message.starts_with(TOO_NEW))
}

/// What a build that found the database at `state` may do: use it, or refuse (see [`too_new`]).
fn check(state: State, target: i64) -> Result<State, Error> {
    if state.serves(target) {
        Ok(state)
    } else {
        Err(too_new(&state, target))
    }
}

/// Brings `db` up to `migrations.len()` and says what it is.
///
/// On a host that opens a connection per request (Spin), a fresh database's first requests all
/// find the schema behind at once. Whoever holds the write lock holds it across several host
/// calls, and on a busy machine each call waits its turn behind other requests' CPU-bound work
/// (a sign-up's Argon2 hash); anyone queued for a file's lock in SQLite's busy handler meanwhile
/// gives up after its 5 s with "database is locked". So on a file an attempt that finds the file
/// busy steps back at once, sleeps (which yields the host's thread) and reads the version
/// again, for as long as the request's time for its database lasts (`super::DATABASE_TIME`).
/// A libSQL server queues writers itself.
pub fn migrate(db: &impl Database, migrations: &[Migration]) -> Result<State, Error> {
    let target = migrations.len() as i64;
    let mut backoff = Backoff::new();
    loop {
        let left = time_left()?;
        let found = read_state(db)?;
        match found {
            Some(state) if state.is_current_for(target) => return check(state, target),
            _ => {}
        }
        match migrate_without_waiting(db, migrations, target, found) {
            Err(error) if is_busy(&error) => backoff.pause(left),
            result => return result,
        }
    }
}

/// Whether a build of `migrations` may use `db` as it is now, without migrating it: `Ok` for
/// a schema it knows or a newer compatible one, the error a write would get otherwise.
pub fn check_usable(db: &impl Database, migrations: &[Migration]) -> Result<(), Error> {
    match read_state(db)? {
        Some(state) => check(state, migrations.len() as i64).map(drop),
        None => Ok(()),
    }
}

/// The schema's state, or `None` for a database no migration of this kind has touched.
pub fn read_state(db: &impl Database) -> Result<Option<State>, Error> {
    let select = |columns: &str| db.execute(&format!("SELECT {columns} FROM service_schema"), &[]);
    let result = match select("version, local_file, compatible_from") {
        // A state table from before the compatibility rule has no `compatible_from`.
        Err(Error::Io(message)) if message.contains("no such column") => {
            select("version, local_file, NULL")?
        }
        Err(error) if schema_is_behind(&error) => return Ok(None),
        result => result?,
    };
    let row = result.rows.first().map(|row| row.values.as_slice());
    let state = match row {
        None => return Ok(None),
        Some([Value::Integer(version), Value::Integer(local_file), compatible_from]) => State {
            version: *version,
            local_file: *local_file != 0,
            compatible_from: match compatible_from {
                Value::Integer(oldest) => Some(*oldest),
                Value::Null => None,
                _ => return Err(unreadable()),
            },
        },
        Some(_) => return Err(unreadable()),
    };
    // A floor past the version marks a database being built (see `migrate_from`).
    if state.version < 0 || state.compatible_from.is_some_and(|oldest| oldest < 0) {
        return Err(unreadable());
    }
    Ok(Some(state))
}

/// A state row that makes no sense (edited by hand, or written by something else): nothing can
/// be decided from it, so no build migrates or writes until an operator repairs it.
fn unreadable() -> Error {
    Error::Io(
        "unreadable schema state: service_schema's row holds (version, local_file, \
         compatible_from) other than versions of 0 or more; nothing was migrated"
            .to_owned(),
    )
}

/// One attempt, from the state `found` a moment ago. Whether the database is a local file is
/// asked the one way that sends a server nothing it refuses to act on: a server refuses the
/// first setting, a file takes it; a state row that says "server" is taken at its word, which
/// saves a server the round trip at each attempt. On a local file the attempt fails at once,
/// rather than wait, when another connection holds the file.
fn migrate_without_waiting(
    db: &impl Database,
    migrations: &[Migration],
    target: i64,
    found: Option<State>,
) -> Result<State, Error> {
    let local_file = match found {
        Some(state) if !state.local_file => false,
        _ => db.execute("PRAGMA busy_timeout = 0", &[]).is_ok(),
    };
    // A state row of this rule's shape needs no table or column made for it.
    let has_state_row = found.is_some_and(|state| state.compatible_from.is_some());
    let result = claim_and_migrate(db, migrations, target, local_file, has_state_row);
    if local_file {
        db.execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"), &[])?;
    }
    result
}

/// How long a claim to migrate holds at least, and so how long one left by a holder that never
/// finishes holds writes off: a crashed process, or a database that crashed between the
/// claim's commit and the migration's (the claim is its own statement, so it survives the
/// crash). Short, as a migration takes milliseconds on a server that answers promptly: 70 ms
/// for board's first post on Spin over libSQL here. 10 s held every post off for the whole of
/// `crashes.rs`' five SIGKILL rounds on Spin once a kill landed inside board's migration.
const CLAIM: Duration = Duration::from_secs(2);
/// Round trips in one step of a migration: begin, check the version, the step, record it,
/// commit.
const ROUND_TRIPS_PER_STEP: f64 = 5.0;

/// How long a claim holds, from the pace the server answers at (`round_trip`, in seconds):
/// twice what a step takes at that pace, at least [`CLAIM`], and never past a request's time
/// for its database, which its holder cannot outlive. A claim that lapsed under a live holder
/// let the requests waiting for it claim with a write, which sqld queued behind the holder's
/// transaction: on Spin under load, where each step took about 3 s, 45-67 claims a run waited
/// 1.5-3.5 s there, and the slowest posts answered past 20 s. A holder slower than its claim
/// is still safe: whoever claims next finds the version moved inside its own transaction and
/// steps back.
fn claim_term(round_trip: f64) -> Value {
    let term = 2.0 * ROUND_TRIPS_PER_STEP * round_trip;
    Value::Real(
        term.max(CLAIM.as_secs_f64())
            .min(DATABASE_TIME.as_secs_f64()),
    )
}
/// The most a request waits before it tries to claim a server's migration.
const CLAIM_JITTER: Duration = Duration::from_millis(250);

/// Of all the requests and replicas that found the schema behind, the one whose claim lands in
/// the state row migrates; the others are told `Busy` and look again. Only the claimer ever
/// opens a transaction: a libSQL server that finds two transactions contending for its write
/// lock fails one at once and keeps the lock blocked for the rest until its 5 s transaction
/// timeout, whereas single statements (the claim) queue for it.
fn claim_and_migrate(
    db: &impl Database,
    migrations: &[Migration],
    target: i64,
    local_file: bool,
    has_state_row: bool,
) -> Result<State, Error> {
    if local_file {
        // WAL lets readers carry on while a writer commits. The mode is stored in the file, so
        // it is set once, and outside a transaction as SQLite requires.
        db.execute("PRAGMA journal_mode = WAL", &[])?;
    }
    if !local_file {
        // The first requests on a fresh server all find it behind at once. Spread over a few
        // hundred ms, all but the first find its claim by reading, and never contend for the
        // server's write lock with its migration (see `claim_and_migrate`).
        std::thread::sleep(jitter(CLAIM_JITTER));
    }
    let asked = Instant::now();
    if claimed_by_another(db)? {
        return Err(Error::Io(IN_PROGRESS.to_owned()));
    }
    let round_trip = asked.elapsed().as_secs_f64();
    let mut legacy = 0;
    if !has_state_row {
        legacy = version_before_the_state_table(db, local_file)?;
        db.execute(STATE_TABLE, &[])?;
        match db.execute(ADD_COMPATIBILITY, &[]) {
            // Made by this rule, or by another request a moment ago.
            Err(Error::Io(message)) if message.contains("duplicate column name") => {}
            result => drop(result?),
        }
        // The first requests on a fresh server all found no table to read a claim from: look
        // again now there is one. A claim written while the claimer's first step holds the
        // write lock queues behind it, and sqld then held the next step's `BEGIN IMMEDIATE`
        // until that claim gave up, 2-7 s later: two replicas' first requests outlasted their
        // time for the database in 2 of 5 runs (devhost, two cores kept busy), 0 of 13 since.
        if claimed_by_another(db)? {
            return Err(Error::Io(IN_PROGRESS.to_owned()));
        }
    }
    let claimed = db.execute(
        "INSERT INTO service_schema (id, version, local_file, claimed_until)
         VALUES (1, ?, ?, unixepoch('subsec') + ?)
         ON CONFLICT (id) DO UPDATE SET claimed_until = excluded.claimed_until
         WHERE (version < ? OR compatible_from IS NULL) AND claimed_until < unixepoch('subsec')
         RETURNING version, coalesce(compatible_from > version, version = 0)",
        &[
            Value::Integer(legacy),
            Value::Integer(local_file.into()),
            claim_term(round_trip),
            Value::Integer(target),
        ],
    )?;
    // Whether the database is being built: fresh, or with a floor past its version.
    let Some([Value::Integer(current), Value::Integer(being_built)]) =
        claimed.rows.first().map(|row| row.values.as_slice())
    else {
        return Err(Error::Io(IN_PROGRESS.to_owned()));
    };
    let current = *current;
    let migrated = migrate_from(db, migrations, current, *being_built != 0, local_file);
    match &migrated {
        // Let the next attempt, of this request or another, claim it at once.
        Err(_) => drop(db.execute("UPDATE service_schema SET claimed_until = 0", &[])),
        Ok(state) if current < state.version => eprintln!(
            "schema migrated from version {current} to {}",
            state.version
        ),
        Ok(_) => {}
    }
    migrated
}

/// Migrates from `current`, under the claim. An upgrade of a database in use is one
/// transaction, rolled back as a whole ([`migrate_in_transaction`]), and so is a local file's
/// build. A server's database `being_built` (with no schema yet, or whose building stopped
/// part way) goes a step to a transaction, each committed with its version and its claim
/// renewed ([`claim_term`]), so its build progresses across requests and each transaction is
/// short. No build's data is at stake in it, so nothing is given up. All of a fresh database's
/// steps in one transaction (19 statements for
/// board's, each an HTTP round trip on libSQL) outlasted sqld's 5 s transaction timeout under
/// load on Spin (a sign-up race beside 32 writers, two cores): a request whose claim had
/// meanwhile lapsed queued a write, sqld rolled the migration back at step 8-11 of 15 to let it
/// in, each new claimer met the same end, and posts waiting for it answered past 20 s in 3 of
/// 8 runs. Until the last step, the state row's floor (`compatible_from`) is this build's
/// version, past the database's own: that marks it as being built, reserved for builds that
/// know all of it. A file has no transaction timeout, and its host's crash is a crash of every
/// request on it: built a step to a transaction, a kill inside the build leaves a claim its
/// last step renewed, and the crash test's next round on devhost (650-1400 ms) can start and
/// end under it; no post got through its five rounds in a clean-clone run and in 2 of 4 runs
/// under load.
fn migrate_from(
    db: &impl Database,
    migrations: &[Migration],
    current: i64,
    being_built: bool,
    local_file: bool,
) -> Result<State, Error> {
    let target = migrations.len() as i64;
    // The claim lands on a schema behind this build, or on a row from before the rule. A newer
    // schema can only be the latter: no build said a migration past this one broke it.
    let last = current.max(target);
    let floor = if current <= target {
        compatible_from(migrations)
    } else {
        0
    };
    let stride = if being_built && !local_file {
        1
    } else {
        last - current
    };
    let mut state = State {
        version: current,
        local_file,
        compatible_from: None,
    };
    loop {
        // At least one step on (none when the row only lacked its floor), at most to `last`.
        let version = (state.version + stride.max(1)).min(last);
        let done = version == last;
        let next = State {
            version,
            local_file,
            compatible_from: Some(if done { floor } else { target }),
        };
        let claim = if done { Claim::Release } else { Claim::Renew };
        migrate_in_transaction(db, migrations, state.version, next, claim)?;
        if done {
            return Ok(next);
        }
        state = next;
    }
}

/// What a migration's transaction does with its claim: releases it, or, with steps still to
/// come, renews it for a step that takes as long as this one ([`claim_term`]).
#[derive(Clone, Copy)]
enum Claim {
    Release,
    Renew,
}

/// Whether another request holds the claim to migrate: asked with a read first, so that while
/// one migrates the others only read and queue no write behind its transaction.
fn claimed_by_another(db: &impl Database) -> Result<bool, Error> {
    let result = match db.execute(
        "SELECT claimed_until > unixepoch('subsec') FROM service_schema",
        &[],
    ) {
        Err(error) if schema_is_behind(&error) => return Ok(false),
        result => result?,
    };
    let row = result.rows.first().map(|row| row.values.as_slice());
    Ok(matches!(row, Some([Value::Integer(claimed)]) if *claimed != 0))
}

/// What a request that finds another one migrating is told, to look again shortly.
const IN_PROGRESS: &str = "database is locked: another request is migrating the schema";

/// The message of the error a build gets when one of its migrations fails (see [`failed`]).
const FAILED: &str = "schema migration failed";

/// A migration step the database refused (a constraint its rows break, SQL it does not take):
/// the transaction is rolled back and the claim released, so the schema and the older builds
/// serving it are as they were, and the next write of this build tries again.
fn failed(step: usize, from: i64, target: i64, cause: &Error) -> Error {
    Error::Io(format!(
        "{FAILED}: step {} of {target} (migrating from version {from}) was rolled back: {cause:?}",
        step + 1
    ))
}

/// Whether `error` is a migration of this build that failed and was rolled back.
pub(crate) fn is_failed(error: &Error) -> bool {
    matches!(error, Error::Io(message) if message.starts_with(FAILED))
}

/// Applies the migrations after `from` in one transaction, if the version is still `from` once
/// the transaction holds the write lock: a claim that expired under a slow holder lets a second
/// request claim, and whichever of the two comes second finds the version moved and steps back.
fn migrate_in_transaction(
    db: &impl Database,
    migrations: &[Migration],
    from: i64,
    state: State,
    claim: Claim,
) -> Result<(), Error> {
    let began = Instant::now();
    db.execute("BEGIN IMMEDIATE", &[])?;
    let applied = read_state(db)
        .and_then(|found| match found {
            Some(found) if found.version != from => Err(Error::Io(IN_PROGRESS.to_owned())),
            _ => Ok(()),
        })
        .and_then(|()| {
            let target = migrations.len() as i64;
            migrations
                .iter()
                .enumerate()
                .skip(from as usize)
                .take((state.version - from) as usize)
                .try_for_each(|(step, migration)| {
                    // A migration ends within its request's time too (`super::DATABASE_TIME`).
                    time_left()?;
                    db.execute(migration.sql(), &[])
                        .map(drop)
                        .map_err(|cause| failed(step, from, target, &cause))
                })
        })
        .and_then(|()| {
            let renewed = match claim {
                Claim::Release => Value::Null,
                // Three round trips so far: begin, the version, the step.
                Claim::Renew => claim_term(began.elapsed().as_secs_f64() / 3.0),
            };
            db.execute(
                "UPDATE service_schema SET version = ?, local_file = ?,
                 claimed_until = coalesce(unixepoch('subsec') + ?, 0), compatible_from = ?",
                &[
                    Value::Integer(state.version),
                    Value::Integer(state.local_file.into()),
                    renewed,
                    Value::Integer(state.compatible_from.unwrap_or_default()),
                ],
            )
        })
        .and_then(|_| db.execute("COMMIT", &[]));
    if applied.is_err() {
        // The failure is what the caller needs to hear about, not a rollback error.
        let _ = db.execute("ROLLBACK", &[]);
    }
    applied.map(drop)
}

/// Files made by builds before `service_schema` kept their version in `PRAGMA user_version`.
/// Only local files can be that old (the libSQL path never ran before it), so a server is
/// never asked.
fn version_before_the_state_table(db: &impl Database, local_file: bool) -> Result<i64, Error> {
    if !local_file {
        return Ok(0);
    }
    let result = db.execute("PRAGMA user_version", &[])?;
    match result.rows.first().and_then(|row| row.values.first()) {
        Some(Value::Integer(version)) => Ok(*version),
        other => Err(Error::Io(format!("unexpected user_version: {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::db::{Db, QueryResult};

    const MIGRATIONS: &[Migration] = &[
        Migration::Expand("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"),
        Migration::Expand("CREATE INDEX notes_body ON notes (body)"),
    ];
    /// The next build's: one compatible step more.
    const NEXT: &[Migration] = &[
        MIGRATIONS[0],
        MIGRATIONS[1],
        Migration::Expand("ALTER TABLE notes ADD COLUMN mood TEXT"),
    ];
    /// A build whose next step breaks the ones before it.
    const BREAKING: &[Migration] = &[
        MIGRATIONS[0],
        MIGRATIONS[1],
        Migration::Contract("ALTER TABLE notes RENAME TO entries"),
    ];

    fn open(dir: &tempfile::TempDir) -> rusqlite::Connection {
        rusqlite::Connection::open(dir.path().join("test.db")).unwrap()
    }

    fn version(db: &impl Database) -> i64 {
        read_state(db).unwrap().map_or(0, |state| state.version)
    }

    /// A database that, like a libSQL server, refuses every pragma that sets something.
    struct Server(rusqlite::Connection);

    impl Database for Server {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
            if sql.starts_with("PRAGMA") && sql.contains('=') {
                return Err(Error::Io("SQL_PARSE_ERROR: unsupported statement".into()));
            }
            Database::execute(&self.0, sql, params)
        }
    }

    #[test]
    fn a_fresh_file_is_migrated_to_the_latest_version_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let state = migrate(&db, MIGRATIONS).unwrap();
        assert_eq!(
            state,
            State {
                version: 2,
                local_file: true,
                compatible_from: Some(0),
            }
        );
        assert_eq!(read_state(&db).unwrap(), Some(state));
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let timeout: i64 = db
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(timeout, i64::from(BUSY_TIMEOUT_MS));
    }

    #[test]
    fn a_server_that_refuses_settings_is_migrated_without_them_and_known_as_a_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server(open(&dir));
        let state = migrate(&server, MIGRATIONS).unwrap();
        assert_eq!(
            state,
            State {
                version: 2,
                local_file: false,
                compatible_from: Some(0),
            }
        );
        let writes = Db::for_writes(server, MIGRATIONS).unwrap();
        writes
            .execute("INSERT INTO notes (body) VALUES ('x')", &[])
            .unwrap();
    }

    #[test]
    fn a_local_file_imported_into_a_server_is_known_as_a_server_from_its_first_write() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), MIGRATIONS).unwrap();
        let server = Server(open(&dir));
        Db::for_writes(server, MIGRATIONS).unwrap();
        assert!(!read_state(&open(&dir)).unwrap().unwrap().local_file);
    }

    #[test]
    fn a_read_of_a_fresh_database_migrates_it_and_then_answers() {
        let dir = tempfile::tempdir().unwrap();
        let reads = Db::for_reads(open(&dir), MIGRATIONS);
        let result = reads.execute("SELECT count(*) FROM notes", &[]).unwrap();
        assert!(matches!(result.rows[0].values[..], [Value::Integer(0)]));
        assert_eq!(version(&open(&dir)), 2);
    }

    #[test]
    fn a_write_finds_an_older_schema_and_migrates_it_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), &MIGRATIONS[..1]).unwrap();
        // The table exists, so a read would not notice; the index is what the write needs.
        Db::for_writes(open(&dir), MIGRATIONS).unwrap();
        assert_eq!(version(&open(&dir)), 2);
    }

    #[test]
    fn a_read_that_fails_for_another_reason_does_not_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let reads = Db::for_reads(open(&dir), MIGRATIONS);
        assert!(reads.execute("SELEC 1", &[]).is_err());
        assert_eq!(read_state(&open(&dir)).unwrap(), None);
    }

    #[test]
    fn a_file_versioned_by_user_version_keeps_its_data_and_moves_to_the_state_table() {
        let dir = tempfile::tempdir().unwrap();
        open(&dir)
            .execute_batch(&format!(
                "{}; INSERT INTO notes (body) VALUES ('kept'); PRAGMA user_version = 1",
                MIGRATIONS[0].sql()
            ))
            .unwrap();
        migrate(&open(&dir), MIGRATIONS).unwrap();
        assert_eq!(version(&open(&dir)), 2);
        let kept: String = open(&dir)
            .query_row("SELECT body FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, "kept");
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
        assert_eq!(version(&open(&dir)), 1);
        migrate(&open(&dir), MIGRATIONS).unwrap();
        assert_eq!(version(&open(&dir)), 2);
    }

    #[test]
    fn a_migration_waits_out_another_connection_that_holds_the_file_longer_than_the_busy_timeout() {
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
        holder.execute_batch("ROLLBACK").unwrap();
        assert_eq!(waiter.join().unwrap().unwrap().version, 2);
        assert_eq!(version(&open(&dir)), 2);
    }

    #[test]
    fn a_request_that_finds_the_migration_claimed_waits_for_it_and_does_not_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        db.execute_batch(STATE_TABLE).unwrap();
        db.execute_batch(
            "INSERT INTO service_schema (id, version, local_file, claimed_until)
             VALUES (1, 0, 1, unixepoch('subsec') + 60)",
        )
        .unwrap();
        assert!(is_busy(
            &migrate_without_waiting(&db, MIGRATIONS, 2, read_state(&db).unwrap()).unwrap_err()
        ));
        assert_eq!(version(&db), 0);
        db.execute_batch("UPDATE service_schema SET claimed_until = 0")
            .unwrap();
        assert_eq!(migrate(&db, MIGRATIONS).unwrap().version, 2);
    }

    #[test]
    fn a_failing_step_of_an_upgrade_leaves_the_schema_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), &MIGRATIONS[..1]).unwrap();
        let broken = [
            MIGRATIONS[0],
            MIGRATIONS[1],
            Migration::Expand("CREATE TABLE oops ("),
        ];
        let error = migrate(&open(&dir), &broken).unwrap_err();
        assert!(is_failed(&error), "{error:?}");
        let Error::Io(message) = &error else {
            unreachable!()
        };
        assert!(message.contains("step 3 of 3"), "{message}");
        let db = open(&dir);
        assert_eq!(version(&db), 1);
        let index: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'notes_body'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            index, 0,
            "the step before the failing one was rolled back too"
        );
        // Unclaimed again: the next attempt may migrate at once.
        let started = Instant::now();
        migrate(&db, MIGRATIONS).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// A database that fails one statement once, as sqld fails a transaction it timed out.
    struct TimesOutOnce<D> {
        db: D,
        sql: &'static str,
        failed: std::cell::Cell<bool>,
    }

    impl<D: Database> Database for TimesOutOnce<D> {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
            if sql == self.sql && !self.failed.replace(true) {
                return Err(Error::Io(
                    "TRANSACTION_TIMEOUT: Transaction timed out".into(),
                ));
            }
            Database::execute(&self.db, sql, params)
        }
    }

    #[test]
    fn a_fresh_database_keeps_each_step_it_was_built_with_and_the_next_attempt_goes_on_from_there()
    {
        let dir = tempfile::tempdir().unwrap();
        let server = TimesOutOnce {
            db: Server(open(&dir)),
            sql: NEXT[2].sql(),
            failed: Default::default(),
        };
        assert!(is_failed(&migrate(&server, NEXT).unwrap_err()));
        // Built up to the failing step, marked as being built by a build of 3 steps.
        let state = read_state(&open(&dir)).unwrap().unwrap();
        assert_eq!((state.version, state.compatible_from), (2, Some(3)));
        open(&dir)
            .execute_batch("INSERT INTO notes (body) VALUES ('written meanwhile')")
            .unwrap();
        let started = Instant::now();
        let state = migrate(&server, NEXT).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "claim released");
        assert_eq!((state.version, state.compatible_from), (3, Some(0)));
        assert_eq!(read_state(&open(&dir)).unwrap(), Some(state));
        let kept: String = open(&dir)
            .query_row("SELECT body FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(
            kept, "written meanwhile",
            "the steps before were not run again"
        );
    }

    #[test]
    fn a_fresh_file_is_built_in_one_transaction_and_a_failing_step_leaves_no_schema() {
        let dir = tempfile::tempdir().unwrap();
        let file = TimesOutOnce {
            db: open(&dir),
            sql: NEXT[2].sql(),
            failed: Default::default(),
        };
        assert!(is_failed(&migrate(&file, NEXT).unwrap_err()));
        assert_eq!(version(&open(&dir)), 0);
        let notes: i64 = open(&dir)
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'notes'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            notes, 0,
            "the steps before the failing one were rolled back"
        );
        assert_eq!(migrate(&file, NEXT).unwrap().version, 3);
    }

    /// A server whose migration steps each take `step`, and which notes, as each step
    /// begins, how much longer the claim holds.
    struct SlowSteps {
        db: Server,
        step: Duration,
        claim_left: std::cell::RefCell<Vec<f64>>,
    }

    impl Database for SlowSteps {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
            if NEXT.iter().any(|migration| migration.sql() == sql) {
                let left: f64 = self
                    .db
                    .0
                    .query_row(
                        "SELECT claimed_until - unixepoch('subsec') FROM service_schema",
                        [],
                        |row| row.get(0),
                    )
                    .unwrap();
                self.claim_left.borrow_mut().push(left);
                std::thread::sleep(self.step);
            }
            Database::execute(&self.db, sql, params)
        }
    }

    #[test]
    fn a_claim_is_renewed_at_each_step_for_twice_the_time_the_last_step_took() {
        let dir = tempfile::tempdir().unwrap();
        let server = SlowSteps {
            db: Server(open(&dir)),
            step: Duration::from_millis(1500),
            claim_left: Default::default(),
        };
        migrate(&server, NEXT).unwrap();
        let claim_left = server.claim_left.into_inner();
        assert_eq!(claim_left.len(), 3);
        // The first step runs under the claim's least term; the next ones under a renewal for
        // twice a step of 1.5 s and its round trips.
        assert!(
            claim_left[0] > 1.5 && claim_left[0] <= 2.0,
            "{claim_left:?}"
        );
        for left in &claim_left[1..] {
            assert!(
                (4.5..=DATABASE_TIME.as_secs_f64()).contains(left),
                "{claim_left:?}"
            );
        }
        let longest = claim_term(20.0);
        assert!(
            matches!(longest, Value::Real(term) if term == 10.0),
            "{longest:?}"
        );
    }

    #[test]
    fn a_claim_left_by_a_migration_that_died_with_its_database_holds_writes_off_for_its_term_only()
    {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        // What a crash between the claim's commit and the migration's leaves behind.
        db.execute_batch(STATE_TABLE).unwrap();
        db.execute_batch(&format!(
            "INSERT INTO service_schema (id, version, local_file, claimed_until)
             VALUES (1, 0, 1, unixepoch('subsec') + {})",
            CLAIM.as_secs_f64()
        ))
        .unwrap();
        let started = Instant::now();
        assert_eq!(migrate(&db, MIGRATIONS).unwrap().version, 2);
        let waited = started.elapsed().as_secs_f64();
        // What a write may wait after such a crash: the claim's term, then the migration.
        assert!(waited < 3.0, "waited {waited:.2} s for a claim left behind");
    }

    #[test]
    fn a_second_claimer_finds_the_version_moved_inside_its_transaction_and_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let state = migrate(&db, MIGRATIONS).unwrap();
        // It claimed when the version was 0; the first holder finished before its transaction.
        let error = migrate_in_transaction(&db, MIGRATIONS, 0, state, Claim::Release).unwrap_err();
        assert!(is_busy(&error), "{error:?}");
        assert_eq!(read_state(&db).unwrap(), Some(state));
    }

    /// The state row a build from before the compatibility rule left: no `compatible_from`.
    fn state_table_before_the_rule(db: &rusqlite::Connection, version: i64) {
        db.execute_batch(&format!(
            "CREATE TABLE service_schema (id INTEGER PRIMARY KEY CHECK (id = 1),
                 version INTEGER NOT NULL, local_file INTEGER NOT NULL, claimed_until REAL NOT NULL);
             INSERT INTO service_schema VALUES (1, {version}, 1, 0)"
        ))
        .unwrap();
    }

    #[test]
    fn each_migration_records_the_oldest_version_whose_builds_may_still_use_the_database() {
        assert_eq!(compatible_from(MIGRATIONS), 0);
        assert_eq!(compatible_from(NEXT), 0);
        assert_eq!(compatible_from(BREAKING), 3);
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), BREAKING).unwrap();
        let state = read_state(&open(&dir)).unwrap().unwrap();
        assert_eq!((state.version, state.compatible_from), (3, Some(3)));
    }

    #[test]
    fn an_older_build_serves_on_a_newer_compatible_schema_and_writes_without_migrating_down() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), NEXT).unwrap();
        open(&dir)
            .execute_batch("INSERT INTO notes (body, mood) VALUES ('new', 'glad')")
            .unwrap();
        // The release build, rolled back onto the next build's schema.
        let writes = Db::for_writes(open(&dir), &NEXT[..2]).unwrap();
        writes
            .execute("INSERT INTO notes (body) VALUES ('old')", &[])
            .unwrap();
        assert_eq!(version(&open(&dir)), 3);
        let moods: Vec<Option<String>> = open(&dir)
            .prepare("SELECT mood FROM notes ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(moods, [Some("glad".to_owned()), None]);
    }

    #[test]
    fn an_older_build_refuses_a_schema_a_breaking_migration_moved_past_it_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), BREAKING).unwrap();
        let before = open(&dir)
            .query_row("SELECT count(*) FROM entries", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap();
        let Err(error) = Db::for_writes(open(&dir), &BREAKING[..2]) else {
            panic!("the release build wrote to a schema it may not use");
        };
        assert!(is_too_new(&error), "{error:?}");
        let Error::Io(message) = &error else {
            unreachable!()
        };
        assert!(
            message.contains("schema version 3") && message.contains("version 2"),
            "{message}"
        );
        // A read that meets the rename is refused the same way, and nothing migrates down.
        let reads = Db::for_reads(open(&dir), &BREAKING[..2]);
        assert!(is_too_new(
            &reads
                .execute("SELECT count(*) FROM notes", &[])
                .unwrap_err()
        ));
        let state = read_state(&open(&dir)).unwrap().unwrap();
        assert_eq!((state.version, state.compatible_from), (3, Some(3)));
        let after = open(&dir)
            .query_row("SELECT count(*) FROM entries", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap();
        assert_eq!(before, after);
        // The build that made it serves again at once.
        Db::for_writes(open(&dir), BREAKING).unwrap();
    }

    #[test]
    fn a_state_row_from_before_the_rule_gains_it_at_the_next_write_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        for migration in MIGRATIONS {
            db.execute_batch(migration.sql()).unwrap();
        }
        db.execute_batch("INSERT INTO notes (body) VALUES ('kept')")
            .unwrap();
        state_table_before_the_rule(&db, 2);
        assert_eq!(read_state(&db).unwrap().unwrap().compatible_from, None);
        Db::for_writes(open(&dir), MIGRATIONS).unwrap();
        let state = read_state(&db).unwrap().unwrap();
        assert_eq!((state.version, state.compatible_from), (2, Some(0)));
        // And the next build migrates it on from there.
        assert_eq!(migrate(&db, NEXT).unwrap().version, 3);
        let kept: String = db
            .query_row("SELECT body FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, "kept");
    }

    #[test]
    fn a_state_row_that_cannot_be_read_is_an_error_and_nothing_migrates() {
        for (version, compatible_from) in [
            ("'seven'", "0"),
            ("2", "'soon'"),
            ("-1", "NULL"),
            ("1", "-1"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let db = open(&dir);
            db.execute_batch(STATE_TABLE).unwrap();
            db.execute_batch(&format!(
                "INSERT INTO service_schema VALUES (1, {version}, 1, 0, {compatible_from})"
            ))
            .unwrap();
            let Err(Error::Io(message)) = Db::for_writes(open(&dir), MIGRATIONS) else {
                panic!("a write went ahead on the state row ({version}, {compatible_from})");
            };
            assert!(message.contains("unreadable schema state"), "{message}");
            let tables: i64 = db
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'notes'",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(
                tables, 0,
                "nothing migrated on ({version}, {compatible_from})"
            );
        }
    }

    #[test]
    fn a_step_that_existing_rows_break_rolls_back_and_the_older_build_serves_on() {
        let dir = tempfile::tempdir().unwrap();
        migrate(&open(&dir), MIGRATIONS).unwrap();
        open(&dir)
            .execute_batch("INSERT INTO notes (body) VALUES ('a'), ('a')")
            .unwrap();
        // The next build adds a column, then makes bodies unique: the two rows of one body
        // break the second step, after the first has run.
        const UNIQUE_BODIES: &[Migration] = &[
            MIGRATIONS[0],
            MIGRATIONS[1],
            Migration::Expand("ALTER TABLE notes ADD COLUMN slug TEXT"),
            Migration::Expand("CREATE UNIQUE INDEX notes_one_body ON notes (body)"),
        ];
        let Err(error) = Db::for_writes(open(&dir), UNIQUE_BODIES) else {
            panic!("the next build migrated past a failing step");
        };
        assert!(is_failed(&error), "{error:?}");
        let state = read_state(&open(&dir)).unwrap().unwrap();
        assert_eq!(state.version, 2, "rolled back, column and all");
        assert!(open(&dir).prepare("SELECT slug FROM notes").is_err());
        // The release build writes on; the next build tries again at its next write.
        Db::for_writes(open(&dir), MIGRATIONS)
            .unwrap()
            .execute("INSERT INTO notes (body) VALUES ('b')", &[])
            .unwrap();
        assert!(is_failed(
            &Db::for_writes(open(&dir), UNIQUE_BODIES).err().unwrap()
        ));
    }
}
