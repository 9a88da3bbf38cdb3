//! Writing policies back as JSON: the canonical key order (Version, Id, Statement; Sid, Effect,
//! Principal, Action, Resource, Condition), so that policies the guard writes read like
//! hand-written ones.

use super::{
    ActionElement, ConditionBlock, ConditionValue, Effect, MAX_POLICY_CHARS, Policy, Principal,
    PrincipalElement, ResourceElement, Statement,
};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// One value as a string, several as a list (IAM treats both alike).
struct OneOrMany<'s, T>(&'s [T]);

impl<T: Serialize> Serialize for OneOrMany<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl Serialize for ConditionValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ConditionValue::String(v) => v.serialize(s),
            ConditionValue::Number(v) => v.serialize(s),
            ConditionValue::Bool(v) => v.serialize(s),
        }
    }
}

impl Serialize for Principal<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Any => s.serialize_str("*"),
            Principal::Typed(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (kind, values) in entries {
                    map.serialize_entry(kind.as_str(), &OneOrMany(values))?;
                }
                map.end()
            }
        }
    }
}

struct Conditions<'s, 'a>(&'s [ConditionBlock<'a>]);

impl Serialize for Conditions<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for block in self.0 {
            let entries: Vec<_> = block
                .entries
                .iter()
                .map(|(k, v)| (k.as_ref(), OneOrMany(v)))
                .collect();
            map.serialize_entry(block.operator.as_ref(), &Entries(&entries))?;
        }
        map.end()
    }
}

struct Entries<'s, 'v, T>(&'s [(&'v str, T)]);

impl<T: Serialize> Serialize for Entries<'_, '_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for Statement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(sid) = &self.sid {
            map.serialize_entry("Sid", sid)?;
        }
        let effect = match self.effect {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        };
        map.serialize_entry("Effect", effect)?;
        match &self.principal {
            PrincipalElement::Principal(p) => map.serialize_entry("Principal", p)?,
            PrincipalElement::NotPrincipal(p) => map.serialize_entry("NotPrincipal", p)?,
        }
        match &self.action {
            ActionElement::Action(a) => map.serialize_entry("Action", &OneOrMany(a))?,
            ActionElement::NotAction(a) => map.serialize_entry("NotAction", &OneOrMany(a))?,
        }
        match &self.resource {
            Some(ResourceElement::Resource(r)) => map.serialize_entry("Resource", &OneOrMany(r))?,
            Some(ResourceElement::NotResource(r)) => {
                map.serialize_entry("NotResource", &OneOrMany(r))?
            }
            None => {}
        }
        if let Some(condition) = &self.condition {
            map.serialize_entry("Condition", &Conditions(condition))?;
        }
        map.end()
    }
}

impl Serialize for Policy<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(version) = self.version {
            map.serialize_entry("Version", version.as_str())?;
        }
        if let Some(id) = &self.id {
            map.serialize_entry("Id", id)?;
        }
        map.serialize_entry("Statement", &self.statements)?;
        map.end()
    }
}

impl Policy<'_> {
    /// True when a condition holds a number that is not an integer (a fraction, or an integer
    /// too large for 64 bits): serde_json keeps it as a float, so writing the policy back could
    /// change the value. The guard never rewrites such a policy.
    pub fn has_inexact_numbers(&self) -> bool {
        self.statements
            .iter()
            .flat_map(|s| s.condition.iter().flatten())
            .flat_map(|block| block.entries.iter().flat_map(|(_, values)| values))
            .any(|v| matches!(v, ConditionValue::Number(n) if n.is_f64()))
    }

    /// The policy as JSON text in canonical key order: pretty-printed when that fits ECR's
    /// length limit, compact otherwise.
    pub fn to_json_text(&self) -> String {
        // Serialising strings, numbers and maps with string keys cannot fail.
        let pretty = serde_json::to_string_pretty(self).unwrap_or_default();
        if pretty.chars().count() <= MAX_POLICY_CHARS {
            pretty
        } else {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// True when two policy texts are the same JSON document (ECR re-formats what it stores, so
/// texts are compared parsed; key order inside objects does not matter).
pub fn same_document(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn written_policies_parse_back_to_the_same_model() {
        let text = r#"{"Version":"2008-10-17","Id":"p","Statement":[
          {"Sid":"A","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/a","arn:aws:iam::111122223333:role/b"],"Service":"ecs.amazonaws.com"},
           "NotAction":"ecr:PutImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-a1b2c3d4e5","o-f6g7h8i9j0"],"n":5,"b":true}}},
          {"Effect":"Deny","NotPrincipal":"*","Action":["*"]}]}"#;
        let policy = Policy::parse(text).unwrap();
        let written = policy.to_json_text();
        assert_eq!(Policy::parse(&written).unwrap(), policy);
        assert!(written.find("\"Sid\"").unwrap() < written.find("\"Effect\"").unwrap());
    }

    #[test]
    fn aws_cli_output_yields_its_policy_and_anything_else_stays_as_it_is() {
        use crate::policy::document_text;
        let policy = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:*"}}"#;
        let output = serde_json::json!({"registryId": "123456789012",
            "repositoryName": "team/app", "policyText": policy})
        .to_string();
        assert_eq!(document_text(&output), policy);
        let registry = serde_json::json!({"registryId": "1", "policyText": policy}).to_string();
        assert_eq!(document_text(&registry), policy);
        assert_eq!(document_text(policy), policy);
        // Another key, or a non-string policyText: not CLI output; the parser judges it as is.
        let other = serde_json::json!({"policyText": policy, "Statement": []}).to_string();
        assert_eq!(document_text(&other), other);
        let number = r#"{"policyText": 5}"#;
        assert_eq!(document_text(number), number);
    }

    #[test]
    fn same_document_ignores_layout_and_key_order_but_not_content() {
        assert!(same_document(
            r#"{"a":1,"b":[1,2]}"#,
            "{\n  \"b\": [1, 2],\n  \"a\": 1\n}"
        ));
        assert!(!same_document(
            r#"{"a":1,"b":[1,2]}"#,
            r#"{"a":1,"b":[2,1]}"#
        ));
        assert!(!same_document("not json", "not  json"));
    }
}
