//! The author replica: each author's name as board last learnt it, and board's bookmark in the
//! user service's change feed with the time the next pull may start.
//!
//! Whether a pull is due rides on the reads of posts ([`FEED_DUE_COLUMN`]), so it costs no
//! statement of its own. What the last read saw is kept for the rest of the request and asked
//! once, by `replica`, after the response is sent ([`feed_seen_due`]). Each request has a
//! component instance of its own on both hosts, so what is kept is that request's.

use std::cell::Cell;

use service_kit::db::{Database, Error, QueryResult, Value};

use super::first_text;
use crate::domain::UserId;

/// An author's public facts as board keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorName<'a> {
    pub id: UserId,
    pub name: &'a str,
}

/// A column to select beside a read of posts: whether the change feed is due for a pull.
pub(super) const FEED_DUE_COLUMN: &str =
    "(SELECT next_pull_at <= unixepoch('subsec') FROM author_feed) AS feed_due";

thread_local! {
    static FEED_SEEN_DUE: Cell<bool> = const { Cell::new(false) };
}

/// Keeps whether the rows of a read say the feed is due (no rows: not worth a pull for nothing
/// shown).
pub(super) fn note_feed_schedule(result: &QueryResult) {
    let due = result
        .rows()
        .next()
        .and_then(|row| row.get::<i64>("feed_due"))
        .is_some_and(|due| due != 0);
    FEED_SEEN_DUE.set(due);
}

/// Asks whether the feed is due with a statement of its own, for a request whose reads sent
/// none (the read model answered them).
pub fn check_feed_schedule(db: &impl Database) -> Result<(), Error> {
    note_feed_schedule(&db.execute(&format!("SELECT {FEED_DUE_COLUMN}"), &[])?);
    Ok(())
}

/// Whether a read in this request found the feed due; asking forgets it.
pub fn feed_seen_due() -> bool {
    FEED_SEEN_DUE.take()
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

#[cfg(test)]
mod tests {
    use super::super::{posts, test_database};
    use super::*;
    use crate::domain::{Content, Limit, Title};

    fn ann() -> UserId {
        UserId::new(7).unwrap()
    }

    /// Lists the posts, as a read would, and asks what it saw of the schedule.
    fn read_sees_feed_due(db: &rusqlite::Connection) -> bool {
        posts::list(db, None, None, Limit::DEFAULT).unwrap();
        feed_seen_due()
    }

    #[test]
    fn a_tokens_name_fills_in_an_unknown_author_and_replaces_no_name() {
        let (_dir, db) = test_database();
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
    fn one_claim_per_interval_and_the_feed_bookmark_only_moves_forward() {
        let (_dir, db) = test_database();
        assert!(!read_sees_feed_due(&db), "no rows, no pull");
        let (title, content) = (Title::parse("Hello").unwrap(), Content::parse("b").unwrap());
        posts::insert(&db, ann(), &title, &content, None).unwrap();
        assert!(read_sees_feed_due(&db));
        assert!(!feed_seen_due(), "asking forgets it");
        assert_eq!(claim_feed_pull(&db, 60.0).unwrap(), Some(0));
        assert_eq!(claim_feed_pull(&db, 60.0).unwrap(), None);
        assert!(!read_sees_feed_due(&db));
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
        assert_eq!(
            known_author_name(&db, ann()).unwrap().as_deref(),
            Some("Ann"),
            "a replayed page is applied as given"
        );
        assert_eq!(
            claim_feed_pull(&db, 0.0).unwrap(),
            None,
            "still claimed for 60 s"
        );
    }

    fn seq_of(db: &rusqlite::Connection, id: i64) -> i64 {
        db.query_row("SELECT seq FROM authors WHERE id = ?", [id], |row| {
            row.get(0)
        })
        .unwrap()
    }

    #[test]
    fn a_changed_name_moves_its_authors_seq_past_every_other_and_an_unchanged_one_does_not() {
        let (_dir, db) = test_database();
        let bob = UserId::new(8).unwrap();
        let names = |ann_name: &'static str, bob_name: &'static str| {
            [
                AuthorName {
                    id: ann(),
                    name: ann_name,
                },
                AuthorName {
                    id: bob,
                    name: bob_name,
                },
            ]
        };
        store_authors(&db, &names("Ann", "Bob")).unwrap();
        assert_eq!(
            (seq_of(&db, 7), seq_of(&db, 8)),
            (0, 0),
            "a first name is no change"
        );
        store_authors(&db, &names("Ann", "Rob")).unwrap();
        assert_eq!((seq_of(&db, 7), seq_of(&db, 8)), (0, 1));
        store_authors(&db, &names("Anna", "Rob")).unwrap();
        assert_eq!((seq_of(&db, 7), seq_of(&db, 8)), (2, 1));
    }
}
