//! Loading a campaigns folder: parse every file, check each campaign and the set as a whole,
//! and report every problem as `file:line:column: message`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::condition::{ConditionSpec, HistorySpec, Op};
use super::model::{
    BrandingSpec, CampaignSpec, CouponSpec, FieldSpec, FieldType, OutcomeSpec, PresentationSpec,
    ScheduleSpec, TextSpec,
};
use super::span::{Located, Pos, take_position};
use super::{
    Bound, Branding, CampaignSet, Choice, Consent, Coupon, CouponSource, Field, FieldText, Outcome,
    Presentation, Profile, Purpose, Text, Tos,
};
use crate::campaign::Campaign;
use crate::rules::duration::parse_duration;
use crate::rules::{ClaimPath, ClaimTest, HistoryRule, Rule, Schedule};
use crate::suggest::did_you_mean;

/// Campaign files larger than this are refused unread.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Default `max_length` of text-like fields.
pub const DEFAULT_MAX_LENGTH: u32 = 500;
/// Default `max_length` of textarea fields.
pub const DEFAULT_TEXTAREA_MAX_LENGTH: u32 = 10_000;
/// Validation message kinds a campaign may override.
pub const ERROR_KINDS: [&str; 8] = [
    "required",
    "too_short",
    "too_long",
    "pattern",
    "too_small",
    "too_large",
    "invalid",
    "not_an_option",
];

/// One thing wrong with a campaign file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Where in it (0:0 when the problem is about the whole file).
    pub pos: Pos,
    /// What is wrong, in words a marketer understands.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.column,
            self.message
        )
    }
}

/// Every problem found in a folder, in file and position order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Where to look for things campaigns refer to.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The themes folder; when given, `presentation.theme` must name a folder in it.
    pub themes_dir: Option<PathBuf>,
    /// Allow `http://` links (logo, ToS, webhooks) everywhere, not only to localhost.
    pub allow_http: bool,
}

/// Loads and checks every `*.yaml` / `*.yml` file in `dir` (not recursing).
pub fn load_dir(dir: &Path, options: &LoadOptions) -> Result<CampaignSet, Problems> {
    let whole = |message: String| Problems(vec![problem(dir, Pos::default(), message)]);
    let entries = std::fs::read_dir(dir)
        .map_err(|e| whole(format!("cannot read the campaigns folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();

    let themes = options.themes_dir.as_deref().map(list_themes);
    let mut loader = Loader {
        problems: Vec::new(),
        dir: dir.to_path_buf(),
        themes,
        allow_http: options.allow_http,
    };
    let mut parsed: Vec<(PathBuf, CampaignSpec)> = Vec::new();
    for file in files {
        if let Some(spec) = loader.parse_file(&file) {
            parsed.push((file, spec));
        }
    }

    // Whole-set checks need every id first.
    let mut first_seen: HashMap<String, PathBuf> = HashMap::new();
    for (file, spec) in &parsed {
        if let Some(other) = first_seen.get(&spec.id.value) {
            loader.report(
                file,
                spec.id.pos,
                format!(
                    "`id`: `{}` is already the id of {}; ids must be unique",
                    spec.id.value,
                    other.display()
                ),
            );
        } else {
            first_seen.insert(spec.id.value.clone(), file.clone());
        }
    }
    let ids: Vec<String> = first_seen.keys().cloned().collect();

    let mut campaigns = Vec::new();
    for (file, spec) in parsed {
        if let Some(c) = loader.build(&file, spec, &ids) {
            campaigns.push(c);
        }
    }
    if loader.problems.is_empty() {
        Ok(CampaignSet::new(campaigns))
    } else {
        loader.problems.sort();
        Err(Problems(loader.problems))
    }
}

/// Parses one campaign from text (for tests and previews); `file` names it in problems.
pub fn parse_str(file: &Path, text: &str) -> Result<CampaignSpec, Problem> {
    let opts = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<CampaignSpec>(text, opts).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or_default();
        let raw = e.without_snippet().to_string();
        let (message, marked) = take_position(&strip_location_suffix(&raw));
        problem(file, marked.unwrap_or(pos), friendly(&message))
    })
}

fn problem(file: &Path, pos: Pos, message: String) -> Problem {
    Problem {
        file: file.to_path_buf(),
        pos,
        message,
    }
}

fn list_themes(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// serde-saphyr appends " at line L, column C" to messages; the position is reported apart.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

/// Rewrites serde's wording into a marketer's, with a suggestion where one is close.
fn friendly(message: &str) -> String {
    let quoted = |rest: &str| -> Option<(String, Vec<String>)> {
        let start = rest.find('`')? + 1;
        let end = start + rest[start..].find('`')?;
        let name = rest[start..end].to_owned();
        let expected = rest[end..]
            .split_once("expected one of ")
            .map(|(_, list)| {
                list.split(", ")
                    .map(|s| s.trim_matches('`').to_owned())
                    .collect()
            })
            .unwrap_or_default();
        Some((name, expected))
    };
    if let Some(rest) = message.strip_prefix("unknown field ")
        && let Some((name, expected)) = quoted(rest)
    {
        let candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
        return format!(
            "unknown key `{name}`{} (allowed here: {})",
            did_you_mean(&name, &candidates),
            expected.join(", ")
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ")
        && let Some((name, expected)) = quoted(rest)
    {
        let candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
        return format!(
            "unknown value `{name}`{} (allowed: {})",
            did_you_mean(&name, &candidates),
            expected.join(", ")
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing required key {rest}");
    }
    if message.starts_with("invalid u32") || message.starts_with("invalid i32") {
        return "expected a whole number".to_owned();
    }
    if message.starts_with("expected string scalar") {
        return "expected a single text value here, not a list or map".to_owned();
    }
    if message.starts_with("invalid f64") {
        return "expected a number".to_owned();
    }
    if message.starts_with("invalid boolean") || message.contains("expected a boolean") {
        return "expected `true` or `false`".to_owned();
    }
    message.to_owned()
}

struct Loader {
    problems: Vec<Problem>,
    dir: PathBuf,
    themes: Option<Vec<String>>,
    allow_http: bool,
}

/// Checks of one file collect problems here; `build` gives a campaign only when none arose.
struct FileCheck<'a> {
    file: &'a Path,
    problems: Vec<Problem>,
}

impl FileCheck<'_> {
    fn report(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(problem(self.file, pos, message.into()));
    }
}

fn slug_ok(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    s.len() <= max
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
}

fn field_name_ok(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn locale_ok(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()));
    lang_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn color_ok(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Parses `2026-03-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_moment(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    parse_date(text).map(|d| d.midnight().assume_utc())
}

fn parse_date(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

impl Loader {
    fn report(&mut self, file: &Path, pos: Pos, message: String) {
        self.problems.push(problem(file, pos, message));
    }

    fn parse_file(&mut self, file: &Path) -> Option<CampaignSpec> {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            self.report(
                file,
                Pos::default(),
                format!("the file is {size} bytes; campaign files may be at most {MAX_FILE_BYTES}"),
            );
            return None;
        }
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                self.report(file, Pos::default(), format!("cannot read the file: {e}"));
                return None;
            }
        };
        match parse_str(file, &text) {
            Ok(spec) => Some(spec),
            Err(p) => {
                self.problems.push(p);
                None
            }
        }
    }

    fn http_allowed(&self, url: &str) -> bool {
        if let Some(rest) = url.strip_prefix("https://") {
            return !rest.is_empty();
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            return !rest.is_empty()
                && (self.allow_http || matches!(host, "localhost" | "127.0.0.1" | "[::1]"));
        }
        false
    }

    fn check_url(&self, check: &mut FileCheck<'_>, key: &str, url: &Located<String>) {
        if !self.http_allowed(url) {
            check.report(
                url.pos,
                format!("`{key}`: `{}` must be an https:// address", url.value),
            );
        }
    }

    fn build(&mut self, file: &Path, spec: CampaignSpec, ids: &[String]) -> Option<Campaign> {
        let mut check = FileCheck {
            file,
            problems: Vec::new(),
        };
        let id = spec.id.value.clone();
        if !slug_ok(&id, 64) {
            check.report(
                spec.id.pos,
                format!(
                    "`id`: `{id}` must be lower-case letters, digits and dashes (at most 64), e.g. `ask-job-title`"
                ),
            );
        }
        if spec.version.value == 0 {
            check.report(spec.version.pos, "`version` must be 1 or more");
        }
        let schedule = check_schedule(&mut check, spec.schedule.as_ref());
        let fields = self.check_fields(&mut check, &spec.fields);
        let names: Vec<&str> = spec.fields.iter().map(|f| f.name.value.as_str()).collect();
        let trigger = spec
            .trigger
            .as_ref()
            .and_then(|t| compile(&mut check, t, &id, spec.version.value, ids));
        let presentation =
            self.check_presentation(&mut check, &spec.presentation, &spec.fields, &spec.outcome);
        let outcome = self.check_outcome(&mut check, &spec.outcome, &spec.fields, &names);

        let form = match crate::form::FormValidator::new(&fields) {
            Ok(form) => Some(form),
            Err(e) => {
                check.report(
                    Pos::default(),
                    format!("the form's answer schema does not compile: {e}"),
                );
                None
            }
        };
        let ok = check.problems.is_empty();
        self.problems.append(&mut check.problems);
        if !ok {
            return None;
        }
        Some(Campaign {
            form: form?,
            id,
            title: spec.title,
            description: spec.description,
            version: spec.version.value,
            priority: spec.priority,
            enabled: spec.enabled,
            schedule,
            trigger,
            fields,
            presentation: presentation?,
            outcome: outcome?,
            source: file.to_path_buf(),
        })
    }

    fn check_fields(&self, check: &mut FileCheck<'_>, specs: &[FieldSpec]) -> Vec<Field> {
        let mut seen = HashSet::new();
        let mut fields = Vec::new();
        for spec in specs {
            let name = &spec.name;
            let key = format!("fields.{}", name.value);
            if !field_name_ok(name) {
                check.report(
                    name.pos,
                    format!(
                        "field name `{}` must start with a lower-case letter and hold only lower-case letters, digits and `_`, e.g. `job_title`",
                        name.value
                    ),
                );
            }
            if !seen.insert(name.value.clone()) {
                check.report(name.pos, format!("field `{}` is defined twice", name.value));
            }
            if let Some(field) = check_field(check, spec, &key) {
                fields.push(field);
            }
        }
        fields
    }

    fn check_presentation(
        &self,
        check: &mut FileCheck<'_>,
        spec: &PresentationSpec,
        fields: &[FieldSpec],
        outcome: &OutcomeSpec,
    ) -> Option<Presentation> {
        if let Some(themes) = &self.themes
            && !themes.contains(&spec.theme.value)
        {
            let known: Vec<&str> = themes.iter().map(String::as_str).collect();
            check.report(
                spec.theme.pos,
                format!(
                    "`presentation.theme`: unknown theme `{}`{}; themes are: {}",
                    spec.theme.value,
                    did_you_mean(&spec.theme, &known),
                    known.join(", ")
                ),
            );
        }
        let default_locale = &spec.locale;
        if !locale_ok(default_locale) {
            check.report(
                default_locale.pos,
                format!(
                    "`presentation.locale`: `{}` is not a locale tag such as `en` or `pt-BR`",
                    default_locale.value
                ),
            );
        }
        let branding = self.check_branding(check, &spec.branding);
        for (locale, text) in spec.text.iter() {
            if !locale_ok(locale) {
                check.report(
                    text.pos,
                    format!(
                        "`presentation.text.{locale}`: `{locale}` is not a locale tag such as `en` or `pt-BR`"
                    ),
                );
            }
            check_text_keys(check, locale, text, fields);
        }
        match spec.text.get(&default_locale.value) {
            None => {
                let have: Vec<&str> = spec.text.keys().map(String::as_str).collect();
                check.report(
                    spec.text.pos,
                    format!(
                        "`presentation.text` has no strings for the default locale `{}` (has: {}); add them or set `presentation.locale`",
                        default_locale.value,
                        if have.is_empty() { "none".to_owned() } else { have.join(", ") }
                    ),
                );
            }
            Some(text) => {
                check_default_text_complete(check, &default_locale.value, text, fields, outcome)
            }
        }
        let text = spec
            .text
            .iter()
            .map(|(locale, t)| (locale.clone(), convert_text(t)))
            .collect();
        Some(Presentation {
            theme: spec.theme.value.clone(),
            locale: default_locale.value.clone(),
            branding: branding?,
            text,
        })
    }

    fn check_branding(&self, check: &mut FileCheck<'_>, spec: &BrandingSpec) -> Option<Branding> {
        if let Some(url) = &spec.logo_url {
            self.check_url(check, "presentation.branding.logo_url", url);
        }
        for (key, value) in [
            ("primary_color", &spec.primary_color),
            ("background_color", &spec.background_color),
            ("text_color", &spec.text_color),
        ] {
            if let Some(c) = value
                && !color_ok(c)
            {
                check.report(
                    c.pos,
                    format!(
                        "`presentation.branding.{key}`: `{}` is not a colour; write `#rrggbb`, e.g. `#1a73e8`",
                        c.value
                    ),
                );
            }
        }
        let get = |v: &Option<Located<String>>| v.as_ref().map(|l| l.value.clone());
        Some(Branding {
            logo_url: get(&spec.logo_url),
            primary_color: get(&spec.primary_color),
            background_color: get(&spec.background_color),
            text_color: get(&spec.text_color),
        })
    }

    fn check_outcome(
        &self,
        check: &mut FileCheck<'_>,
        spec: &OutcomeSpec,
        fields: &[FieldSpec],
        names: &[&str],
    ) -> Option<Outcome> {
        let field_kind = |name: &str| {
            fields
                .iter()
                .find(|f| f.name.value == name)
                .map(|f| f.kind.value)
        };
        let refer = |check: &mut FileCheck<'_>, key: &str, name: &Located<String>| {
            if field_kind(name).is_none() {
                check.report(
                    name.pos,
                    format!(
                        "`{key}`: there is no field `{}`{}",
                        name.value,
                        did_you_mean(name, names)
                    ),
                );
                return false;
            }
            true
        };
        for claim in &spec.claims {
            refer(check, "outcome.claims", claim);
        }
        let profile = spec.profile.as_ref().map(|p| {
            for f in &p.fields {
                refer(check, "outcome.profile.fields", f);
            }
            Profile {
                target: p.target,
                fields: p.fields.iter().map(|f| f.value.clone()).collect(),
            }
        });
        let consent = spec.consent.as_ref().map(|c| {
            let mut purposes_seen = HashSet::new();
            if c.purposes.is_empty() {
                check.report(c.pos, "`outcome.consent.purposes` needs at least one purpose");
            }
            for p in &c.purposes {
                if !field_name_ok(&p.purpose) {
                    check.report(
                        p.purpose.pos,
                        format!(
                            "`outcome.consent.purposes`: purpose `{}` must be lower-case letters, digits and `_`, e.g. `marketing_email`",
                            p.purpose.value
                        ),
                    );
                }
                if !purposes_seen.insert(p.purpose.value.clone()) {
                    check.report(
                        p.purpose.pos,
                        format!("`outcome.consent.purposes`: purpose `{}` is listed twice", p.purpose.value),
                    );
                }
                if refer(check, "outcome.consent.purposes.field", &p.field)
                    && field_kind(&p.field) != Some(FieldType::Checkbox)
                {
                    check.report(
                        p.field.pos,
                        format!(
                            "`outcome.consent.purposes.field`: `{}` must be a checkbox field, one per purpose",
                            p.field.value
                        ),
                    );
                }
            }
            Consent {
                manage: c.manage,
                controller: c.controller.clone(),
                purposes: c
                    .purposes
                    .iter()
                    .map(|p| Purpose {
                        purpose: p.purpose.value.clone(),
                        field: p.field.value.clone(),
                        text_version: p.text_version.clone(),
                    })
                    .collect(),
            }
        });
        if let Some(consent) = &spec.consent {
            // GDPR Recital 32: consent is never pre-ticked.
            for p in &consent.purposes {
                if let Some(f) = fields.iter().find(|f| f.name.value == p.field.value)
                    && (f.default.as_ref().is_some_and(|d| d != &Value::Bool(false))
                        || f.default_from.is_some())
                {
                    check.report(
                        f.name.pos,
                        format!(
                            "field `{}` grants consent and must not be pre-ticked: remove `default` / `default_from`",
                            f.name.value
                        ),
                    );
                }
            }
        }
        let tos = spec.tos.as_ref().map(|t| {
            self.check_url(check, "outcome.tos.url", &t.url);
            if refer(check, "outcome.tos.field", &t.field)
                && field_kind(&t.field) != Some(FieldType::Checkbox)
            {
                check.report(
                    t.field.pos,
                    format!(
                        "`outcome.tos.field`: `{}` must be a checkbox field",
                        t.field.value
                    ),
                );
            }
            if t.version.trim().is_empty() {
                check.report(t.url.pos, "`outcome.tos.version` must not be empty");
            }
            Tos {
                document: t.document.clone(),
                version: t.version.clone(),
                url: t.url.value.clone(),
                field: t.field.value.clone(),
            }
        });
        let coupon = spec
            .coupon
            .as_ref()
            .and_then(|c| self.check_coupon(check, c, c.pos));
        for url in &spec.webhooks {
            self.check_url(check, "outcome.webhooks", url);
        }
        Some(Outcome {
            allow_skip: spec.allow_skip,
            allow_decline: spec.allow_decline,
            claims: spec.claims.iter().map(|c| c.value.clone()).collect(),
            profile,
            consent,
            tos,
            coupon,
            webhooks: spec.webhooks.iter().map(|w| w.value.clone()).collect(),
        })
    }

    fn check_coupon(
        &self,
        check: &mut FileCheck<'_>,
        spec: &CouponSpec,
        at: Pos,
    ) -> Option<Coupon> {
        let source = match (&spec.pool, &spec.pattern) {
            (Some(pool), None) => {
                let path = self.dir.join(&pool.value);
                if !path.is_file() {
                    check.report(
                        pool.pos,
                        format!(
                            "`outcome.coupon.pool`: the file `{}` does not exist (paths are relative to the campaigns folder)",
                            pool.value
                        ),
                    );
                }
                CouponSource::Pool(path)
            }
            (None, Some(pattern)) => {
                if let Err(message) = check_coupon_pattern(pattern) {
                    check.report(pattern.pos, format!("`outcome.coupon.pattern`: {message}"));
                }
                CouponSource::Pattern(pattern.value.clone())
            }
            (Some(pool), Some(_)) => {
                check.report(
                    pool.pos,
                    "`outcome.coupon` takes either `pool` or `pattern`, not both",
                );
                return None;
            }
            (None, None) => {
                check.report(
                    at,
                    "`outcome.coupon` needs a `pool` (a CSV file of codes) or a `pattern` such as `WELCOME-{XXXX}`",
                );
                return None;
            }
        };
        let expires_after = spec.expires_after.as_ref().and_then(|e| {
            parse_duration(e)
                .map_err(|err| {
                    check.report(e.pos, format!("`outcome.coupon.expires_after`: {err}"))
                })
                .ok()
        });
        Some(Coupon {
            source,
            cap: spec.cap,
            expires_after,
            on_exhausted: spec.on_exhausted,
        })
    }
}

/// A coupon pattern has at least one `{X…}` placeholder (4 to 16 X) and nothing else in braces.
pub fn check_coupon_pattern(pattern: &str) -> Result<(), String> {
    let mut placeholders = 0;
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{pattern}` has a `{{` without its `}}`"))?;
        let inner = &rest[open + 1..open + close];
        if !(4..=16).contains(&inner.len()) || !inner.chars().all(|c| c == 'X') {
            return Err(format!(
                "`{{{inner}}}` in `{pattern}` is not a placeholder; write 4 to 16 X in braces, e.g. `{{XXXX}}`"
            ));
        }
        placeholders += 1;
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("`{pattern}` has a `}}` without its `{{`"));
    }
    if placeholders == 0 {
        return Err(format!(
            "`{pattern}` has no placeholder; add one such as `{{XXXX}}` so codes differ"
        ));
    }
    Ok(())
}

fn check_schedule(check: &mut FileCheck<'_>, spec: Option<&ScheduleSpec>) -> Schedule {
    let Some(spec) = spec else {
        return Schedule::default();
    };
    let mut read = |key: &str, v: &Option<Located<String>>| {
        v.as_ref().and_then(|text| {
            let parsed = parse_moment(text);
            if parsed.is_none() {
                check.report(
                    text.pos,
                    format!(
                        "`schedule.{key}`: `{}` is not a date (`2026-03-01`) or a time (`2026-03-01T09:00:00+01:00`)",
                        text.value
                    ),
                );
            }
            parsed
        })
    };
    let from = read("from", &spec.from);
    let until = read("until", &spec.until);
    if let (Some(f), Some(u), Some(pos)) = (from, until, spec.until.as_ref().map(|u| u.pos))
        && f >= u
    {
        check.report(pos, "`schedule.until` must be later than `schedule.from`");
    }
    Schedule { from, until }
}

fn is_text_like(kind: FieldType) -> bool {
    matches!(
        kind,
        FieldType::Text
            | FieldType::Email
            | FieldType::Tel
            | FieldType::Url
            | FieldType::Textarea
            | FieldType::Hidden
    )
}

fn has_options(kind: FieldType) -> bool {
    matches!(
        kind,
        FieldType::Select | FieldType::Radio | FieldType::MultiSelect
    )
}

fn check_field(check: &mut FileCheck<'_>, spec: &FieldSpec, key: &str) -> Option<Field> {
    let kind = spec.kind.value;
    let before = check.problems.len();
    let text_like = is_text_like(kind);
    if !text_like {
        for (present, what) in [
            (spec.min_length.is_some(), "min_length"),
            (spec.max_length.is_some(), "max_length"),
            (spec.pattern.is_some(), "pattern"),
        ] {
            if present {
                check.report(
                    spec.kind.pos,
                    format!(
                        "`{key}.{what}` only applies to text-like fields, not `{}`",
                        kind_name(kind)
                    ),
                );
            }
        }
    }
    if let (Some(min), Some(max)) = (spec.min_length, spec.max_length)
        && min > max
    {
        check.report(
            spec.name.pos,
            format!("`{key}`: `min_length` ({min}) is larger than `max_length` ({max})"),
        );
    }
    let pattern =
        spec.pattern
            .as_ref()
            .and_then(|p| match Regex::new(&format!("^(?:{})$", p.value)) {
                Ok(re) => Some(re),
                Err(e) => {
                    check.report(
                        p.pos,
                        format!(
                            "`{key}.pattern`: not a valid regular expression: {}",
                            first_line(&e.to_string())
                        ),
                    );
                    None
                }
            });
    let bound = |check: &mut FileCheck<'_>, which: &str, v: &Option<Located<Value>>| {
        let v = v.as_ref()?;
        match kind {
            FieldType::Number => match v.as_f64() {
                Some(n) => Some(Bound::Number(n)),
                None => {
                    check.report(v.pos, format!("`{key}.{which}` must be a number"));
                    None
                }
            },
            FieldType::Date => match v.as_str().and_then(parse_date) {
                Some(d) => Some(Bound::Date(d)),
                None => {
                    check.report(
                        v.pos,
                        format!("`{key}.{which}` must be a date such as `2000-01-31`"),
                    );
                    None
                }
            },
            _ => {
                check.report(
                    v.pos,
                    format!("`{key}.{which}` only applies to number and date fields"),
                );
                None
            }
        }
    };
    let min = bound(check, "min", &spec.min);
    let max = bound(check, "max", &spec.max);
    let out_of_order = match (min, max) {
        (Some(Bound::Number(a)), Some(Bound::Number(b))) => a > b,
        (Some(Bound::Date(a)), Some(Bound::Date(b))) => a > b,
        _ => false,
    };
    if out_of_order {
        check.report(
            spec.name.pos,
            format!("`{key}`: `min` is larger than `max`"),
        );
    }
    if let Some(step) = spec.step
        && (kind != FieldType::Number || step <= 0.0 || !step.is_finite())
    {
        check.report(
            spec.name.pos,
            format!("`{key}.step` must be a positive number and only applies to number fields"),
        );
    }
    let mut options = Vec::new();
    match (&spec.options, has_options(kind)) {
        (None, true) => check.report(
            spec.kind.pos,
            format!("`{key}` is a {} field and needs `options`", kind_name(kind)),
        ),
        (Some(list), true) if list.is_empty() => {
            check.report(
                list.pos,
                format!("`{key}.options` needs at least one option"),
            );
        }
        (Some(list), true) => {
            let mut seen = HashSet::new();
            for o in list.iter() {
                if o.value.trim().is_empty() || o.value.len() > 200 {
                    check.report(
                        o.value.pos,
                        format!("`{key}.options`: option values must be 1 to 200 characters"),
                    );
                }
                if !seen.insert(o.value.value.clone()) {
                    check.report(
                        o.value.pos,
                        format!(
                            "`{key}.options`: the value `{}` is listed twice",
                            o.value.value
                        ),
                    );
                }
                options.push(Choice {
                    value: o.value.value.clone(),
                    label: o.label.clone().unwrap_or_else(|| o.value.value.clone()),
                });
            }
        }
        (Some(list), false) => check.report(
            list.pos,
            format!("`{key}.options` only applies to select, radio and multi-select fields"),
        ),
        (None, false) => {}
    }
    let default_from = spec.default_from.as_ref().and_then(|p| {
        ClaimPath::parse(p)
            .map_err(|e| check.report(p.pos, format!("`{key}.default_from`: {e}")))
            .ok()
    });
    if kind == FieldType::Hidden && spec.default.is_none() && default_from.is_none() {
        check.report(
            spec.kind.pos,
            format!(
                "`{key}` is hidden and needs `default` or `default_from`, or it is always empty"
            ),
        );
    }
    if let Some(Value::String(d)) = &spec.default
        && has_options(kind)
        && !options.iter().any(|o| &o.value == d)
    {
        check.report(
            spec.name.pos,
            format!("`{key}.default`: `{d}` is not one of the options"),
        );
    }
    if check.problems.len() > before {
        return None;
    }
    let max_length = spec.max_length.unwrap_or(if kind == FieldType::Textarea {
        DEFAULT_TEXTAREA_MAX_LENGTH
    } else {
        DEFAULT_MAX_LENGTH
    });
    Some(Field {
        name: spec.name.value.clone(),
        kind,
        required: spec.required,
        min_length: spec.min_length,
        max_length,
        pattern_source: spec.pattern.as_ref().map(|p| p.value.clone()),
        pattern,
        min,
        max,
        step: spec.step,
        options,
        default_from,
        default: spec.default.clone(),
        autocomplete: spec.autocomplete.clone(),
    })
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// The kebab-case name of a field type, as written in YAML.
pub fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::Email => "email",
        FieldType::Tel => "tel",
        FieldType::Url => "url",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Select => "select",
        FieldType::Radio => "radio",
        FieldType::Checkbox => "checkbox",
        FieldType::MultiSelect => "multi-select",
        FieldType::Textarea => "textarea",
        FieldType::Hidden => "hidden",
    }
}

fn check_text_keys(
    check: &mut FileCheck<'_>,
    locale: &str,
    text: &Located<TextSpec>,
    fields: &[FieldSpec],
) {
    let names: Vec<&str> = fields.iter().map(|f| f.name.value.as_str()).collect();
    for (name, ft) in &text.fields {
        let Some(field) = fields.iter().find(|f| &f.name.value == name) else {
            check.report(
                ft.pos,
                format!(
                    "`presentation.text.{locale}.fields`: there is no field `{name}`{}",
                    did_you_mean(name, &names)
                ),
            );
            continue;
        };
        if let Some(options) = &field.options {
            for value in ft.options.keys() {
                if !options.iter().any(|o| &o.value.value == value) {
                    check.report(
                        ft.pos,
                        format!(
                            "`presentation.text.{locale}.fields.{name}.options`: `{value}` is not an option of `{name}`"
                        ),
                    );
                }
            }
        }
    }
    let field_errors = text.fields.iter().flat_map(|(name, ft)| {
        ft.errors
            .iter()
            .map(move |e| (format!("fields.{name}.errors"), e))
    });
    let campaign_errors = text.errors.iter().map(|e| ("errors".to_owned(), e));
    for (key, (kind, message)) in campaign_errors.chain(field_errors) {
        if !ERROR_KINDS.contains(&kind.as_str()) {
            check.report(
                message.pos,
                format!(
                    "`presentation.text.{locale}.{key}`: unknown message kind `{kind}`{}; kinds are: {}",
                    did_you_mean(kind, &ERROR_KINDS),
                    ERROR_KINDS.join(", ")
                ),
            );
        }
    }
}

fn check_default_text_complete(
    check: &mut FileCheck<'_>,
    locale: &str,
    text: &Located<TextSpec>,
    fields: &[FieldSpec],
    outcome: &OutcomeSpec,
) {
    let mut missing = Vec::new();
    if text.title.is_none() {
        missing.push("title".to_owned());
    }
    if text.submit.is_none() {
        missing.push("submit".to_owned());
    }
    if outcome.allow_skip && text.skip.is_none() {
        missing.push("skip".to_owned());
    }
    if outcome.allow_decline && text.decline.is_none() {
        missing.push("decline".to_owned());
    }
    for f in fields {
        if f.kind.value == FieldType::Hidden {
            continue;
        }
        let has_label = text
            .fields
            .get(&f.name.value)
            .and_then(|t| t.label.as_ref())
            .is_some();
        if !has_label {
            missing.push(format!("fields.{}.label", f.name.value));
        }
    }
    if !missing.is_empty() {
        check.report(
            text.pos,
            format!(
                "`presentation.text.{locale}` is the default locale and lacks: {}",
                missing.join(", ")
            ),
        );
    }
}

fn convert_text(t: &Located<TextSpec>) -> Text {
    Text {
        title: t.title.clone(),
        intro: t.intro.clone(),
        submit: t.submit.clone(),
        skip: t.skip.clone(),
        decline: t.decline.clone(),
        thanks: t.thanks.clone(),
        fields: t
            .fields
            .iter()
            .map(|(name, f)| {
                (
                    name.clone(),
                    FieldText {
                        label: f.label.clone(),
                        help: f.help.clone(),
                        placeholder: f.placeholder.clone(),
                        options: f.options.clone(),
                        errors: f
                            .errors
                            .iter()
                            .map(|(k, v)| (k.clone(), v.value.clone()))
                            .collect(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        errors: t
            .errors
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
    }
}

/// Compiles a trigger; reports every problem in it and gives a rule only when there were none.
fn compile(
    check: &mut FileCheck<'_>,
    spec: &Located<ConditionSpec>,
    campaign: &str,
    version: u32,
    ids: &[String],
) -> Option<Rule> {
    let before = check.problems.len();
    let rule = compile_inner(check, spec, campaign, version, ids);
    if check.problems.len() > before {
        None
    } else {
        rule
    }
}

fn compile_inner(
    check: &mut FileCheck<'_>,
    spec: &Located<ConditionSpec>,
    campaign: &str,
    version: u32,
    ids: &[String],
) -> Option<Rule> {
    let all = |check: &mut FileCheck<'_>, items: &[Located<ConditionSpec>]| {
        items
            .iter()
            .map(|i| compile_inner(check, i, campaign, version, ids))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Option<Vec<Rule>>>()
    };
    match &spec.value {
        ConditionSpec::All(items) => all(check, items).map(Rule::All),
        ConditionSpec::Any(items) => all(check, items).map(Rule::Any),
        ConditionSpec::Not(inner) => {
            compile_inner(check, inner, campaign, version, ids).map(|r| Rule::Not(Box::new(r)))
        }
        ConditionSpec::Claim { path, op, operand } => {
            let parsed = ClaimPath::parse(path)
                .map_err(|e| check.report(path.pos, format!("`claim`: {e}")))
                .ok();
            let test = claim_test(check, *op, operand);
            Some(Rule::Claim {
                path: parsed?,
                test: test?,
            })
        }
        ConditionSpec::History(h) => {
            history_rule(check, h, spec.pos, campaign, version, ids).map(Rule::History)
        }
        ConditionSpec::Rollout(pct) => {
            if !(0.0..=100.0).contains(&pct.value) || !pct.value.is_finite() {
                check.report(
                    pct.pos,
                    format!("`rollout` is a percentage from 0 to 100, not {}", pct.value),
                );
                return None;
            }
            // Basis points: 12.5 % is 1250 of 10,000.
            let basis_points = (pct.value * 100.0).round() as u32;
            Some(Rule::Rollout {
                basis_points,
                salt: campaign.to_owned(),
            })
        }
        ConditionSpec::TosAccepted(t) => Some(Rule::TosAccepted {
            document: t.document.clone(),
            version: (t.version != "any").then(|| t.version.clone()),
        }),
    }
}

fn claim_test(check: &mut FileCheck<'_>, op: Op, operand: &Located<Value>) -> Option<ClaimTest> {
    let v = &operand.value;
    let list = |check: &mut FileCheck<'_>| match v {
        Value::Array(items) => Some(items.clone()),
        _ => {
            check.report(
                operand.pos,
                format!("`{op}` takes a list, e.g. `{op}: [free, trial]`"),
            );
            None
        }
    };
    let orderable = |check: &mut FileCheck<'_>| match v {
        Value::Number(_) | Value::String(_) => Some(v.clone()),
        _ => {
            check.report(
                operand.pos,
                format!(
                    "`{op}` compares with a number or a text (such as a date), not {}",
                    describe_json(v)
                ),
            );
            None
        }
    };
    Some(match op {
        Op::Eq => ClaimTest::Eq(v.clone()),
        Op::Ne => ClaimTest::Ne(v.clone()),
        Op::In => ClaimTest::In(list(check)?),
        Op::NotIn => ClaimTest::NotIn(list(check)?),
        Op::Gt => ClaimTest::Gt(orderable(check)?),
        Op::Gte => ClaimTest::Gte(orderable(check)?),
        Op::Lt => ClaimTest::Lt(orderable(check)?),
        Op::Lte => ClaimTest::Lte(orderable(check)?),
        Op::Exists => match v {
            Value::Bool(b) => ClaimTest::Exists(*b),
            _ => {
                check.report(operand.pos, "`exists` takes `true` or `false`");
                return None;
            }
        },
        Op::Matches => match v.as_str().map(Regex::new) {
            Some(Ok(re)) => ClaimTest::Matches(re),
            Some(Err(e)) => {
                check.report(
                    operand.pos,
                    format!(
                        "`matches`: not a valid regular expression: {}",
                        first_line(&e.to_string())
                    ),
                );
                return None;
            }
            None => {
                check.report(
                    operand.pos,
                    "`matches` takes a regular expression in quotes",
                );
                return None;
            }
        },
        Op::Contains => ClaimTest::Contains(v.clone()),
    })
}

fn describe_json(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn history_rule(
    check: &mut FileCheck<'_>,
    spec: &HistorySpec,
    at: Pos,
    campaign: &str,
    version: u32,
    ids: &[String],
) -> Option<HistoryRule> {
    let before = check.problems.len();
    let target = match &spec.campaign {
        None => campaign.to_owned(),
        Some(other) => {
            if !ids.iter().any(|id| id == &other.value) {
                let known: Vec<&str> = ids.iter().map(String::as_str).collect();
                check.report(
                    other.pos,
                    format!(
                        "`history.campaign`: there is no campaign `{}`{}",
                        other.value,
                        did_you_mean(other, &known)
                    ),
                );
            }
            other.value.clone()
        }
    };
    let version_filter = spec.version.as_ref().and_then(|v| match &v.value {
        Value::String(s) if s == "current" && spec.campaign.is_none() => Some(version),
        Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                check.report(v.pos, "`history.version` must be a version number (1 or more) or `current`");
                None
            }
        },
        Value::String(s) if s == "current" => {
            check.report(
                v.pos,
                "`history.version: current` refers to this campaign's version; with `campaign:` give a number",
            );
            None
        }
        _ => {
            check.report(v.pos, "`history.version` must be a version number (1 or more) or `current`");
            None
        }
    });
    let duration = |check: &mut FileCheck<'_>, key: &str, v: &Option<Located<String>>| {
        v.as_ref().and_then(|text| {
            parse_duration(text)
                .map_err(|e| check.report(text.pos, format!("`history.{key}`: {e}")))
                .ok()
        })
    };
    let last_shown_more_than = duration(check, "last_shown_more_than", &spec.last_shown_more_than);
    let last_dismissed_more_than = duration(
        check,
        "last_dismissed_more_than",
        &spec.last_dismissed_more_than,
    );
    if let (Some(lo), Some(hi)) = (spec.shown_at_least, spec.shown_at_most)
        && lo > hi
    {
        check.report(
            at,
            format!("`history`: `shown_at_least` ({lo}) is larger than `shown_at_most` ({hi}), so it never holds"),
        );
    }
    let empty = spec.answered.is_none()
        && spec.shown_at_least.is_none()
        && spec.shown_at_most.is_none()
        && spec.last_shown_more_than.is_none()
        && spec.last_dismissed_more_than.is_none();
    if empty {
        check.report(
            at,
            "`history` needs a test: `answered`, `shown_at_least`, `shown_at_most`, `last_shown_more_than` or `last_dismissed_more_than`",
        );
    }
    if check.problems.len() > before {
        return None;
    }
    Some(HistoryRule {
        campaign: target,
        version: version_filter,
        answered: spec.answered,
        shown_at_least: spec.shown_at_least,
        shown_at_most: spec.shown_at_most,
        last_shown_more_than,
        last_dismissed_more_than,
    })
}
