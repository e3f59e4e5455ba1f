//! Typed page views: what each template receives.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{strings, theme};
use crate::campaign::load::kind_name;
use crate::campaign::{Bound, Campaign, Field, FieldType, Text};
use crate::form::{FieldProblem, default_value};

/// What every page has: theme, language, direction, nonce, brand, built-in words.
#[derive(Debug, Clone, Serialize)]
pub struct Chrome {
    /// Theme folder.
    pub theme: String,
    /// `lang` attribute.
    pub lang: String,
    /// `ltr` or `rtl`.
    pub dir: &'static str,
    /// CSP nonce of this response.
    pub nonce: String,
    /// Base URL of the theme's static files.
    pub static_url: String,
    /// The document title.
    pub page_title: String,
    /// CSS custom properties from the campaign's branding.
    pub brand_css: Option<String>,
    /// Logo.
    pub logo_url: Option<String>,
    /// Built-in words in `lang` (a map shared by every page in that language).
    pub t: minijinja::Value,
}

impl Chrome {
    /// Chrome of a page in `theme` and `locale`, without campaign branding.
    pub fn plain(theme: &str, locale: &str, nonce: &str, page_title: &str) -> Self {
        Self {
            theme: theme.to_owned(),
            lang: locale.to_owned(),
            dir: if strings::is_rtl(locale) {
                "rtl"
            } else {
                "ltr"
            },
            nonce: nonce.to_owned(),
            static_url: format!("/static/{theme}"),
            page_title: page_title.to_owned(),
            brand_css: None,
            logo_url: None,
            t: strings::table(locale),
        }
    }

    /// Chrome of a page after a campaign (the return page): the campaign's branding when it
    /// is still served in `theme`, else the theme alone.
    pub fn after_campaign(
        campaign: Option<&Campaign>,
        theme: &str,
        locale: &str,
        nonce: &str,
        page_title: &str,
    ) -> Self {
        match campaign {
            Some(c) if c.presentation.theme == theme => {
                Self::for_campaign(c, locale, nonce, page_title)
            }
            _ => Self::plain(theme, locale, nonce, page_title),
        }
    }

    /// Chrome of a campaign's page: its theme and branding.
    pub fn for_campaign(campaign: &Campaign, locale: &str, nonce: &str, page_title: &str) -> Self {
        let mut chrome = Self::plain(&campaign.presentation.theme, locale, nonce, page_title);
        let b = &campaign.presentation.branding;
        let mut css = String::new();
        // Colours were checked to be `#rrggbb` when the campaign loaded; they come after
        // the theme's tokens in the page's <style>, so they win.
        for (var, value) in [
            ("--primary", &b.primary_color),
            ("--background", &b.background_color),
            ("--text", &b.text_color),
        ] {
            if let Some(v) = value.as_deref().filter(|v| theme::parse_color(v).is_some()) {
                css.push_str(&format!("{var}: {v}; "));
            }
        }
        // A brand colour behind the buttons' text: white or black, whichever reads better.
        if let Some(rgb) = b.primary_color.as_deref().and_then(theme::parse_color) {
            css.push_str(&format!("--primary-text: {};", theme::readable_on(rgb)));
        }
        let css = css.trim_end().to_owned();
        chrome.brand_css = (!css.is_empty()).then_some(css);
        chrome.logo_url = b.logo_url.clone();
        chrome
    }
}

/// One option of a choice field.
#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    /// Value.
    pub value: String,
    /// Label in the page's locale.
    pub label: String,
    /// Currently chosen.
    pub selected: bool,
}

/// One field as the template draws it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    /// Name.
    pub name: String,
    /// Field type (kebab-case).
    pub kind: &'static str,
    /// `type` attribute of an `<input>`.
    pub input_type: &'static str,
    /// Label.
    pub label: String,
    /// Help line.
    pub help: Option<String>,
    /// Placeholder.
    pub placeholder: Option<String>,
    /// Required.
    pub required: bool,
    /// Current text value.
    pub value: String,
    /// Checkbox state.
    pub checked: bool,
    /// Options with selection.
    pub options: Vec<OptionView>,
    /// Message of the problem, if any.
    pub error: Option<String>,
    /// Autocomplete hint.
    pub autocomplete: Option<String>,
    /// Length limits.
    pub max_length: u32,
    /// Minimum length.
    pub min_length: Option<u32>,
    /// Number/date limits as text.
    pub min: Option<String>,
    /// Number/date limits as text.
    pub max: Option<String>,
    /// Number step.
    pub step: Option<f64>,
}

/// The form page.
#[derive(Debug, Clone, Serialize)]
pub struct FormPage {
    /// Common parts.
    #[serde(flatten)]
    pub chrome: Chrome,
    /// Heading.
    pub title: String,
    /// Intro paragraph.
    pub intro: Option<String>,
    /// Where the form posts.
    pub action: String,
    /// CSRF token.
    pub csrf: String,
    /// Fields.
    pub fields: Vec<FieldView>,
    /// Any field has an error.
    pub has_errors: bool,
    /// Submit caption.
    pub submit: String,
    /// Skip caption, when allowed.
    pub skip: Option<String>,
    /// Decline caption, when allowed.
    pub decline: Option<String>,
    /// The consent controller's name, when the campaign records consent.
    pub consent_controller: Option<String>,
    /// The ToS document, when the campaign records acceptance.
    pub tos_url: Option<String>,
    /// Its link text.
    pub tos_link: Option<String>,
}

/// The page that returns the user to the IdP.
#[derive(Debug, Clone, Serialize)]
pub struct ContinuePage {
    /// Common parts.
    #[serde(flatten)]
    pub chrome: Chrome,
    /// Heading.
    pub heading: String,
    /// Text under it.
    pub message: Option<String>,
    /// The IdP's /continue.
    pub continue_url: String,
    /// The IdP's state.
    pub state: String,
    /// The signed return token.
    pub token: String,
    /// Button caption.
    pub button: String,
    /// Submit by script at once.
    pub auto_submit: bool,
    /// A coupon to reveal before continuing.
    pub coupon: Option<CouponView>,
    /// Say that the coupons ran out.
    pub coupon_exhausted: bool,
}

/// A coupon on the reveal page.
#[derive(Debug, Clone, Serialize)]
pub struct CouponView {
    /// The code.
    pub code: String,
    /// "Valid until …", when it expires.
    pub valid_until: Option<String>,
}

/// A way back to the IdP offered on a message page.
#[derive(Debug, Clone, Serialize)]
pub struct BackForm {
    /// The IdP's /continue.
    pub continue_url: String,
    /// The IdP's state.
    pub state: String,
    /// A return token.
    pub token: String,
}

/// An error or notice page.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    /// Common parts.
    #[serde(flatten)]
    pub chrome: Chrome,
    /// Heading.
    pub heading: String,
    /// Explanation.
    pub message: String,
    /// A button back to the application.
    pub back: Option<BackForm>,
}

/// The campaign's words in `locale`, falling back to its default locale per item.
pub struct Words<'c> {
    primary: Option<&'c Text>,
    fallback: Option<&'c Text>,
    locale: String,
}

impl<'c> Words<'c> {
    /// The words of `campaign` in `locale`.
    pub fn new(campaign: &'c Campaign, locale: &str) -> Self {
        Self {
            primary: campaign.presentation.text.get(locale),
            fallback: campaign
                .presentation
                .text
                .get(&campaign.presentation.locale),
            locale: locale.to_owned(),
        }
    }

    fn pick<T>(&self, get: impl Fn(&'c Text) -> Option<T>) -> Option<T> {
        self.primary
            .and_then(&get)
            .or_else(|| self.fallback.and_then(&get))
    }

    /// Heading.
    pub fn title(&self) -> String {
        self.pick(|t| t.title.clone()).unwrap_or_default()
    }

    /// Intro.
    pub fn intro(&self) -> Option<String> {
        self.pick(|t| t.intro.clone())
    }

    /// A button caption, else the built-in word.
    pub fn button(&self, which: &str) -> String {
        self.pick(|t| match which {
            "submit" => t.submit.clone(),
            "skip" => t.skip.clone(),
            "decline" => t.decline.clone(),
            _ => None,
        })
        .unwrap_or_else(|| strings::word(&self.locale, which).to_owned())
    }

    /// Thank-you line.
    pub fn thanks(&self) -> Option<String> {
        self.pick(|t| t.thanks.clone())
    }

    /// A field's label (its name when it has none) and help line.
    pub fn field_words(&self, name: &str) -> (String, Option<String>) {
        (
            self.field(name, |t| t.label.clone())
                .unwrap_or_else(|| name.to_owned()),
            self.field(name, |t| t.help.clone()),
        )
    }

    /// A field's label / help / placeholder.
    fn field(
        &self,
        name: &str,
        part: fn(&crate::campaign::FieldText) -> Option<String>,
    ) -> Option<String> {
        self.pick(|t| t.fields.get(name).and_then(part))
    }

    /// An option's label.
    fn option(&self, field: &str, value: &str) -> Option<String> {
        self.pick(|t| {
            t.fields
                .get(field)
                .and_then(|f| f.options.get(value).cloned())
        })
    }

    /// The message of a field's problem: the field's override, the campaign's, else the
    /// built-in words.
    pub fn problem(&self, field: &str, p: &FieldProblem) -> String {
        let key = p.problem.key();
        let text = self
            .pick(|t| t.fields.get(field).and_then(|f| f.errors.get(key).cloned()))
            .or_else(|| self.pick(|t| t.errors.get(key).cloned()))
            .unwrap_or_else(|| strings::word(&self.locale, &format!("err_{key}")).to_owned());
        match &p.limit {
            Some(limit) => text.replace("{limit}", limit),
            None => text,
        }
    }
}

fn input_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Email => "email",
        FieldType::Tel => "tel",
        FieldType::Url => "url",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Checkbox => "checkbox",
        _ => "text",
    }
}

fn bound_text(b: Option<Bound>) -> Option<String> {
    b.map(|b| match b {
        Bound::Number(n) => n.to_string(),
        Bound::Date(d) => d.to_string(),
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The values a field shows: what the user posted, else its default.
fn current_values(
    field: &Field,
    posted: Option<&BTreeMap<String, Vec<String>>>,
    claims: &Value,
) -> Vec<String> {
    if let Some(posted) = posted {
        return posted.get(&field.name).cloned().unwrap_or_default();
    }
    match default_value(field, claims) {
        Some(Value::Array(items)) => items.iter().map(value_text).collect(),
        // Consent is never pre-ticked: checkboxes of consent purposes start empty
        // (the loader refuses defaults on them).
        Some(v) => vec![value_text(&v)],
        None => Vec::new(),
    }
}

/// The form page of `campaign` in `locale`.
#[allow(clippy::too_many_arguments)]
pub fn form_page(
    campaign: &Campaign,
    locale: &str,
    nonce: &str,
    action: String,
    csrf: String,
    claims: &Value,
    posted: Option<&BTreeMap<String, Vec<String>>>,
    problems: &BTreeMap<String, FieldProblem>,
) -> FormPage {
    let words = Words::new(campaign, locale);
    let fields = campaign
        .fields
        .iter()
        .filter(|f| f.kind != FieldType::Hidden)
        .map(|f| {
            let values = current_values(f, posted, claims);
            let first = values.first().cloned().unwrap_or_default();
            let options = f
                .options
                .iter()
                .map(|o| OptionView {
                    value: o.value.clone(),
                    label: words
                        .option(&f.name, &o.value)
                        .unwrap_or_else(|| o.label.clone()),
                    selected: values.contains(&o.value),
                })
                .collect();
            FieldView {
                name: f.name.clone(),
                kind: kind_name(f.kind),
                input_type: input_type(f.kind),
                label: words
                    .field(&f.name, |t| t.label.clone())
                    .unwrap_or_else(|| f.name.clone()),
                help: words.field(&f.name, |t| t.help.clone()),
                placeholder: words.field(&f.name, |t| t.placeholder.clone()),
                required: f.required,
                checked: f.kind == FieldType::Checkbox
                    && matches!(first.as_str(), "on" | "true" | "1" | "yes"),
                value: if f.kind == FieldType::Checkbox {
                    String::new()
                } else {
                    first
                },
                options,
                error: problems.get(&f.name).map(|p| words.problem(&f.name, p)),
                autocomplete: f.autocomplete.clone(),
                max_length: f.max_length,
                min_length: f.min_length,
                min: bound_text(f.min),
                max: bound_text(f.max),
                step: f.step,
            }
        })
        .collect::<Vec<_>>();
    let title = words.title();
    FormPage {
        chrome: Chrome::for_campaign(campaign, locale, nonce, &title),
        has_errors: fields.iter().any(|f| f.error.is_some()),
        title,
        intro: words.intro(),
        action,
        csrf,
        fields,
        submit: words.button("submit"),
        skip: campaign.outcome.allow_skip.then(|| words.button("skip")),
        decline: campaign
            .outcome
            .allow_decline
            .then(|| words.button("decline")),
        consent_controller: campaign
            .outcome
            .consent
            .as_ref()
            .map(|c| c.controller.clone()),
        tos_url: campaign.outcome.tos.as_ref().map(|t| t.url.clone()),
        tos_link: campaign
            .outcome
            .tos
            .as_ref()
            .map(|_| strings::word(locale, "tos_link").to_owned()),
    }
}
