//! ECR's stored copy of a policy: a printer with the layout ECR's copies have, the bound on
//! their length held over generated policies, and the long copies judged.
//!
//! ECR returns what it stored re-serialized (`responseElements.policyText`,
//! `GetRepositoryPolicy`), laid out as Jackson's `DefaultPrettyPrinter` lays JSON out: `" : "`
//! between key and value, each object member on its own line indented two spaces per object
//! level, arrays on one line as `[ a, b ]`, empty containers as `{ }` and `[ ]` (the AWS SDK for
//! JavaScript's `GetRepositoryPolicyCommand` example shows ECR's output so). Whether ECR escapes
//! non-ASCII characters is not documented; the printer can, which is the longer case.

use ecr_policy_guard_core::policy::{MAX_POLICY_CHARS, MAX_STORED_POLICY_CHARS, PolicyCopy};
use ecr_policy_guard_core::{Owner, Policy, PolicyError, RuleConfig};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::fmt::Write;

/// `value` as ECR stores it; `escape_non_ascii` writes every character beyond ASCII as
/// `\uXXXX` (two escapes outside the Basic Multilingual Plane).
pub fn ecr_pretty(value: &Value, escape_non_ascii: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0, escape_non_ascii);
    out
}

fn write_value(out: &mut String, value: &Value, level: usize, escape: bool) {
    match value {
        Value::Object(members) if members.is_empty() => out.push_str("{ }"),
        Value::Object(members) => {
            out.push('{');
            for (i, (key, member)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&"  ".repeat(level + 1));
                write_string(out, key, escape);
                out.push_str(" : ");
                write_value(out, member, level + 1, escape);
            }
            out.push('\n');
            out.push_str(&"  ".repeat(level));
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // Arrays do not indent: an object inside one is at the array's level.
                write_value(out, item, level, escape);
            }
            out.push_str(" ]");
        }
        Value::String(s) => write_string(out, s, escape),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, s: &str, escape: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (escape && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04X}").unwrap();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A policy as compact text.
fn compact(value: &Value) -> String {
    value.to_string()
}

/// The shapes that lengthen most when pretty-printed, with `n` filler items: tiny condition
/// keys four objects deep (`"kN":0`, the shortest a member can be written), long lists of
/// one-digit values, and a Sid of characters outside the Basic Multilingual Plane.
fn build(shape: usize, n: usize) -> Value {
    let mut condition = serde_json::Map::new();
    let mut sid = "S".to_owned();
    match shape % 3 {
        0 => {
            for i in 0..n {
                condition.insert(format!("k{i}"), json!(0));
            }
        }
        1 => {
            let values: Vec<Value> = (0..n).map(|i| json!(i % 10)).collect();
            condition.insert("aws:SourceVpce".into(), Value::Array(values));
        }
        _ => sid.extend(std::iter::repeat_n('\u{1F433}', n)),
    }
    if condition.is_empty() {
        condition.insert("k".into(), json!(1));
    }
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
         "Action": "ecr:BatchGetImage", "Condition": {"StringEquals": condition}},
        {"Effect": "Deny", "Principal": "*", "Action": "ecr:*",
         "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app"}}}]})
}

/// The most filler items of a shape whose compact text is within ECR's limit on what a
/// caller sends (a binary search: the length grows with `n`).
fn most(shape: usize) -> usize {
    let fits = |n: usize| compact(&build(shape, n)).chars().count() <= MAX_POLICY_CHARS;
    let (mut lo, mut hi) = (0, MAX_POLICY_CHARS);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// A shape filled up to the caller's limit.
fn filled(shape: usize) -> Value {
    build(shape, most(shape))
}

/// The violations of a text read as a given copy.
fn verdict(text: &str, copy: PolicyCopy) -> Result<usize, PolicyError> {
    let policy = match copy {
        PolicyCopy::Caller => Policy::parse(text)?,
        PolicyCopy::Stored => Policy::parse_stored(text)?,
    };
    Ok(RuleConfig::default()
        .check(&policy, Owner::Account("123456789012"))
        .len())
}

#[test]
fn the_printer_lays_out_what_ecr_returns() {
    // The stored copy of events/set-policy-cross-account-root.json, as ECR wrote it.
    let caller = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":["123456789012","210987654321"]}}}]}"#;
    let value: Value = serde_json::from_str(caller).unwrap();
    assert_eq!(
        ecr_pretty(&value, false),
        "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"A\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::210987654321:root\"\n    },\n    \"Action\" : [ \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n  }, {\n    \"Effect\" : \"Deny\",\n    \"Principal\" : \"*\",\n    \"Action\" : \"ecr:*\",\n    \"Condition\" : {\n      \"StringNotEquals\" : {\n        \"aws:PrincipalAccount\" : [ \"123456789012\", \"210987654321\" ]\n      }\n    }\n  } ]\n}"
    );
    assert_eq!(
        ecr_pretty(&json!({"a": "é🐳", "b": {}, "c": []}), true),
        "{\n  \"a\" : \"\\u00E9\\uD83D\\uDC33\",\n  \"b\" : { },\n  \"c\" : [ ]\n}"
    );
}

#[test]
fn each_worst_shape_fills_the_callers_limit_and_its_stored_copy_stays_within_the_bound() {
    for shape in 0..3 {
        let policy = filled(shape);
        let caller = compact(&policy);
        let chars = caller.chars().count();
        assert!(
            chars > MAX_POLICY_CHARS - 40,
            "shape {shape} fills only {chars} characters"
        );
        let stored = ecr_pretty(&policy, true);
        let stored_chars = stored.chars().count();
        assert!(
            stored_chars > MAX_POLICY_CHARS,
            "shape {shape}: the stored copy ({stored_chars}) should exceed the caller's limit"
        );
        assert!(
            stored_chars <= MAX_STORED_POLICY_CHARS,
            "shape {shape}: {stored_chars} characters"
        );
        // What the caller's limit refuses, the stored copy's bound reads.
        assert!(matches!(
            Policy::parse(&stored),
            Err(PolicyError::TooLong { .. })
        ));
        assert_eq!(
            verdict(&stored, PolicyCopy::Stored).unwrap(),
            verdict(&caller, PolicyCopy::Caller).unwrap()
        );
    }
}

#[test]
fn a_stored_copy_beyond_any_that_ecr_makes_is_refused_with_one_line() {
    let policy = filled(0);
    let mut stored = ecr_pretty(&policy, true);
    // Pad inside the first statement's Sid until past the bound.
    let pad = "x".repeat(MAX_STORED_POLICY_CHARS);
    stored = stored.replacen("\"Sid\" : \"S\"", &format!("\"Sid\" : \"S{pad}\""), 1);
    let err = Policy::parse_stored(&stored).unwrap_err().to_string();
    assert!(
        err.starts_with("ECR's stored copy of the policy is ")
            && err.contains(&format!("longer than {MAX_STORED_POLICY_CHARS}")),
        "{err}"
    );
    assert!(!err.contains('\n'));
    // The caller's limit keeps its message.
    assert!(
        Policy::parse(&"x".repeat(MAX_POLICY_CHARS + 1))
            .unwrap_err()
            .to_string()
            .contains("ECR's limit is 10240")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any valid policy within the caller's limit, as ECR would store it (non-ASCII escaped
    /// or not), is within the stored copy's bound, parses as the stored copy and breaks the
    /// same rules.
    #[test]
    fn ecrs_copy_of_any_valid_policy_is_read_and_judged_alike(
        shape in 0usize..3,
        percent in 1usize..=100,
        escape in any::<bool>(),
    ) {
        // Every size up to the limit: `percent` of the most filler that fits.
        let n = (most(shape) * percent).div_ceil(100);
        let policy = build(shape, n);
        let caller = compact(&policy);
        prop_assert!(Policy::parse(&caller).is_ok(), "{}", caller);
        let stored = ecr_pretty(&policy, escape);
        prop_assert!(stored.chars().count() <= MAX_STORED_POLICY_CHARS);
        prop_assert_eq!(
            verdict(&stored, PolicyCopy::Stored).unwrap(),
            verdict(&caller, PolicyCopy::Caller).unwrap()
        );
    }

    /// The same over the realistic corpus: the ratio of stored to caller length stays far
    /// below the bound's twelve.
    #[test]
    fn ecrs_copy_of_realistic_policies_is_read(seed in any::<u64>(), escape in any::<bool>()) {
        let text = realistic(seed);
        let value: Value = serde_json::from_str(&text).unwrap();
        let stored = ecr_pretty(&value, escape);
        prop_assert!(stored.chars().count() <= 4 * text.chars().count().max(64));
        prop_assert!(Policy::parse_stored(&stored).is_ok(), "{}", stored);
    }
}

/// A realistic policy: a few statements of the shapes the fixtures hold.
fn realistic(seed: u64) -> String {
    let pick = |i: u64, n: u64| ((seed >> (i * 8)) % n) as usize;
    let principals = [
        json!("*"),
        json!({"AWS": ["arn:aws:iam::123456789012:role/ci-push", "987654321098"]}),
        json!({"Service": "codebuild.amazonaws.com"}),
        json!({"AWS": "arn:aws:iam::111122223333:root"}),
    ];
    let conditions = [
        json!({"StringEquals": {"aws:SourceAccount": "123456789012"}}),
        json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/*"]}}),
        json!({}),
        json!({"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"]}}),
    ];
    let statements: Vec<Value> = (0..1 + pick(0, 4))
        .map(|i| {
            json!({"Sid": format!("S{i}"), "Effect": if pick(i as u64 + 1, 2) == 0 { "Allow" } else { "Deny" },
                "Principal": principals[pick(i as u64 + 2, 4)].clone(),
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": conditions[pick(i as u64 + 3, 4)].clone()})
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[test]
fn the_long_samples_hold_ecrs_copy_as_ecr_lays_it_out() {
    let event = |file: &str| -> Value { serde_json::from_str(&crate::sample(file)).unwrap() };
    let template = event("create-creation-template-long-public.json");
    let detail = &template["detail"];
    let caller = detail["requestParameters"]["repositoryPolicy"]
        .as_str()
        .unwrap();
    let stored = detail["responseElements"]["repositoryCreationTemplate"]["repositoryPolicy"]
        .as_str()
        .unwrap();
    assert!(caller.chars().count() <= MAX_POLICY_CHARS);
    assert!(stored.chars().count() > MAX_POLICY_CHARS);
    assert_eq!(
        ecr_pretty(&serde_json::from_str(caller).unwrap(), false),
        stored
    );

    let set = event("set-policy-long-stored-copy-duplicate-key.json");
    let detail = &set["detail"];
    let caller = detail["requestParameters"]["policyText"].as_str().unwrap();
    let stored = detail["responseElements"]["policyText"].as_str().unwrap();
    assert!(
        Policy::parse(caller)
            .unwrap_err()
            .to_string()
            .contains("duplicate key `Sid`")
    );
    assert!(stored.chars().count() > MAX_POLICY_CHARS);
    assert_eq!(
        ecr_pretty(&serde_json::from_str(stored).unwrap(), false),
        stored
    );
}
