//! Everything the service refuses: bad tokens, replayed states, forged or foreign forms,
//! unknown prompts, answers that break the field rules, expired prompts. Each refusal is a
//! 4xx page that says what to do, and writes nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::helpers::*;

fn claims() -> Map<String, Value> {
    auth0_claims(
        "auth0|eve",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    )
}

async fn assert_refused(app: &TestApp, token: &str, status: StatusCode, heading: &str) {
    let page = app.prompt(&random_state(), token).await;
    assert_eq!(page.status, status, "{}", page.html);
    assert_eq!(page.h1(), heading);
    assert!(
        token.is_empty() || !page.html.contains(token),
        "the page must not echo the token"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM detours").await,
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn tokens_that_are_not_hs256_with_a_tenant_secret_are_refused() {
    let app = spawn_app().await;
    let invalid = "This sign-in link is not valid";
    let c = claims();

    assert_refused(
        &app,
        &unsigned(json!({"alg": "none", "typ": "JWT"}), &c),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let t = jsonwebtoken::encode(
            &Header::new(alg),
            &c,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_refused(&app, &t, StatusCode::BAD_REQUEST, invalid).await;
    }
    assert_refused(
        &app,
        &unsigned(json!({"alg": "RS256"}), &c),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;
    assert_refused(
        &app,
        &mint(&c, "another-secret-another-secret-0000"),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;

    // A payload altered after signing.
    let good = mint(&c, SECRET);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut altered = c.clone();
    altered.insert("sub".into(), json!("auth0|admin"));
    parts[1] = URL_SAFE_NO_PAD.encode(Value::Object(altered).to_string());
    assert_refused(&app, &parts.join("."), StatusCode::BAD_REQUEST, invalid).await;

    assert_refused(&app, "not-a-jwt", StatusCode::BAD_REQUEST, invalid).await;
    assert_refused(&app, "", StatusCode::BAD_REQUEST, invalid).await;
    let huge = mint(
        &auth0_claims("auth0|eve", json!({"pad": "x".repeat(9000)})),
        SECRET,
    );
    assert_refused(&app, &huge, StatusCode::PAYLOAD_TOO_LARGE, invalid).await;
}

#[tokio::test]
async fn tokens_with_bad_standard_claims_are_refused() {
    let app = spawn_app().await;
    let invalid = "This sign-in link is not valid";

    let mut expired = claims();
    expired.insert("exp".into(), json!(now() - 120));
    assert_refused(
        &app,
        &mint(&expired, SECRET),
        StatusCode::BAD_REQUEST,
        "This page has expired",
    )
    .await;

    let mut no_exp = claims();
    no_exp.remove("exp");
    assert_refused(
        &app,
        &mint(&no_exp, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;

    let mut other_issuer = claims();
    other_issuer.insert("iss".into(), json!("evil.eu.auth0.test"));
    assert_refused(
        &app,
        &mint(&other_issuer, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;

    let mut no_sub = claims();
    no_sub.remove("sub");
    assert_refused(
        &app,
        &mint(&no_sub, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;
    let mut empty_sub = claims();
    empty_sub.insert("sub".into(), json!(""));
    assert_refused(
        &app,
        &mint(&empty_sub, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;

    let mut future = claims();
    future.insert("iat".into(), json!(now() + 3600));
    assert_refused(
        &app,
        &mint(&future, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;
    let mut not_before = claims();
    not_before.insert("nbf".into(), json!(now() + 3600));
    assert_refused(
        &app,
        &mint(&not_before, SECRET),
        StatusCode::BAD_REQUEST,
        invalid,
    )
    .await;
}

#[tokio::test]
async fn a_missing_state_is_refused() {
    let app = spawn_app().await;
    let page = app
        .get(&format!(
            "/prompt?session_token={}",
            mint(&claims(), SECRET)
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM detours").await, 0);
}

#[tokio::test]
async fn the_previous_secret_still_verifies_during_rotation() {
    let app = spawn_app().await;
    let state = random_state();
    let page = app.prompt(&state, &mint(&claims(), OLD_SECRET)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let form = app.get(&location(&page)).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Eve"), ("family_name", "Ray")],
        )
        .await;
    // The return is signed with the secret that verified the token, so an Action still on
    // the previous secret accepts it.
    let token = app.finish_with(&done, &state, OLD_SECRET).await;
    assert_eq!(token["outcome"], json!("completed"));
    // A login whose token used the current secret gets a return signed with it.
    let (state, form) = app
        .login(&auth0_claims(
            "auth0|new",
            json!({"logins_count": 2, "campaign": "profile-name"}),
        ))
        .await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "New"), ("family_name", "Key")],
        )
        .await;
    app.finish_with(&done, &state, SECRET).await;
}

#[tokio::test]
async fn a_state_is_single_use() {
    let app = spawn_app().await;
    let state = random_state();
    let first = app.prompt(&state, &mint(&claims(), SECRET)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    // Even with a fresh, valid token the same state is refused.
    let replay = app.prompt(&state, &mint(&claims(), SECRET)).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
    assert_eq!(replay.h1(), "This link was already used");
    assert_eq!(app.count("SELECT COUNT(*) FROM detours").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM prompts").await, 1);
}

#[tokio::test]
async fn a_form_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let (action, _) = form.form();
    let fields = [("given_name", "Eve"), ("family_name", "Ray")];
    let missing = app.post_form(&action, &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let mut wrong = vec![("_csrf", "0000")];
    wrong.extend_from_slice(&fields);
    let wrong = app.post_form(&action, &wrong).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.h1(), "This page belongs to another browser");
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prompts WHERE status = 'pending'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_the_right_token() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let (action, _) = form.form();
    let csrf = form.csrf();
    let r = app
        .client
        .post(format!("{}{action}", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("given_name", "X"),
            ("family_name", "Y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
}

#[tokio::test]
async fn a_prompt_opened_in_another_browser_is_refused() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let stranger = new_client();
    let page = app.get_with(&stranger, &form.url).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.doc()
            .select(&scraper::Selector::parse("input[name=given_name]").unwrap())
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn unknown_prompts_and_pages_are_not_found() {
    let app = spawn_app().await;
    for path in [
        "/p/0123456789abcdef0123456789abcdef",
        "/p/nope",
        "/r/0123456789abcdef0123456789abcdef",
        "/nothing-here",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page.h1(), "This sign-in link is not valid", "{path}");
    }
}

#[tokio::test]
async fn unknown_fields_and_actions_are_refused() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let injected = app
        .answer(
            &form,
            "submit",
            &[
                ("given_name", "A"),
                ("family_name", "B"),
                ("is_admin", "true"),
            ],
        )
        .await;
    assert_eq!(injected.status, StatusCode::BAD_REQUEST);
    let skip = app.answer(&form, "skip", &[]).await;
    assert_eq!(
        skip.status,
        StatusCode::BAD_REQUEST,
        "profile-name does not allow skipping"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
}

#[tokio::test]
async fn an_expired_prompt_explains_and_offers_the_way_back() {
    let app = spawn_app_with(|c| c.prompt_ttl_secs = 1).await;
    let (state, form) = app.login(&claims()).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let late = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Eve"), ("family_name", "Ray")],
        )
        .await;
    assert_eq!(late.status, StatusCode::GONE);
    assert_eq!(late.h1(), "This page has expired");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prompts WHERE status = 'expired'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
    // The way back is a POST to the IdP with a valid token and outcome `none`.
    let token = app.finish(&late, &state).await;
    assert_eq!(token["outcome"], json!("none"));
    let revisit = app.get(&form.url).await;
    assert_eq!(revisit.status, StatusCode::GONE);
}

/// The campaign in tests/fixtures/form-rules has one field of each type.
async fn every_field_app() -> (TestApp, Page) {
    let app = spawn_app_with(|c| c.campaigns_dir = "tests/fixtures/form-rules".into()).await;
    let c = auth0_claims(
        "auth0|val",
        json!({"app_metadata": {"source": "newsletter"}}),
    );
    let (_, form) = app.login(&c).await;
    assert_eq!(form.h1(), "Every field");
    (app, form)
}

#[tokio::test]
async fn answers_that_break_a_field_rule_come_back_with_messages_and_values() {
    let (app, form) = every_field_app().await;
    let bad = app
        .answer(
            &form,
            "submit",
            &[
                ("nickname", "ABC"),
                ("email", "not-an-address"),
                ("phone", "call me"),
                ("site", "nowhere"),
                ("age", "12"),
                ("birthday", "2020-01-01"),
                ("plan", "gold"),
                ("contact", "pigeon"),
                ("topics", "news"),
                ("topics", "cats"),
                ("bio", "far more than twenty characters"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let expect = [
        ("nickname", "Use lower-case letters only."),
        ("email", "This value is not valid."),
        ("phone", "This does not have the expected format."),
        ("site", "This value is not valid."),
        ("age", "Please enter 18 or more."),
        ("birthday", "Please enter 2010-12-31 or less."),
        ("plan", "Please choose one of the options."),
        ("contact", "Please choose one of the options."),
        ("agree", "Please fill in this field."),
        ("topics", "Please choose one of the options."),
        ("bio", "Please keep it to 20 characters."),
    ];
    for (field, message) in expect {
        assert_eq!(bad.field_error(field).as_deref(), Some(message), "{field}");
    }
    assert_eq!(
        bad.input_value("nickname").as_deref(),
        Some("ABC"),
        "the user's value is kept"
    );
    assert_eq!(bad.input_value("email").as_deref(), Some("not-an-address"));
    assert!(bad.text_of(".error-summary").is_some());
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);

    let short = app
        .answer(
            &bad,
            "submit",
            &[("nickname", "a"), ("email", "a@b.example"), ("agree", "on")],
        )
        .await;
    assert_eq!(
        short.field_error("nickname").as_deref(),
        Some("Please enter at least 2 characters.")
    );
    let missing = app.answer(&bad, "submit", &[("agree", "on")]).await;
    assert_eq!(
        missing.field_error("nickname").as_deref(),
        Some("Please fill in this field.")
    );
    assert_eq!(
        missing.field_error("email").as_deref(),
        Some("Please fill in this field.")
    );
    let nan = app
        .answer(
            &bad,
            "submit",
            &[
                ("nickname", "ok"),
                ("email", "a@b.example"),
                ("agree", "on"),
                ("age", "old"),
            ],
        )
        .await;
    assert_eq!(
        nan.field_error("age").as_deref(),
        Some("This value is not valid.")
    );
    let too_old = app
        .answer(
            &bad,
            "submit",
            &[
                ("nickname", "ok"),
                ("email", "a@b.example"),
                ("agree", "on"),
                ("age", "121"),
            ],
        )
        .await;
    assert_eq!(
        too_old.field_error("age").as_deref(),
        Some("Please enter 120 or less.")
    );
    let fraction = app
        .answer(
            &bad,
            "submit",
            &[
                ("nickname", "ok"),
                ("email", "a@b.example"),
                ("agree", "on"),
                ("age", "30.5"),
            ],
        )
        .await;
    assert_eq!(
        fraction.field_error("age").as_deref(),
        Some("This value is not valid.")
    );
    let early = app
        .answer(
            &bad,
            "submit",
            &[
                ("nickname", "ok"),
                ("email", "a@b.example"),
                ("agree", "on"),
                ("birthday", "1899-12-31"),
            ],
        )
        .await;
    assert_eq!(
        early.field_error("birthday").as_deref(),
        Some("Please enter 1900-01-01 or more.")
    );
    let twice = app
        .answer(
            &bad,
            "submit",
            &[
                ("nickname", "ok"),
                ("nickname", "again"),
                ("email", "a@b.example"),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
}

#[tokio::test]
async fn valid_answers_of_every_type_are_stored_typed() {
    let (app, form) = every_field_app().await;
    let state_done = app
        .answer(
            &form,
            "submit",
            &[
                ("nickname", "val"),
                ("email", "val@example.com"),
                ("phone", "+49 30 1234567"),
                ("site", "https://val.example"),
                ("age", "42"),
                ("birthday", "1984-02-29"),
                ("plan", "pro"),
                ("contact", "email"),
                ("agree", "on"),
                ("topics", "news"),
                ("topics", "events"),
                ("bio", "Hello"),
                // Hidden fields come from the claims, never from the browser.
            ],
        )
        .await;
    assert_eq!(state_done.status, StatusCode::OK, "{}", state_done.html);
    let pool = app.db().await;
    let answers: String = sqlx::query_scalar("SELECT answers FROM responses")
        .fetch_one(&pool)
        .await
        .unwrap();
    let answers: Value = serde_json::from_str(&answers).unwrap();
    assert_eq!(
        answers,
        json!({
            "nickname": "val", "email": "val@example.com", "phone": "+49 30 1234567",
            "site": "https://val.example", "age": 42, "birthday": "1984-02-29", "plan": "pro",
            "contact": "email", "agree": true, "topics": ["news", "events"], "bio": "Hello",
            "source": "newsletter"
        })
    );
    let hidden_posted = app.answer(&form, "submit", &[("source", "forged")]).await;
    assert_eq!(
        hidden_posted.status,
        StatusCode::OK,
        "already answered: shows the result, records nothing"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 1);
}
