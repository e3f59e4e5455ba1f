//! The admin audit API under `/admin/api` (JSON, or CSV with `?format=csv`).
//!
//! Bearer tokens are configured as SHA-256 hashes; the presented token's hash is compared
//! with every configured hash in constant time (no early exit), so timing says nothing
//! about which bytes matched. Read-only tokens may not erase. Errors are JSON with the
//! right status; they never carry stored data.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::state::AppState;
use crate::store::admin::{self, Cursor, Filter, Keyed};
use crate::store::{StoreError, millis};

/// Largest page of JSON.
const MAX_LIMIT: i64 = 500;
/// Largest CSV export in one request (follow `X-Next-Cursor` for more).
const MAX_CSV_LIMIT: i64 = 50_000;

/// The admin API's routes: (path, methods). The router and the OpenAPI document both come
/// from this list, and a test holds them to it.
pub const ROUTES: [(&str, &str); 11] = [
    ("/admin/api/prompts", "get"),
    ("/admin/api/responses", "get"),
    ("/admin/api/consents", "get"),
    ("/admin/api/consents/current", "get"),
    ("/admin/api/tos", "get"),
    ("/admin/api/coupons", "get"),
    ("/admin/api/coupons/summary", "get"),
    ("/admin/api/deliveries", "get"),
    ("/admin/api/campaigns", "get"),
    ("/admin/api/subjects/{subject}", "get,delete"),
    ("/admin/api/openapi.json", "get"),
];

/// Admin API errors.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No or a malformed Authorization header.
    #[error("a bearer token is required")]
    Unauthenticated,
    /// The token is not configured.
    #[error("the bearer token is not valid")]
    BadToken,
    /// A read-only token tried to change something.
    #[error("this token may only read")]
    ReadOnly,
    /// A query parameter is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed.
    #[error("the database failed")]
    Store(#[from] StoreError),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match &self {
            AdminError::Unauthenticated | AdminError::BadToken => StatusCode::UNAUTHORIZED,
            AdminError::ReadOnly => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Store(e) => {
                tracing::error!(error = %e, "admin API database error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status.is_client_error() {
            tracing::warn!(%status, reason = %self, "admin request refused");
        }
        let mut response = (status, Json(json!({"error": self.to_string()}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"interlude-admin\""),
            );
        }
        response
    }
}

/// An authenticated admin caller.
pub struct Admin {
    /// The token's name (for logs).
    pub name: String,
    /// May only read.
    pub read_only: bool,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or(AdminError::Unauthenticated)?;
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found: Option<&crate::config::AdminToken> = None;
        for token in &state.config().admin_tokens {
            // Every configured hash is compared; the match is remembered without branching
            // out of the loop early.
            let equal: bool = token.sha256.ct_eq(&hash).into();
            if equal && found.is_none() {
                found = Some(token);
            }
        }
        let token = found.ok_or(AdminError::BadToken)?;
        Ok(Admin {
            name: token.name.clone(),
            read_only: token.read_only,
        })
    }
}

/// The admin router (merged under the main one).
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(ROUTES[0].0, get(list_prompts))
        .route(ROUTES[1].0, get(list_responses))
        .route(ROUTES[2].0, get(list_consents))
        .route(ROUTES[3].0, get(current_consents))
        .route(ROUTES[4].0, get(list_tos))
        .route(ROUTES[5].0, get(list_coupons))
        .route(ROUTES[6].0, get(coupon_summary))
        .route(ROUTES[7].0, get(list_deliveries))
        .route(ROUTES[8].0, get(campaigns))
        .route(ROUTES[9].0, get(subject).delete(erase_subject))
        .route(ROUTES[10].0, get(openapi))
}

/// Query parameters of the lists (each list reads the ones it documents).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    subject: Option<String>,
    campaign: Option<String>,
    status: Option<String>,
    outcome: Option<String>,
    issuer: Option<String>,
    purpose: Option<String>,
    document: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
    format: Option<String>,
}

fn parse_time(name: &str, v: &Option<String>) -> Result<Option<i64>, AdminError> {
    v.as_ref()
        .map(|t| {
            OffsetDateTime::parse(t, &Rfc3339)
                .map(millis)
                .map_err(|_| AdminError::BadRequest(format!("`{name}` must be an RFC 3339 time")))
        })
        .transpose()
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.at, c.id))
}

fn decode_cursor(text: &str) -> Result<Cursor, AdminError> {
    let bad = || AdminError::BadRequest("`cursor` is not a cursor this API gave out".into());
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Cursor {
        at: at.parse().map_err(|_| bad())?,
        id: id.to_owned(),
    })
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 512)
}

impl ListQuery {
    fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    /// The store filter; `kind` and `status` are filled per list from the parameter it names.
    fn filter(&self, status: &Option<String>, kind: &Option<String>) -> Result<Filter, AdminError> {
        let max = if self.csv() { MAX_CSV_LIMIT } else { MAX_LIMIT };
        let limit = self
            .limit
            .unwrap_or(if self.csv() { MAX_CSV_LIMIT } else { 50 });
        if !(1..=max).contains(&limit) {
            return Err(AdminError::BadRequest(format!(
                "`limit` must be 1 to {max}"
            )));
        }
        if let Some(f) = &self.format
            && f != "csv"
            && f != "json"
        {
            return Err(AdminError::BadRequest("`format` is `json` or `csv`".into()));
        }
        Ok(Filter {
            subject: clean(&self.subject),
            campaign: clean(&self.campaign),
            status: clean(status),
            issuer: clean(&self.issuer),
            kind: clean(kind),
            from: parse_time("from", &self.from)?,
            until: parse_time("until", &self.until)?,
            cursor: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit,
        })
    }
}

/// Times (`*_at`, milliseconds) as RFC 3339; JSON text columns as JSON.
fn present<T: Serialize>(item: &T) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for (k, v) in map.iter_mut() {
            if k.ends_with("_at")
                && let Some(ms) = v.as_i64()
            {
                *v = json!(crate::outcomes::rfc3339_ms(ms));
            } else if (k == "answers" || k == "outcome_claims")
                && let Some(text) = v.as_str()
            {
                *v = serde_json::from_str(text).unwrap_or(Value::Null);
            }
        }
    }
    value
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Rows (JSON objects with the same keys) as CSV with a header row.
fn csv_body(rows: &[Value]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if let Some(Value::Object(first)) = rows.first() {
        let _ = writer.write_record(first.keys());
    }
    for row in rows {
        if let Value::Object(map) = row {
            let _ = writer.write_record(map.values().map(csv_cell));
        }
    }
    writer.into_inner().unwrap_or_default()
}

/// A page as JSON (`{items, next_cursor}`) or CSV (header row, `X-Next-Cursor` header).
fn page<T: Serialize + Keyed>(items: Vec<T>, filter: &Filter, csv: bool, name: &str) -> Response {
    let full = i64::try_from(items.len()).unwrap_or(0) == filter.limit;
    let next = if full {
        items.last().map(|i| encode_cursor(&i.key()))
    } else {
        None
    };
    let rows: Vec<Value> = items.iter().map(present).collect();
    if !csv {
        return Json(json!({"items": rows, "next_cursor": next})).into_response();
    }
    let body = csv_body(&rows);
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(next) = next
        && let Ok(v) = HeaderValue::from_str(&next)
    {
        response.headers_mut().insert("x-next-cursor", v);
    }
    response
}

async fn conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, AdminError> {
    Ok(state.store().conn().await?)
}

fn query(
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ListQuery, AdminError> {
    q.map(|Query(q)| q)
        .map_err(|e| AdminError::BadRequest(e.body_text()))
}

type Q = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

async fn list_prompts(
    _: Admin,
    State(state): State<AppState>,
    q: Q,
) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&q.status, &None)?;
    let items = admin::prompts(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "prompts"))
}

async fn list_responses(
    _: Admin,
    State(state): State<AppState>,
    q: Q,
) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&q.outcome, &None)?;
    let items = admin::responses(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "responses"))
}

async fn list_consents(
    _: Admin,
    State(state): State<AppState>,
    q: Q,
) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&None, &q.purpose)?;
    let items = admin::consents(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "consents"))
}

/// Query of the per-subject endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    subject: Option<String>,
    issuer: Option<String>,
}

async fn current_consents(
    _: Admin,
    State(state): State<AppState>,
    q: Result<Query<SubjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let subject =
        clean(&q.subject).ok_or_else(|| AdminError::BadRequest("`subject` is required".into()))?;
    let issuer = clean(&q.issuer)
        .or_else(|| state.config().tenants.first().map(|t| t.issuer.clone()))
        .unwrap_or_default();
    let current =
        crate::store::consents::current(&mut *conn(&state).await?, &issuer, &subject).await?;
    let items: Vec<Value> = current.iter().map(present).collect();
    Ok(Json(json!({"subject": subject, "issuer": issuer, "items": items})).into_response())
}

async fn list_tos(_: Admin, State(state): State<AppState>, q: Q) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&q.version, &q.document)?;
    let items = admin::tos(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "tos"))
}

async fn list_coupons(
    _: Admin,
    State(state): State<AppState>,
    q: Q,
) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&None, &None)?;
    let items = admin::coupons(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "coupons"))
}

async fn coupon_summary(_: Admin, State(state): State<AppState>) -> Result<Response, AdminError> {
    let counts = admin::coupon_counts(&mut *conn(&state).await?).await?;
    let set = state.campaigns();
    let items: Vec<Value> = set
        .iter()
        .filter_map(|c| c.outcome.coupon.as_ref().map(|coupon| (c, coupon)))
        .map(|(c, coupon)| {
            let found = counts.iter().find(|n| n.campaign == c.id);
            let assigned = found.map_or(0, |n| n.assigned);
            let free = found.map_or(0, |n| n.free);
            let pool = matches!(coupon.source, crate::campaign::CouponSource::Pool(_));
            let capped = coupon.cap.is_some_and(|cap| assigned >= i64::from(cap));
            json!({
                "campaign": c.id,
                "source": if pool { "pool" } else { "pattern" },
                "assigned": assigned,
                "free": if pool { Some(free) } else { None },
                "cap": coupon.cap,
                "exhausted": capped || (pool && free == 0),
            })
        })
        .collect();
    Ok(Json(json!({"items": items})).into_response())
}

async fn list_deliveries(
    _: Admin,
    State(state): State<AppState>,
    q: Q,
) -> Result<Response, AdminError> {
    let q = query(q)?;
    let f = q.filter(&q.status, &q.kind)?;
    let items = admin::deliveries(&mut *conn(&state).await?, &f).await?;
    Ok(page(items, &f, q.csv(), "deliveries"))
}

async fn campaigns(_: Admin, State(state): State<AppState>, q: Q) -> Result<Response, AdminError> {
    let q = query(q)?;
    let counts = admin::campaign_counts(&mut *conn(&state).await?).await?;
    let reload = state.reload_status();
    let rows: Vec<Value> = state
        .campaigns()
        .iter()
        .map(|c| {
            let n = |status: &str| {
                counts
                    .iter()
                    .filter(|r| r.campaign == c.id && (status == "shown" || r.status == status))
                    .map(|r| r.count)
                    .sum::<i64>()
            };
            let shown = n("shown");
            let completed = n("completed");
            let mut row = Map::new();
            row.insert("id".into(), json!(c.id));
            row.insert("title".into(), json!(c.title));
            row.insert("version".into(), json!(c.version));
            row.insert("priority".into(), json!(c.priority));
            row.insert("enabled".into(), json!(c.enabled));
            row.insert("file".into(), json!(c.source.display().to_string()));
            row.insert("shown".into(), json!(shown));
            row.insert("completed".into(), json!(completed));
            row.insert("skipped".into(), json!(n("skipped")));
            row.insert("declined".into(), json!(n("declined")));
            row.insert("expired".into(), json!(n("expired")));
            row.insert("pending".into(), json!(n("pending")));
            let rate = if shown > 0 {
                completed as f64 / shown as f64
            } else {
                0.0
            };
            row.insert(
                "conversion_rate".into(),
                json!((rate * 10_000.0).round() / 10_000.0),
            );
            Value::Object(row)
        })
        .collect();
    if q.csv() {
        let body = csv_body(&rows);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(json!({"items": rows, "reload": reload})).into_response())
}

/// Everything recorded about one subject.
async fn subject(
    _: Admin,
    State(state): State<AppState>,
    Path(subject): Path<String>,
    q: Result<Query<SubjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let issuer = clean(&q.issuer);
    let f = Filter {
        subject: Some(subject.clone()),
        issuer: issuer.clone(),
        limit: MAX_CSV_LIMIT,
        ..Filter::default()
    };
    let mut c = conn(&state).await?;
    let prompts: Vec<Value> = admin::prompts(&mut c, &f)
        .await?
        .iter()
        .map(present)
        .collect();
    let responses: Vec<Value> = admin::responses(&mut c, &f)
        .await?
        .iter()
        .map(present)
        .collect();
    let consents: Vec<Value> = admin::consents(&mut c, &f)
        .await?
        .iter()
        .map(present)
        .collect();
    let tos: Vec<Value> = admin::tos(&mut c, &f).await?.iter().map(present).collect();
    let coupons: Vec<Value> = admin::coupons(&mut c, &f)
        .await?
        .iter()
        .map(present)
        .collect();
    let deliveries: Vec<Value> = admin::deliveries(&mut c, &f)
        .await?
        .iter()
        .map(present)
        .collect();
    let mut current = Vec::new();
    let issuers: Vec<String> = match &issuer {
        Some(i) => vec![i.clone()],
        None => state
            .config()
            .tenants
            .iter()
            .map(|t| t.issuer.clone())
            .collect(),
    };
    for i in &issuers {
        for cc in crate::store::consents::current(&mut c, i, &subject).await? {
            let mut v = present(&cc);
            if let Value::Object(m) = &mut v {
                m.insert("issuer".into(), json!(i));
            }
            current.push(v);
        }
    }
    Ok(Json(json!({
        "subject": subject,
        "prompts": prompts,
        "responses": responses,
        "consents": consents,
        "consents_current": current,
        "tos": tos,
        "coupons": coupons,
        "deliveries": deliveries,
    }))
    .into_response())
}

/// Erases one subject's answers and personal data.
async fn erase_subject(
    who: Admin,
    State(state): State<AppState>,
    Path(subject): Path<String>,
    q: Result<Query<SubjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AdminError> {
    if who.read_only {
        return Err(AdminError::ReadOnly);
    }
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let issuer = clean(&q.issuer);
    let keep = state.config().erasure_keeps_consent_proof;
    let mut tx = state.store().write().await?;
    let erased = admin::erase(
        tx.conn().await.map_err(StoreError::from)?,
        &subject,
        issuer.as_deref(),
        keep,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    // The subject is logged as a hash: the log outlives the erasure.
    let subject_hash = crate::token::hex(&Sha256::digest(subject.as_bytes()));
    tracing::info!(admin = %who.name, subject_sha256 = %subject_hash, ?erased, keep_consent_proof = keep,
        "erased a subject's data");
    Ok(
        Json(json!({"subject": subject, "erased": erased, "consent_proof_kept": keep}))
            .into_response(),
    )
}

fn list_parameters(names: &[&str]) -> Vec<Value> {
    let mut params: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "in": "query", "required": false, "schema": {"type": "string"}}))
        .collect();
    for (name, description) in [
        ("from", "RFC 3339 time, inclusive"),
        ("until", "RFC 3339 time, exclusive"),
        ("cursor", "next_cursor of the previous page"),
        ("limit", "page size, 1 to 500 (CSV: up to 50000)"),
        ("format", "json (default) or csv"),
    ] {
        params.push(
            json!({"name": name, "in": "query", "required": false, "description": description,
            "schema": {"type": if name == "limit" { "integer" } else { "string" }}}),
        );
    }
    params
}

/// The OpenAPI 3.1 document of the admin API.
pub fn openapi_document() -> Value {
    let list = |summary: &str, names: &[&str]| {
        json!({"get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": list_parameters(names),
            "responses": {
                "200": {"description": "A page: {items, next_cursor}; text/csv with X-Next-Cursor when format=csv"},
                "400": {"description": "A bad parameter"},
                "401": {"description": "Missing or unknown bearer token"}
            }
        }})
    };
    let subject_params = json!([
        {"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "issuer", "in": "query", "required": false, "schema": {"type": "string"}}
    ]);
    let mut paths = Map::new();
    paths.insert(
        ROUTES[0].0.into(),
        list(
            "Prompts shown",
            &["subject", "campaign", "status", "issuer"],
        ),
    );
    paths.insert(
        ROUTES[1].0.into(),
        list(
            "Answers recorded",
            &["subject", "campaign", "outcome", "issuer"],
        ),
    );
    paths.insert(
        ROUTES[2].0.into(),
        list(
            "Consent records (append-only)",
            &["subject", "campaign", "purpose", "issuer"],
        ),
    );
    paths.insert(ROUTES[3].0.into(), json!({"get": {
        "summary": "Current consent per purpose of a subject",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "subject", "in": "query", "required": true, "schema": {"type": "string"}},
            {"name": "issuer", "in": "query", "required": false, "schema": {"type": "string"}}
        ],
        "responses": {"200": {"description": "{subject, issuer, items}"}, "401": {"description": "Unauthorized"}}
    }}));
    paths.insert(
        ROUTES[4].0.into(),
        list(
            "Terms-of-Service acceptances",
            &["subject", "document", "version", "issuer"],
        ),
    );
    paths.insert(
        ROUTES[5].0.into(),
        list(
            "Coupon codes handed out",
            &["subject", "campaign", "issuer"],
        ),
    );
    paths.insert(
        ROUTES[6].0.into(),
        json!({"get": {
            "summary": "Coupons per campaign: assigned, free, cap, exhausted",
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "{items}"}, "401": {"description": "Unauthorized"}}
        }}),
    );
    paths.insert(
        ROUTES[7].0.into(),
        list(
            "Deliveries (webhooks, profile write-back)",
            &["subject", "campaign", "status", "kind"],
        ),
    );
    paths.insert(ROUTES[8].0.into(), json!({"get": {
        "summary": "Loaded campaigns with counts and conversion rate, and the last reload",
        "security": [{"bearer": []}],
        "parameters": [{"name": "format", "in": "query", "required": false, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "{items, reload}"}, "401": {"description": "Unauthorized"}}
    }}));
    paths.insert(ROUTES[9].0.into(), json!({
        "get": {
            "summary": "Everything recorded about one subject",
            "security": [{"bearer": []}],
            "parameters": subject_params,
            "responses": {"200": {"description": "prompts, responses, consents, consents_current, tos, coupons, deliveries"}, "401": {"description": "Unauthorized"}}
        },
        "delete": {
            "summary": "Erase one subject's answers and personal data (consent proof kept or removed as configured)",
            "security": [{"bearer": []}],
            "parameters": subject_params,
            "responses": {"200": {"description": "What was erased"}, "401": {"description": "Unauthorized"}, "403": {"description": "Read-only token"}}
        }
    }));
    paths.insert(
        ROUTES[10].0.into(),
        json!({"get": {
            "summary": "This document",
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "OpenAPI 3.1"}}
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Interlude admin API", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}

async fn openapi(_: Admin) -> Json<Value> {
    Json(openapi_document())
}
