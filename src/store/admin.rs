//! Audit queries for the admin API: filtered lists with keyset pagination, per-campaign
//! counts, everything about one subject, and erasure.
//!
//! Lists are ordered newest first by (time, id); a cursor names the last row seen, so a
//! page never shifts when rows are inserted while an auditor pages through. Filters are
//! bound parameters in fixed SQL (`?1 IS NULL OR column = ?1`), never formatted in.

use serde::Serialize;
use sqlx::SqliteConnection;

use super::StoreError;

/// Where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// Time of the last row (ms).
    pub at: i64,
    /// Id of the last row.
    pub id: String,
}

/// Filters shared by the lists (each list reads the ones it has).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// User.
    pub subject: Option<String>,
    /// Campaign id.
    pub campaign: Option<String>,
    /// Prompt status / delivery status / response outcome.
    pub status: Option<String>,
    /// Tenant.
    pub issuer: Option<String>,
    /// Consent purpose / ToS document / delivery kind.
    pub kind: Option<String>,
    /// From this time (ms, inclusive).
    pub from: Option<i64>,
    /// Until this time (ms, exclusive).
    pub until: Option<i64>,
    /// Page position.
    pub cursor: Option<Cursor>,
    /// Page size.
    pub limit: i64,
}

impl Filter {
    fn cursor_at(&self) -> Option<i64> {
        self.cursor.as_ref().map(|c| c.at)
    }

    fn cursor_id(&self) -> Option<String> {
        self.cursor.as_ref().map(|c| c.id.clone())
    }

    fn cursor_num(&self) -> Option<i64> {
        self.cursor.as_ref().and_then(|c| c.id.parse().ok())
    }
}

/// A row that can be paged: its (time, id) key.
pub trait Keyed {
    /// The row's cursor.
    fn key(&self) -> Cursor;
}

/// A prompt, as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PromptItem {
    /// Prompt id.
    pub id: String,
    /// Campaign.
    pub campaign: String,
    /// Campaign version.
    pub campaign_version: i64,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// Status.
    pub status: String,
    /// Locale shown.
    pub locale: String,
    /// Shown (ms).
    pub shown_at: i64,
    /// Finished (ms).
    pub finished_at: Option<i64>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl Keyed for PromptItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.shown_at,
            id: self.id.clone(),
        }
    }
}

/// Prompts, newest first.
pub async fn prompts(
    conn: &mut SqliteConnection,
    f: &Filter,
) -> Result<Vec<PromptItem>, StoreError> {
    Ok(sqlx::query_as::<_, PromptItem>(
        "SELECT id, campaign, campaign_version, subject, issuer, status, locale, shown_at, finished_at, ip, user_agent
         FROM prompts
         WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR campaign = ?2) AND (?3 IS NULL OR status = ?3)
           AND (?4 IS NULL OR issuer = ?4) AND (?5 IS NULL OR shown_at >= ?5) AND (?6 IS NULL OR shown_at < ?6)
           AND (?7 IS NULL OR shown_at < ?7 OR (shown_at = ?7 AND id < ?8))
         ORDER BY shown_at DESC, id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.campaign)
    .bind(&f.status)
    .bind(&f.issuer)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_id())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// An answer, as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ResponseItem {
    /// The prompt answered.
    pub prompt_id: String,
    /// Campaign.
    pub campaign: String,
    /// Campaign version.
    pub campaign_version: i64,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// completed / skipped / declined.
    pub outcome: String,
    /// Answers (JSON text).
    pub answers: String,
    /// Outcome claims (JSON text).
    pub outcome_claims: String,
    /// When (ms).
    pub created_at: i64,
}

impl Keyed for ResponseItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.prompt_id.clone(),
        }
    }
}

/// Answers, newest first (`status` filters the outcome).
pub async fn responses(
    conn: &mut SqliteConnection,
    f: &Filter,
) -> Result<Vec<ResponseItem>, StoreError> {
    Ok(sqlx::query_as::<_, ResponseItem>(
        "SELECT prompt_id, campaign, campaign_version, subject, issuer, outcome, answers, outcome_claims, created_at
         FROM responses
         WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR campaign = ?2) AND (?3 IS NULL OR outcome = ?3)
           AND (?4 IS NULL OR issuer = ?4) AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)
           AND (?7 IS NULL OR created_at < ?7 OR (created_at = ?7 AND prompt_id < ?8))
         ORDER BY created_at DESC, prompt_id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.campaign)
    .bind(&f.status)
    .bind(&f.issuer)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_id())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// A consent record, as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConsentItem {
    /// Record id.
    pub id: i64,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// Purpose.
    pub purpose: String,
    /// Granted or refused.
    pub granted: bool,
    /// Text version.
    pub text_version: String,
    /// SHA-256 of the words shown.
    pub text_sha256: String,
    /// The words shown.
    pub text: String,
    /// Who asked.
    pub controller: String,
    /// Campaign.
    pub campaign: String,
    /// Campaign version.
    pub campaign_version: i64,
    /// Locale shown.
    pub locale: String,
    /// The prompt.
    pub prompt_id: String,
    /// When (ms).
    pub recorded_at: i64,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl Keyed for ConsentItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.recorded_at,
            id: self.id.to_string(),
        }
    }
}

/// Consent records, newest first (`kind` filters the purpose).
pub async fn consents(
    conn: &mut SqliteConnection,
    f: &Filter,
) -> Result<Vec<ConsentItem>, StoreError> {
    Ok(sqlx::query_as::<_, ConsentItem>(
        "SELECT c.id, c.subject, c.issuer, c.purpose, c.granted, c.text_version, c.text_sha256, t.text, c.controller,
                c.campaign, c.campaign_version, c.locale, c.prompt_id, c.recorded_at, c.ip, c.user_agent
         FROM consents c JOIN consent_texts t ON t.sha256 = c.text_sha256
         WHERE (?1 IS NULL OR c.subject = ?1) AND (?2 IS NULL OR c.campaign = ?2) AND (?3 IS NULL OR c.purpose = ?3)
           AND (?4 IS NULL OR c.issuer = ?4) AND (?5 IS NULL OR c.recorded_at >= ?5) AND (?6 IS NULL OR c.recorded_at < ?6)
           AND (?7 IS NULL OR c.recorded_at < ?7 OR (c.recorded_at = ?7 AND c.id < ?8))
         ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.campaign)
    .bind(&f.kind)
    .bind(&f.issuer)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_num())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// A ToS acceptance, as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TosItem {
    /// Record id.
    pub id: i64,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// Document.
    pub document: String,
    /// Version.
    pub version: String,
    /// Where it could be read.
    pub url: String,
    /// The prompt.
    pub prompt_id: String,
    /// When (ms).
    pub accepted_at: i64,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl Keyed for TosItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.accepted_at,
            id: self.id.to_string(),
        }
    }
}

/// ToS acceptances, newest first (`kind` filters the document, `status` the version).
pub async fn tos(conn: &mut SqliteConnection, f: &Filter) -> Result<Vec<TosItem>, StoreError> {
    Ok(sqlx::query_as::<_, TosItem>(
        "SELECT id, subject, issuer, document, version, url, prompt_id, accepted_at, ip, user_agent
         FROM tos_acceptances
         WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR version = ?2) AND (?3 IS NULL OR document = ?3)
           AND (?4 IS NULL OR issuer = ?4) AND (?5 IS NULL OR accepted_at >= ?5) AND (?6 IS NULL OR accepted_at < ?6)
           AND (?7 IS NULL OR accepted_at < ?7 OR (accepted_at = ?7 AND id < ?8))
         ORDER BY accepted_at DESC, id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.status)
    .bind(&f.kind)
    .bind(&f.issuer)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_num())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// A handed-out coupon, as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CouponItem {
    /// Row id.
    pub id: i64,
    /// Campaign.
    pub campaign: String,
    /// The code.
    pub code: String,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// The prompt.
    pub prompt_id: Option<String>,
    /// When (ms).
    pub assigned_at: i64,
    /// Valid until (ms).
    pub expires_at: Option<i64>,
}

impl Keyed for CouponItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.assigned_at,
            id: self.id.to_string(),
        }
    }
}

/// Handed-out codes, newest first.
pub async fn coupons(
    conn: &mut SqliteConnection,
    f: &Filter,
) -> Result<Vec<CouponItem>, StoreError> {
    Ok(sqlx::query_as::<_, CouponItem>(
        "SELECT id, campaign, code, subject, issuer, prompt_id, assigned_at, expires_at
         FROM coupon_codes
         WHERE subject IS NOT NULL
           AND (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR campaign = ?2)
           AND (?4 IS NULL OR issuer = ?4) AND (?5 IS NULL OR assigned_at >= ?5) AND (?6 IS NULL OR assigned_at < ?6)
           AND (?7 IS NULL OR assigned_at < ?7 OR (assigned_at = ?7 AND id < ?8))
         ORDER BY assigned_at DESC, id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.campaign)
    .bind(&f.status)
    .bind(&f.issuer)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_num())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// Handed-out and free codes per campaign.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CouponCount {
    /// Campaign.
    pub campaign: String,
    /// Handed out.
    pub assigned: i64,
    /// Still free in the pool.
    pub free: i64,
}

/// Coupon counts of every campaign that has codes.
pub async fn coupon_counts(conn: &mut SqliteConnection) -> Result<Vec<CouponCount>, StoreError> {
    Ok(sqlx::query_as::<_, CouponCount>(
        "SELECT campaign, SUM(subject IS NOT NULL) AS assigned, SUM(subject IS NULL) AS free
         FROM coupon_codes GROUP BY campaign ORDER BY campaign",
    )
    .fetch_all(conn)
    .await?)
}

/// A delivery (webhook or profile write-back), as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeliveryItem {
    /// Id.
    pub id: String,
    /// webhook / auth0_profile.
    pub kind: String,
    /// URL or tenant.
    pub target: String,
    /// Campaign.
    pub campaign: String,
    /// User.
    pub subject: String,
    /// The prompt.
    pub prompt_id: Option<String>,
    /// Queued (ms).
    pub created_at: i64,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt (ms).
    pub next_attempt_at: i64,
    /// Delivered (ms).
    pub delivered_at: Option<i64>,
    /// Given up (ms).
    pub failed_at: Option<i64>,
    /// Last failure.
    pub last_error: Option<String>,
}

impl Keyed for DeliveryItem {
    fn key(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id.clone(),
        }
    }
}

/// Deliveries, newest first; `status` is pending, delivered or failed; `kind` the kind.
pub async fn deliveries(
    conn: &mut SqliteConnection,
    f: &Filter,
) -> Result<Vec<DeliveryItem>, StoreError> {
    Ok(sqlx::query_as::<_, DeliveryItem>(
        "SELECT id, kind, target, campaign, subject, prompt_id, created_at, attempts, next_attempt_at,
                delivered_at, failed_at, last_error
         FROM outbox
         WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR campaign = ?2)
           AND (?3 IS NULL OR (?3 = 'delivered' AND delivered_at IS NOT NULL)
                           OR (?3 = 'failed' AND failed_at IS NOT NULL)
                           OR (?3 = 'pending' AND delivered_at IS NULL AND failed_at IS NULL))
           AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)
           AND (?7 IS NULL OR created_at < ?7 OR (created_at = ?7 AND id < ?8))
         ORDER BY created_at DESC, id DESC LIMIT ?9",
    )
    .bind(&f.subject)
    .bind(&f.campaign)
    .bind(&f.status)
    .bind(&f.kind)
    .bind(f.from)
    .bind(f.until)
    .bind(f.cursor_at())
    .bind(f.cursor_id())
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// Prompts per campaign and status.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StatusCount {
    /// Campaign.
    pub campaign: String,
    /// Status.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// Prompt counts of every campaign, by status.
pub async fn campaign_counts(conn: &mut SqliteConnection) -> Result<Vec<StatusCount>, StoreError> {
    Ok(sqlx::query_as::<_, StatusCount>(
        "SELECT campaign, status, COUNT(*) AS count FROM prompts GROUP BY campaign, status",
    )
    .fetch_all(conn)
    .await?)
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Erased {
    /// Answers deleted.
    pub responses: u64,
    /// Detours whose claims, IP and user agent were cleared.
    pub detours: u64,
    /// Prompts whose IP and user agent were cleared.
    pub prompts: u64,
    /// Pending deliveries dropped and delivered payloads cleared.
    pub deliveries: u64,
    /// Consent records deleted (0 when proof is kept).
    pub consents_deleted: u64,
    /// ToS records deleted (0 when proof is kept).
    pub tos_deleted: u64,
    /// Consent and ToS records kept as proof, with IP and user agent cleared.
    pub proof_kept: u64,
}

/// Erases one subject's answers and personal data; consent and ToS records are kept as
/// proof (without IP and user agent) or deleted, as configured.
pub async fn erase(
    conn: &mut SqliteConnection,
    subject: &str,
    issuer: Option<&str>,
    keep_proof: bool,
) -> Result<Erased, StoreError> {
    let mut e = Erased::default();
    macro_rules! run {
        ($sql:expr) => {
            sqlx::query($sql)
                .bind(subject)
                .bind(issuer)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        };
    }
    e.responses = run!("DELETE FROM responses WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)");
    e.detours = run!(
        "UPDATE detours SET claims = '{}', result = NULL, ip = NULL, user_agent = NULL
         WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)"
    );
    e.prompts = run!(
        "UPDATE prompts SET ip = NULL, user_agent = NULL WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)"
    );
    e.deliveries = run!(
        "DELETE FROM outbox WHERE subject = ?1 AND delivered_at IS NULL
           AND (?2 IS NULL OR prompt_id IN (SELECT id FROM prompts WHERE issuer = ?2))"
    );
    e.deliveries += run!(
        "UPDATE outbox SET payload = '{}' WHERE subject = ?1 AND delivered_at IS NOT NULL
           AND (?2 IS NULL OR prompt_id IN (SELECT id FROM prompts WHERE issuer = ?2))"
    );
    if keep_proof {
        e.proof_kept = run!(
            "UPDATE consents SET ip = NULL, user_agent = NULL WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)"
        );
        e.proof_kept += run!(
            "UPDATE tos_acceptances SET ip = NULL, user_agent = NULL WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)"
        );
    } else {
        e.consents_deleted =
            run!("DELETE FROM consents WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)");
        e.tos_deleted =
            run!("DELETE FROM tos_acceptances WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)");
    }
    Ok(e)
}
