//! One function per endpoint: read what the request says, apply the domain's rules, ask the
//! store, answer with a view.

use service_kit::body::json_object;
use service_kit::db::Database;
use service_kit::{query, respond, token, Problem};
use spin_sdk::http::{Request, Response};

use crate::credentials::Credentials;
use crate::domain::{parse_seq, ChangeLimit, IdList, Rename, SignIn, SignUp, UserId};
use crate::error::UserError;
use crate::signing::{self, Lifetimes};
use crate::views::{AccessToken, Account, ChangePage, KeySet, PublicUser, UserList};
use crate::{model, password, store, throttle};

/// `POST /users`.
pub fn sign_up(request: &Request) -> Result<Response, UserError> {
    let sign_up = SignUp::parse(json_object(request)?)?;
    let db = store::SCHEMA.open_for_writes()?;
    let hash = password::hash(&sign_up.password).map_err(UserError::Hashing)?;
    let user = store::insert_user(
        &db,
        &sign_up.email,
        &sign_up.name,
        &hash,
        sign_up.bio.as_ref(),
    )?
    .ok_or(UserError::EmailTaken)?;
    Ok(respond::created(
        &format!("/users/{}", user.id.get()),
        &Account::from(&user),
    ))
}

/// `POST /users/tokens`: a signed token for the account whose email and password these are.
/// Failed sign-ins for one email are throttled (`throttle`); an unknown email and a wrong
/// password are answered alike and take as long.
pub fn sign_in(request: &Request) -> Result<Response, UserError> {
    let sign_in = SignIn::parse(json_object(request)?)?;
    let now = token::now();
    let db = store::SCHEMA.open_for_writes()?;
    let failures = store::sign_in_failures(&db, &sign_in.email)?;
    if let Some(wait) =
        failures.and_then(|(count, last)| throttle::wait(count, last, now.timestamp()))
    {
        return Err(UserError::SignInsThrottled(wait));
    }
    let account = store::find_credentials(&db, &sign_in.email)?;
    let account = match account {
        Some(account) if password::verify(sign_in.password.expose(), &account.password_hash) => {
            account
        }
        Some(_) => return refuse_sign_in(&db, &sign_in, now.timestamp()),
        None => {
            password::spend_one_check(&sign_in.password);
            return refuse_sign_in(&db, &sign_in, now.timestamp());
        }
    };
    if failures.is_some() {
        store::clear_sign_in_failures(&db, &sign_in.email)?;
    }
    let issued = signing::issue(
        &db,
        account.id.get(),
        &account.name,
        now,
        Lifetimes::from_variables(),
    )?;
    let mut response = respond::json(
        201,
        &AccessToken {
            access_token: &issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        },
    );
    // RFC 6749 5.1: a response carrying a token is never stored by a cache.
    response.set_header("cache-control", "no-store");
    Ok(response)
}

fn refuse_sign_in(db: &impl Database, sign_in: &SignIn, now: i64) -> Result<Response, UserError> {
    store::record_sign_in_failure(db, &sign_in.email, now, now - throttle::WINDOW_SECONDS)?;
    Err(UserError::SignInRefused)
}

/// `GET /users/keys`: the public keys that verify this service's tokens, as a JWK Set.
pub fn keys() -> Result<Response, UserError> {
    let db = store::SCHEMA.open()?;
    let keys = signing::published(&db, token::now().timestamp(), Lifetimes::from_variables())?;
    // Other services ask for these; one line each shows how often.
    eprintln!("signing keys read: {} keys", keys.len());
    Ok(respond::json(200, &KeySet::new(keys)))
}

/// `PATCH /users/{id}`, for that user only: the request carries the account's sign-in token, or
/// its own email and password. Credentials come before anything else is said about the account.
pub fn rename_user(request: &Request, raw_id: &str) -> Result<Response, UserError> {
    let id = path_id(raw_id)?;
    let header = request
        .header("authorization")
        .and_then(|value| value.as_str());
    let db = store::SCHEMA.open_for_writes()?;
    let account = authenticate(&db, header)?;
    if store::find_user(&db, id)?.is_none() {
        return Err(UserError::NotFound(id));
    }
    if account != id {
        return Err(UserError::Forbidden);
    }
    let rename = Rename::parse(json_object(request)?)?;
    let user = store::rename(&db, id, &rename.name, rename.bio.as_ref())?
        .ok_or(UserError::NotFound(id))?;
    if let Some(model) = model::open() {
        model.drop_entry(&model::key(id));
    }
    Ok(respond::json(200, &PublicUser::from(&user)))
}

/// The account an `Authorization` header speaks for: a Bearer token of ours, or Basic
/// credentials.
fn authenticate(db: &impl Database, header: Option<&str>) -> Result<UserId, UserError> {
    if let Some(bearer) = header.and_then(token::bearer) {
        return match signing::verify(db, bearer, token::now(), Lifetimes::from_variables())? {
            Ok(verified) => Ok(UserId::issued(verified.user_id)),
            Err(rejected) => Err(UserError::InvalidToken(rejected)),
        };
    }
    let credentials = Credentials::from_header(header).ok_or(UserError::Unauthenticated)?;
    let account =
        store::find_credentials(db, &credentials.email)?.ok_or(UserError::Unauthenticated)?;
    if !password::verify(credentials.password(), &account.password_hash) {
        return Err(UserError::Unauthenticated);
    }
    Ok(account.id)
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

/// `GET /users/{id}`: from the read model when it holds the user, else from the database.
pub fn read_user(raw_id: &str) -> Result<Response, UserError> {
    let id = path_id(raw_id)?;
    let key = model::key(id);
    let mut model = model::open();
    if let Some(body) = model.as_ref().and_then(|model| model.get(&key)) {
        return Ok(respond::json_body(200, body));
    }
    let db = store::SCHEMA.open()?;
    if let Some(model) = &mut model {
        model.catch_up_if_due(|after| model::changes(&db, after))?;
    }
    let user = store::find_user(&db, id)?.ok_or(UserError::NotFound(id))?;
    let body = respond::to_json(&PublicUser::from(&user));
    if let Some(model) = &model {
        model.fill(&key, &body);
    }
    Ok(respond::json_body(200, body))
}

/// `GET /users?ids=`: from the read model when it holds every user asked for, else from the
/// database (which fills the model with those it lacked).
pub fn list_users(request: &Request) -> Result<Response, UserError> {
    let ids = query::parsed(request, "ids", IdList::parse)?
        .ok_or_else(|| Problem::bad_request("Pass the users to look up as `?ids=1,2,3`."))?;
    let mut model = model::open();
    let kept: Option<Vec<Vec<u8>>> = model
        .as_ref()
        .and_then(|model| ids.iter().map(|id| model.get(&model::key(id))).collect());
    if let Some(kept) = kept {
        return Ok(respond::json_body(200, respond::json_list("users", &kept)));
    }
    let db = store::SCHEMA.open()?;
    if let Some(model) = &mut model {
        model.catch_up_if_due(|after| model::changes(&db, after))?;
    }
    let users = store::find_users(&db, &ids)?;
    if let Some(model) = &model {
        for user in &users {
            model.fill(
                &model::key(user.id),
                &respond::to_json(&PublicUser::from(user)),
            );
        }
    }
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
