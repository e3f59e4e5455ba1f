//! A user's history, read for the rules engine.

use sqlx::{Row, SqliteConnection};

use super::{StoreError, from_millis};
use crate::rules::{History, PastPrompt, PromptStatus, TosRecord};

/// How many past prompts the rules see at most (newest first): bounds the work per request.
pub const MAX_HISTORY: i64 = 500;

/// A user's newest prompts (`kind` 0; the rules take them in any order) and the ToS versions
/// they accepted (`kind` 1), in one statement: each statement is a round trip to the
/// connection's thread. The `prompts_history` index covers the first part. The limit
/// ([`MAX_HISTORY`]) is written into the SQL: a bound `LIMIT ?` makes SQLite (3.47+)
/// re-prepare the statement every time it is bound.
const HISTORY_SQL: &str = "SELECT * FROM (
       SELECT 0 AS kind, campaign AS name, campaign_version, status, shown_at, finished_at,
              NULL AS tos_version
       FROM prompts WHERE issuer = ?1 AND subject = ?2 ORDER BY shown_at DESC LIMIT 500)
     UNION ALL
     SELECT DISTINCT 1, document, NULL, NULL, NULL, NULL, version
     FROM tos_acceptances WHERE issuer = ?1 AND subject = ?2";

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
    let rows = sqlx::query(HISTORY_SQL)
        .bind(issuer)
        .bind(subject)
        .fetch_all(&mut *conn)
        .await?;
    let mut history = History {
        prompts: Vec::with_capacity(rows.len()),
        tos: Vec::new(),
    };
    for row in rows {
        let name: String = row.try_get(1)?;
        if row.try_get::<i64, _>(0)? == 1 {
            history.tos.push(TosRecord {
                document: name,
                version: row.try_get(6)?,
            });
            continue;
        }
        let version: i64 = row.try_get(2)?;
        let status: &str = row.try_get(3)?;
        history.prompts.push(PastPrompt {
            campaign: name,
            version: u32::try_from(version).unwrap_or(0),
            status: parse_status(status)?,
            shown_at: from_millis(row.try_get(4)?),
            finished_at: row.try_get::<Option<i64>, _>(5)?.map(from_millis),
        });
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_written_limit_is_max_history() {
        let limit = format!("LIMIT {})", super::MAX_HISTORY);
        assert!(super::HISTORY_SQL.contains(&limit));
    }
}
