//! A label that is a local file (or memory), on rusqlite: a connection in a fresh
//! connection's state (rusqlite's 5 s busy timeout, no pragmas), `ATTACH` of a file refused,
//! an authorizer that tells whether a statement changed what the next user of the connection
//! would see, and the file it opened, to tell whether the name still means that file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};
use crate::runtime_config::Location;

/// A connection to a file, and whether it may be handed to another request.
pub(super) struct File {
    pub(super) inner: rusqlite::Connection,
    /// Set by the authorizer when a statement changed per-connection state.
    tainted: Arc<AtomicBool>,
    /// The path opened and the file it named then; `None` in memory.
    opened: Option<(PathBuf, FileId)>,
}

/// A file as the system knows it (device and inode), whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

impl File {
    /// A new connection to a `File` or `Memory` location.
    pub(super) fn open(location: &Location) -> Result<Self, Error> {
        let (inner, opened) = match location {
            Location::Memory => (rusqlite::Connection::open_in_memory().map_err(io)?, None),
            // SQLite has the file open (or created) once `open` returns, so the name read
            // after it names that file, unless it was replaced in between.
            Location::File(path) => (
                rusqlite::Connection::open(path).map_err(io)?,
                FileId::of(path).map(|id| (path.clone(), id)),
            ),
            Location::Libsql { .. } => return Err(Error::InvalidConnection),
        };
        let tainted = Arc::new(AtomicBool::new(false));
        let flag = tainted.clone();
        inner.authorizer(Some(move |context: rusqlite::hooks::AuthContext<'_>| {
            if changes_connection_state(&context.action) {
                flag.store(true, Ordering::Relaxed);
            }
            refuse_attaching_files(context)
        }));
        Ok(Self {
            inner,
            tainted,
            opened,
        })
    }

    /// Whether the connection's path still names the file it opened. A file replaced under
    /// the same name (a restore, a `mv`) is another database, which Spin sees at the next
    /// `open` because it opens the path afresh every time; a kept connection would not.
    pub(super) fn is_current(&self) -> bool {
        self.opened
            .as_ref()
            .is_some_and(|(path, id)| FileId::of(path) == Some(*id))
    }

    /// Whether the next request could tell this connection from a fresh one: an open
    /// transaction, an attached or temporary database, a pragma that set something.
    pub(super) fn is_clean(&self) -> bool {
        self.inner.is_autocommit() && !self.tainted.load(Ordering::Relaxed)
    }

    pub(super) fn execute(&self, sql: &str, parameters: Vec<Value>) -> Result<QueryResult, Error> {
        execute(&self.inner, sql, parameters)
    }
}

/// Statements after which a reused connection could differ from a fresh one.
fn changes_connection_state(action: &rusqlite::hooks::AuthAction<'_>) -> bool {
    use rusqlite::hooks::AuthAction;
    matches!(
        action,
        AuthAction::Attach { .. }
            | AuthAction::Detach { .. }
            | AuthAction::CreateTempIndex { .. }
            | AuthAction::CreateTempTable { .. }
            | AuthAction::CreateTempTrigger { .. }
            | AuthAction::CreateTempView { .. }
            | AuthAction::Pragma {
                pragma_value: Some(_),
                ..
            }
    )
}

/// In-memory and temporary databases may be attached; files may not, or a component could
/// reach another service's database by its path.
fn refuse_attaching_files(
    context: rusqlite::hooks::AuthContext<'_>,
) -> rusqlite::hooks::Authorization {
    use rusqlite::hooks::{AuthAction, Authorization};
    match context.action {
        AuthAction::Attach { filename } if !matches!(filename, "" | ":memory:") => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

fn io(error: rusqlite::Error) -> Error {
    Error::Io(error.to_string())
}

pub(super) fn execute(
    connection: &rusqlite::Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut statement = connection.prepare_cached(sql).map_err(io)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let parameters = rusqlite::params_from_iter(parameters.into_iter().map(to_sql));
    let rows = statement
        .query_map(parameters, |row| {
            (0..columns.len())
                .map(|index| row.get_ref(index).map(from_sql))
                .collect::<Result<Vec<_>, _>>()
                .map(|values| RowResult { values })
        })
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    Ok(QueryResult { columns, rows })
}

fn to_sql(value: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Integer(i) => Sql::Integer(i),
        Value::Real(r) => Sql::Real(r),
        Value::Text(t) => Sql::Text(t),
        Value::Blob(b) => Sql::Blob(b),
        Value::Null => Sql::Null,
    }
}

fn from_sql(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{test_file, test_grant};
    use super::*;

    #[test]
    fn attaching_another_file_is_refused_but_memory_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let board = test_grant(dir.path(), &["boards"]).open("boards").unwrap();
        let board = test_file(&board);
        let users_file = dir.path().join("users.db").display().to_string();
        let attach = format!("ATTACH DATABASE '{users_file}' AS u");
        assert!(execute(board, &attach, vec![]).is_err());
        assert!(execute(board, "ATTACH DATABASE ':memory:' AS scratch", vec![]).is_ok());
    }

    #[test]
    fn statements_bind_parameters_and_return_typed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_grant(dir.path(), &["users"]).open("users").unwrap();
        let db = test_file(&db);
        execute(
            db,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
            vec![],
        )
        .unwrap();
        let row = vec![
            Value::Integer(1),
            Value::Real(1.5),
            Value::Text("x".into()),
            Value::Blob(vec![0, 1]),
            Value::Null,
        ];
        execute(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", row).unwrap();
        let result = execute(db, "SELECT * FROM t", vec![]).unwrap();
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert!(matches!(
            result.rows[0].values[..],
            [
                Value::Integer(1),
                Value::Real(_),
                Value::Text(_),
                Value::Blob(_),
                Value::Null
            ]
        ));
    }
}
