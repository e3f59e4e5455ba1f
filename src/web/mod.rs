//! The HTTP service: router, security layers, and the pages.

pub mod admin;
pub mod dev;
pub mod error;
pub mod limit;
pub mod prompt;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::ServiceExt as _;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tower::{Service, ServiceBuilder};
use tower_http::body::Limited;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::{ErrorPage, PageKind};
use crate::detour::{self, Client};
use crate::render::strings;
use crate::render::views::{BackForm, Chrome, ContinuePage, CouponView, MessagePage};
use crate::state::AppState;

/// The per-response CSP nonce, for inline scripts and styles.
#[derive(Debug, Clone)]
pub struct Nonce(pub String);

/// An origin the page's forms may post to besides this service (the IdP's /continue).
#[derive(Debug, Clone)]
pub struct FormTarget(pub String);

/// Longest User-Agent kept.
const MAX_USER_AGENT: usize = 512;

/// The whole service: the routes inside the layers every request passes.
///
/// The layers wrap the router rather than being added with `Router::layer`, which wraps
/// every route in a boxed service of its own per layer, each cloned (an allocation) and
/// polled through for every request (docs/benchmark.md, session 10).
pub fn app(
    state: AppState,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    // Install the metrics recorder before the first request counts anything.
    let _ = crate::telemetry::handle();
    let body_limit = state.config().body_limit_bytes;
    ServiceBuilder::new()
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .layer(
            // Spans name the path only: the query of /prompt carries the session token.
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .map_request(|request: Request<Limited<Body>>| request.map(Body::new))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .service(routes(state))
}

/// The routes, each counted and timed (`TrackLayer`); the layers are added by [`app`].
fn routes(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/prompt", get(prompt::start))
        .route("/p/{id}", get(prompt::show).post(prompt::submit))
        .route("/r/{id}", get(prompt::returned))
        .route("/static/{theme}/{file}", get(static_file))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_page))
        .merge(admin::router())
        .route_layer(crate::telemetry::TrackLayer);
    if state.config().dev {
        router = router
            .route("/", get(|| async { axum::response::Redirect::to("/_dev") }))
            .route("/_dev", get(dev::index))
            .route("/_dev/start", post(dev::start))
            .route("/_dev/continue", post(dev::continued));
    }
    router.fallback(not_found).with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, finishing requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = state.clone();
    let sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Some(limiter) = sweeper.limiter() {
                limiter.forget_idle();
            }
            match detour::sweep(&sweeper).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "marked unanswered prompts expired"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
    });
    let worker = tokio::spawn(crate::outcomes::deliver::run(state.clone()));
    let watcher = tokio::spawn(watch_campaigns(state.clone()));
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweep.abort();
    worker.abort();
    watcher.abort();
    result
}

/// Reloads the campaigns when the folder changes (polled) or on SIGHUP.
async fn watch_campaigns(state: AppState) {
    let every = state.config().reload_poll_ms;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = {
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let tick = async {
                if every == 0 {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_millis(every)).await;
            };
            tokio::select! {
                _ = hup => true,
                _ = tick => false,
            }
        };
        #[cfg(not(unix))]
        let forced = {
            tokio::time::sleep(Duration::from_millis(every.max(1000))).await;
            false
        };
        if forced {
            tracing::info!("SIGHUP: reloading campaigns");
        }
        state.reload(forced).await;
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    let database = state.store().ping().await;
    let reload = state.reload_status();
    let body = serde_json::json!({
        "ready": database && reload.serving > 0,
        "database": database,
        "campaigns": reload,
    });
    let status = if database && reload.serving > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format; gauges that live in the database are refreshed first.
async fn metrics_page(State(state): State<AppState>) -> Response {
    let Some(handle) = crate::telemetry::handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not available").into_response();
    };
    if let Ok(mut conn) = state.store().conn().await {
        if let Ok(backlog) = crate::store::outbox::backlog(&mut conn).await {
            metrics::gauge!("interlude_outbox_backlog").set(backlog as f64);
        }
        for c in state.campaigns().iter() {
            if let Some(coupon) = &c.outcome.coupon
                && matches!(coupon.source, crate::campaign::CouponSource::Pool(_))
                && let Ok(free) = crate::store::coupons::free_count(&mut conn, &c.id).await
            {
                metrics::gauge!("interlude_coupon_pool_free", "campaign" => c.id.clone())
                    .set(free as f64);
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    ErrorPage {
        kind: PageKind::Invalid,
        reason: "no_route".into(),
        detail: "no such page".into(),
        back: None,
    }
    .respond(StatusCode::NOT_FOUND)
}

async fn static_file(
    State(state): State<AppState>,
    Path((theme, file)): Path<(String, String)>,
) -> Response {
    match state.renderer().asset(&theme, &file) {
        Some((bytes, kind)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        None => not_found().await,
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    crate::token::hex(&bytes)
}

/// Request ids: random (version 4) UUIDs, as tower-http's `MakeRequestUuid` makes them,
/// but from the thread's generator rather than a system call each.
#[derive(Debug, Clone, Copy, Default)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// Every request and response passes here, in one layer: the per-IP rate limit, the
/// refusal of cross-site POSTs, the error pages and the security headers. (Four
/// `from_fn` layers before: each cloned and boxed the services below it for every request,
/// about a sixth of a login's CPU with the tower-http layers, docs/benchmark.md.)
async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = random_token();
    // What an error page needs, kept as they came (parsed only for one).
    let languages = req.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let uri = req.uri().clone();
    let refused = limit::refusal(&state, &req).or_else(|| cross_site_refusal(&req));
    let response = match refused {
        Some(refusal) => refusal,
        None => {
            req.extensions_mut().insert(Nonce(nonce.clone()));
            next.run(req).await
        }
    };
    let response = error_page(&state, response, languages.as_ref(), uri.path(), &nonce);
    with_security_headers(response, &nonce)
}

/// The security headers every response carries, with the request's CSP nonce.
fn with_security_headers(mut response: Response, nonce: &str) -> Response {
    let form_target = response
        .extensions()
        .get::<FormTarget>()
        .map(|t| format!(" {}", t.0))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; img-src 'self' https: data:; \
         form-action 'self'{form_target}; frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The refusal of a POST a browser marks as cross-site, a second line beside the
/// per-prompt CSRF token (`None`: it may go on).
fn cross_site_refusal(req: &Request) -> Option<Response> {
    let cross_site = req.method() == Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v == "cross-site");
    if !cross_site {
        return None;
    }
    Some(
        ErrorPage {
            kind: PageKind::Forbidden,
            reason: "cross_site_post".into(),
            detail: "a cross-site POST was refused".into(),
            back: None,
        }
        .respond(StatusCode::FORBIDDEN),
    )
}

/// The page of a response that carries an [`ErrorPage`] (logged here), in the language
/// the request asked for; any other response as it is.
fn error_page(
    state: &AppState,
    response: Response,
    languages: Option<&HeaderValue>,
    path: &str,
    nonce: &str,
) -> Response {
    let status = response.status();
    let page = response.extensions().get::<ErrorPage>().cloned();
    let Some(page) = page else {
        if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
            tracing::warn!(%status, %path, "request refused");
        }
        return response;
    };
    if status.is_server_error() {
        tracing::error!(%status, %path, reason = %page.reason, detail = %page.detail, "request failed");
    } else {
        tracing::warn!(%status, %path, reason = %page.reason, detail = %page.detail, "request refused");
    }
    let locale = page
        .back
        .as_ref()
        .map(|b| b.locale.clone())
        .unwrap_or_else(|| {
            let languages = languages
                .and_then(|v| v.to_str().ok())
                .map(strings::accept_language)
                .unwrap_or_default();
            strings::negotiate(&languages, &strings::LOCALES, "en").to_owned()
        });
    let heading = strings::word(&locale, &format!("{}_title", page.kind.key())).to_owned();
    let view = MessagePage {
        chrome: Chrome::plain("default", &locale, nonce, &heading),
        message: strings::word(&locale, &format!("{}_text", page.kind.key())).to_owned(),
        heading,
        back: page.back.as_ref().map(|b| BackForm {
            continue_url: b.continue_url.clone(),
            state: b.state.clone(),
            token: b.token.clone(),
        }),
    };
    let body = match state.renderer().render("default", "message", &view) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "the error page itself failed to render");
            format!("{}\n\n{}\n", view.heading, view.message)
        }
    };
    let mut out = (status, html_headers(), body).into_response();
    // Keep what the refusal said besides its body (Retry-After, WWW-Authenticate, …).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(b) = &page.back {
        out.extensions_mut()
            .insert(FormTarget(origin_of(&b.continue_url)));
    }
    // The security layer above reads the form target from this response.
    out
}

/// `Content-Type: text/html`.
pub fn html_headers() -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

/// `scheme://host[:port]` of a URL, for CSP.
pub fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!("{scheme}://{host}")
        }
        None => String::new(),
    }
}

/// The browser-binding cookie's name: `__Host-` prefixed when cookies are Secure.
pub fn browser_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-interlude"
    } else {
        "interlude"
    }
}

/// A cookie's value from the request headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value with the service's attributes.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The client facts of a request, and a new browser cookie when it had none.
pub struct ClientInfo {
    /// The facts.
    pub client: Client,
    /// `Some(value)` when the browser cookie was just minted.
    pub new_cookie: Option<String>,
    /// The CSP nonce.
    pub nonce: String,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let name = browser_cookie_name(state.config().secure_cookies());
        let existing = cookie(&parts.headers, name).map(str::to_owned);
        let new_cookie = existing.is_none().then(random_token);
        let browser = existing.or_else(|| new_cookie.clone()).unwrap_or_default();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = limit::client_ip(&parts.headers, peer, state.config().trust_forwarded_for)
            .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        let languages = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(strings::accept_language)
            .unwrap_or_default();
        let nonce = parts
            .extensions
            .get::<Nonce>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        Ok(ClientInfo {
            client: Client {
                ip,
                user_agent,
                browser,
                languages,
            },
            new_cookie,
            nonce,
        })
    }
}

/// The page that posts the user back to the IdP.
pub fn continue_page(
    state: &AppState,
    back: &detour::Return,
    nonce: &str,
) -> Result<Response, error::WebError> {
    let heading = strings::word(&back.locale, "continue_title").to_owned();
    let set = state.campaigns();
    let campaign = back.campaign.as_deref().and_then(|id| set.get(id));
    let view = ContinuePage {
        chrome: Chrome::after_campaign(
            campaign.map(AsRef::as_ref),
            &back.theme,
            &back.locale,
            nonce,
            &heading,
        ),
        heading,
        message: back
            .thanks
            .clone()
            .or_else(|| Some(strings::word(&back.locale, "continue_text").to_owned())),
        continue_url: back.continue_url.clone(),
        state: back.state.clone(),
        token: back.token.clone(),
        button: strings::word(&back.locale, "continue_button").to_owned(),
        auto_submit: back.thanks.is_none() && back.coupon.is_none() && !back.coupon_exhausted,
        coupon: back.coupon.as_ref().and_then(|c| {
            Some(CouponView {
                code: c.get("code")?.as_str()?.to_owned(),
                valid_until: c.get("expires_at").and_then(|e| e.as_str()).map(|e| {
                    strings::word(&back.locale, "coupon_valid_until")
                        .replace("{date}", e.get(..10).unwrap_or(e))
                }),
            })
        }),
        coupon_exhausted: back.coupon_exhausted,
    };
    let html = state.renderer().render(&back.theme, "continue", &view)?;
    let mut response = (html_headers(), html).into_response();
    response
        .extensions_mut()
        .insert(FormTarget(origin_of(&back.continue_url)));
    Ok(response)
}
