//! `deny-by-default-required`: one `Deny` statement must really deny everyone else every ECR
//! action. It must name everyone (`*`, or a `NotPrincipal` of allowed principals only), every ECR
//! action, and carry no condition but exemptions of allowed callers and of AWS services. A deny
//! that a condition makes inapplicable (`aws:SecureTransport` `false` never happens on ECR's
//! HTTPS API) denies nobody, and does not count.

use super::limits::{Reach, identity_limits, set_fits};
use super::{Judge, Owner, root_account};
use crate::policy::{
    ActionElement, BaseOperator, ConditionBlock, ConditionValue, Effect, Policy, Principal,
    PrincipalElement, PrincipalType, Statement,
};
use crate::text::tick;
use std::borrow::Cow;

/// Why one statement is not a deny-by-default, at each step: who it denies, what it denies, and
/// when it applies.
struct Verdict {
    everyone: Result<(), Why>,
    every_action: Result<(), Why>,
    always: Result<(), Why>,
}

/// Why a part of a statement does not qualify; most reasons are fixed text.
type Why = Cow<'static, str>;

impl Judge<'_> {
    /// `Ok` when a statement qualifies; otherwise the message of the violation, naming the
    /// nearest candidate and why it does not count.
    pub fn deny_by_default(&self, policy: &Policy) -> Result<(), String> {
        // The common case first, short-circuiting at each statement's first failing part; the
        // reasons of every candidate are worked out only when none qualifies.
        let qualifies = |s: &Statement| {
            s.effect == Effect::Deny
                && self.denies_everyone(&s.principal).is_ok()
                && denies_every_ecr_action(&s.action).is_ok()
                && self.always_applies(s).is_ok()
        };
        if policy.statements.iter().any(qualifies) {
            return Ok(());
        }
        let verdicts: Vec<(usize, &Statement, Verdict)> = policy
            .statements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.effect == Effect::Deny)
            .map(|(i, s)| (i, s, self.deny_verdict(s)))
            .collect();
        const FIX: &str = "add a `Deny` of `ecr:*` for `*` exempting only your roles";
        // The nearest candidate: a deny for everyone on every ECR action, else one for everyone,
        // else one of every ECR action, else the first deny.
        let nearest = verdicts
            .iter()
            .find(|(_, _, v)| v.everyone.is_ok() && v.every_action.is_ok())
            .or_else(|| verdicts.iter().find(|(_, _, v)| v.everyone.is_ok()))
            .or_else(|| verdicts.iter().find(|(_, _, v)| v.every_action.is_ok()))
            .or_else(|| verdicts.first());
        let Some((index, statement, verdict)) = nearest else {
            return Err(format!(
                "nothing denies everyone else; {FIX} (`ArnNotEquals` on `aws:PrincipalArn`)"
            ));
        };
        let reason = [&verdict.everyone, &verdict.every_action, &verdict.always]
            .into_iter()
            .find_map(|r| r.as_ref().err())
            .cloned()
            .unwrap_or_default();
        let place = match &statement.sid {
            Some(sid) => format!("statement {index} ({})", tick(sid)),
            None => format!("statement {index}"),
        };
        Err(format!(
            "nothing denies everyone else: {place} {reason}; {FIX}"
        ))
    }

    fn deny_verdict(&self, statement: &Statement) -> Verdict {
        Verdict {
            everyone: self.denies_everyone(&statement.principal),
            every_action: denies_every_ecr_action(&statement.action),
            always: self.always_applies(statement),
        }
    }

    fn denies_everyone(&self, element: &PrincipalElement) -> Result<(), Why> {
        match element {
            PrincipalElement::Principal(p) if p.is_everyone() => Ok(()),
            PrincipalElement::Principal(_) => Err("denies only the principals it names".into()),
            PrincipalElement::NotPrincipal(Principal::Any) => {
                Err("exempts everyone (`NotPrincipal` `*`)".into())
            }
            PrincipalElement::NotPrincipal(p) => {
                for kind in PrincipalType::ALL {
                    for value in p.values(kind) {
                        self.exempted_principal(kind, value)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// A `NotPrincipal` value may be a specific principal, a service principal, or the root of
    /// the repository's own account or an allowlisted one.
    fn exempted_principal(&self, kind: PrincipalType, value: &str) -> Result<(), Why> {
        match kind {
            PrincipalType::Service => Ok(()),
            PrincipalType::Aws if value == "*" => {
                Err("exempts everyone (`NotPrincipal.AWS` `*`)".into())
            }
            PrincipalType::Aws => match root_account(value) {
                None => Ok(()),
                Some(account) if self.owner.is(account) || self.rules.allows_account(account) => {
                    Ok(())
                }
                Some(account) => Err(self.foreign_account(account).into()),
            },
            PrincipalType::Federated | PrincipalType::CanonicalUser => Err(format!(
                "exempts every `{}` principal {}, not specific principals",
                kind.as_str(),
                tick(value)
            )
            .into()),
        }
    }

    fn foreign_account(&self, account: &str) -> String {
        let mut reason = format!(
            "exempts all of account {account}, which is neither the repository's own account nor in `allowed_root_accounts`"
        );
        if self.owner == Owner::Unknown {
            reason.push_str(" (the repository's account is unknown here: `--account` would change the verdict if it is this one)");
        }
        reason
    }

    /// The condition, if any, holds only exemptions of allowed callers and of AWS services.
    fn always_applies(&self, statement: &Statement) -> Result<(), Why> {
        if statement.condition.as_ref().is_none_or(|c| c.is_empty()) {
            return Ok(());
        }
        // The limits come in the document order of the entries they are made of, so one walk
        // pairs each entry with its limit (searching the limits for each entry was quadratic).
        let limits = identity_limits(statement, self.variables);
        let mut limits = limits.iter().peekable();
        for block in statement.condition.iter().flatten() {
            for (key, values) in &block.entries {
                match limits.next_if(|l| std::ptr::eq(l.block, block) && l.key == key.as_ref()) {
                    Some(limit) => self.exemption(limit)?,
                    None => service_exemption(block, key, values)?,
                }
            }
        }
        Ok(())
    }

    /// An identity key under a deny: it must be an exemption (a negated string or ARN
    /// operator) whose every value is concrete and allowed.
    fn exemption(&self, limit: &super::limits::Limit) -> Result<(), Why> {
        let op = limit.block.op;
        // Built only for a message: this runs for every exemption of every deny.
        let on = || format!("`{}` on `{}`", limit.block.operator, limit.key);
        if !op.can_exempt() {
            return Err(if op.base.is_negated() {
                format!(
                    "exempts callers with {}, which is not a string or ARN exemption",
                    on()
                )
                .into()
            } else {
                format!(
                    "applies only to the callers {} matches, so everyone else is not denied",
                    on()
                )
                .into()
            });
        }
        if !set_fits(op.set, limit.ident) {
            return Err(format!(
                "qualifies its exemption {} with a set operator that does not fit this key",
                on()
            )
            .into());
        }
        if let Some(value) = limit.vague().next() {
            return Err(if self.variables && value.contains("${") {
                format!(
                    "exempts {}, a policy variable resolved from each request: it exempts every caller",
                    tick(value)
                ).into()
            } else {
                format!(
                    "exempts {} ({}), which names no fixed set of callers",
                    tick(value),
                    on()
                )
                .into()
            });
        }
        for (_, reach) in limit.values() {
            match reach {
                Reach::Nobody | Reach::Principal => {}
                Reach::Account(account)
                    if self.owner.is(account) || self.rules.allows_account(account) => {}
                Reach::Account(account) => return Err(self.foreign_account(account).into()),
                Reach::Org(org) if self.rules.allows_org(org) => {}
                Reach::Org(org) => {
                    return Err(format!(
                        "exempts every member of organization {}, which `allowed_org_ids` does not list",
                        tick(org)
                    ).into());
                }
            }
        }
        Ok(())
    }
}

/// `Action` holds `*` or `ecr:*`; or `NotAction` holds nothing that could match an ECR action.
fn denies_every_ecr_action(action: &ActionElement) -> Result<(), Why> {
    match action {
        ActionElement::Action(actions)
            if actions
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case("ecr:*")) =>
        {
            Ok(())
        }
        ActionElement::Action(actions) => {
            let mut named: Vec<String> = actions.iter().take(2).map(|a| tick(a)).collect();
            if actions.len() > 2 {
                named.push(format!("{} more", actions.len() - 2));
            }
            Err(format!("denies only {}, not every ECR action", named.join(", ")).into())
        }
        ActionElement::NotAction(actions) => match actions
            .iter()
            .find(|a| may_match_ecr(a) && !is_registry_action(a))
        {
            None => Ok(()),
            Some(a) => Err(format!(
                "leaves the ECR actions matching its `NotAction` {} undenied",
                tick(a)
            )
            .into()),
        },
    }
}

/// The ECR actions whose only resource is `*` (the Service Authorization Reference lists no
/// resource type for them: they act on the registry, not on a repository), so a repository
/// policy never decides them and a `NotAction` leaving them out still denies every repository
/// action. As listed in "Actions, resources, and condition keys for Amazon Elastic Container
/// Registry", August 2026.
const REGISTRY_ACTIONS: [&str; 25] = [
    "CreatePullThroughCacheRule",
    "CreateRepositoryCreationTemplate",
    "DeletePullThroughCacheRule",
    "DeleteRegistryPolicy",
    "DeleteRepositoryCreationTemplate",
    "DeleteSigningConfiguration",
    "DeregisterPullTimeUpdateExclusion",
    "DescribePullThroughCacheRules",
    "DescribeRegistry",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetAuthorizationToken",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "GetSigningConfiguration",
    "ListPullTimeUpdateExclusions",
    "PutAccountSetting",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
    "PutSigningConfiguration",
    "RegisterPullTimeUpdateExclusion",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "ValidatePullThroughCacheRule",
];

/// True for the exact name (any case, as IAM matches action names) of a registry-level ECR
/// action. A pattern such as `ecr:GetAuthorization*` equals no name: an action added later
/// could match it and act on repositories.
fn is_registry_action(action: &str) -> bool {
    action
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("ecr:"))
        && REGISTRY_ACTIONS.iter().any(|name| {
            action
                .get(4..)
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
}

/// True when an action pattern could match some action named `ecr:...` (IAM matches action
/// names without regard to case; `*` is any run of characters, `?` one).
fn may_match_ecr(pattern: &str) -> bool {
    // The pattern positions a match can be at after reading the prefix `ecr:`; any position left
    // can be completed by choosing the rest of the action name. Positions are a bit per
    // pattern character, so a pattern of many stars is read in linear time.
    let pattern: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let close = |states: &mut Vec<bool>| {
        // `*` may match nothing: a state before a star is also a state after it (in order, so
        // a run of stars is crossed in one pass).
        for i in 0..pattern.len() {
            if states[i] && pattern[i] == '*' {
                states[i + 1] = true;
            }
        }
    };
    let mut states = vec![false; pattern.len() + 1];
    states[0] = true;
    close(&mut states);
    for c in "ecr:".chars() {
        let mut next = vec![false; pattern.len() + 1];
        for (s, _) in states.iter().enumerate().filter(|(_, on)| **on) {
            match pattern.get(s) {
                Some('*') => next[s] = true,
                Some('?') => next[s + 1] = true,
                Some(p) if *p == c => next[s + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        if !next.contains(&true) {
            return false;
        }
        states = next;
    }
    true
}

/// A non-identity condition of a deny: only "not an AWS service" exemptions keep it a
/// deny-by-default.
fn service_exemption(
    block: &ConditionBlock,
    key: &str,
    values: &[ConditionValue],
) -> Result<(), Why> {
    let op = block.op;
    let all = |want: &str| {
        values.iter().all(|v| match v {
            ConditionValue::Bool(b) => b.to_string() == want,
            other => other.text().eq_ignore_ascii_case(want),
        })
    };
    if key.eq_ignore_ascii_case("aws:PrincipalIsAWSService")
        && op.base == BaseOperator::Bool
        && op.set.is_none()
        && all("false")
    {
        return Ok(());
    }
    if key.eq_ignore_ascii_case("aws:PrincipalServiceName")
        && op.base == BaseOperator::Null
        && all("true")
    {
        return Ok(());
    }
    let shown: Vec<String> = values.iter().map(|v| tick(&v.text())).collect();
    let shown = shown.join(", ");
    let on = format!("`{}` on `{key}`", block.operator);
    Err(if key.eq_ignore_ascii_case("aws:SecureTransport") {
        let never = if all("false") {
            ", which never happens on ECR's HTTPS API"
        } else {
            ""
        };
        format!("applies only when `aws:SecureTransport` is {shown}{never}").into()
    } else if matches!(
        op.base,
        BaseOperator::IpAddress | BaseOperator::NotIpAddress
    ) {
        format!("applies only to requests from some addresses ({on})").into()
    } else if matches!(
        op.base,
        BaseOperator::DateEquals
            | BaseOperator::DateNotEquals
            | BaseOperator::DateLessThan
            | BaseOperator::DateLessThanEquals
            | BaseOperator::DateGreaterThan
            | BaseOperator::DateGreaterThanEquals
    ) {
        format!("applies only at some times ({on})").into()
    } else {
        format!("applies only when {on} holds for {shown}").into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_action_patterns_that_could_match_an_ecr_action() {
        for yes in [
            "ecr:Foo", "e*", "*:*", "*", "ECR:*", "?cr:*", "ecr*", "*r:Put*",
        ] {
            assert!(may_match_ecr(yes), "{yes}");
        }
        for no in [
            "s3:*",
            "ecr-public:*",
            "ec2:*",
            "ecrx:*",
            "sts:AssumeRole",
            "e",
        ] {
            assert!(!may_match_ecr(no), "{no}");
        }
    }

    #[test]
    fn only_exact_names_of_registry_actions_are_registry_actions() {
        for yes in [
            "ecr:GetAuthorizationToken",
            "ECR:getauthorizationtoken",
            "ecr:PutReplicationConfiguration",
            "ecr:DescribeRegistry",
        ] {
            assert!(is_registry_action(yes), "{yes}");
        }
        for no in [
            "ecr:GetAuthorization*",
            "ecr:GetAuthorizationToke?",
            "ecr:GetDownloadUrlForLayer",
            "ecr:SetRepositoryPolicy",
            "ecr:CreateRepository",
            "ecr-public:GetAuthorizationToken",
            "GetAuthorizationToken",
            "ecr:",
            "",
        ] {
            assert!(!is_registry_action(no), "{no}");
        }
    }
}
