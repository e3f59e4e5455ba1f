//! The round trip: a verified token starts a detour, the detour shows prompts, answers are
//! recorded, and the detour ends with a signed return token for the IdP.
//!
//! Every state change happens in one write transaction; a repeated request finds the
//! prompt no longer pending and is answered with the result already recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::campaign::{Campaign, CampaignSet, OnExhausted};
use crate::form::{self, ACTION_FIELD, CSRF_FIELD, FieldProblem, FormError};
use crate::outcomes::{self, Answer, coupon};
use crate::render::strings;
use crate::rules::{self, Context, History, PromptStatus, TosRecord};
use crate::state::AppState;
use crate::store::detours::{self, NewDetour, NewPrompt, NewResponse, PromptRow};
use crate::store::direct::Reads;
use crate::store::{StoreError, Writes, history, millis};
use crate::token::{self, Inbound, TokenError};

/// Why a step of the detour cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The inbound token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No `state` in the request.
    #[error("the request has no state")]
    MissingState,
    /// The (issuer, state) was used before.
    #[error("the state was already used")]
    StateReused,
    /// The token's `continue_uri` is not on the allowlist.
    #[error("continue_uri is not on the allowlist")]
    ContinueUriRefused,
    /// No such prompt or detour.
    #[error("no such prompt")]
    NotFound,
    /// The browser is not the one that started the detour.
    #[error("the prompt belongs to another browser")]
    WrongBrowser,
    /// The form's CSRF token is missing or wrong.
    #[error("the form's CSRF token is wrong")]
    BadCsrf,
    /// The prompt expired; `back` returns the user to the IdP.
    #[error("the prompt expired")]
    Expired {
        /// A way back, when the tenant is still configured.
        back: Option<Box<Return>>,
    },
    /// The form could not be read.
    #[error(transparent)]
    Form(#[from] FormError),
    /// The button pressed is not offered by this campaign.
    #[error("the action `{0}` is not allowed here")]
    ActionRefused(String),
    /// The prompt's campaign is no longer loaded.
    #[error("campaign `{0}` is no longer loaded")]
    CampaignGone(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data is unreadable.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// What the browser sends besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Remote address.
    pub ip: Option<String>,
    /// User-Agent (capped).
    pub user_agent: Option<String>,
    /// The browser-binding cookie's value.
    pub browser: String,
    /// Accept-Language, best first.
    pub languages: Vec<String>,
}

impl Client {
    /// SHA-256 hex of the browser cookie, as stored.
    pub fn browser_hash(&self) -> String {
        token::hex(&Sha256::digest(self.browser.as_bytes()))
    }
}

/// Everything the page that returns the user to the IdP needs.
#[derive(Debug, Clone)]
pub struct Return {
    /// The detour.
    pub detour_id: String,
    /// The IdP's /continue.
    pub continue_url: String,
    /// The IdP's state.
    pub state: String,
    /// The signed return token.
    pub token: String,
    /// Theme of the last campaign shown (or the default).
    pub theme: String,
    /// Locale of the last prompt (or the user's best).
    pub locale: String,
    /// The last campaign's thank-you line.
    pub thanks: Option<String>,
    /// The coupon handed out: `{code, expires_at?}`.
    pub coupon: Option<Value>,
    /// The campaign promised a coupon but none was left.
    pub coupon_exhausted: bool,
    /// The last campaign shown, whose branding the return page wears.
    pub campaign: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Show this prompt.
    Prompt(String),
    /// The detour is over.
    Return(Box<Return>),
}

/// What a GET of a prompt shows.
#[derive(Debug)]
pub enum Shown {
    /// The form, for a pending prompt.
    Form(Box<crate::render::views::FormPage>),
    /// The prompt was answered and the chain went on to another prompt.
    MovedOn(String),
    /// The detour is over: explain and offer the way back.
    Done(Box<Return>),
}

/// What a POST of a prompt leads to.
#[derive(Debug)]
pub enum Submitted {
    /// Validation failed: the form again, with messages and the user's values.
    Invalid(Box<crate::render::views::FormPage>),
    /// Next prompt, or the return.
    Next(Next),
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A new detour or prompt id: 32 hex digits, the time in milliseconds (48 bits) then 80
/// random bits. The time first makes new rows land at the end of the id indexes instead of
/// on a random page each: fewer pages written per answer. The random part keeps ids
/// unguessable (and a prompt opens only in the browser that started it).
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let ms = u64::try_from(millis(now())).unwrap_or(0);
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes[6..]);
    token::hex(&bytes)
}

/// How long a new prompt stays open.
fn prompt_ttl(app: &AppState) -> time::Duration {
    time::Duration::seconds(i64::try_from(app.config().prompt_ttl_secs).unwrap_or(1800))
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The campaigns a token may see: those its `campaign` claim names (a string or a list), or
/// all, less those whose trigger requires a claim value the token does not have.
/// Borrowed, not cloned: with a thousand campaigns, cloning each `Arc` (and dropping it) on
/// every login made two cores fight over the reference counts.
fn candidates<'s>(
    set: &'s CampaignSet,
    claims: &Value,
    history: Option<&History>,
    exclude: &[String],
) -> Vec<&'s Arc<Campaign>> {
    let named: Option<Vec<&str>> = match claims.get("campaign") {
        Some(Value::String(s)) => Some(vec![s.as_str()]),
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect()),
        _ => None,
    };
    set.may_fire(claims, history)
        .filter(|c| named.as_ref().is_none_or(|n| n.contains(&c.id.as_str())))
        .filter(|c| !exclude.contains(&c.id))
        .collect()
}

/// The locale to show `campaign` in: the token's `locale`, then Accept-Language, then the
/// campaign's default.
pub fn choose_locale(campaign: &Campaign, claims: &Value, client: &Client) -> String {
    let mut preferred: Vec<String> = Vec::new();
    if let Some(l) = claims.get("locale").and_then(Value::as_str) {
        preferred.push(l.to_owned());
    }
    preferred.extend(client.languages.iter().cloned());
    let available: Vec<&str> = campaign
        .presentation
        .text
        .keys()
        .map(String::as_str)
        .collect();
    strings::negotiate(&preferred, &available, &campaign.presentation.locale).to_owned()
}

/// A user's locale for built-in pages.
pub fn builtin_locale(claims: Option<&Value>, client: &Client) -> String {
    let mut preferred: Vec<String> = Vec::new();
    if let Some(l) = claims.and_then(|c| c.get("locale")).and_then(Value::as_str) {
        preferred.push(l.to_owned());
    }
    preferred.extend(client.languages.iter().cloned());
    strings::negotiate(&preferred, &strings::LOCALES, "en").to_owned()
}

fn continue_url(app: &AppState, inbound: &Inbound) -> Result<String, FlowError> {
    let tenant = app
        .config()
        .tenant(&inbound.issuer)
        .ok_or(FlowError::Token(TokenError::UnknownIssuer))?;
    match inbound.claims.get("continue_uri") {
        None | Some(Value::Null) => Ok(tenant.continue_url.clone()),
        Some(Value::String(uri)) if app.config().continue_uri_allowlist.contains(uri) => {
            Ok(uri.clone())
        }
        Some(_) => Err(FlowError::ContinueUriRefused),
    }
}

/// The prompt being answered, as the history will show it once its answer is committed: a
/// chained prompt is picked before the answer's write transaction, which then holds only
/// the writes.
struct Answering<'a> {
    row: &'a PromptRow,
    status: PromptStatus,
    at: OffsetDateTime,
    tos: Option<TosRecord>,
}

impl Answering<'_> {
    fn apply(self, history: &mut History) {
        let shown_at = self.row.shown_at;
        if let Some(p) = history.prompts.iter_mut().find(|p| {
            p.status == PromptStatus::Pending
                && p.campaign == self.row.campaign
                && millis(p.shown_at) == shown_at
        }) {
            p.status = self.status;
            p.finished_at = Some(self.at);
        }
        history.tos.extend(self.tos);
    }
}

/// Picks the first campaign that fires for this user now.
async fn pick(
    reads: &mut Reads<'_>,
    set: &CampaignSet,
    issuer: &str,
    subject: &str,
    claims: &Value,
    exclude: &[String],
    answering: Option<Answering<'_>>,
) -> Result<Option<Arc<Campaign>>, FlowError> {
    // The history is read only when some campaign may fire whatever it holds.
    let pool = candidates(set, claims, None, exclude);
    if pool.is_empty() {
        return Ok(None);
    }
    let mut history = reads.history(issuer, subject, set.history_parts()).await?;
    if let Some(a) = answering {
        a.apply(&mut history);
    }
    let pool = if set.narrows_by_history() {
        candidates(set, claims, Some(&history), exclude)
    } else {
        pool
    };
    let ctx = Context {
        claims,
        subject,
        history: &history,
        now: now(),
    };
    let mut pool = pool;
    loop {
        let Some(chosen) = rules::first_firing(pool.iter().copied(), &ctx) else {
            return Ok(None);
        };
        // A campaign whose coupons ran out and that says `on_exhausted: skip` steps aside.
        let exhausted = match &chosen.outcome.coupon {
            Some(c) if c.on_exhausted == OnExhausted::Skip => {
                !coupon::available(reads.conn().await?, &chosen, c, issuer, subject).await?
            }
            _ => false,
        };
        if !exhausted {
            return Ok(Some(chosen));
        }
        tracing::warn!(campaign = %chosen.id, "coupon pool exhausted: campaign skipped");
        metrics::counter!("interlude_coupon_exhausted_total", "campaign" => chosen.id.clone())
            .increment(1);
        pool.retain(|c| c.id != chosen.id);
    }
}

/// Starts a detour for a verified token: records it (refusing a reused state), picks the
/// campaign and records its prompt, or finishes at once with outcome `none`.
pub async fn start(
    app: &AppState,
    inbound: Inbound,
    idp_state: &str,
    client: &Client,
) -> Result<Next, FlowError> {
    if idp_state.is_empty() {
        return Err(FlowError::MissingState);
    }
    let continue_to = continue_url(app, &inbound)?;
    let set = app.campaigns();
    let now = now();
    let ttl = prompt_ttl(app);
    let browser_hash = client.browser_hash();
    let detour_id = random_id();

    // The choice reads the history before the write (on this thread, or on a pooled
    // connection), so the write transaction, of which there is one at a time, holds only
    // the inserts. (Two logins of one user at the
    // same instant may both see the history without the other's prompt.)
    let chosen = {
        let mut reads = Reads::new(app.store());
        pick(
            &mut reads,
            &set,
            &inbound.issuer,
            &inbound.subject,
            &inbound.claims,
            &[],
            None,
        )
        .await?
    };
    let mut tx = Writes::default();
    detours::insert_detour(
        &mut tx,
        &NewDetour {
            id: &detour_id,
            issuer: &inbound.issuer,
            state: idp_state,
            subject: &inbound.subject,
            claims: &inbound.claims_json,
            continue_url: &continue_to,
            created_at: millis(now),
            expires_at: millis(now + ttl),
            browser_hash: &browser_hash,
            secret_index: secret_index(inbound.secret_index),
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
        },
    );
    let next = match &chosen {
        Some(campaign) => {
            let prompt_id = random_id();
            let locale = choose_locale(campaign, &inbound.claims, client);
            insert_prompt(
                &mut tx,
                &prompt_id,
                &detour_id,
                0,
                campaign,
                &inbound.issuer,
                &inbound.subject,
                &locale,
                &browser_hash,
                client,
                now,
                ttl,
            );
            Next::Prompt(prompt_id)
        }
        None => {
            let result = result_claims(app, &[]);
            detours::finish_detour(&mut tx, &detour_id, &result, millis(now));
            Next::Return(Box::new(sign_return(
                app,
                ReturnTo {
                    detour_id: &detour_id,
                    issuer: &inbound.issuer,
                    subject: &inbound.subject,
                    state: idp_state,
                    continue_url: &continue_to,
                    secret_index: secret_index(inbound.secret_index),
                    theme: "default",
                    locale: &builtin_locale(Some(&inbound.claims), client),
                    thanks: None,
                },
                &result,
            )?))
        }
    };
    // The inserts go to the database here, in one round trip: a state used before fails them.
    // A prompt's redirect shows nothing of them: it leaves before they are on disk, and its
    // page waits for that (`load_bound`). A return carries outcomes: it waits.
    let ran = match &next {
        Next::Prompt(prompt_id) => app.store().run_unsynced(tx, prompt_id).await,
        Next::Return(_) => app.store().run(tx).await,
    };
    match ran {
        Err(StoreError::Conflict) => return Err(FlowError::StateReused),
        other => other?,
    }
    match &chosen {
        Some(campaign) => crate::telemetry::prompt_event(&campaign.id, "shown"),
        None => crate::telemetry::prompt_event("", "none"),
    }
    Ok(next)
}

#[allow(clippy::too_many_arguments)]
fn insert_prompt(
    tx: &mut Writes,
    id: &str,
    detour_id: &str,
    seq: i64,
    campaign: &Campaign,
    issuer: &str,
    subject: &str,
    locale: &str,
    browser_hash: &str,
    client: &Client,
    now: OffsetDateTime,
    ttl: time::Duration,
) {
    let mut csrf = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut csrf);
    detours::insert_prompt(
        tx,
        &NewPrompt {
            id,
            detour_id,
            seq,
            campaign: &campaign.id,
            campaign_version: campaign.version,
            subject,
            issuer,
            locale,
            csrf_token: &token::hex(&csrf),
            browser_hash,
            shown_at: millis(now),
            expires_at: millis(now + ttl),
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
        },
    );
}

/// The return claims (without `iss`, `iat`, `exp`, `sub`, `state`) of a detour's answered steps.
fn result_claims(app: &AppState, steps: &[detours::ChainStep]) -> Value {
    let mut results = Vec::new();
    let mut last = Map::new();
    for step in steps {
        let answers: Map<String, Value> = serde_json::from_str(&step.answers).unwrap_or_default();
        let mut entry = Map::new();
        entry.insert("campaign".into(), json!(step.campaign));
        entry.insert("outcome".into(), json!(step.outcome));
        if let Some(campaign) = app.campaign_for(&step.campaign, step.campaign_version) {
            let declared: Map<String, Value> = campaign
                .outcome
                .claims
                .iter()
                .filter_map(|name| answers.get(name).map(|v| (name.clone(), v.clone())))
                .collect();
            if step.outcome == "completed" {
                entry.insert("answers".into(), Value::Object(declared));
            }
            let extra: Map<String, Value> =
                serde_json::from_str(&step.outcome_claims).unwrap_or_default();
            entry.extend(extra);
            if let Some(tos) = &campaign.outcome.tos
                && step.outcome != "skipped"
            {
                entry.insert(
                    "tos".into(),
                    json!({
                        "document": tos.document,
                        "version": tos.version,
                        "accepted": step.outcome == "completed",
                    }),
                );
            }
            if let Some(consent) = &campaign.outcome.consent
                && step.outcome != "skipped"
            {
                let granted: Map<String, Value> = consent
                    .purposes
                    .iter()
                    .map(|p| {
                        let yes = step.outcome == "completed"
                            && answers.get(&p.field).and_then(Value::as_bool) == Some(true);
                        (p.purpose.clone(), Value::Bool(yes))
                    })
                    .collect();
                entry.insert("consent".into(), Value::Object(granted));
            }
        }
        last = entry.clone();
        results.push(Value::Object(entry));
    }
    let mut out = Map::new();
    if last.is_empty() {
        out.insert("outcome".into(), json!("none"));
    } else {
        out.extend(last);
    }
    out.insert("results".into(), Value::Array(results));
    Value::Object(out)
}

/// Where and how a detour returns to the IdP.
struct ReturnTo<'a> {
    detour_id: &'a str,
    issuer: &'a str,
    subject: &'a str,
    state: &'a str,
    continue_url: &'a str,
    /// The tenant secret that verified the inbound token signs the return, so an Action
    /// still on the previous secret during a rotation accepts it.
    secret_index: i64,
    theme: &'a str,
    locale: &'a str,
    thanks: Option<String>,
}

fn secret_index(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(0)
}

impl<'a> ReturnTo<'a> {
    /// The return of a prompt's detour, shown in `theme` and `locale`.
    fn of(row: &'a PromptRow, theme: &'a str, locale: &'a str, thanks: Option<String>) -> Self {
        Self {
            detour_id: &row.detour_id,
            issuer: &row.issuer,
            subject: &row.subject,
            state: &row.state,
            continue_url: &row.continue_url,
            secret_index: row.secret_index,
            theme,
            locale,
            thanks,
        }
    }
}

/// Signs the return token for a finished detour.
fn sign_return(app: &AppState, to: ReturnTo<'_>, result: &Value) -> Result<Return, FlowError> {
    let ReturnTo {
        detour_id,
        issuer,
        subject,
        state,
        continue_url,
        secret_index,
        theme,
        locale,
        thanks,
    } = to;
    let tenant = app
        .config()
        .tenant(issuer)
        .ok_or(FlowError::Token(TokenError::UnknownIssuer))?;
    let secret = usize::try_from(secret_index)
        .ok()
        .and_then(|i| tenant.secrets.get(i))
        .or_else(|| tenant.secrets.first())
        .ok_or(FlowError::Token(TokenError::Signing))?;
    let iat = now().unix_timestamp();
    let ttl = i64::try_from(app.config().return_token_ttl_secs).unwrap_or(120);
    let mut claims = match result {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    claims.insert("sub".into(), json!(subject));
    claims.insert("iss".into(), json!(app.config().service_issuer));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat + ttl));
    claims.insert("state".into(), json!(state));
    let token = token::sign(&claims, secret)?;
    Ok(Return {
        coupon: result.get("coupon").cloned(),
        coupon_exhausted: result.get("coupon_exhausted") == Some(&Value::Bool(true)),
        campaign: result
            .get("campaign")
            .and_then(Value::as_str)
            .map(str::to_owned),
        detour_id: detour_id.to_owned(),
        continue_url: continue_url.to_owned(),
        state: state.to_owned(),
        token,
        theme: theme.to_owned(),
        locale: locale.to_owned(),
        thanks,
    })
}

async fn load_bound(
    app: &AppState,
    reads: &mut Reads<'_>,
    prompt_id: &str,
    client: &Client,
) -> Result<PromptRow, FlowError> {
    if prompt_id.len() != 32 || !prompt_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FlowError::NotFound);
    }
    // A prompt is shown or answered only once it is on disk (its detour's redirect left
    // before that, `start`): the wait is for its own batch, most often synced already, and
    // comes before a pooled connection is checked out.
    app.store().synced(prompt_id).await?;
    let row = reads.prompt(prompt_id).await?.ok_or(FlowError::NotFound)?;
    if !same(&row.browser_hash, &client.browser_hash()) {
        return Err(FlowError::WrongBrowser);
    }
    Ok(row)
}

fn claims_of(row_claims: &str) -> Result<Value, FlowError> {
    serde_json::from_str(row_claims).map_err(|e| FlowError::Corrupt(e.to_string()))
}

/// The return of a finished detour, signed afresh (same claims, new `iat`/`exp`).
async fn finished_return(
    app: &AppState,
    conn: &mut SqliteConnection,
    detour_id: &str,
    client: &Client,
) -> Result<Option<Return>, FlowError> {
    let Some(detour) = detours::get_detour(conn, detour_id).await? else {
        return Ok(None);
    };
    if !same(&detour.browser_hash, &client.browser_hash()) {
        return Err(FlowError::WrongBrowser);
    }
    let Some(result) = detour.result else {
        return Ok(None);
    };
    let result: Value =
        serde_json::from_str(&result).map_err(|e| FlowError::Corrupt(e.to_string()))?;
    let claims = claims_of(&detour.claims)?;
    let set = app.campaigns();
    let last = result
        .get("campaign")
        .and_then(Value::as_str)
        .and_then(|id| set.get(id).cloned());
    let locale = match &last {
        Some(c) => choose_locale(c, &claims, client),
        None => builtin_locale(Some(&claims), client),
    };
    let thanks = last
        .as_ref()
        .and_then(|c| crate::render::views::Words::new(c, &locale).thanks());
    let theme = last
        .as_ref()
        .map(|c| c.presentation.theme.clone())
        .unwrap_or_else(|| "default".to_owned());
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Some(sign_return(
        app,
        ReturnTo {
            detour_id: &detour.id,
            issuer: &detour.issuer,
            subject,
            state: &detour.state,
            continue_url: &detour.continue_url,
            secret_index: detour.secret_index,
            theme: &theme,
            locale: &locale,
            thanks,
        },
        &result,
    )?))
}

/// The return page of a finished detour (`/r/{id}`).
pub async fn returned(
    app: &AppState,
    detour_id: &str,
    client: &Client,
) -> Result<Return, FlowError> {
    if detour_id.len() != 32 || !detour_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FlowError::NotFound);
    }
    let mut conn = app.store().conn().await?;
    finished_return(app, &mut conn, detour_id, client)
        .await?
        .ok_or(FlowError::NotFound)
}

/// A way back for a prompt that can no longer be answered: outcome `none`.
fn way_back(app: &AppState, row: &PromptRow, client: &Client) -> Option<Box<Return>> {
    let result = json!({"outcome": "none", "results": []});
    let claims = serde_json::from_str::<Value>(&row.claims).ok();
    let locale = builtin_locale(claims.as_ref(), client);
    sign_return(app, ReturnTo::of(row, "default", &locale, None), &result)
        .ok()
        .map(Box::new)
}

/// Marks a prompt expired (best effort: the sweep catches what this misses). Like every
/// write, it goes through the store's writer rather than a pool connection, which would
/// wait on SQLite's busy handler behind the writer's batches.
async fn expire(app: &AppState, row: &PromptRow, client: &Client) -> FlowError {
    if let Ok(mut tx) = app.store().write().await
        && detours::finish_prompt(&mut tx, &row.id, "expired", millis(now()))
            .await
            .is_ok()
    {
        let _ = tx.commit().await;
    }
    FlowError::Expired {
        back: way_back(app, row, client),
    }
}

/// What the prompt's page shows now.
pub async fn show(app: &AppState, prompt_id: &str, client: &Client) -> Result<Shown, FlowError> {
    let mut reads = Reads::new(app.store());
    let row = load_bound(app, &mut reads, prompt_id, client).await?;
    match row.status.as_str() {
        "pending" if millis(now()) > row.expires_at => Err(expire(app, &row, client).await),
        "pending" => {
            let campaign = app
                .campaign_for(&row.campaign, row.campaign_version)
                .ok_or_else(|| FlowError::CampaignGone(row.campaign.clone()))?;
            let claims = claims_of(&row.claims)?;
            let prefill = consent_prefill(&mut reads, &campaign, &row).await?;
            Ok(Shown::Form(Box::new(form_view(
                &campaign,
                &row,
                &claims,
                prefill.as_ref(),
                &BTreeMap::new(),
            ))))
        }
        "expired" => Err(FlowError::Expired {
            back: way_back(app, &row, client),
        }),
        _ => after_answer(app, &mut reads, &row, client)
            .await
            .map(|next| match next {
                Next::Prompt(id) => Shown::MovedOn(id),
                Next::Return(r) => Shown::Done(r),
            }),
    }
}

/// For a consent preferences page, each purpose's box as the user last chose it.
async fn consent_prefill(
    reads: &mut Reads<'_>,
    campaign: &Campaign,
    row: &PromptRow,
) -> Result<Option<BTreeMap<String, Vec<String>>>, FlowError> {
    let Some(consent) = campaign.outcome.consent.as_ref().filter(|c| c.manage) else {
        return Ok(None);
    };
    let current =
        crate::store::consents::current(reads.conn().await?, &row.issuer, &row.subject).await?;
    let mut prefill = BTreeMap::new();
    for p in &consent.purposes {
        if current.iter().any(|c| c.purpose == p.purpose && c.granted) {
            prefill.insert(p.field.clone(), vec!["on".to_owned()]);
        }
    }
    Ok(Some(prefill))
}

/// Where an answered prompt leads: the next prompt of the chain, or the detour's return.
/// The answer was written by another request, maybe a moment ago: it is visible from its
/// commit on, and nothing is shown for it before it is on disk as well.
async fn after_answer(
    app: &AppState,
    reads: &mut Reads<'_>,
    row: &PromptRow,
    client: &Client,
) -> Result<Next, FlowError> {
    // Before a pooled connection is checked out: the wait may last an fsync.
    app.store().durable().await?;
    let conn = reads.conn().await?;
    if let Some(next) = detours::next_prompt_id(conn, &row.detour_id, row.seq).await? {
        return Ok(Next::Prompt(next));
    }
    match finished_return(app, conn, &row.detour_id, client).await? {
        Some(r) => Ok(Next::Return(Box::new(r))),
        None => Err(FlowError::Expired {
            back: way_back(app, row, client),
        }),
    }
}

fn form_view(
    campaign: &Campaign,
    row: &PromptRow,
    claims: &Value,
    posted: Option<&BTreeMap<String, Vec<String>>>,
    problems: &BTreeMap<String, FieldProblem>,
) -> crate::render::views::FormPage {
    crate::render::views::form_page(
        campaign,
        &row.locale,
        "",
        format!("/p/{}", row.id),
        row.csrf_token.clone(),
        claims,
        posted,
        problems,
    )
}

/// Handles the form's POST.
pub async fn submit(
    app: &AppState,
    prompt_id: &str,
    client: &Client,
    pairs: &[(String, String)],
) -> Result<Submitted, FlowError> {
    let mut reads = Reads::new(app.store());
    let row = load_bound(app, &mut reads, prompt_id, client).await?;
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if !same(csrf, &row.csrf_token) {
        return Err(FlowError::BadCsrf);
    }
    match row.status.as_str() {
        "pending" if millis(now()) > row.expires_at => {
            return Err(expire(app, &row, client).await);
        }
        "pending" => {}
        "expired" => {
            return Err(FlowError::Expired {
                back: way_back(app, &row, client),
            });
        }
        _ => {
            return after_answer(app, &mut reads, &row, client)
                .await
                .map(Submitted::Next);
        }
    }
    let set = app.campaigns();
    let campaign = app
        .campaign_for(&row.campaign, row.campaign_version)
        .ok_or_else(|| FlowError::CampaignGone(row.campaign.clone()))?;
    let claims = claims_of(&row.claims)?;
    let action = pairs
        .iter()
        .find(|(k, _)| k == ACTION_FIELD)
        .map(|(_, v)| v.as_str())
        .unwrap_or("submit");
    let (outcome, answers) = match action {
        "submit" => {
            let submission = form::decode(&campaign, &campaign.form, pairs, &claims)?;
            if !submission.problems.is_empty() {
                return Ok(Submitted::Invalid(Box::new(form_view(
                    &campaign,
                    &row,
                    &claims,
                    Some(&submission.raw),
                    &submission.problems,
                ))));
            }
            ("completed", Value::Object(submission.answers))
        }
        "skip" if campaign.outcome.allow_skip => ("skipped", json!({})),
        "decline" if campaign.outcome.allow_decline => ("declined", json!({})),
        other => return Err(FlowError::ActionRefused(other.chars().take(32).collect())),
    };
    record(
        app, reads, &set, &campaign, &row, outcome, &answers, &claims, client,
    )
    .await
}

/// Commits an answer and moves the detour on, in one transaction. What the transaction
/// needs to read (the chain so far, the next campaign's rules) is read first through
/// `reads`, whose pooled connection (if one was needed) goes back to the pool before the
/// write (a commit may take milliseconds to come), so the writer, which every write of the
/// process queues for, only writes.
#[allow(clippy::too_many_arguments)]
async fn record(
    app: &AppState,
    mut reads: Reads<'_>,
    set: &CampaignSet,
    campaign: &Campaign,
    row: &PromptRow,
    outcome: &str,
    answers: &Value,
    claims: &Value,
    client: &Client,
) -> Result<Submitted, FlowError> {
    let now = now();
    let may_chain = outcome != "declined"
        && u32::try_from(row.seq + 1).unwrap_or(u32::MAX) < app.config().max_chain;
    // The steps answered before this one were committed before this prompt was made.
    let (shown, mut steps) = reads.detour_steps(&row.detour_id).await?;
    let next = if may_chain {
        let answering = Answering {
            row,
            status: history::parse_status(outcome)?,
            at: now,
            tos: campaign
                .outcome
                .tos
                .as_ref()
                .filter(|_| outcome == "completed")
                .map(|t| TosRecord {
                    document: t.document.clone(),
                    version: t.version.clone(),
                }),
        };
        pick(
            &mut reads,
            set,
            &row.issuer,
            &row.subject,
            claims,
            &shown,
            Some(answering),
        )
        .await?
    } else {
        None
    };
    // Back to the pool, if one was checked out, before the write.
    drop(reads);

    let answer = Answer {
        campaign,
        row,
        outcome,
        answers,
        client,
        now: millis(now),
    };
    let mut tx = None;
    let mut outcome_claims = Map::new();
    if outcomes::needs_coupon(&answer) {
        // A coupon is read and taken inside the transaction, after the prompt is ended.
        let mut coupon_tx = app.store().write().await?;
        if !detours::finish_prompt(&mut coupon_tx, &row.id, outcome, millis(now)).await? {
            // Nothing to keep; `answered_meanwhile` waits for the batch itself.
            coupon_tx.rollback().await.map_err(StoreError::from)?;
            return answered_meanwhile(app, row, client).await;
        }
        outcome_claims = outcomes::assign_coupon(&mut coupon_tx, &answer).await?;
        tx = Some(coupon_tx);
    }
    let mut writes = Writes::default();
    if tx.is_none() {
        // First: should a concurrent request have ended the prompt, this fails the rest.
        detours::end_prompt(&mut writes, &row.id, outcome, millis(now));
    }
    let w = match tx.as_mut() {
        Some(t) => t.writes(),
        None => &mut writes,
    };
    outcomes::record(w, app.config(), &answer, &outcome_claims);
    let outcome_claims = Value::Object(outcome_claims);
    detours::insert_response(
        w,
        &NewResponse {
            prompt: row,
            outcome,
            answers,
            outcome_claims: &outcome_claims,
            created_at: millis(now),
        },
    );
    // Where the detour goes: the next prompt's id, or the return claims.
    let after: Result<String, Value> = match next.as_ref() {
        Some(next) => {
            let id = random_id();
            let ttl = prompt_ttl(app);
            let locale = choose_locale(next, claims, client);
            insert_prompt(
                w,
                &id,
                &row.detour_id,
                row.seq + 1,
                next,
                &row.issuer,
                &row.subject,
                &locale,
                &row.browser_hash,
                client,
                now,
                ttl,
            );
            Ok(id)
        }
        None => {
            steps.push(detours::ChainStep {
                campaign: row.campaign.clone(),
                campaign_version: row.campaign_version,
                outcome: outcome.to_owned(),
                answers: answers.to_string(),
                outcome_claims: outcome_claims.to_string(),
            });
            let result = result_claims(app, &steps);
            detours::finish_detour(w, &row.detour_id, &result, millis(now));
            Err(result)
        }
    };
    match tx {
        Some(t) => t.commit().await.map_err(StoreError::from)?,
        None => match app.store().run(writes).await {
            Err(StoreError::Finished) => return answered_meanwhile(app, row, client).await,
            other => other?,
        },
    }
    crate::telemetry::prompt_event(&campaign.id, outcome_label(outcome));
    let result = match after {
        Ok(id) => return Ok(Submitted::Next(Next::Prompt(id))),
        Err(result) => result,
    };
    let thanks = crate::render::views::Words::new(campaign, &row.locale).thanks();
    let back = sign_return(
        app,
        ReturnTo::of(row, &campaign.presentation.theme, &row.locale, thanks),
        &result,
    )?;
    Ok(Submitted::Next(Next::Return(Box::new(back))))
}

/// Another request answered the prompt first: show what it recorded, once it is on disk
/// ([`after_answer`] waits for that).
async fn answered_meanwhile(
    app: &AppState,
    row: &PromptRow,
    client: &Client,
) -> Result<Submitted, FlowError> {
    after_answer(app, &mut Reads::new(app.store()), row, client)
        .await
        .map(Submitted::Next)
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "completed",
        "skipped" => "skipped",
        _ => "declined",
    }
}

/// Marks prompts that were never answered as expired; returns how many.
pub async fn sweep(app: &AppState) -> Result<u64, FlowError> {
    let mut tx = app.store().write().await?;
    let expired =
        detours::expire_stale(tx.conn().await.map_err(StoreError::from)?, millis(now())).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(expired)
}
