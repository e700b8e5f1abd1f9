//! Split mode in tests: each service in its own host process, board pointed at user by
//! `SPIN_VARIABLE_USER_SERVICE_URL`, both in one working directory (each opens only its file).

use std::net::SocketAddr;

use crate::host::{AppSpec, RunningApp};

pub struct SplitApp {
    pub user: RunningApp,
    pub board: RunningApp,
    /// The shared working directory, where both database files live.
    pub dir: tempfile::TempDir,
}

impl SplitApp {
    pub fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("a temporary directory"))
    }

    /// Both services in `dir`, e.g. one that already holds a database file.
    pub fn start_in(dir: tempfile::TempDir) -> Self {
        let user = RunningApp::start(AppSpec {
            component_ids: vec!["user-component".to_owned()],
            dir: Some(dir.path().to_path_buf()),
            ..AppSpec::default()
        });
        let board = Self::start_board(dir.path(), user.addr);
        Self { user, board, dir }
    }

    /// A board process that finds the user service at `user_addr`.
    pub fn start_board(dir: &std::path::Path, user_addr: SocketAddr) -> RunningApp {
        RunningApp::start(AppSpec {
            component_ids: vec!["board-component".to_owned()],
            dir: Some(dir.to_path_buf()),
            env: vec![(
                "SPIN_VARIABLE_USER_SERVICE_URL".to_owned(),
                format!("http://{user_addr}"),
            )],
            ..AppSpec::default()
        })
    }
}
