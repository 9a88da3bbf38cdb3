//! A strict JSON tree: borrowed strings, objects kept in document order, duplicate keys rejected.
//!
//! serde_json's own `Value` silently keeps the last of two duplicate keys; IAM-style
//! documents must reject them instead, because different parsers pick different duplicates
//! and an attacker can hide a grant from one of them.

use crate::text::tick;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// A parsed JSON value whose strings borrow from the input where they contain no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in document order; keys are unique.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Why a text is not a strict JSON document, worded for the person who has to fix it. Its
/// messages read after the thing named: "policy is not JSON: ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    problem: JsonProblem,
    /// 1-based line of the problem (0 where it has no position).
    pub line: usize,
    /// 1-based column of the problem (0 where it has no position).
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum JsonProblem {
    Empty,
    ByteOrderMark,
    /// Not JSON at all (YAML, say): the text as it starts.
    NotJson(String),
    /// JSON with an error: serde_json's message without its position.
    Invalid(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.problem {
            JsonProblem::Empty => f.write_str("is empty, not a JSON document"),
            JsonProblem::ByteOrderMark => f.write_str(
                "starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it without one",
            ),
            JsonProblem::NotJson(start) => write!(
                f,
                "is not JSON: it starts with {}, where a JSON object (`{{`) was expected",
                tick(start)
            ),
            JsonProblem::Invalid(message) => write!(
                f,
                "is not valid JSON: {message} at line {} column {}",
                self.line, self.column
            ),
        }
    }
}

impl JsonError {
    /// The same error placed in a larger file: the text parsed was line `line` of it (JSON
    /// Lines), so line 1 of the text is that line.
    pub fn on_line(mut self, line: usize) -> JsonError {
        if self.line > 0 {
            self.line += line - 1;
        }
        self
    }

    fn of(text: &str, error: &serde_json::Error) -> JsonError {
        let at = |problem| JsonError {
            problem,
            line: error.line(),
            column: error.column(),
        };
        // These two concern the whole text, not a position in it.
        let whole = |problem| JsonError {
            problem,
            line: 0,
            column: 0,
        };
        if text.starts_with('\u{feff}') {
            return whole(JsonProblem::ByteOrderMark);
        }
        let start = text.trim_start();
        if start.is_empty() {
            return whole(JsonProblem::Empty);
        }
        let message = error.to_string();
        // serde_json appends the position; it is kept in the fields and rendered again.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_owned();
        // A document whose very first token is not JSON (YAML, prose): say so plainly.
        let leading = &text[..text.len() - start.len()];
        let first_token = error.classify() == serde_json::error::Category::Syntax
            && error.line() == 1 + leading.matches('\n').count()
            && (message == "expected value" || message == "expected ident")
            && !start.starts_with(['{', '[', '"']);
        if first_token {
            let head: String = start
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(24)
                .collect();
            return at(JsonProblem::NotJson(head));
        }
        at(JsonProblem::Invalid(message))
    }
}

impl<'a> Json<'a> {
    /// Parses a whole document: rejects duplicate keys, trailing data and nesting deeper
    /// than serde_json's recursion limit (128).
    pub fn parse(text: &'a str) -> Result<Json<'a>, JsonError> {
        serde_json::from_str(text).map_err(|e| JsonError::of(text, &e))
    }

    /// The JSON type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The member `key` of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

/// Objects up to this size are checked for duplicates by a linear scan; larger ones by a set,
/// so a hostile object with many keys stays linear.
const LINEAR_SCAN_MAX: usize = 16;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Policy objects rarely have more than 8 members: one allocation, no regrowth.
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        let mut seen: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key::<JsonKey<'de>>()? {
            let key = key.0;
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = members.iter().any(|(k, _)| *k == key);
                    if members.len() >= LINEAR_SCAN_MAX {
                        let mut set: HashSet<_> = members.iter().map(|(k, _)| k.clone()).collect();
                        set.insert(key.clone());
                        seen = Some(set);
                    }
                    dup
                }
            };
            if duplicate {
                // The key is user input: quoted safely, so the error stays one line.
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    tick(&key)
                )));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// An object key, borrowed when it has no escapes.
struct JsonKey<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = JsonKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_document_order_and_borrows() {
        let json = Json::parse(r#"{"b": 1, "a": ["x", "y\n"]}"#).unwrap();
        let members = json.as_object().unwrap();
        assert_eq!(members[0].0, "b");
        assert_eq!(members[1].0, "a");
        let Json::Array(items) = &members[1].1 else {
            panic!("not an array")
        };
        assert!(matches!(&items[0], Json::String(Cow::Borrowed("x"))));
        assert!(matches!(&items[1], Json::String(Cow::Owned(s)) if s == "y\n"));
    }

    #[test]
    fn rejects_duplicates_in_small_and_large_objects() {
        let err = Json::parse(r#"{"a": 1, "a": 2}"#).unwrap_err().to_string();
        assert!(err.contains("duplicate key `a`"), "{err}");
        let mut big: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        big.push("\"k3\": 0".into());
        let err = Json::parse(&format!("{{{}}}", big.join(",")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate key `k3`"), "{err}");
    }

    #[test]
    fn a_duplicate_key_with_a_line_break_still_gives_a_one_line_error() {
        // Found by the event_reader fuzz target.
        let err = Json::parse("{\"a\\nb\": 1, \"a\\nb\": 2}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("is not valid JSON: duplicate key `a\\nb`"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn escaped_and_plain_spellings_of_one_key_are_duplicates() {
        let err = Json::parse(r#"{"Effect": 1, "Eff\u0065ct": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate key `Effect`"), "{err}");
    }

    #[test]
    fn errors_say_plainly_what_is_wrong() {
        let err = |t: &str| Json::parse(t).unwrap_err().to_string();
        assert_eq!(err(""), "is empty, not a JSON document");
        assert_eq!(err("  \n "), "is empty, not a JSON document");
        assert!(err("\u{feff}{}").starts_with("starts with a UTF-8 byte order mark"));
        assert_eq!(
            err("Version: \"2012-10-17\"\nStatement:"),
            "is not JSON: it starts with `Version: \"2012-10-17\"`, where a JSON object (`{`) was expected"
        );
        assert!(err("\n  hello").starts_with("is not JSON: it starts with `hello`"));
        assert_eq!(
            err("{\"a\": tru}"),
            "is not valid JSON: expected ident at line 1 column 10"
        );
        assert!(err("{\"a\": [1,").starts_with("is not valid JSON: EOF while parsing"));
    }

    #[test]
    fn a_json_lines_error_names_the_line_of_the_file() {
        let e = Json::parse("{\"a\": }").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.on_line(4).to_string().ends_with("at line 4 column 7"));
        assert_eq!(Json::parse("").unwrap_err().on_line(4).line, 0);
    }

    #[test]
    fn rejects_trailing_data_and_deep_nesting() {
        assert!(Json::parse("{} {}").is_err());
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        let err = Json::parse(&deep).unwrap_err().to_string();
        assert!(err.contains("recursion limit"), "{err}");
    }
}
