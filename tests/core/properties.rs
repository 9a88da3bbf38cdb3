//! Properties of the parser, the rules and the derived policy over generated policies.

use ecr_policy_guard_core::policy::Effect;
use ecr_policy_guard_core::remedy::{derive, narrows};
use ecr_policy_guard_core::{Mode, Policy, RuleConfig, Violation, evaluate};
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
];

/// A statement as generator data: effect, principal (None = `*`), not-principal, actions,
/// not-action, condition indices.
#[derive(Debug, Clone)]
struct Gen {
    allow: bool,
    principal: Option<Vec<usize>>,
    not_principal: bool,
    actions: Vec<usize>,
    not_action: bool,
    conditions: Vec<usize>,
}

fn statement() -> impl Strategy<Value = Gen> {
    (
        any::<bool>(),
        prop::option::of(prop::collection::vec(0..AWS_PRINCIPALS.len(), 1..4)),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..ACTIONS.len(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..CONDITIONS.len(), 0..3),
    )
        .prop_map(
            |(allow, principal, not_principal, actions, not_action, conditions)| Gen {
                allow,
                principal,
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
    let principal = match &g.principal {
        None => json!("*"),
        Some(ids) => json!({"AWS": one_or_many(ids.iter().map(|i| AWS_PRINCIPALS[*i]).collect())}),
    };
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

fn check(text: &str, rules: &RuleConfig) -> Vec<Violation> {
    rules.check(&Policy::parse(text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

/// Violations without statement positions, sorted: what must not depend on order.
fn unordered(violations: &[Violation]) -> Vec<(String, Option<String>, Option<String>)> {
    let mut v: Vec<_> = violations
        .iter()
        .map(|v| (v.rule.to_string(), v.sid.clone(), v.principal.clone()))
        .collect();
    v.sort();
    v
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
    fn allowlisting_an_account_never_adds_a_violation(
        statements in policies(),
        allow in prop::sample::subsequence(vec!["987654321098", "111122223333", "arn:aws:iam::444455556666:root"], 0..3),
    ) {
        let text = policy_text(&statements, false);
        let without = check(&text, &RuleConfig::default());
        let with = check(&text, &RuleConfig::allowing(allow).unwrap());
        prop_assert!(with.len() <= without.len());
        for v in &with {
            prop_assert!(without.contains(v), "{:?} appeared only with the allowlist", v);
        }
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
        let rules = RuleConfig::allowing(allow).unwrap();
        let text = policy_text(&statements, false);
        let original = Policy::parse(&text).unwrap();
        let derived = derive(&original, "123456789012", &rules);
        // What the guard writes is the text: it must parse back and pass.
        let written = derived.to_json_text();
        let reparsed = Policy::parse(&written).unwrap();
        prop_assert_eq!(&reparsed, &derived);
        prop_assert!(rules.check(&reparsed).is_empty(), "{:?}", rules.check(&reparsed));
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
