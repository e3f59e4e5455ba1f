//! A user's history, read for the rules engine.

use sqlx::SqliteConnection;

use super::{Store, StoreError, from_millis};
use crate::rules::{History, HistoryParts, PastPrompt, PromptStatus, TosRecord};

/// How many past prompts the rules see at most (newest first): bounds the work per request.
pub const MAX_HISTORY: i64 = 500;

/// The prompts part of the history statements (a macro, so that both are literals).
macro_rules! prompts_sql {
    () => {
        "SELECT campaign, campaign_version, status, shown_at, finished_at, NULL
       FROM (SELECT campaign, campaign_version, status, shown_at, finished_at
             FROM prompts WHERE issuer = ?1 AND subject = ?2
             ORDER BY shown_at DESC LIMIT 500)"
    };
}

/// A user's newest prompts (the rules take them in any order), then the ToS versions they
/// accepted, in one statement, so both come from the same snapshot. A row with a status is
/// a prompt (campaign, version, status, shown at, finished at); a row without one is a ToS
/// acceptance (document, then its version in the last column), each distinct pair once.
/// The `prompts_history` index covers the first part and `tos_history` the second, whose
/// grouping follows that index (no temporary b-tree per login). The limit ([`MAX_HISTORY`])
/// is written into the SQL: a bound `LIMIT ?` makes SQLite (3.47+) re-prepare the statement
/// every time it is bound.
const HISTORY_SQL: &str = concat!(
    prompts_sql!(),
    "
       UNION ALL
       SELECT document, NULL, NULL, NULL, NULL, version
       FROM tos_acceptances WHERE issuer = ?1 AND subject = ?2
       GROUP BY document, version"
);

/// The first part of [`HISTORY_SQL`] alone, for campaign sets whose rules read no ToS
/// acceptance ([`HistoryParts::Prompts`]).
const PROMPTS_SQL: &str = prompts_sql!();

/// The statement that reads `parts` of a history.
fn sql(parts: HistoryParts) -> &'static str {
    match parts {
        HistoryParts::All => HISTORY_SQL,
        HistoryParts::Prompts => PROMPTS_SQL,
    }
}

/// One row of the history statement, its columns in order.
type HistoryRow = (
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

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

/// The user's prompts and ToS acceptances at this tenant, read through the pool.
pub async fn load(
    conn: &mut SqliteConnection,
    issuer: &str,
    subject: &str,
    parts: HistoryParts,
) -> Result<History, StoreError> {
    let rows: Vec<HistoryRow> = sqlx::query_as(sql(parts))
        .bind(issuer)
        .bind(subject)
        .fetch_all(&mut *conn)
        .await?;
    let mut history = History::default();
    for (first, version, status, shown_at, finished_at, tos_version) in rows {
        add(
            &mut history,
            first,
            version,
            status.as_deref(),
            shown_at,
            finished_at,
            tos_version,
        )?;
    }
    Ok(history)
}

/// The same, read on the caller's thread ([`Store::read_here`]); `None` when it cannot be
/// read there (the caller then uses [`load`]). The rows are taken as they are stepped (a
/// status is read in place, not copied).
pub(super) fn load_here(
    store: &Store,
    issuer: &str,
    subject: &str,
    parts: HistoryParts,
) -> Option<Result<History, StoreError>> {
    store.read_here(|db| {
        let mut statement = db.prepare_cached(sql(parts))?;
        let mut rows = statement.query((issuer, subject))?;
        let mut history = History::default();
        while let Some(row) = rows.next()? {
            let added = add(
                &mut history,
                row.get(0)?,
                row.get(1)?,
                row.get_ref(2)?.as_str_or_null()?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            );
            if let Err(e) = added {
                return Ok(Err(e));
            }
        }
        Ok(Ok(history))
    })
}

/// Adds one row of the history statement to `history`.
fn add(
    history: &mut History,
    first: String,
    version: Option<i64>,
    status: Option<&str>,
    shown_at: Option<i64>,
    finished_at: Option<i64>,
    tos_version: Option<String>,
) -> Result<(), StoreError> {
    match (status, tos_version) {
        (Some(status), _) => history.prompts.push(PastPrompt {
            campaign: first,
            version: version.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            status: parse_status(status)?,
            shown_at: from_millis(shown_at.unwrap_or(0)),
            finished_at: finished_at.map(from_millis),
        }),
        (None, Some(version)) => history.tos.push(TosRecord {
            document: first,
            version,
        }),
        (None, None) => {
            return Err(StoreError::Corrupt(
                "a history row is neither a prompt nor a ToS acceptance".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_limit_is_max_history() {
        let limit = format!("LIMIT {})", MAX_HISTORY);
        assert!(HISTORY_SQL.contains(&limit));
        assert!(HISTORY_SQL.starts_with(PROMPTS_SQL));
    }

    /// The history comes back whole and typed from its one statement, both parts are read
    /// from covering indexes alone without a temporary b-tree, and a user with no history
    /// gets empty lists.
    #[tokio::test]
    async fn reads_prompts_and_tos_in_one_statement_through_covering_indexes() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = crate::store::Store::connect(&url).await.expect("a store");
        let mut conn = store.conn().await.expect("a connection");
        for sql in [
            "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at,
                                  expires_at, browser_hash)
             VALUES ('d1', 'iss', 's1', 'alice', '{}', 'https://idp.test/continue', 1000,
                     9000, 'b')",
            "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject,
                                  issuer, status, locale, csrf_token, browser_hash, shown_at,
                                  finished_at, expires_at)
             VALUES ('p1', 'd1', 0, 'tos', 2, 'alice', 'iss', 'completed', 'en', 'c', 'b',
                     1000, 2000, 9000),
                    ('p2', 'd1', 1, 'job', 1, 'alice', 'iss', 'pending', 'en', 'c', 'b',
                     3000, NULL, 9000)",
            "INSERT INTO tos_acceptances (issuer, subject, document, version, url, prompt_id,
                                          accepted_at)
             VALUES ('iss', 'alice', 'terms', '2', 'https://x.test/t', 'p1', 2000),
                    ('iss', 'alice', 'terms', '2', 'https://x.test/t', 'p1', 2001)",
        ] {
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
            {
                panic!("fixture `{sql}`: {e}");
            }
        }
        let history = load(&mut conn, "iss", "alice", HistoryParts::All)
            .await
            .expect("the history");
        let mut prompts: Vec<_> = history
            .prompts
            .iter()
            .map(|p| {
                (
                    p.campaign.as_str(),
                    p.version,
                    p.status,
                    p.finished_at.is_some(),
                )
            })
            .collect();
        prompts.sort_by_key(|p| p.0);
        assert_eq!(
            prompts,
            [
                ("job", 1, PromptStatus::Pending, false),
                ("tos", 2, PromptStatus::Completed, true)
            ]
        );
        let job = history.prompts.iter().find(|p| p.campaign == "job");
        assert_eq!(job.map(|p| p.shown_at), Some(from_millis(3000)));
        let tos: Vec<_> = history
            .tos
            .iter()
            .map(|t| (t.document.as_str(), t.version.as_str()))
            .collect();
        assert_eq!(tos, [("terms", "2")], "distinct versions");

        // Read on this thread, without the pool: the same history.
        let here = load_here(&store, "iss", "alice", HistoryParts::All)
            .expect("a file database is read here")
            .expect("the history");
        assert_eq!(format!("{here:?}"), format!("{history:?}"));

        // The prompts alone, both ways: the same prompts, no ToS acceptances.
        let prompts_only = History {
            prompts: history.prompts.clone(),
            tos: Vec::new(),
        };
        let pooled = load(&mut conn, "iss", "alice", HistoryParts::Prompts)
            .await
            .expect("the prompts");
        assert_eq!(format!("{pooled:?}"), format!("{prompts_only:?}"));
        let here = load_here(&store, "iss", "alice", HistoryParts::Prompts)
            .expect("a file database is read here")
            .expect("the prompts");
        assert_eq!(format!("{here:?}"), format!("{prompts_only:?}"));

        let nobody = load(&mut conn, "iss", "bob", HistoryParts::All)
            .await
            .expect("an empty history");
        assert!(nobody.prompts.is_empty() && nobody.tos.is_empty());

        let plan = query_plan(&mut conn, PROMPTS_SQL).await;
        assert!(
            plan.iter()
                .any(|d| d.contains("USING COVERING INDEX prompts_history")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("tos_")), "{plan:?}");
        let plan = query_plan(&mut conn, HISTORY_SQL).await;
        for index in ["prompts_history", "tos_history"] {
            assert!(
                plan.iter()
                    .any(|d| d.contains(&format!("USING COVERING INDEX {index}"))),
                "{plan:?}"
            );
        }
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }

    async fn query_plan(conn: &mut SqliteConnection, sql: &str) -> Vec<String> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .bind("iss")
            .bind("alice")
            .fetch_all(&mut *conn)
            .await
            .expect("a query plan");
        rows.iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 3).unwrap_or_default())
            .collect()
    }
}
