//! Looking at a service's database directly, as an operator would: row counts, contents and
//! integrity, independent of what the services say over HTTP. A database is a local file or a
//! libSQL server; [`Store`] reads either the same way.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::sqld;

/// One label's data: a SQLite file, or the `sqld` (its url) that holds it.
pub enum Store {
    File(PathBuf),
    Server(String),
}

impl Store {
    /// Rows in `table`, or 0 when the database or the table does not exist yet.
    pub fn row_count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        self.rows(&sql, None)
            .and_then(|rows| rows.first()?.first()?.parse().ok())
            .unwrap_or(0)
    }

    /// Every row of `table` as text, in rowid order: equal dumps mean equal contents.
    pub fn dump(&self, table: &str) -> Vec<String> {
        self.rows(&format!("SELECT * FROM {table} ORDER BY rowid"), None)
            .unwrap_or_default()
            .into_iter()
            .map(|row| row.join("|"))
            .collect()
    }

    /// One column of one row, e.g. a stored password hash.
    pub fn text(&self, sql: &str, param: i64) -> String {
        let rows = self
            .rows(sql, Some(param))
            .unwrap_or_else(|| panic!("no answer to {sql}"));
        rows.first()
            .and_then(|row| row.first())
            .cloned()
            .unwrap_or_else(|| panic!("no row for {sql} with {param}"))
    }

    /// Whether the database exists yet: the file, or any table on the server.
    pub fn exists(&self) -> bool {
        match self {
            Store::File(path) => path.exists(),
            Store::Server(_) => self.row_count("sqlite_master") > 0,
        }
    }

    /// Runs one statement that changes the database, as an operator's tool would; the file and
    /// its directory are made when missing.
    pub fn execute(&self, sql: &str) {
        match self {
            Store::File(path) => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                Connection::open(path)
                    .and_then(|connection| connection.execute_batch(sql))
                    .unwrap_or_else(|e| panic!("{sql} on {}: {e}", path.display()));
            }
            Store::Server(server) => {
                sqld::query(server, sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// `PRAGMA integrity_check`: `ok` for a sound database.
    pub fn integrity_check(&self) -> String {
        self.text("PRAGMA integrity_check", 0)
    }

    /// The rows of `sql` as text, `None` when the database or a table it names is missing.
    fn rows(&self, sql: &str, param: Option<i64>) -> Option<Vec<Vec<String>>> {
        // The check pragma takes no parameter; every other query here takes at most one.
        let param = param.filter(|_| sql.contains('?'));
        match self {
            Store::File(path) => file_rows(path, sql, param),
            Store::Server(server) => {
                let params: Vec<Value> = param.map(Value::from).into_iter().collect();
                let rows = sqld::query(server, sql, &params).ok()?;
                Some(
                    rows.iter()
                        .map(|row| row.iter().map(text_of).collect())
                        .collect(),
                )
            }
        }
    }
}

fn file_rows(path: &Path, sql: &str, param: Option<i64>) -> Option<Vec<Vec<String>>> {
    if !path.exists() {
        return None;
    }
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // An operator's tool waits for a host that is still writing, as SQLite's shell would.
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let mut statement = connection.prepare(sql).ok()?;
    let columns = statement.column_count();
    let params: Vec<i64> = param.into_iter().collect();
    let rows = statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            (0..columns)
                .map(|i| row.get_ref(i).map(file_text))
                .collect::<Result<Vec<_>, _>>()
        })
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    Some(rows)
}

fn file_text(value: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("{b:?}"),
    }
}

/// The server's JSON for a value, as the file's text for it.
fn text_of(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Replaces the database file `dir/.spin/<file>` with bytes SQLite cannot open. The bytes go
/// in under the name at once (a rename), so that a connection the app opens meanwhile meets
/// either the old database or the ruined one: writing over the file in place empties it first,
/// and an empty file is a database SQLite opens, which a migration then fills (on a loaded
/// machine, a kept post read `404` from such a database instead of `503`).
pub fn ruin(dir: &Path, file: &str) {
    let path = dir.join(".spin").join(file);
    let ruined = path.with_extension("ruined");
    std::fs::write(&ruined, vec![b'x'; 8192]).unwrap();
    std::fs::rename(&ruined, &path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
