//! Consent: per purpose, granted or refused, with the exact words shown (stored once by
//! SHA-256), the text version, the locale, when, from where, and the prompt. Append-only.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Answer;
use crate::render::views::Words;
use crate::store::Writes;
use crate::store::consents::{self, NewConsent};
use crate::token::hex;

/// The words a purpose was asked with, as the user saw them.
pub fn shown_text(answer: &Answer<'_>, field: &str) -> String {
    let words = Words::new(answer.campaign, &answer.row.locale);
    let (label, help) = words.field_words(field);
    let controller = answer
        .campaign
        .outcome
        .consent
        .as_ref()
        .map(|c| c.controller.as_str())
        .unwrap_or_default();
    let mut text = format!("{controller}\n{label}");
    if let Some(help) = help {
        text.push('\n');
        text.push_str(&help);
    }
    text
}

/// Records each purpose of a consent campaign: granted as ticked when completed, refused
/// when declined; nothing when skipped (no answer was given).
pub fn record(w: &mut Writes, a: &Answer<'_>) {
    let Some(consent) = &a.campaign.outcome.consent else {
        return;
    };
    if a.outcome == "skipped" {
        return;
    }
    for purpose in &consent.purposes {
        let granted = a.outcome == "completed"
            && a.answers.get(&purpose.field).and_then(Value::as_bool) == Some(true);
        let text = shown_text(a, &purpose.field);
        let sha = hex(&Sha256::digest(text.as_bytes()));
        consents::insert(
            w,
            &NewConsent {
                issuer: &a.row.issuer,
                subject: &a.row.subject,
                purpose: &purpose.purpose,
                granted,
                text: &text,
                text_sha256: &sha,
                text_version: &purpose.text_version,
                controller: &consent.controller,
                campaign: &a.campaign.id,
                campaign_version: a.row.campaign_version,
                locale: &a.row.locale,
                prompt_id: &a.row.id,
                recorded_at: a.now,
                ip: a.client.ip.as_deref(),
                user_agent: a.client.user_agent.as_deref(),
            },
        );
    }
}
