//! One function per endpoint: read what the request says, apply the domain's rules, ask the
//! store, answer with a view.

use service_kit::body::json_object;
use service_kit::{query, respond, Problem};
use spin_sdk::http::{Request, Response};

use crate::credentials::Credentials;
use crate::domain::{parse_rename, parse_seq, ChangeLimit, IdList, SignUp, UserId};
use crate::error::UserError;
use crate::views::{Account, ChangePage, PublicUser, UserList};
use crate::{password, store};

/// `POST /users`.
pub fn sign_up(request: &Request) -> Result<Response, UserError> {
    let sign_up = SignUp::parse(json_object(request)?)?;
    let db = store::SCHEMA.open_for_writes()?;
    let hash = password::hash(&sign_up.password).map_err(UserError::Hashing)?;
    let user = store::insert_user(&db, &sign_up.email, &sign_up.name, &hash)?
        .ok_or(UserError::EmailTaken)?;
    Ok(respond::created(
        &format!("/users/{}", user.id.get()),
        &Account::from(&user),
    ))
}

/// `PATCH /users/{id}`, for that user only: the request carries the account's own email and
/// password. Credentials come before anything else is said about the account.
pub fn rename_user(request: &Request, raw_id: &str) -> Result<Response, UserError> {
    let id = path_id(raw_id)?;
    let header = request
        .header("authorization")
        .and_then(|value| value.as_str());
    let credentials = Credentials::from_header(header).ok_or(UserError::Unauthenticated)?;
    let db = store::SCHEMA.open_for_writes()?;
    let (account, hash) =
        store::find_credentials(&db, &credentials.email)?.ok_or(UserError::Unauthenticated)?;
    if !password::verify(credentials.password(), &hash) {
        return Err(UserError::Unauthenticated);
    }
    if store::find_user(&db, id)?.is_none() {
        return Err(UserError::NotFound(id));
    }
    if account != id {
        return Err(UserError::Forbidden);
    }
    let name = parse_rename(json_object(request)?)?;
    let user = store::rename(&db, id, &name)?.ok_or(UserError::NotFound(id))?;
    Ok(respond::json(200, &PublicUser::from(&user)))
}

/// `GET /users/changes?after=&limit=`: the feed other services replicate names from.
pub fn read_changes(request: &Request) -> Result<Response, UserError> {
    let after = query::parsed(request, "after", parse_seq)?.unwrap_or(0);
    let limit =
        query::parsed(request, "limit", ChangeLimit::parse)?.unwrap_or(ChangeLimit::DEFAULT);
    let db = store::SCHEMA.open()?;
    let changes = store::changes(&db, after, limit)?;
    // The feed's readers are other services; one line each shows how often they pull.
    eprintln!("change feed read after {after}: {} changes", changes.len());
    Ok(respond::json(200, &ChangePage::new(&changes, after)))
}

/// `GET /users/{id}`.
pub fn read_user(raw_id: &str) -> Result<Response, UserError> {
    let id = path_id(raw_id)?;
    let db = store::SCHEMA.open()?;
    let user = store::find_user(&db, id)?.ok_or(UserError::NotFound(id))?;
    Ok(respond::json(200, &PublicUser::from(&user)))
}

/// `GET /users?ids=`.
pub fn list_users(request: &Request) -> Result<Response, UserError> {
    let ids = query::parsed(request, "ids", IdList::parse)?
        .ok_or_else(|| Problem::bad_request("Pass the users to look up as `?ids=1,2,3`."))?;
    let db = store::SCHEMA.open()?;
    let users = store::find_users(&db, &ids)?;
    let users = users.iter().map(PublicUser::from).collect();
    Ok(respond::json(200, &UserList { users }))
}

/// `GET /users/health`: the database answers and holds the schema.
pub fn health() -> Result<Response, UserError> {
    let db = store::SCHEMA.open()?;
    store::ping(&db)?;
    Ok(respond::healthy())
}

fn path_id(raw_id: &str) -> Result<UserId, Problem> {
    UserId::parse(raw_id).map_err(|invalid| Problem::bad_request(format!("The user id {invalid}.")))
}
