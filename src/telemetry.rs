//! Metrics: a Prometheus recorder installed once per process, the HTTP request metrics
//! middleware, and gauges refreshed when /metrics is scraped.
//!
//! Metric names:
//! - `interlude_http_requests_total{route,status}`, `interlude_http_request_duration_seconds{route}`
//! - `interlude_prompts_total{campaign,outcome}` (outcome: shown, completed, skipped,
//!   declined, none)
//! - `interlude_token_refusals_total{reason}`
//! - `interlude_coupon_exhausted_total{campaign}`, `interlude_coupon_pool_free{campaign}`
//! - `interlude_deliveries_total{kind,result}`, `interlude_outbox_backlog`
//! - `interlude_campaign_reloads_total{result}`
//! - `interlude_store_commit_seconds` (one durable commit of a batch),
//!   `interlude_store_batch_transactions` (write transactions per commit)

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{self, StatusCode};
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle (installed on first use; `None` if another recorder was
/// installed first).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ];
            let transactions = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
            PrometheusBuilder::new()
                .set_buckets(&buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("interlude_store_batch_transactions".into()),
                        &transactions,
                    )
                })
                .and_then(|b| b.install_recorder())
                .ok()
        })
        .as_ref()
}

/// Counts requests by route template (never the raw path: it holds ids) and status, and
/// times them: a route layer of its own, whose future wraps the handler's without boxing
/// it (`axum::middleware::from_fn` clones and boxes the service below it for every
/// request). The metric handles of each route are looked up once and kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

/// The service of [`TrackLayer`].
#[derive(Debug, Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Track<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let route = route_metrics(
            req.extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str),
        );
        TrackFuture {
            inner: self.inner.call(req),
            route,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Track`]: the handler's, counted when it is ready.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        route: Arc<RouteMetrics>,
        started: Instant,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &out {
            this.route.count(response.status());
            this.route
                .duration
                .record(this.started.elapsed().as_secs_f64());
        }
        Poll::Ready(out)
    }
}

/// One route's metric handles.
struct RouteMetrics {
    route: String,
    duration: metrics::Histogram,
    /// `interlude_http_requests_total` by status, as they come.
    requests: Mutex<Vec<(StatusCode, metrics::Counter)>>,
}

impl RouteMetrics {
    fn count(&self, status: StatusCode) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, counter)) = requests.iter().find(|(s, _)| *s == status) {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(
            "interlude_http_requests_total",
            "route" => self.route.clone(),
            "status" => status.as_u16().to_string()
        );
        counter.increment(1);
        requests.push((status, counter));
    }
}

/// The handles of `route`, made on its first request.
fn route_metrics(route: &str) -> Arc<RouteMetrics> {
    static ROUTES: OnceLock<RwLock<HashMap<String, Arc<RouteMetrics>>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(found) = routes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(route)
    {
        return Arc::clone(found);
    }
    let mut routes = routes.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(routes.entry(route.to_owned()).or_insert_with(|| {
        Arc::new(RouteMetrics {
            route: route.to_owned(),
            duration: metrics::histogram!(
                "interlude_http_request_duration_seconds",
                "route" => route.to_owned()
            ),
            requests: Mutex::new(Vec::new()),
        })
    }))
}

/// Counts a prompt event of a campaign.
pub fn prompt_event(campaign: &str, outcome: &'static str) {
    metrics::counter!("interlude_prompts_total", "campaign" => campaign.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Counts a refused inbound token.
pub fn token_refused(reason: &'static str) {
    metrics::counter!("interlude_token_refusals_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::Router;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Each route's requests are counted by template and status, and timed, with the
    /// handles kept from the first request on.
    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        let handle = handle().expect("the recorder");
        let app = Router::new()
            .route(
                "/track-test/{x}",
                get(|Path(x): Path<String>| async move {
                    if x == "missing" {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::OK
                    }
                }),
            )
            .route("/track-test-other", get(|| async { StatusCode::ACCEPTED }))
            .route_layer(TrackLayer);
        for path in [
            "/track-test/a",
            "/track-test/missing",
            "/track-test/b",
            "/track-test-other",
        ] {
            let req = http::Request::get(path).body(Body::empty()).unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let text = handle.render();
        let total = |route: &str, status: &str| {
            value(
                &text,
                &format!("interlude_http_requests_total{{route=\"{route}\",status=\"{status}\"}}"),
            )
        };
        assert_eq!(total("/track-test/{x}", "200"), 2.0, "{text}");
        assert_eq!(total("/track-test/{x}", "404"), 1.0);
        assert_eq!(total("/track-test-other", "202"), 1.0);
        assert_eq!(total("/track-test/a", "200"), 0.0, "never the raw path");
        assert_eq!(
            value(
                &text,
                "interlude_http_request_duration_seconds_count{route=\"/track-test/{x}\"}"
            ),
            3.0
        );
    }
}
