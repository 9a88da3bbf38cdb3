//! The organisation's rules over a parsed policy, with IAM's real semantics, returning evidence
//! for every violation. [`limits`] says what a condition's identity keys reach, [`deny`] whether a
//! `Deny` really denies everyone else; this module applies the rules to each statement.

pub mod deny;
pub mod limits;

use crate::policy::{
    Effect, Policy, PolicyCopy, PolicyError, PolicyKind, Principal, PrincipalElement,
    PrincipalType, RegistryScope, ResourceElement, Statement, Version, is_account_id,
};
use crate::text::tick;
use crate::waiver::WaiverMark;
use limits::{Limit, Reach, identity_limits};
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
    NoUnscopedServicePrincipal,
    DenyByDefaultRequired,
    NoUnapprovedReplication,
    InvalidPolicy,
}

impl RuleId {
    pub const ALL: [RuleId; 7] = [
        RuleId::NoRootPrincipal,
        RuleId::NoWildcardPrincipal,
        RuleId::NoAllowNotPrincipal,
        RuleId::NoUnscopedServicePrincipal,
        RuleId::DenyByDefaultRequired,
        RuleId::NoUnapprovedReplication,
        RuleId::InvalidPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::NoRootPrincipal => "no-root-principal",
            RuleId::NoWildcardPrincipal => "no-wildcard-principal",
            RuleId::NoAllowNotPrincipal => "no-allow-not-principal",
            RuleId::NoUnscopedServicePrincipal => "no-unscoped-service-principal",
            RuleId::DenyByDefaultRequired => "deny-by-default-required",
            RuleId::NoUnapprovedReplication => "no-unapproved-replication",
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
    /// 0-based index of the offending statement (of a replication configuration: its rule);
    /// `None` for policy-wide findings.
    pub statement: Option<usize>,
    pub sid: Option<String>,
    /// The offending principal exactly as written (`*` for the wildcard rule; for a grant a
    /// condition makes, the condition's value).
    pub principal: Option<String>,
    /// What made the grant: `principal` (the `Principal` element), or the condition key as
    /// written (e.g. `aws:PrincipalAccount`); `None` for rules about no principal.
    pub via: Option<String>,
    /// One sentence: what is wrong and how to fix it.
    pub message: Cow<'static, str>,
    /// A registry policy statement's `Resource` values (`NotResource` ones as `not <value>`):
    /// which repositories the grant opens. Empty for repository policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The waiver that matches it, set by [`crate::waiver::Waivers::apply`]: serialized as
    /// `waived` and `waiver`, and only when one matches.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Box<WaiverMark>>,
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

/// An AWS Organizations id: `o-` and 10 to 32 lowercase letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(entry: &str) -> Option<OrgId> {
        is_org_id(entry).then(|| OrgId(entry.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `o-` followed by 10 to 32 lowercase letters or digits (the Organizations API's pattern).
pub fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// What the rules need to know beyond the policy: the allowlists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleConfig {
    /// Accounts whose root (the whole account) may be granted access.
    pub allowed_root_accounts: BTreeSet<AccountId>,
    /// Organizations whose every member may be granted access.
    pub allowed_org_ids: BTreeSet<OrgId>,
    /// Accounts other than the registry's own that replication may copy images to.
    pub allowed_replication_accounts: BTreeSet<AccountId>,
}

/// An allowlist entry that names no account (the entry as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a 12-digit account id or an account root ARN", tick(.0))]
pub struct AllowlistError(pub String);

/// An organization allowlist entry that is not an organization id (the entry as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not an organization id (`o-` and 10 to 32 lowercase letters or digits)", tick(.0))]
pub struct OrgAllowlistError(pub String);

/// Whose repository a policy governs: the account whose own principals an exemption or a
/// service's source may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Unknown (`check` without `--account`): no account is the repository's own.
    Unknown,
    Account(&'a str),
    /// Not bound to one account yet (a configured baseline, checked again when written): every
    /// account counts as own.
    Any,
}

impl Owner<'_> {
    pub fn is(self, account: &str) -> bool {
        match self {
            Owner::Unknown => false,
            Owner::Account(own) => own == account,
            Owner::Any => true,
        }
    }
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
            ..RuleConfig::default()
        })
    }

    /// The same rules, also allowing these organizations.
    pub fn with_orgs<'a>(
        mut self,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<RuleConfig, OrgAllowlistError> {
        self.allowed_org_ids = entries
            .into_iter()
            .map(|entry| OrgId::parse(entry).ok_or_else(|| OrgAllowlistError(entry.to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The same rules, also allowing replication to these accounts.
    pub fn with_replication_accounts<'a>(
        mut self,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<RuleConfig, AllowlistError> {
        self.allowed_replication_accounts = entries
            .into_iter()
            .map(|entry| {
                is_account_id(entry)
                    .then(|| AccountId(entry.to_owned()))
                    .ok_or_else(|| AllowlistError(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// True when replication may copy images to `account` from a registry of `owner`.
    pub fn allows_replication_to(&self, account: &str, owner: Owner) -> bool {
        owner.is(account)
            || self
                .allowed_replication_accounts
                .iter()
                .any(|a| a.as_str() == account)
    }

    /// Parses a policy text and checks it.
    pub fn check_text(&self, text: &str, owner: Owner) -> Result<Vec<Violation>, PolicyError> {
        Policy::parse(text).map(|policy| self.check(&policy, owner))
    }

    /// Parses a caller's policy of either kind and checks it by that kind's rules.
    pub fn check_kind(
        &self,
        text: &str,
        kind: PolicyKind,
        scope: RegistryScope,
        owner: Owner,
    ) -> Result<Vec<Violation>, PolicyError> {
        self.check_copy(text, kind, scope, PolicyCopy::Caller, owner)
    }

    /// Parses a policy of either kind as the given copy (the caller's, or ECR's stored one)
    /// and checks it by that kind's rules.
    pub fn check_copy(
        &self,
        text: &str,
        kind: PolicyKind,
        scope: RegistryScope,
        copy: PolicyCopy,
        owner: Owner,
    ) -> Result<Vec<Violation>, PolicyError> {
        let policy = Policy::parse_copy(text, kind, scope, copy)?;
        Ok(match kind {
            PolicyKind::Repository => self.check(&policy, owner),
            PolicyKind::Registry => self.check_registry(&policy, owner),
        })
    }

    /// Checks a registry policy: the principal rules on every `Allow`, each violation with the
    /// statement's resources. No deny-by-default: a registry policy only grants, and the safe
    /// registry policy is none at all.
    pub fn check_registry(&self, policy: &Policy, owner: Owner) -> Vec<Violation> {
        let judge = Judge::new(self, owner, policy);
        let mut violations = Vec::new();
        for (index, statement) in policy.statements.iter().enumerate() {
            if statement.effect == Effect::Allow {
                let first = violations.len();
                judge.check_allow(index, statement, &mut violations);
                let resources = statement
                    .resource
                    .as_ref()
                    .map(ResourceElement::evidence)
                    .unwrap_or_default();
                for v in &mut violations[first..] {
                    v.resources.clone_from(&resources);
                }
            }
        }
        violations
    }

    /// True when the text is a policy that passes every rule: what the guard may write.
    pub fn passes(&self, text: &str, owner: Owner) -> bool {
        self.check_text(text, owner).is_ok_and(|v| v.is_empty())
    }

    /// Checks a policy against every rule; violations come in statement order, policy-wide last.
    pub fn check(&self, policy: &Policy, owner: Owner) -> Vec<Violation> {
        let judge = Judge::new(self, owner, policy);
        let mut violations = Vec::new();
        for (index, statement) in policy.statements.iter().enumerate() {
            if statement.effect == Effect::Allow {
                judge.check_allow(index, statement, &mut violations);
            }
        }
        if let Err(message) = judge.deny_by_default(policy) {
            violations.push(policy_wide(RuleId::DenyByDefaultRequired, message));
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
        root_account(value).filter(|account| !self.allows_account(account))
    }

    fn allows_account(&self, account: &str) -> bool {
        self.allowed_root_accounts
            .iter()
            .any(|a| a.as_str() == account)
    }

    fn allows_org(&self, org: &str) -> bool {
        self.allowed_org_ids.iter().any(|o| o.as_str() == org)
    }
}

/// The rules applied to one policy: the allowlists, whose repository it is, and whether its
/// `Version` makes `${...}` a policy variable.
pub struct Judge<'r> {
    pub rules: &'r RuleConfig,
    pub owner: Owner<'r>,
    /// `2012-10-17`: `${...}` is a policy variable, resolved from each request.
    pub variables: bool,
}

impl<'r> Judge<'r> {
    pub fn new(rules: &'r RuleConfig, owner: Owner<'r>, policy: &Policy) -> Judge<'r> {
        Judge {
            rules,
            owner,
            variables: policy.version == Some(Version::V2012_10_17),
        }
    }

    /// True when everything a concrete reach names may be granted: a specific principal always;
    /// a whole account when it is allowlisted (and, for a service's source, when it is the
    /// repository's own); an organization when it is allowlisted.
    pub fn allows(&self, reach: &Reach, limit: &Limit) -> bool {
        match reach {
            Reach::Nobody | Reach::Principal => true,
            Reach::Account(account) => {
                self.rules.allows_account(account)
                    || (limit.ident.is_source() && self.owner.is(account))
            }
            Reach::Org(org) => self.rules.allows_org(org),
        }
    }

    /// True when a statement grants to everyone (`*`, or a `*` value of any principal type).
    pub fn is_wildcard(statement: &Statement) -> bool {
        match &statement.principal {
            PrincipalElement::Principal(Principal::Any) => true,
            PrincipalElement::Principal(p) => PrincipalType::ALL
                .iter()
                .any(|kind| p.values(*kind).iter().any(|v| v == "*")),
            PrincipalElement::NotPrincipal(_) => false,
        }
    }

    /// True when one of the statement's restricting limits is allowed: a wildcard grant so
    /// limited stays within allowed callers.
    pub fn wildcard_allowed(&self, statement: &Statement) -> bool {
        identity_limits(statement, self.variables)
            .iter()
            .filter(|l| l.restricts())
            .any(|l| l.reaches().all(|r| self.allows(r, l)))
    }

    /// True when one of the statement's restricting limits on the source keys
    /// (`aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID`, `aws:SourceOrgPaths`) is
    /// allowed: a service principal so limited acts only for the allowed accounts'
    /// resources (IAM User Guide, "The confused deputy problem").
    pub fn service_scoped(&self, statement: &Statement) -> bool {
        identity_limits(statement, self.variables)
            .iter()
            .filter(|l| l.ident.is_source() && l.restricts())
            .any(|l| l.reaches().all(|r| self.allows(r, l)))
    }

    fn check_allow(&self, index: usize, statement: &Statement, out: &mut Vec<Violation>) {
        let found =
            |rule, principal: Option<&str>, via: Option<&str>, message: Cow<'static, str>| {
                Violation {
                    rule,
                    statement: Some(index),
                    sid: statement.sid.as_deref().map(str::to_owned),
                    principal: principal.map(str::to_owned),
                    via: via.map(str::to_owned),
                    message,
                    resources: Vec::new(),
                    waiver: None,
                }
            };
        let principal = match &statement.principal {
            PrincipalElement::NotPrincipal(_) => {
                out.push(found(
                    RuleId::NoAllowNotPrincipal,
                    None,
                    None,
                    "grants every principal except the ones listed; use `Principal` with the roles that need access".into(),
                ));
                return;
            }
            PrincipalElement::Principal(p) => p,
        };
        for value in principal.values(PrincipalType::Aws) {
            if self.rules.forbidden_root(value).is_some() {
                out.push(found(
                    RuleId::NoRootPrincipal,
                    Some(value),
                    Some("principal"),
                    ROOT_MESSAGE.into(),
                ));
            }
        }
        // `*` is the wildcard rule's; every other service principal needs a source limit.
        let services = principal.values(PrincipalType::Service);
        if services.iter().any(|v| v != "*") && !self.service_scoped(statement) {
            let message: Cow<'static, str> = match self.owner {
                Owner::Unknown => format!("{SERVICE_MESSAGE} (the repository's account is unknown here: `--account` would change the verdict if a limit names it)").into(),
                _ => SERVICE_MESSAGE.into(),
            };
            for value in services.iter().filter(|v| *v != "*") {
                out.push(found(
                    RuleId::NoUnscopedServicePrincipal,
                    Some(value),
                    Some("principal"),
                    message.clone(),
                ));
            }
        }
        if !Self::is_wildcard(statement) {
            return;
        }
        let limits = identity_limits(statement, self.variables);
        let restricting: Vec<&Limit> = limits.iter().filter(|l| l.restricts()).collect();
        if restricting.is_empty() {
            out.push(found(
                RuleId::NoWildcardPrincipal,
                Some("*"),
                Some("principal"),
                "grants anyone with an AWS account; name the roles, or limit the caller (e.g. `StringEquals` on `aws:PrincipalOrgID` of an allowed organization)".into(),
            ));
            return;
        }
        if restricting
            .iter()
            .any(|l| l.reaches().all(|r| self.allows(r, l)))
        {
            return;
        }
        // No limit is allowed: name what each reaches beyond the allowlists.
        // Each organization once, in the order met (a set keeps long value lists linear).
        let mut orgs: Vec<&str> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut org_key = None;
        for limit in &restricting {
            for (value, reach) in limit.values() {
                match reach {
                    Reach::Account(_) if !self.allows(reach, limit) => out.push(found(
                        RuleId::NoRootPrincipal,
                        Some(value),
                        Some(limit.key),
                        ROOT_MESSAGE.into(),
                    )),
                    Reach::Org(org) if !self.allows(reach, limit) && seen.insert(org.as_str()) => {
                        org_key.get_or_insert(limit.key);
                        orgs.push(org)
                    }
                    _ => {}
                }
            }
        }
        if !orgs.is_empty() {
            let names: Vec<String> = orgs.iter().map(|o| tick(o)).collect();
            out.push(found(
                RuleId::NoWildcardPrincipal,
                Some("*"),
                org_key,
                format!(
                    "grants every member of organization {}, which `allowed_org_ids` does not list; allowlist it, or name the roles",
                    names.join(", ")
                )
                .into(),
            ));
        }
    }
}

/// The same words for every unscoped service: the principal beside it names the service.
const SERVICE_MESSAGE: &str = "lets the service act for other AWS customers' resources (a confused deputy): no `aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID` or `aws:SourceOrgPaths` limit holds it to the repository's own account or an allowlisted account or organization";

/// The same words for every account: the principal beside it names the account, and a
/// message formatted per violation was a measurable share of a batch check.
const ROOT_MESSAGE: &str = "grants the whole account; name its roles instead, or allowlist the account in `allowed_root_accounts`";

fn policy_wide(rule: RuleId, message: impl Into<Cow<'static, str>>) -> Violation {
    Violation {
        rule,
        statement: None,
        sid: None,
        principal: None,
        via: None,
        message: message.into(),
        resources: Vec::new(),
        waiver: None,
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
    fn allowlists_name_the_bad_entry() {
        let rules = RuleConfig::allowing(["111122223333", "arn:aws:iam::987654321098:root"])
            .unwrap()
            .with_orgs(["o-a1b2c3d4e5"])
            .unwrap();
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
        for bad in ["o-short", "o-A1B2C3D4E5", "a1b2c3d4e5", "o-a1b2c3d4e5/"] {
            assert!(RuleConfig::default().with_orgs([bad]).is_err(), "{bad}");
        }
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
