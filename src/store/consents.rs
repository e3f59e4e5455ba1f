//! Consent records: the text shown (once, by hash) and each answer (append-only).

use sqlx::SqliteConnection;

use super::{StoreError, Writes};

/// One consent answer to record.
#[derive(Debug)]
pub struct NewConsent<'a> {
    /// Tenant.
    pub issuer: &'a str,
    /// User.
    pub subject: &'a str,
    /// Purpose id.
    pub purpose: &'a str,
    /// Granted or refused.
    pub granted: bool,
    /// The exact text shown.
    pub text: &'a str,
    /// SHA-256 hex of `text`.
    pub text_sha256: &'a str,
    /// Version of the text.
    pub text_version: &'a str,
    /// Who asked.
    pub controller: &'a str,
    /// Campaign id.
    pub campaign: &'a str,
    /// Campaign version.
    pub campaign_version: i64,
    /// Locale shown.
    pub locale: &'a str,
    /// The prompt.
    pub prompt_id: &'a str,
    /// Now (ms).
    pub recorded_at: i64,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
}

/// Records a consent answer (and its text, once); deferred.
pub fn insert(w: &mut Writes, c: &NewConsent<'_>) {
    w.defer(
        "INSERT OR IGNORE INTO consent_texts (sha256, text, campaign, campaign_version, locale, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(c.text_sha256)
    .bind(c.text)
    .bind(c.campaign)
    .bind(c.campaign_version)
    .bind(c.locale)
    .bind(c.recorded_at);
    w.defer(
        "INSERT INTO consents (issuer, subject, purpose, granted, text_sha256, text_version, controller,
                               campaign, campaign_version, locale, prompt_id, recorded_at, ip, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.issuer)
    .bind(c.subject)
    .bind(c.purpose)
    .bind(c.granted)
    .bind(c.text_sha256)
    .bind(c.text_version)
    .bind(c.controller)
    .bind(c.campaign)
    .bind(c.campaign_version)
    .bind(c.locale)
    .bind(c.prompt_id)
    .bind(c.recorded_at)
    .bind(c.ip)
    .bind(c.user_agent);
}

/// The current state of one purpose for a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct CurrentConsent {
    /// Purpose id.
    pub purpose: String,
    /// Granted now.
    pub granted: bool,
    /// Version of the text answered.
    pub text_version: String,
    /// Hash of the text answered.
    pub text_sha256: String,
    /// When (ms).
    pub recorded_at: i64,
}

/// The newest answer per purpose of a user.
pub async fn current(
    conn: &mut SqliteConnection,
    issuer: &str,
    subject: &str,
) -> Result<Vec<CurrentConsent>, StoreError> {
    Ok(sqlx::query_as::<_, CurrentConsent>(
        "SELECT c.purpose, c.granted, c.text_version, c.text_sha256, c.recorded_at FROM consents c
         WHERE c.issuer = ? AND c.subject = ?
           AND c.id = (SELECT MAX(id) FROM consents x
                       WHERE x.issuer = c.issuer AND x.subject = c.subject AND x.purpose = c.purpose)
         ORDER BY c.purpose",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_all(conn)
    .await?)
}
