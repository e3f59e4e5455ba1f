//! An index of campaigns by the claim values their triggers require, so a choice among a
//! thousand campaigns evaluates only those that can fire for this token.
//!
//! Many triggers require a claim to equal one of a few values: `all: [{claim: plan, eq:
//! gold}, …]`, `in: [gold, platinum]`, or an `any` whose every branch tests the same claim.
//! Such a campaign cannot fire for a token whose claim is something else, so the index
//! files it under the values it needs. A choice looks each indexed claim up once and takes
//! the campaigns filed under its value, plus every campaign with no such requirement. The
//! index only skips campaigns whose trigger would fail: the choice is the same as
//! evaluating every campaign in order (held by a property test), and the reasons shown by
//! `explain` still come from evaluating all of them.

use std::collections::HashMap;

use serde_json::Value;

use super::{ClaimPath, ClaimTest, Rule, present};

/// A claim value a requirement can be filed under. Strings and booleans only: numbers
/// compare by value across integer and float spellings, so a campaign that requires a
/// number is left unindexed rather than filed under one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Bool(bool),
}

impl Key {
    fn of(value: &Value) -> Option<Key> {
        match value {
            Value::String(s) => Some(Key::Str(s.clone())),
            Value::Bool(b) => Some(Key::Bool(*b)),
            _ => None,
        }
    }

    /// The key a token's claim looks up, without copying it.
    fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Key::Str(k), Value::String(v)) => k == v,
            (Key::Bool(k), Value::Bool(v)) => k == v,
            _ => false,
        }
    }
}

/// A necessary condition of a trigger: the claim at `path` equals one of `values`.
#[derive(Debug, Clone)]
struct Requirement<'r> {
    path: &'r ClaimPath,
    values: Vec<Key>,
}

/// The narrowest requirement of `rule`, if it has one.
fn requirement(rule: &Rule) -> Option<Requirement<'_>> {
    match rule {
        Rule::Claim {
            path,
            test: ClaimTest::Eq(v),
        } => Some(Requirement {
            path,
            values: vec![Key::of(v)?],
        }),
        Rule::Claim {
            path,
            test: ClaimTest::In(list),
        } => Some(Requirement {
            path,
            values: list.iter().map(Key::of).collect::<Option<_>>()?,
        }),
        // Every part must hold, so any part's requirement is the whole's: take the narrowest.
        Rule::All(rules) => rules
            .iter()
            .filter_map(requirement)
            .min_by_key(|r| r.values.len()),
        // One branch must hold: a requirement only when every branch tests the same claim.
        Rule::Any(rules) => {
            let mut parts = rules.iter().map(requirement);
            let mut whole = parts.next()??;
            for part in parts {
                let part = part?;
                if !part.path.same_claim(whole.path) {
                    return None;
                }
                whole.values.extend(part.values);
            }
            Some(whole)
        }
        _ => None,
    }
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

/// The campaigns filed under one claim.
#[derive(Debug, Clone)]
struct ByClaim {
    path: ClaimPath,
    /// Strings: hashed, for many distinct values.
    strings: HashMap<String, Vec<usize>>,
    /// Booleans, and keys tried in order (few).
    others: Vec<(Key, Vec<usize>)>,
}

/// Which campaigns of a set can fire for a token, by the claim values they require.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Campaigns with no indexed requirement: always evaluated.
    open: Positions,
    by_claim: Vec<ByClaim>,
}

impl Index {
    /// Indexes triggers given in evaluation order (`None`: no trigger, always evaluated).
    pub fn new<'r>(triggers: impl IntoIterator<Item = Option<&'r Rule>>) -> Self {
        let triggers: Vec<Option<&Rule>> = triggers.into_iter().collect();
        let mut index = Index {
            open: Positions::with_len(triggers.len()),
            by_claim: Vec::new(),
        };
        for (i, trigger) in triggers.iter().enumerate() {
            let Some(req) = trigger.and_then(requirement) else {
                index.open.insert(i);
                continue;
            };
            let slot = match index
                .by_claim
                .iter()
                .position(|b| b.path.same_claim(req.path))
            {
                Some(slot) => slot,
                None => {
                    index.by_claim.push(ByClaim {
                        path: req.path.clone(),
                        strings: HashMap::new(),
                        others: Vec::new(),
                    });
                    index.by_claim.len() - 1
                }
            };
            let by = &mut index.by_claim[slot];
            // A value listed twice files the campaign twice: harmless, its bit is set twice.
            for value in req.values {
                match value {
                    Key::Str(s) => by.strings.entry(s).or_default().push(i),
                    other => match by.others.iter_mut().find(|(k, _)| *k == other) {
                        Some((_, list)) => list.push(i),
                        None => by.others.push((other, vec![i])),
                    },
                }
            }
        }
        index
    }

    /// The positions, in evaluation order, of the campaigns that may fire for `claims`:
    /// every campaign but those whose required claim has another value (or is missing).
    pub fn candidates(&self, claims: &Value) -> impl Iterator<Item = usize> + use<> {
        let mut set = self.open.clone();
        for by in &self.by_claim {
            let Some(value) = present(&by.path, claims) else {
                continue;
            };
            let filed = match value {
                Value::String(s) => by.strings.get(s.as_str()),
                other => by
                    .others
                    .iter()
                    .find(|(k, _)| k.matches(other))
                    .map(|(_, list)| list),
            };
            for &i in filed.into_iter().flatten() {
                set.insert(i);
            }
        }
        set.into_iter()
    }

    /// How many campaigns no requirement narrows (always evaluated).
    pub fn open_count(&self) -> usize {
        self.open.clone().into_iter().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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
        // Unindexed: no trigger, an `any` over two claims, a number, a `not`.
        assert_eq!(index.open_count(), 4);
        assert_eq!(got(json!({"plan": "gold"})), vec![0, 1, 2, 4, 6, 7]);
        assert_eq!(got(json!({"plan": "silver"})), vec![1, 2, 3, 4, 6, 7]);
        assert_eq!(
            got(json!({"plan": "bronze", "email_verified": true})),
            vec![1, 3, 4, 5, 6, 7]
        );
        assert_eq!(
            got(json!({"plan": 7, "email_verified": "true"})),
            vec![1, 4, 6, 7]
        );
        assert_eq!(got(json!({})), vec![1, 4, 6, 7]);
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
            Just(json!(true)),
            Just(json!(false)),
            Just(json!(2)),
            Just(json!(2.0)),
            Just(json!(null)),
            Just(json!(["gold"])),
        ]
    }

    fn path() -> impl Strategy<Value = ClaimPath> {
        prop_oneof![3 => Just("plan"), 2 => Just("['plan']"), 1 => Just("tier"), 1 => Just("a.b")]
            .prop_map(|p| ClaimPath::parse(p).unwrap())
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let leaf = (
            path(),
            value(),
            proptest::collection::vec(value(), 0..3),
            0..6u8,
        )
            .prop_map(|(path, v, list, kind)| {
                let test = match kind {
                    0 | 1 => ClaimTest::Eq(v),
                    2 | 3 => ClaimTest::In(list),
                    4 => ClaimTest::Ne(v),
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
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

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
