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
//! The index only skips campaigns whose trigger would fail: the choice is the same as
//! evaluating every campaign in order (held by a property test), and `explain` still
//! evaluates all of them for its reasons.

use std::collections::HashMap;

use regex::RegexSet;
use serde_json::Value;

use super::{ClaimPath, ClaimTest, Rule, integer, present};

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

/// A necessary condition of a trigger: at least one of these claim facts holds (none
/// listed: the trigger never holds).
type Requirement<'r> = Vec<(&'r ClaimPath, Fact<'r>)>;

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
                .map(|facts| facts.into_iter().map(|f| (path, f)).collect())
                .into_iter()
                .collect()
        }
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

/// Which campaigns of a set can fire for a token, by the claim facts they require.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Campaigns with no indexed requirement: always evaluated.
    open: Positions,
    by_claim: Vec<ByClaim>,
}

impl Index {
    /// Indexes triggers given in evaluation order (`None`: no trigger, always evaluated).
    pub fn new<'r>(triggers: impl IntoIterator<Item = Option<&'r Rule>>) -> Self {
        let options: Vec<Vec<Requirement<'r>>> = triggers
            .into_iter()
            .map(|t| t.map(requirements).unwrap_or_default())
            .collect();
        // How many campaigns could be filed under each fact: the rarest is the most selective.
        let mut tally: HashMap<Fact<'r>, usize> = HashMap::new();
        for (_, fact) in options.iter().flatten().flatten() {
            *tally.entry(fact.clone()).or_default() += 1;
        }
        let cost = |r: &Requirement<'r>| {
            r.iter()
                .map(|(_, f)| tally.get(f).copied().unwrap_or(0))
                .sum()
        };
        let mut index = Index {
            open: Positions::with_len(options.len()),
            by_claim: Vec::new(),
        };
        let mut patterns: Vec<Vec<(&str, usize)>> = Vec::new();
        for (i, options) in options.into_iter().enumerate() {
            let Some(requirement) = narrowest(options, cost) else {
                index.open.insert(i);
                continue;
            };
            for (path, fact) in requirement {
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
        index
    }

    /// The positions, in evaluation order, of the campaigns that may fire for `claims`:
    /// every campaign but those that require a claim fact the token does not have.
    pub fn candidates(&self, claims: &Value) -> impl Iterator<Item = usize> + use<> {
        let mut set = self.open.clone();
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
        let got = |claims: Value| index.candidates(&claims).collect::<Vec<_>>();
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
        let got = |claims: Value| index.candidates(&claims).collect::<Vec<_>>();
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
        assert_eq!(index.candidates(&json!({"plan": "x"})).count(), 0);
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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// The index skips only campaigns whose trigger fails: every trigger that holds is
        /// among the candidates, so the first to fire is the same with and without it.
        #[test]
        fn every_trigger_that_holds_is_a_candidate(
            rules in proptest::collection::vec(proptest::option::of(rule()), 1..12),
            claims in claims(),
        ) {
            let index = Index::new(rules.iter().map(Option::as_ref));
            let candidates: Vec<usize> = index.candidates(&claims).collect();
            let history = super::super::History::default();
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
