//! One function per endpoint: read what the request says, apply the domain's rules, ask the
//! store, answer with a view. Writes are checked with the sign-in token alone (`auth`); reads
//! are served from board's own database.

use service_kit::body::json_object;
use service_kit::{db, query, respond, Problem};
use spin_sdk::http::{Request, Response};

use crate::domain::{Cursor, Limit, NewPost, PostId, UserId};
use crate::error::{report, BoardError};
use crate::store;
use crate::store::authors::{self, AuthorName};
use crate::store::posts::{self, Post};
use crate::users::{self, Author};
use crate::views::{PostPage, PostView, PostWithAuthor};
use crate::{auth, model};

/// `POST /boards`, by the signed-in user only: the user service's signature on the token is
/// proof enough that the author exists, so the write calls nobody. A name board has not met
/// yet comes from the token. The body is checked first: what is wrong with it does not depend
/// on who sends it, and a malformed request costs no key look-up.
pub fn write_post(request: &Request) -> Result<Response, BoardError> {
    let new_post = NewPost::parse(json_object(request)?)?;
    let db = store::SCHEMA.open_for_writes()?;
    let signed_in = auth::authenticate(request, &db)?;
    if new_post.user_id.get() != signed_in.user_id {
        return Err(BoardError::NotTheAuthor(new_post.user_id));
    }
    // A read first: most posts are by authors board already holds, and a write only to find
    // that out would queue for the write lock with every other post.
    if authors::known_author_name(&db, new_post.user_id)?.is_none() {
        let author = AuthorName {
            id: new_post.user_id,
            name: &signed_in.name,
        };
        authors::introduce_author(&db, &author)?;
    }
    let post = posts::insert(
        &db,
        new_post.user_id,
        &new_post.title,
        &new_post.content,
        new_post.summary.as_ref(),
    )?;
    if let Some(model) = model::open() {
        model::keep(&model, &post);
    }
    Ok(respond::created(
        &format!("/boards/{}", post.id.get()),
        &PostView::from(&post),
    ))
}

/// `GET /boards/{id}`: from the read model when it holds the post and its author, else from
/// the database.
pub fn read_post(raw_id: &str) -> Result<Response, BoardError> {
    let id = PostId::parse(raw_id)
        .map_err(|invalid| Problem::bad_request(format!("The post id {invalid}.")))?;
    let mut model = model::open();
    if let Some(body) = model.as_ref().and_then(|model| model::read_post(model, id)) {
        return Ok(respond::json_body(200, body));
    }
    let db = store::SCHEMA.open()?;
    if let Some(model) = &mut model {
        model.catch_up_if_due(|after| model::changes(&db, after))?;
    }
    let mut post = posts::find(&db, id)?.ok_or(BoardError::NotFound(id))?;
    repair_authors(&db, std::slice::from_mut(&mut post));
    if let Some(model) = &model {
        model::keep(model, &post);
    }
    Ok(respond::json(200, &PostWithAuthor::new(&post)))
}

/// `GET /boards?userId=&limit=&cursor=`.
pub fn list_posts(request: &Request) -> Result<Response, BoardError> {
    let user_id = query::parsed(request, "userId", UserId::parse)?;
    let limit = query::parsed(request, "limit", Limit::parse)?.unwrap_or(Limit::DEFAULT);
    let cursor = query::parsed(request, "cursor", Cursor::parse)?;
    let db = store::SCHEMA.open()?;
    let mut page = posts::list(&db, user_id, cursor, limit)?;
    repair_authors(&db, &mut page.posts);
    let page = PostPage {
        boards: page.posts.iter().map(PostWithAuthor::new).collect(),
        next_cursor: page.next.map(Cursor::encode),
    };
    Ok(respond::json(200, &page))
}

/// `GET /boards/health`: the database answers and holds the schema.
pub fn health() -> Result<Response, BoardError> {
    let db = store::SCHEMA.open()?;
    store::ping(&db)?;
    Ok(respond::healthy())
}

/// Read-repair: authors the replica has not met yet (posts from before it existed) are looked
/// up in one call and kept. When the user service cannot answer they stay `null`, and the page
/// itself still loads.
fn repair_authors(db: &impl db::Database, posts: &mut [Post]) {
    let mut missing: Vec<UserId> = posts
        .iter()
        .filter(|post| post.author_name.is_none())
        .map(|post| post.user_id)
        .collect();
    if missing.is_empty() {
        return;
    }
    missing.sort();
    missing.dedup();
    let found = match users::find_many(&missing) {
        Ok(found) => found,
        Err(reason) => return report("read-repair: user service unavailable", reason),
    };
    let names: Vec<AuthorName> = found.values().map(author_name).collect();
    if let Err(error) = authors::store_authors(db, &names) {
        report("read-repair: storing authors failed", format!("{error:?}"));
    }
    for post in posts.iter_mut().filter(|post| post.author_name.is_none()) {
        post.author_name = found
            .get(&post.user_id.get())
            .map(|author| author.name.clone());
    }
}

fn author_name(author: &Author) -> AuthorName<'_> {
    AuthorName {
        id: UserId::issued(author.id),
        name: &author.name,
    }
}
