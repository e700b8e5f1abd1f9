//! Sign-in tokens of the user service: `POST /users/tokens` signs an Ed25519 JWT that anyone can
//! check with the keys at `GET /users/keys`; wrong passwords and unknown emails are answered
//! alike, failures slow down one email only, and the key rotates by age while tokens of the
//! old one keep verifying. Tokens are read and checked here with nothing of the services' code.

use std::time::{Duration, Instant};

use e2e::client::{Client, Reply, PASSWORD};
use e2e::host::RunningApp;
use e2e::jwt;
use e2e::process;
use serde_json::{json, Value};

fn sign_in(client: &Client, email: &str, password: &str) -> Reply {
    client.post_json(
        "/users/tokens",
        &json!({ "email": email, "password": password }),
    )
}

fn token(client: &Client, email: &str) -> String {
    client.sign_in(email, PASSWORD)
}

fn key_set(client: &Client) -> Vec<Value> {
    let reply = client.get("/users/keys");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["keys"].as_array().unwrap().clone()
}

fn kid(token: &str) -> String {
    jwt::parts(token).header["kid"].as_str().unwrap().to_owned()
}

#[test]
fn a_sign_in_gets_an_ed25519_token_the_published_key_verifies() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let reply = sign_in(&app.client, "ANN@example.org", PASSWORD);
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    let token = body["accessToken"].as_str().unwrap();

    let parts = jwt::parts(token);
    assert_eq!(parts.header["alg"], "EdDSA");
    let claims = &parts.claims;
    assert_eq!(claims["iss"], "user-service");
    assert_eq!(claims["aud"], "microservices-on-spin");
    assert_eq!(claims["sub"], ann.to_string());
    assert_eq!(claims["name"], "Ann");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 900);
    assert!((iat - jwt::now()).abs() <= 5, "iat {iat}");

    let keys = key_set(&app.client);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    for (field, value) in [
        ("kty", "OKP"),
        ("crv", "Ed25519"),
        ("use", "sig"),
        ("alg", "EdDSA"),
    ] {
        assert_eq!(key[field], value, "{key}");
    }
    assert_eq!(key["kid"], parts.header["kid"]);
    assert!(
        key.get("d").is_none(),
        "the private half was published: {key}"
    );
    assert!(jwt::signed_by(token, key));
    assert!(!jwt::signed_by(&token.replace(".ey", ".eX"), key));
    // The same key signs the next token.
    assert_eq!(
        kid(&self::token(&app.client, "ann@example.org")),
        kid(token)
    );
}

#[test]
fn an_unknown_email_and_a_wrong_password_get_the_same_401_in_about_the_same_time() {
    let app = RunningApp::start_default();
    let host = app.pid().expect("the app is running");
    app.client.sign_up("ann@example.org", "Ann");
    app.client.sign_up("bob@example.org", "Bob");
    // Four wrong passwords per account: fewer than the free failures, so throttling plays no
    // part. In pairs, one of each back to back, which goes first alternating.
    let mut pairs = Vec::new();
    let mut answers = Vec::new();
    for n in 0..8 {
        let account = ["ann@example.org", "bob@example.org"][n % 2].to_owned();
        let mut attempts = [
            (account, "wrong horse!"),
            (format!("nobody-{n}@example.org"), PASSWORD),
        ];
        if n % 2 == 1 {
            attempts.reverse();
        }
        let mut costs = attempts.map(|(email, password)| {
            // The CPU time first: the wall time holds the request alone, not a walk of /proc.
            let cpu_before = process::cpu_time(host);
            let started = Instant::now();
            let reply = sign_in(&app.client, &email, password);
            let cost = Cost {
                wall: started.elapsed(),
                cpu: process::cpu_time(host) - cpu_before,
            };
            reply.problem(401);
            answers.push((
                reply.json(),
                reply.header("www-authenticate").map(str::to_owned),
            ));
            cost
        });
        if n % 2 == 1 {
            costs.reverse();
        }
        // (wrong password, unknown email)
        pairs.push((costs[0], costs[1]));
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "the answers differ: {answers:#?}"
    );
    // The work is what can tell the two apart: the host's CPU time for each answer. Its wall
    // time also holds the machine's other work, and tests run beside each other on two cores:
    // a neighbour's load made one path's fastest answer of eight 1.5 times the other's in a
    // clean-clone run. Each path's least CPU time is its own cost with the least noise in it.
    let fastest = |pick: fn(&(Cost, Cost)) -> Cost| {
        pairs
            .iter()
            .map(|pair| pick(pair).cpu)
            .min()
            .unwrap()
            .as_secs_f64()
    };
    let ratio = fastest(|pair| pair.0) / fastest(|pair| pair.1);
    eprintln!(
        "sign-in refused: least CPU time, wrong password / unknown email {ratio:.2}; \
         pairs (wrong password, unknown email) {pairs:?}"
    );
    // Both paths run one Argon2id with the same parameters (tens of milliseconds), which
    // dwarfs everything else they do; a factor of 1.5 leaves room for noise, while an unknown
    // email answered without hashing would cost a tenth.
    assert!((1.0 / 1.5..=1.5).contains(&ratio), "{pairs:?}");
}

/// What one answer cost: its wall time as the client saw it, and the host's CPU time.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl std::fmt::Debug for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1?} ({:.1?} CPU)", self.wall, self.cpu)
    }
}

fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").unwrap().parse().unwrap()
}

#[test]
fn failed_sign_ins_slow_down_that_email_only_and_never_lock_its_owner_out() {
    let app = RunningApp::start_default();
    app.client.sign_up("ann@example.org", "Ann");
    app.client.sign_up("bob@example.org", "Bob");
    for _ in 0..5 {
        sign_in(&app.client, "ann@example.org", "wrong horse!").problem(401);
    }
    // Past the free failures each failure doubles the wait (1 s, 2 s, 4 s, ...): a try within
    // it is a 429. Go on until the wait is long enough to outlast a few requests.
    let mut waits = Vec::new();
    while waits.last().is_none_or(|wait| *wait < 4) {
        assert!(waits.len() < 10, "the wait does not grow: {waits:?}");
        let reply = sign_in(&app.client, "ann@example.org", "wrong horse!");
        if reply.status == 401 {
            continue;
        }
        reply.problem(429);
        waits.push(retry_after(&reply));
        if waits.last() < Some(&4) {
            std::thread::sleep(Duration::from_secs(*waits.last().unwrap()));
        }
    }
    // Now even the right password waits, for this email only.
    let throttled = sign_in(&app.client, "ann@example.org", PASSWORD);
    throttled.problem(429);
    let wait = retry_after(&throttled);
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    sign_in(&app.client, "nobody@example.org", "wrong horse!").problem(401);
    token(&app.client, "bob@example.org");

    std::thread::sleep(Duration::from_secs(wait));
    token(&app.client, "ann@example.org");
    // The success cleared the count: a mistake now costs nothing again.
    sign_in(&app.client, "ann@example.org", "wrong horse!").problem(401);
    token(&app.client, "ann@example.org");
    eprintln!("throttled sign-ins: waits {waits:?} s, then {wait} s for the right password");
}

#[test]
fn a_rename_accepts_the_accounts_own_token_and_refuses_any_other() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    let ann_token = token(&app.client, "ann@example.org");
    let rename =
        |id: i64, authorization: &str| app.client.rename_as(id, Some(authorization), "Renamed");
    let renamed = rename(ann, &format!("Bearer {ann_token}"));
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["name"], "Renamed");
    rename(bob, &format!("Bearer {ann_token}")).problem(403);

    let foreign = jwt::Signer::stranger();
    let now = jwt::now();
    for forged in [
        "Bearer not-a-token".to_owned(),
        format!(
            "Bearer {}",
            foreign.sign(&foreign.header(), &jwt::claims(bob, "Bob", now, now + 60))
        ),
        format!("bearer {}", ann_token.replace(".ey", ".eX")),
    ] {
        let refused = rename(bob, &forged);
        refused.problem(401);
        let challenge = refused.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    assert_eq!(
        app.client.get(&format!("/users/{bob}")).json()["name"],
        "Bob"
    );
}

#[test]
fn the_key_rotates_by_age_and_the_old_one_keeps_verifying_its_tokens() {
    let app = jwt::app_rotating_keys_every_2_seconds();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let old = token(&app.client, "ann@example.org");
    std::thread::sleep(Duration::from_millis(3100));
    let new = token(&app.client, "ann@example.org");
    assert_ne!(kid(&old), kid(&new), "the key did not rotate");

    let keys = key_set(&app.client);
    let kids: Vec<&str> = keys
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [kid(&new), kid(&old)],
        "newest first, the old one still published"
    );
    assert!(jwt::signed_by(&new, &keys[0]) && jwt::signed_by(&old, &keys[1]));
    for token in [&old, &new] {
        let renamed = app
            .client
            .rename_as(ann, Some(&format!("Bearer {token}")), "Ann");
        assert_eq!(renamed.status, 200, "{}", renamed.text());
    }
}

#[test]
fn no_response_or_log_line_carries_the_private_key() {
    let app = RunningApp::start_default();
    app.client.sign_up("ann@example.org", "Ann");
    let mut seen = Vec::new();
    seen.push(sign_in(&app.client, "ann@example.org", PASSWORD).text());
    seen.push(sign_in(&app.client, "ann@example.org", "wrong horse!").text());
    seen.push(app.client.get("/users/keys").text());
    let forms = jwt::written_forms(&jwt::first_signing_seed(&app.store("users")));
    seen.push(app.log());
    for text in &seen {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "the private key ({form}) appears in: {text}"
            );
        }
    }
}
