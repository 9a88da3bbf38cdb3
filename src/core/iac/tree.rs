//! Templates and plans as one tree whose every node knows its line: YAML through saphyr-parser's
//! event stream (short-form intrinsics such as `!Sub` become their long form, `{"Fn::Sub": ...}`,
//! on the tag's line), JSON through the strict reader (duplicate keys rejected) and a scan of the
//! same text for the line each value starts on.

use crate::json::Json;
use crate::text::tick;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::collections::HashSet;
use std::fmt;

/// One value of a template or plan, and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    /// For a YAML literal block scalar (`|`, whose `line` is that of its first line of text): line
    /// `k` of the string (1-based) is file line `line + k - 1`, so a JSON policy written that way
    /// can be located statement by statement.
    pub literal: bool,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    /// Members in document order; keys are unique.
    Map(Vec<(String, Node)>),
}

/// Why a file is not a readable template or plan: the line, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", at_line(*.line))]
pub struct TreeError {
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub problem: String,
}

fn at_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

impl Node {
    pub fn new(line: usize, value: Value) -> Node {
        Node {
            line,
            literal: false,
            value,
        }
    }

    /// The member `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(members) => Some(members),
            _ => None,
        }
    }

    /// The type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    /// The value as JSON (what CloudFormation sends, and what `Policy::parse` reads).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The file line of line `k` (1-based) of this string's text: exact for a literal block,
    /// else the string's own line.
    pub fn line_in_text(&self, k: usize) -> usize {
        if self.literal {
            self.line + k.saturating_sub(1)
        } else {
            self.line
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(&tick(s)),
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            other => f.write_str(Node::new(0, other.clone()).kind()),
        }
    }
}

/// Reads a JSON file strictly (as policies are read) into a tree with lines.
pub fn from_json_text(text: &str) -> Result<Node, TreeError> {
    let json = Json::parse(text).map_err(|e| TreeError {
        line: e.line,
        problem: format!("the file {e}"),
    })?;
    let lines = value_lines(text);
    let mut next = lines.iter().copied();
    Ok(from_json(&json, &mut next))
}

fn from_json(json: &Json, lines: &mut impl Iterator<Item = usize>) -> Node {
    let line = lines.next().unwrap_or(0);
    let value = match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.clone()),
        Json::String(s) => Value::String(s.to_string()),
        Json::Array(items) => Value::Seq(items.iter().map(|i| from_json(i, lines)).collect()),
        Json::Object(members) => Value::Map(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), from_json(v, lines)))
                .collect(),
        ),
    };
    Node::new(line, value)
}

/// The line each value of a JSON text starts on, in document order (a value before its
/// members and items). The text is valid JSON already ([`Json::parse`] said so), so this scan
/// only needs to tell strings and structure apart.
pub fn value_lines(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut line = 1;
    // Whether the next value starts a new entry: after `[`, `,` in an array, or `:`.
    let mut expect_value = true;
    // Per open bracket: is it an array (its items are values; an object's keys are not)?
    let mut stack: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b' ' | b'\t' | b'\r' => {}
            b'{' | b'[' => {
                lines.push(line);
                stack.push(bytes[i] == b'[');
                expect_value = bytes[i] == b'[';
            }
            b'}' | b']' => {
                stack.pop();
                expect_value = false;
            }
            b',' => expect_value = stack.last().copied().unwrap_or(false),
            b':' => expect_value = true,
            b'"' => {
                if expect_value {
                    lines.push(line);
                }
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                expect_value = false;
            }
            _ => {
                // A number or a literal: one value, up to the next delimiter.
                lines.push(line);
                while i + 1 < bytes.len()
                    && !matches!(
                        bytes[i + 1],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
                    )
                {
                    i += 1;
                }
                expect_value = false;
            }
        }
        i += 1;
    }
    lines
}

/// Reads a YAML template as CloudFormation does: one document, plain scalars resolved as
/// YAML 1.1 (`yes`/`no`/`on`/`off` are booleans, `0123` is octal), the short-form intrinsic
/// tags turned into their long form; aliases, merge keys and other tags are refused, as
/// CloudFormation refuses them. Duplicate keys are refused too.
pub fn from_yaml_text(text: &str) -> Result<Node, TreeError> {
    let mut reader = YamlReader {
        parser: Parser::new_from_str(text),
        peeked: None,
    };
    let mut root = None;
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(TreeError {
                        line: span.start.line(),
                        problem: "a template is one YAML document; this is a second".into(),
                    });
                }
                let (event, span) = reader.next()?;
                if matches!(event, Event::DocumentEnd) {
                    root = Some(Node::new(span.start.line(), Value::Null));
                } else {
                    root = Some(reader.node(event, span, 0)?);
                }
            }
            Event::StreamEnd => break,
            _ => {
                return Err(TreeError {
                    line: span.start.line(),
                    problem: "unexpected YAML structure".into(),
                });
            }
        }
    }
    Ok(root.unwrap_or_else(|| Node::new(0, Value::Null)))
}

/// Nesting deeper than this is refused (as JSON is refused past 128).
const MAX_DEPTH: usize = 128;
/// Mappings with fewer keys than this are searched for a duplicate; larger ones use a set.
const SCAN_KEYS: usize = 16;

struct YamlReader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    peeked: Option<(Event<'a>, Span)>,
}

impl<'a> YamlReader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), TreeError> {
        if let Some(peeked) = self.peeked.take() {
            return Ok(peeked);
        }
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(TreeError {
                line: e.marker().line(),
                problem: format!("the file is not valid YAML: {}", e.info()),
            }),
            None => Err(TreeError {
                line: 0,
                problem: "the file ends in the middle of a YAML document".into(),
            }),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, TreeError> {
        let line = span.start.line();
        let fail = |problem: String| TreeError { line, problem };
        if depth > MAX_DEPTH {
            return Err(fail(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let (node, tag) = match event {
            Event::Scalar(text, style, _, tag) => {
                let forced_string = tag.as_deref().is_some_and(|t| t.is_yaml_core_schema());
                let mut node = Node::new(line, scalar(&text, style, tag.as_deref()).map_err(fail)?);
                if style == ScalarStyle::Literal {
                    // The span starts at the first line with text; empty lines before it are
                    // lines of the string too.
                    node.literal = true;
                    let empty = text.bytes().take_while(|&b| b == b'\n').count();
                    node.line = line.saturating_sub(empty);
                }
                let tag = tag.filter(|_| !forced_string);
                (node, tag)
            }
            Event::SequenceStart(_, tag) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (Node::new(line, Value::Seq(items)), tag)
            }
            Event::MappingStart(_, tag) => {
                let mut members: Vec<(String, Node)> = Vec::new();
                // Past a few keys, duplicates are looked up in a set: a scan of the members
                // for each key was quadratic (200,000 keys took over 30 s).
                let mut seen: Option<HashSet<String>> = None;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key_line = span.start.line();
                    let key = match self.node(event, span, depth + 1)?.value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(TreeError {
                                line: key_line,
                                problem: format!("a key must be a string, found {other}"),
                            });
                        }
                    };
                    if key == "<<" {
                        return Err(TreeError {
                            line: key_line,
                            problem: "YAML merge keys (`<<`) are not supported by CloudFormation"
                                .into(),
                        });
                    }
                    let duplicate = match &mut seen {
                        Some(seen) => !seen.insert(key.clone()),
                        None if members.len() < SCAN_KEYS => members.iter().any(|(k, _)| *k == key),
                        None => {
                            let mut set: HashSet<String> =
                                members.iter().map(|(k, _)| k.clone()).collect();
                            let duplicate = !set.insert(key.clone());
                            seen = Some(set);
                            duplicate
                        }
                    };
                    if duplicate {
                        return Err(TreeError {
                            line: key_line,
                            problem: format!("duplicate key {}", tick(&key)),
                        });
                    }
                    let (event, span) = self.next()?;
                    members.push((key, self.node(event, span, depth + 1)?));
                }
                (Node::new(line, Value::Map(members)), tag)
            }
            Event::Alias(_) => {
                return Err(fail(
                    "YAML aliases (`*name`) are not supported by CloudFormation".into(),
                ));
            }
            _ => return Err(fail("unexpected YAML structure".into())),
        };
        match tag {
            None => Ok(node),
            Some(tag) if tag.is_yaml_core_schema() => Ok(node),
            Some(tag) => intrinsic(&tag, node).map_err(fail),
        }
    }
}

/// The short-form tags of CloudFormation's intrinsic functions.
const SHORT_FORMS: [&str; 20] = [
    "Ref",
    "Condition",
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "If",
    "Equals",
    "And",
    "Or",
    "Not",
    "ToJsonString",
    "Length",
];

/// `!Name value` as `{"Fn::Name": value}` (`Ref` and `Condition` keep their names); `!GetAtt
/// A.B` splits at the first dot, as CloudFormation does.
fn intrinsic(tag: &Tag, node: Node) -> Result<Node, String> {
    let name = tag.suffix.as_str();
    if tag.handle != "!" || !SHORT_FORMS.contains(&name) {
        return Err(format!(
            "unknown tag {}: CloudFormation knows only its intrinsic functions (`!Ref`, `!Sub`, `!GetAtt`, ...)",
            tick(&format!("{}{}", tag.handle, tag.suffix))
        ));
    }
    let line = node.line;
    let key = match name {
        "Ref" | "Condition" => name.to_owned(),
        _ => format!("Fn::{name}"),
    };
    let value = match (name, &node.value) {
        ("GetAtt", Value::String(s)) => match s.split_once('.') {
            Some((resource, attribute)) => Node::new(
                line,
                Value::Seq(vec![
                    Node::new(line, Value::String(resource.to_owned())),
                    Node::new(line, Value::String(attribute.to_owned())),
                ]),
            ),
            None => return Err(format!("`!GetAtt {s}` needs `Resource.Attribute`")),
        },
        _ => node,
    };
    Ok(Node::new(line, Value::Map(vec![(key, value)])))
}

/// A scalar's value: quoted and block scalars are strings; plain ones resolve as YAML 1.1.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag.filter(|t| t.is_yaml_core_schema()) {
        return match tag.suffix.as_str() {
            "str" => Ok(Value::String(text.to_owned())),
            _ => plain(text)
                .ok_or_else(|| format!("{} is not a valid `!!{}`", tick(text), tag.suffix)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    Ok(plain(text).unwrap_or_else(|| Value::String(text.to_owned())))
}

/// The YAML 1.1 types of a plain scalar: null, booleans, integers (decimal, `0` octal, `0x`
/// hex, `_` separators) and floats; `None` for a string.
fn plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Some(Value::Bool(true));
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Some(Value::Bool(false));
        }
        _ => {}
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let integer = if let Some(hex) = clean.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if let Some(binary) = clean.strip_prefix("0b") {
        i128::from_str_radix(binary, 2).ok()
    } else if clean.len() > 1 && clean.starts_with('0') {
        // YAML 1.1 octal; with an 8 or a 9 it is no number at all, so a string.
        i128::from_str_radix(&clean[1..], 8).ok()
    } else if !clean.is_empty() && clean.bytes().all(|b| b.is_ascii_digit()) {
        clean.parse::<i128>().ok()
    } else {
        None
    };
    if let Some(n) = integer {
        let n = if negative { -n } else { n };
        return i64::try_from(n)
            .ok()
            .map(serde_json::Number::from)
            .or_else(|| u64::try_from(n).ok().map(serde_json::Number::from))
            .map(Value::Number);
    }
    let float_like = !clean.is_empty()
        && clean.contains('.')
        && clean
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && clean
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if float_like {
        let value: f64 = text.replace('_', "").parse().ok()?;
        return serde_json::Number::from_f64(value).map(Value::Number);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        from_yaml_text(text).unwrap()
    }

    #[test]
    fn json_values_carry_their_lines() {
        let node = from_json_text(
            "{\n  \"a\": [\n    1,\n    {\"b\": \"x\\\"y\"}\n  ],\n  \"c\": true\n}",
        )
        .unwrap();
        assert_eq!(node.line, 1);
        let a = node.get("a").unwrap();
        assert_eq!(a.line, 2);
        let Value::Seq(items) = &a.value else {
            panic!()
        };
        assert_eq!((items[0].line, items[1].line), (3, 4));
        assert_eq!(items[1].get("b").unwrap().as_str(), Some("x\"y"));
        assert_eq!(node.get("c").unwrap().line, 6);
    }

    #[test]
    fn json_duplicate_keys_are_refused_with_their_line() {
        let err = from_json_text("{\n\"a\": 1,\n\"a\": 2}").unwrap_err();
        assert!(err.to_string().contains("duplicate key `a`"), "{err}");
        assert_eq!(err.line, 3);
    }

    #[test]
    fn short_forms_become_long_forms_on_their_line() {
        let node = yaml(
            "A:\n  B: !Sub '${AWS::AccountId}'\n  C: !GetAtt Role.Arn\n  D: !If\n    - Cond\n    - x\n    - y\n",
        );
        let b = node.get("A").unwrap().get("B").unwrap();
        assert_eq!(b.line, 2);
        assert_eq!(
            b.get("Fn::Sub").unwrap().as_str(),
            Some("${AWS::AccountId}")
        );
        let c = node.get("A").unwrap().get("C").unwrap();
        assert_eq!(
            c.get("Fn::GetAtt").unwrap().to_json(),
            serde_json::json!(["Role", "Arn"])
        );
        let d = node.get("A").unwrap().get("D").unwrap();
        assert_eq!(d.line, 4);
        assert_eq!(
            d.get("Fn::If").unwrap().to_json(),
            serde_json::json!(["Cond", "x", "y"])
        );
    }

    #[test]
    fn plain_scalars_resolve_as_yaml_1_1() {
        let node = yaml(
            "a: 2012-10-17\nb: yes\nc: '123'\nd: 123\ne: 012345678901\nf: 0777\ng: ~\nh: 1.5\ni: !!str 12\n",
        );
        let j = node.to_json();
        assert_eq!(j["a"], "2012-10-17");
        assert_eq!(j["b"], true);
        assert_eq!(j["c"], "123");
        assert_eq!(j["d"], 123);
        assert_eq!(j["e"], "012345678901", "an 8 or 9 makes it no octal number");
        assert_eq!(j["f"], 511);
        assert!(j["g"].is_null());
        assert_eq!(j["h"], 1.5);
        assert_eq!(j["i"], "12");
    }

    #[test]
    fn refuses_what_cloudformation_refuses() {
        let err = |t: &str| from_yaml_text(t).unwrap_err().to_string();
        assert!(err("a: &x 1\nb: *x\n").contains("aliases"));
        assert!(err("a: 1\na: 2\n").starts_with("line 2: duplicate key `a`"));
        assert!(err("a: !Foo x\n").contains("unknown tag `!Foo`"));
        assert!(err("a: [1\n").contains("not valid YAML"));
        assert!(err("a: 1\n---\nb: 2\n").contains("one YAML document"));
        assert!(err("<<: {a: 1}\n").contains("merge keys"));
    }

    #[test]
    fn a_literal_block_knows_the_lines_of_its_text() {
        let node = yaml("P: |\n  {\n    \"Statement\": []\n  }\nQ: |\n\n  {\n  }\n");
        let p = node.get("P").unwrap();
        assert!(p.literal, "{p:?}");
        assert_eq!((p.line, p.line_in_text(2)), (2, 3));
        // A leading empty line is text too.
        let q = node.get("Q").unwrap();
        assert_eq!(q.as_str(), Some("\n{\n}\n"));
        assert_eq!(q.line_in_text(2), 7);
    }
}
