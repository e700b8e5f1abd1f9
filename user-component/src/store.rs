//! The `users` database: its schema and the named queries the routes use. The SQL lives here
//! and nowhere else.

use service_kit::db::Migration::Expand;
use service_kit::db::{Database, Error, Migration, QueryResult, Schema, Value};
use service_kit::read_model;

use crate::domain::{Bio, ChangeLimit, Email, IdList, UserId, UserName};

/// The label this component is granted in `spin.toml`; it can open no other database.
pub const DATABASE: &str = "users";

/// Append-only: entry `i` moves the schema from version `i` to `i + 1`, and says whether builds
/// from before it may go on using the database (`Expand`) or must stop (`Contract`). The last
/// steps are the next versions' (features `next`, `breaking`), which `make test` builds beside
/// the release for the swap tests, as the next release would be built from its own commit
/// (docs/schema-changes.md).
pub const MIGRATIONS: &[Migration] = &[
    // AUTOINCREMENT: an id is never handed out twice, even after a delete, because other
    // services keep user ids in their own data.
    Expand(
        "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    ),
    // The change feed other services replicate public facts from: every sign-up and rename, in
    // order. Only public facts: never the email or the hash.
    Expand(
        "CREATE TABLE user_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    ),
    // Users who signed up before the feed existed enter it first, in id order.
    Expand(
        "INSERT INTO user_changes (user_id, name, changed_at)
     SELECT id, name, created_at FROM users ORDER BY id",
    ),
    // Triggers record each change in the statement that makes it, so in the same transaction,
    // and SQLite's single writer hands out `seq` in commit order: a page never gains a row later.
    Expand(
        "CREATE TRIGGER user_changes_on_sign_up AFTER INSERT ON users
     BEGIN INSERT INTO user_changes (user_id, name) VALUES (NEW.id, NEW.name); END",
    ),
    Expand(
        "CREATE TRIGGER user_changes_on_rename AFTER UPDATE OF name ON users
     WHEN NEW.name IS NOT OLD.name
     BEGIN INSERT INTO user_changes (user_id, name) VALUES (NEW.id, NEW.name); END",
    ),
    // Ed25519 keys the sign-in tokens are signed with: the seed (the private half) is read
    // only to sign; times are Unix seconds. `retired_at`: when a newer key took over signing.
    Expand(
        "CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        seed BLOB NOT NULL,
        public_key BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
    )",
    ),
    // Failed sign-ins per email, whether or not an account has it (see `throttle`).
    Expand(
        "CREATE TABLE sign_in_failures (
        email TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failed_at INTEGER NOT NULL
    )",
    ),
    Expand("CREATE INDEX sign_in_failures_by_age ON sign_in_failures (last_failed_at)"),
    // What the read model's entries are bound to (`model`).
    read_model::IDENTITY,
    // The next version: an optional bio, public, carried by the change feed. Every step is
    // compatible: the release never names `bio`, and the triggers fill the feed's column for
    // its sign-ups and renames as well, so a rollback loses no bio from the feed.
    #[cfg(feature = "next")]
    Expand("ALTER TABLE users ADD COLUMN bio TEXT"),
    #[cfg(feature = "next")]
    Expand("ALTER TABLE user_changes ADD COLUMN bio TEXT"),
    #[cfg(feature = "next")]
    Expand(
        "CREATE TRIGGER user_changes_carry_bio AFTER INSERT ON user_changes
     BEGIN UPDATE user_changes SET bio = (SELECT bio FROM users WHERE id = NEW.user_id)
         WHERE seq = NEW.seq; END",
    ),
    #[cfg(feature = "next")]
    Expand(
        "CREATE TRIGGER user_changes_on_bio AFTER UPDATE OF bio ON users
     WHEN NEW.bio IS NOT OLD.bio AND NEW.name IS OLD.name
     BEGIN INSERT INTO user_changes (user_id, name) VALUES (NEW.id, NEW.name); END",
    ),
    // The breaking version's: a rename (SQLite rewrites the triggers that name the column).
    // Builds that read `bio`, the next version's, would fail on it; the rule stops every
    // older build, the release's too, before its first write.
    #[cfg(feature = "breaking")]
    Migration::Contract("ALTER TABLE users RENAME COLUMN bio TO about"),
];

// The statements whose text differs between versions, each one literal: what a `User` and a
// `Change` are read from (the next version's bio, in the breaking version's renamed column),
// and how a user is inserted and renamed (a bio left out of a rename is kept).
#[cfg(not(feature = "next"))]
macro_rules! versioned {
    (user) => {
        "id, email, name, created_at"
    };
    (change) => {
        "seq, user_id, name, changed_at"
    };
    (insert_user) => {
        "INSERT INTO users (email, name, password_hash) VALUES (?, ?, ?)"
    };
    (rename) => {
        "UPDATE users SET name = ? WHERE id = ?"
    };
}
#[cfg(all(feature = "next", not(feature = "breaking")))]
macro_rules! versioned {
    (user) => {
        "id, email, name, created_at, bio"
    };
    (change) => {
        "seq, user_id, name, changed_at, bio"
    };
    (insert_user) => {
        "INSERT INTO users (email, name, password_hash, bio) VALUES (?, ?, ?, ?)"
    };
    (rename) => {
        "UPDATE users SET name = ?, bio = coalesce(?, bio) WHERE id = ?"
    };
}
#[cfg(feature = "breaking")]
macro_rules! versioned {
    (user) => {
        "id, email, name, created_at, about AS bio"
    };
    (change) => {
        "seq, user_id, name, changed_at, bio"
    };
    (insert_user) => {
        "INSERT INTO users (email, name, password_hash, about) VALUES (?, ?, ?, ?)"
    };
    (rename) => {
        "UPDATE users SET name = ?, about = coalesce(?, about) WHERE id = ?"
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub created_at: String,
    /// Only the next version has one, and then only when the user gave it.
    pub bio: Option<String>,
}

/// This service's database: `SCHEMA.open()` for a request that only reads (no statement of
/// its own), `SCHEMA.open_for_writes()` for one that writes (see `db::Db::for_writes`).
pub const SCHEMA: Schema = Schema {
    label: DATABASE,
    migrations: MIGRATIONS,
};

/// Inserts a user; `None` when the email is taken. The unique constraint decides, in one
/// statement, so two sign-ups racing for one email cannot both win.
pub fn insert_user(
    db: &impl Database,
    email: &Email,
    name: &UserName,
    password_hash: &str,
    bio: Option<&Bio>,
) -> Result<Option<User>, Error> {
    let mut params = vec![
        Value::Text(email.as_str().to_owned()),
        Value::Text(name.as_str().to_owned()),
        Value::Text(password_hash.to_owned()),
    ];
    if cfg!(feature = "next") {
        params.push(bio.map_or(Value::Null, |bio| Value::Text(bio.as_str().to_owned())));
    }
    let result = db.execute(
        concat!(
            versioned!(insert_user),
            " ON CONFLICT (email) DO NOTHING RETURNING ",
            versioned!(user)
        ),
        &params,
    )?;
    Ok(users(&result).into_iter().next())
}

/// One entry of the change feed: a user's public facts as of `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub user_id: UserId,
    pub name: String,
    pub changed_at: String,
    pub bio: Option<String>,
}

/// The account an email belongs to, with its stored hash to check a password against.
pub struct StoredCredentials {
    pub id: UserId,
    pub name: String,
    pub password_hash: String,
}

pub fn find_credentials(
    db: &impl Database,
    email: &Email,
) -> Result<Option<StoredCredentials>, Error> {
    let result = db.execute(
        "SELECT id, name, password_hash FROM users WHERE email = ?",
        &[Value::Text(email.as_str().to_owned())],
    )?;
    let account = result.rows().next().and_then(|row| {
        Some(StoredCredentials {
            id: UserId::issued(row.get::<i64>("id")?),
            name: row.get::<&str>("name")?.to_owned(),
            password_hash: row.get::<&str>("password_hash")?.to_owned(),
        })
    });
    Ok(account)
}

/// Renames a user, and in the next version sets their bio when one is given; `None` when
/// there is no such user. The triggers record the change.
pub fn rename(
    db: &impl Database,
    id: UserId,
    name: &UserName,
    bio: Option<&Bio>,
) -> Result<Option<User>, Error> {
    let mut params = vec![Value::Text(name.as_str().to_owned())];
    if cfg!(feature = "next") {
        params.push(bio.map_or(Value::Null, |bio| Value::Text(bio.as_str().to_owned())));
    }
    params.push(Value::Integer(id.get()));
    let result = db.execute(
        concat!(versioned!(rename), " RETURNING ", versioned!(user)),
        &params,
    )?;
    Ok(users(&result).into_iter().next())
}

/// The changes after `after`, oldest first, at most `limit`.
pub fn changes(db: &impl Database, after: i64, limit: ChangeLimit) -> Result<Vec<Change>, Error> {
    let result = db.execute(
        concat!(
            "SELECT ",
            versioned!(change),
            " FROM user_changes WHERE seq > ? ORDER BY seq LIMIT ?"
        ),
        &[Value::Integer(after), Value::Integer(limit.get())],
    )?;
    Ok(result
        .rows()
        .filter_map(|row| {
            Some(Change {
                seq: row.get("seq")?,
                user_id: UserId::issued(row.get("user_id")?),
                name: row.get::<&str>("name")?.to_owned(),
                changed_at: row.get::<&str>("changed_at")?.to_owned(),
                bio: row.get::<&str>("bio").map(str::to_owned),
            })
        })
        .collect())
}

pub fn find_user(db: &impl Database, id: UserId) -> Result<Option<User>, Error> {
    let result = db.execute(
        concat!("SELECT ", versioned!(user), " FROM users WHERE id = ?"),
        &[Value::Integer(id.get())],
    )?;
    Ok(users(&result).into_iter().next())
}

/// The users among `ids` that exist, in id order. One statement whatever the number of ids.
pub fn find_users(db: &impl Database, ids: &IdList) -> Result<Vec<User>, Error> {
    let ids: Vec<String> = ids.iter().map(|id| id.get().to_string()).collect();
    let result = db.execute(
        concat!(
            "SELECT ",
            versioned!(user),
            " FROM users WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
        ),
        &[Value::Text(format!("[{}]", ids.join(",")))],
    )?;
    Ok(users(&result))
}

/// The newest key made after `signs_after` that no newer key has replaced: (kid, seed).
pub fn signing_key(
    db: &impl Database,
    signs_after: i64,
) -> Result<Option<(String, Vec<u8>)>, Error> {
    let result = db.execute(
        "SELECT kid, seed AS bytes FROM signing_keys WHERE retired_at IS NULL AND created_at > ?
         ORDER BY created_at DESC, rowid DESC LIMIT 1",
        &[Value::Integer(signs_after)],
    )?;
    Ok(keys(&result).into_iter().next())
}

/// Stores a new signing key unless a key that may still sign (made after `signs_after`) is
/// already there, as when another instance made one at the same moment; then retires every
/// other key. Each statement alone is atomic, which is all this needs.
pub fn add_signing_key(
    db: &impl Database,
    kid: &str,
    seed: &[u8],
    public_key: &[u8],
    now: i64,
    signs_after: i64,
) -> Result<(), Error> {
    db.execute(
        "INSERT INTO signing_keys (kid, seed, public_key, created_at)
         SELECT ?, ?, ?, ? WHERE NOT EXISTS
             (SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND created_at > ?)",
        &[
            Value::Text(kid.to_owned()),
            Value::Blob(seed.to_vec()),
            Value::Blob(public_key.to_vec()),
            Value::Integer(now),
            Value::Integer(signs_after),
        ],
    )?;
    db.execute(
        "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND kid <>
             (SELECT kid FROM signing_keys WHERE retired_at IS NULL
              ORDER BY created_at DESC, rowid DESC LIMIT 1)",
        &[Value::Integer(now)],
    )?;
    Ok(())
}

/// The public halves of the keys in use or retired after `retired_after`, newest first.
pub fn published_keys(
    db: &impl Database,
    retired_after: i64,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let result = db.execute(
        "SELECT kid, public_key AS bytes FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > ?
         ORDER BY created_at DESC, rowid DESC",
        &[Value::Integer(retired_after)],
    )?;
    Ok(keys(&result))
}

/// (kid, bytes) of each row.
fn keys(result: &QueryResult) -> Vec<(String, Vec<u8>)> {
    result
        .rows()
        .filter_map(|row| {
            Some((
                row.get::<&str>("kid")?.to_owned(),
                row.get::<&[u8]>("bytes")?.to_vec(),
            ))
        })
        .collect()
}

/// The public half of key `kid`, if it is published (see [`published_keys`]).
pub fn published_key(
    db: &impl Database,
    kid: &str,
    retired_after: i64,
) -> Result<Option<Vec<u8>>, Error> {
    let result = db.execute(
        "SELECT public_key FROM signing_keys WHERE kid = ? AND (retired_at IS NULL OR retired_at > ?)",
        &[Value::Text(kid.to_owned()), Value::Integer(retired_after)],
    )?;
    let found = result
        .rows()
        .next()
        .and_then(|row| Some(row.get::<&[u8]>("public_key")?.to_vec()));
    Ok(found)
}

/// (failures, last failure) of `email`'s sign-ins.
pub fn sign_in_failures(db: &impl Database, email: &Email) -> Result<Option<(i64, i64)>, Error> {
    let result = db.execute(
        "SELECT failures, last_failed_at FROM sign_in_failures WHERE email = ?",
        &[Value::Text(email.as_str().to_owned())],
    )?;
    let found = result
        .rows()
        .next()
        .and_then(|row| Some((row.get("failures")?, row.get("last_failed_at")?)));
    Ok(found)
}

/// Counts a failed sign-in for `email` at `now`; one before `forgotten_before` no longer counts,
/// and such rows of every email are removed, so the table holds only the recent failures.
pub fn record_sign_in_failure(
    db: &impl Database,
    email: &Email,
    now: i64,
    forgotten_before: i64,
) -> Result<(), Error> {
    db.execute(
        "DELETE FROM sign_in_failures WHERE last_failed_at < ?",
        &[Value::Integer(forgotten_before)],
    )?;
    db.execute(
        "INSERT INTO sign_in_failures (email, failures, last_failed_at) VALUES (?, 1, ?)
         ON CONFLICT (email) DO UPDATE SET
             failures = failures + 1, last_failed_at = excluded.last_failed_at",
        &[Value::Text(email.as_str().to_owned()), Value::Integer(now)],
    )?;
    Ok(())
}

/// Forgets `email`'s failed sign-ins, after a successful one.
pub fn clear_sign_in_failures(db: &impl Database, email: &Email) -> Result<(), Error> {
    db.execute(
        "DELETE FROM sign_in_failures WHERE email = ?",
        &[Value::Text(email.as_str().to_owned())],
    )
    .map(drop)
}

/// Proves the database answers and holds a schema this build may use.
pub fn ping(db: &impl Database) -> Result<(), Error> {
    service_kit::db::ping(db, "users", MIGRATIONS)
}

fn users(result: &QueryResult) -> Vec<User> {
    result
        .rows()
        .filter_map(|row| {
            Some(User {
                id: UserId::issued(row.get("id")?),
                email: row.get::<&str>("email")?.to_owned(),
                name: row.get::<&str>("name")?.to_owned(),
                created_at: row.get::<&str>("created_at")?.to_owned(),
                bio: row.get::<&str>("bio").map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = service_kit::db::migrated_file(&dir.path().join("users.db"), MIGRATIONS);
        (dir, db)
    }

    fn sign_up(db: &rusqlite::Connection, email: &str) -> Option<User> {
        let email = Email::parse(email).unwrap();
        let name = UserName::parse("Ann").unwrap();
        insert_user(db, &email, &name, "$argon2id$fake", None).unwrap()
    }

    #[test]
    fn a_new_user_gets_an_id_and_an_rfc3339_utc_timestamp() {
        let (_dir, db) = database();
        let user = sign_up(&db, "ann@example.org").unwrap();
        assert_eq!(user.id.get(), 1);
        assert_eq!(user.email, "ann@example.org");
        assert_eq!(user.created_at.len(), "2026-01-01T00:00:00Z".len());
        assert!(user.created_at.ends_with('Z'));
    }

    /// The next version's bio: stored, read back, kept by a rename that leaves it out, and
    /// carried by the change feed, whatever build makes the change (the triggers fill it).
    #[cfg(feature = "next")]
    #[test]
    fn a_bio_is_read_back_and_each_change_of_the_feed_carries_it() {
        let (_dir, db) = database();
        let bio = Bio::parse("Writes about wasm").unwrap();
        let email = Email::parse("ann@example.org").unwrap();
        let ann = UserName::parse("Ann").unwrap();
        let user = insert_user(&db, &email, &ann, "$argon2id$fake", Some(&bio))
            .unwrap()
            .unwrap();
        assert_eq!(user.bio.as_deref(), Some("Writes about wasm"));
        assert_eq!(find_user(&db, user.id).unwrap(), Some(user.clone()));
        // A rename without a bio keeps it; a new bio alone is a change too.
        let annie = UserName::parse("Annie").unwrap();
        rename(&db, user.id, &annie, None).unwrap();
        let newer = Bio::parse("Writes about Spin").unwrap();
        let renamed = rename(&db, user.id, &annie, Some(&newer)).unwrap().unwrap();
        assert_eq!(renamed.bio.as_deref(), Some(newer.as_str()));
        rename(&db, user.id, &annie, None).unwrap();
        let feed: Vec<(String, Option<String>)> = changes(&db, 0, ChangeLimit::DEFAULT)
            .unwrap()
            .into_iter()
            .map(|change| (change.name, change.bio))
            .collect();
        let entry = |name: &str, bio: &Bio| (name.to_owned(), Some(bio.as_str().to_owned()));
        assert_eq!(
            feed,
            [
                entry("Ann", &bio),
                entry("Annie", &bio),
                entry("Annie", &newer)
            ]
        );
    }

    #[test]
    fn a_taken_email_inserts_nothing() {
        let (_dir, db) = database();
        assert!(sign_up(&db, "ann@example.org").is_some());
        assert!(sign_up(&db, "ANN@example.org ").is_none());
        let count: i64 = db
            .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn users_are_found_by_id_and_by_list() {
        let (_dir, db) = database();
        let ann = sign_up(&db, "ann@example.org").unwrap();
        let bob = sign_up(&db, "bob@example.org").unwrap();
        assert_eq!(
            find_user(&db, UserId::parse("2").unwrap()).unwrap(),
            Some(bob.clone())
        );
        assert_eq!(find_user(&db, UserId::parse("9").unwrap()).unwrap(), None);
        let found = find_users(&db, &IdList::parse("9,2,1").unwrap()).unwrap();
        assert_eq!(found, vec![ann, bob]);
    }

    #[test]
    fn sign_ups_and_renames_are_numbered_changes_in_order() {
        let (_dir, db) = database();
        let ann = sign_up(&db, "ann@example.org").unwrap();
        let bob = sign_up(&db, "bob@example.org").unwrap();
        let id = ann.id;
        rename(&db, id, &UserName::parse("Annie").unwrap(), None).unwrap();
        rename(&db, id, &UserName::parse("Annie").unwrap(), None).unwrap();
        let all = changes(&db, 0, ChangeLimit::parse("1000").unwrap()).unwrap();
        let seen: Vec<(i64, i64, &str)> = all
            .iter()
            .map(|c| (c.seq, c.user_id.get(), c.name.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, ann.id.get(), "Ann"),
                (2, bob.id.get(), "Ann"),
                (3, ann.id.get(), "Annie")
            ],
            "a rename to the same name is no change"
        );
        let page = changes(&db, 1, ChangeLimit::parse("1").unwrap()).unwrap();
        assert_eq!(page.iter().map(|c| c.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn users_from_before_the_feed_enter_it_when_it_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.db");
        let old = service_kit::db::migrated_file(&path, &MIGRATIONS[..1]);
        old.execute_batch(
            "INSERT INTO users (email, name, password_hash) VALUES ('a@x.org', 'A', 'h'), ('b@x.org', 'B', 'h')",
        )
        .unwrap();
        let db = service_kit::db::migrated_file(&path, MIGRATIONS);
        let all = changes(&db, 0, ChangeLimit::parse("10").unwrap()).unwrap();
        let seen: Vec<(i64, &str)> = all
            .iter()
            .map(|c| (c.user_id.get(), c.name.as_str()))
            .collect();
        assert_eq!(seen, [(1, "A"), (2, "B")]);
    }

    #[test]
    fn one_key_signs_at_a_time_and_a_retired_one_stays_published_for_a_while() {
        let (_dir, db) = database();
        add_signing_key(&db, "a", &[1; 32], &[2; 32], 100, 50).unwrap();
        // A second instance making one at the same moment stores nothing.
        add_signing_key(&db, "b", &[3; 32], &[4; 32], 100, 50).unwrap();
        assert_eq!(
            signing_key(&db, 50).unwrap(),
            Some(("a".to_owned(), vec![1; 32]))
        );
        // Past its lifetime: none may sign, a new one takes over and "a" is retired at 200.
        assert_eq!(signing_key(&db, 150).unwrap(), None);
        add_signing_key(&db, "c", &[5; 32], &[6; 32], 200, 150).unwrap();
        assert_eq!(
            signing_key(&db, 150)
                .unwrap()
                .map(|(kid, _)| kid)
                .as_deref(),
            Some("c")
        );
        let kids = |after| -> Vec<String> {
            published_keys(&db, after)
                .unwrap()
                .into_iter()
                .map(|(kid, _)| kid)
                .collect()
        };
        assert_eq!(kids(199), ["c", "a"]);
        assert_eq!(kids(200), ["c"]);
        assert_eq!(published_key(&db, "a", 199).unwrap(), Some(vec![2; 32]));
        assert_eq!(published_key(&db, "a", 200).unwrap(), None);
    }

    #[test]
    fn failed_sign_ins_count_per_email_until_forgotten_or_cleared() {
        let (_dir, db) = database();
        let ann = Email::parse("ann@example.org").unwrap();
        let bob = Email::parse("bob@example.org").unwrap();
        for now in [10, 20, 30] {
            record_sign_in_failure(&db, &ann, now, 0).unwrap();
        }
        record_sign_in_failure(&db, &bob, 30, 0).unwrap();
        assert_eq!(sign_in_failures(&db, &ann).unwrap(), Some((3, 30)));
        // Failures older than the window are forgotten when the next one is counted.
        record_sign_in_failure(&db, &ann, 1000, 500).unwrap();
        assert_eq!(sign_in_failures(&db, &ann).unwrap(), Some((1, 1000)));
        assert_eq!(sign_in_failures(&db, &bob).unwrap(), None);
        clear_sign_in_failures(&db, &ann).unwrap();
        assert_eq!(sign_in_failures(&db, &ann).unwrap(), None);
    }

    #[test]
    fn ping_answers_on_a_migrated_database() {
        let (_dir, db) = database();
        assert!(ping(&db).is_ok());
    }
}
