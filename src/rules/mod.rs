//! Trigger evaluation: pure functions over claims, history and the time. No I/O here.
//!
//! The handlers read the user's history from the store, hand it in as plain data, and get
//! back the chosen campaign with the reason each campaign fired or not.

pub mod duration;
pub mod index;
pub mod path;

use std::cmp::Ordering;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub use self::index::Index;
pub use self::path::ClaimPath;
use crate::campaign::Campaign;

/// A compiled trigger.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Every rule holds.
    All(Vec<Rule>),
    /// At least one rule holds.
    Any(Vec<Rule>),
    /// The rule does not hold.
    Not(Box<Rule>),
    /// A claim test.
    Claim {
        /// Where the claim is.
        path: ClaimPath,
        /// What must be true of it.
        test: ClaimTest,
    },
    /// A history test.
    History(HistoryRule),
    /// A stable share of users, in basis points (1/100 of a percent).
    Rollout {
        /// 0..=10_000.
        basis_points: u32,
        /// Mixed into the hash so different campaigns pick different users.
        salt: String,
    },
    /// The user has accepted a ToS document version (`None`: any version).
    TosAccepted {
        /// Document id.
        document: String,
        /// Version, or any.
        version: Option<String>,
    },
}

impl Rule {
    /// Whether the rule, or a rule inside it, reads the user's ToS acceptances.
    pub fn reads_tos(&self) -> bool {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules.iter().any(Rule::reads_tos),
            Rule::Not(rule) => rule.reads_tos(),
            Rule::TosAccepted { .. } => true,
            Rule::Claim { .. } | Rule::History(_) | Rule::Rollout { .. } => false,
        }
    }
}

/// What a claim must satisfy.
#[derive(Debug, Clone)]
pub enum ClaimTest {
    /// Equal.
    Eq(Value),
    /// Not equal (or missing).
    Ne(Value),
    /// One of.
    In(Vec<Value>),
    /// None of (or missing).
    NotIn(Vec<Value>),
    /// Greater than.
    Gt(Value),
    /// Greater or equal.
    Gte(Value),
    /// Less than.
    Lt(Value),
    /// Less or equal.
    Lte(Value),
    /// Present and not null (`true`), or absent/null (`false`).
    Exists(bool),
    /// A string matching the expression.
    Matches(Regex),
    /// A list holding the value, or a string holding the text.
    Contains(Value),
}

/// Tests over one campaign's prompt history; all given parts must hold.
#[derive(Debug, Clone, Default)]
pub struct HistoryRule {
    /// The campaign whose history is read.
    pub campaign: String,
    /// Only prompts of this version count.
    pub version: Option<u32>,
    /// Answered at least once (`true`) or never (`false`).
    pub answered: Option<bool>,
    /// Shown at least this often.
    pub shown_at_least: Option<u32>,
    /// Shown at most this often.
    pub shown_at_most: Option<u32>,
    /// Last shown longer ago than this (or never).
    pub last_shown_more_than: Option<Duration>,
    /// Last skipped or declined longer ago than this (or never).
    pub last_dismissed_more_than: Option<Duration>,
}

/// Whether a past prompt is of `campaign` (and of `version`, if one is given): the
/// prompts a history rule reads.
fn reads(campaign: &str, version: Option<u32>, p: &PastPrompt) -> bool {
    p.campaign == campaign && version.is_none_or(|v| p.version == v)
}

impl HistoryRule {
    /// Whether a past prompt is one this rule reads.
    fn counts(&self, p: &PastPrompt) -> bool {
        reads(&self.campaign, self.version, p)
    }

    /// How often the rule's campaign must have been shown at least for it to hold: by
    /// `shown_at_least`, and once for `answered: true`.
    fn needs_shown(&self) -> u32 {
        self.shown_at_least
            .unwrap_or(0)
            .max(u32::from(self.answered == Some(true)))
    }
}

/// When a campaign may fire; `from` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schedule {
    /// Start.
    pub from: Option<OffsetDateTime>,
    /// End.
    pub until: Option<OffsetDateTime>,
}

/// How a past prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStatus {
    /// Shown, not answered yet.
    Pending,
    /// Answered.
    Completed,
    /// Skipped.
    Skipped,
    /// Declined.
    Declined,
    /// Never came back.
    Expired,
}

impl PromptStatus {
    /// Skipped or declined.
    pub fn is_dismissal(self) -> bool {
        matches!(self, PromptStatus::Skipped | PromptStatus::Declined)
    }
}

/// One earlier prompt of this user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PastPrompt {
    /// Campaign id.
    pub campaign: String,
    /// Campaign version at the time.
    pub version: u32,
    /// How it ended.
    pub status: PromptStatus,
    /// When it was shown.
    #[serde(with = "time::serde::rfc3339")]
    pub shown_at: OffsetDateTime,
    /// When it ended, if it did.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// One accepted ToS version.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TosRecord {
    /// Document id.
    pub document: String,
    /// Version accepted.
    pub version: String,
}

/// Which parts of a user's history a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryParts {
    /// The prompts and the ToS acceptances.
    All,
    /// The prompts only (`History::tos` stays empty): for campaign sets whose rules read
    /// no ToS acceptance, which then cost no second index descent per login.
    Prompts,
}

/// Everything the rules may know about the user's past, as plain data.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// Earlier prompts, any order.
    #[serde(default)]
    pub prompts: Vec<PastPrompt>,
    /// Accepted ToS versions.
    #[serde(default)]
    pub tos: Vec<TosRecord>,
}

/// The inputs of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The verified token's claims.
    pub claims: &'a Value,
    /// The user (`sub`).
    pub subject: &'a str,
    /// The user's history.
    pub history: &'a History,
    /// Now.
    pub now: OffsetDateTime,
}

/// Whether a rule held, and the condition that decided it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The campaign fires / the rule holds.
    pub fires: bool,
    /// The deciding condition, in words.
    pub reason: String,
}

impl Verdict {
    fn new(fires: bool, reason: impl Into<String>) -> Self {
        Self {
            fires,
            reason: reason.into(),
        }
    }
}

/// The result of choosing among campaigns.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The first campaign (by priority) whose trigger holds.
    pub chosen: Option<Arc<Campaign>>,
    /// Every campaign evaluated, in order, with its verdict.
    pub verdicts: Vec<(String, Verdict)>,
}

/// Evaluates `campaigns` (already in priority order) and picks the first that fires.
/// Evaluation stops at the winner unless `explain_all` asks for every verdict.
pub fn choose<'c>(
    campaigns: impl IntoIterator<Item = &'c Arc<Campaign>>,
    ctx: &Context<'_>,
    explain_all: bool,
) -> Choice {
    let mut chosen = None;
    let mut verdicts = Vec::new();
    for campaign in campaigns {
        let verdict = evaluate_campaign(campaign, ctx);
        let fires = verdict.fires;
        verdicts.push((campaign.id.clone(), verdict));
        if fires && chosen.is_none() {
            chosen = Some(Arc::clone(campaign));
            if !explain_all {
                break;
            }
        }
    }
    Choice { chosen, verdicts }
}

/// The first of `campaigns` (already in priority order) that fires: the choice of
/// [`choose`] without the explanations. This is the request path: it decides with
/// [`holds`], which allocates nothing, so its cost per campaign is a few comparisons.
pub fn first_firing<'c>(
    campaigns: impl IntoIterator<Item = &'c Arc<Campaign>>,
    ctx: &Context<'_>,
) -> Option<Arc<Campaign>> {
    let mut seen = Lookups::default();
    campaigns
        .into_iter()
        .find(|c| fires_with(c, ctx, &mut seen))
        .map(Arc::clone)
}

/// Whether one campaign fires: the decision of [`evaluate_campaign`] without its reason.
pub fn campaign_fires(campaign: &Campaign, ctx: &Context<'_>) -> bool {
    fires_with(campaign, ctx, &mut Lookups::default())
}

fn fires_with<'r, 'v>(
    campaign: &'r Campaign,
    ctx: &Context<'v>,
    seen: &mut Lookups<'r, 'v>,
) -> bool {
    campaign.enabled
        && campaign.schedule.from.is_none_or(|from| ctx.now >= from)
        && campaign.schedule.until.is_none_or(|until| ctx.now < until)
        && campaign
            .trigger
            .as_ref()
            .is_none_or(|rule| holds_with(rule, ctx, seen))
}

/// The claims one choice has looked up: campaigns mostly test the same few claims, and a
/// lookup in the token's claims hashes each key on the way (SipHash). Bounded, so a set
/// whose campaigns all test different claims costs a short scan at most.
/// Likewise the history facts of the campaigns history rules read: many campaigns read the
/// same few (a frequency cap over another campaign), and each read scans the history.
#[derive(Default)]
struct Lookups<'r, 'v> {
    claims: Vec<(&'r ClaimPath, Option<&'v Value>)>,
    history: Vec<(&'r str, Option<u32>, HistoryFacts)>,
}

impl<'r, 'v> Lookups<'r, 'v> {
    const MAX: usize = 32;

    fn claim(&mut self, path: &'r ClaimPath, claims: &'v Value) -> Option<&'v Value> {
        if let Some((_, found)) = self.claims.iter().find(|(p, _)| p.same_claim(path)) {
            return *found;
        }
        let found = present(path, claims);
        if self.claims.len() < Self::MAX {
            self.claims.push((path, found));
        }
        found
    }

    fn history(&mut self, rule: &'r HistoryRule, ctx: &Context<'_>) -> HistoryFacts {
        let (campaign, version) = (rule.campaign.as_str(), rule.version);
        if let Some((.., facts)) = self
            .history
            .iter()
            .find(|(c, v, _)| *v == version && *c == campaign)
        {
            return *facts;
        }
        let facts = history_facts(rule, ctx);
        if self.history.len() < Self::MAX {
            self.history.push((campaign, version, facts));
        }
        facts
    }
}

/// Whether a rule holds: the decision of [`evaluate`] without its reason (no allocation).
/// Both share the tests of each condition, so they cannot disagree.
pub fn holds(rule: &Rule, ctx: &Context<'_>) -> bool {
    holds_with(rule, ctx, &mut Lookups::default())
}

/// A claim test other than a regex: a lookup and a compare. Within `all` and `any` these
/// decide first; the rest (regexes, history scans, rollout hashes, nested groups) run only
/// if they did not. The rules are pure, so the order changes the cost, never the outcome;
/// with many campaigns most fail on a cheap test before an expensive one runs.
fn cheap(rule: &Rule) -> bool {
    matches!(rule, Rule::Claim { test, .. } if !matches!(test, ClaimTest::Matches(_)))
}

fn holds_with<'r, 'v>(rule: &'r Rule, ctx: &Context<'v>, seen: &mut Lookups<'r, 'v>) -> bool {
    match rule {
        Rule::All(rules) => {
            rules
                .iter()
                .filter(|r| cheap(r))
                .all(|r| holds_with(r, ctx, seen))
                && rules
                    .iter()
                    .filter(|r| !cheap(r))
                    .all(|r| holds_with(r, ctx, seen))
        }
        Rule::Any(rules) => {
            rules
                .iter()
                .filter(|r| cheap(r))
                .any(|r| holds_with(r, ctx, seen))
                || rules
                    .iter()
                    .filter(|r| !cheap(r))
                    .any(|r| holds_with(r, ctx, seen))
        }
        Rule::Not(inner) => !holds_with(inner, ctx, seen),
        Rule::Claim { path, test } => claim_holds(test, seen.claim(path, ctx.claims)),
        Rule::History(h) => history_miss(h, &seen.history(h, ctx), ctx.now).is_none(),
        Rule::Rollout { basis_points, salt } => rollout_bucket(ctx.subject, salt) < *basis_points,
        Rule::TosAccepted { document, version } => tos_accepted(ctx, document, version.as_deref()),
    }
}

/// Whether one campaign fires: enabled, within its schedule, trigger holds.
pub fn evaluate_campaign(campaign: &Campaign, ctx: &Context<'_>) -> Verdict {
    if !campaign.enabled {
        return Verdict::new(false, "the campaign is disabled");
    }
    if let Some(from) = campaign.schedule.from
        && ctx.now < from
    {
        return Verdict::new(false, format!("the schedule starts at {}", rfc3339(from)));
    }
    if let Some(until) = campaign.schedule.until
        && ctx.now >= until
    {
        return Verdict::new(false, format!("the schedule ended at {}", rfc3339(until)));
    }
    match &campaign.trigger {
        None => Verdict::new(true, "no trigger: fires for everyone within its schedule"),
        Some(rule) => evaluate(rule, ctx),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Evaluates one rule.
pub fn evaluate(rule: &Rule, ctx: &Context<'_>) -> Verdict {
    match rule {
        Rule::All(rules) => {
            for r in rules {
                let v = evaluate(r, ctx);
                if !v.fires {
                    return v;
                }
            }
            Verdict::new(true, format!("all {} conditions held", rules.len()))
        }
        Rule::Any(rules) => {
            let mut first_failure = None;
            for r in rules {
                let v = evaluate(r, ctx);
                if v.fires {
                    return v;
                }
                first_failure.get_or_insert(v);
            }
            let detail = first_failure.map(|v| v.reason).unwrap_or_default();
            Verdict::new(
                false,
                format!("none of {} conditions held (first: {detail})", rules.len()),
            )
        }
        Rule::Not(inner) => {
            let v = evaluate(inner, ctx);
            Verdict::new(!v.fires, format!("not ({})", v.reason))
        }
        Rule::Claim { path, test } => evaluate_claim(path, test, ctx.claims),
        Rule::History(h) => evaluate_history(h, ctx),
        Rule::Rollout { basis_points, salt } => {
            let bucket = rollout_bucket(ctx.subject, salt);
            let fires = bucket < *basis_points;
            Verdict::new(
                fires,
                format!(
                    "rollout {}%: user's bucket is {}.{:02}%",
                    f64::from(*basis_points) / 100.0,
                    bucket / 100,
                    bucket % 100
                ),
            )
        }
        Rule::TosAccepted { document, version } => {
            let accepted = tos_accepted(ctx, document, version.as_deref());
            let which = version.as_deref().unwrap_or("any version");
            Verdict::new(
                accepted,
                if accepted {
                    format!("accepted {document} {which}")
                } else {
                    format!("has not accepted {document} {which}")
                },
            )
        }
    }
}

fn tos_accepted(ctx: &Context<'_>, document: &str, version: Option<&str>) -> bool {
    ctx.history
        .tos
        .iter()
        .any(|t| t.document == document && version.is_none_or(|v| v == t.version))
}

/// The user's stable rollout bucket for a campaign, 0..10_000.
pub fn rollout_bucket(subject: &str, salt: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(subject.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // u64 % 10_000 fits in u32.
    (u64::from_be_bytes(first) % 10_000) as u32
}

fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// The claim at `path`, when present and not null.
fn present<'v>(path: &ClaimPath, claims: &'v Value) -> Option<&'v Value> {
    path.lookup(claims).filter(|v| !v.is_null())
}

/// Whether a claim test holds for the claim found (`None`: missing or null).
fn claim_holds(test: &ClaimTest, found: Option<&Value>) -> bool {
    let Some(actual) = found else {
        return matches!(
            test,
            ClaimTest::Ne(_) | ClaimTest::NotIn(_) | ClaimTest::Exists(false)
        );
    };
    match test {
        ClaimTest::Eq(v) => values_equal(actual, v),
        ClaimTest::Ne(v) => !values_equal(actual, v),
        ClaimTest::In(list) => list.iter().any(|v| values_equal(actual, v)),
        ClaimTest::NotIn(list) => !list.iter().any(|v| values_equal(actual, v)),
        ClaimTest::Gt(v) => compare(actual, v) == Some(Ordering::Greater),
        ClaimTest::Gte(v) => matches!(
            compare(actual, v),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        ClaimTest::Lt(v) => compare(actual, v) == Some(Ordering::Less),
        ClaimTest::Lte(v) => matches!(compare(actual, v), Some(Ordering::Less | Ordering::Equal)),
        ClaimTest::Exists(want) => *want,
        ClaimTest::Matches(re) => actual.as_str().is_some_and(|s| re.is_match(s)),
        ClaimTest::Contains(v) => match actual {
            Value::Array(items) => items.iter().any(|item| values_equal(item, v)),
            Value::String(s) => v.as_str().is_some_and(|needle| s.contains(needle)),
            _ => false,
        },
    }
}

fn evaluate_claim(path: &ClaimPath, test: &ClaimTest, claims: &Value) -> Verdict {
    let found = present(path, claims);
    let fires = claim_holds(test, found);
    let (name, expected) = describe(test);
    let Some(actual) = found else {
        return Verdict::new(
            fires,
            format!(
                "claim `{path}` is missing, so `{name}{expected}` {}",
                held(fires)
            ),
        );
    };
    Verdict::new(
        fires,
        format!(
            "claim `{path}` {name}{expected} {} (value {})",
            held(fires),
            brief(actual)
        ),
    )
}

fn held(fires: bool) -> &'static str {
    if fires { "held" } else { "failed" }
}

fn describe(test: &ClaimTest) -> (&'static str, String) {
    match test {
        ClaimTest::Eq(v) => ("eq ", brief(v)),
        ClaimTest::Ne(v) => ("ne ", brief(v)),
        ClaimTest::In(l) => ("in ", brief(&Value::Array(l.clone()))),
        ClaimTest::NotIn(l) => ("not_in ", brief(&Value::Array(l.clone()))),
        ClaimTest::Gt(v) => ("gt ", brief(v)),
        ClaimTest::Gte(v) => ("gte ", brief(v)),
        ClaimTest::Lt(v) => ("lt ", brief(v)),
        ClaimTest::Lte(v) => ("lte ", brief(v)),
        ClaimTest::Exists(b) => ("exists ", b.to_string()),
        ClaimTest::Matches(re) => ("matches ", format!("/{}/", re.as_str())),
        ClaimTest::Contains(v) => ("contains ", brief(v)),
    }
}

/// JSON equality where numbers compare by value (`2` equals `2.0`).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(a, b) == Some(Ordering::Equal),
        _ => a == b,
    }
}

/// Order of two numbers or two strings; nothing for mixed kinds. Two integers compare
/// exactly (as `f64` they would collapse beyond 2^53); otherwise numbers compare as `f64`.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (integer(x), integer(y)) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// A JSON number as an exact integer, when it is one (any `i64` or `u64`). The campaign
/// index files integers by this too, so it agrees with [`compare`] on which numbers are equal.
fn integer(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// What a user's history shows about one campaign.
#[derive(Debug, Clone, Copy)]
struct HistoryFacts {
    shown: u32,
    answered: bool,
    last_shown: Option<OffsetDateTime>,
    last_dismissed: Option<OffsetDateTime>,
}

/// The first part of a history rule that fails.
#[derive(Debug, Clone, Copy)]
enum HistoryMiss {
    Answered,
    ShownTooFew(u32),
    ShownTooOften(u32),
    ShownWithin(Duration, Duration),
    DismissedWithin(Duration, Duration),
}

/// The facts of a history rule's campaign, and the first part of the rule that fails (none
/// when the rule holds).
fn history_check(rule: &HistoryRule, ctx: &Context<'_>) -> (HistoryFacts, Option<HistoryMiss>) {
    let facts = history_facts(rule, ctx);
    (facts, history_miss(rule, &facts, ctx.now))
}

/// What the history shows about the campaign (and version) a history rule reads.
fn history_facts(rule: &HistoryRule, ctx: &Context<'_>) -> HistoryFacts {
    let relevant = ctx.history.prompts.iter().filter(|p| rule.counts(p));
    let mut facts = HistoryFacts {
        shown: 0,
        answered: false,
        last_shown: None,
        last_dismissed: None,
    };
    for p in relevant {
        facts.shown = facts.shown.saturating_add(1);
        facts.answered |= p.status == PromptStatus::Completed;
        facts.last_shown = facts.last_shown.max(Some(p.shown_at));
        if p.status.is_dismissal() {
            facts.last_dismissed = facts
                .last_dismissed
                .max(Some(p.finished_at.unwrap_or(p.shown_at)));
        }
    }
    facts
}

/// The first part of a history rule that the facts fail (none when the rule holds).
fn history_miss(
    rule: &HistoryRule,
    facts: &HistoryFacts,
    now: OffsetDateTime,
) -> Option<HistoryMiss> {
    if rule.answered.is_some_and(|want| facts.answered != want) {
        Some(HistoryMiss::Answered)
    } else if let Some(n) = rule.shown_at_least.filter(|n| facts.shown < *n) {
        Some(HistoryMiss::ShownTooFew(n))
    } else if let Some(n) = rule.shown_at_most.filter(|n| facts.shown > *n) {
        Some(HistoryMiss::ShownTooOften(n))
    } else if let (Some(gap), Some(at)) = (rule.last_shown_more_than, facts.last_shown)
        && now - at <= gap
    {
        Some(HistoryMiss::ShownWithin(now - at, gap))
    } else if let (Some(gap), Some(at)) = (rule.last_dismissed_more_than, facts.last_dismissed)
        && now - at <= gap
    {
        Some(HistoryMiss::DismissedWithin(now - at, gap))
    } else {
        None
    }
}

fn evaluate_history(rule: &HistoryRule, ctx: &Context<'_>) -> Verdict {
    let (facts, miss) = history_check(rule, ctx);
    let scope = match rule.version {
        Some(v) => format!("`{}` v{v}", rule.campaign),
        None => format!("`{}`", rule.campaign),
    };
    let shown = facts.shown;
    match miss {
        Some(HistoryMiss::Answered) => {
            let what = if facts.answered {
                "was answered"
            } else {
                "was never answered"
            };
            Verdict::new(false, format!("history: {scope} {what}"))
        }
        Some(HistoryMiss::ShownTooFew(n)) => Verdict::new(
            false,
            format!("history: {scope} shown {}, fewer than {n}", times(shown)),
        ),
        Some(HistoryMiss::ShownTooOften(n)) => Verdict::new(
            false,
            format!("history: {scope} shown {}, more than {n}", times(shown)),
        ),
        Some(HistoryMiss::ShownWithin(since, gap)) => Verdict::new(
            false,
            format!(
                "history: {scope} last shown {} ago, within {gap}",
                ago(since)
            ),
        ),
        Some(HistoryMiss::DismissedWithin(since, gap)) => Verdict::new(
            false,
            format!(
                "history: {scope} last dismissed {} ago, within {gap}",
                ago(since)
            ),
        ),
        None => Verdict::new(
            true,
            format!(
                "history: {scope} shown {}, {}",
                times(shown),
                if facts.answered {
                    "answered"
                } else {
                    "not answered"
                }
            ),
        ),
    }
}

fn times(n: u32) -> String {
    if n == 1 {
        "1 time".to_owned()
    } else {
        format!("{n} times")
    }
}

fn ago(d: Duration) -> String {
    let secs = d.whole_seconds().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests;
