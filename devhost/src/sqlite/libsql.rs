//! A label whose database is a libSQL server (`type = "libsql"`: Turso, `sqld`), over Hrana's
//! HTTP pipeline (`POST /v2/pipeline`), the protocol Spin's client speaks (crate `libsql`;
//! Spin's `crates/sqlite-libsql`), with the protocol's own types (crate `libsql-hrana`). A
//! statement's errors reach the guest as `io` with the server's message; a server URL devhost
//! cannot use is `invalid-connection`.
//!
//! Three differences from Spin, all on purpose. Each statement is **one** request: outside a
//! transaction it goes as an `execute` and a `close` together, so the server opens a stream for
//! it and ends it at once; Spin's client asks the server to describe the statement, then reads it
//! through a cursor (two requests), and leaves each stream open until the connection is dropped,
//! holding one of the server's connection permits meanwhile (sqld answers `429` when they run
//! out). From `BEGIN` to `COMMIT` or `ROLLBACK` the statements share one stream, so a request's
//! transaction is its own. Devhost keeps one HTTP client per label for the whole run, where Spin
//! builds one (trust store and all) per guest `open`. And a statement does not wait for a frozen
//! server: Spin's client sets no deadline, and under Spin a frozen server holds a request for as
//! long as it stays frozen (the libSQL guard bounds that: `deploy/libsql-guard/`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use libsql_hrana::proto::{
    self, CloseStreamReq, ExecuteStreamReq, PipelineReqBody, PipelineRespBody, Stmt, StreamRequest,
    StreamResponse, StreamResult,
};

use crate::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};

/// How long a statement runs before devhost asks whether the server is alive at all. This
/// app's statements take milliseconds; one still waiting after this is behind a lock, or its
/// server is frozen. Asked by `GET /health` on a connection of its own, the answer comes in
/// time for the service's `503` within 2 s.
const PATIENCE: Duration = Duration::from_millis(1000);
/// How long `GET /health` may take to prove the server alive: a live server answers it in
/// microseconds, but on a machine whose cores a burst of sign-ups holds, 300 ms was seen to be
/// too little.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
/// The longest a statement may wait on a server that keeps answering its health check: past
/// sqld's 5 s transaction timeout, after which it takes the write lock back from a transaction
/// whose client went away. Giving up sooner abandons the statement, and an abandoned write's
/// cursor holds the lock in turn: under a burst of writers one abandoned statement led to the
/// next. Waiting much longer let a first use under a burst stall past a client's patience.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(8);

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One label's server, and the HTTP client devhost keeps for it.
pub struct Server {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    url: String,
    /// `Bearer <token>`, or nothing for a server without auth. Never logged.
    authorization: Option<http::HeaderValue>,
    /// Built at first use: its connections stay open across requests.
    client: OnceLock<HttpClient>,
    /// Where its `GET /health` goes: `host:port` of an `http://` url (an `https://` server is
    /// waited for, up to the deadline).
    health: Option<Arc<str>>,
}

/// A guest's connection: no stream on the server until a transaction needs one. Cloning shares
/// it.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    server: Arc<ServerInner>,
    /// The stream a transaction holds on the server, if one is open.
    stream: Mutex<Option<OpenStream>>,
}

/// Hrana's baton, which names a stream to the server, and where the server asked to be reached
/// for it.
#[derive(Clone)]
struct OpenStream {
    baton: String,
    base_url: Option<String>,
}

impl Server {
    pub fn new(url: String, token: String) -> Self {
        let health = url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(rest).into());
        let authorization = (!token.is_empty())
            .then(|| http::HeaderValue::from_str(&format!("Bearer {token}")).ok())
            .flatten()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self {
            inner: Arc::new(ServerInner {
                url: url.trim_end_matches('/').to_owned(),
                authorization,
                client: OnceLock::new(),
                health,
            }),
        }
    }

    /// A connection for one guest `open`; no request is sent until its first statement.
    pub fn connect(&self) -> Result<Connection, Error> {
        if !self.inner.url.starts_with("http://") && !self.inner.url.starts_with("https://") {
            return Err(Error::InvalidConnection);
        }
        Ok(Connection {
            inner: Arc::new(ConnectionInner {
                server: self.inner.clone(),
                stream: Mutex::new(None),
            }),
        })
    }
}

impl std::fmt::Debug for Server {
    /// The token stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl ServerInner {
    fn client(&self) -> &HttpClient {
        self.client.get_or_init(|| {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .build();
            Client::builder(TokioExecutor::new()).build(https)
        })
    }

    /// Sends one pipeline, to the stream's own address when the server gave one.
    async fn pipeline(
        &self,
        base_url: Option<&str>,
        body: &PipelineReqBody,
    ) -> Result<PipelineRespBody, Error> {
        let io = |what: &str, error: &dyn std::fmt::Display| {
            Error::Io(format!("Hrana: {what}: {error}"))
        };
        let base = base_url.unwrap_or(&self.url).trim_end_matches('/');
        let json = serde_json::to_vec(body).map_err(|e| io("encoding the request", &e))?;
        let mut request = http::Request::post(format!("{base}/v2/pipeline"))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(http::header::AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| io("building the request", &e))?;
        let response = self
            .client()
            .request(request)
            .await
            .map_err(|e| io("http error", &e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| io("reading the answer", &e))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(Error::Io(format!(
                "Hrana: the server answered {status}: {text}"
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| io("unreadable answer", &e))
    }
}

/// Where a statement leaves its connection's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `BEGIN ...`: a stream is kept for the statements that follow.
    Begins,
    /// `COMMIT`, `END` or `ROLLBACK` (not `ROLLBACK TO`): the stream ends with it.
    Ends,
    /// Anything else: inside the transaction if one is open, else a stream of its own.
    Within,
}

impl Scope {
    fn of(sql: &str) -> Self {
        let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
        match words.next().as_deref() {
            Some("BEGIN") => Scope::Begins,
            Some("COMMIT" | "END") => Scope::Ends,
            Some("ROLLBACK") if words.next().as_deref() != Some("TO") => Scope::Ends,
            _ => Scope::Within,
        }
    }
}

/// Runs one statement on the server in one request: given up when the server, asked after each
/// [`PATIENCE`] the statement waits, is found frozen; else within [`STATEMENT_DEADLINE`].
pub async fn execute(
    connection: &Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let connection = &connection.inner;
    let open = connection.stream.lock().expect("stream lock").clone();
    let keep_stream = match Scope::of(sql) {
        Scope::Begins => true,
        Scope::Ends => false,
        Scope::Within => open.is_some(),
    };
    let mut stmt = Stmt::new(sql, true);
    stmt.args = parameters.into_iter().map(to_hrana).collect();
    let mut requests = vec![StreamRequest::Execute(ExecuteStreamReq { stmt })];
    if !keep_stream {
        requests.push(StreamRequest::Close(CloseStreamReq {}));
    }
    let body = PipelineReqBody {
        baton: open.as_ref().map(|stream| stream.baton.clone()),
        requests,
    };
    let server = connection.server.clone();
    let base_url = open.and_then(|stream| stream.base_url);
    let answer = on_io_threads(async move {
        let sent = server.pipeline(base_url.as_deref(), &body);
        tokio::pin!(sent);
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(answer) = tokio::time::timeout(PATIENCE, &mut sent).await {
                return answer;
            }
            if started.elapsed() >= STATEMENT_DEADLINE {
                return Err(Error::Io(format!(
                    "the libSQL server did not answer within {STATEMENT_DEADLINE:?}"
                )));
            }
            if let Some(health) = &server.health {
                if !answers_health(health).await {
                    return Err(Error::Io(
                        "the libSQL server does not answer its health check".to_owned(),
                    ));
                }
            }
        }
    })
    .await;
    // Whatever the statement did, the stream is where the server says: gone after a `close`,
    // or lost with the request that failed (the server ends it after its own timeout).
    let answer = answer.inspect_err(|_| {
        *connection.stream.lock().expect("stream lock") = None;
    })?;
    *connection.stream.lock().expect("stream lock") = match (keep_stream, answer.baton) {
        (true, Some(baton)) => Some(OpenStream {
            baton,
            base_url: answer.base_url,
        }),
        _ => None,
    };
    match answer.results.into_iter().next() {
        Some(StreamResult::Ok {
            response: StreamResponse::Execute(executed),
        }) => Ok(query_result(executed.result)),
        Some(StreamResult::Error { error }) => Err(Error::Io(error.message)),
        other => Err(Error::Io(format!("Hrana: unexpected answer: {other:?}"))),
    }
}

impl Drop for ConnectionInner {
    /// A guest that drops its connection inside a transaction: the stream is closed, and the
    /// server rolls back what it left open. Nobody waits for the answer.
    fn drop(&mut self) {
        let Some(open) = self.stream.get_mut().ok().and_then(Option::take) else {
            return;
        };
        let server = self.server.clone();
        io_runtime().spawn(async move {
            let body = PipelineReqBody {
                baton: Some(open.baton),
                requests: vec![StreamRequest::Close(CloseStreamReq {})],
            };
            let _ = server.pipeline(open.base_url.as_deref(), &body).await;
        });
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
            .body(Empty::<Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        Some(response.status() == http::StatusCode::OK)
    };
    matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, ask).await,
        Ok(Some(true))
    )
}

fn query_result(result: proto::StmtResult) -> QueryResult {
    QueryResult {
        columns: result
            .cols
            .into_iter()
            .map(|col| col.name.unwrap_or_default())
            .collect(),
        rows: result
            .rows
            .into_iter()
            .map(|row| RowResult {
                values: row.values.into_iter().map(from_hrana).collect(),
            })
            .collect(),
    }
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

fn to_hrana(value: Value) -> proto::Value {
    match value {
        Value::Integer(value) => proto::Value::Integer { value },
        Value::Real(value) => proto::Value::Float { value },
        Value::Text(text) => proto::Value::Text { value: text.into() },
        Value::Blob(blob) => proto::Value::Blob { value: blob.into() },
        Value::Null => proto::Value::Null,
    }
}

fn from_hrana(value: proto::Value) -> Value {
    match value {
        proto::Value::Integer { value } => Value::Integer(value),
        proto::Value::Float { value } => Value::Real(value),
        proto::Value::Text { value } => Value::Text(value.to_string()),
        proto::Value::Blob { value } => Value::Blob(value.to_vec()),
        proto::Value::Null | proto::Value::None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_keeps_its_stream_from_begin_to_commit_or_rollback() {
        assert_eq!(Scope::of("BEGIN IMMEDIATE"), Scope::Begins);
        assert_eq!(Scope::of("  begin"), Scope::Begins);
        assert_eq!(Scope::of("COMMIT"), Scope::Ends);
        assert_eq!(Scope::of("ROLLBACK"), Scope::Ends);
        assert_eq!(Scope::of("ROLLBACK TO sp"), Scope::Within);
        assert_eq!(Scope::of("SELECT 1"), Scope::Within);
    }
}
