//! The answers to a campaign's form: decoding the posted fields into typed JSON, and
//! validating them against a JSON Schema compiled from the fields (plus what a schema
//! cannot say, such as date ranges).
//!
//! Only the campaign's own visible fields are read from the request; hidden fields get
//! their value on the server, from `default_from` / `default`, never from the browser.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::campaign::{Bound, Campaign, Field, FieldType};

/// Names the form itself posts besides the fields.
pub const CSRF_FIELD: &str = "_csrf";
/// Which button was pressed: `submit`, `skip` or `decline`.
pub const ACTION_FIELD: &str = "_action";
/// Default pattern of `tel` fields without one.
const TEL_PATTERN: &str = r"^[0-9+()./ -]{3,32}$";

/// Why a posted form cannot even be read (as opposed to answers that fail validation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A name that is not a field of this campaign.
    #[error("the form has an unknown field `{0}`")]
    UnknownField(String),
    /// A single-value field posted twice.
    #[error("the field `{0}` was sent more than once")]
    Repeated(String),
    /// Too many values overall.
    #[error("the form has too many values")]
    TooManyValues,
}

/// What kind of rule an answer broke; the page words it in the user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Missing.
    Required,
    /// Below `min_length`.
    TooShort,
    /// Above `max_length`.
    TooLong,
    /// Does not match the pattern / format.
    Pattern,
    /// Below `min`.
    TooSmall,
    /// Above `max`.
    TooLarge,
    /// Not a number / date / e-mail address …
    Invalid,
    /// Not one of the options.
    NotAnOption,
}

impl Problem {
    /// The key of the message, as campaigns override it in `text.LOCALE.errors`.
    pub fn key(self) -> &'static str {
        match self {
            Problem::Required => "required",
            Problem::TooShort => "too_short",
            Problem::TooLong => "too_long",
            Problem::Pattern => "pattern",
            Problem::TooSmall => "too_small",
            Problem::TooLarge => "too_large",
            Problem::Invalid => "invalid",
            Problem::NotAnOption => "not_an_option",
        }
    }
}

/// A field's problem, with the limit it broke (for the message).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldProblem {
    /// Which rule.
    pub problem: Problem,
    /// The limit, when the rule has one (`100` for too_long …).
    pub limit: Option<String>,
}

/// The answers as posted (strings, for re-rendering) and as typed JSON (for storage).
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// Raw values per field, as the user typed them.
    pub raw: BTreeMap<String, Vec<String>>,
    /// Typed answers of the fields that have a value.
    pub answers: Map<String, Value>,
    /// Problems found while decoding (a number that is not a number …).
    pub problems: BTreeMap<String, FieldProblem>,
}

/// A campaign's compiled answer schema.
#[derive(Clone)]
pub struct FormValidator {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for FormValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormValidator")
            .field("schema", &self.schema)
            .finish()
    }
}

fn is_visible(field: &Field) -> bool {
    field.kind != FieldType::Hidden
}

/// A number as JSON, whole numbers without a fraction (so messages say `18`, not `18.0`).
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The JSON Schema of a campaign's answers.
pub fn answer_schema(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for f in fields {
        let mut s = Map::new();
        match f.kind {
            FieldType::Text
            | FieldType::Email
            | FieldType::Tel
            | FieldType::Url
            | FieldType::Textarea
            | FieldType::Hidden
            | FieldType::Date => {
                s.insert("type".into(), json!("string"));
                s.insert("maxLength".into(), json!(f.max_length));
                if let Some(min) = f.min_length {
                    s.insert("minLength".into(), json!(min));
                }
                if let Some(p) = &f.pattern_source {
                    s.insert("pattern".into(), json!(format!("^(?:{p})$")));
                } else if f.kind == FieldType::Tel {
                    s.insert("pattern".into(), json!(TEL_PATTERN));
                }
                let format = match f.kind {
                    FieldType::Email => Some("email"),
                    FieldType::Url => Some("uri"),
                    FieldType::Date => Some("date"),
                    _ => None,
                };
                if let Some(format) = format {
                    s.insert("format".into(), json!(format));
                }
            }
            FieldType::Number => {
                s.insert("type".into(), json!("number"));
                if let Some(Bound::Number(n)) = f.min {
                    s.insert("minimum".into(), number(n));
                }
                if let Some(Bound::Number(n)) = f.max {
                    s.insert("maximum".into(), number(n));
                }
                if let Some(step) = f.step {
                    s.insert("multipleOf".into(), number(step));
                }
            }
            FieldType::Checkbox => {
                s.insert("type".into(), json!("boolean"));
                if f.required {
                    // A required box (accept the terms) must be ticked, not merely sent.
                    s.insert("const".into(), json!(true));
                }
            }
            FieldType::Select | FieldType::Radio => {
                s.insert("type".into(), json!("string"));
                s.insert(
                    "enum".into(),
                    json!(f.options.iter().map(|o| &o.value).collect::<Vec<_>>()),
                );
            }
            FieldType::MultiSelect => {
                s.insert("type".into(), json!("array"));
                s.insert("uniqueItems".into(), json!(true));
                s.insert(
                    "items".into(),
                    json!({"enum": f.options.iter().map(|o| &o.value).collect::<Vec<_>>()}),
                );
                if f.required {
                    s.insert("minItems".into(), json!(1));
                }
            }
        }
        if f.required {
            required.push(json!(f.name));
        }
        properties.insert(f.name.clone(), Value::Object(s));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
    })
}

impl FormValidator {
    /// Compiles the answer schema of `fields`.
    pub fn new(fields: &[Field]) -> Result<Self, String> {
        let schema = answer_schema(fields);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            schema,
            validator: Arc::new(validator),
        })
    }

    /// The schema, for previews and the admin API.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Adds schema violations of `answers` to `problems` (the first per field).
    fn check(&self, answers: &Value, problems: &mut BTreeMap<String, FieldProblem>) {
        for error in self.validator.iter_errors(answers) {
            use jsonschema::error::ValidationErrorKind as K;
            let path = error.instance_path().as_str();
            let (field, problem) = match error.kind() {
                K::Required { property } => (
                    property.as_str().unwrap_or_default().to_owned(),
                    FieldProblem {
                        problem: Problem::Required,
                        limit: None,
                    },
                ),
                kind => {
                    let field = path
                        .trim_start_matches('/')
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let (problem, limit) = match kind {
                        K::MinLength { limit } => (Problem::TooShort, Some(limit.to_string())),
                        K::MaxLength { limit } => (Problem::TooLong, Some(limit.to_string())),
                        K::Minimum { limit } => (Problem::TooSmall, Some(limit.to_string())),
                        K::Maximum { limit } => (Problem::TooLarge, Some(limit.to_string())),
                        K::Pattern { .. } => (Problem::Pattern, None),
                        K::Enum { .. } => (Problem::NotAnOption, None),
                        K::Constant { .. } | K::MinItems { .. } => (Problem::Required, None),
                        _ => (Problem::Invalid, None),
                    };
                    (field, FieldProblem { problem, limit })
                }
            };
            problems.entry(field).or_insert(problem);
        }
    }
}

/// Most values a form may post (fields × options, plus the two control fields).
fn value_budget(campaign: &Campaign) -> usize {
    campaign
        .fields
        .iter()
        .map(|f| f.options.len().max(1))
        .sum::<usize>()
        + 2
}

fn truthy(v: &str) -> bool {
    matches!(v, "on" | "true" | "1" | "yes")
}

/// The value a field starts with: the claim named by `default_from`, else `default`.
pub fn default_value(field: &Field, claims: &Value) -> Option<Value> {
    field
        .default_from
        .as_ref()
        .and_then(|p| p.lookup(claims))
        .filter(|v| !v.is_null())
        .cloned()
        .or_else(|| field.default.clone())
}

/// Decodes posted pairs for `campaign` into typed answers, then validates them.
/// `claims` supplies hidden fields' values.
pub fn decode(
    campaign: &Campaign,
    validator: &FormValidator,
    pairs: &[(String, String)],
    claims: &Value,
) -> Result<Submission, FormError> {
    if pairs.len() > value_budget(campaign) {
        return Err(FormError::TooManyValues);
    }
    let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in pairs {
        if name == CSRF_FIELD || name == ACTION_FIELD {
            continue;
        }
        let field = campaign
            .field(name)
            .filter(|f| is_visible(f))
            .ok_or_else(|| FormError::UnknownField(name.chars().take(64).collect()))?;
        let values = raw.entry(name.clone()).or_default();
        if !values.is_empty() && field.kind != FieldType::MultiSelect {
            return Err(FormError::Repeated(name.clone()));
        }
        values.push(value.clone());
    }

    let mut answers = Map::new();
    let mut problems = BTreeMap::new();
    for field in &campaign.fields {
        let values = raw.get(&field.name);
        let first = values
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty());
        let value = match field.kind {
            FieldType::Hidden => default_value(field, claims).map(|v| match v {
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            }),
            FieldType::Checkbox => Some(Value::Bool(first.is_some_and(truthy))),
            FieldType::MultiSelect => values.map(|vs| {
                Value::Array(
                    vs.iter()
                        .map(|s| s.trim())
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )
            }),
            FieldType::Number => match first {
                None => None,
                Some(text) => match text.replace(',', ".").parse::<f64>() {
                    Ok(n) if n.is_finite() => serde_json::Number::from_f64(n).map(Value::Number),
                    _ => {
                        problems.insert(
                            field.name.clone(),
                            FieldProblem {
                                problem: Problem::Invalid,
                                limit: None,
                            },
                        );
                        None
                    }
                },
            },
            _ => first.map(|s| Value::String(s.to_owned())),
        };
        if let Some(v) = value {
            answers.insert(field.name.clone(), v);
        }
    }
    // Whole numbers stay whole in the JSON (`3`, not `3.0`).
    for v in answers.values_mut() {
        if let Some(f) = v.as_f64()
            && v.is_f64()
        {
            *v = number(f);
        }
    }

    let as_value = Value::Object(answers);
    let mut schema_problems = BTreeMap::new();
    validator.check(&as_value, &mut schema_problems);
    for (k, v) in schema_problems {
        problems.entry(k).or_insert(v);
    }
    let Value::Object(answers) = as_value else {
        return Ok(Submission::default());
    };
    // What a schema cannot say: date ranges.
    for field in campaign.fields.iter().filter(|f| f.kind == FieldType::Date) {
        if problems.contains_key(&field.name) {
            continue;
        }
        let Some(date) = answers
            .get(&field.name)
            .and_then(Value::as_str)
            .and_then(|s| {
                time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
            })
        else {
            continue;
        };
        let problem = match (field.min, field.max) {
            (Some(Bound::Date(min)), _) if date < min => Some((Problem::TooSmall, min.to_string())),
            (_, Some(Bound::Date(max))) if date > max => Some((Problem::TooLarge, max.to_string())),
            _ => None,
        };
        if let Some((problem, limit)) = problem {
            problems.insert(
                field.name.clone(),
                FieldProblem {
                    problem,
                    limit: Some(limit),
                },
            );
        }
    }
    Ok(Submission {
        raw,
        answers,
        problems,
    })
}
