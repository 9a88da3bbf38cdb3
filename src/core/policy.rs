//! Strict parsing of ECR repository and registry policies into a typed model, with errors that
//! name the place.
//!
//! Parsing is two phases: [`Json::parse`] (syntax, duplicate keys, depth) and validation of the
//! tree against the grammar ECR accepts for the policy's [`PolicyKind`] (no unknown keys, no
//! empty arrays, exactly one of `Principal`/`NotPrincipal` and of `Action`/`NotAction`; a
//! repository policy has no `Resource`, a registry policy needs one of `Resource`/`NotResource`
//! naming repositories of its registry).

use crate::json::{Json, JsonError};
use crate::text::{escape, tick};
use std::borrow::Cow;
use std::fmt;

/// ECR's limit on the policy text a caller sends (`SetRepositoryPolicy`, `PutRegistryPolicy`, a
/// creation template's `repositoryPolicy`), in characters: also the limit on what the guard
/// writes and on the files `check` reads.
pub const MAX_POLICY_CHARS: usize = 10_240;

/// The longest copy of a policy ECR itself returns (`responseElements`, `GetRepositoryPolicy`,
/// `GetRegistryPolicy`, creation templates, the stored copies inside CloudTrail history), in
/// characters. ECR re-serializes what it stores with the layout of Jackson's
/// `DefaultPrettyPrinter` (`" : "` between key and value, a line and two spaces of indentation
/// per object level, arrays on one line): a quarter to three times the caller's compact text.
/// The bound is the worst case of that serializer over a caller text within
/// [`MAX_POLICY_CHARS`]: a policy's objects nest at most four deep, so a member gains at most a
/// line break, eight spaces and two around its colon (under four times its shortest form,
/// `"":0`), and a string character at most twelve (a character outside the Basic Multilingual
/// Plane written as two `\uXXXX` escapes, should ECR escape non-ASCII). Twelve times the caller's
/// limit therefore covers every copy ECR can produce; a property test holds a Jackson-style
/// printer to it.
pub const MAX_STORED_POLICY_CHARS: usize = 12 * MAX_POLICY_CHARS;

/// Which copy of a policy a text is, which decides how long it may be: the caller's (held to
/// ECR's limit on what a caller sends) or ECR's stored re-serialization of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PolicyCopy {
    /// What a caller sent (`requestParameters`), a file `check` reads, what the guard writes.
    #[default]
    Caller,
    /// What ECR stored and returns (`responseElements`, `GetRepositoryPolicy`,
    /// `GetRegistryPolicy`, `DescribeRepositoryCreationTemplates`).
    Stored,
}

impl PolicyCopy {
    /// The longest text of this copy the parser reads, in characters.
    pub fn max_chars(self) -> usize {
        match self {
            PolicyCopy::Caller => MAX_POLICY_CHARS,
            PolicyCopy::Stored => MAX_STORED_POLICY_CHARS,
        }
    }
}

/// A policy that failed to parse or validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {0}")]
    Json(JsonError),
    #[error("policy must be a JSON object, found {0}")]
    NotObject(&'static str),
    #[error("{}", too_long(*chars, *copy))]
    TooLong { chars: usize, copy: PolicyCopy },
    #[error("{place}: {problem}")]
    Invalid { place: Place, problem: String },
}

fn too_long(chars: usize, copy: PolicyCopy) -> String {
    match copy {
        PolicyCopy::Caller => {
            format!("policy is {chars} characters; ECR's limit is {MAX_POLICY_CHARS}")
        }
        PolicyCopy::Stored => format!(
            "ECR's stored copy of the policy is {chars} characters; no copy ECR makes of a policy within its limit of {MAX_POLICY_CHARS} is longer than {MAX_STORED_POLICY_CHARS}"
        ),
    }
}

impl PolicyError {
    /// The same error for a policy that is line `line` of a larger file (JSON Lines): a JSON
    /// error's position names that line.
    pub fn on_line(self, line: usize) -> PolicyError {
        match self {
            PolicyError::Json(e) => PolicyError::Json(e.on_line(line)),
            other => other,
        }
    }
}

/// Where in a policy a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Policy,
    /// 0-based statement index, with its `Sid` when it has a string one.
    Statement {
        index: usize,
        sid: Option<String>,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Place::Policy => f.write_str("policy"),
            Place::Statement { index, sid: None } => write!(f, "statement {index}"),
            Place::Statement {
                index,
                sid: Some(sid),
            } => write!(f, "statement {index} ({})", tick(sid)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2012_10_17,
    V2008_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// The keys allowed inside a `Principal` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    pub const ALL: [PrincipalType; 4] = [
        PrincipalType::Aws,
        PrincipalType::Service,
        PrincipalType::Federated,
        PrincipalType::CanonicalUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// The value of `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal<'a> {
    /// The string `*`.
    Any,
    /// An object of principal type → values, in document order.
    Typed(Vec<(PrincipalType, Vec<Cow<'a, str>>)>),
}

impl<'a> Principal<'a> {
    /// The values given for one principal type (empty when the type is absent).
    pub fn values(&self, kind: PrincipalType) -> &[Cow<'a, str>] {
        match self {
            Principal::Any => &[],
            Principal::Typed(entries) => entries
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, v)| v.as_slice())
                .unwrap_or(&[]),
        }
    }

    /// True for `*` and for `{"AWS": "*"}` (or a list of AWS principals holding `*`):
    /// both match every caller.
    pub fn is_everyone(&self) -> bool {
        match self {
            Principal::Any => true,
            Principal::Typed(_) => self.values(PrincipalType::Aws).iter().any(|v| v == "*"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalElement<'a> {
    Principal(Principal<'a>),
    NotPrincipal(Principal<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionElement<'a> {
    Action(Vec<Cow<'a, str>>),
    NotAction(Vec<Cow<'a, str>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionValue<'a> {
    String(Cow<'a, str>),
    Number(serde_json::Number),
    Bool(bool),
}

impl ConditionValue<'_> {
    /// The value as IAM compares it: numbers and booleans are matched as their text.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            ConditionValue::String(s) => Cow::Borrowed(s),
            ConditionValue::Number(n) => Cow::Owned(n.to_string()),
            ConditionValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// One condition operator with its key → values entries, e.g. `StringEquals`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionBlock<'a> {
    /// The operator as written (always one of IAM's exact spellings: see [`Operator`]).
    pub operator: Cow<'a, str>,
    pub op: Operator,
    /// Keys are unique, compared as IAM compares them: without regard to case.
    pub entries: Vec<(Cow<'a, str>, Vec<ConditionValue<'a>>)>,
}

/// A registry policy statement's `Resource` or `NotResource`: `*` or repository ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceElement<'a> {
    Resource(Vec<Cow<'a, str>>),
    NotResource(Vec<Cow<'a, str>>),
}

impl ResourceElement<'_> {
    /// The values as evidence: `NotResource` ones marked so that nobody reads them as granted.
    pub fn evidence(&self) -> Vec<String> {
        match self {
            ResourceElement::Resource(values) => values.iter().map(|v| v.to_string()).collect(),
            ResourceElement::NotResource(values) => {
                values.iter().map(|v| format!("not {v}")).collect()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement<'a> {
    pub sid: Option<Cow<'a, str>>,
    pub effect: Effect,
    pub principal: PrincipalElement<'a>,
    pub action: ActionElement<'a>,
    /// Registry policies only (repository policies have none).
    pub resource: Option<ResourceElement<'a>>,
    /// `None` when the statement has no `Condition`; `Some(vec![])` for `{}`.
    pub condition: Option<Vec<ConditionBlock<'a>>>,
}

/// Which grammar a policy follows: what it may say about resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyKind {
    /// A repository policy (`SetRepositoryPolicy`): the repository is the resource; no
    /// `Resource` element.
    #[default]
    Repository,
    /// A registry policy (`PutRegistryPolicy`): every statement names the repositories it
    /// covers with `Resource` or `NotResource`, ARNs of this registry or `*`.
    Registry,
}

impl PolicyKind {
    /// The policy's name in messages.
    pub fn noun(self) -> &'static str {
        match self {
            PolicyKind::Repository => "repository policy",
            PolicyKind::Registry => "registry policy",
        }
    }
}

/// The grammar to validate against, with the registry a registry policy must name.
#[derive(Debug, Clone, Copy)]
enum Grammar<'s> {
    Repository,
    Registry(RegistryScope<'s>),
}

/// The registry a registry policy belongs to, where known: its `Resource` ARNs must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryScope<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy<'a> {
    pub version: Option<Version>,
    pub id: Option<Cow<'a, str>>,
    pub statements: Vec<Statement<'a>>,
}

impl<'a> Policy<'a> {
    /// Parses and validates a repository policy as a caller sends it (at most
    /// [`MAX_POLICY_CHARS`]); strings borrow from `text` where possible.
    pub fn parse(text: &'a str) -> Result<Policy<'a>, PolicyError> {
        Policy::parse_with(text, Grammar::Repository, PolicyCopy::Caller)
    }

    /// Parses and validates ECR's stored copy of a repository policy (at most
    /// [`MAX_STORED_POLICY_CHARS`]).
    pub fn parse_stored(text: &'a str) -> Result<Policy<'a>, PolicyError> {
        Policy::parse_with(text, Grammar::Repository, PolicyCopy::Stored)
    }

    /// Parses and validates a registry policy of the registry `scope` names (as far as known),
    /// as a caller sends it.
    pub fn parse_registry(text: &'a str, scope: RegistryScope) -> Result<Policy<'a>, PolicyError> {
        Policy::parse_with(text, Grammar::Registry(scope), PolicyCopy::Caller)
    }

    /// Parses a caller's policy of either kind (`scope` is read for registry policies only).
    pub fn parse_kind(
        text: &'a str,
        kind: PolicyKind,
        scope: RegistryScope,
    ) -> Result<Policy<'a>, PolicyError> {
        Policy::parse_copy(text, kind, scope, PolicyCopy::Caller)
    }

    /// Parses a policy of either kind as the given copy: the caller's, or ECR's stored one.
    pub fn parse_copy(
        text: &'a str,
        kind: PolicyKind,
        scope: RegistryScope,
        copy: PolicyCopy,
    ) -> Result<Policy<'a>, PolicyError> {
        let grammar = match kind {
            PolicyKind::Repository => Grammar::Repository,
            PolicyKind::Registry => Grammar::Registry(scope),
        };
        Policy::parse_with(text, grammar, copy)
    }

    fn parse_with(
        text: &'a str,
        grammar: Grammar,
        copy: PolicyCopy,
    ) -> Result<Policy<'a>, PolicyError> {
        // Counting characters is linear; the cheap byte test skips it for most policies.
        let limit = copy.max_chars();
        if text.len() > limit {
            let chars = text.chars().count();
            if chars > limit {
                return Err(PolicyError::TooLong { chars, copy });
            }
        }
        let json = Json::parse(text).map_err(PolicyError::Json)?;
        Policy::from_json_with(&json, grammar)
    }

    /// Validates an already parsed JSON tree as a repository policy.
    pub fn from_json(json: &Json<'a>) -> Result<Policy<'a>, PolicyError> {
        Policy::from_json_with(json, Grammar::Repository)
    }

    fn from_json_with(json: &Json<'a>, grammar: Grammar) -> Result<Policy<'a>, PolicyError> {
        let members = json
            .as_object()
            .ok_or(PolicyError::NotObject(json.kind()))?;
        let at_policy = |problem: String| PolicyError::Invalid {
            place: Place::Policy,
            problem,
        };
        let [version, id, statement] =
            pick(members, ["Version", "Id", "Statement"]).map_err(|key| {
                at_policy(match (key, grammar) {
                    ("Resource" | "NotResource", Grammar::Repository) => {
                        not_in_repository_policy(key)
                    }
                    _ => format!("unknown key {}", tick(key)),
                })
            })?;
        let version = version
            .map(|v| match v.as_str() {
                Some("2012-10-17") => Ok(Version::V2012_10_17),
                Some("2008-10-17") => Ok(Version::V2008_10_17),
                _ => Err(at_policy(format!(
                    "`Version` must be `2012-10-17` or `2008-10-17`, found {}",
                    found(v)
                ))),
            })
            .transpose()?;
        let id = id.map(|v| string(v, "Id").map_err(at_policy)).transpose()?;
        let statements = match statement {
            None => return Err(at_policy("`Statement` is required".into())),
            Some(single @ Json::Object(_)) => vec![statement_from_json(0, single, grammar)?],
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(at_policy("`Statement` must not be an empty array".into()));
            }
            Some(Json::Array(items)) => try_map(items, |i, s| statement_from_json(i, s, grammar))?,
            Some(other) => {
                return Err(at_policy(format!(
                    "`Statement` must be an object or an array of objects, found {}",
                    other.kind()
                )));
            }
        };
        Ok(Policy {
            version,
            id,
            statements,
        })
    }
}

fn statement_from_json<'a>(
    index: usize,
    json: &Json<'a>,
    grammar: Grammar,
) -> Result<Statement<'a>, PolicyError> {
    let invalid = |sid: Option<&str>, problem: String| PolicyError::Invalid {
        place: Place::Statement {
            index,
            sid: sid.map(str::to_owned),
        },
        problem,
    };
    let members = json.as_object().ok_or_else(|| {
        invalid(
            None,
            format!("statement must be an object, found {}", json.kind()),
        )
    })?;
    // The Sid names the place in every later error, so it is read first.
    let sid = match json.get("Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(invalid(
                None,
                format!("`Sid` must be a string, found {}", other.kind()),
            ));
        }
    };
    let err = |problem: String| invalid(sid.as_deref(), problem);
    let [
        _,
        effect,
        principal,
        not_principal,
        action,
        not_action,
        resource,
        not_resource,
        condition,
    ] = pick(
        members,
        [
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ],
    )
    .map_err(|key| err(format!("unknown key {}", tick(key))))?;
    // Checked first: in a repository policy a `Resource` is the first thing wrong.
    let resource = match (grammar, resource, not_resource) {
        (Grammar::Repository, None, None) => None,
        (Grammar::Repository, Some(_), _) => return Err(err(not_in_repository_policy("Resource"))),
        (Grammar::Repository, _, Some(_)) => {
            return Err(err(not_in_repository_policy("NotResource")));
        }
        (Grammar::Registry(_), Some(_), Some(_)) => {
            return Err(err(
                "`Resource` and `NotResource` cannot both be present".into()
            ));
        }
        (Grammar::Registry(_), None, None) => {
            return Err(err(
                "one of `Resource` or `NotResource` is required in a registry policy".into(),
            ));
        }
        (Grammar::Registry(scope), Some(r), None) => Some(ResourceElement::Resource(
            resources_from_json(r, "Resource", scope).map_err(err)?,
        )),
        (Grammar::Registry(scope), None, Some(r)) => Some(ResourceElement::NotResource(
            resources_from_json(r, "NotResource", scope).map_err(err)?,
        )),
    };
    let effect = match effect {
        None => return Err(err("`Effect` is required".into())),
        Some(v) => match v.as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => {
                return Err(err(format!(
                    "`Effect` must be `Allow` or `Deny`, found {}",
                    found(v)
                )));
            }
        },
    };
    let principal = match (principal, not_principal) {
        (Some(_), Some(_)) => {
            return Err(err(
                "`Principal` and `NotPrincipal` cannot both be present".into()
            ));
        }
        (None, None) => {
            return Err(err(
                "one of `Principal` or `NotPrincipal` is required".into()
            ));
        }
        (Some(p), None) => {
            PrincipalElement::Principal(principal_from_json(p, "Principal").map_err(err)?)
        }
        (None, Some(p)) => {
            PrincipalElement::NotPrincipal(principal_from_json(p, "NotPrincipal").map_err(err)?)
        }
    };
    let action = match (action, not_action) {
        (Some(_), Some(_)) => {
            return Err(err("`Action` and `NotAction` cannot both be present".into()));
        }
        (None, None) => return Err(err("one of `Action` or `NotAction` is required".into())),
        (Some(a), None) => ActionElement::Action(string_list(a, &|| "Action".into()).map_err(err)?),
        (None, Some(a)) => {
            ActionElement::NotAction(string_list(a, &|| "NotAction".into()).map_err(err)?)
        }
    };
    let condition = condition
        .map(|c| condition_from_json(c).map_err(err))
        .transpose()?;
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        condition,
    })
}

/// A registry policy's `Resource` (or `NotResource`) values: `*`, or ARNs of repositories of this
/// registry, `arn:<partition>:ecr:<region>:<account>:repository/<name>` where the name may hold
/// IAM's wildcards (`prod-*`, `*`). The account and region must be the registry's where known.
fn resources_from_json<'a>(
    json: &Json<'a>,
    element: &str,
    scope: RegistryScope,
) -> Result<Vec<Cow<'a, str>>, String> {
    let values = string_list(json, &|| element.to_owned())?;
    for value in &values {
        if value == "*" {
            continue;
        }
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(not_a_repository_arn(element, value));
        };
        let shape_ok = *arn == "arn"
            && !partition.is_empty()
            && *service == "ecr"
            && !region.is_empty()
            && is_account_id(account)
            && resource
                .strip_prefix("repository/")
                .is_some_and(|name| !name.is_empty());
        if !shape_ok {
            return Err(not_a_repository_arn(element, value));
        }
        if let Some(own) = scope.account.filter(|own| own != account) {
            return Err(format!(
                "`{element}` value {} names a repository of account {}; a registry policy covers only its own registry (account {})",
                tick(value),
                tick(account),
                tick(own)
            ));
        }
        if let Some(own) = scope
            .region
            .filter(|own| !region.contains('*') && own != region)
        {
            return Err(format!(
                "`{element}` value {} names a repository in region {}; this registry policy covers only region {}",
                tick(value),
                tick(region),
                tick(own)
            ));
        }
    }
    Ok(values)
}

fn not_a_repository_arn(element: &str, value: &str) -> String {
    format!(
        "`{element}` value {} is neither `*` nor a repository ARN (`arn:<partition>:ecr:<region>:<account>:repository/<name>`)",
        tick(value)
    )
}

fn principal_from_json<'a>(json: &Json<'a>, element: &str) -> Result<Principal<'a>, String> {
    match json {
        Json::String(s) if s == "*" => Ok(Principal::Any),
        Json::Object(members) if members.is_empty() => {
            Err(format!("`{element}` must not be an empty object"))
        }
        Json::Object(members) => try_map(members, |_, (key, value)| {
                let kind = PrincipalType::ALL
                    .into_iter()
                    .find(|k| k.as_str() == key)
                    .ok_or_else(|| {
                        format!(
                            "unknown principal type {} in `{element}` (expected `AWS`, `Service`, `Federated` or `CanonicalUser`)",
                            tick(key)
                        )
                    })?;
                // Names for errors are built only when there is an error: this is the hot path.
                let values = string_list(value, &|| format!("{element}.{}", kind.as_str()))?;
                if let Some(problem) = values.iter().find_map(|v| principal_value_problem(kind, v)) {
                    return Err(format!("`{element}.{}` value {problem}", kind.as_str()));
                }
                // IAM documents `*` only as `"Principal": "*"` or `{"AWS": "*"}` ("All
                // principals"); in a `Principal` the guard reads `{"Service": "*"}` as everyone,
                // so under `NotPrincipal` it would exempt it knows not whom.
                if element == "NotPrincipal"
                    && kind == PrincipalType::Service
                    && values.iter().any(|v| v == "*")
                {
                    return Err(
                        "`NotPrincipal.Service` value `*` is not a principal IAM documents (`*` is only `\"Principal\": \"*\"` or `{\"AWS\": \"*\"}`); name the service principals to exempt".into(),
                    );
                }
                Ok((kind, values))
            })
            .map(Principal::Typed),
        other => Err(format!(
            "`{element}` must be `*` or an object, found {}",
            found(other)
        )),
    }
}

fn condition_from_json<'a>(json: &Json<'a>) -> Result<Vec<ConditionBlock<'a>>, String> {
    let operators = json
        .as_object()
        .ok_or_else(|| format!("`Condition` must be an object, found {}", json.kind()))?;
    try_map(operators, |_, (operator, entries)| {
        let op = Operator::parse(operator).ok_or_else(|| {
                format!(
                    "`Condition` operator {} is not one of IAM's condition operators (they are case-sensitive, e.g. `StringEquals`, `ForAnyValue:StringLike`, `ArnNotEqualsIfExists`)",
                    tick(operator)
                )
            })?;
        let entries = entries.as_object().ok_or_else(|| {
            format!(
                "`Condition.{}` must be an object, found {}",
                escape(operator),
                entries.kind()
            )
        })?;
        if entries.is_empty() {
            return Err(format!(
                "`Condition.{}` must name at least one condition key",
                escape(operator)
            ));
        }
        // IAM compares condition keys without regard to case: two spellings are one key.
        if let Some(key) = duplicate_ignoring_case(entries) {
            return Err(format!(
                "duplicate key {} in `Condition.{}` (condition keys are compared without regard to case)",
                tick(key),
                escape(operator)
            ));
        }
        let entries = try_map(entries, |_, (key, value)| {
            let place = || format!("`Condition.{}.{}`", escape(operator), escape(key));
            condition_values(value, &place).map(|values| (key.clone(), values))
        })?;
        Ok(ConditionBlock {
            operator: operator.clone(),
            op,
            entries,
        })
    })
}

/// The first key that repeats an earlier one without regard to ASCII case. A few keys are
/// compared pairwise; more through a set, so that a stored copy with thousands of keys in one
/// operator is still read in linear time.
fn duplicate_ignoring_case<'j, V>(entries: &'j [(Cow<'_, str>, V)]) -> Option<&'j str> {
    const PAIRWISE: usize = 16;
    if entries.len() <= PAIRWISE {
        return entries.iter().enumerate().find_map(|(i, (key, _))| {
            entries[..i]
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(key))
                .then_some(key.as_ref())
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    entries
        .iter()
        .find(|(key, _)| !seen.insert(key.to_ascii_lowercase()))
        .map(|(key, _)| key.as_ref())
}

/// Why a principal value is not one IAM accepts; `None` when it is.
fn principal_value_problem(kind: PrincipalType, value: &str) -> Option<String> {
    if value == "*" {
        return None;
    }
    // The usual value is printable ASCII with no wildcard: one pass over the bytes decides it
    // (this runs for every principal of every policy, a quarter of parsing one with long
    // lists). A fold without an early exit, so the compiler checks many bytes at once.
    let plain = !value.is_empty()
        && value.bytes().fold(true, |plain, b| {
            plain & b.is_ascii_graphic() & (b != b'*') & (b != b'?')
        });
    if !plain {
        if value.is_empty() {
            return Some("must not be empty".into());
        }
        if value.contains(['*', '?']) {
            return Some(format!(
                "{} has a wildcard: IAM allows `*` only as the whole value (limit callers with a condition such as `ArnLike` on `aws:PrincipalArn` instead)",
                tick(value)
            ));
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_format_char(c))
        {
            return Some(format!(
                "{} contains a space or an invisible character",
                tick(value)
            ));
        }
    }
    // A value that is not plain has a byte no ARN or id holds (the empty and wildcard ones
    // were refused above); a plain one is all printable ASCII already.
    if kind != PrincipalType::Aws || (plain && is_aws_principal(value)) {
        return None;
    }
    Some(format!(
        "{} is not an account id or an IAM principal ARN (`arn:<partition>:iam::<account>:root`, `...:user/...`, `...:role/...`, `arn:<partition>:sts::<account>:assumed-role/...` or `...:federated-user/...`)",
        tick(value)
    ))
}

/// Unicode format characters (category Cf): invisible, and so a way to make a value look like
/// another.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{08E2}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// An `AWS` principal IAM accepts: a 12-digit account id, an IAM principal ARN (fixed parts in
/// any case), or the unique id (`AIDA...` user, `AROA...` role) ECR keeps in place of a principal
/// that was deleted after the policy was set (IAM User Guide, "Unique identifiers"). `value` is
/// printable ASCII (the caller has checked).
fn is_aws_principal(value: &str) -> bool {
    if is_account_id(value) || is_unique_id(value) {
        return true;
    }
    // Most values are IAM ARNs of the `aws` partition: their colons are where the prefix and
    // the account id put them, so nothing is searched (the search below was the hottest loop
    // of a batch check). Anything else takes the general path, which decides these alike.
    if let Some((prefix, rest)) = value.split_at_checked(13)
        && prefix.eq_ignore_ascii_case("arn:aws:iam::")
        && let Some((account, resource)) = rest.split_at_checked(12)
        && is_account_id(account)
        && let Some(resource) = resource.strip_prefix(':')
    {
        return iam_resource_ok(resource);
    }
    is_principal_arn(value)
}

/// The general case of [`is_aws_principal`]: any partition, `iam` or `sts`.
fn is_principal_arn(value: &str) -> bool {
    // Where the five colons of an ARN fall, stopping at the fifth: the resource after it (a
    // role's name, often the longest part) is not read again (this runs for every principal
    // of every policy; five `split_once` calls cost a tenth of a batch check).
    let mut colons = [0; 5];
    let mut found = 0;
    for (i, b) in value.bytes().enumerate() {
        if b == b':' {
            colons[found] = i;
            found += 1;
            if found == colons.len() {
                break;
            }
        }
    }
    if found < colons.len() {
        return false;
    }
    // Colons are ASCII, so every cut is at a character boundary.
    let [c0, c1, c2, c3, c4] = colons;
    let (arn, partition, service) = (&value[..c0], &value[c0 + 1..c1], &value[c1 + 1..c2]);
    let (region, account, resource) = (&value[c2 + 1..c3], &value[c3 + 1..c4], &value[c4 + 1..]);
    let resource_ok = if service.eq_ignore_ascii_case("iam") {
        iam_resource_ok(resource)
    } else if service.eq_ignore_ascii_case("sts") {
        named(resource, "assumed-role/") || named(resource, "federated-user/")
    } else {
        false
    };
    arn.eq_ignore_ascii_case("arn")
        && !partition.is_empty()
        && partition
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && region.is_empty()
        && is_account_id(account)
        && resource_ok
}

/// The resource of an `iam` principal ARN: the root, a user or a role.
fn iam_resource_ok(resource: &str) -> bool {
    resource.eq_ignore_ascii_case("root") || named(resource, "user/") || named(resource, "role/")
}

/// A resource of the type `prefix` names (any case), with a name after it.
fn named(resource: &str, prefix: &str) -> bool {
    resource.len() > prefix.len()
        && resource
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM unique id of a user (`AIDA`) or role (`AROA`): the prefix and upper-case letters and
/// digits, 21 characters in all as IAM issues them (a little more is tolerated).
fn is_unique_id(s: &str) -> bool {
    (s.starts_with("AIDA") || s.starts_with("AROA"))
        && (16..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn condition_values<'a>(
    json: &Json<'a>,
    place: &dyn Fn() -> String,
) -> Result<Vec<ConditionValue<'a>>, String> {
    let scalar = |item: &Json<'a>| match item {
        Json::String(s) => Some(ConditionValue::String(s.clone())),
        Json::Number(n) => Some(ConditionValue::Number(n.clone())),
        Json::Bool(b) => Some(ConditionValue::Bool(*b)),
        _ => None,
    };
    let wrong = |kind: &str| {
        format!(
            "{} must be a string, number, boolean or a non-empty array of them, found {kind}",
            place()
        )
    };
    match json {
        Json::Array(items) if items.is_empty() => {
            Err(format!("{} must not be an empty array", place()))
        }
        Json::Array(items) => try_map(items, |_, item| {
            scalar(item).ok_or_else(|| wrong(&format!("an array containing {}", item.kind())))
        }),
        other => scalar(other)
            .map(|v| vec![v])
            .ok_or_else(|| wrong(other.kind())),
    }
}

/// A string, or a non-empty array of strings (IAM treats `"x"` and `["x"]` alike). The
/// element's name is computed only for an error.
fn string_list<'a>(
    json: &Json<'a>,
    name: &dyn Fn() -> String,
) -> Result<Vec<Cow<'a, str>>, String> {
    let wrong = |kind: &str| {
        format!(
            "`{}` must be a string or a non-empty array of strings, found {kind}",
            name()
        )
    };
    match json {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) if items.is_empty() => {
            Err(format!("`{}` must not be an empty array", name()))
        }
        Json::Array(items) => try_map(items, |_, item| match item {
            Json::String(s) => Ok(s.clone()),
            other => Err(wrong(&format!("an array containing {}", other.kind()))),
        }),
        other => Err(wrong(other.kind())),
    }
}

/// Maps each item (with its index) until the first error, into a vector of exactly the
/// items' number: collecting an iterator of `Result`s cannot know its length, so it grows the
/// vector step by step, a measurable share of parsing a policy with long lists.
fn try_map<'j, T, U, E>(
    items: &'j [T],
    mut f: impl FnMut(usize, &'j T) -> Result<U, E>,
) -> Result<Vec<U>, E> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(f(i, item)?);
    }
    Ok(out)
}

fn string<'a>(json: &Json<'a>, name: &str) -> Result<Cow<'a, str>, String> {
    match json {
        Json::String(s) => Ok(s.clone()),
        other => Err(format!("`{name}` must be a string, found {}", other.kind())),
    }
}

/// Looks up the allowed keys of an object, in the order given; the first key that is not
/// allowed is returned as the error. Duplicates were already rejected by [`Json::parse`].
fn pick<'j, 'a, const N: usize>(
    members: &'j [(Cow<'a, str>, Json<'a>)],
    allowed: [&str; N],
) -> Result<[Option<&'j Json<'a>>; N], &'j str> {
    let mut out = [None; N];
    for (key, value) in members {
        let slot = allowed.iter().position(|a| a == key).ok_or(key.as_ref())?;
        out[slot] = Some(value);
    }
    Ok(out)
}

fn not_in_repository_policy(key: &str) -> String {
    format!("`{key}` is not allowed in an ECR repository policy")
}

/// Describes a wrong value: strings are quoted, other values named by type.
fn found(json: &Json) -> String {
    match json {
        Json::String(s) => tick(s),
        other => other.kind().to_owned(),
    }
}

/// The keys of `aws ecr get-repository-policy` and `get-registry-policy` output.
const API_OUTPUT_KEYS: [&str; 3] = ["registryId", "repositoryName", "policyText"];

/// The policy document a text holds: the text itself, or the `policyText` of the AWS CLI's
/// `ecr get-repository-policy` / `get-registry-policy` output (what people save first). Anything
/// else is returned as it is, for [`Policy::parse`] to judge.
pub fn document_text(text: &str) -> Cow<'_, str> {
    // Cheap test first: policies themselves never have this key. memchr's search, not
    // `str::contains`: this runs over every byte of every policy a batch checks.
    if memchr::memmem::find(text.as_bytes(), b"\"policyText\"").is_none() {
        return Cow::Borrowed(text);
    }
    let Ok(Json::Object(members)) = Json::parse(text) else {
        return Cow::Borrowed(text);
    };
    let only_output_keys = members
        .iter()
        .all(|(key, _)| API_OUTPUT_KEYS.contains(&key.as_ref()));
    match members.iter().find(|(key, _)| key == "policyText") {
        Some((_, Json::String(policy))) if only_output_keys => Cow::Owned(policy.to_string()),
        _ => Cow::Borrowed(text),
    }
}

mod operator;
mod write;
pub use operator::{BaseOperator, Operator, SetQualifier};
pub use write::same_document;

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for `arn:aws:iam::<account>:` against the general ARN reading.
    fn agrees(value: &str) {
        assert_eq!(
            is_aws_principal(value),
            is_principal_arn(value) || is_account_id(value) || is_unique_id(value),
            "{value:?}"
        );
    }

    #[test]
    fn the_aws_iam_shortcut_decides_as_the_general_reading() {
        for value in [
            "arn:aws:iam::123456789012:root",
            "ARN:AWS:IAM::123456789012:ROOT",
            "arn:aws:iam::123456789012:role/deploy",
            "arn:aws:iam::123456789012:Role/a:b",
            "arn:aws:iam::123456789012:user/",
            "arn:aws:iam::123456789012:",
            "arn:aws:iam::123456789012",
            "arn:aws:iam::12345678901:root",
            "arn:aws:iam::1234567890123:root",
            "arn:aws:iam::12345678901x:root",
            "arn:aws:iam:::123456789012:root",
            "arn:aws:iam::123456789012::root",
            "arn:aws:iam::123456789012xroot",
            "arn:aws:iam::123456789012/role/x",
            "arn:aws:iam::123456789012:group/x",
            "arn:aws:iam:",
            "arn:aws-cn:iam::123456789012:root",
            "arn:aws:sts::123456789012:assumed-role/r/s",
        ] {
            agrees(value);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_value_is_decided_as_the_general_reading_decides_it(
            value in "(arn:aws:iam::|ARN:AWS:IAM::|arn:|aws|iam|sts|:|123456789012|[0-9]{1,3}|root|role/|user/|x)*",
        ) {
            agrees(&value);
        }
    }
}
