//! What an answer yields, recorded in the answer's own transaction: consent records, ToS
//! acceptance, a coupon, and the deliveries (webhooks, profile write-back) queued in the
//! outbox for the worker in `deliver`.
//!
//! Each kind is a plain function over the transaction rather than a trait object: the kinds
//! differ in what they need (words shown, a pool, a URL), and one call site lists them all.

pub mod consent;
pub mod coupon;
pub mod deliver;

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use crate::campaign::Campaign;
use crate::config::Config;
use crate::detour::{Client, FlowError};
use crate::store::detours::{self, NewTosAcceptance, PromptRow};
use crate::store::outbox::{self, NewDelivery};
use crate::store::{StoreError, WriteTx, Writes};

/// One finished prompt, as the outcome recorders see it.
pub struct Answer<'a> {
    /// Its campaign.
    pub campaign: &'a Campaign,
    /// The prompt (with its detour's state and claims).
    pub row: &'a PromptRow,
    /// `completed`, `skipped` or `declined`.
    pub outcome: &'a str,
    /// Validated answers (empty unless completed).
    pub answers: &'a Value,
    /// Who answered, from where.
    pub client: &'a Client,
    /// Now (ms).
    pub now: i64,
}

/// Whether the answer hands out a coupon, which needs reads inside its transaction
/// ([`assign_coupon`]); everything else it yields is written by [`record`] without reading.
pub fn needs_coupon(a: &Answer<'_>) -> bool {
    a.outcome == "completed" && a.campaign.outcome.coupon.is_some()
}

/// Records everything the answer yields but a coupon, given the claims the coupon added
/// (`coupon`, `coupon_exhausted`; the webhook event carries them).
pub fn record(w: &mut Writes, config: &Config, a: &Answer<'_>, claims: &Map<String, Value>) {
    if a.outcome == "completed"
        && let Some(tos) = &a.campaign.outcome.tos
    {
        detours::insert_tos(
            w,
            &NewTosAcceptance {
                prompt: a.row,
                document: &tos.document,
                version: &tos.version,
                url: &tos.url,
                accepted_at: a.now,
                ip: a.client.ip.as_deref(),
                user_agent: a.client.user_agent.as_deref(),
            },
        );
    }
    consent::record(w, a);
    queue_deliveries(w, config, a, claims);
}

/// Hands out the answer's coupon, if its campaign has one, inside its write transaction;
/// returns the claims it adds to the return token (`coupon`, `coupon_exhausted`).
pub async fn assign_coupon(
    tx: &mut WriteTx,
    a: &Answer<'_>,
) -> Result<Map<String, Value>, FlowError> {
    let mut claims = Map::new();
    if a.outcome == "completed"
        && let Some(c) = &a.campaign.outcome.coupon
    {
        let conn = tx.conn().await.map_err(StoreError::from)?;
        match coupon::assign(conn, a.campaign, c, a.row, a.now).await? {
            Some(assigned) => {
                let mut coupon = Map::new();
                coupon.insert("code".into(), json!(assigned.code));
                if let Some(exp) = assigned.expires_at {
                    coupon.insert("expires_at".into(), json!(rfc3339_ms(exp)));
                }
                claims.insert("coupon".into(), Value::Object(coupon));
            }
            None => {
                tracing::warn!(campaign = %a.campaign.id, "coupon pool exhausted at hand-out");
                metrics::counter!("interlude_coupon_exhausted_total", "campaign" => a.campaign.id.clone())
                    .increment(1);
                claims.insert("coupon_exhausted".into(), json!(true));
            }
        }
    }
    Ok(claims)
}

/// An RFC 3339 time of a millisecond timestamp.
pub fn rfc3339_ms(ms: i64) -> String {
    crate::store::from_millis(ms)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn queue_deliveries(
    w: &mut Writes,
    config: &Config,
    a: &Answer<'_>,
    outcome_claims: &Map<String, Value>,
) {
    let event_id = uuid::Uuid::now_v7().to_string();
    if !a.campaign.outcome.webhooks.is_empty() {
        let mut event = json!({
            "id": event_id,
            "type": "prompt.finished",
            "occurred_at": rfc3339_ms(a.now),
            "campaign": a.campaign.id,
            "campaign_version": a.campaign.version,
            "outcome": a.outcome,
            "issuer": a.row.issuer,
            "subject": a.row.subject,
            "prompt_id": a.row.id,
            "answers": a.answers,
        });
        if let Value::Object(m) = &mut event {
            m.extend(outcome_claims.clone());
        }
        let payload = event.to_string();
        for url in &a.campaign.outcome.webhooks {
            outbox::enqueue(
                w,
                &NewDelivery {
                    id: &uuid::Uuid::now_v7().to_string(),
                    kind: outbox::WEBHOOK,
                    target: url,
                    payload: &payload,
                    prompt_id: &a.row.id,
                    campaign: &a.campaign.id,
                    subject: &a.row.subject,
                    now: a.now,
                },
            );
        }
    }
    // Write-back needs the tenant's Management API credentials; without them the answers
    // still reach the Action in the return token (a warning at start says so).
    let can_write_back = config
        .tenant(&a.row.issuer)
        .is_some_and(|t| t.management.is_some());
    if a.outcome == "completed"
        && can_write_back
        && let Some(profile) = &a.campaign.outcome.profile
        && let Value::Object(answers) = a.answers
    {
        let data: Map<String, Value> = answers
            .iter()
            .filter(|(k, _)| profile.fields.is_empty() || profile.fields.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !data.is_empty() {
            let target = match profile.target {
                crate::campaign::MetadataTarget::UserMetadata => "user_metadata",
                crate::campaign::MetadataTarget::AppMetadata => "app_metadata",
            };
            let payload =
                json!({"id": event_id, "user_id": a.row.subject, "target": target, "data": data});
            outbox::enqueue(
                w,
                &NewDelivery {
                    id: &uuid::Uuid::now_v7().to_string(),
                    kind: outbox::AUTH0_PROFILE,
                    target: &a.row.issuer,
                    payload: &payload.to_string(),
                    prompt_id: &a.row.id,
                    campaign: &a.campaign.id,
                    subject: &a.row.subject,
                    now: a.now,
                },
            );
        }
    }
}
