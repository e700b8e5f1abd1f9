//! The `boards` database: its schema and the named queries the handlers use. Besides the posts it
//! holds board's replica of its authors' public facts (id and name), fed by the user service's
//! change feed, and the feed's bookmark.

use service_kit::db::{Database, Error, QueryResult, Schema, Value};

use crate::domain::{Content, Cursor, Limit, PostId, Title, UserId};

/// The label this component is granted in `spin.toml`; it can open no other database.
pub const DATABASE: &str = "boards";

/// Append-only: entry `i` moves the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // `user_id` has no foreign key on purpose: users live in another service's database.
    "CREATE TABLE boards (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        title TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )",
    // Serves `GET /boards?userId=` newest first without a sort.
    "CREATE INDEX boards_by_user ON boards (user_id, id DESC)",
    // The replica: what board shows about an author, learnt from the user service's API only.
    "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    // Where board is in the user service's change feed, and when the next pull may start:
    // claimed in one UPDATE, so concurrent instances agree on who pulls.
    "CREATE TABLE author_feed (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL,
        next_pull_at REAL NOT NULL
    )",
    "INSERT INTO author_feed (id, last_seq, next_pull_at) VALUES (1, 0, 0)",
    // The table holds posts and is called so; files made before keep their rows.
    "ALTER TABLE boards RENAME TO posts",
    "DROP INDEX boards_by_user",
    "CREATE INDEX posts_by_user ON posts (user_id, id DESC)",
    // The user service's public signing keys as `GET /users/keys` last listed them (`x`:
    // the Ed25519 key, base64url), and when board may next ask: claimed in one UPDATE, so of
    // all the instances that meet a key they do not know, one asks per interval.
    "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, x TEXT NOT NULL)",
    // `claimed_at` later than `fetched_at`: a fetch is in flight; `failed`: how the last ended.
    "CREATE TABLE key_refresh (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        next_fetch_at REAL NOT NULL,
        claimed_at REAL NOT NULL,
        fetched_at REAL NOT NULL,
        failed INTEGER NOT NULL
    )",
    "INSERT INTO key_refresh (id, next_fetch_at, claimed_at, fetched_at, failed)
     VALUES (1, 0, 0, 0, 0)",
];

/// The columns of a post as read, with its author's name from the replica (`NULL` when board
/// has not met the author yet) and whether the change feed is due for a pull.
const POST_COLUMNS: &str =
    "p.id, p.user_id, p.title, p.content, p.created_at, a.name AS author_name,
    (SELECT next_pull_at <= unixepoch('subsec') FROM author_feed) AS feed_due";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub user_id: UserId,
    pub title: String,
    pub content: String,
    pub created_at: String,
    /// From the replica; `None` until board learns the author's name.
    pub author_name: Option<String>,
}

/// One page of posts, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub posts: Vec<Post>,
    pub next: Option<Cursor>,
}

/// What a read found, and whether the author replica is due for a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read<T> {
    pub found: T,
    pub feed_due: bool,
}

/// An author's public facts as board keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorName<'a> {
    pub id: UserId,
    pub name: &'a str,
}

/// This service's database: `SCHEMA.open()` for a request that only reads (no statement of
/// its own), `SCHEMA.open_for_writes()` for one that writes (see `db::Db::for_writes`).
pub const SCHEMA: Schema = Schema {
    label: DATABASE,
    migrations: MIGRATIONS,
};

pub fn insert_post(
    db: &impl Database,
    user_id: UserId,
    title: &Title,
    content: &Content,
) -> Result<Post, Error> {
    let result = db.execute(
        "INSERT INTO posts (user_id, title, content) VALUES (?, ?, ?)
         RETURNING id, user_id, title, content, created_at, NULL AS author_name",
        &[
            Value::Integer(user_id.get()),
            Value::Text(title.as_str().to_owned()),
            Value::Text(content.as_str().to_owned()),
        ],
    )?;
    posts(&result)
        .into_iter()
        .next()
        .ok_or_else(|| Error::Io("INSERT ... RETURNING returned no row".to_owned()))
}

pub fn find_post(db: &impl Database, id: PostId) -> Result<Read<Option<Post>>, Error> {
    let result = db.execute(
        &format!(
            "SELECT {POST_COLUMNS} FROM posts p LEFT JOIN authors a ON a.id = p.user_id
             WHERE p.id = ?"
        ),
        &[Value::Integer(id.get())],
    )?;
    Ok(Read {
        feed_due: feed_due(&result),
        found: posts(&result).into_iter().next(),
    })
}

/// Newest first, optionally by one author, starting after `cursor`. Keyset pagination: the
/// cursor is the last id seen, so a page costs the same wherever it is.
pub fn list_posts(
    db: &impl Database,
    user_id: Option<UserId>,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Read<Page>, Error> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(user_id) = user_id {
        conditions.push("p.user_id = ?");
        params.push(Value::Integer(user_id.get()));
    }
    if let Some(cursor) = cursor {
        conditions.push("p.id < ?");
        params.push(Value::Integer(cursor.last_id().get()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    // One row more than the page holds tells whether there is a next page.
    params.push(Value::Integer(limit.get() as i64 + 1));
    let sql = format!(
        "SELECT {POST_COLUMNS} FROM posts p LEFT JOIN authors a ON a.id = p.user_id {filter}
         ORDER BY p.id DESC LIMIT ?"
    );
    let result = db.execute(&sql, &params)?;
    let mut posts = posts(&result);
    let next = if posts.len() > limit.get() {
        posts.truncate(limit.get());
        posts.last().map(|post| Cursor::after(post.id))
    } else {
        None
    };
    Ok(Read {
        feed_due: feed_due(&result),
        found: Page { posts, next },
    })
}

/// The name the replica holds for author `id`, if any.
pub fn known_author_name(db: &impl Database, id: UserId) -> Result<Option<String>, Error> {
    let result = db.execute(
        "SELECT name FROM authors WHERE id = ?",
        &[Value::Integer(id.get())],
    )?;
    Ok(first_text(&result, "name"))
}

/// Stores authors' names as the user service gave them (at write time, by read-repair or from
/// the feed, in that order for one author). One statement whatever the number of authors.
pub fn store_authors(db: &impl Database, authors: &[AuthorName]) -> Result<(), Error> {
    if authors.is_empty() {
        return Ok(());
    }
    let json: Vec<serde_json::Value> = authors
        .iter()
        .map(|author| serde_json::json!({ "id": author.id.get(), "name": author.name }))
        .collect();
    // `WHERE true` lets SQLite tell the upsert's ON CONFLICT from a join's ON.
    db.execute(
        "INSERT INTO authors (id, name)
         SELECT json_extract(value, '$.id'), json_extract(value, '$.name') FROM json_each(?)
         WHERE true
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        &[Value::Text(serde_json::Value::from(json).to_string())],
    )?;
    Ok(())
}

/// Stores author `id`'s name from a sign-in token unless board already holds one: a token's
/// name may be older than what the feed has brought since, and the feed brings any newer one.
pub fn introduce_author(db: &impl Database, author: &AuthorName) -> Result<(), Error> {
    db.execute(
        "INSERT INTO authors (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        &[
            Value::Integer(author.id.get()),
            Value::Text(author.name.to_owned()),
        ],
    )
    .map(drop)
}

/// The public key (`x`) of signing key `kid`, if the user service listed it last time.
pub fn signing_key(db: &impl Database, kid: &str) -> Result<Option<String>, Error> {
    let result = db.execute(
        "SELECT x FROM signing_keys WHERE kid = ?",
        &[Value::Text(kid.to_owned())],
    )?;
    Ok(first_text(&result, "x"))
}

/// Claims the next fetch of the signing keys for `interval_seconds` from now, if one is due.
/// One statement: of many concurrent instances, exactly one gets the claim.
pub fn claim_key_refresh(db: &impl Database, interval_seconds: f64) -> Result<bool, Error> {
    let result = db.execute(
        "UPDATE key_refresh
         SET next_fetch_at = unixepoch('subsec') + ?, claimed_at = unixepoch('subsec')
         WHERE id = 1 AND next_fetch_at <= unixepoch('subsec')
         RETURNING id",
        &[Value::Real(interval_seconds)],
    )?;
    let found = result.rows().next().is_some();
    Ok(found)
}

/// Records that the fetch this instance claimed is over; after one that failed, the next may
/// start `retry_seconds` from now, sooner than a whole interval.
pub fn finish_key_refresh(
    db: &impl Database,
    failed: bool,
    retry_seconds: f64,
) -> Result<(), Error> {
    db.execute(
        "UPDATE key_refresh SET fetched_at = unixepoch('subsec'), failed = ?,
             next_fetch_at = CASE WHEN ? THEN unixepoch('subsec') + ? ELSE next_fetch_at END
         WHERE id = 1",
        &[
            Value::Integer(failed.into()),
            Value::Integer(failed.into()),
            Value::Real(retry_seconds),
        ],
    )
    .map(drop)
}

/// Where the fetches of the keys stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRefresh {
    /// Another instance claimed a fetch, less than `in_flight_for` seconds ago, that is not over.
    pub in_flight: bool,
    /// The last fetch failed.
    pub failed: bool,
}

pub fn key_refresh(db: &impl Database, in_flight_for: f64) -> Result<KeyRefresh, Error> {
    let result = db.execute(
        "SELECT claimed_at > fetched_at AND claimed_at > unixepoch('subsec') - ? AS in_flight,
                failed
         FROM key_refresh WHERE id = 1",
        &[Value::Real(in_flight_for)],
    )?;
    let state = result.rows().next().map(|row| KeyRefresh {
        in_flight: row.get::<i64>("in_flight") == Some(1),
        failed: row.get::<i64>("failed") == Some(1),
    });
    Ok(state.unwrap_or_default())
}

/// Keeps exactly `keys` ((kid, x) pairs): a key the user service no longer lists verifies
/// nothing from now on.
pub fn replace_signing_keys(db: &impl Database, keys: &[(String, String)]) -> Result<(), Error> {
    let json: Vec<serde_json::Value> = keys
        .iter()
        .map(|(kid, x)| serde_json::json!({ "kid": kid, "x": x }))
        .collect();
    let json = Value::Text(serde_json::Value::from(json).to_string());
    db.execute(
        "DELETE FROM signing_keys
         WHERE kid NOT IN (SELECT json_extract(value, '$.kid') FROM json_each(?))",
        std::slice::from_ref(&json),
    )?;
    db.execute(
        "INSERT INTO signing_keys (kid, x)
         SELECT json_extract(value, '$.kid'), json_extract(value, '$.x') FROM json_each(?)
         WHERE true
         ON CONFLICT (kid) DO UPDATE SET x = excluded.x",
        &[json],
    )?;
    Ok(())
}

/// Claims the next pull of the change feed if it is due, for `interval_seconds` from now, and
/// returns where in the feed to start; `None` when another instance pulled less than an
/// interval ago. One statement: of many concurrent instances, exactly one gets the claim.
pub fn claim_feed_pull(db: &impl Database, interval_seconds: f64) -> Result<Option<i64>, Error> {
    let result = db.execute(
        "UPDATE author_feed SET next_pull_at = unixepoch('subsec') + ?
         WHERE id = 1 AND next_pull_at <= unixepoch('subsec')
         RETURNING last_seq",
        &[Value::Real(interval_seconds)],
    )?;
    let last_seq = result
        .rows()
        .next()
        .and_then(|row| row.get::<i64>("last_seq"));
    Ok(last_seq)
}

/// Applies one page of the change feed, oldest first, and moves the bookmark past it. The
/// bookmark only moves forward, so replaying a page (after a crash between the two) is harmless.
pub fn apply_feed(db: &impl Database, changes: &[AuthorName], last_seq: i64) -> Result<(), Error> {
    store_authors(db, changes)?;
    db.execute(
        "UPDATE author_feed SET last_seq = max(last_seq, ?) WHERE id = 1",
        &[Value::Integer(last_seq)],
    )?;
    Ok(())
}

/// Proves the database answers and holds our schema.
pub fn ping(db: &impl Database) -> Result<(), Error> {
    service_kit::db::ping(db, "posts")
}

fn posts(result: &QueryResult) -> Vec<Post> {
    result
        .rows()
        .filter_map(|row| {
            Some(Post {
                id: PostId::issued(row.get("id")?),
                user_id: UserId::issued(row.get("user_id")?),
                title: row.get::<&str>("title")?.to_owned(),
                content: row.get::<&str>("content")?.to_owned(),
                created_at: row.get::<&str>("created_at")?.to_owned(),
                author_name: row.get::<&str>("author_name").map(str::to_owned),
            })
        })
        .collect()
}

/// The text in `column` of the first row, if there is one.
fn first_text(result: &QueryResult, column: &str) -> Option<String> {
    let row = result.rows().next()?;
    row.get::<&str>(column).map(str::to_owned)
}

/// Whether a read's rows say the feed is due (no rows: not worth a pull for nothing shown).
fn feed_due(result: &QueryResult) -> bool {
    result
        .rows()
        .next()
        .and_then(|row| row.get::<i64>("feed_due"))
        .is_some_and(|due| due != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = service_kit::db::migrated_file(&dir.path().join("boards.db"), MIGRATIONS);
        (dir, db)
    }

    fn write(db: &rusqlite::Connection, user: i64, title: &str) -> Post {
        let title = Title::parse(title).unwrap();
        let content = Content::parse("body").unwrap();
        insert_post(db, UserId::new(user).unwrap(), &title, &content).unwrap()
    }

    /// Author 7, whom `write(&db, 7, ..)` names.
    fn ann() -> UserId {
        UserId::new(7).unwrap()
    }

    fn ids(page: &Page) -> Vec<i64> {
        page.posts.iter().map(|post| post.id.get()).collect()
    }

    #[test]
    fn a_tokens_name_fills_in_an_unknown_author_and_replaces_no_name() {
        let (_dir, db) = database();
        let from_token = |name| AuthorName { id: ann(), name };
        introduce_author(&db, &from_token("Ann")).unwrap();
        assert_eq!(
            known_author_name(&db, ann()).unwrap().as_deref(),
            Some("Ann")
        );
        store_authors(&db, &[from_token("Annie")]).unwrap();
        introduce_author(&db, &from_token("Ann")).unwrap();
        assert_eq!(
            known_author_name(&db, ann()).unwrap().as_deref(),
            Some("Annie")
        );
    }

    #[test]
    fn the_keys_are_fetched_once_per_interval_and_replaced_whole() {
        let (_dir, db) = database();
        assert!(claim_key_refresh(&db, 60.0).unwrap());
        assert!(!claim_key_refresh(&db, 60.0).unwrap());
        let key = |kid: &str| (kid.to_owned(), format!("x-of-{kid}"));
        replace_signing_keys(&db, &[key("a"), key("b")]).unwrap();
        replace_signing_keys(&db, &[key("b"), key("c")]).unwrap();
        assert_eq!(signing_key(&db, "a").unwrap(), None);
        assert_eq!(signing_key(&db, "c").unwrap().as_deref(), Some("x-of-c"));
        let state = |db: &rusqlite::Connection| key_refresh(db, 60.0).unwrap();
        assert_eq!(
            state(&db),
            KeyRefresh {
                in_flight: true,
                failed: false
            }
        );
        finish_key_refresh(&db, true, 0.0).unwrap();
        assert_eq!(
            state(&db),
            KeyRefresh {
                in_flight: false,
                failed: true
            }
        );
        assert!(claim_key_refresh(&db, 60.0).unwrap());
        finish_key_refresh(&db, false, 0.0).unwrap();
        assert_eq!(
            state(&db),
            KeyRefresh {
                in_flight: false,
                failed: false
            }
        );
        assert!(!claim_key_refresh(&db, 60.0).unwrap());
    }

    #[test]
    fn a_written_post_reads_back_the_same() {
        let (_dir, db) = database();
        let post = write(&db, 7, "Hello");
        assert_eq!(post.user_id.get(), 7);
        assert!(post.created_at.ends_with('Z'));
        assert_eq!(find_post(&db, post.id).unwrap().found, Some(post));
        assert_eq!(
            find_post(&db, PostId::new(99).unwrap()).unwrap().found,
            None
        );
    }

    #[test]
    fn a_post_reads_with_its_authors_name_once_board_knows_it() {
        let (_dir, db) = database();
        let post = write(&db, 7, "Hello").id;
        assert_eq!(
            find_post(&db, post).unwrap().found.unwrap().author_name,
            None
        );
        store_authors(
            &db,
            &[AuthorName {
                id: ann(),
                name: "Ann",
            }],
        )
        .unwrap();
        store_authors(
            &db,
            &[AuthorName {
                id: ann(),
                name: "Annie",
            }],
        )
        .unwrap();
        let read = find_post(&db, post).unwrap().found.unwrap();
        assert_eq!(read.author_name.as_deref(), Some("Annie"));
    }

    #[test]
    fn one_claim_per_interval_and_the_feed_bookmark_only_moves_forward() {
        let (_dir, db) = database();
        write(&db, 7, "Hello");
        assert!(
            list_posts(&db, None, None, Limit::DEFAULT)
                .unwrap()
                .feed_due
        );
        assert_eq!(claim_feed_pull(&db, 60.0).unwrap(), Some(0));
        assert_eq!(claim_feed_pull(&db, 60.0).unwrap(), None);
        assert!(
            !list_posts(&db, None, None, Limit::DEFAULT)
                .unwrap()
                .feed_due
        );
        let changes = [
            AuthorName {
                id: ann(),
                name: "Ann",
            },
            AuthorName {
                id: ann(),
                name: "Annie",
            },
        ];
        apply_feed(&db, &changes, 5).unwrap();
        apply_feed(&db, &changes[..1], 3).unwrap();
        let bookmark: i64 = db
            .query_row("SELECT last_seq FROM author_feed", [], |row| row.get(0))
            .unwrap();
        assert_eq!(bookmark, 5);
        let post = list_posts(&db, None, None, Limit::DEFAULT)
            .unwrap()
            .found
            .posts;
        assert_eq!(
            post[0].author_name.as_deref(),
            Some("Ann"),
            "a replayed page is applied as given"
        );
        assert_eq!(
            claim_feed_pull(&db, 0.0).unwrap(),
            None,
            "still claimed for 60 s"
        );
    }

    #[test]
    fn a_file_from_before_the_rename_keeps_its_posts_in_the_posts_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boards.db");
        let old = service_kit::db::migrated_file(&path, &MIGRATIONS[..5]);
        old.execute(
            "INSERT INTO boards (user_id, title, content) VALUES (7, 't', 'c')",
            [],
        )
        .unwrap();
        drop(old);
        let db = service_kit::db::migrated_file(&path, MIGRATIONS);
        let page = list_posts(&db, Some(ann()), None, Limit::DEFAULT)
            .unwrap()
            .found;
        assert_eq!(ids(&page), [1]);
        let indexes: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'posts'")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["posts_by_user"]);
    }

    #[test]
    fn pages_run_newest_first_without_gaps_or_repeats() {
        let (_dir, db) = database();
        for i in 0..5 {
            write(&db, 1, &format!("post {i}"));
        }
        let limit = Limit::parse("2").unwrap();
        let first = list_posts(&db, None, None, limit).unwrap().found;
        assert_eq!(ids(&first), [5, 4]);
        let second = list_posts(&db, None, first.next, limit).unwrap().found;
        assert_eq!(ids(&second), [3, 2]);
        let last = list_posts(&db, None, second.next, limit).unwrap().found;
        assert_eq!(ids(&last), [1]);
        assert_eq!(last.next, None);
    }

    #[test]
    fn a_full_last_page_has_no_next_cursor() {
        let (_dir, db) = database();
        write(&db, 1, "a");
        write(&db, 1, "b");
        let page = list_posts(&db, None, None, Limit::parse("2").unwrap())
            .unwrap()
            .found;
        assert_eq!(ids(&page), [2, 1]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn posts_can_be_listed_by_author() {
        let (_dir, db) = database();
        write(&db, 1, "a");
        write(&db, 2, "b");
        write(&db, 1, "c");
        let page = list_posts(&db, Some(UserId::new(1).unwrap()), None, Limit::DEFAULT)
            .unwrap()
            .found;
        assert_eq!(ids(&page), [3, 1]);
    }
}
