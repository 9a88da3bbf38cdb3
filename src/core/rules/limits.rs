//! What a condition's identity keys reach. A **limit** is one (operator, key) pair of a statement's
//! `Condition` whose key identifies the caller; a value is **concrete** when it names a fixed,
//! known set of callers, and then it reaches a specific principal, a whole account, or an
//! organization. IAM's semantics decide each step: which operators expand `*` and `?`, whether
//! `${...}` is a policy variable, how ARN operators match segment by segment.

use crate::policy::{
    BaseOperator, ConditionBlock, ConditionValue, SetQualifier, Statement, is_account_id,
};
use crate::rules::is_org_id;
use std::borrow::Cow;

/// The condition keys that identify the caller, or the resource a service calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKey {
    PrincipalAccount,
    SourceAccount,
    PrincipalOrgId,
    SourceOrgId,
    PrincipalOrgPaths,
    SourceOrgPaths,
    PrincipalArn,
    SourceArn,
    UserId,
}

impl IdentityKey {
    const ALL: [(IdentityKey, &'static str); 9] = [
        (IdentityKey::PrincipalAccount, "aws:PrincipalAccount"),
        (IdentityKey::SourceAccount, "aws:SourceAccount"),
        (IdentityKey::PrincipalOrgId, "aws:PrincipalOrgID"),
        (IdentityKey::SourceOrgId, "aws:SourceOrgID"),
        (IdentityKey::PrincipalOrgPaths, "aws:PrincipalOrgPaths"),
        (IdentityKey::SourceOrgPaths, "aws:SourceOrgPaths"),
        (IdentityKey::PrincipalArn, "aws:PrincipalArn"),
        (IdentityKey::SourceArn, "aws:SourceArn"),
        (IdentityKey::UserId, "aws:userid"),
    ];

    /// The identity key a condition key names; IAM compares key names without regard to case.
    pub fn parse(key: &str) -> Option<IdentityKey> {
        Self::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(key))
            .map(|(k, _)| *k)
    }

    /// `aws:SourceAccount` and friends: a service acting for a resource of that account.
    pub fn is_source(self) -> bool {
        matches!(
            self,
            IdentityKey::SourceAccount
                | IdentityKey::SourceOrgId
                | IdentityKey::SourceOrgPaths
                | IdentityKey::SourceArn
        )
    }

    /// The multivalued organization paths (the only keys `ForAllValues:` fits).
    pub fn is_org_paths(self) -> bool {
        matches!(
            self,
            IdentityKey::PrincipalOrgPaths | IdentityKey::SourceOrgPaths
        )
    }
}

/// What a concrete value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// No caller at all: an `aws:PrincipalArn` value naming role sessions
    /// (`arn:aws:sts::<account>:assumed-role/...`), which that key never holds (IAM: for a
    /// role session it holds the role's ARN; "Do not specify the assumed role session ARN as a
    /// value for this condition key").
    Nobody,
    /// One exact user, role or session (for `aws:SourceArn`, one exact resource).
    Principal,
    /// Everyone account A's administrators allow.
    Account(String),
    /// Every member of an organization.
    Org(String),
}

/// One identity limit of a statement: its operator block, the key as written, and each value as
/// written with what it reaches (`None`: not concrete).
pub struct Limit<'p> {
    pub block: &'p ConditionBlock<'p>,
    pub key: &'p str,
    pub ident: IdentityKey,
    /// The statement also holds `Null` `false` on this key: it applies only when the key is
    /// present in the request.
    pub present: bool,
    values: Vec<(Cow<'p, str>, Option<Reach>)>,
}

impl<'p> Limit<'p> {
    /// A limit restricts when its operator can (positive string or ARN matching, not
    /// `...IfExists` or `ForAllValues:`, which are true when the key is absent, unless `Null`
    /// `false` on the same key requires it) and every value is concrete.
    pub fn restricts(&self) -> bool {
        let op = self.block.op;
        (op.can_restrict() || (self.present && op.can_restrict_when_present()))
            && self.values.iter().all(|(_, r)| r.is_some())
    }

    /// What the concrete values reach.
    pub fn reaches(&self) -> impl Iterator<Item = &Reach> {
        self.values.iter().filter_map(|(_, r)| r.as_ref())
    }

    /// Each value as written, with what it reaches (concrete values only).
    pub fn values(&self) -> impl Iterator<Item = (&str, &Reach)> {
        self.values
            .iter()
            .filter_map(|(v, r)| r.as_ref().map(|r| (v.as_ref(), r)))
    }

    /// Each value as written that is not concrete.
    pub fn vague(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(v, _)| v.as_ref())
    }
}

/// Every identity limit of a statement, in document order.
pub fn identity_limits<'p>(statement: &'p Statement<'p>, variables: bool) -> Vec<Limit<'p>> {
    let mut limits = Vec::new();
    let required = required_keys(statement);
    for block in statement.condition.iter().flatten() {
        for (key, values) in &block.entries {
            let Some(ident) = IdentityKey::parse(key) else {
                continue;
            };
            let present = required.contains(&ident);
            let values = values
                .iter()
                .map(|v| {
                    let text = v.text();
                    let reach = concrete(ident, block, v, variables);
                    (text, reach)
                })
                .collect();
            limits.push(Limit {
                block,
                key,
                ident,
                present,
                values,
            });
        }
    }
    limits
}

/// The identity keys a statement requires to be present: `Null` with every value `false` on
/// them (IAM: `false` means "the key exists and its value is not null"; several values are
/// ORed, so one `true` would let an absent key through). Only the JSON `false` and the string
/// `"false"` count; any other spelling leaves the key optional, the stricter reading.
fn required_keys(statement: &Statement) -> Vec<IdentityKey> {
    let mut required = Vec::new();
    for block in statement.condition.iter().flatten() {
        if block.op.base != BaseOperator::Null {
            continue;
        }
        for (key, values) in &block.entries {
            let all_false = values.iter().all(|v| match v {
                ConditionValue::Bool(b) => !b,
                ConditionValue::String(s) => s == "false",
                ConditionValue::Number(_) => false,
            });
            // Nine identity keys at most, however many entries the block has.
            if let Some(ident) = IdentityKey::parse(key)
                && all_false
                && !required.contains(&ident)
            {
                required.push(ident);
            }
        }
    }
    required
}

/// One character of a value as IAM matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Question,
}

/// A value's characters under an operator: `*` and `?` are wildcards only under pattern
/// operators; in a `2012-10-17` policy `${*}`, `${?}` and `${$}` are the literal characters and
/// any other `${` starts a policy variable, resolved from each request (`None`: no fixed set).
fn tokens(value: &str, pattern: bool, variables: bool) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        if variables && rest.starts_with("${") {
            let literal = ["${*}", "${?}", "${$}"]
                .iter()
                .find(|escape| rest.starts_with(**escape))?;
            out.push(Tok::Char(literal.as_bytes()[2] as char));
            rest = &rest[4..];
            continue;
        }
        out.push(match c {
            '*' if pattern => Tok::Star,
            '?' if pattern => Tok::Question,
            c => Tok::Char(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The text of tokens that are all literal characters.
fn literal(toks: &[Tok]) -> Option<String> {
    toks.iter()
        .map(|t| match t {
            Tok::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// What one value of an identity key reaches, when it is concrete.
fn concrete(
    ident: IdentityKey,
    block: &ConditionBlock,
    value: &ConditionValue,
    variables: bool,
) -> Option<Reach> {
    let op = block.op;
    let text = value.text();
    // Values of the non-string operators (numbers, dates, booleans, IPs) are never caller names.
    let string_or_arn = matches!(
        op.base,
        BaseOperator::StringEquals
            | BaseOperator::StringNotEquals
            | BaseOperator::StringEqualsIgnoreCase
            | BaseOperator::StringNotEqualsIgnoreCase
            | BaseOperator::StringLike
            | BaseOperator::StringNotLike
            | BaseOperator::ArnEquals
            | BaseOperator::ArnLike
            | BaseOperator::ArnNotEquals
            | BaseOperator::ArnNotLike
    );
    if !string_or_arn {
        return None;
    }
    // The usual value has no wildcard and no `${`: every character is literal, so the value
    // is judged as text (tokens cost an allocation per value and an eighth of a batch check).
    if !text.contains(['*', '?', '$']) {
        return match op.ignores_case() {
            true => literal_reach(ident, &text.to_ascii_lowercase()),
            false => literal_reach(ident, &text),
        };
    }
    let mut toks = tokens(&text, op.base.is_pattern(), variables)?;
    if op.ignores_case() {
        // Account and organization ids are lower case: the value matches its lower-case form.
        for t in &mut toks {
            if let Tok::Char(c) = t {
                *c = c.to_ascii_lowercase();
            }
        }
    }
    token_reach(ident, &toks, op.base.is_arn())
}

/// What a value's tokens reach: the general case of [`concrete`].
fn token_reach(ident: IdentityKey, toks: &[Tok], arn_operator: bool) -> Option<Reach> {
    match ident {
        IdentityKey::PrincipalAccount | IdentityKey::SourceAccount => literal(toks)
            .filter(|a| is_account_id(a))
            .map(Reach::Account),
        IdentityKey::PrincipalOrgId | IdentityKey::SourceOrgId => {
            literal(toks).filter(|o| is_org_id(o)).map(Reach::Org)
        }
        IdentityKey::PrincipalOrgPaths | IdentityKey::SourceOrgPaths => {
            // `o-.../` first, literally: the organization; anything may follow.
            let slash = toks.iter().position(|t| *t == Tok::Char('/'))?;
            literal(&toks[..slash])
                .filter(|o| is_org_id(o))
                .map(Reach::Org)
        }
        IdentityKey::PrincipalArn | IdentityKey::SourceArn => arn_reach(ident, toks, arn_operator),
        IdentityKey::UserId => {
            // A literal id before the first `:` (or in whole): an account id, or a user's or
            // role's unique id (one principal, or one role's sessions). After an account id,
            // a literal name is one federated user (`account:caller-specified-name`); a
            // wildcard there is every federated user of the account; the id alone is its root.
            let colon = toks.iter().position(|t| *t == Tok::Char(':'));
            let head = literal(&toks[..colon.unwrap_or(toks.len())])?;
            if head.is_empty() {
                return None;
            }
            Some(match colon {
                Some(at) if is_account_id(&head) && literal(&toks[at + 1..]).is_some() => {
                    Reach::Principal
                }
                _ if is_account_id(&head) => Reach::Account(head),
                _ => Reach::Principal,
            })
        }
    }
}

/// What a value reaches when all of it is literal, decided as [`concrete`]'s token walk decides
/// it for such a value (a test holds the two to that).
fn literal_reach(ident: IdentityKey, value: &str) -> Option<Reach> {
    match ident {
        IdentityKey::PrincipalAccount | IdentityKey::SourceAccount => {
            is_account_id(value).then(|| Reach::Account(value.to_owned()))
        }
        IdentityKey::PrincipalOrgId | IdentityKey::SourceOrgId => {
            is_org_id(value).then(|| Reach::Org(value.to_owned()))
        }
        IdentityKey::PrincipalOrgPaths | IdentityKey::SourceOrgPaths => {
            let (org, _) = value.split_once('/')?;
            is_org_id(org).then(|| Reach::Org(org.to_owned()))
        }
        IdentityKey::PrincipalArn | IdentityKey::SourceArn => {
            let mut parts = value.splitn(6, ':');
            let (arn, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
            let (_region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
            if !arn.eq_ignore_ascii_case("arn")
                || partition.is_empty()
                || service.is_empty()
                || !is_account_id(account)
                || resource.is_empty()
            {
                return None;
            }
            if ident == IdentityKey::PrincipalArn && names_sessions(resource) {
                return Some(Reach::Nobody);
            }
            let root = ident == IdentityKey::PrincipalArn
                && service.eq_ignore_ascii_case("iam")
                && resource.eq_ignore_ascii_case("root");
            Some(match root {
                true => Reach::Account(account.to_owned()),
                false => Reach::Principal,
            })
        }
        IdentityKey::UserId => {
            let (head, name) = match value.split_once(':') {
                Some((head, name)) => (head, Some(name)),
                None => (value, None),
            };
            if head.is_empty() {
                return None;
            }
            Some(match (is_account_id(head), name) {
                // The whole value is literal here: one federated user of the account.
                (true, Some(_)) => Reach::Principal,
                (true, None) => Reach::Account(head.to_owned()),
                (false, _) => Reach::Principal,
            })
        }
    }
}

/// True when an ARN's resource names role sessions (`assumed-role/...`, any case): no IAM user,
/// role or root has such a resource, and `aws:PrincipalArn` never holds a session's ARN.
fn names_sessions(resource: &str) -> bool {
    resource
        .get(.."assumed-role/".len())
        .is_some_and(|p| p.eq_ignore_ascii_case("assumed-role/"))
}

/// An ARN value: the account literal, and the partition, service and region literal too under
/// `StringLike` (a `*` before the account could swallow `:` and the account with it). The ARN
/// operators match each of the six segments separately (IAM: "Each of the six colon-delimited
/// components of the ARN is checked separately"), so under them wildcards may stand in the
/// partition, service and region: with a literal account such a value reaches that account.
fn arn_reach(ident: IdentityKey, toks: &[Tok], arn_operator: bool) -> Option<Reach> {
    let mut segments: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if segments.len() == 5 {
            break;
        }
        if *t == Tok::Char(':') {
            segments.push(&toks[start..i]);
            start = i + 1;
        }
    }
    if segments.len() < 5 {
        return None;
    }
    let resource = &toks[start..];
    let [arn, partition, service, region, account] = [
        segments[0],
        segments[1],
        segments[2],
        segments[3],
        segments[4],
    ];
    let arn = literal(arn)?;
    let account = literal(account)?;
    let (partition, service) = (literal(partition), literal(service));
    if !arn_operator && (partition.is_none() || service.is_none() || literal(region).is_none()) {
        return None;
    }
    if !arn.eq_ignore_ascii_case("arn")
        || partition.as_deref() == Some("")
        || service.as_deref() == Some("")
        || !is_account_id(&account)
    {
        return None;
    }
    // The resource's first characters, up to its first wildcard.
    let lead: String = resource
        .iter()
        .map_while(|t| match t {
            Tok::Char(c) => Some(*c),
            _ => None,
        })
        .collect();
    if ident == IdentityKey::PrincipalArn && names_sessions(&lead) {
        return Some(Reach::Nobody);
    }
    let Some(service) = service.filter(|_| partition.is_some()) else {
        // Any service, or any partition: whatever the account holds (a request to this
        // registry comes from its own partition).
        return (!resource.is_empty()).then_some(Reach::Account(account));
    };
    let resource_literal = literal(resource);
    match resource_literal {
        // A wildcard in the resource: whoever A's administrators name that way.
        None => Some(Reach::Account(account)),
        Some(r) if r.is_empty() => None,
        // The root user is the account.
        Some(r)
            if ident == IdentityKey::PrincipalArn
                && service.eq_ignore_ascii_case("iam")
                && r.eq_ignore_ascii_case("root") =>
        {
            Some(Reach::Account(account))
        }
        Some(_) => Some(Reach::Principal),
    }
}

/// True when a set qualifier fits the key: `ForAllValues:` only on the multivalued org paths.
pub fn set_fits(set: Option<SetQualifier>, ident: IdentityKey) -> bool {
    match set {
        None => true,
        Some(SetQualifier::ForAllValues) => ident.is_org_paths(),
        Some(SetQualifier::ForAnyValue) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// The reach of each value of the first limit of a one-statement policy.
    fn reach(version: &str, op: &str, key: &str, value: &str) -> Option<Reach> {
        let text = serde_json::json!({"Version": version, "Statement": {"Effect": "Allow",
            "Principal": "*", "Action": "ecr:BatchGetImage",
            "Condition": {op: {key: value}}}})
        .to_string();
        let policy = Policy::parse(&text).unwrap();
        let limits = identity_limits(&policy.statements[0], version == "2012-10-17");
        limits[0].values.first().and_then(|(_, r)| r.clone())
    }

    const V12: &str = "2012-10-17";
    const V08: &str = "2008-10-17";

    proptest::proptest! {
        #[test]
        fn any_literal_value_reaches_as_text_what_its_tokens_reach(
            value in "(arn|ARN|aws|iam|sts|root|role/|assumed-role/|o-a1b2c3d4e5|987654321098|[0-9a-z]{0,3}|:|/){0,8}",
        ) {
            let toks: Vec<Tok> = value.chars().map(Tok::Char).collect();
            for (ident, _) in IdentityKey::ALL {
                proptest::prop_assert_eq!(
                    literal_reach(ident, &value),
                    token_reach(ident, &toks, true),
                    "{:?} {:?}", ident, value
                );
            }
        }
    }

    #[test]
    fn a_literal_value_reaches_as_text_what_its_tokens_reach() {
        // The fast path against the token walk, on every identity key and on values near each
        // shape's edges: ids one digit short, empty parts, odd case, extra colons and slashes.
        let values = [
            "987654321098",
            "98765432109",
            "9876543210988",
            "o-a1b2c3d4e5",
            "O-A1B2C3D4E5",
            "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",
            "o-a1b2c3d4e5/",
            "/o-a1b2c3d4e5",
            "o-short/x",
            "arn:aws:iam::987654321098:root",
            "ARN:AWS:IAM::987654321098:ROOT",
            "arn:aws:iam::987654321098:role/deploy",
            "arn:aws:iam::987654321098:role/a:b:c",
            "arn:aws:sts::987654321098:assumed-role/r/s",
            "arn:aws:sts::987654321098:root",
            "arn:aws:iam::987654321098:",
            "arn:aws:iam::98765432109:root",
            "arn::iam::987654321098:root",
            "arn:aws:::987654321098:root",
            "arn:aws:iam:eu-west-1:987654321098:root",
            "arn:aws:iam::987654321098",
            "arn:aws:sns:eu-west-1:987654321098:topic",
            "nope:aws:iam::987654321098:root",
            "987654321098:session",
            "987654321098:",
            "arn:aws:sts::987654321098:assumed-role/",
            "arn:aws:sts::987654321098:ASSUMED-ROLE/r/s",
            "arn:aws:iam::987654321098:assumed-role/r",
            "AROAEXAMPLEID1234567:session",
            ":session",
            "",
            "anything",
        ];
        for (ident, _) in IdentityKey::ALL {
            for value in values {
                let toks: Vec<Tok> = value.chars().map(Tok::Char).collect();
                for arn_operator in [false, true] {
                    assert_eq!(
                        literal_reach(ident, value),
                        token_reach(ident, &toks, arn_operator),
                        "{ident:?} {value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn accounts_and_organizations_must_be_written_out() {
        let account = |op, v| reach(V12, op, "aws:PrincipalAccount", v);
        assert_eq!(
            account("StringEquals", "987654321098"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(account("StringLike", "98765432109?"), None);
        assert_eq!(account("StringLike", "*"), None);
        assert_eq!(
            account("StringEquals", "98765432109*"),
            None,
            "a literal `*` is no account"
        );
        let org = |op, v| reach(V12, op, "aws:PrincipalOrgID", v);
        assert_eq!(
            org("StringEquals", "o-a1b2c3d4e5"),
            Some(Reach::Org("o-a1b2c3d4e5".into()))
        );
        assert_eq!(org("StringLike", "o-*"), None);
        assert_eq!(
            org("StringEqualsIgnoreCase", "O-A1B2C3D4E5"),
            Some(Reach::Org("o-a1b2c3d4e5".into()))
        );
        let paths = |v| reach(V12, "ForAnyValue:StringLike", "aws:PrincipalOrgPaths", v);
        assert_eq!(
            paths("o-a1b2c3d4e5/r-ab12/*"),
            Some(Reach::Org("o-a1b2c3d4e5".into()))
        );
        assert_eq!(paths("o-*/r-ab12/*"), None);
        assert_eq!(paths("*/o-a1b2c3d4e5/"), None);
    }

    #[test]
    fn arns_name_a_principal_or_a_whole_account() {
        let arn = |op, v| reach(V12, op, "aws:PrincipalArn", v);
        assert_eq!(
            arn("ArnEquals", "arn:aws:iam::987654321098:role/app"),
            Some(Reach::Principal)
        );
        assert_eq!(
            arn("ArnLike", "arn:aws:iam::987654321098:role/*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            arn("ArnEquals", "arn:aws:iam::987654321098:root"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(arn("ArnLike", "arn:aws:iam::*:role/app"), None);
        // ARN operators match segment by segment: a wildcard partition or service cannot
        // reach past the literal account.
        assert_eq!(
            arn("ArnLike", "arn:*:iam::987654321098:role/app"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            arn("ArnEquals", "arn:aws:*:*:987654321098:*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(arn("StringLike", "arn:aws:*:*:987654321098:*"), None);
        assert_eq!(arn("StringLike", "arn:*:iam::987654321098:role/app"), None);
        assert_eq!(arn("ArnLike", "arn:aws:*:*:98765432109?:*"), None);
        let source = |op, v| reach(V12, op, "aws:SourceArn", v);
        assert_eq!(
            source("ArnLike", "arn:aws:*:*:123456789012:*"),
            Some(Reach::Account("123456789012".into()))
        );
        assert_eq!(source("StringLike", "arn:aws:*:*:123456789012:*"), None);
        assert_eq!(
            arn("ArnLike", "arn:aws:iam:*:987654321098:role/app"),
            Some(Reach::Principal)
        );
        // Under StringLike a `*` in the region can swallow `:` and the account.
        assert_eq!(
            arn("StringLike", "arn:aws:iam:*:987654321098:role/app"),
            None
        );
        assert_eq!(
            arn("StringLike", "arn:aws:iam::987654321098:role/*"),
            Some(Reach::Account("987654321098".into()))
        );
        // Under StringEquals `*` is a literal character: one (odd) role.
        assert_eq!(
            arn("StringEquals", "arn:aws:iam::987654321098:role/*"),
            Some(Reach::Principal)
        );
        assert_eq!(arn("ArnEquals", "not an arn"), None);
    }

    #[test]
    fn only_null_false_on_the_same_key_requires_it() {
        let present = |block: serde_json::Value| {
            let text = serde_json::json!({"Version": V12, "Statement": {"Effect": "Allow",
                "Principal": "*", "Action": "ecr:BatchGetImage",
                "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
                    "Null": block}}})
            .to_string();
            let policy = Policy::parse(&text).unwrap();
            let limits = identity_limits(&policy.statements[0], true);
            let limit = limits
                .iter()
                .find(|l| l.ident == IdentityKey::PrincipalOrgId)
                .unwrap();
            (limit.present, limit.restricts())
        };
        use serde_json::json;
        assert_eq!(present(json!({"aws:PrincipalOrgID": false})), (true, true));
        assert_eq!(
            present(json!({"aws:PrincipalOrgID": "false"})),
            (true, true)
        );
        assert_eq!(
            present(json!({"AWS:principalorgid": [false, "false"]})),
            (true, true)
        );
        for optional in [
            json!({"aws:PrincipalOrgID": true}),
            json!({"aws:PrincipalOrgID": [false, true]}),
            json!({"aws:PrincipalOrgID": "False"}),
            json!({"aws:PrincipalOrgID": 0}),
            json!({"aws:PrincipalAccount": false}),
        ] {
            assert_eq!(present(optional.clone()), (false, false), "{optional}");
        }
    }

    #[test]
    fn a_principal_arn_of_role_sessions_reaches_nobody() {
        let arn = |op, v| reach(V12, op, "aws:PrincipalArn", v);
        for (op, value) in [
            ("ArnLike", "arn:aws:sts::987654321098:assumed-role/deploy/*"),
            (
                "ArnEquals",
                "arn:aws:sts::987654321098:assumed-role/deploy/alice",
            ),
            (
                "StringEquals",
                "arn:aws:sts::987654321098:assumed-role/deploy/alice",
            ),
            ("StringLike", "arn:aws:sts::987654321098:assumed-role/*"),
            ("ArnLike", "arn:aws:*:*:987654321098:assumed-role/*"),
        ] {
            assert_eq!(arn(op, value), Some(Reach::Nobody), "{op} {value}");
        }
        // The resource could be a federated user's, or anything: the account decides.
        assert_eq!(
            arn("ArnLike", "arn:aws:sts::987654321098:*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            arn("ArnLike", "arn:aws:sts::987654321098:assumed-role*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            arn("ArnEquals", "arn:aws:sts::987654321098:federated-user/bob"),
            Some(Reach::Principal)
        );
        // A source ARN is a resource's, never a session's: no special case there.
        assert_eq!(
            reach(
                V12,
                "ArnEquals",
                "aws:SourceArn",
                "arn:aws:sts::987654321098:assumed-role/r/s"
            ),
            Some(Reach::Principal)
        );
    }

    #[test]
    fn policy_variables_are_no_fixed_set_only_where_the_version_makes_them_variables() {
        let org = |version, v| reach(version, "StringEquals", "aws:PrincipalOrgID", v);
        assert_eq!(org(V12, "${aws:PrincipalOrgID}"), None);
        // In 2008-10-17 it is literal text: a value no organization id has.
        assert_eq!(org(V08, "${aws:PrincipalOrgID}"), None);
        let arn = |version, v| reach(version, "ArnLike", "aws:PrincipalArn", v);
        assert_eq!(
            arn(V12, "arn:aws:iam::987654321098:role/${aws:username}"),
            None
        );
        assert_eq!(
            arn(V08, "arn:aws:iam::987654321098:role/${aws:username}"),
            Some(Reach::Principal)
        );
        // IAM's escapes stand for the literal character, even under a pattern operator.
        assert_eq!(
            arn(V12, "arn:aws:iam::987654321098:role/a${*}b"),
            Some(Reach::Principal)
        );
        assert_eq!(
            arn(V12, "arn:aws:iam::987654321098:role/a*b"),
            Some(Reach::Account("987654321098".into()))
        );
    }

    #[test]
    fn user_ids_reach_an_account_or_one_principal() {
        let uid = |op, v| reach(V12, op, "aws:userid", v);
        assert_eq!(uid("StringLike", "AROAEXAMPLEID:*"), Some(Reach::Principal));
        assert_eq!(
            uid("StringLike", "987654321098:*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            uid("StringEquals", "987654321098"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(uid("StringLike", "AROA*:app"), None);
        assert_eq!(uid("StringLike", "*"), None);
        // `account:caller-specified-name` is one federated user; a wildcard name is them all.
        assert_eq!(
            uid("StringEquals", "987654321098:build-bot"),
            Some(Reach::Principal)
        );
        assert_eq!(
            uid("StringLike", "987654321098:build-bot"),
            Some(Reach::Principal)
        );
        assert_eq!(
            uid("StringLike", "987654321098:build-*"),
            Some(Reach::Account("987654321098".into()))
        );
        assert_eq!(
            uid("StringEquals", "987654321098:*"),
            Some(Reach::Principal),
            "a literal `*` under StringEquals is one (odd) name"
        );
    }
}
