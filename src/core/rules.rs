//! The organisation's rules over a parsed policy, returning evidence for every violation.

use crate::policy::{
    ActionElement, ConditionBlock, Effect, Policy, PolicyError, PrincipalElement, PrincipalType,
    Statement,
};
use crate::text::tick;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// Rule identifiers; their kebab-case names are part of the interface (JSON, alerts, filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    NoRootPrincipal,
    NoWildcardPrincipal,
    NoAllowNotPrincipal,
    DenyByDefaultRequired,
    InvalidPolicy,
}

impl RuleId {
    pub const ALL: [RuleId; 5] = [
        RuleId::NoRootPrincipal,
        RuleId::NoWildcardPrincipal,
        RuleId::NoAllowNotPrincipal,
        RuleId::DenyByDefaultRequired,
        RuleId::InvalidPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::NoRootPrincipal => "no-root-principal",
            RuleId::NoWildcardPrincipal => "no-wildcard-principal",
            RuleId::NoAllowNotPrincipal => "no-allow-not-principal",
            RuleId::DenyByDefaultRequired => "deny-by-default-required",
            RuleId::InvalidPolicy => "invalid-policy",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule, with the evidence every report is rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: RuleId,
    /// 0-based index of the offending statement; `None` for policy-wide findings.
    pub statement: Option<usize>,
    pub sid: Option<String>,
    /// The offending principal exactly as written (`*` for the wildcard rule).
    pub principal: Option<String>,
    /// One sentence: what is wrong and how to fix it.
    pub message: Cow<'static, str>,
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Accepts a 12-digit id or an account root ARN (`arn:<partition>:iam::<id>:root`).
    pub fn parse(entry: &str) -> Option<AccountId> {
        root_account(entry).map(|id| AccountId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the rules need to know beyond the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleConfig {
    /// Accounts whose root may be granted access.
    pub allowed_root_accounts: BTreeSet<AccountId>,
}

/// An allowlist entry that names no account (the entry as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a 12-digit account id or an account root ARN", tick(.0))]
pub struct AllowlistError(pub String);

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account id when `value` names an account root: a bare 12-digit id, or
/// `arn:<partition>:iam::<12 digits>:root` in any partition. The fixed parts are matched
/// without regard to case so that an odd spelling is flagged rather than waved through.
pub fn root_account(value: &str) -> Option<&str> {
    if is_account_id(value) {
        return Some(value);
    }
    // Most principal values are role ARNs: reject anything not ending in `:root` cheaply.
    let tail = value.len().checked_sub(5).and_then(|i| value.get(i..))?;
    if !tail.eq_ignore_ascii_case(":root") {
        return None;
    }
    let mut parts = value.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = !partition.is_empty()
        && partition
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (arn.eq_ignore_ascii_case("arn")
        && partition_ok
        && service.eq_ignore_ascii_case("iam")
        && region.is_empty()
        && is_account_id(account)
        && resource.eq_ignore_ascii_case("root"))
    .then_some(account)
}

/// Condition operators that, on a caller-identifying key, restrict a wildcard principal.
/// `ForAllValues:` and `…IfExists` are absent on purpose: they pass when the key is missing.
const RESTRICTING_OPERATORS: [&str; 5] = [
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
];

/// Keys that identify the caller (or the calling service's source), compared case-insensitively.
const RESTRICTING_KEYS: [&str; 8] = [
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
];

/// True when one condition block limits who the caller can be.
fn block_restricts_caller(block: &ConditionBlock) -> bool {
    let operator = block
        .operator
        .strip_prefix("ForAnyValue:")
        .unwrap_or(&block.operator);
    RESTRICTING_OPERATORS.contains(&operator)
        && block.entries.iter().any(|(key, values)| {
            RESTRICTING_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
                && values.iter().any(|v| v.text().chars().any(|c| c != '*'))
        })
}

/// True when a statement's condition limits who the caller can be (see the rule table).
pub fn restricts_caller(statement: &Statement) -> bool {
    statement
        .condition
        .iter()
        .flatten()
        .any(block_restricts_caller)
}

/// True for a statement that denies everyone every ECR action (conditions allowed).
pub fn is_deny_by_default(statement: &Statement) -> bool {
    let everyone =
        matches!(&statement.principal, PrincipalElement::Principal(p) if p.is_everyone());
    let all_actions = matches!(&statement.action, ActionElement::Action(actions)
        if actions.iter().any(|a| a == "*" || a.eq_ignore_ascii_case("ecr:*")));
    statement.effect == Effect::Deny && everyone && all_actions
}

impl RuleConfig {
    /// Rules allowing the roots of these accounts: 12-digit ids or root ARNs, both meaning the
    /// account.
    pub fn allowing<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<RuleConfig, AllowlistError> {
        let allowed_root_accounts = entries
            .into_iter()
            .map(|entry| AccountId::parse(entry).ok_or_else(|| AllowlistError(entry.to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(RuleConfig {
            allowed_root_accounts,
        })
    }

    /// Parses a policy text and checks it.
    pub fn check_text(&self, text: &str) -> Result<Vec<Violation>, PolicyError> {
        Policy::parse(text).map(|policy| self.check(&policy))
    }

    /// True when the text is a policy that passes every rule: what the guard may write.
    pub fn passes(&self, text: &str) -> bool {
        self.check_text(text).is_ok_and(|v| v.is_empty())
    }

    /// Checks a policy against every rule; violations come in statement order, policy-wide last.
    pub fn check(&self, policy: &Policy) -> Vec<Violation> {
        let mut violations = Vec::new();
        for (index, statement) in policy.statements.iter().enumerate() {
            if statement.effect == Effect::Allow {
                self.check_allow(index, statement, &mut violations);
            }
        }
        if !policy.statements.iter().any(is_deny_by_default) {
            violations.push(policy_wide(
                RuleId::DenyByDefaultRequired,
                "no statement denies everyone else; add a `Deny` of `ecr:*` for `Principal` `*`, exempting your roles with `ArnNotEquals` on `aws:PrincipalArn`",
            ));
        }
        violations
    }

    /// The verdict for a repository left with no policy at all.
    pub fn check_no_policy(&self) -> Vec<Violation> {
        vec![policy_wide(
            RuleId::DenyByDefaultRequired,
            "the repository has no policy, so nothing denies access by default; set one with a `Deny` of `ecr:*` for `Principal` `*`",
        )]
    }

    /// The account of a root principal value that is not allowlisted; `None` for anything else.
    pub fn forbidden_root<'v>(&self, value: &'v str) -> Option<&'v str> {
        root_account(value).filter(|account| {
            !self
                .allowed_root_accounts
                .iter()
                .any(|a| a.as_str() == *account)
        })
    }

    fn check_allow(&self, index: usize, statement: &Statement, out: &mut Vec<Violation>) {
        let found = |rule, principal: Option<&str>, message: Cow<'static, str>| Violation {
            rule,
            statement: Some(index),
            sid: statement.sid.as_deref().map(str::to_owned),
            principal: principal.map(str::to_owned),
            message,
        };
        let principal = match &statement.principal {
            PrincipalElement::NotPrincipal(_) => {
                out.push(found(
                    RuleId::NoAllowNotPrincipal,
                    None,
                    "grants every principal except the ones listed; use `Principal` with the roles that need access".into(),
                ));
                return;
            }
            PrincipalElement::Principal(p) => p,
        };
        if principal.is_everyone() && !restricts_caller(statement) {
            out.push(found(
                RuleId::NoWildcardPrincipal,
                Some("*"),
                "grants anyone with an AWS account; name the roles, or restrict the caller (e.g. `StringEquals` on `aws:PrincipalOrgID`)".into(),
            ));
        }
        for value in principal.values(PrincipalType::Aws) {
            let Some(account) = self.forbidden_root(value) else {
                continue;
            };
            out.push(found(
                RuleId::NoRootPrincipal,
                Some(value),
                format!(
                    "grants all of account {account} (its root); name its roles instead, or allowlist the account in `allowed_root_accounts`"
                )
                .into(),
            ));
        }
    }
}

fn policy_wide(rule: RuleId, message: impl Into<Cow<'static, str>>) -> Violation {
    Violation {
        rule,
        statement: None,
        sid: None,
        principal: None,
        message: message.into(),
    }
}

/// The violation reported for a policy taken from an event that cannot be parsed.
pub fn invalid_policy(error: &PolicyError) -> Violation {
    policy_wide(
        RuleId::InvalidPolicy,
        format!(
            "the policy cannot be parsed ({error}); ECR may have accepted what the guard cannot verify, so review it by hand"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_account_recognises_every_partition_and_bare_ids() {
        assert_eq!(root_account("123456789012"), Some("123456789012"));
        for arn in [
            "arn:aws:iam::123456789012:root",
            "arn:aws-cn:iam::123456789012:root",
            "arn:aws-us-gov:iam::123456789012:root",
            "arn:aws-iso-b:iam::123456789012:root",
        ] {
            assert_eq!(root_account(arn), Some("123456789012"), "{arn}");
        }
        for not_root in [
            "arn:aws:iam::123456789012:user/root",
            "arn:aws:iam::123456789012:role/root",
            "arn:aws:iam::12345678901:root",
            "arn:aws:iam::1234567890123:root",
            "arn:aws:iam:us-east-1:123456789012:root",
            "arn::iam::123456789012:root",
            "arn:aws:sts::123456789012:root",
            "12345678901",
            "1234567890123",
            "*",
        ] {
            assert_eq!(root_account(not_root), None, "{not_root}");
        }
    }

    #[test]
    fn each_rule_id_has_one_spelling_in_json_and_text() {
        for rule in RuleId::ALL {
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
    }

    #[test]
    fn allowing_names_the_bad_entry() {
        let rules =
            RuleConfig::allowing(["111122223333", "arn:aws:iam::987654321098:root"]).unwrap();
        let ids: Vec<&str> = rules
            .allowed_root_accounts
            .iter()
            .map(AccountId::as_str)
            .collect();
        assert_eq!(ids, ["111122223333", "987654321098"]);
        assert_eq!(
            RuleConfig::allowing(["1234"]).unwrap_err().to_string(),
            "`1234` is not a 12-digit account id or an account root ARN"
        );
    }

    #[test]
    fn account_id_accepts_ids_and_root_arns_only() {
        assert_eq!(
            AccountId::parse("arn:aws:iam::987654321098:root").map(|a| a.0),
            Some("987654321098".into())
        );
        assert!(AccountId::parse("arn:aws:iam::987654321098:role/x").is_none());
        assert!(AccountId::parse("9876-5432-1098").is_none());
    }
}
