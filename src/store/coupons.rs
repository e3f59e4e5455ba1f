//! Coupon codes: pools imported from CSV, codes generated from patterns, and race-free
//! assignment (one code per user per campaign; a code never goes to two users).
//!
//! Assignment runs inside the answer's write transaction (BEGIN IMMEDIATE), so writers are
//! serialized by SQLite; the unique indexes are the second line of defence.

use sqlx::SqliteConnection;

use super::StoreError;

/// A code handed to a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Assigned {
    /// The code.
    pub code: String,
    /// When it stops being valid (ms), if it expires.
    pub expires_at: Option<i64>,
}

/// The code this user already has for the campaign.
pub async fn assigned_to(
    conn: &mut SqliteConnection,
    campaign: &str,
    issuer: &str,
    subject: &str,
) -> Result<Option<Assigned>, StoreError> {
    Ok(sqlx::query_as::<_, Assigned>(
        "SELECT code, expires_at FROM coupon_codes WHERE campaign = ? AND issuer = ? AND subject = ?",
    )
    .bind(campaign)
    .bind(issuer)
    .bind(subject)
    .fetch_optional(conn)
    .await?)
}

/// How many codes of the campaign were handed out.
pub async fn assigned_count(
    conn: &mut SqliteConnection,
    campaign: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM coupon_codes WHERE campaign = ? AND subject IS NOT NULL",
    )
    .bind(campaign)
    .fetch_one(conn)
    .await?)
}

/// How many pool codes of the campaign are still free.
pub async fn free_count(conn: &mut SqliteConnection, campaign: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM coupon_codes WHERE campaign = ? AND subject IS NULL",
    )
    .bind(campaign)
    .fetch_one(conn)
    .await?)
}

/// Who gets a code, and until when.
#[derive(Debug)]
pub struct Claim<'a> {
    /// Campaign id.
    pub campaign: &'a str,
    /// Tenant.
    pub issuer: &'a str,
    /// User.
    pub subject: &'a str,
    /// The prompt that earned it.
    pub prompt_id: &'a str,
    /// Now (ms).
    pub now: i64,
    /// Expiry (ms).
    pub expires_at: Option<i64>,
}

/// Takes the oldest free pool code for the user; `None` when the pool is empty.
pub async fn take_from_pool(
    conn: &mut SqliteConnection,
    c: &Claim<'_>,
) -> Result<Option<Assigned>, StoreError> {
    Ok(sqlx::query_as::<_, Assigned>(
        "UPDATE coupon_codes SET issuer = ?, subject = ?, prompt_id = ?, assigned_at = ?, expires_at = ?
         WHERE id = (SELECT id FROM coupon_codes WHERE campaign = ? AND subject IS NULL ORDER BY id LIMIT 1)
         RETURNING code, expires_at",
    )
    .bind(c.issuer)
    .bind(c.subject)
    .bind(c.prompt_id)
    .bind(c.now)
    .bind(c.expires_at)
    .bind(c.campaign)
    .fetch_optional(conn)
    .await?)
}

/// Records a generated code for the user; [`StoreError::Conflict`] when the code exists.
pub async fn insert_generated(
    conn: &mut SqliteConnection,
    c: &Claim<'_>,
    code: &str,
) -> Result<Assigned, StoreError> {
    sqlx::query(
        "INSERT INTO coupon_codes (campaign, code, issuer, subject, prompt_id, assigned_at, expires_at, imported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.campaign)
    .bind(code)
    .bind(c.issuer)
    .bind(c.subject)
    .bind(c.prompt_id)
    .bind(c.now)
    .bind(c.expires_at)
    .bind(c.now)
    .execute(conn)
    .await?;
    Ok(Assigned {
        code: code.to_owned(),
        expires_at: c.expires_at,
    })
}

/// Adds pool codes; codes already present are left alone. Returns how many were new.
pub async fn import(
    conn: &mut SqliteConnection,
    campaign: &str,
    codes: &[String],
    now: i64,
) -> Result<u64, StoreError> {
    let mut added = 0;
    for code in codes {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO coupon_codes (campaign, code, imported_at) VALUES (?, ?, ?)",
        )
        .bind(campaign)
        .bind(code)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        added += done.rows_affected();
    }
    Ok(added)
}
