//! The load the swap tests put on split mode's gateway: one client per kind of request, both
//! services' reads and writes, each answer checked and counted; and a swap made under it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::client::Client;
use crate::load;
use crate::split::{GatewayRequest, SplitScript};

/// Everything the load's clients saw.
#[derive(Default)]
pub struct Tally {
    pub answered: usize,
    pub unexpected: Vec<String>,
    pub users: Vec<i64>,
    pub posts: Vec<i64>,
}

/// One client of the load, sending `request(n)` back to back until `stop`; `expected` is the
/// status every answer must have.
fn client(
    client: Client,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
    request: impl Fn(usize) -> (&'static str, String, Option<Value>),
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (method, path, body) = request(n);
        let reply = match &body {
            // A post goes as its author, signed in.
            Some(body) => {
                let authorization = body["userId"].as_i64().map(|author| client.bearer(author));
                client.try_send_json_as(method, &path, authorization.as_deref(), body)
            }
            None => client.try_send(method, &path, None, b""),
        };
        done.fetch_add(1, Ordering::Relaxed);
        let expected = if method == "POST" { 201 } else { 200 };
        let mut tally = tally.lock().unwrap();
        match reply {
            Ok(reply) if reply.status == expected => {
                tally.answered += 1;
                if method == "POST" {
                    let id = reply.json()["id"].as_i64().unwrap();
                    if path == "/users" {
                        tally.users.push(id)
                    } else {
                        tally.posts.push(id)
                    }
                }
            }
            Ok(reply) => tally.unexpected.push(format!(
                "{method} {path}: {} {}",
                reply.status,
                reply.text()
            )),
            Err(error) => tally.unexpected.push(format!("{method} {path}: {error}")),
        }
    }
}

type LoadRequest = Box<dyn Fn(usize) -> (&'static str, String, Option<Value>) + Send>;

/// One client per kind of request, through the gateway, until stopped; `done` counts the
/// answers. The posts are by `author`, the reads of `author` and of their first `post`.
pub struct GatewayLoad {
    pub done: Arc<AtomicUsize>,
    pub author: i64,
    pub post: i64,
    workers: load::Workers<Tally>,
    /// The gateway's log lines before the load: start-up's own polling met the gateway before
    /// either service was up.
    before: usize,
}

/// What the load and the gateway saw, once both were checked: no client request and no
/// request in the gateway's log failed.
pub struct Checked {
    pub tally: Tally,
    /// The gateway's requests while the load ran: the clients' and board's calls to the user
    /// service.
    pub requests: Vec<GatewayRequest>,
}

impl GatewayLoad {
    /// Signs up an author with a first post through `split`'s gateway, and starts the load.
    pub fn start_on(split: &SplitScript) -> Self {
        let gateway = &split.gateway;
        let author = gateway.sign_up("author@example.org", "A");
        let post = gateway.write_post(author, "first")["id"].as_i64().unwrap();
        let before = split.gateway_requests().len();
        let (done, workers) = Self::clients(gateway, author, post);
        Self {
            done,
            author,
            post,
            workers,
            before,
        }
    }

    fn clients(
        gateway: &Client,
        author: i64,
        post: i64,
    ) -> (Arc<AtomicUsize>, load::Workers<Tally>) {
        let requests: Vec<LoadRequest> = vec![
            Box::new(|n| {
                (
                    "POST",
                    "/users".into(),
                    Some(
                        json!({ "email": format!("load-{n}@example.org"), "name": "Load", "password": "correct horse" }),
                    ),
                )
            }),
            Box::new(move |_| {
                (
                    "POST",
                    "/boards".into(),
                    Some(json!({ "userId": author, "title": "load", "content": "steady" })),
                )
            }),
            Box::new(move |_| ("GET", format!("/users/{author}"), None)),
            Box::new(move |_| ("GET", format!("/boards/{post}"), None)),
            Box::new(|_| ("GET", "/boards?limit=5".into(), None)),
        ];
        let done = Arc::new(AtomicUsize::new(0));
        let mut requests = requests.into_iter();
        let workers = load::Workers::start(requests.len(), |_| {
            let request = requests.next().expect("one request per worker");
            let (gateway, done) = (gateway.fresh(), done.clone());
            move |stop, tally| client(gateway, stop, done, tally, request)
        });
        (done, workers)
    }

    /// The users and posts acknowledged so far.
    pub fn acknowledged(&self) -> (Vec<i64>, Vec<i64>) {
        self.workers
            .peek(|tally| (tally.users.clone(), tally.posts.clone()))
    }

    /// Stops the load and asserts that no client request failed, none in the gateway's log
    /// since the load started did, and that both services took writes.
    pub fn stop_and_check(self, split: &SplitScript) -> Checked {
        let tally = self.workers.stop();
        let requests = split.gateway_requests().split_off(self.before);
        let failed: Vec<&str> = requests
            .iter()
            .filter(|request| request.failed())
            .map(|request| request.line.as_str())
            .collect();
        assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
        assert!(failed.is_empty(), "{failed:#?}");
        assert!(!tally.users.is_empty() && !tally.posts.is_empty());
        Checked { tally, requests }
    }
}

/// Swaps `component` for `wasm` while the load runs; returns how many requests were answered
/// while the swap ran, and what the swap said.
pub fn swap_under_load(
    split: &SplitScript,
    component: &str,
    wasm: &Path,
    done: &AtomicUsize,
) -> (usize, String) {
    let before = done.load(Ordering::Relaxed);
    // The old processes die as Spin 4.0.2's does at SIGTERM, and as a crashed or killed pod
    // does: at once, cutting whatever they still serve.
    let output = split.swap_with(component, wasm, &["--abrupt-exit"]);
    let during = done.load(Ordering::Relaxed) - before;
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        split.log()
    );
    (during, said)
}
