//! The outbox: deliveries written in the answer's transaction and worked off later.

use sqlx::SqliteConnection;

use super::{StoreError, Writes};

/// What kind of delivery.
pub const WEBHOOK: &str = "webhook";
/// Auth0 Management API profile write-back.
pub const AUTH0_PROFILE: &str = "auth0_profile";

/// A delivery to queue.
#[derive(Debug)]
pub struct NewDelivery<'a> {
    /// Unique id, also the idempotency key.
    pub id: &'a str,
    /// `webhook` or `auth0_profile`.
    pub kind: &'a str,
    /// URL (webhook) or tenant issuer (profile).
    pub target: &'a str,
    /// JSON payload.
    pub payload: &'a str,
    /// The prompt.
    pub prompt_id: &'a str,
    /// Campaign id.
    pub campaign: &'a str,
    /// User.
    pub subject: &'a str,
    /// Now (ms).
    pub now: i64,
}

/// Queues a delivery, due at once (deferred).
pub fn enqueue(w: &mut Writes, d: &NewDelivery<'_>) {
    w.defer(
        "INSERT INTO outbox (id, kind, target, payload, prompt_id, campaign, subject, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.id)
    .bind(d.kind)
    .bind(d.target)
    .bind(d.payload)
    .bind(d.prompt_id)
    .bind(d.campaign)
    .bind(d.subject)
    .bind(d.now)
    .bind(d.now);
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    /// Id (idempotency key).
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Target.
    pub target: String,
    /// Payload.
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// Claims up to `limit` due deliveries for `lease_ms`, counting the attempt. Another worker
/// (another instance) skips claimed rows until the lease runs out.
pub async fn claim_due(
    conn: &mut SqliteConnection,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    Ok(sqlx::query_as::<_, Due>(
        "UPDATE outbox SET locked_until = ?, attempts = attempts + 1
         WHERE id IN (SELECT id FROM outbox
                      WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
                        AND (locked_until IS NULL OR locked_until < ?)
                      ORDER BY next_attempt_at LIMIT ?)
         RETURNING id, kind, target, payload, attempts",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Marks a delivery done.
pub async fn delivered(conn: &mut SqliteConnection, id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = ?, locked_until = NULL, last_error = NULL WHERE id = ?",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt: retry at `retry_at`, or give up when `None`.
pub async fn failed(
    conn: &mut SqliteConnection,
    id: &str,
    error: &str,
    now: i64,
    retry_at: Option<i64>,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    match retry_at {
        Some(at) => {
            sqlx::query("UPDATE outbox SET next_attempt_at = ?, locked_until = NULL, last_error = ? WHERE id = ?")
                .bind(at)
                .bind(error)
                .bind(id)
                .execute(conn)
                .await?
        }
        None => {
            sqlx::query("UPDATE outbox SET failed_at = ?, locked_until = NULL, last_error = ? WHERE id = ?")
                .bind(now)
                .bind(error)
                .bind(id)
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// Deliveries not yet done nor given up.
pub async fn backlog(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
    )
    .fetch_one(conn)
    .await?)
}
