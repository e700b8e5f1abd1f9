//! The `boards` database: its schema, and one module per thing board keeps in it: the posts,
//! the replica of their authors with its place in the user service's change feed, and the
//! user service's signing keys.

pub mod authors;
pub mod keys;
pub mod posts;

use service_kit::db::Migration::{Contract, Expand};
use service_kit::db::{Database, Error, Migration, QueryResult, Schema};
use service_kit::read_model;

/// The label this component is granted in `spin.toml`; it can open no other database.
pub const DATABASE: &str = "boards";

/// Append-only: entry `i` moves the schema from version `i` to `i + 1`, and says whether builds
/// from before it may go on using the database (`Expand`) or must stop (`Contract`). The last
/// step is the next version's (feature `next`), which `make test` builds beside the release for
/// the swap tests, as the next release would be built from its own commit
/// (docs/schema-changes.md).
pub const MIGRATIONS: &[Migration] = &[
    // `user_id` has no foreign key on purpose: users live in another service's database.
    Expand(
        "CREATE TABLE boards (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        title TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    ),
    // Serves `GET /boards?userId=` newest first without a sort.
    Expand("CREATE INDEX boards_by_user ON boards (user_id, id DESC)"),
    // The replica: what board shows about an author, learnt from the user service's API only.
    Expand("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"),
    // Where board is in the user service's change feed, and when the next pull may start:
    // claimed in one UPDATE, so concurrent instances agree on who pulls.
    Expand(
        "CREATE TABLE author_feed (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL,
        next_pull_at REAL NOT NULL
    )",
    ),
    Expand("INSERT INTO author_feed (id, last_seq, next_pull_at) VALUES (1, 0, 0)"),
    // The table holds posts and is called so; files made before keep their rows.
    Contract("ALTER TABLE boards RENAME TO posts"),
    Contract("DROP INDEX boards_by_user"),
    Expand("CREATE INDEX posts_by_user ON posts (user_id, id DESC)"),
    // The user service's public signing keys as `GET /users/keys` last listed them (`x`:
    // the Ed25519 key, base64url), and when board may next ask: claimed in one UPDATE, so of
    // all the instances that meet a key they do not know, one asks per interval.
    Expand("CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, x TEXT NOT NULL)"),
    // `claimed_at` later than `fetched_at`: a fetch is in flight; `failed`: how the last ended.
    Expand(
        "CREATE TABLE key_refresh (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        next_fetch_at REAL NOT NULL,
        claimed_at REAL NOT NULL,
        fetched_at REAL NOT NULL,
        failed INTEGER NOT NULL
    )",
    ),
    Expand(
        "INSERT INTO key_refresh (id, next_fetch_at, claimed_at, fetched_at, failed)
     VALUES (1, 0, 0, 0, 0)",
    ),
    // What the read model's entries are bound to (`model`), and how it learns which names
    // changed: `seq` moves past every other author's on each change of a name, by any build.
    read_model::IDENTITY,
    Expand("ALTER TABLE authors ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"),
    Expand("CREATE INDEX authors_by_seq ON authors (seq)"),
    Expand(
        "CREATE TRIGGER authors_seq_on_rename AFTER UPDATE OF name ON authors
     WHEN NEW.name IS NOT OLD.name
     BEGIN UPDATE authors SET seq = (SELECT max(seq) FROM authors) + 1 WHERE id = NEW.id; END",
    ),
    // The next version: an optional summary on a post. Compatible: the release never names it.
    #[cfg(feature = "next")]
    Expand("ALTER TABLE posts ADD COLUMN summary TEXT"),
];

/// This service's database: `SCHEMA.open()` for a request that only reads (no statement of
/// its own), `SCHEMA.open_for_writes()` for one that writes (see `db::Db::for_writes`).
pub const SCHEMA: Schema = Schema {
    label: DATABASE,
    migrations: MIGRATIONS,
};

/// Proves the database answers and holds a schema this build may use.
pub fn ping(db: &impl Database) -> Result<(), Error> {
    service_kit::db::ping(db, "posts", MIGRATIONS)
}

/// The text in `column` of the first row, if there is one.
fn first_text(result: &QueryResult, column: &str) -> Option<String> {
    let row = result.rows().next()?;
    row.get::<&str>(column).map(str::to_owned)
}

/// A freshly migrated `boards` file for the modules' tests.
#[cfg(test)]
fn test_database() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let db = service_kit::db::migrated_file(&dir.path().join("boards.db"), MIGRATIONS);
    (dir, db)
}
