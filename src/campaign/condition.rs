//! The trigger language as written: one small map per condition.
//!
//! ```yaml
//! all:
//!   - claim: logins_count
//!     gte: 2
//!   - not: { claim: user_metadata.job_title, exists: true }
//!   - history: { answered: false }
//!   - rollout: 25
//! ```
//!
//! Serde's derive cannot say "unknown operator `gtee`, did you mean `gte`?", so the map is
//! read by hand here; the JSON Schema is written by hand to match.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::span::{Located, at};
use crate::suggest::closest;

/// A comparison between a claim and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal (numbers compare by value: `2` equals `2.0`).
    Eq,
    /// Not equal (true when the claim is missing).
    Ne,
    /// One of a list.
    In,
    /// None of a list (true when the claim is missing).
    NotIn,
    /// Greater than (numbers, or strings such as ISO dates).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// `exists: true` holds when the claim is present and not null; `exists: false` the reverse.
    Exists,
    /// The claim is a string matching the regular expression (anywhere; anchor with `^…$`).
    Matches,
    /// The claim is a list containing the value, or a string containing the text.
    Contains,
}

impl Op {
    /// Every operator, in the order the documentation lists them.
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Ne,
        Op::In,
        Op::NotIn,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Exists,
        Op::Matches,
        Op::Contains,
    ];

    /// The key used in YAML.
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Exists => "exists",
            Op::Matches => "matches",
            Op::Contains => "contains",
        }
    }

    fn from_keyword(key: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.keyword() == key)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One trigger condition, as written.
#[derive(Debug, Clone)]
pub enum ConditionSpec {
    /// Every condition holds.
    All(Vec<Located<ConditionSpec>>),
    /// At least one condition holds.
    Any(Vec<Located<ConditionSpec>>),
    /// The condition does not hold.
    Not(Box<Located<ConditionSpec>>),
    /// A claim compared with a value.
    Claim {
        /// Dotted path into the claims, e.g. `app_metadata.plan`.
        path: Located<String>,
        /// The comparison.
        op: Op,
        /// The value compared with.
        operand: Located<serde_json::Value>,
    },
    /// A condition over the user's prompt history.
    History(HistorySpec),
    /// A stable percentage of users (by hash of `sub` and campaign id).
    Rollout(Located<f64>),
    /// The user has accepted a version of a Terms-of-Service document.
    TosAccepted(TosAcceptedSpec),
}

/// Conditions over the prompt history of one campaign; every key given must hold.
#[derive(Debug, Clone, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistorySpec {
    /// Which campaign's history (default: this campaign).
    #[serde(default)]
    pub campaign: Option<Located<String>>,
    /// Count only prompts of this campaign version: a number or `current`.
    #[serde(default)]
    pub version: Option<Located<serde_json::Value>>,
    /// `true`: answered (completed) at least once; `false`: never answered.
    #[serde(default)]
    pub answered: Option<bool>,
    /// Shown at least this many times.
    #[serde(default)]
    pub shown_at_least: Option<u32>,
    /// Shown at most this many times.
    #[serde(default)]
    pub shown_at_most: Option<u32>,
    /// Last shown longer ago than this (`30d`, `12h`, `45m`); true when never shown.
    #[serde(default)]
    pub last_shown_more_than: Option<Located<String>>,
    /// Last skipped or declined longer ago than this; true when never dismissed.
    #[serde(default)]
    pub last_dismissed_more_than: Option<Located<String>>,
}

/// "Has accepted version X of document D".
#[derive(Debug, Clone, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TosAcceptedSpec {
    /// The document (default `terms`).
    #[serde(default = "terms")]
    pub document: String,
    /// The version; `any` for any version.
    pub version: String,
}

fn terms() -> String {
    "terms".to_owned()
}

const COMBINATORS: [&str; 3] = ["all", "any", "not"];
const STANDALONE: [&str; 6] = ["all", "any", "not", "history", "rollout", "tos_accepted"];

fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = STANDALONE.to_vec();
    keys.push("claim");
    keys.extend(Op::ALL.iter().map(|op| op.keyword()));
    keys
}

impl<'de> Deserialize<'de> for ConditionSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ConditionVisitor)
    }
}

struct ConditionVisitor;

impl<'de> Visitor<'de> for ConditionVisitor {
    type Value = ConditionSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a condition: a map with `claim` and an operator, or `all`, `any`, `not`, `history`, `rollout` or `tos_accepted`",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConditionSpec, A::Error> {
        let mut standalone: Option<ConditionSpec> = None;
        let mut standalone_key: Option<String> = None;
        let mut claim: Option<Located<String>> = None;
        let mut op: Option<(Op, Located<serde_json::Value>)> = None;

        while let Some(located_key) = map.next_key::<Located<String>>()? {
            let key_pos = located_key.pos;
            let key = located_key.value;
            if let Some(first) = &standalone_key {
                return Err(de::Error::custom(at(
                    key_pos,
                    format!(
                        "`{first}` must stand alone in its condition, but `{key}` is beside it; wrap both in `all:` or `any:`"
                    ),
                )));
            }
            match key.as_str() {
                "all" | "any" => {
                    let items: Vec<Located<ConditionSpec>> = map.next_value()?;
                    if items.is_empty() {
                        return Err(de::Error::custom(format!(
                            "`{key}` needs at least one condition"
                        )));
                    }
                    standalone = Some(if key == "all" {
                        ConditionSpec::All(items)
                    } else {
                        ConditionSpec::Any(items)
                    });
                }
                "not" => {
                    let inner: Located<ConditionSpec> = map.next_value()?;
                    standalone = Some(ConditionSpec::Not(Box::new(inner)));
                }
                "history" => standalone = Some(ConditionSpec::History(map.next_value()?)),
                "rollout" => standalone = Some(ConditionSpec::Rollout(map.next_value()?)),
                "tos_accepted" => standalone = Some(ConditionSpec::TosAccepted(map.next_value()?)),
                "claim" => {
                    if claim.is_some() {
                        return Err(de::Error::custom(at(key_pos, "`claim` is given twice")));
                    }
                    claim = Some(map.next_value()?);
                }
                other => match Op::from_keyword(other) {
                    Some(found) => {
                        if let Some((previous, _)) = &op {
                            return Err(de::Error::custom(at(
                                key_pos,
                                format!(
                                    "a condition takes one operator, but has `{previous}` and `{found}`; use `all:` to combine them"
                                ),
                            )));
                        }
                        op = Some((found, map.next_value()?));
                    }
                    None => {
                        let keys = known_keys();
                        let nearest = closest(other, &keys);
                        let what = match nearest {
                            Some(n) if Op::from_keyword(n).is_some() => "operator",
                            _ if claim.is_some() => "operator",
                            _ => "condition key",
                        };
                        let hint = nearest
                            .map(|n| format!(", did you mean `{n}`?"))
                            .unwrap_or_default();
                        return Err(de::Error::custom(at(
                            key_pos,
                            format!("unknown {what} `{other}`{hint}"),
                        )));
                    }
                },
            }
            if standalone.is_some() {
                if claim.is_some() || op.is_some() {
                    return Err(de::Error::custom(at(
                        key_pos,
                        format!(
                            "`{key}` must stand alone in its condition; wrap it and the claim test in `all:` or `any:`"
                        ),
                    )));
                }
                standalone_key = Some(key);
            }
        }

        if let Some(condition) = standalone {
            return Ok(condition);
        }
        match (claim, op) {
            (Some(path), Some((op, operand))) => Ok(ConditionSpec::Claim { path, op, operand }),
            (Some(path), None) => Err(de::Error::custom(format!(
                "the condition on claim `{}` has no operator; add one of {}",
                path.value,
                Op::ALL
                    .iter()
                    .map(|op| format!("`{op}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            (None, Some((op, _))) => Err(de::Error::custom(format!(
                "operator `{op}` needs a `claim:` naming what it tests"
            ))),
            (None, None) => Err(de::Error::custom(format!(
                "empty condition; use `claim:` with an operator, or one of {}",
                COMBINATORS
                    .iter()
                    .chain(["history", "rollout", "tos_accepted"].iter())
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

impl JsonSchema for ConditionSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let this = generator.subschema_for::<ConditionSpec>();
        let history = generator.subschema_for::<HistorySpec>();
        let tos = generator.subschema_for::<TosAcceptedSpec>();
        let mut claim_props = serde_json::Map::new();
        claim_props.insert(
            "claim".into(),
            serde_json::json!({
                "type": "string",
                "description": "Dotted path into the token's claims, e.g. `app_metadata.plan`; quote odd keys: `['https://acme.com/roles']`."
            }),
        );
        for op in Op::ALL {
            let schema = match op {
                Op::In | Op::NotIn => serde_json::json!({"type": "array"}),
                Op::Exists => serde_json::json!({"type": "boolean"}),
                Op::Matches => serde_json::json!({"type": "string", "format": "regex"}),
                _ => serde_json::json!({}),
            };
            claim_props.insert(op.keyword().into(), schema);
        }
        let one_of = |key: &str, schema: serde_json::Value, description: &str| {
            serde_json::json!({
                "type": "object",
                "description": description,
                "properties": { key: schema },
                "required": [key],
                "additionalProperties": false
            })
        };
        json_schema!({
            "description": "A trigger condition.",
            "oneOf": [
                {
                    "type": "object",
                    "description": "A claim compared with a value: `claim` and exactly one operator.",
                    "properties": claim_props,
                    "required": ["claim"],
                    "minProperties": 2,
                    "maxProperties": 2,
                    "additionalProperties": false
                },
                one_of("all", serde_json::json!({"type": "array", "minItems": 1, "items": this}), "Every condition holds."),
                one_of("any", serde_json::json!({"type": "array", "minItems": 1, "items": this}), "At least one condition holds."),
                one_of("not", this.to_value(), "The condition does not hold."),
                one_of("history", history.to_value(), "A condition over the user's prompt history."),
                one_of("rollout", serde_json::json!({"type": "number", "minimum": 0, "maximum": 100}), "A stable percentage of users."),
                one_of("tos_accepted", tos.to_value(), "The user has accepted this version of a Terms-of-Service document.")
            ]
        })
    }
}
