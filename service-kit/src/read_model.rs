//! A service's read model: the bodies its hot reads answer with, kept in a key-value store of the
//! service's own (its `key_value_stores` label), so that a read the model holds opens no
//! database. Spin opens a SQLite database afresh for every request, and a libSQL one over the
//! network, but keeps a `spin` key-value store's connection open for the whole process.
//!
//! The database stays the source of truth:
//! - A read the model does not hold reads the database and keeps the body (read-through).
//! - A write drops or replaces the entries it changed once it has committed (write-through), so
//!   the next read in this process sees it.
//! - What other processes wrote arrives through the service's own record of its changes, in its
//!   database: at most once per [`CHECK_INTERVAL_MS`], the first read to find the model due
//!   asks the database, in one statement, for its identity and the keys changed after the
//!   model's bookmark, and drops those entries before it answers.
//! - The model never holds entries across databases or schemas: when the database's identity,
//!   the build's schema version or the bookmark does not match what the database says (another
//!   database, a restore, a swap to another version), it starts empty.
//!
//! A store that cannot be opened, read or written costs the model, never the request: reads go
//! to the database as they did before it, and the request says why in one log line.

use spin_sdk::key_value::Store;

use crate::db::{Database, Error, Migration, Value};

/// How long the model may go without asking the database what changed: the longest a change
/// made by another process goes unseen here.
pub const CHECK_INTERVAL_MS: i64 = 1_000;

/// The most changed keys a catch-up drops one by one; more, and the model starts empty.
const MOST_CHANGES: usize = 1_000;

/// The migration step that gives a database the identity its read models are bound to.
pub const IDENTITY: Migration =
    Migration::Expand("CREATE TABLE database_identity AS SELECT lower(hex(randomblob(16))) AS id");

const META: &str = "model";

/// What the model last learned from the database, kept beside its entries as four words
/// (a typed JSON reader would add 10 KB to each component, whose `.wasm` is held under 500 KB).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    /// The database's identity ([`IDENTITY`]).
    db: String,
    /// The number of migrations of the build that filled the model.
    schema: usize,
    /// The bookmark: the service's change sequence up to which entries are known current.
    seq: i64,
    /// When the database was last asked, in Unix milliseconds.
    checked: i64,
}

impl Meta {
    fn to_bytes(&self) -> Vec<u8> {
        format!("{} {} {} {}", self.db, self.schema, self.seq, self.checked).into_bytes()
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut words = text.split(' ');
        let meta = Self {
            db: words.next()?.to_owned(),
            schema: words.next()?.parse().ok()?,
            seq: words.next()?.parse().ok()?,
            checked: words.next()?.parse().ok()?,
        };
        words.next().is_none().then_some(meta)
    }

    /// Whether `self` and `other` say the same about the entries: the same database, schema
    /// and bookmark, whenever each was checked.
    fn same_entries(&self, other: &Meta) -> bool {
        (&self.db, self.schema, self.seq) == (&other.db, other.schema, other.seq)
    }
}

/// What the database says when the model catches up (see [`ReadModel::catch_up_if_due`]).
#[derive(Debug)]
pub struct Changes {
    pub identity: String,
    /// The change sequence's latest value.
    pub last: i64,
    /// The keys changed after the bookmark, at most [`MOST_CHANGES`] + 1 of them.
    pub keys: Vec<String>,
}

/// One request's view of its process's read model.
pub struct ReadModel {
    store: Store,
    meta: Option<Meta>,
    schema: usize,
}

impl ReadModel {
    /// The model in `label` for a build with `schema` migrations; `None` (and a log line) when
    /// the store cannot be used.
    pub fn open(label: &str, schema: usize) -> Option<Self> {
        let store = Store::open(label)
            .map_err(|error| unusable("open", &error))
            .ok()?;
        let meta = store
            .get(META)
            .map_err(|error| unusable("read", &error))
            .ok()?
            .and_then(|bytes| Meta::parse(&bytes));
        Some(Self {
            store,
            meta,
            schema,
        })
    }

    /// Whether the model must ask the database before it answers.
    pub fn due(&self) -> bool {
        let Some(meta) = &self.meta else { return true };
        let age = now_ms() - meta.checked;
        meta.schema != self.schema || !(0..CHECK_INTERVAL_MS).contains(&age)
    }

    /// The body kept for `key`, unless the model is due.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if self.due() {
            return None;
        }
        self.store
            .get(key)
            .map_err(|error| unusable("read", &error))
            .ok()
            .flatten()
    }

    /// When the model is due, asks the database what changed after the bookmark
    /// (`changes(bookmark)`) and applies it. A failure of the store is logged and leaves the
    /// model empty; a failure of the database is the caller's.
    pub fn catch_up_if_due<E>(
        &mut self,
        changes: impl FnOnce(i64) -> Result<Changes, E>,
    ) -> Result<(), E> {
        if !self.due() {
            return Ok(());
        }
        let current = self.meta.as_ref().filter(|meta| meta.schema == self.schema);
        let changes = changes(current.map_or(0, |meta| meta.seq))?;
        let fresh = current.is_none_or(|meta| {
            meta.db != changes.identity
                || changes.last < meta.seq
                || changes.keys.len() > MOST_CHANGES
        });
        let meta = Meta {
            db: changes.identity,
            schema: self.schema,
            seq: changes.last,
            checked: now_ms(),
        };
        // The bookmark moves before the entries go: a read filling one of them meanwhile sees
        // the move and drops what it wrote (`fill`).
        let applied = self.store.set(META, &meta.to_bytes()).and_then(|()| {
            if fresh {
                let keys = self.store.get_keys()?;
                keys.iter()
                    .filter(|key| *key != META)
                    .try_for_each(|key| self.store.delete(key))
            } else {
                changes
                    .keys
                    .iter()
                    .try_for_each(|key| self.store.delete(key))
            }
        });
        match applied {
            Ok(()) => self.meta = Some(meta),
            Err(error) => self.forget("catch up", &error),
        }
        Ok(())
    }

    /// Keeps `body` as what `key` reads, as of this request's bookmark. If a catch-up moved the
    /// bookmark meanwhile, the body may predate a change it dropped: it is dropped too.
    pub fn fill(&self, key: &str, body: &[u8]) {
        if self.due() {
            return;
        }
        if let Err(error) = self.store.set(key, body) {
            return self.forget("write", &error);
        }
        let now = self.store.get(META).ok().flatten();
        let then = self.meta.as_ref().expect("not due, so known");
        let moved = now
            .and_then(|bytes| Meta::parse(&bytes))
            .is_none_or(|now| !now.same_entries(then));
        if moved {
            self.drop_entry(key);
        }
    }

    /// After a write committed: what this process kept for `key` is not read again.
    pub fn drop_entry(&self, key: &str) {
        if let Err(error) = self.store.delete(key) {
            self.forget("drop an entry from", &error);
        }
    }

    /// A store that failed to change may hold an entry it should not: the bookmark goes, so
    /// that the next read starts the model empty.
    fn forget(&self, what: &str, error: &spin_sdk::key_value::Error) {
        unusable(what, error);
        let _ = self.store.delete(META);
    }
}

/// The one statement a catch-up sends: the database's identity, the latest value of
/// `sequence` (a query) and the keys changed after the bookmark (`changed`, a query of a column
/// `key`, with `?1` for the bookmark; a key never holds a space).
pub fn changes(
    db: &impl Database,
    after: i64,
    sequence: &str,
    changed: &str,
) -> Result<Changes, Error> {
    let sql = format!(
        "SELECT (SELECT id FROM database_identity) AS identity, ({sequence}) AS last,
                (SELECT group_concat(key, ' ') FROM ({changed} LIMIT {})) AS keys",
        MOST_CHANGES + 1
    );
    let result = db.execute(&sql, &[Value::Integer(after)])?;
    let row = result
        .rows()
        .next()
        .ok_or_else(|| Error::Io("the catch-up statement returned no row".to_owned()))?;
    let keys: &str = row.get("keys").unwrap_or_default();
    Ok(Changes {
        identity: row.get::<&str>("identity").unwrap_or_default().to_owned(),
        last: row.get("last").unwrap_or(0),
        keys: keys.split_whitespace().map(str::to_owned).collect(),
    })
}

fn unusable(what: &str, error: &spin_sdk::key_value::Error) {
    eprintln!("read model: could not {what} the store ({error:?}); reading the database");
}

/// The host's clock, as the tokens read it (`token::now`).
fn now_ms() -> i64 {
    crate::token::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGES: &[Migration] = &[
        IDENTITY,
        Migration::Expand("CREATE TABLE changes (seq INTEGER PRIMARY KEY, id INTEGER)"),
    ];

    fn changed_after(db: &rusqlite::Connection, after: i64) -> Changes {
        changes(
            db,
            after,
            "SELECT coalesce(max(seq), 0) FROM changes",
            "SELECT DISTINCT 'item/' || id AS key FROM changes WHERE seq > ?1",
        )
        .unwrap()
    }

    #[test]
    fn a_catch_up_reads_the_identity_the_last_change_and_the_keys_after_the_bookmark() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::migrated_file(&dir.path().join("a.db"), CHANGES);
        let empty = changed_after(&db, 0);
        assert_eq!((empty.last, empty.keys.len()), (0, 0));
        assert_eq!(empty.identity.len(), 32, "{}", empty.identity);
        db.execute_batch("INSERT INTO changes (id) VALUES (4), (5), (4)")
            .unwrap();
        let changed = changed_after(&db, 1);
        assert_eq!(changed.identity, empty.identity, "the identity is kept");
        assert_eq!(changed.last, 3);
        assert_eq!(changed.keys, ["item/5", "item/4"]);
    }

    #[test]
    fn two_databases_have_two_identities() {
        let dir = tempfile::tempdir().unwrap();
        let a = crate::db::migrated_file(&dir.path().join("a.db"), CHANGES);
        let b = crate::db::migrated_file(&dir.path().join("b.db"), CHANGES);
        assert_ne!(changed_after(&a, 0).identity, changed_after(&b, 0).identity);
    }

    #[test]
    fn a_catch_up_lists_one_key_more_than_it_drops_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::migrated_file(&dir.path().join("a.db"), CHANGES);
        db.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
             INSERT INTO changes (id) SELECT i FROM n",
        )
        .unwrap();
        let changed = changed_after(&db, 0);
        assert_eq!((changed.last, changed.keys.len()), (1500, MOST_CHANGES + 1));
    }

    #[test]
    fn the_bookmark_reads_back_as_written_and_nothing_else_does() {
        let meta = Meta {
            db: "ab12".into(),
            schema: 14,
            seq: 7,
            checked: 1_700_000_000_000,
        };
        assert_eq!(Meta::parse(&meta.to_bytes()), Some(meta));
        for bad in ["", "ab12 14 7", "ab12 14 7 x", "ab12 14 7 1 extra"] {
            assert_eq!(Meta::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
