//! The `boards` database: its schema and the named queries the routes use.

use service_kit::db::{Database, Error, QueryResult, Value};

use crate::domain::{Content, Cursor, Id, Limit, Title};

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
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub content: String,
    pub created_at: String,
}

/// One page of posts, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub posts: Vec<Post>,
    pub next: Option<Cursor>,
}

/// Opens this service's database and brings its schema up to date.
pub fn connect() -> Result<spin_sdk::sqlite::Connection, Error> {
    service_kit::migrate::connect(DATABASE, MIGRATIONS)
}

pub fn insert_post(
    db: &impl Database,
    user_id: Id,
    title: &Title,
    content: &Content,
) -> Result<Post, Error> {
    let result = db.execute(
        "INSERT INTO boards (user_id, title, content) VALUES (?, ?, ?)
         RETURNING id, user_id, title, content, created_at",
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

pub fn find_post(db: &impl Database, id: Id) -> Result<Option<Post>, Error> {
    let result = db.execute(
        "SELECT id, user_id, title, content, created_at FROM boards WHERE id = ?",
        &[Value::Integer(id.get())],
    )?;
    Ok(posts(&result).into_iter().next())
}

/// Newest first, optionally by one author, starting after `cursor`. Keyset pagination: the
/// cursor is the last id seen, so a page costs the same wherever it is.
pub fn list_posts(
    db: &impl Database,
    author: Option<Id>,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Page, Error> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(author) = author {
        conditions.push("user_id = ?");
        params.push(Value::Integer(author.get()));
    }
    if let Some(cursor) = cursor {
        conditions.push("id < ?");
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
        "SELECT id, user_id, title, content, created_at FROM boards {filter}
         ORDER BY id DESC LIMIT ?"
    );
    let mut posts = posts(&db.execute(&sql, &params)?);
    let next = if posts.len() > limit.get() {
        posts.truncate(limit.get());
        posts
            .last()
            .and_then(|post| Id::new(post.id).ok())
            .map(Cursor::after)
    } else {
        None
    };
    Ok(Page { posts, next })
}

/// Proves the database answers and holds our schema.
pub fn ping(db: &impl Database) -> Result<(), Error> {
    service_kit::db::ping(db, "boards")
}

fn posts(result: &QueryResult) -> Vec<Post> {
    result
        .rows()
        .filter_map(|row| {
            Some(Post {
                id: row.get("id")?,
                user_id: row.get("user_id")?,
                title: row.get::<&str>("title")?.to_owned(),
                content: row.get::<&str>("content")?.to_owned(),
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
        let db = service_kit::migrate::migrated_file(&dir.path().join("boards.db"), MIGRATIONS);
        (dir, db)
    }

    fn write(db: &rusqlite::Connection, user: i64, title: &str) -> Post {
        let title = Title::parse(title).unwrap();
        let content = Content::parse("body").unwrap();
        insert_post(db, Id::new(user).unwrap(), &title, &content).unwrap()
    }

    fn ids(page: &Page) -> Vec<i64> {
        page.posts.iter().map(|post| post.id).collect()
    }

    #[test]
    fn a_written_post_reads_back_the_same() {
        let (_dir, db) = database();
        let post = write(&db, 7, "Hello");
        assert_eq!(post.user_id, 7);
        assert!(post.created_at.ends_with('Z'));
        assert_eq!(
            find_post(&db, Id::new(post.id).unwrap()).unwrap(),
            Some(post)
        );
        assert_eq!(find_post(&db, Id::new(99).unwrap()).unwrap(), None);
    }

    #[test]
    fn pages_run_newest_first_without_gaps_or_repeats() {
        let (_dir, db) = database();
        for i in 0..5 {
            write(&db, 1, &format!("post {i}"));
        }
        let limit = Limit::parse("2").unwrap();
        let first = list_posts(&db, None, None, limit).unwrap();
        assert_eq!(ids(&first), [5, 4]);
        let second = list_posts(&db, None, first.next, limit).unwrap();
        assert_eq!(ids(&second), [3, 2]);
        let last = list_posts(&db, None, second.next, limit).unwrap();
        assert_eq!(ids(&last), [1]);
        assert_eq!(last.next, None);
    }

    #[test]
    fn a_full_last_page_has_no_next_cursor() {
        let (_dir, db) = database();
        write(&db, 1, "a");
        write(&db, 1, "b");
        let page = list_posts(&db, None, None, Limit::parse("2").unwrap()).unwrap();
        assert_eq!(ids(&page), [2, 1]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn posts_can_be_listed_by_author() {
        let (_dir, db) = database();
        write(&db, 1, "a");
        write(&db, 2, "b");
        write(&db, 1, "c");
        let page = list_posts(&db, Some(Id::new(1).unwrap()), None, Limit::DEFAULT).unwrap();
        assert_eq!(ids(&page), [3, 1]);
    }
}
