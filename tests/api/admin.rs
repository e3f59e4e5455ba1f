//! The admin audit API and operations: auth, filters, pagination under concurrent inserts,
//! CSV, the data-subject view and erasure, OpenAPI, /metrics, /readyz, reload, shutdown.

use std::time::Duration;

use interlude::config::AdminToken;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";
const READER: &str = "reader-token-0123456789abcdef0123456789abcdef";

fn tokens(c: &mut interlude::config::Config) {
    c.admin_tokens = vec![
        AdminToken {
            name: "ops".into(),
            sha256: Sha256::digest(ADMIN).into(),
            read_only: false,
        },
        AdminToken {
            name: "audit".into(),
            sha256: Sha256::digest(READER).into(),
            read_only: true,
        },
    ];
}

async fn admin_app() -> TestApp {
    spawn_app_with(tokens).await
}

impl TestApp {
    async fn admin(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn admin_text(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        (r.status(), r.headers().clone(), r.text().await.unwrap())
    }
}

/// Completes profile-name for `sub`.
async fn answer_name(app: &TestApp, sub: &str) {
    let claims = auth0_claims(sub, json!({"logins_count": 2, "campaign": "profile-name"}));
    let (state, form) = app.login(&claims).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "A"), ("family_name", "B")],
        )
        .await;
    app.finish(&done, &state).await;
}

#[tokio::test]
async fn the_admin_api_refuses_missing_wrong_and_read_only_writes() {
    let app = admin_app().await;
    let url = format!("{}/admin/api/prompts", app.base);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"interlude-admin\""
    );
    assert_eq!(
        none.json::<Value>().await.unwrap(),
        json!({"error": "a bearer token is required"})
    );
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("admin-token-0123456789abcdef0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let basic = app
        .client
        .get(&url)
        .basic_auth("admin", Some(ADMIN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let reader = app
        .client
        .get(&url)
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), StatusCode::OK);
    let erase = app
        .client
        .delete(format!("{}/admin/api/subjects/auth0%7Cx", app.base))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(erase.status(), StatusCode::FORBIDDEN);

    // No tokens configured: nothing gets in.
    let closed = spawn_app().await;
    let r = closed
        .client
        .get(format!("{}/admin/api/prompts", closed.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn prompts_filter_by_subject_campaign_status_and_time() {
    let app = admin_app().await;
    answer_name(&app, "auth0|f1").await;
    answer_name(&app, "auth0|f2").await;
    let pending = auth0_claims(
        "auth0|f3",
        json!({"logins_count": 3, "campaign": "marketing-consent"}),
    );
    app.login(&pending).await;

    let (status, all) = app.admin("/admin/api/prompts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &all["items"][0];
    assert_eq!(first["subject"], json!("auth0|f3"), "newest first");
    assert!(
        first["shown_at"].as_str().unwrap().ends_with('Z'),
        "times are RFC 3339"
    );
    assert!(first.get("csrf_token").is_none() && first.get("browser_hash").is_none());

    let (_, by_subject) = app.admin("/admin/api/prompts?subject=auth0%7Cf1").await;
    assert_eq!(by_subject["items"].as_array().unwrap().len(), 1);
    let (_, by_campaign) = app
        .admin("/admin/api/prompts?campaign=marketing-consent")
        .await;
    assert_eq!(by_campaign["items"][0]["status"], json!("pending"));
    let (_, completed) = app.admin("/admin/api/prompts?status=completed").await;
    assert_eq!(completed["items"].as_array().unwrap().len(), 2);
    let (_, future) = app
        .admin("/admin/api/prompts?from=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["items"], json!([]));
    let (_, past) = app
        .admin("/admin/api/prompts?until=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(past["items"], json!([]));
    let (bad, msg) = app.admin("/admin/api/prompts?from=yesterday").await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    assert_eq!(msg["error"], json!("`from` must be an RFC 3339 time"));
    let (bad, _) = app.admin("/admin/api/prompts?limit=0").await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    let (bad, _) = app.admin("/admin/api/prompts?sort=evil").await;
    assert_eq!(
        bad,
        StatusCode::BAD_REQUEST,
        "unknown parameters are refused"
    );

    let (_, responses) = app.admin("/admin/api/responses?outcome=completed").await;
    assert_eq!(responses["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        responses["items"][0]["answers"],
        json!({"given_name": "A", "family_name": "B"})
    );
}

#[tokio::test]
async fn pagination_is_stable_while_rows_are_inserted() {
    let app = admin_app().await;
    for i in 0..7 {
        app.login(&auth0_claims(
            &format!("auth0|p{i}"),
            json!({"logins_count": 2, "campaign": "profile-name"}),
        ))
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/api/prompts?limit=2&cursor={c}"),
            None => "/admin/api/prompts?limit=2".to_owned(),
        };
        let (status, page) = app.admin(&path).await;
        assert_eq!(status, StatusCode::OK);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["subject"].as_str().unwrap().to_owned());
        }
        pages += 1;
        // New logins arrive while the auditor pages through.
        app.login(&auth0_claims(
            &format!("auth0|new{pages}"),
            json!({"logins_count": 2, "campaign": "profile-name"}),
        ))
        .await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..7).map(|i| format!("auth0|p{i}")).collect();
    expected.reverse();
    assert_eq!(
        seen, expected,
        "every row once, newest first, none of the later inserts"
    );
    assert_eq!(pages, 4);
    let (bad, _) = app.admin("/admin/api/prompts?cursor=not-a-cursor").await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_list_exports_csv_with_headers() {
    let app = admin_app().await;
    answer_name(&app, "auth0|csv").await;
    let (status, headers, body) = app.admin_text("/admin/api/prompts?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,campaign,campaign_version,subject,issuer,status,locale,shown_at,finished_at,ip,user_agent"
        )
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(",profile-name,1,auth0|csv,acme.eu.auth0.test,completed,en,"),
        "{row}"
    );
    assert_eq!(lines.next(), None);
    let (_, _, responses) = app.admin_text("/admin/api/responses?format=csv").await;
    assert!(responses.starts_with("prompt_id,campaign,campaign_version,subject,issuer,outcome,answers,outcome_claims,created_at\n"));
    assert!(
        responses.contains("\"{\"\"given_name\"\":\"\"A\"\",\"\"family_name\"\":\"\"B\"\"}\""),
        "{responses}"
    );
    for list in ["consents", "tos", "coupons", "deliveries", "campaigns"] {
        let (status, headers, _) = app
            .admin_text(&format!("/admin/api/{list}?format=csv"))
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8", "{list}");
    }
    let (_, _, campaigns) = app.admin_text("/admin/api/campaigns?format=csv").await;
    assert!(campaigns.starts_with("id,title,version,priority,enabled,file,shown,completed,skipped,declined,expired,pending,conversion_rate\n"));
}

#[tokio::test]
async fn consents_tos_coupons_and_campaign_counts_are_listed() {
    let app = admin_app().await;
    let c = auth0_claims(
        "auth0|aud",
        json!({"logins_count": 3, "campaign": "marketing-consent"}),
    );
    let (_, form) = app.login(&c).await;
    app.answer(&form, "submit", &[("marketing_email", "on")])
        .await;
    let t = auth0_claims("auth0|aud", json!({"campaign": "tos-v2"}));
    let (_, form) = app.login(&t).await;
    app.answer(&form, "submit", &[("accept_terms", "on")]).await;
    let w = auth0_claims(
        "auth0|aud",
        json!({"campaign": "welcome-coupon", "email_verified": true}),
    );
    let (_, form) = app.login(&w).await;
    app.answer(&form, "submit", &[]).await;
    let skip = auth0_claims(
        "auth0|sk",
        json!({"logins_count": 2, "campaign": "profile-job"}),
    );
    let (_, form) = app.login(&skip).await;
    app.answer(&form, "skip", &[]).await;

    let (_, consents) = app
        .admin("/admin/api/consents?subject=auth0%7Caud&purpose=marketing_email")
        .await;
    let item = &consents["items"][0];
    assert_eq!(item["granted"], json!(true));
    assert_eq!(item["text_version"], json!("2026-11"));
    assert!(
        item["text"]
            .as_str()
            .unwrap()
            .contains("Send me offers and news by e-mail")
    );
    let (_, current) = app
        .admin("/admin/api/consents/current?subject=auth0%7Caud")
        .await;
    assert_eq!(current["items"].as_array().unwrap().len(), 2);
    let (_, tos) = app.admin("/admin/api/tos?document=terms&version=2").await;
    assert_eq!(tos["items"][0]["subject"], json!("auth0|aud"));
    let (_, coupons) = app
        .admin("/admin/api/coupons?campaign=welcome-coupon")
        .await;
    assert!(
        coupons["items"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("WELCOME-")
    );
    let (_, summary) = app.admin("/admin/api/coupons/summary").await;
    assert_eq!(
        summary["items"],
        json!([{"campaign": "welcome-coupon", "source": "pattern", "assigned": 1, "free": null, "cap": null, "exhausted": false}])
    );
    let (_, campaigns) = app.admin("/admin/api/campaigns").await;
    let job = campaigns["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "profile-job")
        .unwrap();
    assert_eq!(job["shown"], json!(1));
    assert_eq!(job["skipped"], json!(1));
    assert_eq!(job["conversion_rate"], json!(0.0));
    let consent = campaigns["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "marketing-consent")
        .unwrap();
    assert_eq!(consent["conversion_rate"], json!(1.0));
    assert!(
        consent["file"]
            .as_str()
            .unwrap()
            .ends_with("marketing-consent.yaml")
    );
    assert_eq!(campaigns["reload"]["ok"], json!(true));
    let (_, deliveries) = app.admin("/admin/api/deliveries?status=pending").await;
    assert_eq!(
        deliveries["items"],
        json!([]),
        "no webhooks configured in the examples"
    );
}

#[tokio::test]
async fn a_subject_can_be_viewed_whole_and_erased() {
    for keep in [true, false] {
        let app = spawn_app_with(|c| {
            tokens(c);
            c.erasure_keeps_consent_proof = keep;
        })
        .await;
        let c = auth0_claims(
            "auth0|gdpr",
            json!({"logins_count": 3, "campaign": "marketing-consent", "email": "g@example.com"}),
        );
        let (_, form) = app.login(&c).await;
        app.answer(&form, "submit", &[("product_updates", "on")])
            .await;
        answer_name(&app, "auth0|gdpr").await;
        answer_name(&app, "auth0|other").await;

        let (status, view) = app.admin("/admin/api/subjects/auth0%7Cgdpr").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["prompts"].as_array().unwrap().len(), 2);
        assert_eq!(view["responses"].as_array().unwrap().len(), 2);
        assert_eq!(view["consents"].as_array().unwrap().len(), 2);
        assert_eq!(view["consents_current"].as_array().unwrap().len(), 2);

        let r = app
            .client
            .delete(format!("{}/admin/api/subjects/auth0%7Cgdpr", app.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["erased"]["responses"], json!(2));
        assert_eq!(body["consent_proof_kept"], json!(keep));

        let (_, after) = app.admin("/admin/api/subjects/auth0%7Cgdpr").await;
        assert_eq!(after["responses"], json!([]));
        assert!(
            after["prompts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["ip"].is_null())
        );
        if keep {
            assert_eq!(after["consents"].as_array().unwrap().len(), 2, "proof kept");
            assert!(after["consents"][0]["ip"].is_null(), "without IP");
        } else {
            assert_eq!(after["consents"], json!([]));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM detours WHERE subject = 'auth0|gdpr' AND claims LIKE '%g@example.com%'").await, 0);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM responses WHERE subject = 'auth0|other'")
                .await,
            1,
            "others untouched"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = admin_app().await;
    let (status, doc) = app.admin("/admin/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routed: Vec<&str> = interlude::web::admin::ROUTES
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(documented, routed);
    for (path, methods) in interlude::web::admin::ROUTES {
        let documented_methods: Vec<&str> = doc["paths"][path]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            documented_methods,
            methods.split(',').collect::<Vec<_>>(),
            "{path}"
        );
        // Every documented route answers (here: GET with a valid token, not 404/405).
        let concrete = path.replace("{subject}", "auth0%7Cnobody");
        let url = format!("{}{concrete}", app.base);
        let mut r = app.client.get(&url).bearer_auth(ADMIN);
        if path.ends_with("/current") {
            r = app
                .client
                .get(format!("{url}?subject=x"))
                .bearer_auth(ADMIN);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let anonymous = app.client.get(&url).send().await.unwrap();
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{path} needs a token"
        );
    }
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn probe_campaigns() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("probe.yaml"),
        "id: metrics-probe\ntitle: Probe\nfields: [{ name: x, type: text }]\npresentation:\n  text:\n    en: { title: Probe, submit: Go, skip: Later, fields: { x: { label: X } } }\noutcome:\n  allow_skip: true\n",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let dir = probe_campaigns();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| c.campaigns_dir = path).await;
    let before = app.get("/metrics").await.html;
    let refusals_before = metric(
        &before,
        "interlude_token_refusals_total{reason=\"signature\"}",
    );
    let written_before = metric(&before, "interlude_store_batch_transactions_sum");

    for (i, action) in ["submit", "submit", "skip"].iter().enumerate() {
        let (_, form) = app
            .login(&auth0_claims(&format!("auth0|m{i}"), json!({})))
            .await;
        app.answer(&form, action, &[("x", "y")]).await;
    }
    app.prompt(
        &random_state(),
        &mint(
            &auth0_claims("auth0|m", json!({})),
            "wrong-secret-wrong-secret-wrong-secret",
        ),
    )
    .await;

    let page = app.get("/metrics").await;
    assert_eq!(
        page.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = page.html;
    // Three logins and three answers are six write transactions, each in one commit (other
    // tests of this process may have shared the batches).
    assert!(
        metric(&text, "interlude_store_batch_transactions_sum") >= written_before + 6.0,
        "{text}"
    );
    assert!(metric(&text, "interlude_store_commit_seconds_count") >= 1.0);
    assert_eq!(
        metric(
            &text,
            "interlude_prompts_total{campaign=\"metrics-probe\",outcome=\"shown\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "interlude_prompts_total{campaign=\"metrics-probe\",outcome=\"completed\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "interlude_prompts_total{campaign=\"metrics-probe\",outcome=\"skipped\"}"
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "interlude_token_refusals_total{reason=\"signature\"}"
        ) >= refusals_before + 1.0
    );
    assert!(
        metric(
            &text,
            "interlude_http_requests_total{route=\"/p/{id}\",status=\"200\"}"
        ) >= 3.0
    );
    assert!(
        text.contains("interlude_http_request_duration_seconds_bucket{route=\"/prompt\""),
        "latency histogram"
    );
    assert!(
        text.contains("interlude_outbox_backlog"),
        "outbox backlog gauge"
    );
    assert!(!text.contains("auth0|"), "no user ids in metrics");
}

#[tokio::test]
async fn readyz_reports_the_database_and_the_campaigns() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.html, "ok");
    let r = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], json!(true));
    assert_eq!(body["database"], json!(true));
    assert_eq!(body["campaigns"]["serving"], json!(5));
}

fn versioned(version: u32, field: &str) -> String {
    format!(
        "id: live\ntitle: Live\nversion: {version}\nfields: [{{ name: {field}, type: text, required: true }}]\npresentation:\n  text:\n    en: {{ title: Version {version}, submit: Go, fields: {{ {field}: {{ label: F }} }} }}\noutcome:\n  claims: [{field}]\n"
    )
}

#[tokio::test]
async fn campaigns_reload_when_the_folder_changes_and_bad_sets_are_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.yaml");
    std::fs::write(&file, versioned(1, "colour")).unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_app_with(|c| {
        tokens(c);
        c.campaigns_dir = path;
        c.reload_poll_ms = 50;
    })
    .await;
    let user = |n: &str| auth0_claims(&format!("auth0|{n}"), json!({}));
    let (state, in_flight) = app.login(&user("early")).await;
    assert_eq!(in_flight.h1(), "Version 1");

    // A good edit is swapped in.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&file, versioned(2, "flavour")).unwrap();
    let mut swapped = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, later) = app.login(&user(&format!("later{}", random_state()))).await;
        if later.h1() == "Version 2" {
            swapped = true;
            break;
        }
    }
    assert!(swapped, "the new version serves");

    // The prompt opened on version 1 finishes on version 1.
    let done = app
        .answer(&in_flight, "submit", &[("colour", "blue")])
        .await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["answers"], json!({"colour": "blue"}));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM responses WHERE campaign_version = 1")
            .await,
        1
    );

    // A broken edit is refused; version 2 keeps serving; /readyz and the admin list say why.
    std::fs::write(&file, "id: live\ntitle: [broken\n").unwrap();
    let mut refused = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let body: Value = app
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["campaigns"]["ok"] == json!(false) {
            refused = body;
            break;
        }
    }
    assert_eq!(
        refused["ready"],
        json!(true),
        "still serving the last good set"
    );
    let problem = refused["campaigns"]["problems"][0].as_str().unwrap();
    assert!(problem.contains("live.yaml:2:8"), "{problem}");
    let (_, still) = app.login(&user("after-break")).await;
    assert_eq!(still.h1(), "Version 2");
    let (_, listed) = app.admin("/admin/api/campaigns").await;
    assert_eq!(listed["reload"]["ok"], json!(false));
    assert_eq!(listed["items"][0]["version"], json!(2));
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|slow",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let (_, form) = app.login(&claims).await;
    let (action, _) = form.form();
    let csrf = form.csrf();
    let body = format!("_csrf={csrf}&given_name=Slow&family_name=Poke");
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Send the headers and half the body, then ask the server to stop.
    let browser = app.cookie_header();
    let head = format!(
        "POST {action} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nCookie: {browser}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("session_token"),
        "the continue page came back"
    );
    let folder = stopping.await.unwrap();
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        folder.path().join("interlude.db").display()
    ))
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM responses")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 1, "the answer in flight was recorded");
}
