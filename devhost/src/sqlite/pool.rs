//! Idle connections to files, handed out again: opening a connection and parsing the schema
//! was the largest cost of a small request. Spin opens a new one for every `open`; a
//! connection comes back here only in a fresh connection's state, and leaves again only while
//! its path still names the file it opened: the next request cannot tell it from a new one.

use crate::bindings::fermyon::spin::sqlite::Error;
use crate::runtime_config::Location;

use super::file::File;
use super::{Backend, Connection, Databases};

/// Idle connections kept per label; more than this many at once are closed instead.
const MAX_IDLE_PER_LABEL: usize = 32;

impl Databases {
    /// An idle connection to `label` that is still on its file, or a new one. Idle
    /// connections to a file replaced under its name are closed as they are met.
    pub(super) fn acquire(&self, label: &str) -> Result<Connection, Error> {
        loop {
            let reused = self
                .idle
                .lock()
                .expect("pool lock")
                .get_mut(label)
                .and_then(Vec::pop);
            match reused {
                Some(connection) if on_its_file(&connection) => return Ok(connection),
                Some(_replaced) => continue,
                None => return self.connect(label),
            }
        }
    }

    fn connect(&self, label: &str) -> Result<Connection, Error> {
        let backend = match self.location(label) {
            None => return Err(Error::NoSuchDatabase),
            Some(Location::Libsql { .. }) => {
                let server = self.servers.get(label).ok_or(Error::NoSuchDatabase)?;
                Backend::Server(server.connect()?)
            }
            Some(location) => Backend::File(File::open(location)?),
        };
        Ok(Connection {
            label: label.to_owned(),
            backend,
        })
    }

    /// Takes a connection back when the component is done with it, if it can be reused. A
    /// server connection is dropped: its stream ends, and the server rolls back what it left
    /// open; the label's client and its HTTP connections stay.
    pub(super) fn release(&self, connection: Connection) {
        let Backend::File(file) = &connection.backend else {
            return;
        };
        // Whether it is still on its file is asked when it is handed out again (`acquire`),
        // once per reuse.
        let on_disk = matches!(self.location(&connection.label), Some(Location::File(_)));
        if !(on_disk && file.is_clean()) {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        let pool = idle.entry(connection.label.clone()).or_default();
        if pool.len() < MAX_IDLE_PER_LABEL {
            pool.push(connection);
        }
    }
}

fn on_its_file(connection: &Connection) -> bool {
    matches!(&connection.backend, Backend::File(file) if file.is_current())
}

#[cfg(test)]
mod tests {
    use super::super::file::execute;
    use super::super::{test_file, test_grant, Connection};
    use crate::bindings::fermyon::spin::sqlite::Value;

    /// Marks `connection` by inserting `rows` rows: SQLite's `changes()` is kept per
    /// connection, so a connection handed on still reports the mark and a new one reports 0.
    /// (Addresses cannot tell connections apart: a freed one's is given to the next.)
    fn mark(connection: &Connection, rows: usize) {
        let values = vec!["(1)"; rows].join(", ");
        execute(
            test_file(connection),
            &format!("INSERT INTO t VALUES {values}"),
            vec![],
        )
        .unwrap();
    }

    #[test]
    fn a_clean_connection_is_reused_and_a_changed_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_grant(dir.path(), &["users"]);
        let first = users.open("users").unwrap();
        execute(test_file(&first), "CREATE TABLE t (x)", vec![]).unwrap();
        mark(&first, 3);
        users.databases.release(first);
        let second = users.open("users").unwrap();
        assert_eq!(
            test_file(&second).changes(),
            3,
            "a clean connection is reused"
        );

        mark(&second, 5);
        execute(test_file(&second), "BEGIN", vec![]).unwrap();
        users.databases.release(second);
        let third = users.open("users").unwrap();
        assert_eq!(
            test_file(&third).changes(),
            0,
            "an open transaction is not handed on"
        );
        assert!(test_file(&third).is_autocommit());

        mark(&third, 7);
        execute(test_file(&third), "PRAGMA foreign_keys = ON", vec![]).unwrap();
        users.databases.release(third);
        let fourth = users.open("users").unwrap();
        assert_eq!(
            test_file(&fourth).changes(),
            0,
            "a pragma that set something is not handed on"
        );
    }

    #[test]
    fn a_connection_to_a_file_replaced_under_its_name_is_not_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_grant(dir.path(), &["users"]);
        let first = users.open("users").unwrap();
        execute(test_file(&first), "CREATE TABLE old (x)", vec![]).unwrap();
        users.databases.release(first);

        // A restore: another database moved in under the same name.
        let restored = dir.path().join("restored.db");
        rusqlite::Connection::open(&restored)
            .unwrap()
            .execute_batch("CREATE TABLE new (x)")
            .unwrap();
        std::fs::rename(&restored, dir.path().join("users.db")).unwrap();

        let second = users.open("users").unwrap();
        let tables = execute(test_file(&second), "SELECT name FROM sqlite_schema", vec![]).unwrap();
        assert!(
            matches!(&tables.rows[..], [row] if matches!(&row.values[..], [Value::Text(name)] if name == "new")),
            "the restored database is read, not the one the idle connection had open"
        );
    }
}
