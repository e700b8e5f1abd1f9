//! The HTTP edge of the user service: which handler serves which method and path, and how each
//! outcome becomes a response. Rules live in `domain`, SQL in `store`.

use serde::Serialize;
use serde_json::{Map, Value};
use service_kit::body::{json_object, Fields};
use service_kit::db;
use service_kit::resource::{resource, Resource};
use service_kit::{query, respond, Problem};
use spin_sdk::http::{Method, Request, Response};

use crate::credentials::Credentials;
use crate::domain::{parse_seq, ChangeLimit, Email, IdList, Password, UserId, UserName};
use crate::{password, store};

pub fn handle(request: &Request) -> Response {
    route(request).unwrap_or_else(|error| Problem::from(error).into())
}

/// Everything that can go wrong in a user route, mapped to a response in one place.
enum UserError {
    Request(Problem),
    EmailTaken,
    NotFound(UserId),
    /// No valid credentials: none, malformed, unknown email or wrong password, alike.
    Unauthenticated,
    /// Valid credentials of another account.
    Forbidden,
    Database(db::Error),
    Hashing,
}

impl From<Problem> for UserError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<db::Error> for UserError {
    fn from(error: db::Error) -> Self {
        Self::Database(error)
    }
}

impl From<UserError> for Problem {
    fn from(error: UserError) -> Self {
        match error {
            UserError::Request(problem) => problem,
            UserError::EmailTaken => Problem::new(
                409,
                "email-taken",
                "Email taken",
                "An account with this email already exists.",
            ),
            UserError::NotFound(id) => {
                Problem::not_found(format!("There is no user {}.", id.get()))
            }
            UserError::Unauthenticated => Problem::new(
                401,
                "unauthenticated",
                "Unauthenticated",
                "Send the account's email and password as HTTP Basic credentials.",
            )
            .with_header(
                "www-authenticate",
                r#"Basic realm="users", charset="UTF-8""#,
            ),
            UserError::Forbidden => Problem::new(
                403,
                "forbidden",
                "Forbidden",
                "These credentials belong to another account.",
            ),
            UserError::Database(error) => db::unavailable(&error),
            UserError::Hashing => Problem::internal(),
        }
    }
}

fn route(request: &Request) -> Result<Response, UserError> {
    match (resource(request.path(), "/users"), request.method()) {
        (Resource::Collection, Method::Get) => list(request),
        (Resource::Collection, Method::Post) => sign_up(request),
        (Resource::Collection, _) => Err(Problem::method_not_allowed(&["GET", "POST"]).into()),
        (Resource::Health, Method::Get) => health(),
        (Resource::Item("changes"), Method::Get) => changes(request),
        (Resource::Health | Resource::Item("changes"), _) => {
            Err(Problem::method_not_allowed(&["GET"]).into())
        }
        (Resource::Item(id), Method::Get) => get_one(id),
        (Resource::Item(id), Method::Patch) => rename(request, id),
        (Resource::Item(_), _) => Err(Problem::method_not_allowed(&["GET", "PATCH"]).into()),
        (Resource::Unknown, _) => Err(Problem::not_found("No such resource.").into()),
    }
}

/// The account as its owner sees it right after sign-up.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Account<'a> {
    id: i64,
    email: &'a str,
    name: &'a str,
    created_at: &'a str,
}

/// What anyone may learn about a user: no email, never a password hash.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicUser<'a> {
    id: i64,
    name: &'a str,
    created_at: &'a str,
}

impl<'a> From<&'a store::User> for PublicUser<'a> {
    fn from(user: &'a store::User) -> Self {
        Self {
            id: user.id,
            name: &user.name,
            created_at: &user.created_at,
        }
    }
}

#[derive(Serialize)]
struct UserList<'a> {
    users: Vec<PublicUser<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeView<'a> {
    seq: i64,
    user_id: i64,
    name: &'a str,
    changed_at: &'a str,
}

/// A page of the change feed; `lastSeq` is where the next read starts (`after`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangePage<'a> {
    changes: Vec<ChangeView<'a>>,
    last_seq: i64,
}

struct SignUp {
    email: Email,
    name: UserName,
    password: Password,
}

fn parse_sign_up(object: Map<String, Value>) -> Result<SignUp, Problem> {
    let mut fields = Fields::new(object, &["email", "name", "password"]);
    let email = fields.string("email", Email::parse);
    let name = fields.string("name", UserName::parse);
    let password = fields.string("password", Password::parse);
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(fields.into_problem());
    };
    fields.finish()?;
    Ok(SignUp {
        email,
        name,
        password,
    })
}

fn sign_up(request: &Request) -> Result<Response, UserError> {
    let sign_up = parse_sign_up(json_object(request)?)?;
    let db = store::connect()?;
    let hash = password::hash(&sign_up.password).map_err(|_| UserError::Hashing)?;
    let user = store::insert_user(&db, &sign_up.email, &sign_up.name, &hash)?
        .ok_or(UserError::EmailTaken)?;
    let account = Account {
        id: user.id,
        email: &user.email,
        name: &user.name,
        created_at: &user.created_at,
    };
    Ok(respond::created(&format!("/users/{}", user.id), &account))
}

fn parse_rename(object: Map<String, Value>) -> Result<UserName, Problem> {
    let mut fields = Fields::new(object, &["name"]);
    let name = fields.string("name", UserName::parse);
    let Some(name) = name else {
        return Err(fields.into_problem());
    };
    fields.finish()?;
    Ok(name)
}

fn parse_user_id(raw_id: &str) -> Result<UserId, Problem> {
    UserId::parse(raw_id).map_err(|invalid| Problem::bad_request(format!("The user id {invalid}.")))
}

/// Renames a user, for that user only: the request carries the account's own email and
/// password. Credentials come before anything else is said about the account.
fn rename(request: &Request, raw_id: &str) -> Result<Response, UserError> {
    let id = parse_user_id(raw_id)?;
    let header = request
        .header("authorization")
        .and_then(|value| value.as_str());
    let credentials = Credentials::from_header(header).ok_or(UserError::Unauthenticated)?;
    let db = store::connect()?;
    let (account, hash) =
        store::find_credentials(&db, &credentials.email)?.ok_or(UserError::Unauthenticated)?;
    if !password::verify(credentials.password(), &hash) {
        return Err(UserError::Unauthenticated);
    }
    if store::find_user(&db, id)?.is_none() {
        return Err(UserError::NotFound(id));
    }
    if account != id.get() {
        return Err(UserError::Forbidden);
    }
    let name = parse_rename(json_object(request)?)?;
    let user = store::rename(&db, id, &name)?.ok_or(UserError::NotFound(id))?;
    Ok(respond::json(200, &PublicUser::from(&user)))
}

/// `GET /users/changes?after=&limit=`: the feed other services replicate names from.
fn changes(request: &Request) -> Result<Response, UserError> {
    let after = query::parsed(request, "after", parse_seq)?.unwrap_or(0);
    let limit =
        query::parsed(request, "limit", ChangeLimit::parse)?.unwrap_or(ChangeLimit::DEFAULT);
    let db = store::connect()?;
    let changes = store::changes(&db, after, limit)?;
    // The feed's readers are other services; one line each shows how often they pull.
    eprintln!("change feed read after {after}: {} changes", changes.len());
    let page = ChangePage {
        last_seq: changes.last().map_or(after, |change| change.seq),
        changes: changes
            .iter()
            .map(|change| ChangeView {
                seq: change.seq,
                user_id: change.user_id,
                name: &change.name,
                changed_at: &change.changed_at,
            })
            .collect(),
    };
    Ok(respond::json(200, &page))
}

fn get_one(raw_id: &str) -> Result<Response, UserError> {
    let id = parse_user_id(raw_id)?;
    let db = store::connect()?;
    let user = store::find_user(&db, id)?.ok_or(UserError::NotFound(id))?;
    Ok(respond::json(200, &PublicUser::from(&user)))
}

fn list(request: &Request) -> Result<Response, UserError> {
    let ids = query::parsed(request, "ids", IdList::parse)?
        .ok_or_else(|| Problem::bad_request("Pass the users to look up as `?ids=1,2,3`."))?;
    let db = store::connect()?;
    let users = store::find_users(&db, &ids)?;
    let users = users.iter().map(PublicUser::from).collect();
    Ok(respond::json(200, &UserList { users }))
}

fn health() -> Result<Response, UserError> {
    let db = store::connect()?;
    store::ping(&db)?;
    Ok(respond::healthy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(error: UserError) -> Problem {
        Problem::from(error)
    }

    #[test]
    fn a_taken_email_is_a_409_conflict() {
        let problem = problem(UserError::EmailTaken);
        assert_eq!((problem.status, problem.slug), (409, "email-taken"));
    }

    #[test]
    fn an_unknown_user_is_a_404_naming_the_id() {
        let problem = problem(UserError::NotFound(UserId::parse("7").unwrap()));
        assert_eq!(problem.status, 404);
        assert!(problem.detail.contains('7'));
    }

    #[test]
    fn a_database_failure_is_a_503_to_retry_without_sqlite_details() {
        let problem = problem(UserError::Database(db::Error::Io(
            "disk I/O error in users".into(),
        )));
        assert_eq!(problem.status, 503);
        assert!(problem
            .headers
            .iter()
            .any(|(name, _)| *name == "retry-after"));
        assert!(!problem.detail.contains("disk I/O"));
    }

    #[test]
    fn a_hashing_failure_is_ours_not_the_clients() {
        assert_eq!(problem(UserError::Hashing).status, 500);
    }

    fn sign_up_body(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_valid_sign_up_body_parses_into_validated_fields() {
        let body = sign_up_body(r#"{"email":" A@B.org","name":"Ann","password":"12345678"}"#);
        let sign_up = parse_sign_up(body).ok().unwrap();
        assert_eq!(sign_up.email.as_str(), "a@b.org");
        assert_eq!(sign_up.name.as_str(), "Ann");
    }

    #[test]
    fn an_invalid_sign_up_body_is_a_422_listing_each_field() {
        let body = sign_up_body(r#"{"email":"x","password":"1","extra":1}"#);
        let problem = parse_sign_up(body).err().unwrap();
        assert_eq!(problem.status, 422);
        let errors = problem.errors.unwrap();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["email", "extra", "name", "password"]
        );
    }
}
