//! Detours (one per IdP redirect), their prompts, and the answers given.

use serde_json::Value;
use sqlx::SqliteConnection;

use rusqlite::OptionalExtension;

use super::{Store, StoreError, WriteTx, Writes};

/// A detour to record when a token is accepted.
#[derive(Debug)]
pub struct NewDetour<'a> {
    /// Random id.
    pub id: &'a str,
    /// Tenant.
    pub issuer: &'a str,
    /// The IdP's state (single use).
    pub state: &'a str,
    /// User.
    pub subject: &'a str,
    /// Verified claims (JSON).
    pub claims: &'a str,
    /// Where the user returns to.
    pub continue_url: &'a str,
    /// Now (ms).
    pub created_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// SHA-256 (hex) of the browser cookie.
    pub browser_hash: &'a str,
    /// Which tenant secret verified the token.
    pub secret_index: i64,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
}

/// Records a detour (deferred: sent with the transaction's next statement or its commit,
/// which fail with [`StoreError::Conflict`] when the (issuer, state) was used before).
pub fn insert_detour(w: &mut Writes, d: &NewDetour<'_>) {
    w.defer(
        "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at, expires_at, browser_hash, secret_index, ip, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.id)
    .bind(d.issuer)
    .bind(d.state)
    .bind(d.subject)
    .bind(d.claims)
    .bind(d.continue_url)
    .bind(d.created_at)
    .bind(d.expires_at)
    .bind(d.browser_hash)
    .bind(d.secret_index)
    .bind(d.ip)
    .bind(d.user_agent);
}

/// A prompt to record.
#[derive(Debug)]
pub struct NewPrompt<'a> {
    /// Random id (appears in the prompt's URL).
    pub id: &'a str,
    /// Its detour.
    pub detour_id: &'a str,
    /// Position in the detour's chain, from 0.
    pub seq: i64,
    /// Campaign id.
    pub campaign: &'a str,
    /// Campaign version.
    pub campaign_version: u32,
    /// User.
    pub subject: &'a str,
    /// Tenant.
    pub issuer: &'a str,
    /// Locale the page is shown in.
    pub locale: &'a str,
    /// CSRF token of the form.
    pub csrf_token: &'a str,
    /// SHA-256 (hex) of the browser cookie.
    pub browser_hash: &'a str,
    /// Now (ms).
    pub shown_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
}

/// Records a prompt (deferred).
pub fn insert_prompt(w: &mut Writes, p: &NewPrompt<'_>) {
    w.defer(
        "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject, issuer, status, locale,
                              csrf_token, browser_hash, shown_at, expires_at, ip, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id)
    .bind(p.detour_id)
    .bind(p.seq)
    .bind(p.campaign)
    .bind(i64::from(p.campaign_version))
    .bind(p.subject)
    .bind(p.issuer)
    .bind(p.locale)
    .bind(p.csrf_token)
    .bind(p.browser_hash)
    .bind(p.shown_at)
    .bind(p.expires_at)
    .bind(p.ip)
    .bind(p.user_agent);
}

/// A prompt with what its detour knows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptRow {
    /// Prompt id.
    pub id: String,
    /// Detour id.
    pub detour_id: String,
    /// Chain position.
    pub seq: i64,
    /// Campaign id.
    pub campaign: String,
    /// Campaign version.
    pub campaign_version: i64,
    /// User.
    pub subject: String,
    /// Tenant.
    pub issuer: String,
    /// pending / completed / skipped / declined / expired.
    pub status: String,
    /// Page locale.
    pub locale: String,
    /// Form CSRF token.
    pub csrf_token: String,
    /// Hash of the browser cookie.
    pub browser_hash: String,
    /// When shown (ms).
    pub shown_at: i64,
    /// When expiring (ms).
    pub expires_at: i64,
    /// The detour's state.
    pub state: String,
    /// The detour's verified claims (JSON).
    pub claims: String,
    /// The detour's continue URL.
    pub continue_url: String,
    /// The detour's return claims once finished (JSON).
    pub result: Option<String>,
    /// Which tenant secret verified the inbound token.
    pub secret_index: i64,
}

const PROMPT_ROW_SQL: &str = "SELECT p.id, p.detour_id, p.seq, p.campaign, p.campaign_version, p.subject, p.issuer, p.status,
                p.locale, p.csrf_token, p.browser_hash, p.shown_at, p.expires_at,
                d.state, d.claims, d.continue_url, d.result, d.secret_index
         FROM prompts p JOIN detours d ON d.id = p.detour_id WHERE p.id = ?";

/// The prompt with this id.
pub async fn get_prompt(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<PromptRow>, StoreError> {
    Ok(sqlx::query_as::<_, PromptRow>(PROMPT_ROW_SQL)
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// The same, read on the caller's thread ([`Store::read_here`]); `None` when it cannot be
/// read there (the caller then uses [`get_prompt`]).
pub(super) fn get_prompt_here(store: &Store, id: &str) -> Option<Option<PromptRow>> {
    store.read_here(|db| {
        db.prepare_cached(PROMPT_ROW_SQL)?
            .query_row([id], |r| {
                Ok(PromptRow {
                    id: r.get(0)?,
                    detour_id: r.get(1)?,
                    seq: r.get(2)?,
                    campaign: r.get(3)?,
                    campaign_version: r.get(4)?,
                    subject: r.get(5)?,
                    issuer: r.get(6)?,
                    status: r.get(7)?,
                    locale: r.get(8)?,
                    csrf_token: r.get(9)?,
                    browser_hash: r.get(10)?,
                    shown_at: r.get(11)?,
                    expires_at: r.get(12)?,
                    state: r.get(13)?,
                    claims: r.get(14)?,
                    continue_url: r.get(15)?,
                    result: r.get(16)?,
                    secret_index: r.get(17)?,
                })
            })
            .optional()
    })
}

/// The next prompt of a detour after `seq`, if the chain went on.
pub async fn next_prompt_id(
    conn: &mut SqliteConnection,
    detour_id: &str,
    seq: i64,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM prompts WHERE detour_id = ? AND seq = ?")
            .bind(detour_id)
            .bind(seq + 1)
            .fetch_optional(conn)
            .await?,
    )
}

/// Ends a pending prompt; false when it was not pending any more (a concurrent or repeated POST).
pub async fn finish_prompt(
    tx: &mut WriteTx,
    id: &str,
    status: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let ended = tx
        .fetch_with(FINISH_PROMPT, |b| b.bind(status).bind(now).bind(id))
        .await?;
    Ok(!ended.is_empty())
}

/// Ends a prompt (deferred). Should it not be pending any more, the `prompts_finished_once`
/// trigger fails the transaction with [`StoreError::Finished`], and nothing is written.
pub fn end_prompt(w: &mut Writes, id: &str, status: &str, now: i64) {
    w.defer("UPDATE prompts SET status = ?, finished_at = ? WHERE id = ?")
        .bind(status)
        .bind(now)
        .bind(id);
}

const FINISH_PROMPT: &str = "UPDATE prompts SET status = ?, finished_at = ? WHERE id = ? AND status = 'pending' RETURNING id";

/// An answer to record.
#[derive(Debug)]
pub struct NewResponse<'a> {
    /// The prompt answered.
    pub prompt: &'a PromptRow,
    /// completed / skipped / declined.
    pub outcome: &'a str,
    /// Validated answers (empty for skip and decline).
    pub answers: &'a Value,
    /// Claims the outcomes added (coupon …).
    pub outcome_claims: &'a Value,
    /// Now (ms).
    pub created_at: i64,
}

/// Records an answer (deferred).
pub fn insert_response(w: &mut Writes, r: &NewResponse<'_>) {
    w.defer(
        "INSERT INTO responses (prompt_id, campaign, campaign_version, subject, issuer, outcome, answers, outcome_claims, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.prompt.id)
    .bind(&r.prompt.campaign)
    .bind(r.prompt.campaign_version)
    .bind(&r.prompt.subject)
    .bind(&r.prompt.issuer)
    .bind(r.outcome)
    .bind(r.answers.to_string())
    .bind(r.outcome_claims.to_string())
    .bind(r.created_at);
}

/// One step of a detour's chain, as answered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChainStep {
    /// Campaign id.
    pub campaign: String,
    /// Campaign version answered.
    pub campaign_version: i64,
    /// completed / skipped / declined.
    pub outcome: String,
    /// Answers (JSON).
    pub answers: String,
    /// Outcome claims (JSON).
    pub outcome_claims: String,
}

/// Marks a detour finished with its return claims, unless it already was (deferred).
pub fn finish_detour(w: &mut Writes, id: &str, result: &Value, now: i64) {
    w.defer("UPDATE detours SET finished_at = ?, result = ? WHERE id = ? AND finished_at IS NULL")
        .bind(now)
        .bind(result.to_string())
        .bind(id);
}

/// A finished detour, as its return page needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DetourRow {
    /// Detour id.
    pub id: String,
    /// Tenant.
    pub issuer: String,
    /// The IdP's state.
    pub state: String,
    /// Where the user returns to.
    pub continue_url: String,
    /// Hash of the browser cookie.
    pub browser_hash: String,
    /// Verified claims (JSON).
    pub claims: String,
    /// Return claims (JSON) once finished.
    pub result: Option<String>,
    /// Which tenant secret verified the inbound token.
    pub secret_index: i64,
}

/// The detour with this id.
pub async fn get_detour(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<DetourRow>, StoreError> {
    Ok(sqlx::query_as::<_, DetourRow>(
        "SELECT id, issuer, state, continue_url, browser_hash, claims, result, secret_index FROM detours WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

const DETOUR_STEPS_SQL: &str =
    "SELECT p.campaign, r.campaign_version, r.outcome, r.answers, r.outcome_claims
         FROM prompts p LEFT JOIN responses r ON r.prompt_id = p.id
         WHERE p.detour_id = ? ORDER BY p.seq";

/// A detour's prompts so far: the campaigns shown, in order, and the steps answered.
pub type Steps = (Vec<String>, Vec<ChainStep>);

/// A detour's prompts so far: the campaigns shown, in order, and the steps answered.
pub async fn detour_steps(
    conn: &mut SqliteConnection,
    detour_id: &str,
) -> Result<Steps, StoreError> {
    let rows = sqlx::query_as::<_, DetourPromptRow>(DETOUR_STEPS_SQL)
        .bind(detour_id)
        .fetch_all(conn)
        .await?;
    Ok(steps_of(rows))
}

/// The same, read on the caller's thread ([`Store::read_here`]); `None` when it cannot be
/// read there (the caller then uses [`detour_steps`]).
pub(super) fn detour_steps_here(store: &Store, detour_id: &str) -> Option<Steps> {
    let rows = store.read_here(|db| {
        db.prepare_cached(DETOUR_STEPS_SQL)?
            .query_map([detour_id], |r| {
                Ok(DetourPromptRow {
                    campaign: r.get(0)?,
                    campaign_version: r.get(1)?,
                    outcome: r.get(2)?,
                    answers: r.get(3)?,
                    outcome_claims: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
    })?;
    Some(steps_of(rows))
}

/// The campaigns shown, in order, and the steps answered.
fn steps_of(rows: Vec<DetourPromptRow>) -> Steps {
    let mut shown = Vec::with_capacity(rows.len());
    let mut steps = Vec::new();
    for row in rows {
        if let (Some(campaign_version), Some(outcome), Some(answers), Some(outcome_claims)) = (
            row.campaign_version,
            row.outcome,
            row.answers,
            row.outcome_claims,
        ) {
            steps.push(ChainStep {
                campaign: row.campaign.clone(),
                campaign_version,
                outcome,
                answers,
                outcome_claims,
            });
        }
        shown.push(row.campaign);
    }
    (shown, steps)
}

/// A prompt of a detour, with its response once answered.
#[derive(sqlx::FromRow)]
struct DetourPromptRow {
    campaign: String,
    campaign_version: Option<i64>,
    outcome: Option<String>,
    answers: Option<String>,
    outcome_claims: Option<String>,
}

/// Marks pending prompts past their expiry as expired; returns how many.
pub async fn expire_stale(conn: &mut SqliteConnection, now: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE prompts SET status = 'expired', finished_at = ? WHERE status = 'pending' AND expires_at < ?",
    )
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A ToS acceptance to record.
#[derive(Debug)]
pub struct NewTosAcceptance<'a> {
    /// The prompt that recorded it.
    pub prompt: &'a PromptRow,
    /// Document id.
    pub document: &'a str,
    /// Version accepted.
    pub version: &'a str,
    /// Where it could be read.
    pub url: &'a str,
    /// Now (ms).
    pub accepted_at: i64,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
}

/// Records a ToS acceptance (deferred).
pub fn insert_tos(w: &mut Writes, t: &NewTosAcceptance<'_>) {
    w.defer(
        "INSERT INTO tos_acceptances (issuer, subject, document, version, url, prompt_id, accepted_at, ip, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.prompt.issuer)
    .bind(&t.prompt.subject)
    .bind(t.document)
    .bind(t.version)
    .bind(t.url)
    .bind(&t.prompt.id)
    .bind(t.accepted_at)
    .bind(t.ip)
    .bind(t.user_agent);
}
