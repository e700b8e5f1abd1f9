//! The user service's read model (`service_kit::read_model`): each user's public view, as
//! `GET /users/{id}` answers it, in the process's `users_model` key-value store. Sign-ups and
//! renames made by other processes reach it through `user_changes`.

use service_kit::db::{Database, Error};
use service_kit::read_model::{self, Changes, ReadModel};

use crate::domain::UserId;
use crate::store;

/// The label this component is granted in `spin.toml` for its read model.
const LABEL: &str = "users_model";

pub fn open() -> Option<ReadModel> {
    ReadModel::open(LABEL, store::MIGRATIONS.len())
}

pub fn key(id: UserId) -> String {
    format!("user/{}", id.get())
}

/// The users changed after `after` in the feed, as the model's keys.
pub fn changes(db: &impl Database, after: i64) -> Result<Changes, Error> {
    read_model::changes(
        db,
        after,
        "SELECT coalesce(max(seq), 0) FROM user_changes",
        "SELECT DISTINCT 'user/' || user_id AS key FROM user_changes WHERE seq > ?1",
    )
}
