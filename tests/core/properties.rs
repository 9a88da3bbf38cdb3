//! Properties of the parser, the rules and the derived policy over generated policies.

use ecr_policy_guard_core::policy::Effect;
use ecr_policy_guard_core::remedy::{derive, narrows};
use ecr_policy_guard_core::{Mode, Owner, Policy, RuleConfig, Violation, evaluate};
use proptest::prelude::*;
use serde_json::{Value, json};

const AWS_PRINCIPALS: &[&str] = &[
    "arn:aws:iam::123456789012:role/ci-push",
    "arn:aws:iam::123456789012:role/app-pull",
    "arn:aws:iam::987654321098:root",
    "arn:aws-cn:iam::987654321098:root",
    "987654321098",
    "111122223333",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::444455556666:user/root",
    "*",
];
/// Service principal values; `*` is the wildcard rule's (and is refused under `NotPrincipal`).
const SERVICES: &[&str] = &["lambda.amazonaws.com", "codebuild.amazonaws.com", "*"];
const ACTIONS: &[&str] = &[
    "ecr:*",
    "*",
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ECR:*",
    "ecr:Get*",
];
const CONDITIONS: &[(&str, &str, &str)] = &[
    ("StringEquals", "aws:PrincipalOrgID", "o-a1b2c3d4e5"),
    (
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        "o-a1b2c3d4e5/*",
    ),
    (
        "ForAllValues:StringEquals",
        "aws:PrincipalOrgID",
        "o-a1b2c3d4e5",
    ),
    (
        "StringEqualsIfExists",
        "aws:PrincipalAccount",
        "123456789012",
    ),
    (
        "ArnNotEquals",
        "aws:PrincipalArn",
        "arn:aws:iam::123456789012:role/ci-push",
    ),
    ("ArnLike", "AWS:SourceArn", "*"),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24"),
    ("StringEquals", "aws:PrincipalAccount", "987654321098"),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::111122223333:role/*",
    ),
    ("StringLike", "aws:userid", "AROAEXAMPLEID123456:*"),
    ("StringEquals", "aws:SourceAccount", "123456789012"),
    ("StringNotEquals", "aws:PrincipalAccount", "123456789012"),
    ("BoolIfExists", "aws:PrincipalIsAWSService", "false"),
    ("Bool", "aws:SecureTransport", "false"),
    (
        "StringEqualsIgnoreCase",
        "aws:PrincipalOrgID",
        "${aws:PrincipalOrgID}",
    ),
    (
        "ArnEquals",
        "aws:PrincipalArn",
        "arn:aws:iam::123456789012:role/app-pull",
    ),
    ("StringNotLike", "aws:PrincipalOrgID", "o-f6g7h8i9j0"),
    // Source limits that scope a service principal, or fail to.
    ("ArnLike", "aws:SourceArn", "arn:aws:*:*:123456789012:*"),
    ("StringEquals", "aws:SourceOrgID", "o-a1b2c3d4e5"),
    ("StringEqualsIfExists", "aws:SourceAccount", "123456789012"),
    ("StringEquals", "aws:SourceAccount", "210987654321"),
    // Keys required present, which make `...IfExists` and `ForAllValues:` restrict.
    ("Null", "aws:PrincipalOrgID", "false"),
    ("Null", "aws:SourceAccount", "false"),
    ("Null", "aws:PrincipalAccount", "true"),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:sts::987654321098:assumed-role/vendor/*",
    ),
    ("StringEquals", "aws:userid", "987654321098:build-bot"),
];

/// Limits that restrict a wildcard to allowed callers under the rules the properties use
/// (organization `o-a1b2c3d4e5` and account 111122223333 allowed, own account 123456789012).
const ALLOWED_LIMITS: &[(&str, &str, &str)] = &[
    ("StringEquals", "aws:PrincipalOrgID", "o-a1b2c3d4e5"),
    (
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        "o-a1b2c3d4e5/r-ab12/*",
    ),
    (
        "ArnEquals",
        "aws:PrincipalArn",
        "arn:aws:iam::123456789012:role/app-pull",
    ),
    ("StringEquals", "aws:SourceAccount", "123456789012"),
    ("StringLike", "aws:PrincipalAccount", "111122223333"),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::111122223333:role/*",
    ),
];

/// Limits whose concrete value reaches callers the properties' rules do not allow.
const DISALLOWED_LIMITS: &[(&str, &str, &str)] = &[
    ("StringEquals", "aws:PrincipalOrgID", "o-f6g7h8i9j0"),
    ("StringEquals", "aws:PrincipalAccount", "987654321098"),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::987654321098:role/*",
    ),
    (
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        "o-f6g7h8i9j0/*",
    ),
    ("StringLike", "aws:userid", "987654321098:*"),
    ("StringEquals", "aws:SourceAccount", "210987654321"),
];

/// The accounts and organizations the allowlisting property may allow.
const ALLOWABLE_ACCOUNTS: &[&str] = &[
    "987654321098",
    "111122223333",
    "arn:aws:iam::444455556666:root",
    "123456789012",
];
const ALLOWABLE_ORGS: &[&str] = &["o-a1b2c3d4e5", "o-f6g7h8i9j0"];

/// A statement as generator data: effect, principal (None = `*`), not-principal, actions,
/// not-action, condition indices.
#[derive(Debug, Clone)]
struct Gen {
    allow: bool,
    principal: Option<Vec<usize>>,
    /// Service principals beside the `AWS` ones (none for `*`).
    services: Vec<usize>,
    not_principal: bool,
    actions: Vec<usize>,
    not_action: bool,
    conditions: Vec<usize>,
}

fn statement() -> impl Strategy<Value = Gen> {
    (
        any::<bool>(),
        prop::option::of(prop::collection::vec(0..AWS_PRINCIPALS.len(), 1..4)),
        prop::collection::vec(0..SERVICES.len(), 0..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..ACTIONS.len(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..CONDITIONS.len(), 0..3),
    )
        .prop_map(
            |(allow, principal, services, not_principal, actions, not_action, conditions)| Gen {
                allow,
                principal,
                services,
                not_principal,
                actions,
                not_action,
                conditions,
            },
        )
}

/// Renders a generated statement; `lists` writes every single value as a one-element list.
fn render(index: usize, g: &Gen, lists: bool) -> Value {
    let one_or_many = |values: Vec<&str>| {
        if values.len() == 1 && !lists {
            json!(values[0])
        } else {
            json!(values)
        }
    };
    let mut principal = match &g.principal {
        None => json!("*"),
        Some(ids) => json!({"AWS": one_or_many(ids.iter().map(|i| AWS_PRINCIPALS[*i]).collect())}),
    };
    let services: Vec<&str> = g
        .services
        .iter()
        .map(|i| SERVICES[*i])
        .filter(|s| !(g.not_principal && *s == "*"))
        .collect();
    if let Some(typed) = principal.as_object_mut()
        && !services.is_empty()
    {
        let mut unique = services.clone();
        unique.dedup();
        typed.insert("Service".into(), one_or_many(unique));
    }
    let actions = one_or_many(g.actions.iter().map(|i| ACTIONS[*i]).collect());
    let mut s = serde_json::Map::new();
    s.insert("Sid".into(), json!(format!("S{index}")));
    s.insert(
        "Effect".into(),
        json!(if g.allow { "Allow" } else { "Deny" }),
    );
    s.insert(
        if g.not_principal {
            "NotPrincipal"
        } else {
            "Principal"
        }
        .into(),
        principal,
    );
    s.insert(
        if g.not_action { "NotAction" } else { "Action" }.into(),
        actions,
    );
    if !g.conditions.is_empty() {
        let mut c = serde_json::Map::new();
        for i in &g.conditions {
            let (op, key, value) = CONDITIONS[*i];
            c.insert(op.into(), json!({ key: one_or_many(vec![value]) }));
        }
        s.insert("Condition".into(), Value::Object(c));
    }
    Value::Object(s)
}

fn policy_text(statements: &[(usize, Gen)], lists: bool) -> String {
    let rendered: Vec<Value> = statements
        .iter()
        .map(|(i, g)| render(*i, g, lists))
        .collect();
    json!({"Version": "2012-10-17", "Statement": rendered}).to_string()
}

/// The repository's own account in these properties.
const OWN: Owner = Owner::Account("123456789012");

fn check(text: &str, rules: &RuleConfig) -> Vec<Violation> {
    rules.check(
        &Policy::parse(text).unwrap_or_else(|e| panic!("{e}: {text}")),
        OWN,
    )
}

/// Violations without statement positions or messages, sorted: what must not depend on order.
/// (The deny-by-default message names the nearest candidate, which order can change.)
/// A violation's rule, sid, principal and via.
type Finding = (String, Option<String>, Option<String>, Option<String>);

fn unordered(violations: &[Violation]) -> Vec<Finding> {
    let mut v: Vec<_> = violations
        .iter()
        .map(|v| {
            (
                v.rule.to_string(),
                v.sid.clone(),
                v.principal.clone(),
                v.via.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The operator of the same family that expands wildcards (`StringEquals` → `StringLike`), the
/// prefix and suffix kept; the ARN and `Like` operators already do.
fn pattern_operator(op: &str) -> Option<String> {
    let (prefix, rest) = match op.split_once(':') {
        Some((p, r)) => (format!("{p}:"), r),
        None => (String::new(), op),
    };
    let (base, suffix) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, "IfExists"),
        None => (rest, ""),
    };
    let pattern = match base {
        "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" => "StringLike",
        "StringNotEquals" | "StringNotEqualsIgnoreCase" | "StringNotLike" => "StringNotLike",
        "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => base,
        _ => return None,
    };
    Some(format!("{prefix}{pattern}{suffix}"))
}

/// Replaces one string or ARN condition value (picked by `pick`) with the pattern `*` under
/// the pattern form of its operator: the same limit, made to match more. False when the
/// policy has no such value.
fn widen(policy: &mut Value, pick: prop::sample::Index) -> bool {
    let mut places = Vec::new();
    for (si, s) in policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (op, keys) in s["Condition"].as_object().into_iter().flatten() {
            if pattern_operator(op).is_some() {
                for key in keys
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                {
                    places.push((si, op.clone(), key));
                }
            }
        }
    }
    if places.is_empty() {
        return false;
    }
    let (si, op, key) = places[pick.index(places.len())].clone();
    let condition = policy["Statement"][si]["Condition"]
        .as_object_mut()
        .unwrap();
    let block = condition.get_mut(&op).unwrap().as_object_mut().unwrap();
    block.remove(&key);
    if block.is_empty() {
        condition.remove(&op);
    }
    let wide = pattern_operator(&op).unwrap();
    let target = condition.entry(wide).or_insert_with(|| json!({}));
    target.as_object_mut().unwrap().insert(key, json!("*"));
    true
}

fn policies() -> impl Strategy<Value = Vec<(usize, Gen)>> {
    prop::collection::vec(statement(), 1..7).prop_map(|gens| gens.into_iter().enumerate().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_string_means_the_same_as_a_one_element_list(statements in policies()) {
        let rules = RuleConfig::default();
        prop_assert_eq!(
            check(&policy_text(&statements, false), &rules),
            check(&policy_text(&statements, true), &rules)
        );
    }

    #[test]
    fn statement_order_does_not_change_the_violations(
        statements in policies(),
        seed in any::<u64>(),
    ) {
        let rules = RuleConfig::default();
        let mut shuffled = statements.clone();
        // A deterministic shuffle driven by the generated seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(
            unordered(&check(&policy_text(&statements, false), &rules)),
            unordered(&check(&policy_text(&shuffled, false), &rules))
        );
    }

    #[test]
    fn allowlisting_never_adds_a_violation(
        statements in policies(),
        accounts in prop::sample::subsequence(ALLOWABLE_ACCOUNTS.to_vec(), 0..4),
        orgs in prop::sample::subsequence(ALLOWABLE_ORGS.to_vec(), 0..2),
    ) {
        let text = policy_text(&statements, false);
        let without = unordered(&check(&text, &RuleConfig::default()));
        let rules = RuleConfig::allowing(accounts).unwrap().with_orgs(orgs).unwrap();
        let with = unordered(&check(&text, &rules));
        prop_assert!(with.len() <= without.len());
        for v in &with {
            prop_assert!(without.contains(v), "{:?} appeared only with the allowlist", v);
        }
    }

    #[test]
    fn a_wildcard_in_place_of_a_concrete_value_never_makes_a_policy_compliant(
        statements in policies(),
        pick in any::<prop::sample::Index>(),
    ) {
        let text = policy_text(&statements, false);
        let rules = RuleConfig::allowing(["111122223333"]).unwrap().with_orgs(["o-a1b2c3d4e5"]).unwrap();
        let before = check(&text, &rules);
        let mut wide: Value = serde_json::from_str(&text).unwrap();
        prop_assume!(widen(&mut wide, pick));
        let after = check(&wide.to_string(), &rules);
        if !before.is_empty() {
            prop_assert!(!after.is_empty(), "{} became compliant as {}", text, wide);
        }
    }

    #[test]
    fn a_wildcard_pattern_in_place_of_a_disallowed_value_never_passes(
        limit in 0..DISALLOWED_LIMITS.len(),
        cut in any::<prop::sample::Index>(),
        question in any::<bool>(),
        deny_limit in 0..ALLOWED_LIMITS.len(),
    ) {
        let rules = RuleConfig::allowing(["111122223333"]).unwrap().with_orgs(["o-a1b2c3d4e5"]).unwrap();
        let (op, key, value) = DISALLOWED_LIMITS[limit];
        // A wildcard pattern covering the value: a prefix and `*`, or one character as `?`.
        let at = cut.index(value.len());
        let pattern = if question {
            format!("{}?{}", &value[..at], &value[at + 1..])
        } else {
            format!("{}*", &value[..at])
        };
        let wide_op = pattern_operator(op).unwrap();
        let policy = |op: &str, value: &str| {
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Wildcard", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
                 "Condition": {op: {key: value}}},
                {"Sid": "DenyByDefault", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
                 "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-pull"}}},
                // An allowed limit elsewhere must not excuse this one.
                {"Sid": "Other", "Effect": "Allow", "Principal": "*", "Action": "ecr:ListImages",
                 "Condition": {ALLOWED_LIMITS[deny_limit].0: {ALLOWED_LIMITS[deny_limit].1: ALLOWED_LIMITS[deny_limit].2}}}]})
            .to_string()
        };
        prop_assert!(!check(&policy(op, value), &rules).is_empty());
        let wide = policy(&wide_op, &pattern);
        prop_assert!(!check(&wide, &rules).is_empty(), "{}", wide);
    }

    #[test]
    fn adding_a_limit_to_a_compliant_wildcard_statement_keeps_it_compliant(
        allowed in 0..ALLOWED_LIMITS.len(),
        extra in prop::collection::vec(0..CONDITIONS.len(), 1..4),
        action in 0..ACTIONS.len(),
    ) {
        let rules = RuleConfig::allowing(["111122223333"]).unwrap().with_orgs(["o-a1b2c3d4e5"]).unwrap();
        let (op, key, value) = ALLOWED_LIMITS[allowed];
        let mut condition = serde_json::Map::new();
        condition.insert(op.into(), json!({ key: value }));
        let policy = |condition: &serde_json::Map<String, Value>| {
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Wildcard", "Effect": "Allow", "Principal": "*", "Action": ACTIONS[action],
                 "Condition": condition},
                {"Sid": "DenyByDefault", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
                 "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-pull"}}}]})
            .to_string()
        };
        prop_assert!(check(&policy(&condition), &rules).is_empty());
        for i in extra {
            let (op, key, value) = CONDITIONS[i];
            // Into its own operator block, or beside the others of its operator: a new key.
            let block = condition.entry(op).or_insert_with(|| json!({}));
            let block = block.as_object_mut().unwrap();
            if block.keys().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            block.insert(key.into(), json!(value));
        }
        let text = policy(&condition);
        prop_assert!(check(&text, &rules).is_empty(), "{}", text);
    }

    #[test]
    fn a_duplicated_statement_key_is_always_rejected(statements in policies(), which in 0usize..7) {
        let text = policy_text(&statements, false);
        // Repeat one statement's `Sid` member right after itself.
        let at = which % statements.len();
        let needle = format!("\"Sid\":\"S{at}\"");
        let doubled = text.replacen(&needle, &format!("{needle},{needle}"), 1);
        prop_assert_ne!(&doubled, &text);
        let err = Policy::parse(&doubled).unwrap_err().to_string();
        prop_assert!(err.contains("duplicate key `Sid`"), "{}", err);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = Policy::parse(&text);
        let _ = evaluate(&text, &RuleConfig::default(), Mode::Revert);
    }

    #[test]
    fn the_parser_never_panics_on_damaged_policies(
        statements in policies(),
        cut in any::<prop::sample::Index>(),
        junk in "[\\[\\]{}\",:*a-zA-Z0-9]{0,3}",
    ) {
        let text = policy_text(&statements, false);
        let at = cut.index(text.len());
        let damaged = format!("{}{junk}{}", &text[..at], &text[(at + 1).min(text.len())..]);
        if let Err(e) = Policy::parse(&damaged) {
            prop_assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn the_derived_policy_passes_the_rules_and_grants_nothing_new(
        statements in policies(),
        allow in prop::sample::subsequence(vec!["987654321098", "111122223333"], 0..2),
    ) {
        let rules = RuleConfig::allowing(allow).unwrap().with_orgs(["o-a1b2c3d4e5"]).unwrap();
        let text = policy_text(&statements, false);
        let original = Policy::parse(&text).unwrap();
        let derived = derive(&original, "123456789012", &rules);
        // What the guard writes is the text: it must parse back and pass.
        let written = derived.to_json_text();
        let reparsed = Policy::parse(&written).unwrap();
        prop_assert_eq!(&reparsed, &derived);
        prop_assert!(rules.check(&reparsed, OWN).is_empty(), "{:?}", rules.check(&reparsed, OWN));
        prop_assert_eq!(narrows(&original, &derived), Ok(()));
        // The only new statement is the added deny-by-default; kept Deny statements are intact.
        for s in derived.statements.iter().filter(|s| s.effect == Effect::Deny) {
            match original.statements.iter().find(|o| o.sid == s.sid) {
                Some(o) => prop_assert_eq!(s, o),
                None => prop_assert!(s.sid.as_deref().unwrap_or_default().starts_with("DenyByDefault")),
            }
        }
    }
}
