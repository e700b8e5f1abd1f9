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

/// Claims the next fetch of the signing keys for `interval_seconds` from now, if one is due.
/// One statement: of many concurrent instances, exactly one gets the claim.
pub fn claim_key_refresh(db: &impl Database, interval_seconds: f64) -> Result<bool, Error> {
    let result = db.execute(
        "UPDATE key_refresh
         SET next_fetch_at = unixepoch('subsec') + ?, claimed_at = unixepoch('subsec')
         WHERE id = 1 AND next_fetch_at <= unixepoch('subsec')
         RETURNING id",
        &[Value::Real(interval_seconds)],
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

/// Where the fetches of the keys stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRefresh {
    /// Another instance claimed a fetch, less than `in_flight_for` seconds ago, that is not over.
    pub in_flight: bool,
    /// The last fetch failed.
    pub failed: bool,
}

pub fn key_refresh(db: &impl Database, in_flight_for: f64) -> Result<KeyRefresh, Error> {
    let result = db.execute(
        "SELECT claimed_at > fetched_at AND claimed_at > unixepoch('subsec') - ? AS in_flight,
                failed
         FROM key_refresh WHERE id = 1",
        &[Value::Real(in_flight_for)],
    )?;
    let state = result.rows().next().map(|row| KeyRefresh {
        in_flight: row.get::<i64>("in_flight") == Some(1),
        failed: row.get::<i64>("failed") == Some(1),
    });
    Ok(state.unwrap_or_default())
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
        assert!(claim_key_refresh(&db, 60.0).unwrap());
        assert!(!claim_key_refresh(&db, 60.0).unwrap());
        let key = |kid: &str| (kid.to_owned(), format!("x-of-{kid}"));
        replace_signing_keys(&db, &[key("a"), key("b")]).unwrap();
        replace_signing_keys(&db, &[key("b"), key("c")]).unwrap();
        assert_eq!(signing_key(&db, "a").unwrap(), None);
        assert_eq!(signing_key(&db, "c").unwrap().as_deref(), Some("x-of-c"));
        let state = |db: &rusqlite::Connection| key_refresh(db, 60.0).unwrap();
        let refresh = |in_flight, failed| KeyRefresh { in_flight, failed };
        assert_eq!(state(&db), refresh(true, false));
        finish_key_refresh(&db, true, 0.0).unwrap();
        assert_eq!(state(&db), refresh(false, true));
        assert!(claim_key_refresh(&db, 60.0).unwrap());
        finish_key_refresh(&db, false, 0.0).unwrap();
        assert_eq!(state(&db), refresh(false, false));
        assert!(!claim_key_refresh(&db, 60.0).unwrap());
    }
}
