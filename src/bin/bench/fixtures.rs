//! What the cells start from: campaign folders, pre-filled SQLite files, pending prompts for
//! the POST cells, and the bench users' session tokens.
//!
//! History is written straight into the tables by `INSERT … SELECT` over a generated series
//! in transactions of 100 k rows (all in SQLite, no round trip per row). Each history level
//! is built once as a template and copied for every cell.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

/// The tenant the bench's tokens come from.
pub const ISSUER: &str = "acme.bench.test";
/// Its HS256 secret.
pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";
/// The browser-binding cookie: `__Host-` prefixed, as the public URL is https (as in production).
pub const COOKIE: &str = "__Host-interlude";
/// Past prompts of each bench user ("a handful").
pub const BENCH_USER_ROWS: u64 = 5;
/// Past prompts of each background user.
pub const BACKGROUND_USER_ROWS: u64 = 5;
/// The campaign that fires for the bench users (the others never do).
pub const BENCH_CAMPAIGN: &str = "bench-profile";

/// The bench user number `n`.
pub fn bench_subject(n: u64) -> String {
    format!("auth0|bench-{n}")
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// The claims an Auth0 Action sends for bench user `n` (as `api.redirect.encodeToken` makes them).
pub fn claims(n: u64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "sub": bench_subject(n),
        "iss": ISSUER,
        "iat": now,
        "exp": now + 900,
        "ip": "203.0.113.7",
        "email": format!("bench-{n}@example.com"),
        "email_verified": true,
        "name": format!("Bench User {n}"),
        "locale": "en",
        "logins_count": 5 + n % 20,
        "user_metadata": {},
        "app_metadata": {"plan": "free"},
        "roles": ["user"],
    })
}

/// One session token per bench user.
pub struct Tokens(pub Vec<String>);

impl Tokens {
    /// Mints a token for each of `users` bench users.
    pub fn mint(users: u64) -> Tokens {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        Tokens(
            (0..users)
                .map(|n| jsonwebtoken::encode(&header, &claims(n), &key).expect("HS256 signs"))
                .collect(),
        )
    }
}

/// A pending prompt a POST cell answers: its id, the browser cookie bound to it, its CSRF token.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The bench user it belongs to.
    pub user: u64,
    /// Prompt id.
    pub prompt: String,
    /// Value of the `interlude` cookie.
    pub cookie: String,
    /// The form's `_csrf`.
    pub csrf: String,
}

/// Campaign folders and database templates, made on first use.
pub struct Fixtures {
    work: PathBuf,
    users: u64,
    templates: BTreeMap<u64, PathBuf>,
    campaign_dirs: BTreeMap<u32, PathBuf>,
    copies: u64,
}

impl Fixtures {
    /// Fixtures under `work` for `users` bench users.
    pub fn new(work: &Path, users: u64) -> Fixtures {
        Fixtures {
            work: work.to_path_buf(),
            users,
            templates: BTreeMap::new(),
            campaign_dirs: BTreeMap::new(),
            copies: 0,
        }
    }

    /// A fresh copy of the database with `history` background prompts (plus the bench
    /// users' own).
    pub async fn cell_database(&mut self, history: u64) -> anyhow::Result<PathBuf> {
        if !self.templates.contains_key(&history) {
            let path = self.work.join(format!("template-{history}.db"));
            let started = std::time::Instant::now();
            build_template(&path, history, self.users).await?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "  history {history}: built {} ({} MB) in {:.1} s",
                path.display(),
                size / 1_000_000,
                started.elapsed().as_secs_f64()
            );
            self.templates.insert(history, path);
        }
        let template = &self.templates[&history];
        self.copies += 1;
        let copy = self.work.join(format!("cell-{}.db", self.copies));
        std::fs::copy(template, &copy).context("copying the database template")?;
        // On disk before the cell starts: the write-back of a fresh 1.6 GB copy would
        // otherwise compete with the cell's own commits.
        std::fs::File::open(&copy)
            .and_then(|f| f.sync_all())
            .context("syncing the database copy")?;
        Ok(copy)
    }

    /// Removes a cell's database.
    pub fn discard(&self, db: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }

    /// A folder with `n` campaigns: the bench campaign, which fires for every bench user at
    /// the lowest priority, and `n - 1` above it that never fire, so every request evaluates
    /// all of them.
    pub fn campaigns_dir(&mut self, n: u32) -> anyhow::Result<PathBuf> {
        if let Some(dir) = self.campaign_dirs.get(&n) {
            return Ok(dir.clone());
        }
        let dir = self.work.join(format!("campaigns-{n}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{BENCH_CAMPAIGN}.yaml")), bench_campaign())?;
        for i in 1..n {
            std::fs::write(dir.join(format!("filler-{i:04}.yaml")), filler_campaign(i))?;
        }
        self.campaign_dirs.insert(n, dir.clone());
        Ok(dir)
    }
}

fn bench_campaign() -> String {
    format!(
        r#"id: {BENCH_CAMPAIGN}
title: Bench profile
version: 1
priority: 0
trigger:
  all:
    - claim: logins_count
      gte: 2
    - not: {{ claim: user_metadata.given_name, exists: true }}
    - history: {{ shown_at_most: 100000, last_dismissed_more_than: 1d }}
fields:
  - name: given_name
    type: text
    required: true
    max_length: 100
    autocomplete: given-name
  - name: family_name
    type: text
    required: true
    max_length: 100
    autocomplete: family-name
  - name: company_size
    type: select
    options:
      - {{ value: "1-10", label: 1 to 10 people }}
      - {{ value: "11-200", label: 11 to 200 people }}
      - {{ value: "201+", label: More than 200 people }}
presentation:
  theme: default
  locale: en
  text:
    en:
      title: What should we call you?
      intro: Tell us your name so we can address you properly.
      submit: Save
      fields:
        given_name: {{ label: First name }}
        family_name: {{ label: Last name }}
        company_size: {{ label: Company size }}
outcome:
  claims: [given_name, family_name, company_size]
"#
    )
}

/// A campaign that never fires for the bench users; its trigger varies with `i` over the
/// condition kinds, and most hold for a while before the one that fails.
fn filler_campaign(i: u32) -> String {
    let trigger = match i % 5 {
        0 => format!(
            "  all:\n    - claim: logins_count\n      gte: 2\n    - history: {{ answered: false }}\n    - claim: app_metadata.plan\n      eq: enterprise-{i}\n"
        ),
        1 => format!(
            "  all:\n    - claim: email_verified\n      eq: true\n    - claim: email\n      matches: \"@partner-{i}\\\\.example\\\\.com$\"\n"
        ),
        2 => format!(
            "  all:\n    - claim: logins_count\n      gte: 1\n    - claim: app_metadata.plan\n      in: [gold-{i}, platinum-{i}]\n"
        ),
        3 => format!(
            "  all:\n    - claim: locale\n      eq: en\n    - history: {{ campaign: {BENCH_CAMPAIGN}, shown_at_least: {} }}\n",
            100_000 + i
        ),
        _ => format!(
            "  any:\n    - claim: roles\n      contains: admin-{i}\n    - all:\n        - rollout: 50\n        - claim: app_metadata.tier\n          eq: {i}\n"
        ),
    };
    format!(
        r#"id: filler-{i:04}
title: Filler {i}
version: 1
priority: {}
trigger:
{trigger}fields:
  - name: agree
    type: checkbox
presentation:
  theme: default
  locale: en
  text:
    en:
      title: Filler {i}
      submit: OK
      fields:
        agree: {{ label: I agree }}
"#,
        1_000 + i
    )
}

async fn open(path: &Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        // A fixture, rebuilt on every run: its durability does not matter.
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-262144")
        .pragma("temp_store", "memory");
    Ok(options.connect().await?)
}

/// Creates and migrates a database (as the service does at start), then fills it.
async fn build_template(path: &Path, history: u64, users: u64) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", path.display());
    let store = interlude::store::Store::connect(&url).await?;
    store.pool().close().await;
    drop(store);
    let mut conn = open(path).await?;
    fill(
        &mut conn,
        "auth0|user-",
        history / BACKGROUND_USER_ROWS,
        history,
    )
    .await?;
    fill(&mut conn, "auth0|bench-", users, users * BENCH_USER_ROWS).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Writes `rows` finished prompts (with their detours, and responses for the answered ones)
/// spread over `users` subjects `{prefix}{n}`, in time order over the two years before
/// yesterday, each subject getting `rows / users`.
async fn fill(
    conn: &mut SqliteConnection,
    prefix: &str,
    users: u64,
    rows: u64,
) -> anyhow::Result<()> {
    if rows == 0 || users == 0 {
        return Ok(());
    }
    const CHUNK: u64 = 100_000;
    let rows_i = i64::try_from(rows)?;
    let users_i = i64::try_from(users)?;
    let now = now_ms();
    let mut start = 0;
    while start < rows_i {
        let end = (start + i64::try_from(CHUNK)?).min(rows_i);
        let mut tx = conn.begin().await?;
        sqlx::query(
            "CREATE TEMP TABLE gen AS
             WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
             SELECT i,
                    lower(hex(randomblob(16))) AS did,
                    lower(hex(randomblob(16))) AS pid,
                    ?5 || ((i * 7919) % ?4) AS subject,
                    ?6 - 172800000 - (?3 - i) * (63072000000 / ?3) AS shown,
                    CASE (i * 31) % 6 WHEN 0 THEN 'bench-profile' WHEN 1 THEN 'profile-name'
                         WHEN 2 THEN 'profile-job' WHEN 3 THEN 'marketing-consent'
                         WHEN 4 THEN 'tos-v2' ELSE 'welcome-coupon' END AS campaign,
                    CASE i % 10 WHEN 0 THEN 'completed' WHEN 1 THEN 'completed' WHEN 2 THEN 'completed'
                         WHEN 3 THEN 'completed' WHEN 4 THEN 'completed' WHEN 5 THEN 'skipped'
                         WHEN 6 THEN 'skipped' WHEN 7 THEN 'declined' ELSE 'expired' END AS status
             FROM n",
        )
        .bind(start)
        .bind(end)
        .bind(rows_i)
        .bind(users_i)
        .bind(prefix)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at,
                                  expires_at, finished_at, result, browser_hash, ip, user_agent)
             SELECT did, ?1, lower(hex(randomblob(16))), subject,
                    json_object('sub', subject, 'iss', ?1, 'email', 'someone@example.com',
                                'email_verified', json('true'), 'logins_count', 1 + i % 50,
                                'locale', 'en', 'ip', '203.0.113.' || (i % 250)),
                    'https://' || ?1 || '/continue', shown, shown + 1800000, shown + 20000,
                    json_object('campaign', campaign, 'outcome', status, 'results', json('[]')),
                    lower(hex(randomblob(32))), '203.0.113.' || (i % 250),
                    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'
             FROM gen",
        )
        .bind(ISSUER)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject, issuer,
                                  status, locale, csrf_token, browser_hash, shown_at, finished_at,
                                  expires_at, ip, user_agent)
             SELECT pid, did, 0, campaign, 1, subject, ?1, status, 'en', lower(hex(randomblob(32))),
                    lower(hex(randomblob(32))), shown, shown + 20000, shown + 1800000,
                    '203.0.113.' || (i % 250),
                    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'
             FROM gen",
        )
        .bind(ISSUER)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO responses (prompt_id, campaign, campaign_version, subject, issuer, outcome,
                                    answers, outcome_claims, created_at)
             SELECT pid, campaign, 1, subject, ?1, status,
                    CASE status WHEN 'completed' THEN '{\"given_name\":\"Ada\",\"family_name\":\"Lovelace\"}' ELSE '{}' END,
                    '{}', shown + 20000
             FROM gen WHERE status IN ('completed', 'skipped', 'declined')",
        )
        .bind(ISSUER)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DROP TABLE gen").execute(&mut *tx).await?;
        tx.commit().await?;
        start = end;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Writes `n` pending prompts (with their detours) for the bench users, as `GET /prompt`
/// would have left them, and returns what a browser needs to answer each.
pub async fn prepare_posts(db: &Path, n: usize, users: u64) -> anyhow::Result<Vec<Prepared>> {
    let mut conn = open(db).await?;
    let now = now_ms();
    let mut prepared = Vec::with_capacity(n);
    let mut tx = conn.begin().await?;
    for k in 0..n {
        let user = u64::try_from(k)? % users.max(1);
        let subject = bench_subject(user);
        let detour = uuid::Uuid::new_v4().simple().to_string();
        let prompt = uuid::Uuid::new_v4().simple().to_string();
        let cookie = hex(uuid::Uuid::new_v4().as_bytes());
        let csrf = hex(&Sha256::digest(prompt.as_bytes()));
        let browser_hash = hex(&Sha256::digest(cookie.as_bytes()));
        let claims = claims(user).to_string();
        sqlx::query(
            "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at,
                                  expires_at, browser_hash, secret_index, ip, user_agent)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '127.0.0.1', 'bench')",
        )
        .bind(&detour)
        .bind(ISSUER)
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(&subject)
        .bind(&claims)
        .bind(format!("https://{ISSUER}/continue"))
        .bind(now)
        .bind(now + 1_800_000)
        .bind(&browser_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject, issuer,
                                  status, locale, csrf_token, browser_hash, shown_at, expires_at,
                                  ip, user_agent)
             VALUES (?, ?, 0, ?, 1, ?, ?, 'pending', 'en', ?, ?, ?, ?, '127.0.0.1', 'bench')",
        )
        .bind(&prompt)
        .bind(&detour)
        .bind(BENCH_CAMPAIGN)
        .bind(&subject)
        .bind(ISSUER)
        .bind(&csrf)
        .bind(&browser_hash)
        .bind(now)
        .bind(now + 1_800_000)
        .execute(&mut *tx)
        .await?;
        prepared.push(Prepared {
            user,
            prompt,
            cookie,
            csrf,
        });
    }
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(prepared)
}

/// The rules engine alone: µs per choice for a bench user with five past prompts, measured
/// in this process for about `secs` each: `rules::first_firing` over every campaign in
/// `dir`, then over the campaigns the set's index leaves for the user's claims (the
/// request path, the index lookup included).
pub fn rules_cost(dir: &Path, secs: f64) -> anyhow::Result<(f64, f64)> {
    use interlude::rules::{Context, History, PastPrompt, PromptStatus, first_firing};
    let set =
        interlude::campaign::load_dir(dir, &interlude::campaign::load::LoadOptions::default())
            .map_err(|p| anyhow::anyhow!("the bench campaigns do not load: {p}"))?;
    let now = time::OffsetDateTime::now_utc();
    let statuses = [
        PromptStatus::Completed,
        PromptStatus::Expired,
        PromptStatus::Completed,
        PromptStatus::Skipped,
        PromptStatus::Completed,
    ];
    let campaigns = [
        BENCH_CAMPAIGN,
        "profile-name",
        "profile-job",
        "tos-v2",
        BENCH_CAMPAIGN,
    ];
    let history = History {
        prompts: (0..5)
            .map(|i| PastPrompt {
                campaign: campaigns[i].to_owned(),
                version: 1,
                status: statuses[i],
                shown_at: now - time::Duration::days(10 + 30 * i as i64),
                finished_at: Some(now - time::Duration::days(10 + 30 * i as i64)),
            })
            .collect(),
        tos: Vec::new(),
    };
    let claims = claims(0);
    let subject = bench_subject(0);
    let ctx = Context {
        claims: &claims,
        subject: &subject,
        history: &history,
        now,
    };
    anyhow::ensure!(
        first_firing(set.iter(), &ctx).is_some_and(|c| c.id == BENCH_CAMPAIGN)
            && first_firing(set.may_fire(&claims, Some(&history)), &ctx)
                .is_some_and(|c| c.id == BENCH_CAMPAIGN),
        "the bench campaign must fire for the bench user"
    );
    let per_choice = |choose: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        let mut runs = 0u64;
        while started.elapsed().as_secs_f64() < secs {
            for _ in 0..16 {
                std::hint::black_box(choose());
            }
            runs += 16;
        }
        started.elapsed().as_secs_f64() * 1e6 / runs as f64
    };
    let all = per_choice(&|| first_firing(set.iter(), std::hint::black_box(&ctx)).is_some());
    let indexed = per_choice(&|| {
        let ctx = std::hint::black_box(&ctx);
        first_firing(set.may_fire(ctx.claims, Some(ctx.history)), ctx).is_some()
    });
    Ok((all, indexed))
}

/// Microseconds per verification of a bench user's session token in-process (no HTTP): the
/// header, the claims and the HS256 signature, as `GET /prompt` does first.
pub fn token_cost(secs: f64) -> anyhow::Result<f64> {
    let env: BTreeMap<String, String> =
        [("INTERLUDE_ISSUER", ISSUER), ("INTERLUDE_SECRET", SECRET)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let config = interlude::config::Config::load(None, false, &env)
        .map_err(|e| anyhow::anyhow!("the bench tenant's config: {e}"))?;
    let token = Tokens::mint(1).0.remove(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    anyhow::ensure!(
        interlude::token::verify(&token, &config, now).is_ok(),
        "the bench token must verify"
    );
    let started = std::time::Instant::now();
    let mut runs = 0u64;
    while started.elapsed().as_secs_f64() < secs {
        for _ in 0..16 {
            let verified = interlude::token::verify(std::hint::black_box(&token), &config, now);
            std::hint::black_box(verified.is_ok());
        }
        runs += 16;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / runs as f64)
}
