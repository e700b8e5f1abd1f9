//! Test doubles at the HTTP level, for what real processes do too rarely to wait for, or what
//! a test must count.
//!
//! [`DyingServer`] dies with a request in flight: it reads each request, then either answers it
//! or closes the connection without a byte of answer, as a process that crashed, was sent
//! SIGKILL or exited at SIGTERM (Spin 4.0.2) does. One request per connection
//! (`connection: close`), so which request is dropped does not depend on a client's connection
//! reuse. [`KeptAliveServer`] answers every request `200` on connections it keeps open, and
//! counts them. [`SlowRelay`] stands in front of a real user service and answers one path slowly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a dropped request is held before the connection closes.
const WORKING: Duration = Duration::from_millis(20);

/// What the double does with a request, given its request line (`GET /users/1 HTTP/1.1`):
/// `Some((status, body))` answers it, `None` drops it.
type Answer = dyn Fn(&str) -> Option<(u16, Vec<u8>)> + Send + Sync;

pub struct DyingServer {
    pub addr: SocketAddr,
    dropped: Arc<Mutex<Vec<String>>>,
}

impl DyingServer {
    pub fn start(answer: impl Fn(&str) -> Option<(u16, Vec<u8>)> + Send + Sync + 'static) -> Self {
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let seen = dropped.clone();
        let addr = listen(move |stream| serve(stream, &answer, &seen));
        Self { addr, dropped }
    }

    /// The request lines it dropped, in order.
    pub fn dropped(&self) -> Vec<String> {
        self.dropped.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, answer: &Answer, dropped: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let Some(request_line) = read_request(&mut reader) else {
        return;
    };
    match answer(&request_line) {
        Some((status, body)) => write_answer(reader.into_inner(), status, &body, 1, Duration::ZERO),
        None => {
            dropped.lock().unwrap().push(request_line);
            // Dies while working on it: the request was sent and is waited on.
            thread::sleep(WORKING);
        }
    }
}

/// Binds an ephemeral port and hands each connection to `handle` on a thread of its own. Lives
/// as long as the test process: nothing of it outlives the run.
fn listen(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// Writes a JSON answer of `body` and closes the connection: its head after `pause`, then its
/// body in `pieces` pieces, each `pause` after the one before.
fn write_answer(mut stream: TcpStream, status: u16, body: &[u8], pieces: usize, pause: Duration) {
    let _ = stream.set_nodelay(true);
    let head = format!(
        "HTTP/1.1 {status} Answered\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    thread::sleep(pause);
    let _ = stream.write_all(head.as_bytes());
    let pieces = pieces.clamp(1, body.len().max(1));
    for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
        thread::sleep(pause);
        let _ = stream.write_all(piece);
    }
}

/// Relays each GET to `upstream` and answers those for `slow_path` as a user service under load
/// may without passing any of board's call timeouts: the head after [`PAUSE`], then the body in
/// [`SlowRelay::set_pieces`] pieces, [`PAUSE`] apart. Counts the slow answers it started.
pub struct SlowRelay {
    pub addr: SocketAddr,
    pieces: Arc<AtomicUsize>,
    slow: Arc<AtomicUsize>,
}

/// Under board's 1 s for the first byte and between bytes.
pub const PAUSE: Duration = Duration::from_millis(900);

impl SlowRelay {
    pub fn start(upstream: &str, slow_path: &'static str) -> Self {
        let (pieces, slow) = (Arc::new(AtomicUsize::new(1)), Arc::new(AtomicUsize::new(0)));
        let (pace, count, upstream) = (pieces.clone(), slow.clone(), upstream.to_owned());
        let addr = listen(move |stream| {
            let mut reader = BufReader::new(stream);
            let Some(request_line) = read_request(&mut reader) else {
                return;
            };
            let Some((status, body)) = relay_get(&upstream, &request_line) else {
                return;
            };
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let stream = reader.into_inner();
            if path.starts_with(slow_path) {
                count.fetch_add(1, Ordering::SeqCst);
                let pieces = pace.load(Ordering::SeqCst);
                write_answer(stream, status, &body, pieces, PAUSE);
            } else {
                write_answer(stream, status, &body, 1, Duration::ZERO);
            }
        });
        Self { addr, pieces, slow }
    }

    /// From now on, the slow answers' bodies come in `pieces` pieces: each answer takes
    /// `(pieces + 1) * PAUSE`.
    pub fn set_pieces(&self, pieces: usize) {
        self.pieces.store(pieces, Ordering::SeqCst);
    }

    /// How many slow answers it has started.
    pub fn slow_answers(&self) -> usize {
        self.slow.load(Ordering::SeqCst)
    }
}

/// Reads one request, head and body, and returns its request line.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(request_line.trim_end().to_owned())
}

/// Answers `200 ok` to every request, keeping each connection open for the next one, and
/// counts the connections and requests it has seen.
pub struct KeptAliveServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl KeptAliveServer {
    pub fn start() -> Self {
        let (connections, requests) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (opened, answered) = (connections.clone(), requests.clone());
        let addr = listen(move |stream| {
            opened.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream);
            while read_request(&mut reader).is_some() {
                answered.fetch_add(1, Ordering::SeqCst);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if reader.get_mut().write_all(answer).is_err() {
                    break;
                }
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    /// (connections opened, requests answered) so far.
    pub fn seen(&self) -> (usize, usize) {
        (
            self.connections.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
        )
    }
}

/// Relays a GET to `upstream` (`http://host:port`) and returns its status and body.
pub fn relay_get(upstream: &str, request_line: &str) -> Option<(u16, Vec<u8>)> {
    let path = request_line.split_whitespace().nth(1)?;
    let response = match ureq::get(&format!("{upstream}{path}")).call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(_)) => return None,
    };
    let status = response.status();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).ok()?;
    Some((status, body))
}
