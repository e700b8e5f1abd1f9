//! Board's replica of its authors' public facts, so a read never waits for the user service.
//!
//! Names arrive three ways, all through the user service's HTTP API: the author check of a
//! write, read-repair of an author board has not met, and the change feed, pulled lazily. A
//! read that finds the feed due asks for the pull after its response is sent; of all the
//! instances that do, the one whose claim lands in the database pulls, and the others carry on.
//! Staleness is bounded: a rename shows once the next pull after it has run, at most
//! `author_sync_interval` after the previous one, plus the request that triggers it; in the
//! read model of another process of board, up to `read_model::CHECK_INTERVAL_MS` later.

use std::fmt::{self, Display, Formatter};

use service_kit::db::{self, Database};

use crate::domain::UserId;
use crate::error::report;
use crate::model;
use crate::store;
use crate::store::authors::{self, AuthorName};
use crate::users::{self, Unavailable};

/// The Spin variable with the least time between two pulls, in seconds.
const INTERVAL_VARIABLE: &str = "author_sync_interval";
const DEFAULT_INTERVAL_SECONDS: f64 = 2.0;
/// Pages one pull reads at most; a replica further behind catches up over the next pulls.
const MAX_PAGES_PER_PULL: usize = 10;

/// Pulls the change feed if a read in this request found it due and this instance wins the
/// claim. Never fails a request: a pull that cannot finish is logged, and the next due read
/// tries again.
pub fn pull_if_due() {
    if !authors::feed_seen_due() {
        return;
    }
    if let Err(reason) = pull() {
        report("author feed pull failed", reason);
    }
}

/// Why a pull stopped; the next due read tries again.
#[derive(Debug)]
enum PullFailed {
    Database(db::Error),
    UserService(Unavailable),
}

impl Display for PullFailed {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database(error) => write!(f, "database: {error:?}"),
            Self::UserService(reason) => write!(f, "user service: {reason}"),
        }
    }
}

impl From<db::Error> for PullFailed {
    fn from(error: db::Error) -> Self {
        Self::Database(error)
    }
}

impl From<Unavailable> for PullFailed {
    fn from(reason: Unavailable) -> Self {
        Self::UserService(reason)
    }
}

fn pull() -> Result<(), PullFailed> {
    let db = store::SCHEMA.open_for_writes()?;
    let Some(mut after) = authors::claim_feed_pull(&db, interval_seconds())? else {
        return Ok(());
    };
    for _ in 0..MAX_PAGES_PER_PULL {
        let page = users::changes(after)?;
        apply(&db, &page)?;
        if page.changes.len() < users::FEED_PAGE {
            break;
        }
        after = page.last_seq;
    }
    Ok(())
}

fn apply(db: &impl Database, page: &users::FeedPage) -> Result<(), db::Error> {
    let names: Vec<AuthorName> = page
        .changes
        .iter()
        .map(|change| AuthorName {
            id: UserId::issued(change.user_id),
            name: &change.name,
        })
        .collect();
    authors::apply_feed(db, &names, page.last_seq)?;
    model::forget_authors(names.iter().map(|author| author.id));
    Ok(())
}

/// The least time between two calls board makes on its own to refresh what it keeps of the
/// user service: a pull of the feed, or a fetch of the signing keys (`auth`).
pub fn interval_seconds() -> f64 {
    spin_sdk::variables::get(INTERVAL_VARIABLE)
        .ok()
        .and_then(|raw| raw.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .unwrap_or(DEFAULT_INTERVAL_SECONDS)
}
