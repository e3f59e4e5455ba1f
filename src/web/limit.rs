//! Per-client-IP rate limiting of the user pages and the admin API (GCRA, via governor).
//! Over the limit: 429 with `Retry-After`, and nothing else happens.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::{ErrorPage, PageKind};
use crate::state::AppState;

/// A limiter keyed by client IP.
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl Limiter {
    /// `per_minute` requests per IP with bursts of `burst`; `None` when `per_minute` is 0.
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            inner: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        })
    }

    /// `Ok` when `ip` may go on, else how many seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.inner.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(self.clock.now())
                .as_secs()
                .saturating_add(1)
        })
    }

    /// Drops the state of IPs not seen lately (called by the sweep).
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
    }
}

/// The client's IP: the connection's peer, or with `trust_forwarded_for` the address the
/// (single, trusted) proxy appended last to `X-Forwarded-For`.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok())
    {
        return Some(forwarded);
    }
    peer
}

fn limited(path: &str) -> bool {
    path == "/prompt"
        || path.starts_with("/p/")
        || path.starts_with("/r/")
        || path.starts_with("/admin/")
}

/// The refusal of a request over the per-IP rate (`None`: it may go on).
pub fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    let limiter = state.limiter()?;
    if !limited(req.uri().path()) {
        return None;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(req.headers(), peer, state.config().trust_forwarded_for)?;
    let wait = limiter.check(ip).err()?;
    metrics::counter!("interlude_rate_limited_total").increment(1);
    let mut response = ErrorPage {
        kind: PageKind::Trouble,
        reason: "rate_limited".into(),
        detail: format!("over the per-IP rate; retry after {wait} s"),
        back: None,
    }
    .respond(StatusCode::TOO_MANY_REQUESTS);
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(response)
}
