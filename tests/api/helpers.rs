//! Test plumbing: a real server on an ephemeral loopback port with its own SQLite file, a
//! real HTTP server playing the IdP's /continue, and helpers that mint Auth0-shaped tokens,
//! follow redirects, parse forms and check the return token as `validateToken` does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::post;
use interlude::config::Config;
use interlude::state::AppState;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Map, Value, json};
use tempfile::TempDir;

pub const ISSUER: &str = "acme.eu.auth0.test";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";
pub const OLD_SECRET: &str = "fedcba9876543210fedcba9876543210-old-secret";
pub const SERVICE_ISSUER: &str = "interlude.test";

/// What the IdP's /continue received.
#[derive(Debug, Clone)]
pub struct Continued {
    pub state: String,
    pub token: String,
}

/// The IdP side: a local server whose POST /continue records what arrives.
pub struct Idp {
    pub continue_url: String,
    pub received: Arc<Mutex<Vec<Continued>>>,
}

async fn record_continue(
    State(received): State<Arc<Mutex<Vec<Continued>>>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> &'static str {
    received.lock().unwrap().push(Continued {
        state: form.get("state").cloned().unwrap_or_default(),
        token: form.get("session_token").cloned().unwrap_or_default(),
    });
    "resumed"
}

async fn spawn_idp() -> Idp {
    let received = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .route("/continue", post(record_continue))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Idp {
        continue_url: format!("http://{addr}/continue"),
        received,
    }
}

pub struct TestApp {
    pub base: String,
    pub db_path: std::path::PathBuf,
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub idp: Idp,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pub dir: Arc<TempDir>,
}

/// The settings tests start from: one tenant whose /continue is the test IdP.
pub fn test_config(idp: &Idp, db_url: &str) -> Config {
    let env: BTreeMap<String, String> = [
        ("INTERLUDE_ISSUER", ISSUER),
        ("INTERLUDE_SECRET", SECRET),
        ("INTERLUDE_SECRET_PREVIOUS", OLD_SECRET),
        ("INTERLUDE_SERVICE_ISSUER", SERVICE_ISSUER),
        ("INTERLUDE_DATABASE_URL", db_url),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut config = Config::load(None, false, &env).unwrap();
    config.tenants[0].continue_url = idp.continue_url.clone();
    // Every test client is 127.0.0.1: the rate limit has its own test.
    config.rate_limit_per_minute = 0;
    config
}

pub fn new_client() -> reqwest::Client {
    client_with_jar(Arc::new(reqwest::cookie::Jar::default()))
}

pub fn client_with_jar(jar: Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(Arc::new(tempfile::tempdir().unwrap()), adjust).await
}

/// A server on the database in `dir` (a second start on the same folder finds the first's data).
pub async fn spawn_app_in(dir: Arc<TempDir>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db_path = dir.path().join("interlude.db");
    let idp = spawn_idp().await;
    let mut config = test_config(&idp, &format!("sqlite://{}", db_path.display()));
    adjust(&mut config);
    let state = AppState::new(config).await.expect("the app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        interlude::web::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let jar = Arc::new(reqwest::cookie::Jar::default());
    TestApp {
        base: format!("http://{addr}"),
        db_path,
        client: client_with_jar(jar.clone()),
        jar,
        idp,
        stop: Some(stop),
        server: Some(server),
        dir,
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims as Auth0's encodeToken makes them for a user, plus `extra`.
pub fn auth0_claims(sub: &str, extra: Value) -> Map<String, Value> {
    let mut claims = json!({
        "sub": sub, "iss": ISSUER, "iat": now(), "exp": now() + 900, "ip": "203.0.113.7",
    })
    .as_object()
    .unwrap()
    .clone();
    if let Value::Object(extra) = extra {
        claims.extend(extra);
    }
    claims
}

pub fn mint(claims: &Map<String, Value>, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn random_state() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn doc(&self) -> Html {
        Html::parse_document(&self.html)
    }

    pub fn text_of(&self, css: &str) -> Option<String> {
        let doc = self.doc();
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>().trim().to_owned())
    }

    pub fn h1(&self) -> String {
        self.text_of("h1").unwrap_or_default()
    }

    /// The first form's action and its hidden inputs.
    pub fn form(&self) -> (String, Vec<(String, String)>) {
        let doc = self.doc();
        let form = doc
            .select(&Selector::parse("form").unwrap())
            .next()
            .unwrap_or_else(|| panic!("no form on the page:\n{}", self.html));
        let action = form.value().attr("action").unwrap_or("").to_owned();
        let hidden = form
            .select(&Selector::parse("input[type=hidden]").unwrap())
            .map(|i| {
                (
                    i.value().attr("name").unwrap().to_owned(),
                    i.value().attr("value").unwrap_or("").to_owned(),
                )
            })
            .collect();
        (action, hidden)
    }

    pub fn csrf(&self) -> String {
        self.form()
            .1
            .into_iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v)
            .expect("a _csrf field")
    }

    /// The error message shown for a field.
    pub fn field_error(&self, name: &str) -> Option<String> {
        self.text_of(&format!("#e-{name}"))
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let doc = self.doc();
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel)
            .next()
            .and_then(|e| e.value().attr(name).map(str::to_owned))
    }

    /// The value attribute of an input.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let doc = self.doc();
        let sel = Selector::parse(&format!("[name={name}]")).unwrap();
        doc.select(&sel)
            .next()
            .and_then(|e| e.value().attr("value").map(str::to_owned))
    }
}

impl TestApp {
    /// Stops the server (and its delivery worker); returns its folder for a restart.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        }
        self.dir.clone()
    }

    /// The Cookie header the client sends to this server.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = self.base.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Page {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let r = client.get(&url).send().await.unwrap();
        page(url, r).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let url = format!("{}{path}", self.base);
        let r = self.client.post(&url).form(fields).send().await.unwrap();
        page(url, r).await
    }

    /// GET /prompt as the IdP's redirect does; returns the 303 response.
    pub async fn prompt(&self, state: &str, token: &str) -> Page {
        self.get(&format!("/prompt?state={state}&session_token={token}"))
            .await
    }

    /// The IdP redirect plus the 303: lands on the prompt (or return) page.
    pub async fn login(&self, claims: &Map<String, Value>) -> (String, Page) {
        let state = random_state();
        let redirect = self.prompt(&state, &mint(claims, SECRET)).await;
        assert_eq!(redirect.status, StatusCode::SEE_OTHER, "{}", redirect.html);
        let location = location(&redirect);
        assert!(
            !location.contains("session_token"),
            "the token must leave the URL"
        );
        (state, self.get(&location).await)
    }

    /// Submits the page's form with `fields` (plus its CSRF token) pressing `action`.
    pub async fn answer(&self, form_page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
        let (target, _) = form_page.form();
        let csrf = form_page.csrf();
        let mut all: Vec<(&str, &str)> = vec![("_csrf", &csrf), ("_action", action)];
        all.extend_from_slice(fields);
        self.post_form(&target, &all).await
    }

    /// Posts the continue page's form to the IdP and returns the claims the IdP validated.
    pub async fn finish(&self, continue_page: &Page, state: &str) -> Map<String, Value> {
        self.finish_with(continue_page, state, SECRET).await
    }

    /// As `finish`, validating with `secret` (the Action's secret).
    pub async fn finish_with(
        &self,
        continue_page: &Page,
        state: &str,
        secret: &str,
    ) -> Map<String, Value> {
        let (action, hidden) = continue_page.form();
        assert_eq!(
            action, self.idp.continue_url,
            "posts to the IdP's /continue"
        );
        let r = self
            .client
            .post(&action)
            .form(&hidden)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let got = self.idp.received.lock().unwrap().last().cloned().unwrap();
        assert_eq!(got.state, state, "the same state goes back");
        validate_token(&got.token, secret, state)
    }

    pub async fn db(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path.display()))
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        let pool = self.db().await;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

pub async fn page(url: String, r: reqwest::Response) -> Page {
    let status = r.status();
    let headers = r.headers().clone();
    let html = r.text().await.unwrap();
    Page {
        status,
        url,
        html,
        headers,
    }
}

pub fn location(page: &Page) -> String {
    page.headers
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {} {}", page.status, page.url))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Checks a return token as Auth0's `api.redirect.validateToken` does, independently of
/// the service's own code: HS256 signature, not expired, `state` equal to the redirect's,
/// and `exp` at least 60 s after `iat`.
pub fn validate_token(token: &str, secret: &str, state: &str) -> Map<String, Value> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .expect("the return token validates");
    let claims = data.claims;
    assert_eq!(claims["state"], json!(state));
    assert_eq!(claims["iss"], json!(SERVICE_ISSUER));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime >= 60, "exp only {lifetime}s after iat");
    claims
}

/// The service in dev mode (no tenant of its own; the dev tenant at /_dev).
pub async fn spawn_dev_app() -> (String, TempDir, reqwest::Client) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let env: BTreeMap<String, String> = [
        ("INTERLUDE_PUBLIC_URL".to_owned(), format!("http://{addr}")),
        (
            "INTERLUDE_DATABASE_URL".to_owned(),
            format!("sqlite://{}", dir.path().join("dev.db").display()),
        ),
    ]
    .into_iter()
    .collect();
    let config = Config::load(None, true, &env).unwrap();
    let state = AppState::new(config).await.unwrap();
    tokio::spawn(async move {
        interlude::web::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    (format!("http://{addr}"), dir, new_client())
}

/// A token with the given header and no signature (`alg: none` and the like).
pub fn unsigned(header: Value, claims: &Map<String, Value>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(header.to_string()),
        b64.encode(Value::Object(claims.clone()).to_string())
    )
}
