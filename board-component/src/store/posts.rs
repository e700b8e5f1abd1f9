//! Posts: written once, read by id, listed newest first. Each read brings its author's name
//! from the replica, and tells the replica whether its feed is due (see `authors`), in the
//! same statement.

use service_kit::db::{Database, Error, QueryResult, Value};

use super::authors;
use crate::domain::{Content, Cursor, Limit, PostId, Summary, Title, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub user_id: UserId,
    pub title: String,
    pub content: String,
    pub created_at: String,
    /// Only the next version has one, and then only when the author gave it.
    pub summary: Option<String>,
    /// From the replica; `None` until board learns the author's name.
    pub author_name: Option<String>,
}

/// One page of posts, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub posts: Vec<Post>,
    pub next: Option<Cursor>,
}

// What a post is read from, and how one is inserted, each one literal: the next version's
// posts have a summary.
#[cfg(not(feature = "next"))]
macro_rules! versioned {
    (post) => {
        "p.id, p.user_id, p.title, p.content, p.created_at"
    };
    (insert_post) => {
        "INSERT INTO posts (user_id, title, content) VALUES (?, ?, ?)
         RETURNING id, user_id, title, content, created_at, NULL AS author_name"
    };
}
#[cfg(feature = "next")]
macro_rules! versioned {
    (post) => {
        "p.id, p.user_id, p.title, p.content, p.summary, p.created_at"
    };
    (insert_post) => {
        "INSERT INTO posts (user_id, title, content, summary) VALUES (?, ?, ?, ?)
         RETURNING id, user_id, title, content, summary, created_at, NULL AS author_name"
    };
}

/// What a read selects from `posts p LEFT JOIN authors a`: the post, its author's name
/// (`NULL` when board has not met the author yet) and the replica's feed schedule.
fn columns() -> String {
    format!(
        concat!(versioned!(post), ", a.name AS author_name, {}"),
        authors::FEED_DUE_COLUMN
    )
}

pub fn insert(
    db: &impl Database,
    user_id: UserId,
    title: &Title,
    content: &Content,
    summary: Option<&Summary>,
) -> Result<Post, Error> {
    let mut params = vec![
        Value::Integer(user_id.get()),
        Value::Text(title.as_str().to_owned()),
        Value::Text(content.as_str().to_owned()),
    ];
    if cfg!(feature = "next") {
        params.push(summary.map_or(Value::Null, |summary| {
            Value::Text(summary.as_str().to_owned())
        }));
    }
    let result = db.execute(versioned!(insert_post), &params)?;
    posts(&result)
        .into_iter()
        .next()
        .ok_or_else(|| Error::Io("INSERT ... RETURNING returned no row".to_owned()))
}

pub fn find(db: &impl Database, id: PostId) -> Result<Option<Post>, Error> {
    let result = db.execute(
        &format!(
            "SELECT {} FROM posts p LEFT JOIN authors a ON a.id = p.user_id WHERE p.id = ?",
            columns()
        ),
        &[Value::Integer(id.get())],
    )?;
    authors::note_feed_schedule(&result);
    Ok(posts(&result).into_iter().next())
}

/// Newest first, optionally by one author, starting after `cursor`. Keyset pagination: the
/// cursor is the last id seen, so a page costs the same wherever it is.
pub fn list(
    db: &impl Database,
    user_id: Option<UserId>,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Page, Error> {
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
        "SELECT {} FROM posts p LEFT JOIN authors a ON a.id = p.user_id {filter}
         ORDER BY p.id DESC LIMIT ?",
        columns()
    );
    let result = db.execute(&sql, &params)?;
    authors::note_feed_schedule(&result);
    let mut posts = posts(&result);
    let next = if posts.len() > limit.get() {
        posts.truncate(limit.get());
        posts.last().map(|post| Cursor::after(post.id))
    } else {
        None
    };
    Ok(Page { posts, next })
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
                summary: row.get::<&str>("summary").map(str::to_owned),
                author_name: row.get::<&str>("author_name").map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{test_database, MIGRATIONS};
    use super::*;
    use crate::store::authors::{store_authors, AuthorName};

    fn write(db: &rusqlite::Connection, user: i64, title: &str) -> Post {
        let title = Title::parse(title).unwrap();
        let content = Content::parse("body").unwrap();
        insert(db, UserId::new(user).unwrap(), &title, &content, None).unwrap()
    }

    fn ids(page: &Page) -> Vec<i64> {
        page.posts.iter().map(|post| post.id.get()).collect()
    }

    #[test]
    fn a_written_post_reads_back_the_same() {
        let (_dir, db) = test_database();
        let post = write(&db, 7, "Hello");
        assert_eq!(post.user_id.get(), 7);
        assert!(post.created_at.ends_with('Z'));
        assert_eq!(find(&db, post.id).unwrap(), Some(post));
        assert_eq!(find(&db, PostId::new(99).unwrap()).unwrap(), None);
    }

    /// The next version's summary is stored and read back, by id and in a list.
    #[cfg(feature = "next")]
    #[test]
    fn a_summary_is_read_back_by_id_and_in_a_list() {
        let (_dir, db) = test_database();
        let (title, content) = (Title::parse("t").unwrap(), Content::parse("c").unwrap());
        let summary = Summary::parse("In short").unwrap();
        let author = UserId::new(7).unwrap();
        let post = insert(&db, author, &title, &content, Some(&summary)).unwrap();
        assert_eq!(post.summary.as_deref(), Some("In short"));
        assert_eq!(find(&db, post.id).unwrap().unwrap().summary, post.summary);
        let page = list(&db, None, None, Limit::DEFAULT).unwrap();
        assert_eq!(page.posts[0].summary, post.summary);
    }

    #[test]
    fn a_post_reads_with_its_authors_name_once_board_knows_it() {
        let (_dir, db) = test_database();
        let post = write(&db, 7, "Hello").id;
        assert_eq!(find(&db, post).unwrap().unwrap().author_name, None);
        let ann = |name| AuthorName {
            id: UserId::new(7).unwrap(),
            name,
        };
        store_authors(&db, &[ann("Ann")]).unwrap();
        store_authors(&db, &[ann("Annie")]).unwrap();
        let read = find(&db, post).unwrap().unwrap();
        assert_eq!(read.author_name.as_deref(), Some("Annie"));
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
        let page = list(&db, Some(UserId::new(7).unwrap()), None, Limit::DEFAULT).unwrap();
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
        let (_dir, db) = test_database();
        for i in 0..5 {
            write(&db, 1, &format!("post {i}"));
        }
        let limit = Limit::parse("2").unwrap();
        let first = list(&db, None, None, limit).unwrap();
        assert_eq!(ids(&first), [5, 4]);
        let second = list(&db, None, first.next, limit).unwrap();
        assert_eq!(ids(&second), [3, 2]);
        let last = list(&db, None, second.next, limit).unwrap();
        assert_eq!(ids(&last), [1]);
        assert_eq!(last.next, None);
    }

    #[test]
    fn a_full_last_page_has_no_next_cursor() {
        let (_dir, db) = test_database();
        write(&db, 1, "a");
        write(&db, 1, "b");
        let page = list(&db, None, None, Limit::parse("2").unwrap()).unwrap();
        assert_eq!(ids(&page), [2, 1]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn posts_can_be_listed_by_author() {
        let (_dir, db) = test_database();
        write(&db, 1, "a");
        write(&db, 2, "b");
        write(&db, 1, "c");
        let page = list(&db, Some(UserId::new(1).unwrap()), None, Limit::DEFAULT).unwrap();
        assert_eq!(ids(&page), [3, 1]);
    }
}
