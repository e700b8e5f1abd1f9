//! What one request's `Store` holds: WASI, wasi-http, and the Spin capabilities granted to the
//! component that serves it. A fresh state per request, as in Spin: nothing leaks between
//! requests but the files on disk.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::{WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::outbound_http::Outbound;
use crate::sqlite::SqliteGrant;
use crate::variables::ComponentVariables;

pub struct RequestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub sqlite: SqliteGrant,
    pub variables: ComponentVariables,
    pub outbound: Outbound,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
