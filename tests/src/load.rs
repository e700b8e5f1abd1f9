//! Load for the tests: requests released together, one client sending JSON writes back to
//! back, a set of client threads stopped together, and the flag that stops them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Client, Reply};

/// `send(i)` for i in `0..n`, each on a thread of its own, released together; each answer with
/// how long it took, in order of `i`.
pub fn at_once<T: Send>(n: usize, send: impl Fn(usize) -> T + Sync) -> Vec<(T, Duration)> {
    let barrier = Barrier::new(n);
    thread::scope(|scope| {
        let sent: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, send) = (&barrier, &send);
                scope.spawn(move || {
                    barrier.wait();
                    let started = Instant::now();
                    let answer = send(i);
                    (answer, started.elapsed())
                })
            })
            .collect();
        sent.into_iter().map(|sent| sent.join().unwrap()).collect()
    })
}

/// Sends `request(n)` for n = 1, 2, ... while `keep_going()` holds, handing each outcome (a
/// reply, or the transport error when the host is gone) to `record` with the request's path
/// and how long it took.
/// A post goes as its author (its `userId`), signed in through `client`'s accounts.
pub fn send_while(
    client: &Client,
    keep_going: impl Fn() -> bool,
    request: impl Fn(usize) -> (&'static str, Value),
    mut record: impl FnMut(&'static str, Result<Reply, String>, Duration),
) {
    let mut n = 0;
    while keep_going() {
        n += 1;
        let (path, body) = request(n);
        let authorization = body["userId"]
            .as_i64()
            .filter(|_| path == "/boards")
            .map(|author| client.bearer(author));
        let sent = Instant::now();
        let reply = client.try_send_json_as("POST", path, authorization.as_deref(), &body);
        record(path, reply, sent.elapsed());
    }
}

/// The flag a test's threads stop on: raised by [`StopFlag::raise`], or when it is dropped. A test
/// that panics with its load running so stops the load too; else its threads went on sending to
/// a host the test had stopped, back to back, as fast as a refused connection comes back,
/// through every test after it (after one such failure a CI run stood at a load average of 29).
#[derive(Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// What a load thread holds: `true` once the flag is raised.
    pub fn watcher(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Drop for StopFlag {
    fn drop(&mut self) {
        self.raise();
    }
}

/// Client threads that share a stop flag and a tally, until `stop` joins them.
pub struct Workers<T> {
    stop: StopFlag,
    tally: Arc<Mutex<T>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<T: Default + Send + 'static> Workers<T> {
    /// Starts `count` threads, each running `work(its number, the stop flag, the tally)`.
    pub fn start<F>(count: usize, mut work: impl FnMut(usize) -> F) -> Self
    where
        F: FnOnce(Arc<AtomicBool>, Arc<Mutex<T>>) + Send + 'static,
    {
        let stop = StopFlag::default();
        let tally = Arc::new(Mutex::new(T::default()));
        let threads = (0..count)
            .map(|n| {
                let job = work(n);
                let (stop, tally) = (stop.watcher(), tally.clone());
                thread::spawn(move || job(stop, tally))
            })
            .collect();
        Self {
            stop,
            tally,
            threads,
        }
    }

    /// What the threads have tallied so far, as `look` sees it.
    pub fn peek<R>(&self, look: impl FnOnce(&T) -> R) -> R {
        look(&self.tally.lock().expect("tally lock"))
    }

    /// Stops every thread and returns what they tallied.
    pub fn stop(self) -> T {
        self.stop.raise();
        for thread in self.threads {
            thread.join().expect("a load thread panicked");
        }
        std::mem::take(&mut *self.tally.lock().expect("tally lock"))
    }
}
