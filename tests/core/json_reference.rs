//! The JSON parser that src/core/json.rs replaced, kept as the reference the differential
//! test (json_differential.rs) holds the new one to: serde_json's deserializer driving a
//! duplicate-rejecting visitor, and the old translation of its errors into `JsonError`'s
//! text. Unchanged but for its entry point: a `DeserializeSeed`, as a test crate cannot
//! implement `Deserialize` for the library's `Json`.

use ecr_policy_guard_core::json::Json;
use ecr_policy_guard_core::text::tick;
use serde::de::DeserializeSeed;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// An error as the old `JsonError` rendered it: (Display, line, column).
pub type Rendered = (String, usize, usize);

pub fn parse(text: &str) -> Result<Json<'_>, Rendered> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Tree.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| of(text, &e))
}

/// The old `JsonError::of` and `Display`, in one.
fn of(text: &str, error: &serde_json::Error) -> Rendered {
    let at = |shown: String| (shown, error.line(), error.column());
    if text.starts_with('\u{feff}') {
        return (
            "starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it without one".into(),
            0,
            0,
        );
    }
    let start = text.trim_start();
    if start.is_empty() {
        return ("is empty, not a JSON document".into(), 0, 0);
    }
    let message = error.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_owned();
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
        return at(format!(
            "is not JSON: it starts with {}, where a JSON object (`{{`) was expected",
            tick(&head)
        ));
    }
    at(format!(
        "is not valid JSON: {message} at line {} column {}",
        error.line(),
        error.column()
    ))
}

/// `Json`'s old `Deserialize` impl, as a seed.
struct Tree;

impl<'de> DeserializeSeed<'de> for Tree {
    type Value = Json<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

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
        while let Some(item) = seq.next_element_seed(Tree)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
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
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    tick(&key)
                )));
            }
            let value = map.next_value_seed(Tree)?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// An object key, borrowed when it has no escapes.
struct JsonKey<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for JsonKey<'de> {
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
