//! Claim paths: `app_metadata.plan`, `roles.0`, `['https://acme.com/roles']`.

use std::fmt;

use serde_json::Value;

/// A parsed, well-formed path into the token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
    text: String,
    /// A hash of the segments: a cheap first test when comparing paths.
    key: u64,
}

/// Why a claim path is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing was written.
    #[error("the claim path is empty")]
    Empty,
    /// `a..b`, a leading or trailing dot.
    #[error(
        "the claim path `{0}` has an empty part (two dots in a row, or a dot at the start or end)"
    )]
    EmptySegment(String),
    /// A character that needs quoting.
    #[error("the claim path `{path}` contains `{ch}`; quote such keys like `['{example}']`")]
    BadChar {
        /// The whole path.
        path: String,
        /// The offending character.
        ch: char,
        /// The segment, for the hint.
        example: String,
    },
    /// `['…` without its end.
    #[error("the claim path `{0}` has an unclosed `['`")]
    Unclosed(String),
}

impl ClaimPath {
    /// Parses a dotted path. Plain segments are letters, digits, `_`, `-` and `$`;
    /// anything else (a namespaced claim such as `https://acme.com/roles`) is quoted as `['…']`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.trim().is_empty() {
            return Err(PathError::Empty);
        }
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            if let Some(after) = rest.strip_prefix("['") {
                let end = after
                    .find("']")
                    .ok_or_else(|| PathError::Unclosed(text.to_owned()))?;
                let segment = &after[..end];
                if segment.is_empty() {
                    return Err(PathError::EmptySegment(text.to_owned()));
                }
                segments.push(segment.to_owned());
                rest = &after[end + 2..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let segment = &rest[..end];
                if segment.is_empty() {
                    return Err(PathError::EmptySegment(text.to_owned()));
                }
                if let Some(ch) = segment
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$')))
                {
                    return Err(PathError::BadChar {
                        path: text.to_owned(),
                        ch,
                        example: segment.to_owned(),
                    });
                }
                segments.push(segment.to_owned());
                rest = &rest[end..];
            }
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix('.') {
                if after.is_empty() {
                    return Err(PathError::EmptySegment(text.to_owned()));
                }
                rest = after;
            } else if !rest.starts_with("['") {
                return Err(PathError::Unclosed(text.to_owned()));
            }
        }
        Ok(Self {
            key: key_of(&segments),
            segments,
            text: text.to_owned(),
        })
    }

    /// Whether two paths lead to the same claim (`a.b` and `['a'].b` do).
    pub fn same_claim(&self, other: &ClaimPath) -> bool {
        self.key == other.key && self.segments == other.segments
    }

    /// The value at this path, if every step exists. Numeric segments index arrays.
    pub fn lookup<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut current = root;
        for segment in &self.segments {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// FNV-1a over the segments, each followed by a separator byte.
fn key_of(segments: &[String]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in segments.iter().flat_map(|s| s.bytes().chain([0xff])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_nested_objects_and_arrays() {
        let claims = json!({"app_metadata": {"plan": "pro", "tags": ["a", "b"]},
                            "https://acme.com/roles": ["admin"]});
        let plan = ClaimPath::parse("app_metadata.plan").unwrap();
        assert_eq!(plan.lookup(&claims), Some(&json!("pro")));
        let tag = ClaimPath::parse("app_metadata.tags.1").unwrap();
        assert_eq!(tag.lookup(&claims), Some(&json!("b")));
        let roles = ClaimPath::parse("['https://acme.com/roles'].0").unwrap();
        assert_eq!(roles.lookup(&claims), Some(&json!("admin")));
        let missing = ClaimPath::parse("app_metadata.nope.deeper").unwrap();
        assert_eq!(missing.lookup(&claims), None);
    }

    #[test]
    fn same_claim_compares_segments_not_spelling() {
        let plain = ClaimPath::parse("app_metadata.plan").unwrap();
        let quoted = ClaimPath::parse("['app_metadata'].plan").unwrap();
        assert!(plain.same_claim(&quoted));
        assert!(!plain.same_claim(&ClaimPath::parse("app_metadata.plans").unwrap()));
        assert!(!plain.same_claim(&ClaimPath::parse("app_metadataplan").unwrap()));
        assert!(!plain.same_claim(&ClaimPath::parse("['app_metadata.plan']").unwrap()));
    }

    #[test]
    fn refuses_malformed_paths() {
        assert_eq!(ClaimPath::parse(""), Err(PathError::Empty));
        assert!(matches!(
            ClaimPath::parse("a..b"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            ClaimPath::parse("a."),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            ClaimPath::parse("https://x.com/r"),
            Err(PathError::BadChar { ch: ':', .. })
        ));
        assert!(matches!(
            ClaimPath::parse("['abc"),
            Err(PathError::Unclosed(_))
        ));
    }
}
