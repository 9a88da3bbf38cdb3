//! A strict JSON tree, parsed by hand: borrowed strings, objects kept in document order,
//! duplicate keys rejected, and every error worded and placed as serde_json words and places it.
//!
//! serde_json's own `Value` silently keeps the last of two duplicate keys; IAM-style
//! documents must reject them instead, because different parsers pick different duplicates
//! and an attacker can hide a grant from one of them. The parser is a recursive descent over
//! the bytes rather than a serde `Visitor` (it used to be one, at a quarter of a batch check's
//! time): each value is built where it is stored, and each array and object is allocated
//! once, at its exact size. It mirrors serde_json's `Deserializer` step for step (same
//! grammar, same checks in the same order, same positions), so messages, fixtures and JSON
//! Lines positions did not change with it; a differential property test against the old
//! visitor (tests/core/json_differential.rs) holds it to that.

use crate::text::tick;
use std::borrow::Cow;
use std::cell::Cell;
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

    #[cold]
    fn of(text: &str, fail: Fail) -> JsonError {
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
        let (line, column) = position(text.as_bytes(), fail.at);
        let at = |problem| JsonError {
            problem,
            line,
            column,
        };
        // A document whose very first token is not JSON (YAML, prose): say so plainly.
        let leading = &text[..text.len() - start.len()];
        let first_token = line == 1 + leading.matches('\n').count()
            && (fail.message == EXPECTED_VALUE || fail.message == EXPECTED_IDENT)
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
        at(JsonProblem::Invalid(fail.message.into_owned()))
    }
}

impl<'a> Json<'a> {
    /// Parses a whole document: rejects duplicate keys, trailing data and nesting deeper
    /// than serde_json's recursion limit (127 levels parse, the 128th is an error).
    pub fn parse(text: &'a str) -> Result<Json<'a>, JsonError> {
        let (mut items, mut members) = STACKS.with(Cell::take);
        // A bottom entry on each stack, so no container starts at 0: `split_off(0)` would
        // hand the stack's whole buffer to the tree and allocate the stack a new one.
        items.push(Json::Null);
        members.push((Cow::Borrowed(""), Json::Null));
        let mut parser = Parser {
            text,
            bytes: text.as_bytes(),
            index: 0,
            remaining_depth: RECURSION_LIMIT,
            items,
            members,
        };
        let parsed = parser.document();
        recycle(parser.items, parser.members);
        parsed.map_err(|fail| JsonError::of(text, *fail))
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

// serde_json's messages, word for word: fixtures and users already know them.
const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const EOF_VALUE: &str = "EOF while parsing a value";
const EXPECTED_COLON: &str = "expected `:`";
const EXPECTED_LIST_COMMA_OR_END: &str = "expected `,` or `]`";
const EXPECTED_OBJECT_COMMA_OR_END: &str = "expected `,` or `}`";
const EXPECTED_IDENT: &str = "expected ident";
const EXPECTED_VALUE: &str = "expected value";
const INVALID_ESCAPE: &str = "invalid escape";
const INVALID_NUMBER: &str = "invalid number";
const NUMBER_OUT_OF_RANGE: &str = "number out of range";
const INVALID_UNICODE: &str = "invalid unicode code point";
const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F) found while parsing a string";
const KEY_MUST_BE_A_STRING: &str = "key must be a string";
const LONE_LEADING_SURROGATE: &str = "lone leading surrogate in hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const TRAILING_CHARACTERS: &str = "trailing characters";
const UNEXPECTED_END_OF_HEX_ESCAPE: &str = "unexpected end of hex escape";
const RECURSION_LIMIT_EXCEEDED: &str = "recursion limit exceeded";

/// serde_json's default: it counts down from 128 on entering an array or object and fails on
/// reaching 0, so 127 nested containers parse and the 128th fails.
const RECURSION_LIMIT: u8 = 128;

/// Objects up to this size are checked for duplicates by a linear scan; larger ones by a set,
/// so a hostile object with many keys stays linear.
const LINEAR_SCAN_MAX: usize = 16;

/// A parse failure: the message, and the byte offset serde_json derives its line and column
/// from (the column is the number of bytes on the line before that offset).
struct Fail {
    message: Cow<'static, str>,
    at: usize,
}

/// Boxed: the `Result` every step returns stays as small as its value.
type Parsed<T> = Result<T, Box<Fail>>;

/// serde_json's line and column of a byte offset: 1-based line, column in bytes, so an offset
/// just after a line break is column 0 of the next line.
fn position(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = bytes.get(..at).unwrap_or(bytes);
    let start_of_line = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before[..start_of_line]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    (line, before.len() - start_of_line)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    index: usize,
    remaining_depth: u8,
    /// The items of the arrays being parsed, innermost last. Each array's items move into a
    /// `Vec` of their own when it closes: one allocation of the exact size, where pushing
    /// onto a fresh `Vec` would grow it two or three times (and serde_json's visitor gave
    /// every object room for 8 members).
    items: Vec<Json<'a>>,
    /// The same for the members of the objects being parsed.
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.index).copied()
    }

    /// serde_json's `error`: a failure at the byte just read.
    #[cold]
    fn error(&self, message: &'static str) -> Box<Fail> {
        Box::new(Fail {
            message: Cow::Borrowed(message),
            at: self.index,
        })
    }

    /// serde_json's `peek_error`: a failure at the byte about to be read.
    #[cold]
    fn peek_error(&self, message: &'static str) -> Box<Fail> {
        Box::new(Fail {
            message: Cow::Borrowed(message),
            at: (self.index + 1).min(self.bytes.len()),
        })
    }

    /// Skips JSON whitespace and returns the next byte, not consumed.
    #[inline]
    fn whitespace(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.index) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.index += 1;
        }
        None
    }

    fn document(&mut self) -> Parsed<Json<'a>> {
        self.value(Item)?;
        match self.whitespace() {
            Some(_) => Err(self.peek_error(TRAILING_CHARACTERS)),
            // The one item above the bottom entry.
            None => Ok(self.items.pop().unwrap_or(Json::Null)),
        }
    }

    /// Parses a value and hands it to `sink`, which builds it in place where it belongs.
    #[inline]
    fn value<S: Sink<'a>>(&mut self, sink: S) -> Parsed<()> {
        let Some(b) = self.whitespace() else {
            return Err(self.peek_error(EOF_VALUE));
        };
        match b {
            b'"' => {
                self.index += 1;
                let s = self.string()?;
                sink.put(self, Json::String(s));
            }
            b'{' => {
                let members = self.object()?;
                sink.put(self, Json::Object(members));
            }
            b'[' => {
                let items = self.array()?;
                sink.put(self, Json::Array(items));
            }
            b'n' => {
                self.index += 1;
                self.ident(b"ull")?;
                sink.put(self, Json::Null);
            }
            b't' => {
                self.index += 1;
                self.ident(b"rue")?;
                sink.put(self, Json::Bool(true));
            }
            b'f' => {
                self.index += 1;
                self.ident(b"alse")?;
                sink.put(self, Json::Bool(false));
            }
            b'-' => {
                self.index += 1;
                let n = self.number(self.index - 1)?;
                sink.put(self, Json::Number(n));
            }
            b'0'..=b'9' => {
                let n = self.number(self.index)?;
                sink.put(self, Json::Number(n));
            }
            _ => return Err(self.peek_error(EXPECTED_VALUE)),
        }
        Ok(())
    }

    /// The rest of `null`, `true` or `false`.
    fn ident(&mut self, rest: &[u8]) -> Parsed<()> {
        for &expected in rest {
            let Some(b) = self.peek() else {
                return Err(self.error(EOF_VALUE));
            };
            self.index += 1;
            if b != expected {
                return Err(self.error(EXPECTED_IDENT));
            }
        }
        Ok(())
    }

    /// Entering an array or object (at its opening byte): serde_json's depth check.
    #[inline]
    fn enter(&mut self) -> Parsed<()> {
        self.remaining_depth -= 1;
        if self.remaining_depth == 0 {
            return Err(self.peek_error(RECURSION_LIMIT_EXCEEDED));
        }
        self.index += 1;
        Ok(())
    }

    fn array(&mut self) -> Parsed<Vec<Json<'a>>> {
        self.enter()?;
        let base = self.items.len();
        let mut first = true;
        loop {
            match self.whitespace() {
                None => return Err(self.peek_error(EOF_LIST)),
                Some(b']') => break,
                Some(_) if first => first = false,
                Some(b',') => {
                    self.index += 1;
                    match self.whitespace() {
                        Some(b']') => return Err(self.peek_error(TRAILING_COMMA)),
                        Some(_) => {}
                        None => return Err(self.peek_error(EOF_VALUE)),
                    }
                }
                Some(_) => return Err(self.peek_error(EXPECTED_LIST_COMMA_OR_END)),
            }
            self.value(Item)?;
        }
        self.index += 1;
        self.remaining_depth += 1;
        Ok(self.items.split_off(base))
    }

    fn object(&mut self) -> Parsed<Vec<(Cow<'a, str>, Json<'a>)>> {
        self.enter()?;
        let base = self.members.len();
        let mut seen: Option<HashSet<Cow<'a, str>>> = None;
        let mut first = true;
        loop {
            match self.whitespace() {
                None => return Err(self.peek_error(EOF_OBJECT)),
                Some(b'}') => break,
                Some(b'"') if first => first = false,
                Some(_) if first => return Err(self.peek_error(KEY_MUST_BE_A_STRING)),
                Some(b',') => {
                    self.index += 1;
                    match self.whitespace() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.peek_error(TRAILING_COMMA)),
                        Some(_) => return Err(self.peek_error(KEY_MUST_BE_A_STRING)),
                        None => return Err(self.peek_error(EOF_VALUE)),
                    }
                }
                Some(_) => return Err(self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)),
            }
            self.index += 1;
            let key = self.string()?;
            let members = &self.members[base..];
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let duplicate = members.iter().any(|(k, _)| *k == key);
                    if members.len() >= LINEAR_SCAN_MAX {
                        let mut set: HashSet<_> = members.iter().map(|(k, _)| k.clone()).collect();
                        set.insert(key.clone());
                        seen = Some(set);
                    }
                    duplicate
                }
            };
            if duplicate {
                return Err(self.duplicate(&key));
            }
            match self.whitespace() {
                Some(b':') => self.index += 1,
                Some(_) => return Err(self.peek_error(EXPECTED_COLON)),
                None => return Err(self.peek_error(EOF_OBJECT)),
            }
            self.value(Member(key))?;
        }
        self.index += 1;
        self.remaining_depth += 1;
        Ok(self.members.split_off(base))
    }

    /// A duplicate key, placed where serde_json places it: serde_json reports it from the
    /// visitor, without a position, and fills in the position after it has looked for the
    /// object's closing `}` (skipping whitespace, consuming the `}` if it is next).
    #[cold]
    fn duplicate(&mut self, key: &str) -> Box<Fail> {
        if self.whitespace() == Some(b'}') {
            self.index += 1;
        }
        // The key is user input: quoted safely, so the error stays one line.
        Box::new(Fail {
            message: Cow::Owned(format!("duplicate key {}", tick(key))),
            at: self.index,
        })
    }

    /// A string, after its opening quote: borrowed from the text unless it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Parsed<Cow<'a, str>> {
        let start = self.index;
        self.index = skip_to_escape(self.bytes, start);
        match self.peek() {
            Some(b'"') => {
                let s = self.slice(start)?;
                self.index += 1;
                Ok(Cow::Borrowed(s))
            }
            Some(b'\\') => self.escaped_string(start).map(Cow::Owned),
            Some(_) => {
                self.index += 1;
                Err(self.error(CONTROL_CHARACTER))
            }
            None => Err(self.error(EOF_STRING)),
        }
    }

    /// The text from `start` to the current byte. Both are always on character boundaries
    /// (just after a quote or an escape, at a quote, backslash or control character); the
    /// check only keeps a broken invariant from panicking.
    #[inline]
    fn slice(&self, start: usize) -> Parsed<&'a str> {
        self.text
            .get(start..self.index)
            .ok_or_else(|| self.error(INVALID_UNICODE))
    }

    /// The rest of a string whose first escape is at the current byte.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Parsed<String> {
        let mut out = String::with_capacity(self.index - start + 16);
        let mut start = start;
        loop {
            // At a backslash.
            out.push_str(self.slice(start)?);
            self.index += 1;
            self.escape(&mut out)?;
            start = self.index;
            self.index = skip_to_escape(self.bytes, start);
            match self.peek() {
                Some(b'"') => {
                    out.push_str(self.slice(start)?);
                    self.index += 1;
                    return Ok(out);
                }
                Some(b'\\') => {}
                Some(_) => {
                    self.index += 1;
                    return Err(self.error(CONTROL_CHARACTER));
                }
                None => return Err(self.error(EOF_STRING)),
            }
        }
    }

    /// One escape, after its backslash.
    fn escape(&mut self, out: &mut String) -> Parsed<()> {
        let Some(b) = self.peek() else {
            return Err(self.error(EOF_STRING));
        };
        self.index += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return Err(self.error(INVALID_ESCAPE)),
        };
        out.push(c);
        Ok(())
    }

    /// A `\uXXXX` escape after its `u`, with the second half of a surrogate pair. Lone
    /// surrogates fail as they do in serde_json (which calls a lone trailing one "leading").
    fn unicode_escape(&mut self) -> Parsed<char> {
        let n = self.hex4()?;
        let code = match n {
            0xDC00..=0xDFFF => return Err(self.error(LONE_LEADING_SURROGATE)),
            0xD800..=0xDBFF => {
                for expected in [b'\\', b'u'] {
                    let Some(b) = self.peek() else {
                        return Err(self.error(EOF_STRING));
                    };
                    self.index += 1;
                    if b != expected {
                        return Err(self.error(UNEXPECTED_END_OF_HEX_ESCAPE));
                    }
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error(LONE_LEADING_SURROGATE));
                }
                (((u32::from(n) - 0xD800) << 10) | (u32::from(low) - 0xDC00)) + 0x1_0000
            }
            _ => u32::from(n),
        };
        // Surrogates were handled above, so every code here is a character.
        char::from_u32(code).ok_or_else(|| self.error(INVALID_UNICODE))
    }

    /// Four hex digits. Like serde_json, it consumes all four before judging them, and
    /// reaching the end of the text first is an unterminated string.
    fn hex4(&mut self) -> Parsed<u16> {
        let Some(digits) = self.bytes.get(self.index..self.index + 4) else {
            self.index = self.bytes.len();
            return Err(self.error(EOF_STRING));
        };
        self.index += 4;
        let mut n: u16 = 0;
        for &d in digits {
            let Some(v) = char::from(d).to_digit(16) else {
                return Err(self.error(INVALID_ESCAPE));
            };
            n = (n << 4) | v as u16;
        }
        Ok(n)
    }

    /// A number from `start` (its `-` or first digit); the current byte is its first digit.
    /// The syntax is checked here, with serde_json's errors at serde_json's positions;
    /// integers that fit are converted here too, and the rest (fractions, exponents, huge or
    /// negative-zero integers) by serde_json itself, so every float is the very same `f64`
    /// and "number out of range" falls where serde_json finds it.
    fn number(&mut self, start: usize) -> Parsed<serde_json::Number> {
        let digits = self.index;
        let Some(first) = self.peek() else {
            return Err(self.error(EOF_VALUE));
        };
        self.index += 1;
        match first {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.peek_error(INVALID_NUMBER));
                }
            }
            b'1'..=b'9' => self.skip_digits(),
            _ => return Err(self.error(INVALID_NUMBER)),
        }
        let integer_end = self.index;
        if self.peek() == Some(b'.') {
            self.index += 1;
            match self.peek() {
                Some(b'0'..=b'9') => self.skip_digits(),
                Some(_) => return Err(self.peek_error(INVALID_NUMBER)),
                None => return Err(self.peek_error(EOF_VALUE)),
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            let mantissa = &self.bytes[digits..self.index];
            self.index += 1;
            let positive_exponent = match self.peek() {
                Some(b'-') => {
                    self.index += 1;
                    false
                }
                Some(b'+') => {
                    self.index += 1;
                    true
                }
                _ => true,
            };
            let Some(b) = self.peek() else {
                return Err(self.error(EOF_VALUE));
            };
            self.index += 1;
            if !b.is_ascii_digit() {
                return Err(self.error(INVALID_NUMBER));
            }
            // serde_json stops at the exponent digit that overflows an i32: "number out of
            // range" right there, unless the number is zero or the exponent negative (then
            // it is ±0, as serde_json's parser also finds for the whole token below). Done
            // here because that parser, handed the whole token, would blame the digits
            // after that one ("invalid number", a column further on).
            let mut exponent = i32::from(b - b'0');
            while let Some(d @ b'0'..=b'9') = self.peek() {
                self.index += 1;
                let d = i32::from(d - b'0');
                if exponent >= i32::MAX / 10 && (exponent > i32::MAX / 10 || d > i32::MAX % 10) {
                    let zero = mantissa.iter().all(|&b| b == b'0' || b == b'.');
                    if positive_exponent && !zero {
                        return Err(self.error(NUMBER_OUT_OF_RANGE));
                    }
                    self.skip_digits();
                    break;
                }
                exponent = exponent * 10 + d;
            }
        }
        // Up to 19 digits always fit a u64.
        if self.index == integer_end && integer_end - digits <= 19 {
            let mut n: u64 = 0;
            for &d in &self.bytes[digits..integer_end] {
                n = n * 10 + u64::from(d - b'0');
            }
            if start == digits {
                return Ok(n.into());
            }
            // serde_json's own test: a negative that fits an i64, except -0 (a float).
            let negative = (n as i64).wrapping_neg();
            if negative < 0 {
                return Ok(negative.into());
            }
        }
        let token = self.text.get(start..self.index).unwrap_or_default();
        token.parse::<serde_json::Number>().map_err(|e| {
            // The token is one line, so serde_json's column is the offset in it.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            Box::new(Fail {
                message: Cow::Owned(message),
                at: start + e.column(),
            })
        })
    }

    #[inline]
    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.index += 1;
        }
    }
}

/// The parser's stacks, kept empty between parses on each thread: a batch parses thousands of
/// small documents, and growing new stacks for each was a tenth of the work.
type Stacks = (Vec<Json<'static>>, Vec<(Cow<'static, str>, Json<'static>)>);

thread_local! {
    static STACKS: Cell<Stacks> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// Stacks past this many entries (a huge document's) are freed rather than kept.
const KEPT_STACK_MAX: usize = 1024;

/// Empties the stacks and keeps their buffers for the next parse on this thread. Collecting
/// an empty `Vec` into a `Vec` of a type of the same size reuses its buffer: that is how the
/// text's lifetime is dropped from the type without `unsafe` (were it to allocate instead,
/// the next parse would only grow its stacks again).
fn recycle(mut items: Vec<Json<'_>>, mut members: Vec<(Cow<'_, str>, Json<'_>)>) {
    if items.capacity() > KEPT_STACK_MAX || members.capacity() > KEPT_STACK_MAX {
        return;
    }
    items.clear();
    members.clear();
    let items = items.into_iter().map(|_| Json::Null).collect();
    let members = members
        .into_iter()
        .map(|_| (Cow::Borrowed(""), Json::Null))
        .collect();
    STACKS.with(|stacks| stacks.set((items, members)));
}

/// Where a parsed value goes. Each kind builds the value in place at its destination: moving
/// a `Json` through a `Result` copies it in odd-sized pieces that the processor cannot
/// forward to the next read, which cost more than the parsing around it.
trait Sink<'a> {
    fn put(self, parser: &mut Parser<'a>, value: Json<'a>);
}

/// An array item (or the document itself): onto the item stack.
struct Item;

impl<'a> Sink<'a> for Item {
    #[inline]
    fn put(self, parser: &mut Parser<'a>, value: Json<'a>) {
        parser.items.push(value);
    }
}

/// An object member's value, with its key: onto the member stack.
struct Member<'a>(Cow<'a, str>);

impl<'a> Sink<'a> for Member<'a> {
    #[inline]
    fn put(self, parser: &mut Parser<'a>, value: Json<'a>) {
        parser.members.push((self.0, value));
    }
}

/// The offset of the first byte from `i` that ends a run of plain string bytes: a quote, a
/// backslash or a control character (or the end of the text). Eight bytes at a time, with
/// the bit tricks serde_json uses (a byte's high bit marks a match; the lowest marked byte
/// is exact because borrows only run upwards).
#[inline]
fn skip_to_escape(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let v = u64::from_le_bytes(chunk);
        let control = v.wrapping_sub(ONES * 0x20) & !v;
        let quote = (v ^ QUOTES).wrapping_sub(ONES) & !(v ^ QUOTES);
        let backslash = (v ^ BACKSLASHES).wrapping_sub(ONES) & !(v ^ BACKSLASHES);
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
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
    fn the_stacks_are_kept_between_parses() {
        Json::parse(r#"{"a": [1, 2, {"b": 3}]}"#).unwrap();
        let (items, members) = STACKS.with(Cell::take);
        assert!(items.is_empty() && members.is_empty());
        // The buffers themselves were kept (see `recycle`).
        assert!(items.capacity() > 0 && members.capacity() > 0);
    }

    #[test]
    fn rejects_trailing_data_and_deep_nesting() {
        assert!(Json::parse("{} {}").is_err());
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        let err = Json::parse(&deep).unwrap_err().to_string();
        assert!(err.contains("recursion limit"), "{err}");
    }
}
