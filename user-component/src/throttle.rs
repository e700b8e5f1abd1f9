//! How failed sign-ins for one email slow the next ones. Counted per email, whether or not an
//! account has it, so a throttled answer says nothing about which emails exist; a success
//! clears the count. The owner is never locked out for good: the wait doubles with each
//! failure past the free ones up to [`MAX_WAIT_SECONDS`], and [`WINDOW_SECONDS`] after the last
//! failure the count starts over.

/// Failures in a row before any wait.
pub const FREE_FAILURES: i64 = 5;
/// A failure this long ago no longer counts.
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// The longest wait between two tries.
pub const MAX_WAIT_SECONDS: i64 = 15 * 60;

/// The seconds left before an email with `failures` failures, the last at `last_failed_at`,
/// may try again at `now`; `None` when it may try now.
pub fn wait(failures: i64, last_failed_at: i64, now: i64) -> Option<i64> {
    if failures < FREE_FAILURES || now - last_failed_at >= WINDOW_SECONDS {
        return None;
    }
    let doublings = (failures - FREE_FAILURES).min(MAX_WAIT_SECONDS.ilog2() as i64 + 1);
    let delay = (1_i64 << doublings).min(MAX_WAIT_SECONDS);
    let left = last_failed_at + delay - now;
    (left > 0).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_cost_nothing() {
        for failures in 0..FREE_FAILURES {
            assert_eq!(wait(failures, 100, 100), None);
        }
    }

    #[test]
    fn each_failure_past_the_free_ones_doubles_the_wait() {
        assert_eq!(wait(FREE_FAILURES, 100, 100), Some(1));
        assert_eq!(wait(FREE_FAILURES + 1, 100, 100), Some(2));
        assert_eq!(wait(FREE_FAILURES + 3, 100, 101), Some(7));
        assert_eq!(wait(FREE_FAILURES + 3, 100, 108), None);
    }

    #[test]
    fn the_wait_is_capped_and_the_count_forgotten_after_the_window() {
        assert_eq!(wait(1_000, 100, 100), Some(MAX_WAIT_SECONDS));
        assert_eq!(wait(1_000, 100, 100 + MAX_WAIT_SECONDS), None);
        assert_eq!(wait(1_000, 100, 100 + WINDOW_SECONDS), None);
    }
}
