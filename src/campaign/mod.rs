//! Campaigns: the YAML format (`model`, `condition`), loading and checking (`load`), the
//! JSON Schema of the format (`schema`), and the validated types the rest of the service uses.

pub mod condition;
pub mod load;
pub mod model;
pub mod schema;
pub mod span;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;
use time::{Date, Duration};

pub use self::load::{Problem, Problems, load_dir};
pub use self::model::{FieldType, MetadataTarget, OnExhausted};
use crate::rules::{ClaimPath, History, HistoryParts, Index, Rule, Schedule};

/// A validated campaign. Only [`load`] makes these, so every one the service holds is sound.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Unique id (slug).
    pub id: String,
    /// Internal name.
    pub title: String,
    /// Internal description.
    pub description: Option<String>,
    /// Version (≥ 1).
    pub version: u32,
    /// Higher first.
    pub priority: i32,
    /// Disabled campaigns never fire.
    pub enabled: bool,
    /// When it may fire.
    pub schedule: Schedule,
    /// When it fires; `None` fires always.
    pub trigger: Option<Rule>,
    /// The form.
    pub fields: Vec<Field>,
    /// Look and words.
    pub presentation: Presentation,
    /// What an answer yields.
    pub outcome: Outcome,
    /// The compiled answer schema of `fields`.
    pub form: crate::form::FormValidator,
    /// The file it came from.
    pub source: PathBuf,
}

impl Campaign {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A validated form field.
#[derive(Debug, Clone)]
pub struct Field {
    /// Answer key.
    pub name: String,
    /// Input kind.
    pub kind: FieldType,
    /// Must be answered.
    pub required: bool,
    /// Fewest characters.
    pub min_length: Option<u32>,
    /// Most characters (always set: inputs are bounded).
    pub max_length: u32,
    /// Whole-answer pattern as written (the schema uses it; `pattern` is its anchored form).
    pub pattern_source: Option<String>,
    /// Compiled, anchored pattern.
    pub pattern: Option<Regex>,
    /// Smallest number or earliest date.
    pub min: Option<Bound>,
    /// Largest number or latest date.
    pub max: Option<Bound>,
    /// Number increment.
    pub step: Option<f64>,
    /// Choices (select, radio, multi-select).
    pub options: Vec<Choice>,
    /// Pre-fill from this claim.
    pub default_from: Option<ClaimPath>,
    /// Pre-fill with this value.
    pub default: Option<Value>,
    /// HTML autocomplete hint.
    pub autocomplete: Option<String>,
}

/// A numeric or date limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// For number fields.
    Number(f64),
    /// For date fields.
    Date(Date),
}

/// One option of a choice field.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Recorded value.
    pub value: String,
    /// Default-locale label.
    pub label: String,
}

/// Look and words, validated.
#[derive(Debug, Clone)]
pub struct Presentation {
    /// Theme folder name.
    pub theme: String,
    /// Default locale; `text` has complete strings for it.
    pub locale: String,
    /// Brand overrides.
    pub branding: Branding,
    /// Words per locale.
    pub text: BTreeMap<String, Text>,
}

/// Brand overrides, validated (https logo, `#rrggbb` colours).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Branding {
    /// Logo image URL.
    pub logo_url: Option<String>,
    /// Main colour.
    pub primary_color: Option<String>,
    /// Background colour.
    pub background_color: Option<String>,
    /// Text colour.
    pub text_color: Option<String>,
}

/// Words of one locale.
#[derive(Debug, Clone, Default)]
pub struct Text {
    /// Heading.
    pub title: Option<String>,
    /// Paragraph under the heading.
    pub intro: Option<String>,
    /// Submit caption.
    pub submit: Option<String>,
    /// Skip caption.
    pub skip: Option<String>,
    /// Decline caption.
    pub decline: Option<String>,
    /// Thank-you line.
    pub thanks: Option<String>,
    /// Per-field words.
    pub fields: BTreeMap<String, FieldText>,
    /// Validation message overrides by kind.
    pub errors: BTreeMap<String, String>,
}

/// Words of one field in one locale.
#[derive(Debug, Clone, Default)]
pub struct FieldText {
    /// Label.
    pub label: Option<String>,
    /// Help line.
    pub help: Option<String>,
    /// Placeholder.
    pub placeholder: Option<String>,
    /// Option labels by value.
    pub options: BTreeMap<String, String>,
    /// Validation messages by kind.
    pub errors: BTreeMap<String, String>,
}

/// What an answer yields, validated.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// May skip.
    pub allow_skip: bool,
    /// May decline.
    pub allow_decline: bool,
    /// Fields returned in the token's `answers`.
    pub claims: Vec<String>,
    /// Profile write-back.
    pub profile: Option<Profile>,
    /// Consent recording.
    pub consent: Option<Consent>,
    /// ToS acceptance.
    pub tos: Option<Tos>,
    /// Coupon hand-out.
    pub coupon: Option<Coupon>,
    /// Event receivers.
    pub webhooks: Vec<String>,
}

/// Profile write-back.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Which metadata.
    pub target: MetadataTarget,
    /// Which fields (all when empty).
    pub fields: Vec<String>,
}

/// Consent recording.
#[derive(Debug, Clone)]
pub struct Consent {
    /// Who asks.
    pub controller: String,
    /// Purposes.
    pub purposes: Vec<Purpose>,
    /// Boxes start as the user's current choices (a preferences page).
    pub manage: bool,
}

/// One consent purpose.
#[derive(Debug, Clone)]
pub struct Purpose {
    /// Purpose id.
    pub purpose: String,
    /// Checkbox field.
    pub field: String,
    /// Text version.
    pub text_version: String,
}

/// ToS acceptance.
#[derive(Debug, Clone)]
pub struct Tos {
    /// Document id.
    pub document: String,
    /// Version.
    pub version: String,
    /// Where to read it.
    pub url: String,
    /// Checkbox field.
    pub field: String,
}

/// Where coupon codes come from.
#[derive(Debug, Clone)]
pub enum CouponSource {
    /// A CSV file of codes.
    Pool(PathBuf),
    /// A pattern such as `WELCOME-{XXXX}`.
    Pattern(String),
}

/// Coupon hand-out.
#[derive(Debug, Clone)]
pub struct Coupon {
    /// Codes from.
    pub source: CouponSource,
    /// At most this many codes.
    pub cap: Option<u32>,
    /// Validity after hand-out.
    pub expires_after: Option<Duration>,
    /// When none is left.
    pub on_exhausted: OnExhausted,
}

/// A checked set of campaigns, in the order they are evaluated.
#[derive(Debug, Clone, Default)]
pub struct CampaignSet {
    ordered: Vec<Arc<Campaign>>,
    by_id: HashMap<String, Arc<Campaign>>,
    index: Index,
    reads_tos: bool,
}

impl CampaignSet {
    /// Orders by priority (higher first), then id.
    pub fn new(mut campaigns: Vec<Campaign>) -> Self {
        campaigns.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        let ordered: Vec<Arc<Campaign>> = campaigns.into_iter().map(Arc::new).collect();
        let by_id = ordered
            .iter()
            .map(|c| (c.id.clone(), Arc::clone(c)))
            .collect();
        let index = Index::new(ordered.iter().map(|c| c.trigger.as_ref()));
        let reads_tos = ordered
            .iter()
            .any(|c| c.trigger.as_ref().is_some_and(Rule::reads_tos));
        Self {
            ordered,
            by_id,
            index,
            reads_tos,
        }
    }

    /// Campaigns in evaluation order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Campaign>> {
        self.ordered.iter()
    }

    /// The campaigns that may fire for a token with these claims and a user with this
    /// history, in evaluation order: all but those whose trigger requires a claim value the
    /// token does not have, or a history the user does not have ([`Index`]; without the
    /// history, none is left out for it). Choosing among these picks the same campaign as
    /// choosing among all.
    pub fn may_fire<'s>(
        &'s self,
        claims: &Value,
        history: Option<&History>,
    ) -> impl Iterator<Item = &'s Arc<Campaign>> {
        self.index
            .candidates(claims, history)
            .filter_map(|i| self.ordered.get(i))
    }

    /// Whether [`CampaignSet::may_fire`] can leave out more once it has the history.
    pub fn narrows_by_history(&self) -> bool {
        self.index.reads_history()
    }

    /// What of a user's history the rules read: the ToS acceptances only when some
    /// campaign's trigger tests them.
    pub fn history_parts(&self) -> HistoryParts {
        if self.reads_tos {
            HistoryParts::All
        } else {
            HistoryParts::Prompts
        }
    }

    /// The campaign with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Campaign>> {
        self.by_id.get(id)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::campaign::load::LoadOptions;

    fn set_of(files: &[&str]) -> CampaignSet {
        let dir = tempfile::tempdir().expect("a folder");
        for f in files {
            std::fs::copy(
                std::path::Path::new("campaigns").join(f),
                dir.path().join(f),
            )
            .expect("the example campaign");
        }
        crate::campaign::load_dir(dir.path(), &LoadOptions::default()).expect("the campaigns")
    }

    /// The ToS acceptances are read only for sets with a trigger that tests them, however
    /// deep (`tos-v2` has it under `not`).
    #[test]
    fn the_history_holds_tos_acceptances_only_when_a_trigger_reads_them() {
        assert_eq!(
            set_of(&["profile-job.yaml", "marketing-consent.yaml"]).history_parts(),
            HistoryParts::Prompts
        );
        assert_eq!(
            set_of(&["profile-job.yaml", "tos-v2.yaml"]).history_parts(),
            HistoryParts::All
        );
        assert_eq!(
            CampaignSet::default().history_parts(),
            HistoryParts::Prompts
        );
    }
}
