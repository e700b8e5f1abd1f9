//! The rusqlite side of [`Database`], for the services' host-target tests: the same SQL on a
//! real SQLite file.

use super::{Database, Error, QueryResult, Value};
use spin_sdk::sqlite::RowResult;

/// Mirrors how Spin's in-process SQLite runs a statement, so the tests see the same results.
impl Database for rusqlite::Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, Error> {
        let io = |error: rusqlite::Error| Error::Io(error.to_string());
        let mut statement = self.prepare_cached(sql).map_err(io)?;
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let params = rusqlite::params_from_iter(params.iter().map(to_sql));
        let rows = statement
            .query_map(params, |row| {
                (0..columns.len())
                    .map(|index| row.get_ref(index).map(from_sql))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|values| RowResult { values })
            })
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        Ok(QueryResult { columns, rows })
    }
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Integer(i) => Sql::Integer(*i),
        Value::Real(r) => Sql::Real(*r),
        Value::Text(t) => Sql::Text(t.clone()),
        Value::Blob(b) => Sql::Blob(b.clone()),
        Value::Null => Sql::Null,
    }
}

fn from_sql(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}
