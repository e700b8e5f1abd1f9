//! Looking at the database files directly, as an operator would: row counts, contents and
//! integrity, independent of what the services say over HTTP.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

fn open(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}

/// Rows in `table`, or 0 when the file or the table does not exist yet.
pub fn row_count(path: &Path, table: &str) -> i64 {
    if !path.exists() {
        return 0;
    }
    open(path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap_or(0)
}

/// Every row of `table` as text, in rowid order: equal dumps mean equal contents.
pub fn dump(path: &Path, table: &str) -> Vec<String> {
    if !path.exists() {
        return Vec::new();
    }
    let connection = open(path);
    let Ok(mut statement) = connection.prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
    else {
        return Vec::new();
    };
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get_ref(i).map(|v| format!("{v:?}")))
                .collect::<Result<Vec<_>, _>>()
                .map(|values| values.join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `PRAGMA integrity_check`: `ok` for a sound file.
pub fn integrity_check(path: &Path) -> String {
    open(path)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// One column of one row, e.g. a stored password hash.
pub fn text(path: &Path, sql: &str, param: i64) -> String {
    open(path)
        .query_row(sql, [param], |row| row.get(0))
        .unwrap()
}

/// Replaces the database file `dir/.spin/<file>` with bytes SQLite cannot open.
pub fn ruin(dir: &Path, file: &str) {
    let path = dir.join(".spin").join(file);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
}
