//! What the board service's responses look like on the wire. The list's key is `boards` and a
//! post's author id is `userId`: the API's names, kept for its clients.

use serde::Serialize;

use crate::domain::UserId;
use crate::store::posts::Post;

/// A post as written, without its author: the answer to `POST /boards`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostView<'a> {
    id: i64,
    user_id: i64,
    title: &'a str,
    content: &'a str,
    created_at: &'a str,
    /// The next version's; left out where there is none, as the release leaves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
}

impl<'a> From<&'a Post> for PostView<'a> {
    fn from(post: &'a Post) -> Self {
        Self {
            id: post.id.get(),
            user_id: post.user_id.get(),
            title: &post.title,
            content: &post.content,
            created_at: &post.created_at,
            summary: post.summary.as_deref(),
        }
    }
}

/// A post as read: `author` is `null` only when board has not met the author and the user
/// service cannot say who it is.
#[derive(Serialize)]
pub struct PostWithAuthor<'a> {
    #[serde(flatten)]
    post: PostView<'a>,
    author: Option<AuthorView<'a>>,
}

/// An author as a post shows it.
#[derive(Serialize)]
pub struct AuthorView<'a> {
    id: i64,
    name: &'a str,
}

impl<'a> AuthorView<'a> {
    pub fn new(id: UserId, name: &'a str) -> Self {
        Self { id: id.get(), name }
    }
}

impl<'a> PostWithAuthor<'a> {
    pub fn new(post: &'a Post) -> Self {
        Self {
            post: PostView::from(post),
            author: post
                .author_name
                .as_deref()
                .map(|name| AuthorView::new(post.user_id, name)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostPage<'a> {
    pub boards: Vec<PostWithAuthor<'a>>,
    pub next_cursor: Option<String>,
}
