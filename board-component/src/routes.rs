//! The HTTP edge of the board service: which handler serves which method and path, and how
//! each outcome becomes a response. Rules live in `domain`, SQL in `store`, calls to the user
//! service in `users`.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
use service_kit::body::{json_object, Fields};
use service_kit::resource::{resource, Resource};
use service_kit::{db, query, respond, Problem};
use spin_sdk::http::{Method, Request, Response};

use crate::domain::{Content, Cursor, Id, Limit, Title};
use crate::store::{self, Post};
use crate::users::{self, Author, Unavailable};

/// Seconds a client should wait before retrying a write the user service could not confirm.
const RETRY_AFTER_SECONDS: &str = "2";

pub fn handle(request: &Request) -> Response {
    route(request).unwrap_or_else(|error| Problem::from(error).into())
}

/// Everything that can go wrong in a board route, mapped to a response in one place.
enum BoardError {
    Request(Problem),
    UnknownAuthor(Id),
    UserServiceDown(Unavailable),
    NotFound(Id),
    Database(db::Error),
}

impl From<Problem> for BoardError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<db::Error> for BoardError {
    fn from(error: db::Error) -> Self {
        Self::Database(error)
    }
}

impl From<BoardError> for Problem {
    fn from(error: BoardError) -> Self {
        match error {
            BoardError::Request(problem) => problem,
            BoardError::UnknownAuthor(id) => {
                let mut errors = service_kit::problem::FieldErrors::new();
                errors.insert(
                    "userId".to_owned(),
                    vec![format!("no user {} is known to the user service", id.get())],
                );
                Problem::validation(errors)
            }
            BoardError::UserServiceDown(Unavailable(reason)) => {
                eprintln!("user service unavailable: {reason}");
                Problem::unavailable(
                    "The user service cannot confirm the author right now; nothing was written.",
                )
                .with_header("retry-after", RETRY_AFTER_SECONDS)
            }
            BoardError::NotFound(id) => {
                Problem::not_found(format!("There is no post {}.", id.get()))
            }
            BoardError::Database(error) => db::unavailable(&error),
        }
    }
}

fn route(request: &Request) -> Result<Response, BoardError> {
    match (resource(request.path(), "/boards"), request.method()) {
        (Resource::Collection, Method::Get) => list(request),
        (Resource::Collection, Method::Post) => write(request),
        (Resource::Collection, _) => Err(Problem::method_not_allowed(&["GET", "POST"]).into()),
        (Resource::Health, Method::Get) => health(),
        (Resource::Item(id), Method::Get) => read(id),
        (Resource::Health | Resource::Item(_), _) => {
            Err(Problem::method_not_allowed(&["GET"]).into())
        }
        (Resource::Unknown, _) => Err(Problem::not_found("No such resource.").into()),
    }
}

/// A post as written, without its author: the answer to `POST /boards`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostView<'a> {
    id: i64,
    user_id: i64,
    title: &'a str,
    content: &'a str,
    created_at: &'a str,
}

impl<'a> From<&'a Post> for PostView<'a> {
    fn from(post: &'a Post) -> Self {
        Self {
            id: post.id,
            user_id: post.user_id,
            title: &post.title,
            content: &post.content,
            created_at: &post.created_at,
        }
    }
}

/// A post as read: `author` is `null` when the user service cannot say who wrote it.
#[derive(Serialize)]
struct PostWithAuthor<'a> {
    #[serde(flatten)]
    post: PostView<'a>,
    author: Option<&'a Author>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostPage<'a> {
    boards: Vec<PostWithAuthor<'a>>,
    next_cursor: Option<String>,
}

struct NewPost {
    author: Id,
    title: Title,
    content: Content,
}

fn parse_new_post(object: Map<String, Value>) -> Result<NewPost, Problem> {
    let mut fields = Fields::new(object, &["userId", "title", "content"]);
    let author = fields.integer("userId", Id::new);
    let title = fields.string("title", Title::parse);
    let content = fields.string("content", Content::parse);
    let (Some(author), Some(title), Some(content)) = (author, title, content) else {
        return Err(fields.into_problem());
    };
    fields.finish()?;
    Ok(NewPost {
        author,
        title,
        content,
    })
}

/// Checks the author with the user service before writing, so a post never names a user that
/// does not exist; if the user service cannot answer, nothing is written.
fn write(request: &Request) -> Result<Response, BoardError> {
    let new_post = parse_new_post(json_object(request)?)?;
    users::find(new_post.author)
        .map_err(BoardError::UserServiceDown)?
        .ok_or(BoardError::UnknownAuthor(new_post.author))?;
    let db = store::connect()?;
    let post = store::insert_post(&db, new_post.author, &new_post.title, &new_post.content)?;
    Ok(respond::created(
        &format!("/boards/{}", post.id),
        &PostView::from(&post),
    ))
}

fn read(raw_id: &str) -> Result<Response, BoardError> {
    let id = Id::parse(raw_id)
        .map_err(|invalid| Problem::bad_request(format!("The post id {invalid}.")))?;
    let db = store::connect()?;
    let post = store::find_post(&db, id)?.ok_or(BoardError::NotFound(id))?;
    let author = Id::new(post.user_id)
        .ok()
        .and_then(|author| log_unavailable(users::find(author)).flatten());
    let view = PostWithAuthor {
        post: PostView::from(&post),
        author: author.as_ref(),
    };
    Ok(respond::json(200, &view))
}

fn list(request: &Request) -> Result<Response, BoardError> {
    let author = parse_param(request, "userId", Id::parse)?;
    let limit = parse_param(request, "limit", Limit::parse)?.unwrap_or(Limit::DEFAULT);
    let cursor = parse_param(request, "cursor", Cursor::parse)?;
    let db = store::connect()?;
    let page = store::list_posts(&db, author, cursor, limit)?;
    let authors = authors_of(&page.posts);
    let boards = page
        .posts
        .iter()
        .map(|post| PostWithAuthor {
            post: PostView::from(post),
            author: authors.get(&post.user_id),
        })
        .collect();
    let page = PostPage {
        boards,
        next_cursor: page.next.map(Cursor::encode),
    };
    Ok(respond::json(200, &page))
}

/// The authors of a page, fetched in one call; empty when the user service cannot answer, so
/// every author on the page reads as `null` and the page itself still loads.
fn authors_of(posts: &[Post]) -> HashMap<i64, Author> {
    let mut ids: Vec<Id> = posts
        .iter()
        .filter_map(|post| Id::new(post.user_id).ok())
        .collect();
    ids.sort();
    ids.dedup();
    log_unavailable(users::find_many(&ids)).unwrap_or_default()
}

fn log_unavailable<T>(result: Result<T, Unavailable>) -> Option<T> {
    result
        .map_err(|Unavailable(reason)| eprintln!("user service unavailable: {reason}"))
        .ok()
}

/// An optional query parameter; a present but invalid one is the client's mistake (`400`).
fn parse_param<T>(
    request: &Request,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, service_kit::body::Invalid>,
) -> Result<Option<T>, Problem> {
    query::param(request, name)
        .map(|raw| {
            parse(&raw).map_err(|invalid| Problem::bad_request(format!("`{name}` {invalid}.")))
        })
        .transpose()
}

fn health() -> Result<Response, BoardError> {
    let db = store::connect()?;
    store::ping(&db)?;
    Ok(respond::healthy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_author_the_user_service_does_not_know_is_a_422_on_user_id() {
        let problem = Problem::from(BoardError::UnknownAuthor(Id::new(9).unwrap()));
        assert_eq!(problem.status, 422);
        assert!(problem.errors.unwrap().contains_key("userId"));
    }

    #[test]
    fn an_unreachable_user_service_is_a_503_with_retry_after() {
        let problem = Problem::from(BoardError::UserServiceDown(Unavailable("refused".into())));
        assert_eq!(problem.status, 503);
        let retry = problem
            .headers
            .iter()
            .find(|(name, _)| *name == "retry-after");
        assert_eq!(
            retry.map(|(_, value)| value.as_str()),
            Some(RETRY_AFTER_SECONDS)
        );
    }

    #[test]
    fn a_missing_post_is_a_404() {
        assert_eq!(
            Problem::from(BoardError::NotFound(Id::new(3).unwrap())).status,
            404
        );
    }

    fn new_post(json: &str) -> Result<NewPost, Problem> {
        parse_new_post(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_valid_post_body_parses_into_validated_fields() {
        let post = new_post(r#"{"userId":4,"title":" Hi ","content":"x"}"#)
            .ok()
            .unwrap();
        assert_eq!((post.author.get(), post.title.as_str()), (4, "Hi"));
    }

    #[test]
    fn a_user_id_that_is_not_a_positive_integer_is_a_422() {
        for user_id in ["0", "-2", "\"4\"", "4.5", "null"] {
            let body = format!(r#"{{"userId":{user_id},"title":"t","content":"c"}}"#);
            let problem = new_post(&body).err().unwrap();
            assert_eq!(problem.status, 422, "{user_id}");
            assert!(problem.errors.unwrap().contains_key("userId"), "{user_id}");
        }
    }
}
