//! devhost as a library: the pieces `main.rs` wires together, also used by the tests (the
//! world check compiles components exactly as the host does). One capability per module.

pub mod app;
mod bindings;
mod component_output;
mod key_value;
pub mod loader;
pub mod manifest;
pub mod outbound_http;
mod outbound_pool;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod sqlite;
mod state;
pub mod telemetry;
mod trigger;
pub mod variables;
pub mod watch;
pub mod world;

/// How many component instances may be alive at once. Each request holds one, a chained call
/// a second: this covers several hundred requests in flight.
const MAX_INSTANCES: u32 = 1000;
/// A component's linear memory may grow to this; sign-up's Argon2id alone takes 7 MiB.
const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Per slot, memory kept mapped between instances instead of being returned to the kernel.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// The engine every component runs on: a pooling allocator, so that the per-request
/// instantiation reuses memory slots instead of mapping fresh ones, and, when `cache_dir` is
/// given, wasmtime's on-disk compilation cache, so a restart does not recompile.
pub fn engine(cache_dir: Option<&std::path::Path>) -> anyhow::Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        // The preview1 adapter brings its own core instance, memory and table.
        .total_core_instances(4 * MAX_INSTANCES)
        .total_memories(2 * MAX_INSTANCES)
        .total_tables(4 * MAX_INSTANCES)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Reset the first pages of a slot by hand rather than by `madvise`: cheaper for small
        // requests, and no cross-core TLB flushes on every request.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    if let Some(dir) = cache_dir {
        let mut cache = wasmtime::CacheConfig::new();
        cache.with_directory(dir);
        config.cache(Some(wasmtime::Cache::new(cache)?));
    }
    Ok(wasmtime::Engine::new(&config)?)
}
