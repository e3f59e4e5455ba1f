//! The adversarial suite over HTTP: token refusals with their log reason and metric,
//! cross-tenant state replay, output escaping, cookies, body caps, rate limits, headers.
//!
//! The token refusals run against the real binary (a child process) so the test reads the
//! log lines it writes: each refusal must name its reason and never the token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
#[path = "common/process.rs"]
mod process;

use helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use process::Server;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

fn claims() -> Map<String, Value> {
    auth0_claims(
        "auth0|mallory",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    )
}

fn with(mut c: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    if value.is_null() {
        c.remove(key);
    } else {
        c.insert(key.into(), value);
    }
    c
}

#[tokio::test]
async fn every_token_refusal_is_a_4xx_with_a_logged_reason_a_metric_and_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let client = new_client();
    let hs = |alg| {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let altered = {
        let good = mint(&claims(), SECRET);
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD
            .encode(Value::Object(with(claims(), "sub", json!("auth0|admin"))).to_string());
        parts.join(".")
    };
    let cases: Vec<(&str, String, StatusCode)> = vec![
        (
            "token_algorithm",
            unsigned(json!({"alg": "none"}), &claims()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_algorithm",
            hs(Algorithm::HS384),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_algorithm",
            hs(Algorithm::HS512),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_algorithm",
            unsigned(json!({"alg": "RS256"}), &claims()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_signature",
            mint(&claims(), "another-secret-another-secret-xx"),
            StatusCode::BAD_REQUEST,
        ),
        ("token_signature", altered, StatusCode::BAD_REQUEST),
        (
            "token_expired",
            mint(&with(claims(), "exp", json!(now() - 31)), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_no_exp",
            mint(&with(claims(), "exp", Value::Null), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_not_yet_valid",
            mint(&with(claims(), "nbf", json!(now() + 120)), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_not_yet_valid",
            mint(&with(claims(), "iat", json!(now() + 120)), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_issuer",
            mint(&with(claims(), "iss", json!("evil.auth0.test")), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_no_sub",
            mint(&with(claims(), "sub", Value::Null), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_no_sub",
            mint(&with(claims(), "sub", json!("")), SECRET),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_too_large",
            mint(&with(claims(), "pad", json!("x".repeat(9000))), SECRET),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    let mut tokens = Vec::new();
    for (reason, token, status) in &cases {
        let r = client
            .get(format!(
                "{}/prompt?state={}&session_token={token}",
                server.base,
                random_state()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), *status, "{reason}");
        let page = r.text().await.unwrap();
        assert!(page.contains("<h1>"), "a page, not a bare error: {reason}");
        tokens.push(token.clone());
    }
    // Within the leeway (30 s) an expired token still passes.
    let leeway = mint(&with(claims(), "exp", json!(now() - 5)), SECRET);
    let ok = client
        .get(format!(
            "{}/prompt?state={}&session_token={leeway}",
            server.base,
            random_state()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);

    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("interlude_token_refusals_total{reason=\"algorithm\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("interlude_token_refusals_total{reason=\"signature\"} 2"));
    assert!(metrics.contains("interlude_token_refusals_total{reason=\"too_large\"} 1"));

    let db = sqlx::SqlitePool::connect(&server.db).await.unwrap();
    let detours: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM detours")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(detours, 1, "only the accepted token wrote anything");

    let log = server.kill();
    for (reason, _, _) in &cases {
        assert!(
            log.contains(&format!("\"reason\":\"{reason}\"")),
            "no log line for {reason}:\n{log}"
        );
    }
    for token in &tokens {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            signature.is_empty() || !log.contains(signature),
            "a token leaked into the log"
        );
        let payload = token.split('.').nth(1).unwrap();
        assert!(!log.contains(payload), "a token leaked into the log");
    }
    assert!(!log.contains(SECRET), "the secret leaked into the log");
    assert!(log.contains("\"id\":"), "log lines carry the request id");
}

#[tokio::test]
async fn a_state_of_one_tenant_is_refused_with_another_tenants_token() {
    let app = spawn_app_with(|c| {
        let mut b = c.tenants[0].clone();
        b.issuer = "beta.eu.auth0.test".into();
        c.tenants.push(b);
    })
    .await;
    let state = random_state();
    let beta = with(claims(), "iss", json!("beta.eu.auth0.test"));
    assert_eq!(
        app.prompt(&state, &mint(&beta, SECRET)).await.status,
        StatusCode::SEE_OTHER
    );
    let replay = app.prompt(&state, &mint(&claims(), SECRET)).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT COUNT(*) FROM detours").await, 1);
}

#[tokio::test]
async fn hostile_claims_labels_and_answers_render_as_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.yaml"),
        "id: xss\ntitle: XSS\nfields:\n  - { name: nick, type: text, default_from: nickname, max_length: 200 }\n  - { name: code, type: text, pattern: \"[0-9]+\" }\npresentation:\n  text:\n    en:\n      title: \"<script>alert(1)</script> Hello\"\n      intro: \"\\\"><img src=x onerror=alert(2)>\"\n      submit: Save\n      fields:\n        nick: { label: \"<b>Nick</b>\", help: \"javascript:alert(3)\" }\n        code: { label: Code }\n",
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| c.campaigns_dir = path).await;
    let evil = "\"><script>alert(4)</script>\u{202e}gnp.exe";
    let (_, form) = app
        .login(&auth0_claims("auth0|x", json!({"nickname": evil})))
        .await;
    assert!(!form.html.contains("<script>alert"), "{}", form.html);
    assert!(!form.html.contains("<img src=x"));
    assert!(!form.html.contains("<b>Nick</b>"));
    assert!(
        form.html
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; Hello")
    );
    assert_eq!(
        form.h1(),
        "<script>alert(1)</script> Hello",
        "shown as text"
    );
    assert_eq!(
        form.input_value("nick").as_deref(),
        Some(evil),
        "the value is kept, as text"
    );
    let again = app
        .answer(
            &form,
            "submit",
            &[("nick", evil), ("code", "<svg onload=alert(5)>")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!again.html.contains("<svg onload"));
    assert_eq!(
        again.input_value("code").as_deref(),
        Some("<svg onload=alert(5)>")
    );
}

#[tokio::test]
async fn cookies_are_http_only_lax_and_secure_on_https() {
    let app = spawn_app_with(|c| c.public_url = "https://detour.acme.test".into()).await;
    let r = app.prompt(&random_state(), &mint(&claims(), SECRET)).await;
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-interlude="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    let plain = spawn_app().await;
    let r = plain
        .prompt(&random_state(), &mint(&claims(), SECRET))
        .await;
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(
        !cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "http in dev/tests: {cookie}"
    );
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let (action, _) = form.form();
    let big = "x".repeat(70 * 1024);
    let page = app
        .post_form(
            &action,
            &[
                ("_csrf", &form.csrf()),
                ("given_name", &big),
                ("family_name", "y"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Under the body cap but over the field's own cap (100): a message, not a write.
    let long = "x".repeat(101);
    let page = app
        .answer(
            &form,
            "submit",
            &[("given_name", &long), ("family_name", "y")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("given_name").as_deref(),
        Some("Please enter at most 100 characters.")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);
}

#[tokio::test]
async fn clients_over_the_rate_get_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.rate_limit_per_minute = 60;
        c.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/p/0123456789abcdef0123456789abcdef").await);
    }
    let codes: Vec<u16> = statuses.iter().map(|p| p.status.as_u16()).collect();
    assert_eq!(codes, [404, 404, 404, 429, 429]);
    let retry: u64 = statuses[3].headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Health checks and static files are not limited.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let admin = app
        .client
        .get(format!("{}/admin/api/prompts", app.base))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "admin guessing is limited too"
    );
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let (_, form) = app.login(&claims()).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "A"), ("family_name", "B")],
        )
        .await;
    let refused = app.prompt(&random_state(), "nope").await;
    for page in [&form, &done, &refused] {
        let h = &page.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'nonce-",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{part} missing in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    }
}

#[tokio::test]
async fn every_response_names_its_request_with_a_fresh_uuid_or_the_one_it_was_given() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for path in ["/healthz", "/healthz", "/p/nope", "/no-such-page"] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4, "{id} is not a random UUID");
        assert_eq!(
            parsed.hyphenated().to_string(),
            id,
            "{id} is not lower-case hyphenated"
        );
        assert!(seen.insert(id.clone()), "{id} was given twice");
    }
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "from-the-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "from-the-proxy-42");
}
