//! `--watch`: when a component's `.wasm` changes on disk it is compiled, tried, and swapped in
//! place; the other components are not touched, and requests in flight finish on the build they
//! started on. Spin has no equivalent inside one process (`spin watch` restarts the whole app),
//! which is why split mode's blue-green swap (`scripts/swap`) replaces processes instead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::app::App;

/// How often the sources are looked at. Cheap: one `stat` per component.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What identifies one build of a file: rewriting it changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: metadata.modified().ok()?,
        len: metadata.len(),
    })
}

/// Watches every component's source until the process ends.
pub async fn watch(app: Arc<App>) {
    let mut seen: HashMap<String, Option<Stamp>> = app
        .component_ids()
        .filter_map(|id| Some((id.to_owned(), stamp(&app.component(id)?.source))))
        .collect();
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        for (id, last) in seen.iter_mut() {
            let Some(component) = app.component(id) else {
                continue;
            };
            let now = stamp(&component.source);
            if now.is_none() || now == *last {
                continue;
            }
            *last = now;
            match app.reload(id).await {
                Ok(()) => tracing::info!(
                    "{id}: swapped in the new build of {}",
                    component.source.display()
                ),
                Err(error) => tracing::warn!(
                    "{id}: refused the new build ({error:#}); still serving the previous one"
                ),
            }
        }
    }
}
