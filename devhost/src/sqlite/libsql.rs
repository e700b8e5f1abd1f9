//! A label whose database is a libSQL server (`type = "libsql"`: Turso, `sqld`), through the
//! remote client Spin uses (crate `libsql`; Spin's `crates/sqlite-libsql`): each statement is one
//! HTTP request, its errors reach the guest as `io` with the client's message, and a client that
//! cannot be built is `invalid-connection`.
//!
//! Two differences from Spin, both on purpose. Spin builds a new client for every guest `open`,
//! and each loads the system's whole trust store; devhost builds one client per label, on first
//! use, and keeps it, so the trust store is read once. The HTTP connections are each `open`'s
//! own on both hosts: the crate makes an HTTP client per `connect`, so each `open` connects
//! afresh and has a stream of its own on the server, and one request's transaction is never
//! another's. And a statement does not wait for a frozen server: the client sets no deadline,
//! so devhost applies in-process the rule of the guard every other way of running this app puts
//! in front of a server (`deploy/libsql-guard/haproxy.cfg`), with the guard's figures.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// How often devhost asks a server for its `GET /health`, on a connection of its own, while
/// the label is in use: the guard's `inter`.
const CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How long `GET /health` may take to prove the server alive: a live server answers it in
/// microseconds, but on a machine whose cores a burst of sign-ups holds, 300 ms was seen to be
/// too little. The guard's `timeout check`.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
/// The longest a statement may wait on a server that keeps answering its health check: past
/// sqld's 5 s transaction timeout, after which it takes the write lock back from a transaction
/// whose client went away. Giving up sooner abandons the statement, and an abandoned write's
/// cursor holds the lock in turn: under a burst of writers one abandoned statement led to the
/// next. Waiting much longer let a first use under a burst stall past a client's patience. The
/// guard's `timeout server`.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(8);

/// One label's server and the client devhost keeps for it.
pub struct Server {
    url: String,
    token: String,
    client: OnceLock<libsql::Database>,
    /// Where its `GET /health` goes: `host:port` of an `http://` url (an `https://` server is
    /// waited for, up to the deadline).
    authority: Option<String>,
    /// Whether the server lives, watched from the label's first use.
    health: OnceLock<Option<Arc<Health>>>,
}

/// A guest's connection: its own stream on the server, and whether the server lives.
pub struct Connection {
    inner: libsql::Connection,
    health: Option<Arc<Health>>,
}

impl Server {
    pub fn new(url: String, token: String) -> Self {
        let authority = url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned());
        Self {
            url,
            token,
            client: OnceLock::new(),
            authority,
            health: OnceLock::new(),
        }
    }

    /// A connection of its own for one guest `open`; no request is sent until its first
    /// statement.
    pub fn connect(&self) -> Result<Connection, Error> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let builder = libsql::Builder::new_remote(self.url.clone(), self.token.clone());
                // Once per label and process: building the client (its trust store read) holds
                // this guest's thread for the moment it takes.
                let built = tokio::task::block_in_place(|| io_runtime().block_on(builder.build()))
                    .map_err(|_| Error::InvalidConnection)?;
                self.client.get_or_init(|| built)
            }
        };
        let health = self
            .health
            .get_or_init(|| self.authority.clone().map(Health::watch));
        Ok(Connection {
            inner: client.connect().map_err(|_| Error::InvalidConnection)?,
            health: health.clone(),
        })
    }
}

impl std::fmt::Debug for Server {
    /// The token stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish()
    }
}

/// Runs one statement on the server, as the guard bounds it: refused unsent while the server is
/// down, given up at once when it is found down, else within [`STATEMENT_DEADLINE`].
///
/// Bounding the whole statement, and not each connection as the guard does, also covers a wait
/// no connection holds: under load, a statement sent while the guard had a frozen server down
/// went on waiting inside the crate after the thaw, with every connection answered or closed.
pub async fn execute(
    connection: &Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let parameters: Vec<libsql::Value> = parameters.into_iter().map(to_libsql).collect();
    let (inner, health, sql) = (
        connection.inner.clone(),
        connection.health.clone(),
        sql.to_owned(),
    );
    on_io_threads(async move {
        let down = || {
            Err(Error::Io(
                "the libSQL server does not answer its health check".into(),
            ))
        };
        if let Some(health) = &health {
            if !health.up_now().await {
                return down();
            }
        }
        tokio::select! {
            biased;
            () = found_down(health) => down(),
            result = query(&inner, &sql, parameters) => result,
            () = tokio::time::sleep(STATEMENT_DEADLINE) => Err(Error::Io(format!(
                "the libSQL server did not answer within {STATEMENT_DEADLINE:?}"
            ))),
        }
    })
    .await
}

/// Resolves when the server is found down; never for a server devhost cannot ask.
async fn found_down(health: Option<Arc<Health>>) {
    match health {
        Some(health) => health.found_down().await,
        None => std::future::pending().await,
    }
}

/// Whether one server answers its health check, as last asked.
struct Health {
    authority: String,
    last: watch::Sender<Check>,
}

/// A health check's answer, and when it was asked.
struct Check {
    up: bool,
    asked: Instant,
}

impl Health {
    /// Asks the server at `authority` for its health every [`CHECK_INTERVAL`] for as long as
    /// its label or a connection is there to use the answer: down at the first check that
    /// fails, up again at the first that passes, as the guard's `fall 1` and `rise 1`.
    fn watch(authority: String) -> Arc<Self> {
        let health = Arc::new(Self {
            authority,
            last: watch::Sender::new(Check {
                up: true,
                asked: Instant::now(),
            }),
        });
        let watched = Arc::downgrade(&health);
        io_runtime().spawn(async move {
            let mut interval = tokio::time::interval(CHECK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(health) = watched.upgrade() else {
                    return;
                };
                health.check().await;
            }
        });
        health
    }

    /// Whether a statement may be sent now: the server was up at the last check, or answers
    /// one asked now. Without this, a server back from a restart or a thaw, which the guard
    /// passes again, was refused until the next periodic check, up to 250 ms on.
    async fn up_now(&self) -> bool {
        self.last.borrow().up || self.check().await
    }

    /// Resolves when the server is found down.
    async fn found_down(&self) {
        // The sender lives as long as `self`, so the wait ends only with a check that failed.
        let _ = self.last.subscribe().wait_for(|last| !last.up).await;
    }

    /// Asks now, and keeps the answer unless a check asked later has answered first: a check
    /// asked while the server was down, answered after one asked once it was back, would mark
    /// it down again and give up statements sent in between.
    async fn check(&self) -> bool {
        let asked = Instant::now();
        let up = answers_health(&self.authority).await;
        self.last.send_if_modified(|last| {
            let newer = asked > last.asked;
            let changed = newer && last.up != up;
            if newer {
                *last = Check { up, asked };
            }
            changed
        });
        up
    }
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

/// Threads of the client's own, for its HTTP connections. On the server's threads, which run
/// the guests, a response from the server waited for a worker until a guest's CPU-bound work
/// (a sign-up's Argon2 hash) let go of one; meanwhile the server held the statement's write
/// lock, and under a burst of sign-ups other writers found it busy for seconds.
const IO_THREADS: usize = 2;

fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("libsql-io")
            .enable_all()
            .build()
            .expect("the libSQL client's threads start")
    })
}

/// Runs `future` on the client's threads; the guest's task waits for it without holding one
/// of the server's.
async fn on_io_threads<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    io_runtime()
        .spawn(future)
        .await
        .expect("the client's threads run every task to its end")
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
