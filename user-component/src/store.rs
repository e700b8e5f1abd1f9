//! The `users` database: its schema and the named queries the routes use. The SQL lives here
//! and nowhere else.

use service_kit::db::{Database, Error, QueryResult, Value};
use service_kit::migrate::Schema;

use crate::domain::{ChangeLimit, Email, IdList, UserId, UserName};

/// The label this component is granted in `spin.toml`; it can open no other database.
pub const DATABASE: &str = "users";

/// Append-only: entry `i` moves the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // AUTOINCREMENT: an id is never handed out twice, even after a delete, because other
    // services keep user ids in their own data.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    // The change feed other services replicate public facts from: every sign-up and rename, in
    // order. Only public facts: never the email or the hash.
    "CREATE TABLE user_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    // Users who signed up before the feed existed enter it first, in id order.
    "INSERT INTO user_changes (user_id, name, changed_at)
     SELECT id, name, created_at FROM users ORDER BY id",
    // Triggers record each change in the statement that makes it, so in the same transaction,
    // and SQLite's single writer hands out `seq` in commit order: a page never gains a row later.
    "CREATE TRIGGER user_changes_on_sign_up AFTER INSERT ON users
     BEGIN INSERT INTO user_changes (user_id, name) VALUES (NEW.id, NEW.name); END",
    "CREATE TRIGGER user_changes_on_rename AFTER UPDATE OF name ON users
     WHEN NEW.name IS NOT OLD.name
     BEGIN INSERT INTO user_changes (user_id, name) VALUES (NEW.id, NEW.name); END",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub created_at: String,
}

/// This service's database: `SCHEMA.open()` for a request that only reads (no statement of
/// its own), `SCHEMA.open_for_writes()` for one that writes (see `migrate::Db::for_writes`).
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
) -> Result<Option<User>, Error> {
    let result = db.execute(
        "INSERT INTO users (email, name, password_hash) VALUES (?, ?, ?)
         ON CONFLICT (email) DO NOTHING
         RETURNING id, email, name, created_at",
        &[
            Value::Text(email.as_str().to_owned()),
            Value::Text(name.as_str().to_owned()),
            Value::Text(password_hash.to_owned()),
        ],
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
}

/// The account an email belongs to and its stored hash, to check a password against.
pub fn find_credentials(
    db: &impl Database,
    email: &Email,
) -> Result<Option<(UserId, String)>, Error> {
    let result = db.execute(
        "SELECT id, password_hash FROM users WHERE email = ?",
        &[Value::Text(email.as_str().to_owned())],
    )?;
    let account = result.rows().next().and_then(|row| {
        Some((
            UserId::issued(row.get::<i64>("id")?),
            row.get::<&str>("password_hash")?.to_owned(),
        ))
    });
    Ok(account)
}

/// Renames a user; `None` when there is no such user. The trigger records the change.
pub fn rename(db: &impl Database, id: UserId, name: &UserName) -> Result<Option<User>, Error> {
    let result = db.execute(
        "UPDATE users SET name = ? WHERE id = ? RETURNING id, email, name, created_at",
        &[
            Value::Text(name.as_str().to_owned()),
            Value::Integer(id.get()),
        ],
    )?;
    Ok(users(&result).into_iter().next())
}

/// The changes after `after`, oldest first, at most `limit`.
pub fn changes(db: &impl Database, after: i64, limit: ChangeLimit) -> Result<Vec<Change>, Error> {
    let result = db.execute(
        "SELECT seq, user_id, name, changed_at FROM user_changes WHERE seq > ? ORDER BY seq LIMIT ?",
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
            })
        })
        .collect())
}

pub fn find_user(db: &impl Database, id: UserId) -> Result<Option<User>, Error> {
    let result = db.execute(
        "SELECT id, email, name, created_at FROM users WHERE id = ?",
        &[Value::Integer(id.get())],
    )?;
    Ok(users(&result).into_iter().next())
}

/// The users among `ids` that exist, in id order. One statement whatever the number of ids.
pub fn find_users(db: &impl Database, ids: &IdList) -> Result<Vec<User>, Error> {
    let ids: Vec<String> = ids.iter().map(|id| id.get().to_string()).collect();
    let result = db.execute(
        "SELECT id, email, name, created_at FROM users
         WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        &[Value::Text(format!("[{}]", ids.join(",")))],
    )?;
    Ok(users(&result))
}

/// Proves the database answers and holds our schema.
pub fn ping(db: &impl Database) -> Result<(), Error> {
    service_kit::db::ping(db, "users")
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
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = service_kit::migrate::migrated_file(&dir.path().join("users.db"), MIGRATIONS);
        (dir, db)
    }

    fn sign_up(db: &rusqlite::Connection, email: &str) -> Option<User> {
        let email = Email::parse(email).unwrap();
        let name = UserName::parse("Ann").unwrap();
        insert_user(db, &email, &name, "$argon2id$fake").unwrap()
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
        rename(&db, id, &UserName::parse("Annie").unwrap()).unwrap();
        rename(&db, id, &UserName::parse("Annie").unwrap()).unwrap();
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
        let old = service_kit::migrate::migrated_file(&path, &MIGRATIONS[..1]);
        old.execute_batch(
            "INSERT INTO users (email, name, password_hash) VALUES ('a@x.org', 'A', 'h'), ('b@x.org', 'B', 'h')",
        )
        .unwrap();
        let db = service_kit::migrate::migrated_file(&path, MIGRATIONS);
        let all = changes(&db, 0, ChangeLimit::parse("10").unwrap()).unwrap();
        let seen: Vec<(i64, &str)> = all
            .iter()
            .map(|c| (c.user_id.get(), c.name.as_str()))
            .collect();
        assert_eq!(seen, [(1, "A"), (2, "B")]);
    }

    #[test]
    fn ping_answers_on_a_migrated_database() {
        let (_dir, db) = database();
        assert!(ping(&db).is_ok());
    }
}
