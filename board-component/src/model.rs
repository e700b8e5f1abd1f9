//! Board's read model (`service_kit::read_model`): each post as stored, since posts never
//! change, and each author's public view as board's replica knows it, in the process's
//! `boards_model` key-value store. A read of a post the model holds, author and all, opens no
//! database. Names that change reach it through the replica's `authors.seq`, which a trigger
//! moves on every change of a name, whoever wrote it.

use service_kit::db::{Database, Error};
use service_kit::read_model::{self, Changes, ReadModel};
use service_kit::respond;

use crate::domain::{PostId, UserId};
use crate::store::authors;
use crate::store::posts::Post;
use crate::store::MIGRATIONS;
use crate::views::{AuthorView, PostView};

/// The label this component is granted in `spin.toml` for its read model.
const LABEL: &str = "boards_model";

pub fn open() -> Option<ReadModel> {
    ReadModel::open(LABEL, MIGRATIONS.len())
}

fn post_key(id: PostId) -> String {
    format!("post/{}", id.get())
}

fn author_key(id: i64) -> String {
    format!("author/{id}")
}

/// The authors whose names changed after `after`, as the model's keys; and, since a read the
/// model answers sends none of the statements that say so, whether the replica's feed is due.
pub fn changes(db: &impl Database, after: i64) -> Result<Changes, Error> {
    authors::check_feed_schedule(db)?;
    read_model::changes(
        db,
        after,
        "SELECT coalesce(max(seq), 0) FROM authors",
        "SELECT 'author/' || id AS key FROM authors WHERE seq > ?1",
    )
}

/// `GET /boards/{id}`'s body, if the model holds the post and its author.
pub fn read_post(model: &ReadModel, id: PostId) -> Option<Vec<u8>> {
    let kept = model.get(&post_key(id))?;
    // A post is kept as its author's id, a space, and the post as written.
    let space = kept.iter().position(|byte| *byte == b' ')?;
    let author_id: i64 = std::str::from_utf8(&kept[..space]).ok()?.parse().ok()?;
    let author = model.get(&author_key(author_id))?;
    Some(with_author(&kept[space + 1..], &author))
}

/// `{...post, "author": {...}}`: a `PostWithAuthor` from its two halves, as serde writes it.
fn with_author(post: &[u8], author: &[u8]) -> Vec<u8> {
    let mut body = post[..post.len() - 1].to_vec();
    body.extend_from_slice(b",\"author\":");
    body.extend_from_slice(author);
    body.push(b'}');
    body
}

/// Keeps a post read or written here, and its author's name when board knows it.
pub fn keep(model: &ReadModel, post: &Post) {
    let mut kept = format!("{} ", post.user_id.get()).into_bytes();
    kept.extend_from_slice(&respond::to_json(&PostView::from(post)));
    model.fill(&post_key(post.id), &kept);
    if let Some(name) = &post.author_name {
        let author = AuthorView::new(post.user_id, name);
        model.fill(&author_key(post.user_id.get()), &respond::to_json(&author));
    }
}

/// Drops what this process's model holds of `authors`, whose names this process's pull of the
/// feed just changed: the next read here shows the new names without waiting for a catch-up.
pub fn forget_authors(authors: impl Iterator<Item = UserId>) {
    if let Some(model) = open() {
        for id in authors {
            model.drop_entry(&author_key(id.get()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::PostWithAuthor;

    #[test]
    fn a_post_read_from_the_model_is_what_serde_writes() {
        let post = Post {
            id: PostId::new(3).unwrap(),
            user_id: UserId::new(7).unwrap(),
            title: "T \"quoted\"".into(),
            content: "C".into(),
            created_at: "2026-12-03T00:00:00Z".into(),
            summary: None,
            author_name: Some("Ann".into()),
        };
        let whole = respond::to_json(&PostWithAuthor::new(&post));
        let halves = with_author(
            &respond::to_json(&PostView::from(&post)),
            &respond::to_json(&AuthorView::new(post.user_id, "Ann")),
        );
        assert_eq!(
            String::from_utf8(halves).unwrap(),
            String::from_utf8(whole).unwrap()
        );
    }
}
