//! `fermyon:spin/key-value@2.0.0` as Spin's `spin` store type has it (crates/key-value-spin,
//! crates/factor-key-value): each label is one SQLite connection for the whole process, opened at
//! the label's first `open` and shared by every request, holding the table `spin_key_value`; a
//! label with no `path` is in memory, so it starts empty with each process. A component opens only
//! the labels its `key_value_stores` lists (`access-denied` otherwise); a listed label that no
//! runtime config defines stops the app at start-up. `default` is always defined.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{Connection, OptionalExtension};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::runtime_config::{KeyValueStore, RuntimeConfig};

/// The implicit label, in the app's state folder as in `spin up`.
const DEFAULT_LABEL: &str = "default";

/// One label: where it lives and, once a request opened it, its connection.
#[derive(Debug)]
struct Label {
    path: Option<PathBuf>,
    connection: OnceLock<Arc<Mutex<Connection>>>,
}

impl Label {
    fn new(path: Option<PathBuf>) -> Self {
        Self {
            path,
            connection: OnceLock::new(),
        }
    }

    /// Spin's `create_connection`: a failure is the caller's `other` error, and the next `open`
    /// tries again.
    fn connection(&self) -> Result<Arc<Mutex<Connection>>, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connection = match &self.path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(other)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                    PRIMARY KEY (store, key))",
                [],
            )
            .map_err(other)?;
        let connection = Arc::new(Mutex::new(connection));
        Ok(self.connection.get_or_init(|| connection).clone())
    }
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

/// Every key-value label the app can use.
#[derive(Debug, Default)]
pub struct KeyValueStores {
    labels: BTreeMap<String, Label>,
}

impl KeyValueStores {
    /// `[key_value_store.<label>]`: a relative `path` is resolved against the runtime config's
    /// folder (unlike a SQLite label's, which Spin resolves against the working directory).
    pub fn resolve(config: &RuntimeConfig, config_dir: &Path, manifest_dir: &Path) -> Self {
        let mut labels = BTreeMap::from([(
            DEFAULT_LABEL.to_owned(),
            Label::new(Some(manifest_dir.join(".spin/sqlite_key_value.db"))),
        )]);
        for (label, store) in &config.key_value_store {
            let KeyValueStore::Spin { path } = store;
            let path = path.as_ref().map(|path| config_dir.join(path));
            labels.insert(label.clone(), Label::new(path));
        }
        Self { labels }
    }

    /// One start-up problem per label a component lists and nobody defined.
    pub fn undefined_labels(&self, component: &str, labels: &[String]) -> Vec<String> {
        labels
            .iter()
            .filter(|label| !self.labels.contains_key(*label))
            .map(|label| {
                format!(
                    "component `{component}` uses key-value store `{label}`, which the runtime \
                     config does not define"
                )
            })
            .collect()
    }

    /// Creates the folder of every file a component can open, as Spin does at start-up.
    pub fn prepare_files(&self, labels: &[String]) -> anyhow::Result<()> {
        for label in labels {
            let folder = self
                .labels
                .get(label)
                .and_then(|l| l.path.as_deref()?.parent());
            if let Some(folder) = folder {
                std::fs::create_dir_all(folder)?;
            }
        }
        Ok(())
    }
}

/// What one component may open.
#[derive(Debug, Clone)]
pub struct KeyValueGrant {
    stores: Arc<KeyValueStores>,
    labels: Arc<BTreeSet<String>>,
}

impl KeyValueGrant {
    pub fn new(stores: Arc<KeyValueStores>, labels: &[String]) -> Self {
        Self {
            stores,
            labels: Arc::new(labels.iter().cloned().collect()),
        }
    }
}

/// One request's opened stores, which the guest holds by number.
#[derive(Debug)]
pub struct KeyValueState {
    grant: KeyValueGrant,
    open: HashMap<u32, OpenStore>,
    next_rep: u32,
}

#[derive(Debug)]
struct OpenStore {
    label: String,
    connection: Arc<Mutex<Connection>>,
}

impl KeyValueState {
    pub fn new(grant: KeyValueGrant) -> Self {
        Self {
            grant,
            open: HashMap::new(),
            next_rep: 0,
        }
    }

    /// Runs `query` on the store's connection. Each call is a statement or two on a kept
    /// connection, microseconds long, so it runs in place, as Spin's `block_in_place` does.
    fn with<T>(
        &self,
        store: &Resource<key_value::Store>,
        query: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>,
    ) -> wasmtime::Result<Result<T, Error>> {
        let store = self
            .open
            .get(&store.rep())
            .ok_or_else(|| wasmtime::format_err!("no such key-value store"))?;
        let connection = store.connection.lock().expect("never poisoned");
        Ok(query(&connection, &store.label).map_err(other))
    }
}

impl key_value::Host for KeyValueState {}

impl key_value::HostStore for KeyValueState {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<key_value::Store>, Error>> {
        if !self.grant.labels.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(defined) = self.grant.stores.labels.get(&label) else {
            return Ok(Err(Error::NoSuchStore));
        };
        let connection = match defined.connection() {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let rep = self.next_rep;
        self.next_rep = rep
            .checked_add(1)
            .ok_or_else(|| wasmtime::format_err!("too many key-value stores"))?;
        self.open.insert(rep, OpenStore { label, connection });
        Ok(Ok(Resource::new_own(rep)))
    }

    fn get(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.with(&store, |connection, label| {
            connection
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row([label, &key], |row| row.get(0))
                .optional()
        })
    }

    fn set(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.with(&store, |connection, label| {
            connection
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = ?3",
                )?
                .execute(rusqlite::params![label, key, value])
                .map(drop)
        })
    }

    fn delete(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.with(&store, |connection, label| {
            connection
                .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute([label, &key])
                .map(drop)
        })
    }

    fn exists(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.get(store, key)?.map(|value| value.is_some()))
    }

    fn get_keys(
        &mut self,
        store: Resource<key_value::Store>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.with(&store, |connection, label| {
            connection
                .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map([label], |row| row.get(0))?
                .collect()
        })
    }

    fn drop(&mut self, store: Resource<key_value::Store>) -> wasmtime::Result<()> {
        self.open.remove(&store.rep());
        Ok(())
    }
}
