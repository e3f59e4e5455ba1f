//! An index of campaigns by the claim values their triggers require, so a choice among a
//! thousand campaigns evaluates only those that can fire for this token.
//!
//! Most triggers require some claim fact: `plan` is `gold` (`eq`, `in`), `roles` holds
//! `admin` (`contains`), `email` matches an expression (`matches`), or one of several such
//! facts (an `any` whose every branch requires one). A campaign cannot fire for a token
//! without the fact, so the index files it under the facts it needs, choosing among its
//! `all` parts the rarest (the one the fewest other campaigns are filed under). A choice
//! looks each indexed claim up once (and runs each claim's expressions as one set) and takes
//! the campaigns filed under what it finds, plus every campaign with no such requirement.
//! A trigger may require history instead: another campaign shown at least so often
//! (`shown_at_least`, or `answered: true`, which needs one showing). Such a campaign is
//! filed under that campaign's count, and taken when the user's history reaches it: a
//! frequency cap or a follow-up is then not evaluated for every login of the users who
//! never saw the campaign it follows.
//! The index only skips campaigns whose trigger would fail: the choice is the same as
//! evaluating every campaign in order (held by a property test), and `explain` still
//! evaluates all of them for its reasons.

use std::collections::HashMap;

use regex::RegexSet;
use serde_json::Value;

use super::{ClaimPath, ClaimTest, History, HistoryRule, Rule, integer, present, reads};

/// A required claim value a campaign can be filed under. Numbers only when they are
/// integers: an integer claim must match exactly, and a claim that is a float (which
/// compares by value) takes every campaign filed under a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Bool(bool),
    Int(i128),
}

impl Key {
    fn of(value: &Value) -> Option<Key> {
        match value {
            Value::String(s) => Some(Key::Str(s.clone())),
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Number(n) => integer(n).map(Key::Int),
            _ => None,
        }
    }
}

/// One claim fact a trigger may require.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Fact<'r> {
    /// The claim equals the key.
    Equals(Key),
    /// The claim is a list holding the key, or a string holding the key's text.
    Contains(Key),
    /// The claim is a string the expression (as written) matches.
    Matches(&'r str),
}

/// One fact a trigger may require: of a claim, or of the user's history.
#[derive(Debug, Clone)]
enum Need<'r> {
    /// The claim has the fact.
    Claim(&'r ClaimPath, Fact<'r>),
    /// The rule's campaign (of its version, if it names one) was shown at least this often.
    Shown(&'r HistoryRule, u32),
}

/// What makes needs alike, for the tally of how many campaigns could be filed under each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Alike<'r> {
    Claim(Fact<'r>),
    Shown(&'r str, Option<u32>, u32),
}

impl<'r> Need<'r> {
    fn alike(&self) -> Alike<'r> {
        match self {
            Need::Claim(_, fact) => Alike::Claim(fact.clone()),
            Need::Shown(rule, n) => Alike::Shown(&rule.campaign, rule.version, *n),
        }
    }
}

/// A necessary condition of a trigger: at least one of these facts holds (none listed:
/// the trigger never holds).
type Requirement<'r> = Vec<Need<'r>>;

/// Every requirement of `rule` it can be filed under: for an `all`, each part's; for
/// anything else, at most one.
fn requirements(rule: &Rule) -> Vec<Requirement<'_>> {
    match rule {
        Rule::Claim { path, test } => {
            let facts = match test {
                ClaimTest::Eq(v) => Key::of(v).map(|k| vec![Fact::Equals(k)]),
                ClaimTest::In(list) => list
                    .iter()
                    .map(|v| Key::of(v).map(Fact::Equals))
                    .collect::<Option<Vec<_>>>(),
                ClaimTest::Contains(v) => Key::of(v).map(|k| vec![Fact::Contains(k)]),
                ClaimTest::Matches(re) => Some(vec![Fact::Matches(re.as_str())]),
                _ => None,
            };
            facts
                .map(|facts| facts.into_iter().map(|f| Need::Claim(path, f)).collect())
                .into_iter()
                .collect()
        }
        Rule::History(rule) => match rule.needs_shown() {
            0 => Vec::new(),
            n => vec![vec![Need::Shown(rule, n)]],
        },
        Rule::All(rules) => rules.iter().flat_map(requirements).collect(),
        // One branch must hold: a requirement when every branch has one (any of them).
        Rule::Any(rules) if !rules.is_empty() => {
            let mut whole = Vec::new();
            for branch in rules {
                let Some(part) = narrowest(requirements(branch), |r| r.len()) else {
                    return Vec::new();
                };
                whole.extend(part);
            }
            vec![whole]
        }
        _ => Vec::new(),
    }
}

fn narrowest<'r>(
    options: Vec<Requirement<'r>>,
    cost: impl Fn(&Requirement<'r>) -> usize,
) -> Option<Requirement<'r>> {
    options.into_iter().min_by_key(|r| cost(r))
}

/// Campaign positions (in evaluation order) as a bit set.
#[derive(Debug, Clone, Default)]
struct Positions(Vec<u64>);

impl Positions {
    fn with_len(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    fn extend<'a>(&mut self, positions: impl IntoIterator<Item = &'a usize>) {
        for &i in positions {
            self.insert(i);
        }
    }

    /// The positions in the set, lowest first.
    fn into_iter(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + bit)
            })
        })
    }
}

/// Campaign positions filed under values of one claim.
#[derive(Debug, Clone, Default)]
struct Filed {
    strings: HashMap<String, Vec<usize>>,
    bools: [Vec<usize>; 2],
    ints: HashMap<i128, Vec<usize>>,
    /// Everything under `ints`: a float claim may equal any of them.
    numbers: Vec<usize>,
    /// Everything under `strings`: a string claim may contain any of them.
    texts: Vec<usize>,
}

impl Filed {
    fn file(&mut self, key: Key, i: usize) {
        match key {
            Key::Str(s) => {
                self.strings.entry(s).or_default().push(i);
                self.texts.push(i);
            }
            Key::Bool(b) => self.bools[usize::from(b)].push(i),
            Key::Int(n) => {
                self.ints.entry(n).or_default().push(i);
                self.numbers.push(i);
            }
        }
    }

    /// Adds the positions filed under a value equal to `value`.
    fn equal_to(&self, value: &Value, out: &mut Positions) {
        match value {
            Value::String(s) => out.extend(self.strings.get(s.as_str()).into_iter().flatten()),
            Value::Bool(b) => out.extend(&self.bools[usize::from(*b)]),
            Value::Number(n) => match integer(n) {
                Some(n) => out.extend(self.ints.get(&n).into_iter().flatten()),
                None => out.extend(&self.numbers),
            },
            _ => {}
        }
    }
}

/// The campaigns filed under facts of one claim.
#[derive(Debug, Clone)]
struct ByClaim {
    path: ClaimPath,
    equals: Filed,
    contains: Filed,
    /// The expressions campaigns are filed under, as one set, and the position of each.
    matches: Option<(RegexSet, Vec<usize>)>,
}

/// The campaigns filed under how often one campaign was shown.
#[derive(Debug, Clone)]
struct ByShown {
    campaign: String,
    version: Option<u32>,
    /// How often at least, and the position filed; fewest first.
    filed: Vec<(u32, usize)>,
}

/// Which campaigns of a set can fire for a token, by the claim and history facts they
/// require.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Campaigns with no indexed requirement: always evaluated.
    open: Positions,
    by_claim: Vec<ByClaim>,
    by_shown: Vec<ByShown>,
}

impl Index {
    /// Indexes triggers given in evaluation order (`None`: no trigger, always evaluated).
    pub fn new<'r>(triggers: impl IntoIterator<Item = Option<&'r Rule>>) -> Self {
        let options: Vec<Vec<Requirement<'r>>> = triggers
            .into_iter()
            .map(|t| t.map(requirements).unwrap_or_default())
            .collect();
        // How many campaigns could be filed under each fact: the rarest is the most selective.
        let mut tally: HashMap<Alike<'r>, usize> = HashMap::new();
        for need in options.iter().flatten().flatten() {
            *tally.entry(need.alike()).or_default() += 1;
        }
        let cost = |r: &Requirement<'r>| {
            r.iter()
                .map(|need| tally.get(&need.alike()).copied().unwrap_or(0))
                .sum()
        };
        let mut index = Index {
            open: Positions::with_len(options.len()),
            by_claim: Vec::new(),
            by_shown: Vec::new(),
        };
        let mut patterns: Vec<Vec<(&str, usize)>> = Vec::new();
        for (i, options) in options.into_iter().enumerate() {
            let Some(requirement) = narrowest(options, cost) else {
                index.open.insert(i);
                continue;
            };
            for need in requirement {
                let (path, fact) = match need {
                    Need::Claim(path, fact) => (path, fact),
                    Need::Shown(rule, n) => {
                        index.file_shown(rule, n, i);
                        continue;
                    }
                };
                let slot = match index.by_claim.iter().position(|b| b.path.same_claim(path)) {
                    Some(slot) => slot,
                    None => {
                        index.by_claim.push(ByClaim {
                            path: path.clone(),
                            equals: Filed::default(),
                            contains: Filed::default(),
                            matches: None,
                        });
                        patterns.push(Vec::new());
                        index.by_claim.len() - 1
                    }
                };
                let by = &mut index.by_claim[slot];
                // A fact listed twice files the campaign twice: harmless, its bit is set twice.
                match fact {
                    Fact::Equals(key) => by.equals.file(key, i),
                    Fact::Contains(key) => by.contains.file(key, i),
                    Fact::Matches(re) => patterns[slot].push((re, i)),
                }
            }
        }
        for (by, patterns) in index.by_claim.iter_mut().zip(patterns) {
            if patterns.is_empty() {
                continue;
            }
            match RegexSet::new(patterns.iter().map(|(pattern, _)| *pattern)) {
                Ok(set) => by.matches = Some((set, patterns.iter().map(|(_, i)| *i).collect())),
                // Too large to combine: those campaigns are evaluated one by one.
                Err(_) => index.open.extend(patterns.iter().map(|(_, i)| i)),
            }
        }
        for by in &mut index.by_shown {
            by.filed.sort_unstable();
        }
        index
    }

    fn file_shown(&mut self, rule: &HistoryRule, n: u32, i: usize) {
        let found = self
            .by_shown
            .iter()
            .position(|b| b.campaign == rule.campaign && b.version == rule.version);
        let slot = found.unwrap_or_else(|| {
            self.by_shown.push(ByShown {
                campaign: rule.campaign.clone(),
                version: rule.version,
                filed: Vec::new(),
            });
            self.by_shown.len() - 1
        });
        if let Some(by) = self.by_shown.get_mut(slot) {
            by.filed.push((n, i));
        }
    }

    /// Whether some campaign is filed under a history fact (see [`Index::candidates`]).
    pub fn reads_history(&self) -> bool {
        !self.by_shown.is_empty()
    }

    /// The positions, in evaluation order, of the campaigns that may fire for `claims` and
    /// `history`: every campaign but those that require a claim fact the token does not
    /// have, or a history the user does not have. Without the history, every campaign filed
    /// under a history fact is taken.
    pub fn candidates(
        &self,
        claims: &Value,
        history: Option<&History>,
    ) -> impl Iterator<Item = usize> + use<> {
        let mut set = self.open.clone();
        for by in &self.by_shown {
            let shown = history.map_or(u32::MAX, |h| {
                let n = h
                    .prompts
                    .iter()
                    .filter(|p| reads(&by.campaign, by.version, p))
                    .count();
                u32::try_from(n).unwrap_or(u32::MAX)
            });
            let reached = by.filed.partition_point(|(n, _)| *n <= shown);
            set.extend(by.filed[..reached].iter().map(|(_, i)| i));
        }
        for by in &self.by_claim {
            let Some(value) = present(&by.path, claims) else {
                continue;
            };
            by.equals.equal_to(value, &mut set);
            match value {
                Value::Array(items) => {
                    for item in items {
                        by.contains.equal_to(item, &mut set);
                    }
                }
                Value::String(text) => {
                    set.extend(&by.contains.texts);
                    if let Some((regexes, positions)) = &by.matches {
                        for matched in regexes.matches(text) {
                            set.extend(positions.get(matched));
                        }
                    }
                }
                _ => {}
            }
        }
        set.into_iter()
    }

    /// How many campaigns no requirement narrows (always evaluated).
    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.open.clone().into_iter().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;
    use serde_json::json;

    fn claim(path: &str, test: ClaimTest) -> Rule {
        Rule::Claim {
            path: ClaimPath::parse(path).unwrap(),
            test,
        }
    }

    fn eq(path: &str, v: Value) -> Rule {
        claim(path, ClaimTest::Eq(v))
    }

    #[test]
    fn files_campaigns_under_the_values_they_require() {
        let rules = [
            Some(eq("plan", json!("gold"))),
            None,
            Some(Rule::All(vec![
                claim("logins_count", ClaimTest::Gte(json!(2))),
                claim("plan", ClaimTest::In(vec![json!("gold"), json!("silver")])),
            ])),
            Some(Rule::Any(vec![
                eq("plan", json!("bronze")),
                eq("['plan']", json!("silver")),
            ])),
            Some(Rule::Any(vec![
                eq("plan", json!("bronze")),
                eq("tier", json!("x")),
            ])),
            Some(eq("email_verified", json!(true))),
            Some(eq("logins_count", json!(3))),
            Some(Rule::Not(Box::new(eq("plan", json!("gold"))))),
        ];
        let index = Index::new(rules.iter().map(Option::as_ref));
        let got = |claims: Value| index.candidates(&claims, None).collect::<Vec<_>>();
        // Unindexed: no trigger, a `not`.
        assert_eq!(index.open_count(), 2);
        assert_eq!(got(json!({"plan": "gold"})), vec![0, 1, 2, 7]);
        assert_eq!(got(json!({"plan": "silver"})), vec![1, 2, 3, 7]);
        assert_eq!(
            got(json!({"plan": "bronze", "email_verified": true})),
            vec![1, 3, 4, 5, 7]
        );
        assert_eq!(
            got(json!({"plan": 7, "email_verified": "true"})),
            vec![1, 7]
        );
        assert_eq!(got(json!({})), vec![1, 7]);
        // An `any` over two claims is filed under both; a float may equal any integer.
        assert_eq!(
            got(json!({"tier": "x", "logins_count": 3.0})),
            vec![1, 4, 6, 7]
        );
        assert_eq!(got(json!({"logins_count": 3})), vec![1, 6, 7]);
        assert_eq!(got(json!({"logins_count": 4})), vec![1, 7]);
    }

    #[test]
    fn files_each_campaign_under_its_rarest_fact() {
        let rule = |n: usize| {
            let mut parts = vec![eq("email_verified", json!(true))];
            if n < 2 {
                let re = Regex::new(&format!("@partner-{n}\\.com$")).unwrap();
                parts.push(claim("email", ClaimTest::Matches(re)));
            } else {
                parts.push(claim(
                    "roles",
                    ClaimTest::Contains(json!(format!("admin-{n}"))),
                ));
            }
            Some(Rule::All(parts))
        };
        let rules: Vec<Option<Rule>> = (0..3).map(rule).collect();
        let index = Index::new(rules.iter().map(Option::as_ref));
        let got = |claims: Value| index.candidates(&claims, None).collect::<Vec<_>>();
        // `email_verified` is required by all three, each expression and role by one.
        assert_eq!(
            got(json!({"email_verified": true, "email": "a@partner-1.com"})),
            vec![1]
        );
        assert_eq!(
            got(json!({"email_verified": true, "roles": ["admin-2"]})),
            vec![2]
        );
        // A string claim may contain the text of any role.
        assert_eq!(got(json!({"roles": "admin-0 admin-2"})), vec![2]);
        assert_eq!(got(json!({"email_verified": true})), Vec::<usize>::new());
    }

    #[test]
    fn an_empty_in_list_files_the_campaign_nowhere() {
        let rules = [Some(claim("plan", ClaimTest::In(vec![])))];
        let index = Index::new(rules.iter().map(Option::as_ref));
        assert_eq!(index.candidates(&json!({"plan": "x"}), None).count(), 0);
    }

    #[test]
    fn positions_iterate_in_order_across_words() {
        let mut p = Positions::with_len(200);
        for i in [199, 0, 64, 63, 130] {
            p.insert(i);
        }
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec![0, 63, 64, 130, 199]);
    }

    /// Claim values the generated rules and tokens share, so that tests often hold.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("gold")),
            Just(json!("silver")),
            Just(json!("old")),
            Just(json!(true)),
            Just(json!(false)),
            Just(json!(2)),
            Just(json!(2.0)),
            Just(json!(2.5)),
            Just(json!(u64::MAX)),
            Just(json!(null)),
            Just(json!(["gold", 2])),
            Just(json!(["silver", 2.0, true])),
            Just(json!({"gold": 1})),
        ]
    }

    fn path() -> impl Strategy<Value = ClaimPath> {
        prop_oneof![3 => Just("plan"), 2 => Just("['plan']"), 1 => Just("tier"), 1 => Just("a.b")]
            .prop_map(|p| ClaimPath::parse(p).unwrap())
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let pattern = prop_oneof![Just("^gold$"), Just("old"), Just("(?i)SIL"), Just("^$")];
        let leaf = (
            path(),
            value(),
            proptest::collection::vec(value(), 0..3),
            pattern,
            0..8u8,
        )
            .prop_map(|(path, v, list, pattern, kind)| {
                let test = match kind {
                    0 | 1 => ClaimTest::Eq(v),
                    2 | 3 => ClaimTest::In(list),
                    4 => ClaimTest::Contains(v),
                    5 => ClaimTest::Matches(Regex::new(pattern).unwrap()),
                    6 => ClaimTest::Ne(v),
                    _ => ClaimTest::Exists(true),
                };
                Rule::Claim { path, test }
            });
        let history = (0..3u8, proptest::option::of(1..3u32), 0..4u8, 0..4u32).prop_map(
            |(campaign, version, kind, n)| {
                let mut rule = HistoryRule {
                    campaign: format!("c{campaign}"),
                    version,
                    ..HistoryRule::default()
                };
                match kind {
                    0 => rule.shown_at_least = Some(n),
                    1 => rule.answered = Some(n % 2 == 0),
                    2 => {
                        rule.shown_at_least = Some(n);
                        rule.answered = Some(true);
                    }
                    _ => rule.shown_at_most = Some(n),
                }
                Rule::History(rule)
            },
        );
        let leaf = prop_oneof![3 => leaf, 1 => history];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Rule::All),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Rule::Any),
                inner.prop_map(|r| Rule::Not(Box::new(r))),
            ]
        })
    }

    fn claims() -> impl Strategy<Value = Value> {
        (
            proptest::option::of(value()),
            proptest::option::of(value()),
            proptest::option::of(value()),
        )
            .prop_map(|(plan, tier, b)| {
                let mut claims = serde_json::Map::new();
                for (key, v) in [("plan", plan), ("tier", tier)] {
                    if let Some(v) = v {
                        claims.insert(key.to_owned(), v);
                    }
                }
                if let Some(b) = b {
                    claims.insert("a".to_owned(), json!({ "b": b }));
                }
                Value::Object(claims)
            })
    }

    /// A follow-up filed under the count of the campaign it follows is a candidate only once
    /// the user's history reaches that count (of that version, when the rule names one);
    /// `answered: true` needs one showing; `shown_at_most` narrows nothing.
    #[test]
    fn files_campaigns_under_how_often_another_was_shown() {
        use super::super::{PastPrompt, PromptStatus};
        let shown = |n: u32, version: Option<u32>| {
            Rule::All(vec![
                eq("locale", json!("en")),
                Rule::History(HistoryRule {
                    campaign: "welcome".into(),
                    version,
                    shown_at_least: Some(n),
                    ..HistoryRule::default()
                }),
            ])
        };
        let answered = Rule::History(HistoryRule {
            campaign: "welcome".into(),
            answered: Some(true),
            ..HistoryRule::default()
        });
        let capped = Rule::History(HistoryRule {
            campaign: "welcome".into(),
            shown_at_most: Some(1),
            ..HistoryRule::default()
        });
        let rules = [shown(3, None), shown(1, Some(2)), answered, capped];
        let index = Index::new(rules.iter().map(Some));
        assert_eq!(
            index.open_count(),
            1,
            "only the cap is evaluated for everyone"
        );
        let with = |versions: &[u32]| {
            let history = History {
                prompts: versions
                    .iter()
                    .map(|&version| PastPrompt {
                        campaign: "welcome".into(),
                        version,
                        status: PromptStatus::Skipped,
                        shown_at: time::OffsetDateTime::UNIX_EPOCH,
                        finished_at: None,
                    })
                    .collect(),
                tos: Vec::new(),
            };
            let claims = json!({"locale": "en"});
            index
                .candidates(&claims, Some(&history))
                .collect::<Vec<_>>()
        };
        assert_eq!(with(&[]), [3]);
        assert_eq!(with(&[1]), [2, 3]);
        assert_eq!(with(&[1, 2]), [1, 2, 3]);
        assert_eq!(with(&[1, 1, 2]), [0, 1, 2, 3]);
        assert_eq!(
            index.candidates(&json!({}), None).collect::<Vec<_>>(),
            [0, 1, 2, 3],
            "without the history, every campaign filed under it"
        );
    }

    /// Past prompts of campaigns `c0` to `c2`, versions 1 and 2, in any status.
    fn history() -> impl Strategy<Value = History> {
        use super::super::{PastPrompt, PromptStatus};
        let prompt = (0..3u8, 1..3u32, 0..3u8).prop_map(|(campaign, version, status)| PastPrompt {
            campaign: format!("c{campaign}"),
            version,
            status: match status {
                0 => PromptStatus::Completed,
                1 => PromptStatus::Skipped,
                _ => PromptStatus::Pending,
            },
            shown_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: None,
        });
        proptest::collection::vec(prompt, 0..6).prop_map(|prompts| History {
            prompts,
            tos: Vec::new(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// The index skips only campaigns whose trigger fails: every trigger that holds is
        /// among the candidates, so the first to fire is the same with and without it; and
        /// without the history, the candidates include those with it.
        #[test]
        fn every_trigger_that_holds_is_a_candidate(
            rules in proptest::collection::vec(proptest::option::of(rule()), 1..12),
            claims in claims(),
            history in history(),
        ) {
            let index = Index::new(rules.iter().map(Option::as_ref));
            let candidates: Vec<usize> = index.candidates(&claims, Some(&history)).collect();
            let before_history: Vec<usize> = index.candidates(&claims, None).collect();
            for i in &candidates {
                prop_assert!(before_history.contains(i), "{i} only with the history");
            }
            let ctx = super::super::Context {
                claims: &claims,
                subject: "auth0|prop",
                history: &history,
                now: time::OffsetDateTime::UNIX_EPOCH,
            };
            let holding: Vec<usize> = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.as_ref().is_none_or(|r| super::super::holds(r, &ctx)))
                .map(|(i, _)| i)
                .collect();
            for i in &holding {
                prop_assert!(candidates.contains(i), "rule {i} holds but was skipped: {:?}", rules[*i]);
            }
            prop_assert!(candidates.windows(2).all(|w| w[0] < w[1]), "in order: {candidates:?}");
        }
    }
}
