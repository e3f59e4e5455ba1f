//! A user's history, read for the rules engine.

use sqlx::{Row, SqliteConnection};

use super::{StoreError, from_millis};
use crate::rules::{History, PastPrompt, PromptStatus, TosRecord};

/// How many past prompts the rules see at most (newest first): bounds the work per request.
pub const MAX_HISTORY: i64 = 500;

/// A user's prompts, newest first. The limit ([`MAX_HISTORY`]) is written into the SQL: a
/// bound `LIMIT ?` makes SQLite (3.47+) re-prepare the statement every time it is bound.
const PROMPTS_SQL: &str =
    "SELECT campaign, campaign_version, status, shown_at, finished_at FROM prompts
     WHERE issuer = ? AND subject = ? ORDER BY shown_at DESC LIMIT 500";

/// Parses a stored status.
pub fn parse_status(s: &str) -> Result<PromptStatus, StoreError> {
    Ok(match s {
        "pending" => PromptStatus::Pending,
        "completed" => PromptStatus::Completed,
        "skipped" => PromptStatus::Skipped,
        "declined" => PromptStatus::Declined,
        "expired" => PromptStatus::Expired,
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown prompt status `{other}`"
            )));
        }
    })
}

/// The stored name of a status.
pub fn status_name(s: PromptStatus) -> &'static str {
    match s {
        PromptStatus::Pending => "pending",
        PromptStatus::Completed => "completed",
        PromptStatus::Skipped => "skipped",
        PromptStatus::Declined => "declined",
        PromptStatus::Expired => "expired",
    }
}

/// The user's prompts and ToS acceptances at this tenant.
pub async fn load(
    conn: &mut SqliteConnection,
    issuer: &str,
    subject: &str,
) -> Result<History, StoreError> {
    let rows = sqlx::query(PROMPTS_SQL)
        .bind(issuer)
        .bind(subject)
        .fetch_all(&mut *conn)
        .await?;
    let mut prompts = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i64 = row.try_get("campaign_version")?;
        let status: String = row.try_get("status")?;
        prompts.push(PastPrompt {
            campaign: row.try_get("campaign")?,
            version: u32::try_from(version).unwrap_or(0),
            status: parse_status(&status)?,
            shown_at: from_millis(row.try_get("shown_at")?),
            finished_at: row
                .try_get::<Option<i64>, _>("finished_at")?
                .map(from_millis),
        });
    }
    let tos = sqlx::query(
        "SELECT DISTINCT document, version FROM tos_acceptances WHERE issuer = ? AND subject = ?",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok(TosRecord {
            document: row.try_get("document")?,
            version: row.try_get("version")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(History { prompts, tos })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_written_limit_is_max_history() {
        assert!(super::PROMPTS_SQL.ends_with(&format!("LIMIT {}", super::MAX_HISTORY)));
    }
}
