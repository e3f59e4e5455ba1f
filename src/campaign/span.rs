//! Values that remember where in a campaign file they were written.

use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// A line and column in a campaign file, both counted from 1 (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// A deserialized value together with the position of its YAML node.
///
/// The JSON Schema of `Located<T>` is the schema of `T`: the position is not part of the format.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where the value starts in the file.
    pub pos: Pos,
}

impl<T> Located<T> {
    /// A value with no known position (built in code, not read from a file).
    pub fn unplaced(value: T) -> Self {
        Self {
            value,
            pos: Pos::default(),
        }
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let at = spanned.referenced;
        Ok(Self {
            value: spanned.value,
            pos: Pos {
                line: at.line(),
                column: at.column(),
            },
        })
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Marks a serde error message with the position it is really about. serde-saphyr places
/// custom errors at the start of the enclosing map; the loader moves them to this position.
pub(crate) const POSITION_MARK: &str = " \u{27e8}at ";

/// A custom error message that points at `pos` rather than the enclosing map.
pub(crate) fn at(pos: Pos, message: impl std::fmt::Display) -> String {
    format!(
        "{message}{POSITION_MARK}{}:{}\u{27e9}",
        pos.line, pos.column
    )
}

/// Splits a message made by [`at`] into the message and its position.
pub(crate) fn take_position(message: &str) -> (String, Option<Pos>) {
    let Some((text, position)) = message.split_once(POSITION_MARK) else {
        return (message.to_owned(), None);
    };
    let position = position.trim_end_matches('\u{27e9}');
    let pos = position.split_once(':').and_then(|(line, column)| {
        Some(Pos {
            line: line.parse().ok()?,
            column: column.parse().ok()?,
        })
    });
    (text.to_owned(), pos)
}
