//! A blocking HTTP client that never turns a status into an error: tests assert on statuses.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// The longest any answer may take under contention, a refusal included: a request's 10 s on
/// its database (service-kit `db`), the statement in flight when that runs out, and the
/// request around it on a host whose cores are busy.
pub const ANSWER_BOUND: Duration = Duration::from_secs(20);

/// One answer: status, headers (lower-case names) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Which build answered: `x-service-version`, empty when absent.
    pub fn service_version(&self) -> &str {
        self.header("x-service-version").unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Asserts an RFC 9457 problem with `status`, and returns its body.
    /// Whether this is a refusal: any `503` must be one as the services promise it, a problem
    /// with `Retry-After` (asserted).
    pub fn is_refusal(&self) -> bool {
        if self.status != 503 {
            return false;
        }
        self.problem(503);
        assert!(
            self.header("retry-after").is_some(),
            "a 503 without Retry-After"
        );
        true
    }

    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected a {status} problem, got: {}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        for field in ["type", "title", "detail"] {
            assert!(body[field].is_string(), "problem without `{field}`: {body}");
        }
        body
    }
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
    accounts: Accounts,
}

/// The accounts a client signed up, so that it can write as their authors: each signs in (with
/// the password the harness gave it) at the user service it signed up with, once, when it first
/// writes. Clients of one app share them: a board client those of its user service.
#[derive(Clone)]
pub struct Accounts {
    /// Where they sign in.
    users: String,
    by_id: Arc<Mutex<BTreeMap<i64, Account>>>,
}

struct Account {
    email: String,
    token: Option<String>,
}

/// The password of every account the harness signs up.
pub const PASSWORD: &str = "correct horse";

/// An `Authorization` value with HTTP Basic credentials, as the user service takes them.
pub fn basic(email: &str, password: &str) -> String {
    use base64ct::{Base64, Encoding};
    format!(
        "Basic {}",
        Base64::encode_string(format!("{email}:{password}").as_bytes())
    )
}

impl Client {
    pub fn new(base: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .redirects(0)
            .build();
        let base = base.trim_end_matches('/').to_owned();
        Self {
            accounts: Accounts {
                users: base.clone(),
                by_id: Arc::default(),
            },
            base,
            agent,
        }
    }

    /// A client of the same address with connections of its own (for another thread),
    /// writing as the same accounts.
    pub fn fresh(&self) -> Client {
        let mut client = Client::new(&self.base);
        client.share_accounts(self.accounts());
        client
    }

    /// The accounts this client knows, to give to another client of the same app.
    pub fn accounts(&self) -> Accounts {
        self.accounts.clone()
    }

    /// From now on, writes as the authors of `accounts`.
    pub fn share_accounts(&mut self, accounts: Accounts) {
        self.accounts = accounts;
    }

    /// `Bearer <token>` for account `user_id`, signed in for on first use.
    pub fn bearer(&self, user_id: i64) -> String {
        let mut accounts = self.accounts.by_id.lock().unwrap();
        let account = accounts.get_mut(&user_id).unwrap_or_else(|| {
            panic!("user {user_id} was not signed up through this app's client")
        });
        let token = account.token.get_or_insert_with(|| {
            Client::new(&self.accounts.users).sign_in(&account.email, PASSWORD)
        });
        format!("Bearer {token}")
    }

    /// Signs in (`POST /users/tokens`) and returns the token; anything but 201 fails.
    pub fn sign_in(&self, email: &str, password: &str) -> String {
        let body = json!({ "email": email, "password": password });
        let reply = self.post_json("/users/tokens", &body);
        assert_eq!(reply.status, 201, "sign-in of {email}: {}", reply.text());
        reply.json()["accessToken"].as_str().unwrap().to_owned()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A GET with the request headers `headers`, e.g. a conditional one.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send_with("GET", path, headers, b"")
    }

    /// Any method, these request headers, these bytes.
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, b"")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    /// Signs up a user (password [`PASSWORD`]) and returns the account; anything but 201 fails.
    pub fn sign_up_account(&self, email: &str, name: &str) -> Value {
        let body = json!({ "email": email, "name": name, "password": PASSWORD });
        let reply = self.post_json("/users", &body);
        assert_eq!(reply.status, 201, "sign-up of {email}: {}", reply.text());
        let account = reply.json();
        self.accounts.by_id.lock().unwrap().insert(
            account["id"].as_i64().unwrap(),
            Account {
                email: email.to_owned(),
                token: None,
            },
        );
        account
    }

    /// Which build serves `path` (a health endpoint): asserts a `200` and returns
    /// `x-service-version`.
    pub fn service_version(&self, path: &str) -> String {
        let reply = self.get(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        reply.service_version().to_owned()
    }

    /// How many posts the first page of up to 100 holds.
    pub fn post_count(&self) -> usize {
        self.get("/boards?limit=100").json()["boards"]
            .as_array()
            .expect("a list of posts")
            .len()
    }

    /// Signs up a user and returns its id.
    pub fn sign_up(&self, email: &str, name: &str) -> i64 {
        self.sign_up_account(email, name)["id"].as_i64().unwrap()
    }

    /// Writes a post by `user_id`, signed in as that user, and returns it; anything but 201
    /// fails.
    pub fn write_post(&self, user_id: i64, title: &str) -> Value {
        self.write_post_with(user_id, title, "Hello\nworld")
    }

    /// `write_post` with `content` of the test's choosing.
    pub fn write_post_with(&self, user_id: i64, title: &str, content: &str) -> Value {
        let reply = self.try_write_post_with(user_id, title, content);
        assert_eq!(reply.status, 201, "post by {user_id}: {}", reply.text());
        reply.json()
    }

    /// Sends a post by `user_id`, signed in as that user, and returns the answer.
    pub fn try_write_post(&self, user_id: i64, title: &str) -> Reply {
        self.try_write_post_with(user_id, title, "Hello\nworld")
    }

    fn try_write_post_with(&self, user_id: i64, title: &str, content: &str) -> Reply {
        let body = json!({ "userId": user_id, "title": title, "content": content });
        self.send_json_as("POST", "/boards", Some(&self.bearer(user_id)), &body)
    }

    /// Asserts that every listed user and post can be read back.
    pub fn assert_readable(&self, users: &[i64], posts: &[i64], context: &str) {
        for id in users {
            assert_eq!(
                self.get(&format!("/users/{id}")).status,
                200,
                "{context}: user {id} lost"
            );
        }
        for id in posts {
            assert_eq!(
                self.get(&format!("/boards/{id}")).status,
                200,
                "{context}: post {id} lost"
            );
        }
    }

    /// `PATCH /users/{id}` renaming the user to `name`, carrying `authorization` (a Bearer
    /// token, or [`basic`] credentials) when given.
    pub fn rename_as(&self, id: i64, authorization: Option<&str>, name: &str) -> Reply {
        self.try_rename_as(id, authorization, name)
            .unwrap_or_else(|e| panic!("PATCH /users/{id}: {e}"))
    }

    /// Like `rename_as`, but a transport failure is returned instead of failing the test.
    pub fn try_rename_as(
        &self,
        id: i64,
        authorization: Option<&str>,
        name: &str,
    ) -> Result<Reply, String> {
        let body = json!({ "name": name });
        self.try_send_json_as("PATCH", &format!("/users/{id}"), authorization, &body)
    }

    /// A JSON request carrying `authorization` (e.g. HTTP Basic credentials) when given.
    pub fn send_json_as(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> Reply {
        self.try_send_json_as(method, path, authorization, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `send_json_as`, but a transport failure is returned instead of failing the test.
    pub fn try_send_json_as(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> Result<Reply, String> {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(authorization.map(|value| ("authorization", value)));
        self.try_request(method, path, &headers, body.to_string().as_bytes())
    }

    /// Any method, any content type (or none), any bytes.
    pub fn send(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
        self.try_send(method, path, content_type, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `send`, but a transport failure is returned instead of failing the test.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, String> {
        let headers: Vec<_> = content_type
            .map(|value| ("content-type", value))
            .into_iter()
            .collect();
        self.try_request(method, path, &headers, body)
    }

    /// The one place a request is made.
    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        read_reply(request.send_bytes(body))
    }
}

/// A reply whatever its status; a transport failure as its message.
fn read_reply(sent: Result<ureq::Response, ureq::Error>) -> Result<Reply, String> {
    let response = match sent {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return Err(error.to_string()),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| {
            let value = response.header(&name)?.to_owned();
            Some((name.to_ascii_lowercase(), value))
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body)
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Sends one request through `send` and asserts it was refused as `503` problem+json with
/// `Retry-After` within `bound`; returns how long the answer took.
pub fn assert_unavailable_within(
    bound: std::time::Duration,
    what: &str,
    send: impl FnOnce() -> Reply,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let reply = send();
    let took = started.elapsed();
    assert!(
        reply.is_refusal(),
        "{what}: {} {}",
        reply.status,
        reply.text()
    );
    assert!(took < bound, "{what}: the 503 took {took:?}");
    took
}
