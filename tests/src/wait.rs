//! Waiting for another process to get somewhere: the suite's one poll loop. Every wait has a
//! bound, and what to do when it runs out is the caller's (most fail the test, naming what
//! they waited for; a stop escalates to SIGKILL).

use std::thread;
use std::time::{Duration, Instant};

/// How often a condition is checked: far below any bound waited for, far above the cost of a
/// check (an HTTP request, a read of a log or of `/proc`).
const POLL: Duration = Duration::from_millis(25);

/// What a check returns: `true`, or `Some(value)`, once it holds.
pub trait Holds {
    type Value;
    fn holds(self) -> Option<Self::Value>;
}

impl Holds for bool {
    type Value = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Holds for Option<T> {
    type Value = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// Checks `check` until it holds, for up to `within`; what it gave, or `None` if it never
/// held. It is checked once more after the bound, so a slow check still gets its last look.
pub fn eventually<H: Holds>(within: Duration, mut check: impl FnMut() -> H) -> Option<H::Value> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().holds() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn it_returns_what_the_check_gave_once_it_holds() {
        let calls = Cell::new(0);
        let found = eventually(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            (calls.get() == 3).then_some("third")
        });
        assert_eq!(found, Some("third"));
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn it_gives_up_after_the_bound() {
        let started = Instant::now();
        assert_eq!(eventually(Duration::from_millis(100), || false), None);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(2));
    }
}
