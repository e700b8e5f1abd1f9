//! The one door to SQLite. Services write their queries against [`Database`] so the same SQL
//! runs on Spin's `fermyon:spin/sqlite` inside the component and on a real SQLite file in the
//! host-target unit tests (feature `rusqlite`, `native`). A store opens its database through its
//! [`Schema`] and talks to a [`Db`]: the connection policy (when the schema is checked, when a
//! busy statement is sent again); `migrate` is the protocol that brings a schema up to date.

pub mod migrate;
#[cfg(any(test, feature = "rusqlite"))]
mod native;

use std::cell::Cell;
use std::time::{Duration, Instant};

pub use spin_sdk::sqlite::{Error, QueryResult, Value};

use crate::problem::Problem;

pub use migrate::Migration;

pub trait Database {
    /// Runs one statement and returns its rows (none for statements without results).
    fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error>;
}

impl Database for spin_sdk::sqlite::Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
        spin_sdk::sqlite::Connection::execute(self, sql, params)
    }
}

/// The problem type of a build refusing a schema newer than it may use.
pub const SCHEMA_TOO_NEW: &str = "schema-too-new";

/// Any database failure, seen from a client, is the service being unable to answer right now.
/// The detail stays generic: SQLite's messages describe our schema, not the client's request
/// (the service logs the cause). Two failures say what they are, as they last until an
/// operator acts rather than until a retry: a build refusing a schema newer than it may use,
/// and a build whose migration failed and was rolled back.
pub fn unavailable(error: &Error) -> Problem {
    if migrate::is_too_new(error) {
        // A type of its own: it lasts until a newer build serves, so a swap or a rollout
        // that meets it at a health check gives up on this build at once (`scripts/swap`).
        return Problem::new(
            503,
            SCHEMA_TOO_NEW,
            "Service unavailable",
            "This build of the service is older than its database's schema allows; it \
             answers again once a newer build serves.",
        )
        .with_header("retry-after", crate::problem::RETRY_AFTER_SECONDS);
    }
    if migrate::is_failed(error) {
        return Problem::unavailable(
            "This build of the service could not bring its database's schema up to date (the \
             migration was rolled back and nothing was written); it tries again at the next \
             write.",
        );
    }
    Problem::unavailable("The service's database cannot be reached; try again shortly.")
}

/// Proves the database answers, holds `table`, and has a schema a build of `migrations` may
/// use: the health check of a service. The first query fails when the file is unusable or the
/// table is missing; it reads no row. The second reads the schema's state, so that a gateway,
/// a swap or a rollout never puts into service a build that would refuse every write (a
/// rollback past a breaking migration). `table` is the service's own constant, never input.
pub fn ping(db: &impl Database, table: &str, migrations: &[Migration]) -> Result<(), Error> {
    db.execute(&format!("SELECT 1 FROM {table} WHERE rowid = 0"), &[])?;
    migrate::check_usable(db, migrations)
}

/// The most time one request spends on its database: its statements, and its waits for a
/// server's lock and for another request's migration, from its first statement on. Once it has
/// passed, the request sends no further statement (a migration it is running is rolled back)
/// and answers `503` with `Retry-After` ([`unavailable`]), so every answer comes within about
/// this plus the one statement in flight. Each wait used to have a bound of its own (15 s per
/// busy statement, 20 s for a migration), and nothing bounded their sum, the statements between
/// them or a migration's own length: on Spin over libSQL, under 32 writers and a sign-up race
/// on two cores, board's first migration took up to a second a statement, 17-25 s in all, and
/// posts waited it out and then their own turn, with no answer after the test client's 30 s.
/// 10 s: above the 5-8 s that such a burst held sqld's lock from some writers, and with a
/// statement's longest (a frozen server's, cut at 8 s by `deploy/libsql-guard`) still within
/// the tests' 20 s answer bound.
pub(crate) const DATABASE_TIME: Duration = Duration::from_secs(10);
/// The first pause before a busy statement or a look at another request's migration is tried
/// again, and the longest one it doubles up to.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

thread_local! {
    /// When this request's [`DATABASE_TIME`] runs out, from its first statement. Spin gives a
    /// WASIp2 component a fresh instance for every request, so a component's thread-local is
    /// its request's, whatever connections it opens. (A host-target test has a thread, and so
    /// a clock, of its own.)
    static REQUEST_ENDS: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// What is left of the request's [`DATABASE_TIME`], starting its clock at the first call; the
/// error its next statement gets instead of being sent once there is none.
pub(crate) fn time_left() -> Result<Duration, Error> {
    let now = Instant::now();
    let ends = REQUEST_ENDS.get().unwrap_or(now + DATABASE_TIME);
    REQUEST_ENDS.set(Some(ends));
    ends.checked_duration_since(now)
        .filter(|left| !left.is_zero())
        .ok_or_else(|| Error::Io(SPENT.to_owned()))
}

/// The message of a statement not sent because its request's time for the database ran out;
/// busy, as far as a client is concerned (`503` with `Retry-After`).
const SPENT: &str = "database is locked: the request has spent its time for the database";

/// The pauses of one wait for a database: each twice the one before, up to [`LONGEST_PAUSE`],
/// and each between half and all of that at random. Waiters that polled in step every 10 ms
/// kept a libSQL server too busy to finish what they waited for: 100 sign-ups on a fresh server
/// asked it thousands of times a second while one of them migrated and then while each
/// inserted, and 91 of the 100 ran out of their 15 s (devhost, sqld 0.24.33).
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { next: FIRST_PAUSE }
    }

    /// Sleeps for the next pause, never past the request's time (`left`); the sleep yields the
    /// host's thread.
    pub(crate) fn pause(&mut self, left: Duration) {
        std::thread::sleep((self.next / 2 + jitter(self.next / 2)).min(left));
        self.next = (self.next * 2).min(LONGEST_PAUSE);
    }
}

/// A random share of `most`, from the host's random source (WASI's `random_get`, through the
/// standard library's hash seeds).
pub(crate) fn jitter(most: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    most.mul_f64((random % 1000) as f64 / 1000.0)
}

/// A service's database: the label it is granted and the migrations that build its schema.
/// `migrations[i]` takes the schema from version `i` to `i + 1`; entries are only ever appended.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub label: &'static str,
    pub migrations: &'static [Migration],
}

impl Schema {
    /// For a request that only reads: opens the database and sends nothing else (see [`Db`]).
    pub fn open(&self) -> Result<Db<spin_sdk::sqlite::Connection>, Error> {
        Ok(Db::for_reads(
            spin_sdk::sqlite::Connection::open(self.label)?,
            self.migrations,
        ))
    }

    /// For a request that writes: opens the database and brings its schema up to date first.
    pub fn open_for_writes(&self) -> Result<Db<spin_sdk::sqlite::Connection>, Error> {
        Db::for_writes(
            spin_sdk::sqlite::Connection::open(self.label)?,
            self.migrations,
        )
    }
}

/// A connection that migrates its database when it finds the schema behind.
///
/// A read trusts the schema it finds: when a statement fails because a table or column is
/// missing (a fresh database, or a build newer than its schema), the migrations run and the
/// statement runs once more. A read of an older schema that succeeds is still a correct read.
/// A write cannot trust it: a missing trigger (the change feed) or unique index would let it
/// succeed and be wrong, so [`Db::for_writes`] checks the version before the first write.
///
/// The same split holds for a schema newer than the build: a write checks that the build may
/// still use it ([`Migration`]) and is refused otherwise; a read is refused once a statement
/// fails on it (what a drop or a rename does to an older build's queries), and costs no
/// statement of its own otherwise. A breaking change of meaning that leaves every name in
/// place is seen by writes only: ship it with a rename.
pub struct Db<D> {
    inner: D,
    migrations: &'static [Migration],
    /// Whether a statement the database finds busy is tried again here: everywhere but on a
    /// local file, whose own busy handler (5 s) already waits for the lock.
    waits_when_busy: bool,
}

impl<D: Database> Db<D> {
    pub fn for_reads(inner: D, migrations: &'static [Migration]) -> Self {
        Self {
            inner,
            migrations,
            waits_when_busy: true,
        }
    }

    /// Checks the version (one statement) and migrates when it is behind. On a local file it
    /// also makes commits sync the write-ahead log only at checkpoints (`synchronous = NORMAL`):
    /// each commit's `fsync` held the file's write lock, and under 16 concurrent writers the
    /// queue behind it made the slowest post wait 0.5-0.7 s (p99; 53 ms without). What that
    /// gives up: after an OS crash or power loss the last commits may be missing (never a
    /// corrupt file); a crash of the host process loses nothing (`tests/api/crashes.rs`). A
    /// libSQL server decides its own durability and refuses the setting, so it is not sent.
    pub fn for_writes(inner: D, migrations: &'static [Migration]) -> Result<Self, Error> {
        let state = migrate::migrate(&inner, migrations)?;
        if state.local_file && inner.execute("PRAGMA synchronous = NORMAL", &[]).is_err() {
            // A file made locally and then imported into a server (`turso db import`): from
            // now on it is treated as the server it is.
            inner.execute("UPDATE service_schema SET local_file = 0", &[])?;
        }
        Ok(Self {
            inner,
            migrations,
            waits_when_busy: !state.local_file,
        })
    }
}

impl<D: Database> Database for Db<D> {
    /// Each statement of the services is one transaction of its own, so one that failed as
    /// missing schema or as busy did nothing, and is safe to send again.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
        let mut backoff = Backoff::new();
        loop {
            let left = time_left()?;
            match self.inner.execute(sql, params) {
                Err(error) if schema_is_behind(&error) => {
                    migrate::migrate(&self.inner, self.migrations)?;
                    time_left()?;
                    return self.inner.execute(sql, params);
                }
                // A libSQL server answers a write that finds another stream's transaction
                // holding the lock with SQLITE_BUSY at once, where a file's busy handler waits.
                Err(error) if self.waits_when_busy && is_busy(&error) => backoff.pause(left),
                result => return result,
            }
        }
    }
}

/// SQLite's words for a statement that names what the schema does not have (yet). Spin's
/// interface passes SQLite's errors on only as their message, on both backends.
pub(crate) fn schema_is_behind(error: &Error) -> bool {
    const MISSING: [&str; 3] = ["no such table", "no such column", "has no column named"];
    matches!(error, Error::Io(message) if MISSING.iter().any(|words| message.contains(words)))
}

/// A real SQLite file at `path`, migrated: what the services' host-target tests run against.
#[cfg(any(test, feature = "rusqlite"))]
pub fn migrated_file(path: &std::path::Path, migrations: &[Migration]) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("a test database file opens");
    migrate::migrate(&connection, migrations).expect("the migrations apply");
    connection
}

/// SQLite's SQLITE_BUSY, which Spin's interface passes on only as its message (also how a
/// request hears that another one holds the claim to migrate).
pub(crate) fn is_busy(error: &Error) -> bool {
    matches!(error, Error::Io(message) if message.contains("database is locked"))
}

#[cfg(test)]
mod tests {
    use super::migrate::{is_too_new, migrate};
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    use super::{ping, Database, Db, Error, Migration, QueryResult, Value, REQUEST_ENDS};

    /// A libSQL server whose write lock another stream holds for good: every statement is
    /// answered busy at once. Counts what it was sent.
    #[derive(Default)]
    struct LockedServer {
        sent: Cell<usize>,
    }

    impl Database for LockedServer {
        fn execute(&self, _: &str, _: &[Value]) -> Result<QueryResult, Error> {
            self.sent.set(self.sent.get() + 1);
            Err(Error::Io("SQLITE_BUSY: database is locked".into()))
        }
    }

    #[test]
    fn a_request_spends_at_most_its_time_on_the_database_and_then_sends_nothing() {
        let db = Db::for_reads(LockedServer::default(), &[]);
        let time = Duration::from_millis(300);
        let started = Instant::now();
        // A request with 300 ms for its database, begun now.
        REQUEST_ENDS.set(Some(started + time));
        assert!(super::is_busy(&db.execute("INSERT 1", &[]).unwrap_err()));
        let first = started.elapsed();
        assert!(
            (time..time * 2).contains(&first),
            "the first statement waited {first:?}"
        );
        let sent = db.inner.sent.get();
        assert!(sent > 1, "tried again while it waited: {sent}");

        // The next statement of the same request, on another connection too, is refused at
        // once, as busy (a 503 with Retry-After), and the server is not asked.
        let other = Db::for_reads(LockedServer::default(), &[]);
        let second = other.execute("SELECT 2", &[]).unwrap_err();
        assert!(super::is_busy(&second), "{second:?}");
        assert_eq!(other.inner.sent.get(), 0);
        assert!(started.elapsed() < first + Duration::from_millis(50));
    }

    #[test]
    fn ping_fails_until_the_table_exists() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        assert!(ping(&db, "notes", &[]).is_err());
        db.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
            .unwrap();
        assert!(ping(&db, "notes", &[]).is_ok());
    }

    #[test]
    fn ping_fails_for_a_build_a_breaking_migration_left_behind_and_passes_for_a_newer_one() {
        let release = &[Migration::Expand(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY)",
        )];
        let next = &[
            release[0],
            Migration::Expand("ALTER TABLE notes ADD COLUMN mood TEXT"),
        ];
        let breaking = &[
            next[0],
            next[1],
            Migration::Contract("DROP INDEX IF EXISTS none"),
        ];
        let db = rusqlite::Connection::open_in_memory().unwrap();
        migrate(&db, next).unwrap();
        assert!(ping(&db, "notes", release).is_ok(), "compatible");
        migrate(&db, breaking).unwrap();
        assert!(is_too_new(&ping(&db, "notes", release).unwrap_err()));
        assert!(is_too_new(&ping(&db, "notes", next).unwrap_err()));
        assert!(ping(&db, "notes", breaking).is_ok());
    }
}
