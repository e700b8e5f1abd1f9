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

    fn connection(&self, resource: &Resource<sqlite::Connection>) -> wasmtime::Result<&Connection> {
        self.connections
            .get(&resource.rep())
            .ok_or_else(|| wasmtime::format_err!("no such sqlite connection"))
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

    fn execute(
        &mut self,
        connection: Resource<sqlite::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(match &self.connection(&connection)?.backend {
            // SQLite blocks (up to the busy timeout); let tokio move other tasks off this thread.
            Backend::File(file) => {
                tokio::task::block_in_place(|| file.execute(&statement, parameters))
            }
            Backend::Server(server) => libsql::execute(server, &statement, parameters),
        })
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
