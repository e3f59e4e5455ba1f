//! What answers yield, checked against real local peers: webhook receivers, Auth0's
//! Management API, coupon pools under concurrency, consent history.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{patch, post};
use hmac::{Hmac, Mac};
use interlude::config::Management;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use tempfile::TempDir;

use crate::helpers::*;

const WEBHOOK_SECRET: &str = "webhook-secret-webhook-secret-0123456789";

/// A campaigns folder holding `files` (name, YAML).
fn campaigns(files: &[(&str, String)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn simple_campaign(id: &str, outcome: &str) -> String {
    format!(
        "id: {id}\ntitle: {id}\nfields:\n  - {{ name: nickname, type: text }}\npresentation:\n  text:\n    en: {{ title: Hello, submit: Save, fields: {{ nickname: {{ label: Nickname }} }} }}\noutcome:\n{outcome}"
    )
}

/// A receiver that answers 500 to the first `fail_first` requests, then 200.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail_first: usize,
    seen: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> AxumStatus {
    let n = r.seen.fetch_add(1, Ordering::SeqCst);
    r.calls.lock().unwrap().push((headers, body));
    if n < r.fail_first {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

async fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
}

async fn spawn_receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver {
        fail_first,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    serve_on(
        listener,
        axum::Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone()),
    )
    .await;
    (url, r)
}

async fn wait_until(mut check: impl AsyncFnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn fast_outbox(c: &mut interlude::config::Config) {
    c.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
    c.outbox_poll_ms = 20;
    c.outbox_backoff_ms = 50;
}

fn verify_signature(headers: &HeaderMap, body: &str) {
    let sig = headers["interlude-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "the HMAC signature verifies");
}

#[tokio::test]
async fn a_webhook_that_fails_three_times_gets_the_event_exactly_once_more() {
    let (url, receiver) = spawn_receiver(3).await;
    let dir = campaigns(&[(
        "hooked.yaml",
        simple_campaign(
            "hooked",
            &format!("  claims: [nickname]\n  webhooks: [\"{url}\"]\n"),
        ),
    )]);
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| {
        c.campaigns_dir = path;
        fast_outbox(c);
    })
    .await;
    let (state, form) = app.login(&auth0_claims("auth0|wh", json!({}))).await;
    let done = app.answer(&form, "submit", &[("nickname", "hooky")]).await;
    app.finish(&done, &state).await;

    wait_until(
        async || receiver.seen.load(Ordering::SeqCst) >= 4,
        "the fourth attempt",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let calls = receiver.calls.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        4,
        "three failures and one success, then nothing more"
    );
    let keys: Vec<&str> = calls
        .iter()
        .map(|(h, _)| h["idempotency-key"].to_str().unwrap())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one idempotency key: {keys:?}"
    );
    let (headers, body) = &calls[3];
    verify_signature(headers, body);
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["id"], json!(keys[0]));
    assert_eq!(event["type"], json!("prompt.finished"));
    assert_eq!(event["campaign"], json!("hooked"));
    assert_eq!(event["outcome"], json!("completed"));
    assert_eq!(event["subject"], json!("auth0|wh"));
    assert_eq!(event["answers"], json!({"nickname": "hooky"}));
    let pool = app.db().await;
    let (attempts, delivered): (i64, Option<i64>) =
        sqlx::query_as("SELECT attempts, delivered_at FROM outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 4);
    assert!(delivered.is_some());
}

#[tokio::test]
async fn undelivered_events_are_delivered_after_a_restart() {
    // A port with nothing listening yet: deliveries fail until the receiver starts.
    let parked = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = parked.local_addr().unwrap();
    drop(parked);
    let url = format!("http://{addr}/hook");
    let dir = campaigns(&[(
        "hooked.yaml",
        simple_campaign("hooked", &format!("  webhooks: [\"{url}\"]\n")),
    )]);
    let path = dir.path().to_path_buf();
    let config = {
        let path = path.clone();
        move |c: &mut interlude::config::Config| {
            c.campaigns_dir = path.clone();
            fast_outbox(c);
            c.outbox_backoff_ms = 200;
        }
    };
    let first = spawn_app_with(config.clone()).await;
    let (_, form) = first.login(&auth0_claims("auth0|rs", json!({}))).await;
    first
        .answer(&form, "submit", &[("nickname", "restart")])
        .await;
    // A failed attempt, recorded: the claim (attempts + 1) leases the row for a minute, and
    // only the recorded failure releases it. Stopped between the two, the lease would hold
    // the row from the second instance for longer than this test waits.
    wait_until(
        async || {
            first
                .count(
                    "SELECT COUNT(*) FROM outbox WHERE attempts >= 1 AND delivered_at IS NULL
                       AND locked_until IS NULL AND last_error IS NOT NULL",
                )
                .await
                == 1
        },
        "a failed attempt",
    )
    .await;
    let folder = first.stop().await;

    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    serve_on(
        listener,
        axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone()),
    )
    .await;
    let second = spawn_app_in(folder, config).await;
    wait_until(
        async || receiver.seen.load(Ordering::SeqCst) >= 1,
        "delivery after the restart",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        second
            .count("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL")
            .await,
        1
    );
}

/// Auth0's Management API: a token endpoint and PATCH /api/v2/users/{id}.
#[derive(Clone, Default)]
struct Mgmt {
    token_requests: Arc<Mutex<Vec<Value>>>,
    patches: Arc<Mutex<Vec<(String, String, Value)>>>,
    fail: bool,
}

async fn mgmt_token(
    State(m): State<Mgmt>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    m.token_requests.lock().unwrap().push(body);
    axum::Json(json!({"access_token": "mgmt-token-1", "token_type": "Bearer", "expires_in": 86400}))
}

async fn mgmt_patch(
    State(m): State<Mgmt>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> AxumStatus {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    m.patches.lock().unwrap().push((id, auth, body));
    if m.fail {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

async fn spawn_mgmt(fail: bool) -> (String, Mgmt) {
    let m = Mgmt {
        fail,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/oauth/token", post(mgmt_token))
        .route("/api/v2/users/{id}", patch(mgmt_patch))
        .with_state(m.clone());
    serve_on(listener, router).await;
    (base, m)
}

fn with_mgmt(base: String) -> impl FnOnce(&mut interlude::config::Config) {
    move |c| {
        fast_outbox(c);
        c.outbox_max_attempts = 2;
        c.tenants[0].management = Some(Management {
            base_url: base.clone(),
            client_id: "m2m-client".into(),
            client_secret: SecretString::from("m2m-secret"),
            audience: format!("https://{ISSUER}/api/v2/"),
        });
    }
}

#[tokio::test]
async fn profile_answers_are_written_back_through_the_management_api() {
    let (base, mgmt) = spawn_mgmt(false).await;
    let app = spawn_app_with(with_mgmt(base)).await;
    for (sub, given) in [("auth0|pa", "Pat"), ("auth0|qi", "Qi")] {
        let claims = auth0_claims(sub, json!({"logins_count": 2, "campaign": "profile-name"}));
        let (state, form) = app.login(&claims).await;
        let done = app
            .answer(
                &form,
                "submit",
                &[("given_name", given), ("family_name", "Smith")],
            )
            .await;
        // The user's return does not wait for the write-back.
        app.finish(&done, &state).await;
    }
    wait_until(
        async || mgmt.patches.lock().unwrap().len() >= 2,
        "both PATCHes",
    )
    .await;
    let patches = mgmt.patches.lock().unwrap().clone();
    let pa = patches
        .iter()
        .find(|(id, _, _)| id == "auth0|pa")
        .expect("the user id, decoded from the path");
    assert_eq!(pa.1, "Bearer mgmt-token-1");
    assert_eq!(
        pa.2,
        json!({"user_metadata": {"given_name": "Pat", "family_name": "Smith"}})
    );
    let tokens = mgmt.token_requests.lock().unwrap().clone();
    assert_eq!(tokens.len(), 1, "the token is cached until it expires");
    assert_eq!(tokens[0]["grant_type"], json!("client_credentials"));
    assert_eq!(tokens[0]["client_id"], json!("m2m-client"));
    assert_eq!(
        tokens[0]["audience"],
        json!(format!("https://{ISSUER}/api/v2/"))
    );
}

#[tokio::test]
async fn failed_write_backs_are_retried_then_recorded_as_failed() {
    let (base, mgmt) = spawn_mgmt(true).await;
    let app = spawn_app_with(with_mgmt(base)).await;
    let claims = auth0_claims(
        "auth0|fw",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let (state, form) = app.login(&claims).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Fay"), ("family_name", "Wu")],
        )
        .await;
    assert_eq!(
        app.finish(&done, &state).await["outcome"],
        json!("completed")
    );
    wait_until(
        async || {
            app.count("SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL")
                .await
                == 1
        },
        "the delivery to be given up",
    )
    .await;
    assert_eq!(mgmt.patches.lock().unwrap().len(), 2, "max_attempts = 2");
    let pool = app.db().await;
    let error: String = sqlx::query_scalar("SELECT last_error FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(error, "HTTP 500");
}

fn pool_campaign(on_exhausted: &str) -> String {
    format!(
        "id: pooled\ntitle: Pooled\nfields: []\npresentation:\n  text:\n    en: {{ title: A gift, submit: Get it }}\noutcome:\n  coupon:\n    pool: codes.csv\n    on_exhausted: {on_exhausted}\n"
    )
}

async fn pooled_app(codes: usize, on_exhausted: &str) -> (TestApp, TempDir) {
    let csv: String = std::iter::once("code\n".to_owned())
        .chain((0..codes).map(|i| format!("POOL-{i:04}\n")))
        .collect();
    let dir = campaigns(&[("pooled.yaml", pool_campaign(on_exhausted))]);
    std::fs::write(dir.path().join("codes.csv"), csv).unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| c.campaigns_dir = path).await;
    (app, dir)
}

/// Opens `per_user` detours for each of `users` users, then submits them all at once.
async fn concurrent_coupons(app: &TestApp, users: usize, per_user: usize) -> Vec<(String, Value)> {
    let mut forms = Vec::new();
    for u in 0..users {
        for _ in 0..per_user {
            let sub = format!("auth0|user-{u}");
            let (state, form) = app.login(&auth0_claims(&sub, json!({}))).await;
            assert_eq!(form.h1(), "A gift");
            forms.push((sub, state, form));
        }
    }
    let submissions = forms.iter().map(|(sub, state, form)| async move {
        let done = app.answer(form, "submit", &[]).await;
        let (_, hidden) = done.form();
        let token = hidden
            .iter()
            .find(|(k, _)| k == "session_token")
            .unwrap()
            .1
            .clone();
        (
            sub.clone(),
            serde_json::Value::Object(validate_token(&token, SECRET, state)),
        )
    });
    futures::future::join_all(submissions).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_submissions_for_ten_users_hand_out_ten_codes() {
    let (app, _dir) = pooled_app(100, "skip").await;
    let results = concurrent_coupons(&app, 10, 5).await;
    assert_eq!(results.len(), 50);
    let mut per_user: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (sub, token) in &results {
        let code = token["coupon"]["code"]
            .as_str()
            .expect("every submission shows a code")
            .to_owned();
        per_user.entry(sub.clone()).or_default().insert(code);
    }
    assert_eq!(per_user.len(), 10);
    assert!(
        per_user.values().all(|codes| codes.len() == 1),
        "one code per user: {per_user:?}"
    );
    let distinct: std::collections::BTreeSet<&String> = per_user.values().flatten().collect();
    assert_eq!(distinct.len(), 10, "no code given to two users");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM coupon_codes WHERE subject IS NOT NULL")
            .await,
        10
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM coupon_codes WHERE subject IS NULL")
            .await,
        90
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_five_for_ten_users_gives_five_codes_and_five_handled_exhaustions() {
    let (app, _dir) = pooled_app(5, "message").await;
    let results = concurrent_coupons(&app, 10, 1).await;
    let codes: Vec<&str> = results
        .iter()
        .filter_map(|(_, t)| t["coupon"]["code"].as_str())
        .collect();
    let exhausted = results
        .iter()
        .filter(|(_, t)| t["coupon_exhausted"] == json!(true))
        .count();
    assert_eq!(codes.len(), 5);
    assert_eq!(exhausted, 5);
    assert!(
        results
            .iter()
            .all(|(_, t)| t["outcome"] == json!("completed")),
        "never an error"
    );

    // With `skip`, an empty pool means the campaign does not fire.
    let (skipping, _dir) = pooled_app(0, "skip").await;
    let (state, back) = skipping.login(&auth0_claims("auth0|late", json!({}))).await;
    assert_eq!(
        skipping.finish(&back, &state).await["outcome"],
        json!("none")
    );
}

#[tokio::test]
async fn pattern_coupons_are_revealed_and_the_same_user_gets_the_same_code() {
    let dir = campaigns(&[(
        "gift.yaml",
        "id: gift\ntitle: Gift\nfields: []\npresentation:\n  text:\n    en: { title: A gift, submit: Get it, thanks: Here it is. }\noutcome:\n  coupon: { pattern: \"GIFT-{XXXX}-{XXXX}\", expires_after: 30d }\n".to_owned(),
    )]);
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| c.campaigns_dir = path).await;
    let (state, form) = app.login(&auth0_claims("auth0|gi", json!({}))).await;
    let reveal = app.answer(&form, "submit", &[]).await;
    let shown = reveal.text_of("#coupon-code").expect("the code is shown");
    assert!(shown.starts_with("GIFT-") && shown.len() == 14, "{shown}");
    assert!(
        !reveal.html.contains(".submit()"),
        "no auto-submit: the user reads the code first"
    );
    assert!(reveal.text_of("#copy-coupon").is_some(), "a copy button");
    let token = app.finish(&reveal, &state).await;
    assert_eq!(token["coupon"]["code"], json!(shown));
    assert!(
        token["coupon"]["expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let (_, again) = app.login(&auth0_claims("auth0|gi", json!({}))).await;
    let second = app.answer(&again, "submit", &[]).await;
    assert_eq!(
        second.text_of("#coupon-code"),
        Some(shown),
        "a returning user gets the same code"
    );
}

#[tokio::test]
async fn the_import_command_is_idempotent() {
    let (app, dir) = pooled_app(3, "skip").await;
    let extra = dir.path().join("more.csv");
    std::fs::write(&extra, "POOL-0000\nNEW-1\nNEW-2\n").unwrap();
    let db = format!("sqlite://{}", app.db_path.display());
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_interlude"))
            .args([
                "coupons",
                "import",
                "pooled",
                extra.to_str().unwrap(),
                "--database-url",
                &db,
                "--campaigns",
                dir.path().to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "2 new codes imported for pooled (1 already present)\n"
    );
    let second = run();
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "0 new codes imported for pooled (3 already present)\n"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM coupon_codes").await, 5);
}

#[tokio::test]
async fn consent_is_append_only_and_can_be_withdrawn_as_easily_as_given() {
    let manage = "id: prefs\ntitle: Preferences\nfields:\n  - { name: news, type: checkbox }\npresentation:\n  text:\n    en: { title: Your choices, submit: Save, fields: { news: { label: Send me news, help: Monthly. } } }\noutcome:\n  consent:\n    controller: Example Corp\n    manage: true\n    purposes: [{ purpose: newsletter, field: news, text_version: \"3\" }]\n";
    let dir = campaigns(&[("prefs.yaml", manage.to_owned())]);
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| c.campaigns_dir = path).await;
    let user = auth0_claims("auth0|co", json!({}));

    let (_, first) = app.login(&user).await;
    assert!(
        !first.html.contains(" checked"),
        "nothing given yet, nothing ticked"
    );
    app.answer(&first, "submit", &[("news", "on")]).await;

    let (_, second) = app.login(&user).await;
    assert!(
        second.html.contains(" checked"),
        "the preferences page shows the current choice"
    );
    app.answer(&second, "submit", &[]).await; // unticked: withdrawn

    let pool = app.db().await;
    let rows: Vec<(String, bool, String)> = sqlx::query_as(
        "SELECT purpose, granted, text_version FROM consents WHERE subject = 'auth0|co' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("newsletter".into(), true, "3".into()),
            ("newsletter".into(), false, "3".into())
        ]
    );
    let mut conn = pool.acquire().await.unwrap();
    let current = interlude::store::consents::current(&mut conn, ISSUER, "auth0|co")
        .await
        .unwrap();
    assert_eq!(current.len(), 1);
    assert!(
        !current[0].granted,
        "the newest answer is the current state"
    );
    let (text, sha): (String, String) = sqlx::query_as("SELECT text, sha256 FROM consent_texts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        text, "Example Corp\nSend me news\nMonthly.",
        "the exact words shown are kept"
    );
    assert_eq!(sha.len(), 64);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM consent_texts").await,
        1,
        "stored once"
    );
}

#[tokio::test]
async fn a_tos_version_bump_re_prompts_users_who_accepted_the_old_one() {
    let tos = |v: &str| {
        format!(
            "id: tos-v{v}\ntitle: ToS {v}\nversion: {v}\npriority: {v}\ntrigger:\n  not: {{ tos_accepted: {{ document: terms, version: \"{v}\" }} }}\nfields:\n  - {{ name: accept, type: checkbox, required: true }}\npresentation:\n  text:\n    en: {{ title: Terms {v}, submit: Accept, decline: No, fields: {{ accept: {{ label: I accept }} }} }}\noutcome:\n  allow_decline: true\n  tos: {{ version: \"{v}\", url: \"https://example.com/terms/{v}\", field: accept }}\n"
        )
    };
    let dir = campaigns(&[("tos.yaml", tos("2"))]);
    let path = dir.path().to_path_buf();
    let user = auth0_claims("auth0|tb", json!({}));
    let app = spawn_app_with(|c| c.campaigns_dir = path.clone()).await;
    let (_, form) = app.login(&user).await;
    app.answer(&form, "submit", &[("accept", "on")]).await;
    let (state, back) = app.login(&user).await;
    assert_eq!(
        app.finish(&back, &state).await["outcome"],
        json!("none"),
        "v2 accepted: no prompt"
    );
    let folder = app.stop().await;

    // The marketer publishes v3.
    std::fs::write(path.join("tos.yaml"), tos("3")).unwrap();
    let app = spawn_app_in(folder, |c| c.campaigns_dir = path.clone()).await;
    let (state, form) = app.login(&user).await;
    assert_eq!(form.h1(), "Terms 3");
    let declined = app.answer(&form, "decline", &[]).await;
    let token = app.finish(&declined, &state).await;
    assert_eq!(token["outcome"], json!("declined"));
    assert_eq!(
        token["tos"],
        json!({"document": "terms", "version": "3", "accepted": false})
    );
}

#[tokio::test]
async fn webhooks_without_a_signing_secret_refuse_to_start() {
    let dir = campaigns(&[(
        "hooked.yaml",
        simple_campaign("hooked", "  webhooks: [\"https://cdp.example.com/hook\"]\n"),
    )]);
    let db = tempfile::tempdir().unwrap();
    let idp_url = "https://acme.eu.auth0.test/continue";
    let mut config = interlude::config::Config::load(
        None,
        false,
        &[
            ("INTERLUDE_ISSUER", ISSUER),
            ("INTERLUDE_SECRET", SECRET),
            (
                "INTERLUDE_DATABASE_URL",
                &format!("sqlite://{}", db.path().join("x.db").display()),
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<std::collections::BTreeMap<_, _>>(),
    )
    .unwrap();
    config.campaigns_dir = dir.path().to_path_buf();
    assert_eq!(config.tenants[0].continue_url, idp_url);
    let err = interlude::state::AppState::new(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("INTERLUDE_WEBHOOK_SECRET") && err.contains("hooked"),
        "{err}"
    );
}
