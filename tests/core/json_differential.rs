//! The hand-written JSON parser against the serde_json `Visitor` it replaced: on generated
//! documents, mutated documents and every fixture, both accept the same texts with the same
//! trees (numbers bit for bit, strings borrowed or owned alike) and reject the others with
//! the same error (message, line and column). PROPTEST_CASES raises the number of cases.

use crate::json_reference as reference;
use ecr_policy_guard_core::json::{Json, JsonError};
use proptest::prelude::*;
use proptest::sample::Index;
use std::borrow::Cow;

/// Equal trees, stricter than `PartialEq`: numbers of the same kind and bits (so `-0.0` is
/// not `0.0`), strings borrowed in both or owned in both.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Number(x), Json::Number(y)) => {
            (
                x.as_u64(),
                x.as_i64(),
                x.as_f64().map(f64::to_bits),
                x.is_f64(),
            ) == (
                y.as_u64(),
                y.as_i64(),
                y.as_f64().map(f64::to_bits),
                y.is_f64(),
            )
        }
        (Json::String(x), Json::String(y)) => same_str(x, y),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same_str(ka, kb) && same(va, vb))
        }
        _ => false,
    }
}

#[expect(
    clippy::ptr_arg,
    reason = "borrowed or owned is part of what is compared"
)]
fn same_str(a: &Cow<str>, b: &Cow<str>) -> bool {
    a == b && matches!(a, Cow::Borrowed(_)) == matches!(b, Cow::Borrowed(_))
}

fn rendered(e: &JsonError) -> reference::Rendered {
    (e.to_string(), e.line, e.column)
}

/// Both parsers agree on `text`; the message says how they differ.
fn agree(text: &str) -> Result<(), String> {
    let new = Json::parse(text);
    let old = reference::parse(text);
    let fine = match (&new, &old) {
        (Ok(a), Ok(b)) => same(a, b),
        (Err(a), Err(b)) => rendered(a) == *b,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{text:?}\n new: {:?}\n old: {:?}",
            new.map_err(|e| rendered(&e)),
            old
        ))
    }
}

fn check(text: &str) {
    if let Err(diff) = agree(text) {
        panic!("the parsers disagree on {diff}");
    }
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

const WHITESPACE: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n", "  \n  "];

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(WHITESPACE)
}

fn number() -> impl Strategy<Value = String> {
    let shaped = (
        any::<bool>(),
        "(0|[1-9][0-9]{0,24})",
        prop::option::of("[0-9]{1,20}"),
        prop::option::of(("[eE]", "[-+]?", "[0-9]{1,12}")),
    )
        .prop_map(|(minus, int, frac, exp)| {
            let mut s = String::new();
            if minus {
                s.push('-');
            }
            s += &int;
            if let Some(frac) = frac {
                s = s + "." + &frac;
            }
            if let Some((e, sign, digits)) = exp {
                s = s + &e + &sign + &digits;
            }
            s
        });
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        shaped,
        prop::sample::select(
            &[
                "0",
                "-0",
                "-0.0",
                "0e0",
                "1e400",
                "-1e400",
                "1e-400",
                "1E+308",
                "1.7976931348623157e308",
                "1.8e308",
                "4.9e-324",
                "2.2250738585072014e-308",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775808",
                "-9223372036854775809",
                "9999999999999999999",
                "-9999999999999999999",
                "99999999999999999999",
                "123456789012345678901234567890e-10",
                "1e2147483647",
                "1e2147483648",
                "1e-2147483649",
                "0e99999999999",
                "-0e99999999999",
                "1.0e99999999999",
                "0.000000000000000000000000000001e330",
                "18446744073709551616.5e-3",
            ][..]
        )
        .prop_map(str::to_owned),
    ]
}

/// String contents: plain text, non-ASCII, every escape, surrogates paired and lone, and
/// some broken escapes and raw control characters.
const STRING_PIECES: &[&str] = &[
    "\\\"",
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u0041",
    "\\u00e9",
    "\\u20AC",
    "\\uFFFF",
    "\\u0000",
    "\\ud83d\\ude00",
    "\\uD83D\\uDE00",
    "\\uD800",
    "\\uDBFF\\uDFFF",
    "\\uDC00",
    "\\ud800\\u0041",
    "\\ud800\\ud800",
    "\\ud800x",
    "\\ud800\\n",
    "\\u12",
    "\\uZZZZ",
    "\\u00g0",
    "\\x",
    "\\'",
    "é",
    "😀",
    "\u{1}",
    "\t",
    "\u{1f}",
    "\u{7f}",
    "\u{feff}",
];

fn string_literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => "[a-zA-Z0-9 :*/._-]{0,12}",
            2 => prop::sample::select(STRING_PIECES).prop_map(str::to_owned),
        ],
        0..5,
    )
    .prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// Keys from a small pool, so duplicates (plain and escaped spellings) are common.
const KEYS: &[&str] = &[
    "\"a\"",
    "\"b\"",
    "\"\\u0061\"",
    "\"Effect\"",
    "\"Eff\\u0065ct\"",
    "\"Sid\"",
    "\"\"",
    "\"a\\nb\"",
    "\"a\\u000ab\"",
    "\"é\"",
    "\"\\u00e9\"",
    "\"😀\"",
    "\"\\ud83d\\ude00\"",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => string_literal(),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["null", "true", "false"][..]).prop_map(str::to_owned),
        number(),
        string_literal(),
    ]
}

/// A JSON-ish document: valid unless a string piece or number breaks it.
fn document() -> impl Strategy<Value = String> {
    leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec((ws(), inner.clone(), ws()), 0..6).prop_map(|items| {
                let items: Vec<String> = items
                    .into_iter()
                    .map(|(a, v, b)| format!("{a}{v}{b}"))
                    .collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec((ws(), key(), ws(), ws(), inner), 0..6).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(a, k, b, c, v)| format!("{a}{k}{b}:{c}{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// Objects past the linear-scan size, where the set finds the duplicates.
fn large_object() -> impl Strategy<Value = String> {
    prop::collection::vec((0..48usize, any::<bool>()), 10..40).prop_map(|keys| {
        let members: Vec<String> = keys
            .into_iter()
            .map(|(n, escaped)| {
                if escaped {
                    // `k` spelled as an escape: the same key as the plain spelling.
                    format!("\"\\u006b{n}\": {n}")
                } else {
                    format!("\"k{n}\": {n}")
                }
            })
            .collect();
        format!("{{{}}}", members.join(", "))
    })
}

/// Nesting around serde_json's limit, arrays and objects mixed, closed or not.
fn deep() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(any::<bool>(), 120..132),
        prop::sample::select(&["", "1", "[]", "{}", "\"x\"", "[1,", "{\"a\""][..]),
        any::<bool>(),
    )
        .prop_map(|(levels, core, close)| {
            let mut s = String::new();
            for &array in &levels {
                s += if array { "[" } else { "{\"a\":" };
            }
            s += core;
            if close {
                for &array in levels.iter().rev() {
                    s.push(if array { ']' } else { '}' });
                }
            }
            s
        })
}

/// What a mutation may insert or substitute: JSON's structure, string and number syntax,
/// control characters, non-ASCII, escapes and BOMs.
const ALPHABET: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "0", "1", "9", "e", "E", "+", "-", ".", "n", "t",
    "f", "u", "l", "a", "x", " ", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{b}", "é", "😀",
    "\u{feff}", "\u{a0}", "\\u", "\\ud800", "\\udc00", "\\u0041", "null", "true", "false", "1e400",
    "-0", "\"a\":1", "\"a\"", "[[", "]]", "{{", "}}", "/", "#",
];

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Insert(Index, &'static str),
    Delete(Index, usize),
    Replace(Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = || prop::sample::select(ALPHABET);
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), 1..4usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Replace(i, t)),
    ]
}

/// Applies the mutations on characters, so the text stays a `&str`.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let at = |i: &Index, len: usize| i.index(len + 1);
        match m {
            Mutation::Truncate(i) => {
                let n = at(i, chars.len());
                chars.truncate(n);
            }
            Mutation::Insert(i, t) => {
                let n = at(i, chars.len());
                chars.splice(n..n, t.chars());
            }
            Mutation::Delete(i, k) => {
                let n = at(i, chars.len());
                let end = (n + k).min(chars.len());
                chars.drain(n..end);
            }
            Mutation::Replace(i, t) => {
                let n = at(i, chars.len());
                let end = (n + 1).min(chars.len());
                chars.splice(n..end, t.chars());
            }
        }
    }
    chars.into_iter().collect()
}

fn any_document() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => document(),
        1 => large_object(),
        1 => deep(),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn the_parsers_agree_on_documents(text in any_document(), (a, b) in (ws(), ws())) {
        let text = format!("{a}{text}{b}");
        prop_assert!(agree(&text).is_ok(), "{}", agree(&text).unwrap_err());
    }

    #[test]
    fn the_parsers_agree_on_mutated_documents(
        text in any_document(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let text = mutate(&text, &mutations);
        prop_assert!(agree(&text).is_ok(), "{}", agree(&text).unwrap_err());
    }

    #[test]
    fn the_parsers_agree_on_token_soup(
        tokens in prop::collection::vec(prop::sample::select(ALPHABET), 0..24),
    ) {
        let text = tokens.concat();
        prop_assert!(agree(&text).is_ok(), "{}", agree(&text).unwrap_err());
    }
}

#[test]
fn the_depth_limit_is_serde_jsons() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let nested = |n: usize| open.repeat(n) + "0" + &close.repeat(n);
        for n in 120..136 {
            check(&nested(n));
        }
        // 127 levels parse, the 128th is one too many.
        assert!(reference::parse(&nested(127)).is_ok());
        assert!(Json::parse(&nested(127)).is_ok());
        let err = Json::parse(&nested(128)).unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
    }
}

#[test]
fn the_parsers_agree_on_chosen_inputs() {
    let inputs = [
        "",
        " ",
        "\u{feff}{}",
        "\u{feff}",
        "nul",
        "nulL",
        "tru",
        "True",
        "- 1",
        "-",
        "01",
        "-01",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "1ex",
        "[1.]",
        "[1e]",
        "1e400",
        "[1, 1e400]",
        "\n\n  1e99999999999999",
        "[0.1E22000000000]",
        "[0E22000000000]",
        "[-1E-22000000000]",
        "[1E+22000000000,",
        "-0",
        "[-0.0, 0.0]",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\\"",
        "\"\\ud800",
        "\"\\u12\"",
        "\"\\u12",
        "\"\\u00é\"",
        "\"é\\x\"",
        "\"a\nb\"",
        "\"a\u{0}\"",
        "{\"a\":1,\"a\"}",
        "{\"a\":1,\"a\"   }",
        "{\"a\":1,\"a\"  :2}",
        "{\"a\":1,\"\\u0061\":2}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "{,}",
        "[,]",
        "{\"a\":1",
        "{\"a\":",
        "{\"a\"",
        "{\"a",
        "[",
        "{",
        "[1",
        "[1,",
        "{} {}",
        "{}x",
        "Version: \"2012-10-17\"",
        "\n\n  hello",
        "\n  hello\n",
        "x\n{",
        "\n]",
        "{\"a\": tru}",
        "é",
        "😀{}",
    ];
    for text in inputs {
        check(text);
    }
}

/// Every fixture, sample event and fuzz regression, whole and cut short at every tenth char.
#[test]
fn the_parsers_agree_on_every_fixture() {
    let mut count = 0;
    for dir in [
        "tests/fixtures/policies",
        "tests/fixtures/events",
        "events",
        "tests/fixtures/fuzz-regressions/policy_parser",
        "tests/fixtures/fuzz-regressions/event_reader",
    ] {
        let Ok(entries) = std::fs::read_dir(crate::root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let Ok(text) = std::fs::read_to_string(entry.unwrap().path()) else {
                continue;
            };
            check(&text);
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            for &(i, _) in chars.iter().step_by(10) {
                check(&text[..i]);
            }
            count += 1;
        }
    }
    assert!(count > 400, "{count} fixtures");
}
