//! A label whose database is a libSQL server (`type = "libsql"`: Turso, `sqld`), through the
//! remote client Spin uses (crate `libsql`; Spin's `crates/sqlite-libsql`): each statement is one
//! HTTP request, its errors reach the guest as `io` with the client's message, and a client that
//! cannot be built is `invalid-connection`.
//!
//! Two differences from Spin, both on purpose. Spin builds a new client for every guest `open`,
//! and each loads the system's whole trust store and opens new connections; devhost builds one
//! client per label, on first use, and keeps it, so its HTTP connections stay open across
//! requests. Each `open` still gets a connection of its own (its own stream on the server), so
//! one request's transaction is never another's. And a statement has a deadline: the client
//! sets none, and a frozen server would hold a request for as long as the server stays frozen.

use std::sync::OnceLock;
use std::time::Duration;

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// The longest one statement may take. This app's statements take milliseconds; the bound is
/// what a client waits for a frozen or unreachable server before the service answers `503`, and
/// leaves room for that answer within 2 s.
const STATEMENT_DEADLINE: Duration = Duration::from_millis(1500);

/// One label's server and the client devhost keeps for it.
pub struct Server {
    url: String,
    token: String,
    client: OnceLock<libsql::Database>,
}

impl Server {
    pub fn new(url: String, token: String) -> Self {
        Self {
            url,
            token,
            client: OnceLock::new(),
        }
    }

    /// A connection of its own for one guest `open`; no request is sent until its first
    /// statement.
    pub fn connect(&self) -> Result<libsql::Connection, Error> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let built = block_on(
                    libsql::Builder::new_remote(self.url.clone(), self.token.clone()).build(),
                )
                .map_err(|_| Error::InvalidConnection)?;
                self.client.get_or_init(|| built)
            }
        };
        client.connect().map_err(|_| Error::InvalidConnection)
    }
}

impl std::fmt::Debug for Server {
    /// The token stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish()
    }
}

/// Runs one statement on the server, within [`STATEMENT_DEADLINE`].
pub fn execute(
    connection: &libsql::Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let parameters: Vec<libsql::Value> = parameters.into_iter().map(to_libsql).collect();
    block_on(async {
        tokio::time::timeout(STATEMENT_DEADLINE, query(connection, sql, parameters))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Io(format!(
                    "the libSQL server did not answer within {STATEMENT_DEADLINE:?}"
                )))
            })
    })
}

async fn query(
    connection: &libsql::Connection,
    sql: &str,
    parameters: Vec<libsql::Value>,
) -> Result<QueryResult, Error> {
    let io = |error: libsql::Error| Error::Io(error.to_string());
    let mut rows = connection.query(sql, parameters).await.map_err(io)?;
    let count = rows.column_count();
    let columns = (0..count)
        .map(|index| rows.column_name(index).unwrap_or("").to_owned())
        .collect();
    let mut result = Vec::new();
    while let Some(row) = rows.next().await.map_err(io)? {
        let values = (0..count)
            .map(|index| row.get_value(index).map(from_libsql).map_err(io))
            .collect::<Result<_, _>>()?;
        result.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: result,
    })
}

/// The guest's host calls are synchronous; the client is async. Blocking in place lets tokio
/// move this worker's other tasks elsewhere meanwhile, as the file backend does for SQLite.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

fn to_libsql(value: Value) -> libsql::Value {
    match value {
        Value::Integer(i) => libsql::Value::Integer(i),
        Value::Real(r) => libsql::Value::Real(r),
        Value::Text(t) => libsql::Value::Text(t),
        Value::Blob(b) => libsql::Value::Blob(b),
        Value::Null => libsql::Value::Null,
    }
}

fn from_libsql(value: libsql::Value) -> Value {
    match value {
        libsql::Value::Integer(i) => Value::Integer(i),
        libsql::Value::Real(r) => Value::Real(r),
        libsql::Value::Text(t) => Value::Text(t),
        libsql::Value::Blob(b) => Value::Blob(b),
        libsql::Value::Null => Value::Null,
    }
}
