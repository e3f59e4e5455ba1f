//! The delivery worker: works off the outbox with retries and exponential backoff.
//!
//! Webhooks are POSTed as JSON with `Interlude-Signature: t=UNIX,v1=HEX` (HMAC-SHA256 of
//! `"{t}.{body}"` with the webhook secret) and `Idempotency-Key` (the event id). Profile
//! answers are PATCHed to Auth0's Management API with a client-credentials token that is
//! cached until shortly before it expires. A delivery is claimed with a lease, so several
//! instances can run workers side by side; a crash leaves the row to be claimed again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::config::{Config, Management};
use crate::state::AppState;
use crate::store::outbox::{self, AUTH0_PROFILE, Due, WEBHOOK};
use crate::store::{StoreError, millis};
use crate::token::hex;

/// How long a claimed delivery is reserved for its attempt.
const LEASE_MS: i64 = 60_000;
/// Longest wait between attempts.
const MAX_BACKOFF_MS: u64 = 3_600_000;

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The peer could not be reached or answered badly.
    #[error("{0}")]
    Http(String),
    /// Something required is not configured (never retried with success).
    #[error("{0}")]
    NotConfigured(String),
    /// The payload is unreadable.
    #[error("bad payload: {0}")]
    Payload(String),
}

/// The worker's HTTP client and token cache.
pub struct Deliverer {
    http: reqwest::Client,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Default for Deliverer {
    fn default() -> Self {
        Self::new()
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex(&mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), at most an hour.
pub fn backoff_ms(base: u64, attempts: i64) -> u64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1u64 << exp).min(MAX_BACKOFF_MS)
}

impl Deliverer {
    /// A worker with a 10 s request timeout.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("interlude/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Claims and attempts what is due; returns how many were attempted.
    pub async fn tick(&self, app: &AppState) -> Result<usize, StoreError> {
        let now = millis(time::OffsetDateTime::now_utc());
        let due = {
            let mut tx = app.store().write().await?;
            let due = outbox::claim_due(tx.conn().await?, now, LEASE_MS, 20).await?;
            tx.commit().await?;
            due
        };
        let config = app.config();
        for d in &due {
            let result = self.attempt(config, d).await;
            let finished = millis(time::OffsetDateTime::now_utc());
            let mut conn = app.store().conn().await?;
            match result {
                Ok(()) => {
                    outbox::delivered(&mut conn, &d.id, finished).await?;
                    metrics::counter!("interlude_deliveries_total", "kind" => d.kind.clone(), "result" => "delivered").increment(1);
                }
                Err(e) => {
                    let give_up = matches!(
                        e,
                        DeliveryError::NotConfigured(_) | DeliveryError::Payload(_)
                    ) || d.attempts >= i64::from(config.outbox_max_attempts);
                    let retry_at = (!give_up).then(|| {
                        finished
                            + i64::try_from(backoff_ms(config.outbox_backoff_ms, d.attempts))
                                .unwrap_or(i64::MAX / 4)
                    });
                    tracing::warn!(delivery = %d.id, kind = %d.kind, attempt = d.attempts, error = %e,
                        gave_up = give_up, "delivery failed");
                    let result = if give_up { "failed" } else { "retry" };
                    metrics::counter!("interlude_deliveries_total", "kind" => d.kind.clone(), "result" => result).increment(1);
                    outbox::failed(&mut conn, &d.id, &e.to_string(), finished, retry_at).await?;
                }
            }
        }
        Ok(due.len())
    }

    async fn attempt(&self, config: &Config, d: &Due) -> Result<(), DeliveryError> {
        match d.kind.as_str() {
            WEBHOOK => self.webhook(config, d).await,
            AUTH0_PROFILE => self.profile(config, d).await,
            other => Err(DeliveryError::Payload(format!("unknown kind `{other}`"))),
        }
    }

    async fn webhook(&self, config: &Config, d: &Due) -> Result<(), DeliveryError> {
        let secret = config.webhook_secret.as_ref().ok_or_else(|| {
            DeliveryError::NotConfigured("INTERLUDE_WEBHOOK_SECRET is not set".into())
        })?;
        let event: Value =
            serde_json::from_str(&d.payload).map_err(|e| DeliveryError::Payload(e.to_string()))?;
        let event_id = event
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&d.id)
            .to_owned();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .http
            .post(&d.target)
            .header("content-type", "application/json")
            .header("idempotency-key", event_id)
            .header(
                "interlude-signature",
                signature(secret.expose_secret().as_bytes(), timestamp, &d.payload),
            )
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| DeliveryError::Http(without_url(&e)))?;
        ok_status(response.status())
    }

    async fn management_token(
        &self,
        issuer: &str,
        m: &Management,
    ) -> Result<String, DeliveryError> {
        let mut cache = self.tokens.lock().await;
        if let Some((token, until)) = cache.get(issuer)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!("{}/oauth/token", m.base_url))
            .json(&json!({
                "grant_type": "client_credentials",
                "client_id": m.client_id,
                "client_secret": m.client_secret.expose_secret(),
                "audience": m.audience,
            }))
            .send()
            .await
            .map_err(|e| DeliveryError::Http(without_url(&e)))?;
        ok_status(response.status())
            .map_err(|e| DeliveryError::Http(format!("token request: {e}")))?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| DeliveryError::Http(format!("token response: {}", without_url(&e))))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| DeliveryError::Http("the token response has no access_token".into()))?
            .to_owned();
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        cache.insert(issuer.to_owned(), (token.clone(), until));
        Ok(token)
    }

    async fn profile(&self, config: &Config, d: &Due) -> Result<(), DeliveryError> {
        let m = config
            .tenant(&d.target)
            .and_then(|t| t.management.as_ref())
            .ok_or_else(|| {
                DeliveryError::NotConfigured(format!(
                    "no Management API credentials are configured for {}",
                    d.target
                ))
            })?;
        let payload: Value =
            serde_json::from_str(&d.payload).map_err(|e| DeliveryError::Payload(e.to_string()))?;
        let user_id = payload
            .get("user_id")
            .and_then(Value::as_str)
            .ok_or_else(|| DeliveryError::Payload("no user_id".into()))?;
        let target = payload
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or("user_metadata");
        let data = payload.get("data").cloned().unwrap_or_else(|| json!({}));
        let mut url = reqwest::Url::parse(&m.base_url)
            .map_err(|e| DeliveryError::NotConfigured(format!("bad Management API URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| DeliveryError::NotConfigured("bad Management API URL".into()))?
            .pop_if_empty()
            .extend(["api", "v2", "users", user_id]);
        let token = self.management_token(&d.target, m).await?;
        let response = self
            .http
            .patch(url)
            .bearer_auth(token)
            .json(&json!({ target: data }))
            .send()
            .await
            .map_err(|e| DeliveryError::Http(without_url(&e)))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // The cached token may have been revoked: fetch a new one next time.
            self.tokens.lock().await.remove(&d.target);
        }
        ok_status(response.status())
    }
}

fn ok_status(status: reqwest::StatusCode) -> Result<(), DeliveryError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Http(format!("HTTP {}", status.as_u16())))
    }
}

/// A reqwest error's text without the URL (which may carry a user id).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "could not read the response"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// Runs the worker until the process ends.
pub async fn run(app: AppState) {
    let deliverer = Deliverer::new();
    let poll = Duration::from_millis(app.config().outbox_poll_ms);
    loop {
        match deliverer.tick(&app).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "delivery worker could not read the outbox"),
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 4), 8000);
        assert_eq!(backoff_ms(1000, 40), MAX_BACKOFF_MS);
    }

    #[test]
    fn the_signature_is_an_hmac_of_time_and_body() {
        let s = signature(b"secret", 1700000000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature(b"other", 1700000000, "{}"));
    }
}
