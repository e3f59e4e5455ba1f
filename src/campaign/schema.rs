//! The JSON Schema of the campaign format, generated from the spec types, for editors.

use super::model::CampaignSpec;

/// The schema as a JSON value.
pub fn campaign_schema() -> serde_json::Value {
    serde_json::Value::from(schemars::schema_for!(CampaignSpec))
}

/// The schema as committed in `campaigns/campaign.schema.json` (pretty, trailing newline).
pub fn campaign_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&campaign_schema()).unwrap_or_default();
    text.push('\n');
    text
}
