//! Board checks sign-in tokens by itself: only a token the user service signed, unexpired, for
//! this app and for the post's own author, writes a post; everything else is a `401` (or `403`
//! for another user's post) with a Bearer challenge, and nothing is written. After the user
//! service rotates its key, board fetches the keys once, not once per request.

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use e2e::client::{Client, Reply, PASSWORD};
use e2e::host::RunningApp;
use e2e::jwt::{self, Signer};
use serde_json::{json, Value};

fn post(client: &Client, authorization: Option<&str>, user_id: i64) -> Reply {
    client.send_json_as(
        "POST",
        "/boards",
        authorization,
        &json!({ "userId": user_id, "title": "t", "content": "c" }),
    )
}

fn token_of(bearer: &str) -> &str {
    bearer.strip_prefix("Bearer ").unwrap()
}

/// Replaces a token's claims and keeps its header and signature.
fn with_claims(token: &str, claims: &Value) -> String {
    let pieces: Vec<&str> = token.split('.').collect();
    let claims = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    format!("{}.{claims}.{}", pieces[0], pieces[2])
}

#[test]
fn board_refuses_every_token_but_a_valid_one_for_the_author_and_writes_nothing() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    app.client.write_post(ann, "first");
    let bearer = app.client.bearer(ann);
    let valid = token_of(&bearer);

    // The test signs as the user service does, with its key read from its database, so that
    // each refusal below is about the one thing that case changes.
    let kid = jwt::parts(valid).header["kid"].as_str().unwrap().to_owned();
    let signer = Signer::from_seed(&jwt::first_signing_seed(&app.store("users")), &kid);
    let now = jwt::now();
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = jwt::claims(ann, "Ann", now, now + 600);
        change(&mut claims);
        claims
    };
    let signed = |change: &dyn Fn(&mut Value)| signer.sign(&signer.header(), &claims(change));
    let as_made = post(
        &app.client,
        Some(&format!("Bearer {}", signed(&|_| ()))),
        ann,
    );
    assert_eq!(
        as_made.status,
        201,
        "a token made as the user service makes them: {}",
        as_made.text()
    );

    let keys = app.client.get("/users/keys").json();
    let x = keys["keys"][0]["x"].as_str().unwrap().to_owned();
    let public_key = Base64UrlUnpadded::decode_vec(&x).unwrap();
    let stranger = Signer::stranger();
    let mut forged_signature = valid.to_owned();
    let last = forged_signature.pop().unwrap();
    forged_signature.push(if last == 'A' { 'B' } else { 'A' });
    let basic = e2e::client::basic("ann@example.org", PASSWORD);
    let refusals: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("Basic credentials", Some(basic)),
        ("garbage", Some("Bearer garbage".to_owned())),
        (
            "a changed payload",
            Some(format!(
                "Bearer {}",
                with_claims(valid, &claims(&|c| c["name"] = json!("Mallory")))
            )),
        ),
        (
            "a changed signature",
            Some(format!("Bearer {forged_signature}")),
        ),
        (
            "alg: none",
            Some(format!(
                "Bearer {}",
                jwt::unsigned(&json!({ "alg": "none", "kid": kid }), &claims(&|_| ()))
            )),
        ),
        (
            "HS256 keyed with the public key",
            Some(format!(
                "Bearer {}",
                jwt::hs256(
                    &json!({ "alg": "HS256", "kid": kid }),
                    &claims(&|_| ()),
                    &public_key
                )
            )),
        ),
        (
            "HS256 keyed with the public key's text",
            Some(format!(
                "Bearer {}",
                jwt::hs256(
                    &json!({ "alg": "HS256", "kid": kid }),
                    &claims(&|_| ()),
                    x.as_bytes()
                )
            )),
        ),
        (
            "a kid nobody has",
            Some(format!(
                "Bearer {}",
                stranger.sign(&stranger.header(), &claims(&|_| ()))
            )),
        ),
        (
            "expired beyond the leeway",
            Some(format!(
                "Bearer {}",
                signed(&|c| {
                    c["iat"] = json!(now - 700);
                    c["exp"] = json!(now - 100);
                })
            )),
        ),
        (
            "no expiry",
            Some(format!(
                "Bearer {}",
                signed(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })
            )),
        ),
        (
            "nbf in the future",
            Some(format!(
                "Bearer {}",
                signed(&|c| c["nbf"] = json!(now + 120))
            )),
        ),
        (
            "iat in the future",
            Some(format!(
                "Bearer {}",
                signed(&|c| {
                    c["iat"] = json!(now + 120);
                    c["exp"] = json!(now + 700);
                })
            )),
        ),
        (
            "another audience",
            Some(format!(
                "Bearer {}",
                signed(&|c| c["aud"] = json!("another-app"))
            )),
        ),
        (
            "another issuer",
            Some(format!(
                "Bearer {}",
                signed(&|c| c["iss"] = json!("someone-else"))
            )),
        ),
    ];
    for (what, authorization) in &refusals {
        let reply = post(&app.client, authorization.as_deref(), ann);
        reply.problem(401);
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with(r#"Bearer realm="boards""#),
            "{what}: {challenge:?}"
        );
        if authorization
            .as_deref()
            .is_some_and(|value| value.starts_with("Bearer "))
        {
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{what}: {challenge:?}"
            );
        }
    }
    // Ann's valid token for a post in Bob's name.
    post(&app.client, Some(&bearer), bob).problem(403);
    assert_eq!(
        app.client.post_count(),
        2,
        "a refused write wrote something"
    );
    assert_eq!(app.store("boards").row_count("posts"), 2);
}

/// Reads of the key set the user service has answered, from its log.
fn key_set_reads(app: &RunningApp) -> usize {
    app.component_stderr("user-component")
        .matches("signing keys read")
        .count()
}

#[test]
fn after_a_rotation_board_fetches_the_keys_once_not_once_per_request() {
    let app = jwt::app_rotating_keys_every_2_seconds();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let sign_in = || format!("Bearer {}", app.client.sign_in("ann@example.org", PASSWORD));
    let old = sign_in();
    assert_eq!(post(&app.client, Some(&old), ann).status, 201);
    // Past the key's lifetime and board's refresh interval (2 s each).
    std::thread::sleep(Duration::from_millis(3100));
    let new = sign_in();
    assert_ne!(
        jwt::parts(token_of(&old)).header["kid"],
        jwt::parts(token_of(&new)).header["kid"]
    );

    let before = key_set_reads(&app);
    for n in 0..10 {
        let reply = post(&app.client, Some(&new), ann);
        assert_eq!(
            reply.status,
            201,
            "post {n} with the new key: {}",
            reply.text()
        );
    }
    assert_eq!(key_set_reads(&app) - before, 1, "{}", app.log());
    // The old key still verifies the tokens it signed.
    assert_eq!(post(&app.client, Some(&old), ann).status, 201);
    assert_eq!(key_set_reads(&app) - before, 1);
}
