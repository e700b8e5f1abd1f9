//! A label whose database is a libSQL server (`type = "libsql"`: Turso, `sqld`), through the
//! remote client Spin uses (crate `libsql`; Spin's `crates/sqlite-libsql`): each statement is one
//! HTTP request, its errors reach the guest as `io` with the client's message, and a client that
//! cannot be built is `invalid-connection`.
//!
//! Two differences from Spin, both on purpose. Spin builds a new client for every guest `open`,
//! and each loads the system's whole trust store and opens new connections; devhost builds one
//! client per label, on first use, and keeps it, so its HTTP connections stay open across
//! requests. Each `open` still gets a connection of its own (its own stream on the server), so
//! one request's transaction is never another's. And a statement does not wait for a frozen
//! server: the client sets no deadline, and under Spin a frozen server holds a request for as
//! long as it stays frozen.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// How long a statement runs before devhost asks whether the server is alive at all. This
/// app's statements take milliseconds; one still waiting after this is behind a lock, or its
/// server is frozen. Asked by `GET /health` on a connection of its own, which a live server
/// answers at once, the answer comes in time for the service's `503` within 2 s.
const PATIENCE: Duration = Duration::from_millis(1200);
/// How long `GET /health` may take to prove the server alive.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(300);
/// The longest a statement may wait on a live server: past sqld's 5 s transaction timeout, after
/// which it takes the write lock from a transaction its client abandoned. Giving up sooner
/// would abandon this statement in turn (a write's cursor holds the lock until it is read), and
/// under a burst of writers one abandoned statement led to the next.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(8);

/// One label's server and the client devhost keeps for it.
pub struct Server {
    url: String,
    token: String,
    client: OnceLock<libsql::Database>,
    /// Where its `GET /health` goes: `host:port` of an `http://` url (an `https://` server is
    /// waited for, up to the deadline).
    health: Option<Arc<str>>,
}

/// A guest's connection: its own stream on the server, and how to ask if the server lives.
pub struct Connection {
    inner: libsql::Connection,
    health: Option<Arc<str>>,
}

impl Server {
    pub fn new(url: String, token: String) -> Self {
        let health = url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(rest).into());
        Self {
            url,
            token,
            client: OnceLock::new(),
            health,
        }
    }

    /// A connection of its own for one guest `open`; no request is sent until its first
    /// statement.
    pub fn connect(&self) -> Result<Connection, Error> {
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
        Ok(Connection {
            inner: client.connect().map_err(|_| Error::InvalidConnection)?,
            health: self.health.clone(),
        })
    }
}

impl std::fmt::Debug for Server {
    /// The token stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish()
    }
}

/// Runs one statement on the server: given up at once when the server is found frozen after
/// [`PATIENCE`], else within [`STATEMENT_DEADLINE`].
pub fn execute(
    connection: &Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let parameters: Vec<libsql::Value> = parameters.into_iter().map(to_libsql).collect();
    block_on(async {
        let query = query(&connection.inner, sql, parameters);
        tokio::pin!(query);
        if let Ok(result) = tokio::time::timeout(PATIENCE, &mut query).await {
            return result;
        }
        if let Some(health) = &connection.health {
            if !answers_health(health).await {
                return Err(Error::Io(
                    "the libSQL server does not answer its health check".to_owned(),
                ));
            }
        }
        tokio::time::timeout(STATEMENT_DEADLINE - PATIENCE, query)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Io(format!(
                    "the libSQL server did not answer within {STATEMENT_DEADLINE:?}"
                )))
            })
    })
}

/// Whether the server at `authority` answers `GET /health` with `200` within [`HEALTH_TIMEOUT`].
async fn answers_health(authority: &str) -> bool {
    let ask = async {
        let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        let request = http::Request::get("/health")
            .header(http::header::HOST, authority)
            .body(Empty::<bytes::Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        Some(response.status() == http::StatusCode::OK)
    };
    matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, ask).await,
        Ok(Some(true))
    )
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
