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

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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
/// times them.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("interlude_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("interlude_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
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
