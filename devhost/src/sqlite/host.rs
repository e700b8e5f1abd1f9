//! The guest's side of `fermyon:spin/sqlite@2.0.0`: one request's connections, which the
//! host owns and the guest holds by number (as Spin's factor-sqlite does), and each call on
//! them sent to the label's backend.

use std::collections::HashMap;

use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, Value};

use super::{libsql, Backend, Connection, SqliteGrant};

/// One request's SQLite capability: the component's grant and the connections it opened,
/// which it owns; the guest holds only their numbers (as Spin's factor-sqlite does).
#[derive(Debug)]
pub struct SqliteState {
    grant: SqliteGrant,
    connections: HashMap<u32, Connection>,
    next_rep: u32,
}

impl SqliteState {
    pub fn new(grant: SqliteGrant) -> Self {
        Self {
            grant,
            connections: HashMap::new(),
            next_rep: 0,
        }
    }
}

impl sqlite::Host for SqliteState {}

impl sqlite::HostConnection for SqliteState {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<sqlite::Connection>, Error>> {
        let connection = match self.grant.open(&database) {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let rep = self.next_rep;
        self.next_rep = rep
            .checked_add(1)
            .ok_or_else(|| wasmtime::format_err!("too many sqlite connections"))?;
        self.connections.insert(rep, connection);
        Ok(Ok(Resource::new_own(rep)))
    }

    /// Async, as in Spin: the guest waits for its statement without holding a thread. A
    /// blocking call here (`block_in_place`) handed the worker's place to a new thread, and the
    /// guest went on, its CPU-bound work (a sign-up's Argon2 hash) and all, on a thread beyond
    /// the runtime's: a burst of 100 sign-ups ran on as many threads, and the libSQL server's
    /// health check, starved of CPU, took over 800 ms, so its guard cut every connection.
    async fn execute(
        &mut self,
        connection: Resource<sqlite::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        // Out of the table while it runs, and back after: the guest holds only its number.
        let rep = connection.rep();
        let mut taken = self
            .connections
            .remove(&rep)
            .ok_or_else(|| wasmtime::format_err!("no such sqlite connection"))?;
        let (backend, result) = match taken.backend {
            Backend::Server(server) => {
                let result = libsql::execute(&server, &statement, parameters).await;
                (Backend::Server(server), result)
            }
            // SQLite blocks (up to the busy timeout): on a thread for blocking work.
            Backend::File(file) => {
                let (file, result) = tokio::task::spawn_blocking(move || {
                    let result = file.execute(&statement, parameters);
                    (file, result)
                })
                .await?;
                (Backend::File(file), result)
            }
        };
        taken.backend = backend;
        self.connections.insert(rep, taken);
        Ok(result)
    }

    fn drop(&mut self, connection: Resource<sqlite::Connection>) -> wasmtime::Result<()> {
        let connection = self
            .connections
            .remove(&connection.rep())
            .ok_or_else(|| wasmtime::format_err!("no such sqlite connection"))?;
        self.grant.databases.release(connection);
        Ok(())
    }
}
