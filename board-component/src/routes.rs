//! The HTTP edge of the board service: which handler serves which method and path, and how
//! each outcome becomes a response. Rules live in `domain`, SQL in `store`, calls to the user
//! service in `users`, the author replica's feed in `replica`. Reads are served from board's
//! own database alone.

use serde::Serialize;
use serde_json::{Map, Value};
use service_kit::body::{json_object, Fields};
use service_kit::resource::{resource, Resource};
use service_kit::{db, query, respond, Problem};
use spin_sdk::http::{Method, Request, Response};

use crate::domain::{Content, Cursor, Id, Limit, Title};
use crate::store::{self, AuthorName, Post, Read};
use crate::users::{self, Author, Unavailable};

/// Seconds a client should wait before retrying a write the user service could not confirm.
const RETRY_AFTER_SECONDS: &str = "2";

/// A response, and whether the author replica's feed is due for a pull once it is sent.
pub struct Handled {
    pub response: Response,
    pub feed_due: bool,
}

pub fn handle(request: &Request) -> Handled {
    match route(request) {
        Ok(handled) => handled,
        Err(error) => Handled {
            response: Problem::from(error).into(),
            feed_due: false,
        },
    }
}

impl From<Response> for Handled {
    fn from(response: Response) -> Self {
        Self {
            response,
            feed_due: false,
        }
    }
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

fn route(request: &Request) -> Result<Handled, BoardError> {
    match (resource(request.path(), "/boards"), request.method()) {
        (Resource::Collection, Method::Get) => list(request),
        (Resource::Collection, Method::Post) => write(request).map(Handled::from),
        (Resource::Collection, _) => Err(Problem::method_not_allowed(&["GET", "POST"]).into()),
        (Resource::Health, Method::Get) => health().map(Handled::from),
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

/// A post as read: `author` is `null` only when board has not met the author and the user
/// service cannot say who it is.
#[derive(Serialize)]
struct PostWithAuthor<'a> {
    #[serde(flatten)]
    post: PostView<'a>,
    author: Option<AuthorView<'a>>,
}

#[derive(Serialize)]
struct AuthorView<'a> {
    id: i64,
    name: &'a str,
}

impl<'a> PostWithAuthor<'a> {
    fn new(post: &'a Post) -> Self {
        Self {
            post: PostView::from(post),
            author: post.author_name.as_deref().map(|name| AuthorView {
                id: post.user_id,
                name,
            }),
        }
    }
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
/// does not exist; if the user service cannot answer, nothing is written. The check's answer
/// is the author's public view: the replica keeps it.
fn write(request: &Request) -> Result<Response, BoardError> {
    let new_post = parse_new_post(json_object(request)?)?;
    let author = users::find(new_post.author)
        .map_err(BoardError::UserServiceDown)?
        .ok_or(BoardError::UnknownAuthor(new_post.author))?;
    let db = store::connect()?;
    // A read first: most posts are by authors whose name board already holds, and a write
    // only to compare would queue for the write lock with every other post.
    if store::known_author_name(&db, new_post.author)?.as_deref() != Some(author.name.as_str()) {
        store::store_authors(&db, &[author_name(&author)])?;
    }
    let post = store::insert_post(&db, new_post.author, &new_post.title, &new_post.content)?;
    Ok(respond::created(
        &format!("/boards/{}", post.id),
        &PostView::from(&post),
    ))
}

fn read(raw_id: &str) -> Result<Handled, BoardError> {
    let id = Id::parse(raw_id)
        .map_err(|invalid| Problem::bad_request(format!("The post id {invalid}.")))?;
    let db = store::connect()?;
    let Read { found, feed_due } = store::find_post(&db, id)?;
    let mut post = found.ok_or(BoardError::NotFound(id))?;
    repair_authors(&db, std::slice::from_mut(&mut post));
    Ok(Handled {
        response: respond::json(200, &PostWithAuthor::new(&post)),
        feed_due,
    })
}

fn list(request: &Request) -> Result<Handled, BoardError> {
    let author = query::parsed(request, "userId", Id::parse)?;
    let limit = query::parsed(request, "limit", Limit::parse)?.unwrap_or(Limit::DEFAULT);
    let cursor = query::parsed(request, "cursor", Cursor::parse)?;
    let db = store::connect()?;
    let Read {
        found: mut page,
        feed_due,
    } = store::list_posts(&db, author, cursor, limit)?;
    repair_authors(&db, &mut page.posts);
    let page = PostPage {
        boards: page.posts.iter().map(PostWithAuthor::new).collect(),
        next_cursor: page.next.map(Cursor::encode),
    };
    Ok(Handled {
        response: respond::json(200, &page),
        feed_due,
    })
}

/// Read-repair: authors the replica has not met yet (posts from before it existed) are looked
/// up in one call and kept. When the user service cannot answer they stay `null`, and the page
/// itself still loads.
fn repair_authors(db: &impl db::Database, posts: &mut [Post]) {
    let mut missing: Vec<Id> = posts
        .iter()
        .filter(|post| post.author_name.is_none())
        .filter_map(|post| Id::new(post.user_id).ok())
        .collect();
    if missing.is_empty() {
        return;
    }
    missing.sort();
    missing.dedup();
    let Some(found) = log_unavailable(users::find_many(&missing)) else {
        return;
    };
    let names: Vec<AuthorName> = found.values().map(author_name).collect();
    if let Err(error) = store::store_authors(db, &names) {
        eprintln!("storing authors failed: {error:?}");
    }
    for post in posts.iter_mut().filter(|post| post.author_name.is_none()) {
        post.author_name = found.get(&post.user_id).map(|author| author.name.clone());
    }
}

fn author_name(author: &Author) -> AuthorName<'_> {
    AuthorName {
        id: author.id,
        name: &author.name,
    }
}

fn log_unavailable<T>(result: Result<T, Unavailable>) -> Option<T> {
    result
        .map_err(|Unavailable(reason)| eprintln!("user service unavailable: {reason}"))
        .ok()
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
