//! The user service's public signing keys as board last fetched them, and the claim protocol
//! that lets one instance of all those that meet an unknown key fetch them per interval.

use service_kit::db::{Database, Error, Value};

use super::first_text;

/// The public key (`x`) of signing key `kid`, if the user service listed it last time.
pub fn signing_key(db: &impl Database, kid: &str) -> Result<Option<String>, Error> {
    let result = db.execute(
        "SELECT x FROM signing_keys WHERE kid = ?",
        &[Value::Text(kid.to_owned())],
    )?;
    Ok(first_text(&result, "x"))
}

/// Claims the next fetch of the signing keys for `interval_seconds` from now, if one is due or
/// the last claim was abandoned: made `abandoned_after` seconds ago or more and never finished,
/// because its instance stopped or was cut off mid-fetch. One statement: of many concurrent
/// instances, exactly one gets the claim.
pub fn claim_key_refresh(
    db: &impl Database,
    interval_seconds: f64,
    abandoned_after: f64,
) -> Result<bool, Error> {
    let result = db.execute(
        "UPDATE key_refresh
         SET next_fetch_at = unixepoch('subsec') + ?, claimed_at = unixepoch('subsec')
         WHERE id = 1 AND (next_fetch_at <= unixepoch('subsec')
             OR (claimed_at > fetched_at AND claimed_at <= unixepoch('subsec') - ?))
         RETURNING id",
        &[Value::Real(interval_seconds), Value::Real(abandoned_after)],
    )?;
    let found = result.rows().next().is_some();
    Ok(found)
}

/// Records that the fetch this instance claimed is over; after one that failed, the next may
/// start `retry_seconds` from now, sooner than a whole interval.
pub fn finish_key_refresh(
    db: &impl Database,
    failed: bool,
    retry_seconds: f64,
) -> Result<(), Error> {
    db.execute(
        "UPDATE key_refresh SET fetched_at = unixepoch('subsec'), failed = ?,
             next_fetch_at = CASE WHEN ? THEN unixepoch('subsec') + ? ELSE next_fetch_at END
         WHERE id = 1",
        &[
            Value::Integer(failed.into()),
            Value::Integer(failed.into()),
            Value::Real(retry_seconds),
        ],
    )
    .map(drop)
}

/// Where the fetches of the keys stand, as an instance that did not win the claim sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefresh {
    /// Claimed less than `abandoned_after` seconds ago, and not over.
    InFlight,
    /// Claimed longer ago than that and never over (see [`claim_key_refresh`]).
    Abandoned,
    /// The last fetch is over and failed.
    Failed,
    /// The last fetch is over and stored the keys the user service listed.
    Fetched,
}

/// Key `kid`'s `x` as [`signing_key`] gives it, and where the fetches stand, in one statement:
/// one round trip per poll of a waiting request, and the two agree with each other.
pub fn key_and_refresh(
    db: &impl Database,
    kid: &str,
    abandoned_after: f64,
) -> Result<(Option<String>, KeyRefresh), Error> {
    let result = db.execute(
        "SELECT (SELECT x FROM signing_keys WHERE kid = ?) AS x,
                claimed_at > fetched_at AS open,
                claimed_at > unixepoch('subsec') - ? AS recent,
                failed
         FROM key_refresh WHERE id = 1",
        &[Value::Text(kid.to_owned()), Value::Real(abandoned_after)],
    )?;
    let row = result.rows().next();
    let flag = |name| row.as_ref().and_then(|row| row.get::<i64>(name)) == Some(1);
    let refresh = match (flag("open"), flag("recent"), flag("failed")) {
        (true, true, _) => KeyRefresh::InFlight,
        (true, false, _) => KeyRefresh::Abandoned,
        (false, _, true) => KeyRefresh::Failed,
        (false, _, false) => KeyRefresh::Fetched,
    };
    Ok((first_text(&result, "x"), refresh))
}

/// Keeps exactly `keys` ((kid, x) pairs): a key the user service no longer lists verifies
/// nothing from now on.
pub fn replace_signing_keys(db: &impl Database, keys: &[(String, String)]) -> Result<(), Error> {
    let json: Vec<serde_json::Value> = keys
        .iter()
        .map(|(kid, x)| serde_json::json!({ "kid": kid, "x": x }))
        .collect();
    let json = Value::Text(serde_json::Value::from(json).to_string());
    db.execute(
        "DELETE FROM signing_keys
         WHERE kid NOT IN (SELECT json_extract(value, '$.kid') FROM json_each(?))",
        std::slice::from_ref(&json),
    )?;
    db.execute(
        "INSERT INTO signing_keys (kid, x)
         SELECT json_extract(value, '$.kid'), json_extract(value, '$.x') FROM json_each(?)
         WHERE true
         ON CONFLICT (kid) DO UPDATE SET x = excluded.x",
        &[json],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_database;
    use super::*;

    #[test]
    fn the_keys_are_fetched_once_per_interval_and_replaced_whole() {
        let (_dir, db) = test_database();
        assert!(claim_key_refresh(&db, 60.0, 60.0).unwrap());
        assert!(!claim_key_refresh(&db, 60.0, 60.0).unwrap());
        let key = |kid: &str| (kid.to_owned(), format!("x-of-{kid}"));
        replace_signing_keys(&db, &[key("a"), key("b")]).unwrap();
        replace_signing_keys(&db, &[key("b"), key("c")]).unwrap();
        assert_eq!(signing_key(&db, "a").unwrap(), None);
        assert_eq!(signing_key(&db, "c").unwrap().as_deref(), Some("x-of-c"));
        let state = |db: &rusqlite::Connection| key_and_refresh(db, "c", 60.0).unwrap();
        assert_eq!(
            state(&db),
            (Some("x-of-c".to_owned()), KeyRefresh::InFlight)
        );
        finish_key_refresh(&db, true, 0.0).unwrap();
        assert_eq!(state(&db).1, KeyRefresh::Failed);
        assert!(claim_key_refresh(&db, 60.0, 60.0).unwrap());
        finish_key_refresh(&db, false, 0.0).unwrap();
        assert_eq!(state(&db).1, KeyRefresh::Fetched);
        assert!(!claim_key_refresh(&db, 60.0, 60.0).unwrap());
    }

    #[test]
    fn a_claim_never_finished_is_abandoned_after_its_time_and_may_be_claimed_again() {
        let (_dir, db) = test_database();
        assert!(claim_key_refresh(&db, 60.0, 60.0).unwrap());
        // Not over, but not abandoned either: only the interval's end frees the claim.
        assert!(!claim_key_refresh(&db, 60.0, 60.0).unwrap());
        // Claimed at least 0 s ago and never finished: abandoned, whatever the interval says.
        assert_eq!(
            key_and_refresh(&db, "a", 0.0).unwrap(),
            (None, KeyRefresh::Abandoned)
        );
        assert!(claim_key_refresh(&db, 60.0, 0.0).unwrap());
        finish_key_refresh(&db, false, 0.0).unwrap();
        // A finished fetch is never abandoned.
        assert_eq!(
            key_and_refresh(&db, "a", 0.0).unwrap().1,
            KeyRefresh::Fetched
        );
        assert!(!claim_key_refresh(&db, 60.0, 0.0).unwrap());
    }
}
