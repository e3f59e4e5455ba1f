//! The campaign file format as written by marketers: serde "spec" types, unvalidated.
//!
//! Every struct refuses unknown keys, so a typo is an error with a position rather than a
//! silently ignored setting. `load.rs` turns these into the validated types in `mod.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::condition::ConditionSpec;
use super::span::Located;

/// One campaign file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Interlude campaign")]
pub struct CampaignSpec {
    /// Unique identifier across all files: lower-case letters, digits and dashes, e.g. `ask-job-title`.
    pub id: Located<String>,
    /// Internal name shown in the admin API and previews (not to users; see `presentation.text`).
    pub title: String,
    /// What the campaign is for, for the people who maintain it.
    #[serde(default)]
    pub description: Option<String>,
    /// Bump when the question or its wording changes: history rules and ToS re-prompts use it.
    #[serde(default = "one")]
    pub version: Located<u32>,
    /// Higher runs first when several campaigns could fire. Ties are broken by id.
    #[serde(default)]
    pub priority: i32,
    /// A disabled campaign never fires but is still checked.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When the campaign may fire.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// When the campaign fires. Without a trigger it always fires (within its schedule).
    #[serde(default)]
    pub trigger: Option<Located<ConditionSpec>>,
    /// What the form asks.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// How the page looks and reads.
    pub presentation: PresentationSpec,
    /// What an answer yields.
    #[serde(default)]
    pub outcome: OutcomeSpec,
}

fn one() -> Located<u32> {
    Located::unplaced(1)
}

fn yes() -> bool {
    true
}

/// The window in which a campaign may fire. Times are RFC 3339 (`2026-03-01T09:00:00+01:00`)
/// or dates (`2026-03-01`, midnight UTC). `from` is inclusive, `until` exclusive.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// First moment the campaign may fire.
    #[serde(default)]
    pub from: Option<Located<String>>,
    /// The campaign stops firing at this moment.
    #[serde(default)]
    pub until: Option<Located<String>>,
}

/// The kinds of form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// An e-mail address.
    Email,
    /// A telephone number.
    Tel,
    /// A web address.
    Url,
    /// A number (see `min`, `max`, `step`).
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A drop-down list: one of `options`.
    Select,
    /// Radio buttons: one of `options`.
    Radio,
    /// A single tick box: true or false.
    Checkbox,
    /// Several of `options`.
    MultiSelect,
    /// Several lines of text.
    Textarea,
    /// Not shown; its value comes from `default` or `default_from`.
    Hidden,
}

/// One form field.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The answer's key: lower-case letters, digits and underscores, e.g. `job_title`.
    pub name: Located<String>,
    /// The kind of input.
    #[serde(rename = "type")]
    pub kind: Located<FieldType>,
    /// The user must answer.
    #[serde(default)]
    pub required: bool,
    /// Fewest characters (text-like fields).
    #[serde(default)]
    pub min_length: Option<u32>,
    /// Most characters (text-like fields). Defaults to 500 (10,000 for textarea).
    #[serde(default)]
    pub max_length: Option<u32>,
    /// A regular expression the whole answer must match (text-like fields).
    #[serde(default)]
    pub pattern: Option<Located<String>>,
    /// Smallest value (number) or earliest date (`YYYY-MM-DD`).
    #[serde(default)]
    pub min: Option<Located<serde_json::Value>>,
    /// Largest value (number) or latest date (`YYYY-MM-DD`).
    #[serde(default)]
    pub max: Option<Located<serde_json::Value>>,
    /// Allowed increment for numbers (e.g. `1` for whole numbers).
    #[serde(default)]
    pub step: Option<f64>,
    /// The choices of a select, radio or multi-select field.
    #[serde(default)]
    pub options: Option<Located<Vec<OptionSpec>>>,
    /// A claim path whose value pre-fills the field, e.g. `user_metadata.job_title`.
    #[serde(default)]
    pub default_from: Option<Located<String>>,
    /// A fixed value that pre-fills the field (used when `default_from` finds nothing).
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// The HTML autocomplete hint, e.g. `given-name`, `organization-title`.
    #[serde(default)]
    pub autocomplete: Option<String>,
}

/// One choice of a select, radio or multi-select field.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionSpec {
    /// What is recorded and returned.
    pub value: Located<String>,
    /// What the user sees in the default locale (defaults to the value). Translations go in
    /// `presentation.text.LOCALE.fields.FIELD.options.VALUE`.
    #[serde(default)]
    pub label: Option<String>,
}

/// Look and words.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentationSpec {
    /// A folder under themes/.
    #[serde(default = "default_theme")]
    pub theme: Located<String>,
    /// The locale used when the user's is not translated; its text must be complete.
    #[serde(default = "default_locale")]
    pub locale: Located<String>,
    /// Brand overrides on top of the theme.
    #[serde(default)]
    pub branding: BrandingSpec,
    /// The words on the page, per locale (`en`, `de`, `pt-BR`, …).
    pub text: Located<BTreeMap<String, Located<TextSpec>>>,
}

fn default_theme() -> Located<String> {
    Located::unplaced("default".to_owned())
}

fn default_locale() -> Located<String> {
    Located::unplaced("en".to_owned())
}

/// Brand overrides.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingSpec {
    /// An https URL of the logo image.
    #[serde(default)]
    pub logo_url: Option<Located<String>>,
    /// Main colour (buttons, links), `#rrggbb`.
    #[serde(default)]
    pub primary_color: Option<Located<String>>,
    /// Page background colour, `#rrggbb`.
    #[serde(default)]
    pub background_color: Option<Located<String>>,
    /// Text colour, `#rrggbb`.
    #[serde(default)]
    pub text_color: Option<Located<String>>,
}

/// The words of one locale.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    /// The page heading.
    #[serde(default)]
    pub title: Option<String>,
    /// A paragraph under the heading.
    #[serde(default)]
    pub intro: Option<String>,
    /// The submit button's caption.
    #[serde(default)]
    pub submit: Option<String>,
    /// The skip button's caption (when `outcome.allow_skip`).
    #[serde(default)]
    pub skip: Option<String>,
    /// The decline button's caption (when `outcome.allow_decline`).
    #[serde(default)]
    pub decline: Option<String>,
    /// Shown after a successful answer, before the user continues.
    #[serde(default)]
    pub thanks: Option<String>,
    /// Per field: label, help, placeholder, option labels.
    #[serde(default)]
    pub fields: BTreeMap<String, Located<FieldTextSpec>>,
    /// Overrides of the built-in validation messages, by kind:
    /// required, too_short, too_long, pattern, too_small, too_large, invalid, not_an_option.
    #[serde(default)]
    pub errors: BTreeMap<String, Located<String>>,
}

/// The words of one field in one locale.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTextSpec {
    /// The label next to the input.
    #[serde(default)]
    pub label: Option<String>,
    /// A hint under the input.
    #[serde(default)]
    pub help: Option<String>,
    /// Greyed example text inside the input.
    #[serde(default)]
    pub placeholder: Option<String>,
    /// Option labels by option value.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Validation messages of this field, by kind (overrides `text.LOCALE.errors`).
    #[serde(default)]
    pub errors: BTreeMap<String, Located<String>>,
}

/// What an answer yields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSpec {
    /// The user may leave without answering (outcome `skipped`; the campaign may ask again).
    #[serde(default)]
    pub allow_skip: bool,
    /// The user may refuse (outcome `declined`).
    #[serde(default)]
    pub allow_decline: bool,
    /// Field names whose answers go into the return token's `answers` claim. Nothing else
    /// the user posts is ever returned.
    #[serde(default)]
    pub claims: Vec<Located<String>>,
    /// Write answers back to the user's Auth0 profile.
    #[serde(default)]
    pub profile: Option<ProfileSpec>,
    /// Record consent per purpose from checkbox fields.
    #[serde(default)]
    pub consent: Option<Located<ConsentSpec>>,
    /// Record acceptance of a Terms-of-Service document.
    #[serde(default)]
    pub tos: Option<TosSpec>,
    /// Hand out a coupon code.
    #[serde(default)]
    pub coupon: Option<Located<CouponSpec>>,
    /// URLs that receive a signed event for every completed prompt.
    #[serde(default)]
    pub webhooks: Vec<Located<String>>,
}

/// Where profile answers are written in Auth0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataTarget {
    /// Editable by the user.
    UserMetadata,
    /// Editable only by the application.
    AppMetadata,
}

/// Profile write-back.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// `user_metadata` or `app_metadata`.
    pub target: MetadataTarget,
    /// Field names to write; all answered fields when empty.
    #[serde(default)]
    pub fields: Vec<Located<String>>,
}

/// Consent recording.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentSpec {
    /// The legal entity asking for consent, named on the page (GDPR Art. 13).
    pub controller: String,
    /// One entry per purpose; each is its own checkbox.
    pub purposes: Vec<PurposeSpec>,
    /// A preferences page: each box starts as the user's current choice, so unticking it
    /// withdraws consent (recorded the same way as giving it).
    #[serde(default)]
    pub manage: bool,
}

/// One consent purpose.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeSpec {
    /// The purpose's identifier, e.g. `marketing_email`.
    pub purpose: Located<String>,
    /// The checkbox field that grants it.
    pub field: Located<String>,
    /// The version of the consent text; bump it when the words change.
    pub text_version: String,
}

/// Terms-of-Service acceptance.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TosSpec {
    /// Which document, e.g. `terms` or `privacy`.
    #[serde(default = "default_document")]
    pub document: String,
    /// The version being accepted, e.g. `"2"` or `"2026-03"`.
    pub version: String,
    /// Where the document can be read (https).
    pub url: Located<String>,
    /// The checkbox field that accepts it.
    pub field: Located<String>,
}

fn default_document() -> String {
    "terms".to_owned()
}

/// Coupon hand-out.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponSpec {
    /// A CSV file of codes (first column), relative to the campaigns folder.
    #[serde(default)]
    pub pool: Option<Located<String>>,
    /// Generate codes from a pattern: `{XXXX}` is four characters from an unambiguous
    /// alphabet, e.g. `WELCOME-{XXXX}-{XXXX}`.
    #[serde(default)]
    pub pattern: Option<Located<String>>,
    /// Stop handing out codes after this many.
    #[serde(default)]
    pub cap: Option<u32>,
    /// How long a code stays valid after it is handed out, e.g. `30d`.
    #[serde(default)]
    pub expires_after: Option<Located<String>>,
    /// What happens when no code is left: `skip` the campaign or show a `message`.
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

/// What to do when a coupon pool is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// The campaign does not fire.
    #[default]
    Skip,
    /// The campaign fires and says that no code is left.
    Message,
}
