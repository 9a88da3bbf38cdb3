//! The registry-level doors into every repository besides its own policy: repository creation
//! templates (the policy ECR gives each repository it creates) and the replication
//! configuration (where ECR copies every image). Their models, their rules and their remedies;
//! the registry policy itself is a [`crate::policy::Policy`] of kind `Registry`.

use crate::policy::PolicyError;
use crate::rules::{Owner, RuleConfig, RuleId, Violation};
use crate::text::tick;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A replication configuration as `PutReplicationConfiguration` takes it and `DescribeRegistry`
/// returns it (field names as in the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replication {
    #[serde(default)]
    pub rules: Vec<ReplicationRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationRule {
    pub destinations: Vec<Destination>,
    /// Which repositories the rule copies (none: every repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_filters: Vec<RepositoryFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub region: String,
    pub registry_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryFilter {
    pub filter: String,
    pub filter_type: String,
}

/// A replication configuration that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replication configuration is malformed: {0}")]
pub struct ReplicationError(String);

impl Replication {
    /// Reads a configuration from its JSON value (an event's `replicationConfiguration`, or a
    /// file holding one, or `aws ecr describe-registry` output with one inside).
    pub fn from_value(value: &serde_json::Value) -> Result<Replication, ReplicationError> {
        let inner = value.get("replicationConfiguration").unwrap_or(value);
        let replication: Replication = serde_path_to_error::deserialize(inner).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ReplicationError(if path == "." {
                inner.to_string()
            } else {
                format!("`{path}`: {inner}")
            })
        })?;
        // ECR accepts only 12-digit registry ids: anything else is not a configuration ECR
        // holds, and judging it would name an account that cannot exist.
        for (index, rule) in replication.rules.iter().enumerate() {
            for destination in &rule.destinations {
                if !crate::policy::is_account_id(&destination.registry_id) {
                    return Err(ReplicationError(format!(
                        "rule {index}: destination `registryId` {} is not a 12-digit account id",
                        tick(&destination.registry_id)
                    )));
                }
            }
        }
        Ok(replication)
    }

    /// Reads a configuration from JSON text.
    pub fn parse(text: &str) -> Result<Replication, ReplicationError> {
        // The strict tree first: duplicate keys could hide a destination from one reader.
        crate::json::Json::parse(text).map_err(|e| ReplicationError(format!("the text {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ReplicationError(e.to_string()))?;
        Replication::from_value(&value)
    }

    /// The configuration as compact JSON, as `PutReplicationConfiguration` takes it.
    pub fn to_json_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True when no rule copies anything anywhere.
    pub fn is_empty(&self) -> bool {
        self.rules.iter().all(|r| r.destinations.is_empty())
    }
}

impl RuleConfig {
    /// `no-unapproved-replication`: one violation per destination outside the registry's own
    /// account and `allowed_replication_accounts`, in any region.
    pub fn check_replication(&self, replication: &Replication, owner: Owner) -> Vec<Violation> {
        let mut violations = Vec::new();
        for (index, rule) in replication.rules.iter().enumerate() {
            for destination in &rule.destinations {
                if self.allows_replication_to(&destination.registry_id, owner) {
                    continue;
                }
                let what = match rule.repository_filters.as_slice() {
                    [] => "every image of every repository".to_owned(),
                    filters => {
                        let names: Vec<String> = filters.iter().map(|f| tick(&f.filter)).collect();
                        format!("every image of repositories starting {}", names.join(", "))
                    }
                };
                violations.push(Violation {
                    rule: RuleId::NoUnapprovedReplication,
                    statement: Some(index),
                    sid: None,
                    principal: Some(destination.registry_id.clone()),
                    via: Some("replication destination".into()),
                    message: Cow::Owned(format!(
                        "copies {what} to account {} in {}, which `allowed_replication_accounts` does not list; remove the destination, or allowlist the account",
                        destination.registry_id,
                        tick(&destination.region)
                    )),
                    resources: Vec::new(),
                    waiver: None,
                });
            }
        }
        violations
    }

    /// The configuration without the destinations the rules forbid; a rule left without a
    /// destination is dropped. Only ever removes: it copies nothing anywhere new.
    pub fn derive_replication(&self, replication: &Replication, owner: Owner) -> Replication {
        let rules = replication
            .rules
            .iter()
            .map(|rule| ReplicationRule {
                destinations: rule
                    .destinations
                    .iter()
                    .filter(|d| self.allows_replication_to(&d.registry_id, owner))
                    .cloned()
                    .collect(),
                repository_filters: rule.repository_filters.clone(),
            })
            .filter(|rule| !rule.destinations.is_empty())
            .collect();
        Replication { rules }
    }
}

/// A repository creation template: the settings ECR gives every repository it creates under
/// `prefix` (`ROOT`: every repository no other template covers) for the scenarios in
/// `applied_for` (pull-through cache, replication, create-on-push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreationTemplate {
    pub prefix: String,
    pub applied_for: Vec<String>,
    /// The repository policy of every repository it creates; `None`: they get no policy.
    pub repository_policy: Option<String>,
}

impl CreationTemplate {
    /// Where its repositories are, for messages: `ROOT` covers the rest of the registry.
    pub fn covers(&self) -> String {
        if self.prefix == "ROOT" {
            "the repositories it creates where no other template applies (prefix `ROOT`)".to_owned()
        } else {
            format!(
                "the repositories it creates under {}",
                tick(&format!("{}/", self.prefix.trim_end_matches('/')))
            )
        }
    }
}

impl RuleConfig {
    /// A template's policy judged as the repository policy it becomes (every repository rule); a
    /// template without one creates repositories nothing denies by default.
    pub fn check_template(
        &self,
        template: &CreationTemplate,
        owner: Owner,
    ) -> Result<Vec<Violation>, PolicyError> {
        match template
            .repository_policy
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            Some(text) => self.check_text(text, owner),
            None => Ok(vec![Violation {
                rule: RuleId::DenyByDefaultRequired,
                statement: None,
                sid: None,
                principal: None,
                via: None,
                message: Cow::Owned(format!(
                    "the creation template {} has no repository policy, so {} get no policy, and nothing denies access to them by default; give the template a policy with a deny-by-default statement",
                    tick(&template.prefix),
                    template.covers()
                )),
                resources: Vec::new(),
                waiver: None,
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replication(destinations: &[(&str, &str)]) -> Replication {
        Replication {
            rules: vec![ReplicationRule {
                destinations: destinations
                    .iter()
                    .map(|(region, id)| Destination {
                        region: (*region).into(),
                        registry_id: (*id).into(),
                    })
                    .collect(),
                repository_filters: Vec::new(),
            }],
        }
    }

    #[test]
    fn each_unapproved_destination_is_one_violation_and_the_derived_copy_drops_only_those() {
        let rules = RuleConfig::default()
            .with_replication_accounts(["222222222222"])
            .unwrap();
        let owner = Owner::Account("123456789012");
        let config = replication(&[
            ("us-east-1", "123456789012"),
            ("eu-west-1", "222222222222"),
            ("eu-west-1", "444455556666"),
            ("ap-south-1", "444455556666"),
        ]);
        let v = rules.check_replication(&config, owner);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|v| v.rule == RuleId::NoUnapprovedReplication
            && v.statement == Some(0)
            && v.principal.as_deref() == Some("444455556666")));
        assert!(v[1].message.contains("`ap-south-1`"), "{}", v[1].message);
        let derived = rules.derive_replication(&config, owner);
        assert_eq!(
            derived,
            replication(&[("us-east-1", "123456789012"), ("eu-west-1", "222222222222")])
        );
        assert!(rules.check_replication(&derived, owner).is_empty());
        // Not knowing the owner, even the registry's own account is not approved.
        assert_eq!(rules.check_replication(&config, Owner::Unknown).len(), 3);
        let none = rules.derive_replication(&replication(&[("eu-west-1", "444455556666")]), owner);
        assert!(none.rules.is_empty() && none.is_empty());
    }

    #[test]
    fn configurations_are_read_from_api_shapes_and_malformed_ones_say_where() {
        let text = r#"{"replicationConfiguration": {"rules": [{"destinations": [{"region": "us-west-2", "registryId": "444455556666"}], "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]}]}}"#;
        let config = Replication::parse(text).unwrap();
        assert_eq!(config.rules[0].destinations[0].registry_id, "444455556666");
        assert_eq!(config.rules[0].repository_filters[0].filter, "prod");
        let err = Replication::parse(r#"{"rules": [{"destinations": [{"region": "x"}]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`rules[0].destinations[0]`") && err.contains("registryId"),
            "{err}"
        );
        let err = Replication::parse(r#"{"rules": [], "rules": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate key `rules`"), "{err}");
    }

    #[test]
    fn a_template_without_a_policy_is_one_deny_by_default_violation_naming_its_prefix() {
        let rules = RuleConfig::default();
        let template = CreationTemplate {
            prefix: "prod".into(),
            applied_for: vec!["PULL_THROUGH_CACHE".into()],
            repository_policy: None,
        };
        let v = rules.check_template(&template, Owner::Unknown).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rule, RuleId::DenyByDefaultRequired);
        assert!(
            v[0].message.contains("`prod`") && v[0].message.contains("`prod/`"),
            "{}",
            v[0].message
        );
        let root = CreationTemplate {
            prefix: "ROOT".into(),
            ..template
        };
        assert!(
            rules.check_template(&root, Owner::Unknown).unwrap()[0]
                .message
                .contains("where no other template applies")
        );
    }
}
