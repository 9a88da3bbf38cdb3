//! Terraform plans, as `terraform show -json PLAN` writes them (Terraform's "JSON Output Format"):
//! every ECR policy of the `aws` and Cloud Control (`awscc`) providers in
//! `resource_changes[].change.after`, judged by kind. A value Terraform knows only after apply
//! (`after_unknown`) is a problem naming the resource's address, never a pass; a resource type
//! whose name says ECR and that the guard does not know is refused. Repositories are matched to
//! the `aws_ecr_repository_policy` resources that govern them by name and registry (provider
//! configuration and region) and, where a policy's `repository` is known only after apply, by the
//! references of the plan's `configuration`: through indexes, in time linear in the plan.

use super::tree::{self, Node, Value};
use super::{
    Extracted, FileError, FileReport, Located, Problem, ReplicationSpelling, ResourceKind,
    ResourceReport, Settings, Source, judge, problem_of,
};
use crate::policy::RegistryScope;
use crate::rules::Owner;
use crate::text::tick;
use std::collections::{HashMap, HashSet};

/// The resource types whose policy is judged: type, the attribute holding it, its kind.
/// `awscc_` attributes are the snake_case rendering of the CloudFormation schema (Terraform
/// registry, hashicorp/awscc: `awscc_ecr_registry_policy` `policy_text`,
/// `awscc_ecr_repository_creation_template` `repository_policy`,
/// `awscc_ecr_replication_configuration` `replication_configuration`).
const POLICIES: [(&str, &str, ResourceKind); 8] = [
    (
        "aws_ecr_repository_policy",
        "policy",
        ResourceKind::RepositoryPolicy,
    ),
    (
        "aws_ecr_registry_policy",
        "policy",
        ResourceKind::RegistryPolicy,
    ),
    (
        "awscc_ecr_registry_policy",
        "policy_text",
        ResourceKind::RegistryPolicy,
    ),
    (
        "aws_ecr_repository_creation_template",
        "repository_policy",
        ResourceKind::CreationTemplate,
    ),
    (
        "awscc_ecr_repository_creation_template",
        "repository_policy",
        ResourceKind::CreationTemplate,
    ),
    (
        "aws_ecr_replication_configuration",
        "replication_configuration",
        ResourceKind::Replication,
    ),
    (
        "awscc_ecr_replication_configuration",
        "replication_configuration",
        ResourceKind::Replication,
    ),
    // With `repository_policy_text` (`awscc_ecr_repository`): its own policy. Without one it is
    // a repository like `aws_ecr_repository` (see `REPOSITORIES`).
    (
        "awscc_ecr_repository",
        "repository_policy_text",
        ResourceKind::RepositoryPolicy,
    ),
];

/// The repository types: type and the attribute holding the repository's name. A repository no
/// `aws_ecr_repository_policy` of the plan governs has no policy (`deny-by-default-required`).
const REPOSITORIES: [(&str, &str); 2] = [
    ("aws_ecr_repository", "name"),
    ("awscc_ecr_repository", "repository_name"),
];

/// Resource types whose name says ECR but that hold no access policy, so the guard knowingly
/// leaves them out, as the live guard does (README, "What it cannot see"):
/// - lifecycle policies, pull-through cache rules (their upstream and credentials), scanning
///   and signing configurations, pull-time update exclusions: they shape images and their
///   metadata, not who may reach them (a pull-through cache's repositories get their policy from
///   a creation template, which is judged);
/// - account settings: a `REGISTRY_POLICY_SCOPE` of `V1` only narrows what the registry policy
///   governs, and the guard judges registry policies as scope `V2`, the stricter reading;
/// - ECR Public (`aws_ecrpublic_*`, `awscc_ecr_public_*`): another service (`ecr-public`), which
///   the live guard ignores too.
const NO_ACCESS_POLICY: [&str; 13] = [
    "aws_ecr_lifecycle_policy",
    "aws_ecr_pull_through_cache_rule",
    "aws_ecr_registry_scanning_configuration",
    "aws_ecr_signing_configuration",
    "aws_ecr_pull_time_update_exclusion",
    "aws_ecr_account_setting",
    "awscc_ecr_pull_through_cache_rule",
    "awscc_ecr_registry_scanning_configuration",
    "awscc_ecr_signing_configuration",
    "awscc_ecr_pull_time_update_exclusion",
    "aws_ecrpublic_repository",
    "aws_ecrpublic_repository_policy",
    "awscc_ecr_public_repository",
];

/// Whether a resource type's name says ECR: one of its `_`-separated words starts with `ecr`
/// (`aws_ecr_…`, `aws_ecrpublic_…`, `awscc_ecr_…`), in any case. Words, not a substring:
/// `aws_secretsmanager_secret` holds `ecr` inside `secret` and is no ECR resource.
fn names_ecr(type_name: &str) -> bool {
    type_name.split('_').any(|word| {
        word.get(..3)
            .is_some_and(|start| start.eq_ignore_ascii_case("ecr"))
    })
}

/// How `aws_ecr_replication_configuration` spells its blocks: `replication_configuration` [{`rule`
/// [{`destination` [{`region`, `registry_id`}], `repository_filter` [{`filter`, `filter_type`}]}]}].
const AWS_REPLICATION: ReplicationSpelling = ReplicationSpelling {
    destinations: "destination",
    region: "region",
    registry_id: "registry_id",
    filters: "repository_filter",
    filter: "filter",
    filter_type: "filter_type",
};

/// How `awscc_ecr_replication_configuration` spells them: `replication_configuration` {`rules`
/// [{`destinations` [{`region`, `registry_id`}], `repository_filters` [{`filter`, `filter_type`}]}]}.
const AWSCC_REPLICATION: ReplicationSpelling = ReplicationSpelling {
    destinations: "destinations",
    region: "region",
    registry_id: "registry_id",
    filters: "repository_filters",
    filter: "filter",
    filter_type: "filter_type",
};

/// Module calls followed from one policy's `repository` expression (`module.X.out`, `var.Y`)
/// before the guard stops following: far more than real configurations nest.
const MAX_HOPS: usize = 32;

/// Judges every ECR resource a plan creates, updates or keeps.
pub fn check_plan(file: &str, text: &str, settings: &Settings) -> FileReport {
    let failed = |line, message: String| {
        FileReport::failed(file, Source::Terraform, FileError { line, message })
    };
    let root = match tree::from_json_text(text) {
        Ok(root) => root,
        Err(e) => return FileReport::failed(file, Source::Terraform, e),
    };
    if root.get("format_version").is_none() {
        return failed(root.line, "a plan needs `format_version`".into());
    }
    let changes = match root.get("resource_changes").map(|c| &c.value) {
        Some(Value::Seq(changes)) => changes.as_slice(),
        None if root.get("planned_values").is_some() => &[],
        _ => {
            return failed(
                root.line,
                "no `resource_changes`: give `terraform show -json` a plan file (`terraform plan -out`), not state".into(),
            );
        }
    };
    // A plan holds the account's own id only as values known after apply, so as for a policy
    // file, only `--account` makes an account own.
    let owner = if settings.account_given {
        Owner::Account(settings.account)
    } else {
        Owner::Unknown
    };
    let config = Configuration::of(root.get("configuration"));
    let plan = Plan::read(changes, &config);
    // Every reference followed costs a step (a target, one more per step of its module address);
    // a plan gets as many as it has bytes, so matching stays linear in its size whatever its
    // references are.
    let mut budget = text.len().max(1 << 16);
    let governance = match plan.governance(&config, &mut budget) {
        Ok(governance) => governance,
        Err(Exhausted) => {
            return failed(
                root.line,
                "the plan's `configuration` references are too many to follow in time linear in its size".into(),
            );
        }
    };
    let mut reports = Vec::new();
    for (index, resource) in plan.resources.iter().enumerate() {
        let report = match &resource.role {
            Role::Outside => continue,
            Role::Unknown => {
                let mut report = ResourceReport::new(
                    resource.address,
                    resource.type_name,
                    ResourceKind::Unknown,
                    resource.change.line,
                );
                report.add(
                    Err(Problem::not_rendered(
                        resource.change.line,
                        format!(
                            "resource type {} is not one the guard knows, so what it lets reach ECR cannot be judged; judge it by other means, or teach it to the guard",
                            tick(resource.type_name)
                        ),
                    )),
                    None,
                );
                report
            }
            Role::Malformed(message) => {
                let kind = POLICIES
                    .iter()
                    .find(|(t, _, _)| *t == resource.type_name)
                    .map_or(ResourceKind::RepositoryPolicy, |(_, _, kind)| *kind);
                let mut report = ResourceReport::new(
                    resource.address,
                    resource.type_name,
                    kind,
                    resource.change.line,
                );
                report.add(
                    Err(Problem::not_rendered(resource.change.line, message.clone())),
                    None,
                );
                report
            }
            Role::Repository { .. } => {
                let Some(verdict) = governance.repositories.get(&index) else {
                    continue;
                };
                let mut report = ResourceReport::new(
                    resource.address,
                    resource.type_name,
                    ResourceKind::RepositoryPolicy,
                    resource.change.line,
                );
                let outcome = match verdict {
                    Verdict::Governed => continue,
                    Verdict::Maybe(why) => Err(Problem::not_rendered(
                        resource.change.line,
                        why.message(&plan),
                    )),
                    Verdict::Ungoverned => judge(
                        &Extracted::RepositoryPolicy {
                            policy: None,
                            line: resource.change.line,
                        },
                        settings.rules,
                        owner,
                        RegistryScope::default(),
                    )
                    .map_err(problem_of),
                };
                report.add(outcome, None);
                report
            }
            Role::Policy { attribute, kind } => {
                let mut report = ResourceReport::new(
                    resource.address,
                    resource.type_name,
                    *kind,
                    resource.change.line,
                );
                // The registry a registry policy belongs to: `--region`, else the region of the
                // resource's own provider configuration (or its `region` argument), where known.
                let region = match &resource.registry.region {
                    Region::Known(region) => Some(region.as_str()),
                    _ => None,
                };
                let scope = RegistryScope {
                    account: settings.account_given.then_some(settings.account),
                    region: if settings.region_given {
                        Some(settings.region)
                    } else {
                        region
                    },
                };
                let outcome = if unknown(resource.change, attribute) {
                    Err(Problem::not_rendered(
                        resource.change.line,
                        format!(
                            "{} `{attribute}` is known only after apply, so it cannot be judged before; make it known at plan time (a literal, `jsonencode`, or `aws_iam_policy_document` of known values)",
                            tick(resource.address)
                        ),
                    ))
                } else {
                    extract(resource.type_name, *kind, resource.change, resource.after)
                        .and_then(|e| judge(&e, settings.rules, owner, scope).map_err(problem_of))
                };
                report.add(outcome, None);
                report
            }
        };
        reports.push(report);
    }
    FileReport {
        file: file.to_owned(),
        source: Source::Terraform,
        resources: reports,
        error: None,
    }
}

/// What the guard does with one resource change.
#[derive(Debug)]
enum Role {
    /// Not ECR (or ECR without an access policy, or deleted, or a data source): left out.
    Outside,
    /// A repository: judged as having no policy unless a policy of the plan governs it.
    Repository { name_attribute: &'static str },
    /// A policy judged by its kind.
    Policy {
        attribute: &'static str,
        kind: ResourceKind,
    },
    /// A type whose name says ECR and that the guard does not know: refused.
    Unknown,
    /// An ECR resource whose change cannot be read.
    Malformed(String),
}

/// One resource change of the plan, read.
struct Resource<'a> {
    change: &'a Node,
    after: &'a Node,
    address: &'a str,
    type_name: &'a str,
    role: Role,
    registry: Registry,
    /// Where the resource is: its module instance and its module in the configuration
    /// (`module.a.module.b`, empty for the root); `None` when its `module_address` cannot be read.
    instance: Option<Vec<Step>>,
    module: Option<String>,
}

/// The registry a resource is in, as far as the plan says: its provider configuration (which
/// fixes the account) and its region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Registry {
    provider: String,
    region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Region {
    /// A constant: the resource's `region` argument (AWS provider 6), else its provider
    /// configuration's `region`.
    Known(String),
    /// The provider configuration's, not a constant (a variable, the environment): the same for
    /// every resource of that configuration.
    Provider,
    /// Known only after apply.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Same,
    Different,
    /// Perhaps the same registry: two provider configurations may be one account and region.
    Uncertain,
}

impl Registry {
    fn relation(&self, other: &Registry) -> Relation {
        match (&self.region, &other.region) {
            (Region::Known(a), Region::Known(b)) if a != b => Relation::Different,
            (Region::Unknown, _) | (_, Region::Unknown) => Relation::Uncertain,
            _ if self == other => Relation::Same,
            _ => Relation::Uncertain,
        }
    }
}

struct Plan<'a> {
    resources: Vec<Resource<'a>>,
}

impl<'a> Plan<'a> {
    fn read(changes: &'a [Node], config: &Configuration<'a>) -> Plan<'a> {
        let mut resources = Vec::new();
        for change in changes {
            let type_name = type_of(change);
            if change.get("mode").and_then(Node::as_str) == Some("data") || !names_ecr(type_name) {
                continue;
            }
            let address = change
                .get("address")
                .and_then(Node::as_str)
                .unwrap_or(type_name);
            let after = change.get("change").and_then(|c| c.get("after"));
            let role = match after.map(|a| &a.value) {
                // Deleted (or forgotten): not there after apply.
                Some(Value::Null) => continue,
                Some(Value::Map(_)) => role_of(type_name, change),
                _ if NO_ACCESS_POLICY.contains(&type_name) => continue,
                _ => Role::Malformed(
                    "the plan's change has no `after` object, so what it deploys cannot be judged"
                        .into(),
                ),
            };
            if matches!(role, Role::Outside) {
                continue;
            }
            let instance = match change.get("module_address").map(|m| &m.value) {
                None => Some(Vec::new()),
                Some(Value::String(m)) => steps(m),
                Some(_) => None,
            };
            let module = instance.as_deref().map(config_path);
            let registry = config.registry(change, module.as_deref(), after);
            resources.push(Resource {
                change,
                after: after.unwrap_or(change),
                address,
                type_name,
                role,
                registry,
                instance,
                module,
            });
        }
        Plan { resources }
    }

    /// Which repositories the plan's repository policies govern.
    fn governance(
        &self,
        config: &Configuration<'a>,
        budget: &mut usize,
    ) -> Result<Governance, Exhausted> {
        // Repositories by instance address; by name and registry.
        let mut by_instance: HashMap<String, usize> = HashMap::new();
        let mut verdicts: HashMap<usize, Verdict> = HashMap::new();
        for (index, resource) in self.resources.iter().enumerate() {
            if let Role::Repository { .. } = resource.role {
                verdicts.insert(index, Verdict::Ungoverned);
                if let Some(instance) = &resource.instance {
                    by_instance.insert(instance_address(instance, resource), index);
                }
            }
        }
        // Policies whose `repository` is known: by (name, registry), and what each name (and any
        // name) may reach in registries that are perhaps the same.
        let mut exact: HashMap<(&str, &Registry), usize> = HashMap::new();
        let mut by_name: HashMap<&str, Reach> = HashMap::new();
        let mut any_name = Reach::default();
        // Policies known only after apply, by what their references reach.
        let mut maybe_resource: HashMap<String, usize> = HashMap::new();
        let mut maybe_config: HashMap<String, usize> = HashMap::new();
        for (p, policy) in self.resources.iter().enumerate() {
            if policy.type_name != "aws_ecr_repository_policy"
                || !matches!(policy.role, Role::Policy { .. })
            {
                continue;
            }
            if !unknown(policy.change, "repository") {
                // Known at plan time: it names the repository, in its own registry (ECR's
                // `SetRepositoryPolicy` takes only a name and acts in the caller's registry).
                let Some(name) = policy.after.get("repository").and_then(Node::as_str) else {
                    continue;
                };
                if policy.registry.region != Region::Unknown {
                    exact.entry((name, &policy.registry)).or_insert(p);
                }
                by_name.entry(name).or_default().add(&policy.registry, p);
                any_name.add(&policy.registry, p);
                continue;
            }
            // Known only after apply: it covers only what its expression references.
            let (Some(instance), Some(module)) = (&policy.instance, &policy.module) else {
                continue;
            };
            let Some(expression) = config
                .resource(Some(module), policy.change)
                .and_then(|r| r.get("expressions"))
                .and_then(|e| e.get("repository"))
            else {
                continue;
            };
            let scope = Scope {
                instance: Some(instance.clone()),
                module: module_names(instance),
            };
            let mut targets = Vec::new();
            config.follow(expression, &scope, 0, budget, &mut targets)?;
            for target in targets {
                let resource_config = format!(
                    "{}{}.{}",
                    prefix(&join_modules(&target.module)),
                    target.type_name,
                    target.name
                );
                let Some(module) = &target.instance else {
                    maybe_config.entry(resource_config).or_insert(p);
                    continue;
                };
                let resource_address = format!(
                    "{}{}.{}",
                    prefix(&render(module)),
                    target.type_name,
                    target.name
                );
                let address = match &target.key {
                    Some(key) => format!("{resource_address}[{key}]"),
                    None => resource_address.clone(),
                };
                let Some(&r) = by_instance.get(&address) else {
                    if target.key.is_none() {
                        // The whole of a resource with `count` or `for_each`: any of its
                        // instances, none in particular.
                        maybe_resource.entry(resource_address).or_insert(p);
                    }
                    continue;
                };
                let repository = &self.resources[r];
                let verdict = verdicts.entry(r).or_insert(Verdict::Ungoverned);
                match policy.registry.relation(&repository.registry) {
                    Relation::Different => {}
                    Relation::Uncertain => verdict.maybe(Why::Registry(p)),
                    Relation::Same if names_it(&target, repository) => *verdict = Verdict::Governed,
                    Relation::Same => verdict.maybe(Why::Reference(p)),
                }
            }
        }
        for (index, verdict) in &mut verdicts {
            if matches!(verdict, Verdict::Governed) {
                continue;
            }
            let repository = &self.resources[*index];
            let Role::Repository { name_attribute } = repository.role else {
                continue;
            };
            let name = (!unknown(repository.change, name_attribute))
                .then(|| repository.after.get(name_attribute).and_then(Node::as_str))
                .flatten();
            match name {
                Some(name) => {
                    if repository.registry.region != Region::Unknown
                        && exact.contains_key(&(name, &repository.registry))
                    {
                        *verdict = Verdict::Governed;
                        continue;
                    }
                    if let Some(p) = by_name
                        .get(name)
                        .and_then(|reach| reach.reaching(&repository.registry))
                    {
                        verdict.maybe(Why::Registry(p));
                    }
                }
                None => {
                    if let Some(p) = any_name.reaching(&repository.registry) {
                        verdict.maybe(Why::Name(p, name_attribute));
                    }
                }
            }
            if let (Some(instance), Some(module)) = (&repository.instance, &repository.module) {
                let resource = resource_address(instance, repository);
                let module = format!(
                    "{}{}.{}",
                    prefix(module),
                    repository.type_name,
                    name_of(repository.change)
                );
                if let Some(&p) = maybe_resource
                    .get(&resource)
                    .or_else(|| maybe_config.get(&module))
                {
                    verdict.maybe(Why::Reference(p));
                }
            }
        }
        Ok(Governance {
            repositories: verdicts,
        })
    }
}

/// The budget of references to follow ran out.
struct Exhausted;

struct Governance {
    /// Per repository (its index among the plan's resources).
    repositories: HashMap<usize, Verdict>,
}

#[derive(Debug)]
enum Verdict {
    Governed,
    /// Perhaps governed: the guard cannot tell, so it says so (never a pass, never a guess).
    Maybe(Why),
    Ungoverned,
}

impl Verdict {
    /// Perhaps governed, unless already known to be (the first reason is kept).
    fn maybe(&mut self, why: Why) {
        if let Verdict::Ungoverned = self {
            *self = Verdict::Maybe(why);
        }
    }
}

/// Why a repository may or may not be governed by a policy (its index among the resources).
#[derive(Debug, Clone, Copy)]
enum Why {
    /// The policy's `repository`, known only after apply, refers to this repository in a way
    /// that does not show it is its name.
    Reference(usize),
    /// The policy names this repository in a registry that may or may not be its own: another
    /// provider configuration (perhaps another account), or a region known only after apply.
    Registry(usize),
    /// The repository's name is known only after apply; the policy may name it.
    Name(usize, &'static str),
}

impl Why {
    fn message(&self, plan: &Plan) -> String {
        let address = |p: usize| {
            tick(
                plan.resources
                    .get(p)
                    .map_or("aws_ecr_repository_policy", |r| r.address),
            )
        };
        match *self {
            Why::Reference(p) => format!(
                "whether {} governs this repository cannot be told before apply: that policy's `repository` is known only after apply, and its expression does not plainly name this repository's name; make it known at plan time, or refer to the repository's name itself",
                address(p)
            ),
            Why::Registry(p) => format!(
                "whether {} governs this repository cannot be told: it names it in a registry that may or may not be this one (another provider configuration, which may be another account, or a region known only after apply); use one provider configuration and a known region for both",
                address(p)
            ),
            Why::Name(p, attribute) => format!(
                "`{attribute}` is known only after apply, so whether {} governs this repository cannot be told before; make it known at plan time",
                address(p)
            ),
        }
    }
}

/// Policies of known name in some registries, as far as needed to tell whether one may reach a
/// repository of another registry: any policy, one of a region not known as a constant, one per
/// constant region.
#[derive(Default)]
struct Reach {
    any: Option<usize>,
    not_constant: Option<usize>,
    by_region: HashMap<String, usize>,
}

impl Reach {
    fn add(&mut self, registry: &Registry, policy: usize) {
        self.any.get_or_insert(policy);
        match &registry.region {
            Region::Known(region) => {
                self.by_region.entry(region.clone()).or_insert(policy);
            }
            _ => {
                self.not_constant.get_or_insert(policy);
            }
        }
    }

    /// A policy whose registry is not known to differ from `registry` (one of the same
    /// registry, had there been one, would have governed already).
    fn reaching(&self, registry: &Registry) -> Option<usize> {
        match &registry.region {
            Region::Known(region) => self.by_region.get(region).copied().or(self.not_constant),
            _ => self.any,
        }
    }
}

/// Whether a reference names the repository: its name attribute (or `id`, which is the name),
/// itself known only after apply, so that the policy's unknown `repository` is that name.
fn names_it(target: &Target, repository: &Resource) -> bool {
    let Role::Repository { name_attribute } = repository.role else {
        return false;
    };
    match target.attribute.as_deref() {
        Some(attribute) if attribute == name_attribute || attribute == "id" => {
            unknown(repository.change, attribute)
                || repository
                    .after
                    .get(attribute)
                    .is_none_or(|v| v.value == Value::Null)
        }
        _ => false,
    }
}

fn role_of(type_name: &str, change: &Node) -> Role {
    if NO_ACCESS_POLICY.contains(&type_name) {
        return Role::Outside;
    }
    let repository = REPOSITORIES.iter().find(|(t, _)| *t == type_name);
    let policy = POLICIES.iter().find(|(t, _, _)| *t == type_name);
    match (repository, policy) {
        // `awscc_ecr_repository`: a policy when it has `repository_policy_text`, else a repository.
        (Some(&(_, name_attribute)), Some(&(_, attribute, kind))) => {
            let after = change.get("change").and_then(|c| c.get("after"));
            let text = after.and_then(|a| a.get(attribute));
            let none = text.is_none_or(|t| t.value == Value::Null || t.as_str() == Some(""));
            if none && !unknown(change, attribute) {
                Role::Repository { name_attribute }
            } else {
                Role::Policy { attribute, kind }
            }
        }
        (Some(&(_, name_attribute)), None) => Role::Repository { name_attribute },
        (None, Some(&(_, attribute, kind))) => Role::Policy { attribute, kind },
        (None, None) => Role::Unknown,
    }
}

fn type_of(change: &Node) -> &str {
    change.get("type").and_then(Node::as_str).unwrap_or("")
}

fn name_of(change: &Node) -> &str {
    change.get("name").and_then(Node::as_str).unwrap_or("")
}

/// Whether `after_unknown` marks the attribute, or anything inside it, as known only after apply.
fn unknown(change: &Node, attribute: &str) -> bool {
    fn any_true(node: &Node) -> bool {
        match &node.value {
            Value::Bool(b) => *b,
            Value::Seq(items) => items.iter().any(any_true),
            Value::Map(members) => members.iter().any(|(_, v)| any_true(v)),
            _ => false,
        }
    }
    match change
        .get("change")
        .and_then(|c| c.get("after_unknown"))
        .map(|u| &u.value)
    {
        // The whole object is known only after apply.
        Some(Value::Bool(true)) => true,
        Some(Value::Map(members)) => members
            .iter()
            .find(|(k, _)| k == attribute)
            .is_some_and(|(_, v)| any_true(v)),
        _ => false,
    }
}

fn extract(
    type_name: &str,
    kind: ResourceKind,
    change: &Node,
    after: &Node,
) -> Result<Extracted, Problem> {
    let line = change.line;
    let problem = |message: String| Problem::not_rendered(line, message);
    let policy = |key: &str| -> Result<Option<Located>, Problem> {
        match after.get(key) {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => Ok(None),
            Some(node) if node.as_str() == Some("") => Ok(None),
            Some(node) => Located::from_node(node).map(Some).map_err(problem),
        }
    };
    let required = |key: &str| -> Result<Located, Problem> {
        policy(key)?.ok_or_else(|| problem(format!("`{type_name}` needs `{key}`")))
    };
    Ok(match kind {
        ResourceKind::RepositoryPolicy if type_name == "awscc_ecr_repository" => {
            Extracted::RepositoryPolicy {
                policy: Some(required("repository_policy_text")?),
                line,
            }
        }
        ResourceKind::RepositoryPolicy => Extracted::RepositoryPolicy {
            policy: Some(required("policy")?),
            line,
        },
        ResourceKind::RegistryPolicy if type_name == "awscc_ecr_registry_policy" => {
            Extracted::RegistryPolicy(required("policy_text")?)
        }
        ResourceKind::RegistryPolicy => Extracted::RegistryPolicy(required("policy")?),
        ResourceKind::CreationTemplate => Extracted::CreationTemplate {
            prefix: after
                .get("prefix")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_owned(),
            applied_for: blocks(after.get("applied_for"))
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            policy: policy("repository_policy")?,
            line,
        },
        ResourceKind::Replication if type_name == "awscc_ecr_replication_configuration" => {
            // One object (`Attributes`); a list of them is read too.
            let configuration = after.get("replication_configuration");
            let rules: Vec<Node> = match configuration.map(|c| &c.value) {
                Some(Value::Seq(items)) => items
                    .iter()
                    .flat_map(|c| blocks(c.get("rules")).to_vec())
                    .collect(),
                Some(Value::Map(_)) => blocks(configuration.and_then(|c| c.get("rules"))).to_vec(),
                _ => Vec::new(),
            };
            Extracted::replication(&rules, &AWSCC_REPLICATION, line).map_err(problem)?
        }
        ResourceKind::Replication => {
            let rules: Vec<Node> = blocks(after.get("replication_configuration"))
                .iter()
                .flat_map(|configuration| blocks(configuration.get("rule")).to_vec())
                .collect();
            Extracted::replication(&rules, &AWS_REPLICATION, line).map_err(problem)?
        }
        ResourceKind::Unknown => return Err(problem("not a resource the guard judges".into())),
    })
}

fn blocks(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

// ---- The plan's `configuration`, indexed -------------------------------------------------

/// The plan's `configuration`: every module by its path (`module.a.module.b`, empty for the
/// root), every provider configuration by its key.
struct Configuration<'a> {
    modules: HashMap<String, Module<'a>>,
    providers: HashMap<&'a str, &'a Node>,
}

#[derive(Default)]
struct Module<'a> {
    /// Managed resources by their address in the module (`aws_ecr_repository.this`).
    resources: HashMap<&'a str, &'a Node>,
    calls: HashMap<&'a str, &'a Node>,
    outputs: HashMap<&'a str, &'a Node>,
}

impl<'a> Configuration<'a> {
    fn of(configuration: Option<&'a Node>) -> Configuration<'a> {
        let members = |node: Option<&'a Node>| -> &'a [(String, Node)] {
            node.and_then(Node::as_map).unwrap_or_default()
        };
        let providers = members(configuration.and_then(|c| c.get("provider_config")))
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let mut modules = HashMap::new();
        // The module tree is as deep as the JSON nesting allows (128): a stack, not recursion.
        let mut pending: Vec<(String, Option<&'a Node>)> = vec![(
            String::new(),
            configuration.and_then(|c| c.get("root_module")),
        )];
        while let Some((path, node)) = pending.pop() {
            let mut module = Module::default();
            for resource in blocks(node.and_then(|n| n.get("resources"))) {
                if resource.get("mode").and_then(Node::as_str) == Some("data") {
                    continue;
                }
                if let Some(address) = resource.get("address").and_then(Node::as_str) {
                    module.resources.entry(address).or_insert(resource);
                }
            }
            for (name, call) in members(node.and_then(|n| n.get("module_calls"))) {
                module.calls.insert(name, call);
                pending.push((
                    format!("{}module.{name}", prefix(&path)),
                    call.get("module"),
                ));
            }
            for (name, output) in members(node.and_then(|n| n.get("outputs"))) {
                module.outputs.insert(name, output);
            }
            modules.entry(path).or_insert(module);
        }
        Configuration { modules, providers }
    }

    /// The configuration of a resource change: its module's resource of its type and name.
    fn resource(&self, module: Option<&str>, change: &Node) -> Option<&'a Node> {
        let address = format!("{}.{}", type_of(change), name_of(change));
        self.modules
            .get(module?)?
            .resources
            .get(address.as_str())
            .copied()
    }

    /// The registry a resource change deploys into: its provider configuration (from its
    /// configuration's `provider_config_key`, else its module's default configuration of its
    /// provider) and region (its own `region` argument, else the configuration's constant).
    fn registry(&self, change: &Node, module: Option<&str>, after: Option<&Node>) -> Registry {
        let key = self
            .resource(module, change)
            .and_then(|r| r.get("provider_config_key"))
            .and_then(Node::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                // Terraform's default: the provider's local name, in the resource's module.
                let provider = change
                    .get("provider_name")
                    .and_then(Node::as_str)
                    .unwrap_or("");
                let local = provider.rsplit('/').next().unwrap_or(provider);
                match module {
                    Some(module) if !module.is_empty() => format!("{module}:{local}"),
                    _ => local.to_owned(),
                }
            });
        let provider = self.provider_key(&key);
        let own = after.and_then(|a| a.get("region"));
        let region = if unknown(change, "region") {
            Region::Unknown
        } else if let Some(region) = own.and_then(Node::as_str) {
            Region::Known(region.to_owned())
        } else {
            // A `region` that is a variable, a reference, `null` or not set at all comes from
            // elsewhere (a variable's value, the environment), but is one for the configuration.
            match self
                .providers
                .get(provider.as_str())
                .and_then(|p| p.get("expressions"))
                .and_then(|e| e.get("region"))
                .and_then(|r| r.get("constant_value"))
                .and_then(Node::as_str)
            {
                Some(region) => Region::Known(region.to_owned()),
                None => Region::Provider,
            }
        };
        Registry { provider, region }
    }

    /// A provider configuration key as the plan's `provider_config` has it: itself, or (for a
    /// module's default configuration that some Terraform versions do not list) the nearest
    /// enclosing module's, as a module without its own configuration inherits its parent's.
    fn provider_key(&self, key: &str) -> String {
        if self.providers.contains_key(key) {
            return key.to_owned();
        }
        if let Some((module, name)) = key.rsplit_once(':')
            && !name.contains('.')
        {
            let mut module = module;
            loop {
                let candidate = match module.rsplit_once(".module.") {
                    Some((parent, _)) => {
                        module = parent;
                        format!("{parent}:{name}")
                    }
                    None => name.to_owned(),
                };
                if self.providers.contains_key(candidate.as_str()) {
                    return candidate;
                }
                if !candidate.contains(':') {
                    break;
                }
            }
        }
        key.to_owned()
    }

    /// Every repository an expression refers to, in `scope`, following module outputs and input
    /// variables (at most `MAX_HOPS` calls deep).
    fn follow(
        &self,
        expression: &Node,
        scope: &Scope,
        hops: usize,
        budget: &mut usize,
        targets: &mut Vec<Target>,
    ) -> Result<(), Exhausted> {
        let mut references = Vec::new();
        for reference in blocks(expression.get("references")) {
            *budget = budget.checked_sub(1).ok_or(Exhausted)?;
            if let Some(reference) = reference.as_str().and_then(Reference::parse) {
                references.push(reference);
            }
        }
        for reference in implied_dropped(references) {
            match reference {
                Reference::Repository {
                    type_name,
                    name,
                    key,
                    attribute,
                } => {
                    // Each target copies its scope, and is matched by an address as long.
                    let cost = 1 + scope.instance.as_ref().map_or(0, Vec::len) + scope.module.len();
                    *budget = budget.checked_sub(cost).ok_or(Exhausted)?;
                    targets.push(Target {
                        instance: scope.instance.clone(),
                        module: scope.module.clone(),
                        type_name,
                        name,
                        key,
                        attribute,
                    });
                }
                Reference::Output { call, key, output } if hops < MAX_HOPS => {
                    let here = join_modules(&scope.module);
                    let Some(call_node) = self
                        .modules
                        .get(&here)
                        .and_then(|m| m.calls.get(call.as_str()))
                    else {
                        continue;
                    };
                    let repeated = call_node.get("count_expression").is_some()
                        || call_node.get("for_each_expression").is_some();
                    let mut module = scope.module.clone();
                    module.push(call.clone());
                    let Some(expression) = self
                        .modules
                        .get(&join_modules(&module))
                        .and_then(|m| m.outputs.get(output.as_str()))
                        .and_then(|o| o.get("expression"))
                    else {
                        continue;
                    };
                    let instance = match (&scope.instance, key) {
                        (Some(instance), Some(key)) => Some(with(instance, &call, Some(key))),
                        (Some(instance), None) if !repeated => Some(with(instance, &call, None)),
                        // One instance of several, none in particular.
                        _ => None,
                    };
                    let inner = Scope { instance, module };
                    self.follow(expression, &inner, hops + 1, budget, targets)?;
                }
                Reference::Variable(variable) if hops < MAX_HOPS => {
                    // A root module's variables are known at plan time: nothing to follow.
                    let Some((call, parent)) = scope.module.split_last() else {
                        continue;
                    };
                    let Some(expression) = self
                        .modules
                        .get(&join_modules(parent))
                        .and_then(|m| m.calls.get(call.as_str()))
                        .and_then(|c| c.get("expressions"))
                        .and_then(|e| e.get(variable.as_str()))
                    else {
                        continue;
                    };
                    let instance = scope.instance.as_ref().map(|instance| {
                        let mut instance = instance.clone();
                        // Drop the last `module.NAME` and its key.
                        if matches!(instance.last(), Some(Step::Key(_))) {
                            instance.pop();
                        }
                        instance.pop();
                        instance.pop();
                        instance
                    });
                    let outer = Scope {
                        instance,
                        module: parent.to_vec(),
                    };
                    self.follow(expression, &outer, hops + 1, budget, targets)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Where an expression is evaluated: a module instance (`None` when it is one of several, not
/// known which) and its module in the configuration (the call names).
struct Scope {
    instance: Option<Vec<Step>>,
    module: Vec<String>,
}

/// A repository an expression refers to.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    instance: Option<Vec<Step>>,
    module: Vec<String>,
    type_name: &'static str,
    name: String,
    key: Option<String>,
    attribute: Option<String>,
}

/// A reference of Terraform's expression representation, as far as the guard follows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Reference {
    /// `aws_ecr_repository.NAME[KEY].ATTRIBUTE…`
    Repository {
        type_name: &'static str,
        name: String,
        key: Option<String>,
        attribute: Option<String>,
    },
    /// `module.CALL[KEY].OUTPUT…`
    Output {
        call: String,
        key: Option<String>,
        output: String,
    },
    /// `var.NAME…`
    Variable(String),
}

impl Reference {
    fn parse(text: &str) -> Option<Reference> {
        let steps = steps(text)?;
        let name = |i: usize| match steps.get(i) {
            Some(Step::Name(n)) => Some(n.clone()),
            _ => None,
        };
        let key = |i: usize| match steps.get(i) {
            Some(Step::Key(k)) => Some(k.clone()),
            _ => None,
        };
        let first = name(0)?;
        if let Some(&(type_name, _)) = REPOSITORIES.iter().find(|(t, _)| *t == first) {
            let key = key(2);
            let attribute = name(if key.is_some() { 3 } else { 2 });
            return Some(Reference::Repository {
                type_name,
                name: name(1)?,
                key,
                attribute,
            });
        }
        match first.as_str() {
            "module" => {
                let key = key(2);
                let output = name(if key.is_some() { 3 } else { 2 })?;
                Some(Reference::Output {
                    call: name(1)?,
                    key,
                    output,
                })
            }
            "var" => Some(Reference::Variable(name(1)?)),
            _ => None,
        }
    }
}

/// Terraform lists each step of a reference (`aws_ecr_repository.a["x"].name`, then
/// `aws_ecr_repository.a["x"]`, then `aws_ecr_repository.a`): the shorter ones are implied by the
/// longer and are dropped, so that only what the expression itself names is followed.
fn implied_dropped(references: Vec<Reference>) -> Vec<Reference> {
    let mut keyed: HashSet<(&'static str, String)> = HashSet::new();
    let mut with_attribute: HashSet<(&'static str, String, Option<String>)> = HashSet::new();
    for reference in &references {
        if let Reference::Repository {
            type_name,
            name,
            key,
            attribute,
        } = reference
        {
            if key.is_some() {
                keyed.insert((type_name, name.clone()));
            }
            if attribute.is_some() {
                with_attribute.insert((type_name, name.clone(), key.clone()));
            }
        }
    }
    let mut seen = HashSet::new();
    references
        .into_iter()
        .filter(|reference| match reference {
            Reference::Repository {
                type_name,
                name,
                key,
                attribute: None,
            } => {
                let implied_by_a_key = key.is_none() && keyed.contains(&(*type_name, name.clone()));
                let implied_by_an_attribute =
                    with_attribute.contains(&(*type_name, name.clone(), key.clone()));
                !implied_by_a_key && !implied_by_an_attribute
            }
            _ => true,
        })
        .filter(|reference| seen.insert(reference.clone()))
        .collect()
}

// ---- Addresses ---------------------------------------------------------------------------

/// One step of a Terraform address or reference: a name, or an instance key in its canonical
/// spelling (a string key as a JSON string, a number as written), so that an address Terraform
/// wrote and one built from a reference compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Name(String),
    Key(String),
}

/// The steps of `module.a["x"].aws_ecr_repository.b[0].name`; `None` when it is not that shape.
fn steps(text: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return None;
        }
        steps.push(Step::Name(name));
        while chars.peek() == Some(&'[') {
            chars.next();
            let key = if chars.peek() == Some(&'"') {
                chars.next();
                let mut key = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => key.push(match chars.next()? {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            '"' => '"',
                            '\\' => '\\',
                            'u' => {
                                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                            }
                            _ => return None,
                        }),
                        c => key.push(c),
                    }
                }
                serde_json::Value::String(key).to_string()
            } else {
                let mut number = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ']' {
                        break;
                    }
                    number.push(c);
                    chars.next();
                }
                if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                number
            };
            if chars.next()? != ']' {
                return None;
            }
            steps.push(Step::Key(key));
        }
        match chars.next() {
            None => return Some(steps),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// Steps as an address, canonically spelt.
fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Name(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Key(key) => {
                out.push('[');
                out.push_str(key);
                out.push(']');
            }
        }
    }
    out
}

/// `text.` when there is a text, for prefixing a module to an address.
fn prefix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}.")
    }
}

/// The call names of a module instance address (`module.a["x"].module.b` → `a`, `b`).
fn module_names(instance: &[Step]) -> Vec<String> {
    let names: Vec<&String> = instance
        .iter()
        .filter_map(|s| match s {
            Step::Name(n) => Some(n),
            Step::Key(_) => None,
        })
        .collect();
    names
        .chunks(2)
        .filter_map(|pair| match pair {
            [module, name] if module.as_str() == "module" => Some((*name).clone()),
            _ => None,
        })
        .collect()
}

fn join_modules(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("module.{n}"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The module of a module instance in the configuration: its address without instance keys.
fn config_path(instance: &[Step]) -> String {
    join_modules(&module_names(instance))
}

/// A module instance with one more call.
fn with(instance: &[Step], call: &str, key: Option<String>) -> Vec<Step> {
    let mut instance = instance.to_vec();
    instance.push(Step::Name("module".into()));
    instance.push(Step::Name(call.to_owned()));
    if let Some(key) = key {
        instance.push(Step::Key(key));
    }
    instance
}

/// A repository's address without its instance key, canonically spelt.
fn resource_address(instance: &[Step], resource: &Resource) -> String {
    format!(
        "{}{}.{}",
        prefix(&render(instance)),
        resource.type_name,
        name_of(resource.change)
    )
}

/// A repository's full instance address, canonically spelt (its `index` is its key).
fn instance_address(instance: &[Step], resource: &Resource) -> String {
    let address = resource_address(instance, resource);
    match resource.change.get("index").map(|i| &i.value) {
        Some(Value::String(key)) => {
            format!("{address}[{}]", serde_json::Value::String(key.clone()))
        }
        Some(Value::Number(n)) => format!("{address}[{n}]"),
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleConfig;
    use crate::policy::PolicyKind;
    use serde_json::{Value as Json, json};

    const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyEveryoneElse","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci"}}}]}"#;

    /// A resource change as `terraform show -json` writes one.
    fn change(address: &str, after: Json, after_unknown: Json) -> Json {
        let steps = steps(address).unwrap();
        let mut module = Vec::new();
        let mut rest = steps.as_slice();
        while let [Step::Name(m), Step::Name(n), tail @ ..] = rest
            && m == "module"
        {
            module.push(Step::Name(m.clone()));
            module.push(Step::Name(n.clone()));
            rest = tail;
            if let [Step::Key(k), tail @ ..] = rest {
                module.push(Step::Key(k.clone()));
                rest = tail;
            }
        }
        let [Step::Name(type_name), Step::Name(name), index @ ..] = rest else {
            panic!("{address}")
        };
        let mut c = json!({
            "address": address,
            "mode": "managed",
            "type": type_name,
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": ["create"], "before": null, "after": after, "after_unknown": after_unknown},
        });
        if !module.is_empty() {
            c["module_address"] = json!(render(&module));
        }
        if let [Step::Key(k)] = index {
            c["index"] = serde_json::from_str(k).unwrap();
        }
        c
    }

    fn repository(address: &str, name: Option<&str>) -> Json {
        match name {
            Some(name) => change(address, json!({"name": name}), json!({"arn": true})),
            None => change(address, json!({}), json!({"arn": true, "name": true})),
        }
    }

    fn policy(address: &str, repository: Option<&str>) -> Json {
        match repository {
            Some(r) => change(address, json!({"repository": r, "policy": GOOD}), json!({})),
            None => change(
                address,
                json!({"policy": GOOD}),
                json!({"repository": true}),
            ),
        }
    }

    fn resource_config(address: &str, key: &str, expressions: Json) -> Json {
        let (type_name, name) = address.split_once('.').unwrap();
        json!({"address": address, "mode": "managed", "type": type_name, "name": name,
               "provider_config_key": key, "expressions": expressions, "schema_version": 0})
    }

    fn plan(changes: Vec<Json>, configuration: Json) -> String {
        json!({"format_version": "1.2", "resource_changes": changes, "configuration": configuration})
            .to_string()
    }

    /// A reported resource: its address, the rules it violates, its first problem.
    type Reported = (String, Vec<String>, Option<String>);

    fn check(text: &str) -> Result<Vec<Reported>, String> {
        let rules = RuleConfig::default();
        let settings = Settings {
            rules: &rules,
            account: "123456789012",
            account_given: true,
            region: "us-east-1",
            region_given: false,
            partition: "aws",
            stack_name: "stack",
            files_kind: PolicyKind::Repository,
            files_scope: RegistryScope::default(),
            parameters: &[],
            strict: false,
        };
        let report = check_plan("plan.json", text, &settings);
        if let Some(e) = report.error {
            return Err(e.message);
        }
        Ok(report
            .resources
            .into_iter()
            .map(|r| {
                (
                    r.resource,
                    r.findings
                        .iter()
                        .map(|f| f.violation.rule.as_str().to_owned())
                        .collect(),
                    r.problems.first().map(|p| p.message.clone()),
                )
            })
            .collect())
    }

    fn providers() -> Json {
        json!({
            "aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws",
                    "expressions": {"region": {"constant_value": "us-east-1"}}},
            "aws.other_account": {"name": "aws", "alias": "other_account",
                    "full_name": "registry.terraform.io/hashicorp/aws",
                    "expressions": {"region": {"constant_value": "us-east-1"}}},
        })
    }

    #[test]
    fn a_policy_through_another_provider_configuration_of_the_same_region_is_uncertain() {
        let text = plan(
            vec![
                repository("aws_ecr_repository.app", Some("app")),
                policy("aws_ecr_repository_policy.app", Some("app")),
            ],
            json!({"provider_config": providers(), "root_module": {"resources": [
                resource_config("aws_ecr_repository.app", "aws", json!({})),
                resource_config("aws_ecr_repository_policy.app", "aws.other_account", json!({})),
            ]}}),
        );
        let got = check(&text).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "aws_ecr_repository.app");
        assert!(
            got[0]
                .2
                .as_deref()
                .unwrap()
                .contains("another provider configuration"),
            "{got:?}"
        );
        // The same configuration: governed, not reported.
        let text = text.replace("aws.other_account\", \"expressions", "aws\", \"expressions");
        let text = text.replace(
            r#""provider_config_key":"aws.other_account""#,
            r#""provider_config_key":"aws""#,
        );
        let got = check(&text).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "aws_ecr_repository_policy.app");
    }

    #[test]
    fn an_unknown_repository_referring_to_a_known_name_is_uncertain() {
        // `repository = "${aws_ecr_repository.app.name}-${random_id.x.hex}"`: it refers to the
        // repository, but is not its (known) name.
        let text = plan(
            vec![
                repository("aws_ecr_repository.app", Some("app")),
                policy("aws_ecr_repository_policy.app", None),
            ],
            json!({"provider_config": providers(), "root_module": {"resources": [
                resource_config("aws_ecr_repository.app", "aws", json!({})),
                resource_config("aws_ecr_repository_policy.app", "aws", json!({"repository": {"references": [
                    "aws_ecr_repository.app.name", "aws_ecr_repository.app", "random_id.x.hex", "random_id.x"]}})),
            ]}}),
        );
        let got = check(&text).unwrap();
        assert_eq!(got[0].0, "aws_ecr_repository.app");
        assert!(
            got[0]
                .2
                .as_deref()
                .unwrap()
                .contains("does not plainly name"),
            "{got:?}"
        );
        // With no reference the guard can follow (a local value), it governs nothing.
        let text = text.replace(
            r#"["aws_ecr_repository.app.name","aws_ecr_repository.app","random_id.x.hex","random_id.x"]"#,
            r#"["local.repository"]"#,
        );
        let got = check(&text).unwrap();
        assert_eq!(got[0].1, vec!["deny-by-default-required"], "{got:?}");
    }

    #[test]
    fn a_reference_to_every_instance_governs_none_in_particular() {
        // `repository = aws_ecr_repository.this[each.key].name`, names known only after apply.
        let text = plan(
            vec![
                repository(r#"aws_ecr_repository.this["a"]"#, None),
                repository(r#"aws_ecr_repository.this["b"]"#, None),
                policy(r#"aws_ecr_repository_policy.this["a"]"#, None),
            ],
            json!({"provider_config": providers(), "root_module": {"resources": [
                resource_config("aws_ecr_repository.this", "aws", json!({})),
                resource_config("aws_ecr_repository_policy.this", "aws", json!({"repository": {"references": [
                    "aws_ecr_repository.this", "each.key"]}})),
            ]}}),
        );
        let got = check(&text).unwrap();
        let problems: Vec<_> = got.iter().filter(|r| r.2.is_some()).map(|r| &r.0).collect();
        assert_eq!(
            problems,
            vec![
                r#"aws_ecr_repository.this["a"]"#,
                r#"aws_ecr_repository.this["b"]"#
            ]
        );
        // `aws_ecr_repository.this["a"].name`: that one only.
        let text = text.replace(
            r#"["aws_ecr_repository.this","each.key"]"#,
            r#"["aws_ecr_repository.this[\"a\"].name","aws_ecr_repository.this[\"a\"]","aws_ecr_repository.this"]"#,
        );
        let got = check(&text).unwrap();
        let reported: Vec<_> = got.iter().map(|r| (r.0.as_str(), r.1.clone())).collect();
        assert_eq!(
            reported,
            vec![
                (
                    r#"aws_ecr_repository.this["b"]"#,
                    vec!["deny-by-default-required".to_owned()]
                ),
                (r#"aws_ecr_repository_policy.this["a"]"#, vec![]),
            ]
        );
    }

    #[test]
    fn references_are_followed_through_module_outputs_and_variables() {
        // The root's policy names `module.registry.name`; the module's output is its
        // repository's name. A second module gets the name as `var.repository`.
        let registry = json!({
            "resources": [resource_config("aws_ecr_repository.this", "aws", json!({}))],
            "outputs": {"name": {"expression": {"references": [
                "aws_ecr_repository.this.name", "aws_ecr_repository.this"]}}},
        });
        let policy_module = json!({"resources": [resource_config(
            "aws_ecr_repository_policy.this", "aws",
            json!({"repository": {"references": ["var.repository"]}}))]});
        let text = plan(
            vec![
                repository("module.registry.aws_ecr_repository.this", None),
                repository("module.other.aws_ecr_repository.this", None),
                policy("aws_ecr_repository_policy.root", None),
                repository("aws_ecr_repository.shared", None),
                policy("module.policy.aws_ecr_repository_policy.this", None),
            ],
            json!({"provider_config": providers(), "root_module": {
                "resources": [
                    resource_config("aws_ecr_repository_policy.root", "aws", json!({"repository": {"references": [
                        "module.registry.name", "module.registry"]}})),
                    resource_config("aws_ecr_repository.shared", "aws", json!({})),
                ],
                "module_calls": {
                    "registry": {"source": "./registry", "module": registry.clone()},
                    "other": {"source": "./registry", "module": registry},
                    "policy": {"source": "./policy", "module": policy_module, "expressions": {
                        "repository": {"references": ["aws_ecr_repository.shared.name", "aws_ecr_repository.shared"]}}},
                },
            }}),
        );
        let got = check(&text).unwrap();
        let reported: Vec<_> = got.iter().map(|r| (r.0.as_str(), r.1.clone())).collect();
        assert_eq!(
            reported,
            vec![
                (
                    "module.other.aws_ecr_repository.this",
                    vec!["deny-by-default-required".to_owned()]
                ),
                ("aws_ecr_repository_policy.root", vec![]),
                ("module.policy.aws_ecr_repository_policy.this", vec![]),
            ]
        );
    }

    #[test]
    fn a_repository_of_unknown_name_may_be_any_named_policy_s() {
        let text = plan(
            vec![
                repository("aws_ecr_repository.app", None),
                policy("aws_ecr_repository_policy.other", Some("other")),
            ],
            json!({"provider_config": providers(), "root_module": {}}),
        );
        let got = check(&text).unwrap();
        assert!(
            got[0]
                .2
                .as_deref()
                .unwrap()
                .starts_with("`name` is known only after apply"),
            "{got:?}"
        );
        // No policy could name it: it has none.
        let text = plan(
            vec![repository("aws_ecr_repository.app", None)],
            json!({"provider_config": providers(), "root_module": {}}),
        );
        assert_eq!(check(&text).unwrap()[0].1, vec!["deny-by-default-required"]);
    }

    #[test]
    fn an_awscc_repository_without_policy_text_is_a_repository() {
        let awscc = |address: &str, after: Json| {
            let mut c = change(address, after, json!({"arn": true, "id": true}));
            c["provider_name"] = json!("registry.terraform.io/hashicorp/awscc");
            c
        };
        let text = plan(
            vec![
                awscc(
                    "awscc_ecr_repository.bare",
                    json!({"repository_name": "bare", "repository_policy_text": null}),
                ),
                awscc(
                    "awscc_ecr_repository.governed",
                    json!({"repository_name": "governed"}),
                ),
                policy("aws_ecr_repository_policy.governed", Some("governed")),
            ],
            json!({"provider_config": {"awscc": {"name": "awscc"}, "aws": {"name": "aws"}}}),
        );
        let got = check(&text).unwrap();
        assert_eq!(got[0].0, "awscc_ecr_repository.bare");
        assert_eq!(got[0].1, vec!["deny-by-default-required"]);
        // Another provider (`awscc`, `aws`): perhaps another account, so not known to govern it.
        assert_eq!(got[1].0, "awscc_ecr_repository.governed");
        assert!(
            got[1]
                .2
                .as_deref()
                .unwrap()
                .contains("another provider configuration"),
            "{got:?}"
        );
    }

    #[test]
    fn per_resource_regions_of_the_aws_provider_6_count() {
        let mut east = repository("aws_ecr_repository.east", Some("app"));
        east["change"]["after"]["region"] = json!("us-east-1");
        let mut west = repository("aws_ecr_repository.west", Some("app"));
        west["change"]["after"]["region"] = json!("us-west-2");
        let mut p = policy("aws_ecr_repository_policy.west", Some("app"));
        p["change"]["after"]["region"] = json!("us-west-2");
        let text = plan(
            vec![east, west, p],
            json!({"provider_config": providers(), "root_module": {}}),
        );
        let got = check(&text).unwrap();
        assert_eq!(got[0].0, "aws_ecr_repository.east");
        assert_eq!(got[0].1, vec!["deny-by-default-required"]);
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn references_past_the_budget_refuse_the_plan() {
        // N policies each following one module output of 2,000 references.
        let plan_of = |policies: usize| {
            let refs: Vec<String> = (0..2000).map(|i| format!("var.v{i}")).collect();
            let module = json!({"outputs": {"name": {"expression": {"references": refs}}}});
            let changes: Vec<Json> = (0..policies)
                .map(|i| policy(&format!("aws_ecr_repository_policy.p{i}"), None))
                .collect();
            let resources: Vec<Json> = (0..policies)
                .map(|i| {
                    resource_config(
                        &format!("aws_ecr_repository_policy.p{i}"),
                        "aws",
                        json!({"repository": {"references": ["module.m.name"]}}),
                    )
                })
                .collect();
            plan(
                changes,
                json!({"root_module": {"resources": resources, "module_calls": {"m": {"module": module}}}}),
            )
        };
        // 600 of them: 1.2 million steps for a plan of about 0.4 MB, work quadratic in its
        // size, so it is refused rather than followed.
        let text = plan_of(600);
        assert!(text.len() < 600 * 2000, "{}", text.len());
        match check(&text) {
            Err(e) => assert!(e.contains("too many to follow"), "{e}"),
            Ok(r) => panic!("judged {} resources", r.len()),
        }
        // 20 of them: within the budget, followed and judged.
        assert_eq!(check(&plan_of(20)).map(|r| r.len()), Ok(20));
    }

    #[test]
    fn odd_plans_are_judged_or_refused_never_skipped() {
        // An ECR resource without an `after` object; an ECR type's `after` that is a string;
        // odd configuration shapes.
        let mut no_after = repository("aws_ecr_repository.a", Some("a"));
        no_after["change"].as_object_mut().unwrap().remove("after");
        let mut string_after = policy("aws_ecr_repository_policy.b", Some("b"));
        string_after["change"]["after"] = json!("x");
        let mut all_unknown = policy("aws_ecr_repository_policy.c", Some("c"));
        all_unknown["change"]["after_unknown"] = json!(true);
        let mut odd_module = repository("aws_ecr_repository.d", Some("d"));
        odd_module["module_address"] = json!("module.[");
        for configuration in [
            json!("x"),
            json!({"provider_config": [], "root_module": 3}),
            json!({
            "root_module": {"resources": [1, {"address": 2}], "module_calls": {"m": 1}}}),
        ] {
            let text = plan(
                vec![
                    no_after.clone(),
                    string_after.clone(),
                    all_unknown.clone(),
                    odd_module.clone(),
                    json!(7),
                ],
                configuration,
            );
            let got = check(&text).unwrap();
            let names: Vec<_> = got.iter().map(|r| r.0.as_str()).collect();
            assert_eq!(
                names,
                vec![
                    "aws_ecr_repository.a",
                    "aws_ecr_repository_policy.b",
                    "aws_ecr_repository_policy.c",
                    "aws_ecr_repository.d"
                ]
            );
            assert!(got[0].2.as_deref().unwrap().contains("no `after` object"));
            assert!(got[1].2.as_deref().unwrap().contains("no `after` object"));
            assert!(
                got[2]
                    .2
                    .as_deref()
                    .unwrap()
                    .contains("known only after apply")
            );
            assert_eq!(got[3].1, vec!["deny-by-default-required"]);
        }
    }

    #[test]
    fn only_words_starting_with_ecr_name_ecr() {
        for t in [
            "aws_ecr_repository",
            "aws_ecrpublic_repository",
            "awscc_ecr_signing_configuration",
            "AWS_ECR_Thing",
            "ecr_repository",
        ] {
            assert!(names_ecr(t), "{t}");
        }
        for t in [
            "aws_secretsmanager_secret",
            "aws_s3_bucket",
            "aws_ecs_service",
            "kubernetes_secret",
            "",
        ] {
            assert!(!names_ecr(t), "{t}");
        }
    }

    #[test]
    fn addresses_are_read_into_canonical_steps() {
        let s = steps(r#"module.a["x.y\"]"].aws_ecr_repository.b[0].name"#).unwrap();
        assert_eq!(
            render(&s),
            r#"module.a["x.y\"]"].aws_ecr_repository.b[0].name"#
        );
        assert_eq!(module_names(&s[..3]), vec!["a".to_owned()]);
        // Go's `%q` and HCL's quoting spell the same key alike once read.
        assert_eq!(steps(r#"x["\u00e9"]"#), steps("x[\"\u{e9}\"]"));
        for bad in [
            "",
            ".a",
            "a.",
            "a[",
            "a[\"x]",
            "a[x]",
            "a[\"x\"]b",
            "a..b",
            "a[\"\\q\"]",
        ] {
            assert_eq!(steps(bad), None, "{bad}");
        }
    }

    #[test]
    fn references_keep_only_what_the_expression_names() {
        let parsed = |refs: &[&str]| {
            implied_dropped(refs.iter().filter_map(|r| Reference::parse(r)).collect())
        };
        let repository = |key: Option<&str>, attribute: Option<&str>| Reference::Repository {
            type_name: "aws_ecr_repository",
            name: "this".into(),
            key: key.map(str::to_owned),
            attribute: attribute.map(str::to_owned),
        };
        assert_eq!(
            parsed(&[
                r#"aws_ecr_repository.this["web"].name"#,
                r#"aws_ecr_repository.this["web"]"#,
                "aws_ecr_repository.this",
            ]),
            vec![repository(Some("\"web\""), Some("name"))]
        );
        // `aws_ecr_repository.this[each.key].name`: the whole resource, and `each.key`.
        assert_eq!(
            parsed(&["aws_ecr_repository.this", "each.key"]),
            vec![repository(None, None)]
        );
        assert_eq!(
            parsed(&[
                "module.registry.name",
                "module.registry",
                "var.x",
                "local.y"
            ]),
            vec![
                Reference::Output {
                    call: "registry".into(),
                    key: None,
                    output: "name".into()
                },
                Reference::Variable("x".into())
            ]
        );
    }

    #[test]
    fn registries_are_the_same_only_when_the_plan_says_so() {
        let registry = |provider: &str, region: Region| Registry {
            provider: provider.into(),
            region,
        };
        let east = |p: &str| registry(p, Region::Known("us-east-1".into()));
        let west = |p: &str| registry(p, Region::Known("us-west-2".into()));
        assert_eq!(east("aws").relation(&east("aws")), Relation::Same);
        assert_eq!(east("aws").relation(&west("aws")), Relation::Different);
        assert_eq!(east("aws").relation(&west("aws.b")), Relation::Different);
        // Another configuration may be another account.
        assert_eq!(east("aws").relation(&east("aws.b")), Relation::Uncertain);
        let from = |p: &str| registry(p, Region::Provider);
        assert_eq!(from("aws").relation(&from("aws")), Relation::Same);
        assert_eq!(from("aws").relation(&from("aws.b")), Relation::Uncertain);
        let unknown = registry("aws", Region::Unknown);
        assert_eq!(unknown.relation(&unknown.clone()), Relation::Uncertain);
    }
}
