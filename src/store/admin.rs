//! Audit queries for the admin API: filtered lists with keyset pagination, per-campaign
//! counts, everything about one subject, and erasure.
//!
//! Lists are ordered newest first by (time, id); a cursor names the last row seen, so a
//! page never shifts when rows are inserted while an auditor pages through. A list's SQL
//! holds a condition for each filter given, and only those ([`Listing`]): values are bound
//! parameters, never formatted in.

use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

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
    /// The cursor, of a list whose ids are text.
    fn cursor_text(&self) -> Option<(i64, String)> {
        self.cursor.as_ref().map(|c| (c.at, c.id.clone()))
    }

    /// The cursor, of a list whose ids are numbers.
    fn cursor_number(&self) -> Option<(i64, Option<i64>)> {
        self.cursor.as_ref().map(|c| (c.at, c.id.parse().ok()))
    }
}

/// A list's statement: its SELECT, a condition for each filter given, then the page's
/// position, order and size.
///
/// Only the filters given are written, each as `column = ?` with its value bound (the
/// column names are this module's own, never input), so SQLite can serve a subject's rows
/// from the table's (issuer, subject) index. Written as `?1 IS NULL OR column = ?1`, as
/// they were, no index could serve them: at 1 M prompts, every page of a subject's prompts
/// read them all (0.3 s against 5 ms, docs/benchmark.md).
struct Listing {
    sql: QueryBuilder<Sqlite>,
    conditions: usize,
}

impl Listing {
    fn new(select: &'static str) -> Self {
        Listing {
            sql: QueryBuilder::new(select),
            conditions: 0,
        }
    }

    /// Starts the next condition.
    fn and(&mut self) -> &mut QueryBuilder<Sqlite> {
        self.sql.push(if self.conditions == 0 {
            " WHERE "
        } else {
            " AND "
        });
        self.conditions += 1;
        &mut self.sql
    }

    /// A fixed condition.
    fn always(mut self, condition: &'static str) -> Self {
        self.and().push(condition);
        self
    }

    /// `column = value`, if a value is given.
    fn eq(mut self, column: &'static str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.and().push(column).push(" = ").push_bind(v.to_owned());
        }
        self
    }

    /// `column >= from` and `column < until`, for the bounds given.
    fn between(mut self, column: &'static str, from: Option<i64>, until: Option<i64>) -> Self {
        if let Some(from) = from {
            self.and().push(column).push(" >= ").push_bind(from);
        }
        if let Some(until) = until {
            self.and().push(column).push(" < ").push_bind(until);
        }
        self
    }

    /// A subject's rows, of the issuer given or of every issuer in the table: the issuers
    /// are found by a seek each in the table's (issuer, …) index, so that the subject's rows
    /// are read from its (issuer, subject) index too, not by a scan of the whole table.
    fn subject(mut self, table: &Indexed, f: &Filter) -> Self {
        if f.subject.is_some() && f.issuer.is_none() {
            self.and()
                .push(table.issuer)
                .push(" IN (")
                .push(table.issuers)
                .push(")");
        }
        self.eq(table.issuer, f.issuer.as_deref())
            .eq(table.subject, f.subject.as_deref())
    }

    /// Rows before the cursor's, newest first, one page.
    fn page<I>(
        mut self,
        time: &'static str,
        id: &'static str,
        cursor: Option<(i64, I)>,
        limit: i64,
    ) -> QueryBuilder<Sqlite>
    where
        I: for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
    {
        if let Some((at, last)) = cursor {
            // `time <= at` first, which an index on the time can serve.
            self.and().push(time).push(" <= ").push_bind(at);
            self.and()
                .push("(")
                .push(time)
                .push(" < ")
                .push_bind(at)
                .push(" OR ")
                .push(id)
                .push(" < ")
                .push_bind(last)
                .push(")");
        }
        self.sql
            .push(" ORDER BY ")
            .push(time)
            .push(" DESC, ")
            .push(id)
            .push(" DESC LIMIT ")
            .push_bind(limit);
        self.sql
    }
}

/// A table with an index that leads with (issuer, subject), as a list's SQL names it.
struct Indexed {
    issuer: &'static str,
    subject: &'static str,
    /// Every issuer with a row in the table, by one index seek per issuer (a recursive
    /// `min(issuer) … WHERE issuer > the previous one`; `SELECT DISTINCT issuer` would read
    /// the whole index).
    issuers: &'static str,
}

macro_rules! indexed {
    ($table:literal, $alias:literal) => {
        Indexed {
            issuer: concat!($alias, "issuer"),
            subject: concat!($alias, "subject"),
            issuers: concat!(
                "WITH RECURSIVE known(issuer) AS (SELECT min(issuer) FROM ",
                $table,
                " UNION ALL SELECT (SELECT min(issuer) FROM ",
                $table,
                " WHERE issuer > known.issuer) FROM known WHERE known.issuer IS NOT NULL)",
                " SELECT issuer FROM known WHERE issuer IS NOT NULL"
            ),
        }
    };
}

/// `prompts_history`.
const PROMPTS: Indexed = indexed!("prompts", "");
/// `responses_by_subject`.
const RESPONSES: Indexed = indexed!("responses", "");
/// `consents_current`, in the list (which joins the texts).
const CONSENTS: Indexed = indexed!("consents", "c.");
/// `consents_current`.
const UNALIASED_CONSENTS: Indexed = indexed!("consents", "");
/// `tos_history`.
const TOS: Indexed = indexed!("tos_acceptances", "");

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
    let mut sql = prompts_sql(f);
    Ok(sql.build_query_as::<PromptItem>().fetch_all(conn).await?)
}

fn prompts_sql(f: &Filter) -> QueryBuilder<Sqlite> {
    Listing::new(
        "SELECT id, campaign, campaign_version, subject, issuer, status, locale, shown_at, finished_at, ip, user_agent
         FROM prompts",
    )
    .subject(&PROMPTS, f)
    .eq("campaign", f.campaign.as_deref())
    .eq("status", f.status.as_deref())
    .between("shown_at", f.from, f.until)
    .page("shown_at", "id", f.cursor_text(), f.limit)
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
    let mut sql = Listing::new(
        "SELECT prompt_id, campaign, campaign_version, subject, issuer, outcome, answers, outcome_claims, created_at
         FROM responses",
    )
    .subject(&RESPONSES, f)
    .eq("campaign", f.campaign.as_deref())
    .eq("outcome", f.status.as_deref())
    .between("created_at", f.from, f.until)
    .page("created_at", "prompt_id", f.cursor_text(), f.limit);
    Ok(sql.build_query_as::<ResponseItem>().fetch_all(conn).await?)
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
    let mut sql = Listing::new(
        "SELECT c.id, c.subject, c.issuer, c.purpose, c.granted, c.text_version, c.text_sha256, t.text, c.controller,
                c.campaign, c.campaign_version, c.locale, c.prompt_id, c.recorded_at, c.ip, c.user_agent
         FROM consents c JOIN consent_texts t ON t.sha256 = c.text_sha256",
    )
    .subject(&CONSENTS, f)
    .eq("c.campaign", f.campaign.as_deref())
    .eq("c.purpose", f.kind.as_deref())
    .between("c.recorded_at", f.from, f.until)
    .page("c.recorded_at", "c.id", f.cursor_number(), f.limit);
    Ok(sql.build_query_as::<ConsentItem>().fetch_all(conn).await?)
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
    let mut sql = Listing::new(
        "SELECT id, subject, issuer, document, version, url, prompt_id, accepted_at, ip, user_agent
         FROM tos_acceptances",
    )
    .subject(&TOS, f)
    .eq("version", f.status.as_deref())
    .eq("document", f.kind.as_deref())
    .between("accepted_at", f.from, f.until)
    .page("accepted_at", "id", f.cursor_number(), f.limit);
    Ok(sql.build_query_as::<TosItem>().fetch_all(conn).await?)
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
    let mut sql = Listing::new(
        "SELECT id, campaign, code, subject, issuer, prompt_id, assigned_at, expires_at
         FROM coupon_codes",
    )
    .always("subject IS NOT NULL")
    .eq("subject", f.subject.as_deref())
    .eq("campaign", f.campaign.as_deref())
    .eq("issuer", f.issuer.as_deref())
    .between("assigned_at", f.from, f.until)
    .page("assigned_at", "id", f.cursor_number(), f.limit);
    Ok(sql.build_query_as::<CouponItem>().fetch_all(conn).await?)
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
    let listing = Listing::new(
        "SELECT id, kind, target, campaign, subject, prompt_id, created_at, attempts, next_attempt_at,
                delivered_at, failed_at, last_error
         FROM outbox",
    )
    .eq("subject", f.subject.as_deref())
    .eq("campaign", f.campaign.as_deref());
    let listing = match f.status.as_deref() {
        None => listing,
        Some("delivered") => listing.always("delivered_at IS NOT NULL"),
        Some("failed") => listing.always("failed_at IS NOT NULL"),
        Some("pending") => listing.always("delivered_at IS NULL AND failed_at IS NULL"),
        // No delivery has another status.
        Some(_) => listing.always("0"),
    };
    let mut sql = listing
        .eq("kind", f.kind.as_deref())
        .between("created_at", f.from, f.until)
        .page("created_at", "id", f.cursor_text(), f.limit);
    Ok(sql.build_query_as::<DeliveryItem>().fetch_all(conn).await?)
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
        ($sql:expr) => {{
            // Made of this module's constants only: values are bound.
            let sql: &str = $sql;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(subject)
                .bind(issuer)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }};
    }
    // Where the table has an (issuer, subject) index, its rows are found through it (see
    // `Indexed`); the writer is held while this runs, and logins wait. `detours` and
    // `outbox` have no such index and are scanned.
    let of = |table: &Indexed| match issuer {
        Some(_) => format!("{} = ?2 AND {} = ?1", table.issuer, table.subject),
        None => format!(
            "{} IN ({}) AND {} = ?1 AND ?2 IS NULL",
            table.issuer, table.issuers, table.subject
        ),
    };
    e.responses = run!(&format!("DELETE FROM responses WHERE {}", of(&RESPONSES)));
    e.detours = run!(
        "UPDATE detours SET claims = '{}', result = NULL, ip = NULL, user_agent = NULL
         WHERE subject = ?1 AND (?2 IS NULL OR issuer = ?2)"
    );
    e.prompts = run!(&format!(
        "UPDATE prompts SET ip = NULL, user_agent = NULL WHERE {}",
        of(&PROMPTS)
    ));
    e.deliveries = run!(
        "DELETE FROM outbox WHERE subject = ?1 AND delivered_at IS NULL
           AND (?2 IS NULL OR prompt_id IN (SELECT id FROM prompts WHERE issuer = ?2))"
    );
    e.deliveries += run!(
        "UPDATE outbox SET payload = '{}' WHERE subject = ?1 AND delivered_at IS NOT NULL
           AND (?2 IS NULL OR prompt_id IN (SELECT id FROM prompts WHERE issuer = ?2))"
    );
    let (consents, tos) = (of(&UNALIASED_CONSENTS), of(&TOS));
    if keep_proof {
        e.proof_kept = run!(&format!(
            "UPDATE consents SET ip = NULL, user_agent = NULL WHERE {consents}"
        ));
        e.proof_kept += run!(&format!(
            "UPDATE tos_acceptances SET ip = NULL, user_agent = NULL WHERE {tos}"
        ));
    } else {
        e.consents_deleted = run!(&format!("DELETE FROM consents WHERE {consents}"));
        e.tos_deleted = run!(&format!("DELETE FROM tos_acceptances WHERE {tos}"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A store with `alice`'s prompts under two issuers, and others'.
    async fn store_with_prompts() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = crate::store::Store::connect(&url).await.expect("a store");
        let mut conn = store.conn().await.expect("a connection");
        sqlx::query(
            "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at,
                                  expires_at, browser_hash)
             VALUES ('d1', 'iss-a', 's1', 'alice', '{}', 'https://idp.test/continue', 1000, 9000, 'b')",
        )
        .execute(&mut *conn)
        .await
        .expect("a detour");
        // Six prompts of alice's, three under each issuer, and forty of others'.
        for n in 0..46_i64 {
            let (subject, issuer) = match n {
                0..6 => ("alice", if n % 2 == 0 { "iss-a" } else { "iss-b" }),
                _ => ("bob", "iss-a"),
            };
            sqlx::query(
                "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject,
                                      issuer, status, locale, csrf_token, browser_hash, shown_at,
                                      expires_at, ip)
                 VALUES (?1, 'd1', ?2, 'job', 1, ?3, ?4, 'pending', 'en', 'c', 'b', ?5, 9000, '192.0.2.1')",
            )
            .bind(format!("p{n:02}"))
            .bind(n)
            .bind(subject)
            .bind(issuer)
            .bind(1000 + n / 2)
            .execute(&mut *conn)
            .await
            .expect("a prompt");
        }
        drop(conn);
        (dir, store)
    }

    fn ids(items: &[PromptItem]) -> Vec<&str> {
        items.iter().map(|p| p.id.as_str()).collect()
    }

    /// A subject's prompts come from every issuer, or the one given, newest first and page
    /// by page, and the statement reads them from `prompts_history` alone: no scan of
    /// `prompts` (a scan is what the earlier `?1 IS NULL OR subject = ?1` made).
    #[tokio::test]
    async fn a_subjects_prompts_are_read_through_the_index_of_every_issuer() {
        let (_dir, store) = store_with_prompts().await;
        let mut conn = store.conn().await.expect("a connection");
        let mut f = Filter {
            subject: Some("alice".into()),
            limit: 4,
            ..Filter::default()
        };
        let first = prompts(&mut conn, &f).await.expect("a page");
        assert_eq!(ids(&first), ["p05", "p04", "p03", "p02"]);
        f.cursor = first.last().map(Keyed::key);
        let second = prompts(&mut conn, &f).await.expect("the next page");
        assert_eq!(ids(&second), ["p01", "p00"]);
        f.cursor = None;
        f.issuer = Some("iss-b".into());
        assert_eq!(
            ids(&prompts(&mut conn, &f).await.expect("one issuer's")),
            ["p05", "p03", "p01"]
        );
        f.issuer = None;
        f.status = Some("completed".into());
        assert!(prompts(&mut conn, &f).await.expect("none").is_empty());

        for issuer in [None, Some("iss-a".to_owned())] {
            let f = Filter {
                subject: Some("alice".into()),
                issuer,
                cursor: Some(Cursor {
                    at: 1002,
                    id: "p05".into(),
                }),
                limit: 50,
                ..Filter::default()
            };
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {}",
                prompts_sql(&f).sql().as_str()
            )))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("the plan: {e}"))
            .iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 3).unwrap_or_default())
            .collect();
            assert!(
                plan.iter().any(|l| l.starts_with(
                    "SEARCH prompts USING INDEX prompts_history (issuer=? AND subject=?"
                )),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|l| l.starts_with("SCAN prompts")),
                "{plan:?}"
            );
        }
    }

    /// Erasing a subject without an issuer reaches its rows under every issuer, and no one
    /// else's.
    #[tokio::test]
    async fn erasure_without_an_issuer_reaches_every_issuer() {
        let (_dir, store) = store_with_prompts().await;
        let mut conn = store.conn().await.expect("a connection");
        let erased = erase(&mut conn, "alice", None, true).await.expect("erased");
        assert_eq!(erased.prompts, 6);
        let left: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT subject, ip FROM prompts ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .expect("the prompts");
        assert!(left[..6].iter().all(|(s, ip)| s == "alice" && ip.is_none()));
        assert!(left[6..].iter().all(|(s, ip)| s == "bob" && ip.is_some()));
        let erased = erase(&mut conn, "bob", Some("iss-b"), true)
            .await
            .expect("erased");
        assert_eq!(erased.prompts, 0, "bob has no prompts under iss-b");
    }
}
