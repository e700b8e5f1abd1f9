//! Host-side bindings for the Spin interfaces, generated from `wit/` (world `spin-host`), which
//! must match the `fermyon:spin@2.0.0` WIT that ships in spin-sdk 5.2 exactly.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "users-and-boards:services/spin-host",
    // A statement is waited for without holding a thread, as in Spin (see `sqlite/host.rs`).
    imports: {
        "fermyon:spin/sqlite.[method]connection.execute": async | trappable,
        default: trappable,
    },
});
