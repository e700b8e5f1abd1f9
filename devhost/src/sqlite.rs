//! `fermyon:spin/sqlite@2.0.0` with Spin's rules (crates/factor-sqlite, crates/sqlite-inproc):
//! a component may open only the labels in its `sqlite_databases` (`access-denied` is checked
//! before existence), every `open` gives a connection in a fresh connection's state (rusqlite's
//! 5 s busy timeout, no pragmas), and `ATTACH` of a file is refused. A label is a local file (on
//! rusqlite, here) or a libSQL server (`sqlite_libsql`).
//!
//! Unlike Spin, devhost keeps idle connections to a file and hands them out again: opening a
//! connection and parsing the schema was the largest cost of a small request. A connection goes
//! back to the pool only if nothing a component did could be seen by the next one: no open
//! transaction, no attached or temporary database, no pragma that set anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::runtime_config::{Location, RuntimeConfig};
use crate::sqlite_libsql::{self, Server};

/// The implicit label every Spin app has, stored beside `spin.toml`.
const DEFAULT_LABEL: &str = "default";

/// Idle connections kept per label; more than this many at once are closed instead.
const MAX_IDLE_PER_LABEL: usize = 32;

/// What a guest's `connection` resource stands for: a connection to one label.
struct Connection {
    label: String,
    backend: Backend,
}

enum Backend {
    /// A pooled connection to a local file (or memory).
    File {
        inner: rusqlite::Connection,
        /// Set by the authorizer when a statement changed per-connection state.
        tainted: Arc<AtomicBool>,
    },
    /// A connection of its own on a libSQL server, through the label's kept client.
    Server(sqlite_libsql::Connection),
}

/// Every label the app can use, where it lives, its idle file connections and its servers'
/// clients.
#[derive(Debug, Default)]
pub struct Databases {
    locations: BTreeMap<String, Location>,
    idle: Mutex<HashMap<String, Vec<Connection>>>,
    servers: BTreeMap<String, Server>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("label", &self.label)
            .finish()
    }
}

impl Databases {
    /// Resolves the runtime config's labels; `default` is implicit, as in Spin.
    pub fn resolve(config: &RuntimeConfig, manifest_dir: &Path, cwd: &Path) -> Result<Self> {
        let mut locations = BTreeMap::from([(
            DEFAULT_LABEL.to_owned(),
            Location::File(manifest_dir.join(".spin/sqlite_db.db")),
        )]);
        let mut servers = BTreeMap::new();
        for (label, database) in &config.sqlite_database {
            let location = database.location(label, cwd)?;
            if let Location::Libsql { url, token } = &location {
                servers.insert(label.clone(), Server::new(url.clone(), token.clone()));
            }
            locations.insert(label.clone(), location);
        }
        Ok(Self {
            locations,
            idle: Mutex::default(),
            servers,
        })
    }

    /// Spin refuses to start when a component lists a label nobody defined: one problem per
    /// such label.
    pub fn undefined_labels(&self, component: &str, labels: &[String]) -> Vec<String> {
        labels
            .iter()
            .filter(|label| !self.locations.contains_key(*label))
            .map(|label| {
                format!(
                    "component `{component}` uses sqlite database `{label}`, which the runtime \
                     config does not define"
                )
            })
            .collect()
    }

    /// Creates the folder of every file a component can open, as Spin does at start-up.
    pub fn prepare_files<'a>(&self, labels: impl IntoIterator<Item = &'a String>) -> Result<()> {
        for label in labels {
            if let Some(Location::File(path)) = self.locations.get(label) {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
            }
        }
        Ok(())
    }

    pub fn location(&self, label: &str) -> Option<&Location> {
        self.locations.get(label)
    }

    /// An idle connection to `label`, or a new one.
    fn acquire(&self, label: &str) -> Result<Connection, Error> {
        let reused = self
            .idle
            .lock()
            .expect("pool lock")
            .get_mut(label)
            .and_then(Vec::pop);
        match reused {
            Some(connection) => Ok(connection),
            None => self.connect(label),
        }
    }

    fn connect(&self, label: &str) -> Result<Connection, Error> {
        let inner = match self.location(label) {
            None => return Err(Error::NoSuchDatabase),
            Some(Location::File(path)) => rusqlite::Connection::open(path),
            Some(Location::Memory) => rusqlite::Connection::open_in_memory(),
            Some(Location::Libsql { .. }) => {
                let server = self.servers.get(label).ok_or(Error::NoSuchDatabase)?;
                return Ok(Connection {
                    label: label.to_owned(),
                    backend: Backend::Server(server.connect()?),
                });
            }
        }
        .map_err(io)?;
        let tainted = Arc::new(AtomicBool::new(false));
        let flag = tainted.clone();
        inner.authorizer(Some(move |context: rusqlite::hooks::AuthContext<'_>| {
            if changes_connection_state(&context.action) {
                flag.store(true, Ordering::Relaxed);
            }
            refuse_attaching_files(context)
        }));
        Ok(Connection {
            label: label.to_owned(),
            backend: Backend::File { inner, tainted },
        })
    }

    /// Takes a connection back when the component is done with it, if it can be reused. A
    /// server connection is dropped: its stream ends, and the server rolls back what it left
    /// open; the label's client and its HTTP connections stay.
    fn release(&self, connection: Connection) {
        let Backend::File { inner, tainted } = &connection.backend else {
            return;
        };
        let reusable = matches!(self.location(&connection.label), Some(Location::File(_)))
            && inner.is_autocommit()
            && !tainted.load(Ordering::Relaxed);
        if !reusable {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        let pool = idle.entry(connection.label.clone()).or_default();
        if pool.len() < MAX_IDLE_PER_LABEL {
            pool.push(connection);
        }
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

/// What one component may open: its own labels, out of the app's databases.
#[derive(Debug, Clone)]
pub struct SqliteGrant {
    databases: Arc<Databases>,
    labels: Arc<BTreeSet<String>>,
}

impl SqliteGrant {
    pub fn new(databases: Arc<Databases>, labels: &[String]) -> Self {
        Self {
            databases,
            labels: Arc::new(labels.iter().cloned().collect()),
        }
    }

    /// The labels granted, in order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    fn open(&self, label: &str) -> Result<Connection, Error> {
        if !self.labels.contains(label) {
            return Err(Error::AccessDenied);
        }
        self.databases.acquire(label)
    }
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

fn execute(
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

/// One request's SQLite capability: the component's grant and the connections it opened,
/// which it owns; the guest holds only their numbers (as Spin's factor-sqlite does).
#[derive(Debug)]
pub struct SqliteState {
    grant: SqliteGrant,
    connections: HashMap<u32, Connection>,
    next_rep: u32,
}

impl SqliteState {
    pub fn new(grant: SqliteGrant) -> Self {
        Self {
            grant,
            connections: HashMap::new(),
            next_rep: 0,
        }
    }

    fn connection(&self, resource: &Resource<sqlite::Connection>) -> wasmtime::Result<&Connection> {
        self.connections
            .get(&resource.rep())
            .ok_or_else(|| wasmtime::format_err!("no such sqlite connection"))
    }
}

impl sqlite::Host for SqliteState {}

impl sqlite::HostConnection for SqliteState {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<sqlite::Connection>, Error>> {
        let connection = match self.grant.open(&database) {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let rep = self.next_rep;
        self.next_rep = rep
            .checked_add(1)
            .ok_or_else(|| wasmtime::format_err!("too many sqlite connections"))?;
        self.connections.insert(rep, connection);
        Ok(Ok(Resource::new_own(rep)))
    }

    fn execute(
        &mut self,
        connection: Resource<sqlite::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(match &self.connection(&connection)?.backend {
            // SQLite blocks (up to the busy timeout); let tokio move other tasks off this thread.
            Backend::File { inner, .. } => {
                tokio::task::block_in_place(|| execute(inner, &statement, parameters))
            }
            Backend::Server(server) => sqlite_libsql::execute(server, &statement, parameters),
        })
    }

    fn drop(&mut self, connection: Resource<sqlite::Connection>) -> wasmtime::Result<()> {
        let connection = self
            .connections
            .remove(&connection.rep())
            .ok_or_else(|| wasmtime::format_err!("no such sqlite connection"))?;
        self.grant.databases.release(connection);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_config::Database;

    /// The file connection behind a guest's connection.
    fn file(connection: &Connection) -> &rusqlite::Connection {
        match &connection.backend {
            Backend::File { inner, .. } => inner,
            Backend::Server(_) => panic!("a file label gave a server connection"),
        }
    }

    fn grant(dir: &Path, labels: &[&str]) -> SqliteGrant {
        let mut config = RuntimeConfig::default();
        for label in ["users", "boards"] {
            let path = Some(format!("{label}.db").into());
            config
                .sqlite_database
                .insert(label.to_owned(), Database::Spin { path });
        }
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        SqliteGrant::new(
            Arc::new(Databases::resolve(&config, dir, dir).unwrap()),
            &labels,
        )
    }

    #[test]
    fn a_label_the_component_does_not_list_is_access_denied() {
        let dir = tempfile::tempdir().unwrap();
        let board = grant(dir.path(), &["boards"]);
        assert!(matches!(board.open("users"), Err(Error::AccessDenied)));
        assert!(matches!(board.open("nowhere"), Err(Error::AccessDenied)));
        assert!(board.open("boards").is_ok());
    }

    #[test]
    fn a_listed_but_undefined_label_is_no_such_database() {
        let dir = tempfile::tempdir().unwrap();
        let component = grant(dir.path(), &["ghost"]);
        assert!(matches!(
            component.open("ghost"),
            Err(Error::NoSuchDatabase)
        ));
    }

    #[test]
    fn attaching_another_file_is_refused_but_memory_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let board = grant(dir.path(), &["boards"]).open("boards").unwrap();
        let board = file(&board);
        let users_file = dir.path().join("users.db").display().to_string();
        let attach = format!("ATTACH DATABASE '{users_file}' AS u");
        assert!(execute(board, &attach, vec![]).is_err());
        assert!(execute(board, "ATTACH DATABASE ':memory:' AS scratch", vec![]).is_ok());
    }

    #[test]
    fn statements_bind_parameters_and_return_typed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = grant(dir.path(), &["users"]).open("users").unwrap();
        let db = file(&db);
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

    /// Marks `connection` by inserting `rows` rows: SQLite's `changes()` is kept per
    /// connection, so a connection handed on still reports the mark and a new one reports 0.
    /// (Addresses cannot tell connections apart: a freed one's is given to the next.)
    fn mark(connection: &Connection, rows: usize) {
        let values = vec!["(1)"; rows].join(", ");
        execute(
            file(connection),
            &format!("INSERT INTO t VALUES {values}"),
            vec![],
        )
        .unwrap();
    }

    #[test]
    fn a_clean_connection_is_reused_and_a_changed_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let users = grant(dir.path(), &["users"]);
        let first = users.open("users").unwrap();
        execute(file(&first), "CREATE TABLE t (x)", vec![]).unwrap();
        mark(&first, 3);
        users.databases.release(first);
        let second = users.open("users").unwrap();
        assert_eq!(file(&second).changes(), 3, "a clean connection is reused");

        mark(&second, 5);
        execute(file(&second), "BEGIN", vec![]).unwrap();
        users.databases.release(second);
        let third = users.open("users").unwrap();
        assert_eq!(
            file(&third).changes(),
            0,
            "an open transaction is not handed on"
        );
        assert!(file(&third).is_autocommit());

        mark(&third, 7);
        execute(file(&third), "PRAGMA foreign_keys = ON", vec![]).unwrap();
        users.databases.release(third);
        let fourth = users.open("users").unwrap();
        assert_eq!(
            file(&fourth).changes(),
            0,
            "a pragma that set something is not handed on"
        );
    }

    #[test]
    fn every_undefined_label_in_the_manifest_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let databases = grant(dir.path(), &[]).databases;
        let labels = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(databases
            .undefined_labels("c", &labels(&["users", "default"]))
            .is_empty());
        let problems = databases.undefined_labels("c", &labels(&["ghost", "users", "phantom"]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`ghost`") && problems[1].contains("`phantom`"));
    }
}
