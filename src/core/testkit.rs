//! A deterministic, seeded generator of realistic ECR repository policies, for benchmarks and
//! fuzzing seeds: 1–12 statements, Allow and Deny, role / account root / bare account / `*` /
//! service principals, string or list actions, `NotAction`, and the conditions real policies
//! use, from about 300 characters up to ECR's limit of 10,240.

use crate::policy::MAX_POLICY_CHARS;
use serde_json::{Value, json};

/// SplitMix64: tiny, fast, and the same sequence on every platform for a given seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OWN_ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNTS: [&str; 4] = [
    "987654321098",
    "111122223333",
    "444455556666",
    "210987654321",
];
const ROLES: [&str; 8] = [
    "ci-push",
    "app-pull",
    "deploy",
    "build",
    "scanner",
    "replicator",
    "batch-runner",
    "ops-admin",
];
const SERVICES: [&str; 3] = [
    "codebuild.amazonaws.com",
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
];
const ACTIONS: [&str; 10] = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:ListImages",
    "ecr:DeleteRepositoryPolicy",
];

fn role(rng: &mut Rng) -> String {
    let account = if rng.chance(80) {
        OWN_ACCOUNT
    } else {
        rng.pick(&OTHER_ACCOUNTS)
    };
    format!(
        "arn:aws:iam::{account}:role/{}-{}",
        rng.pick(&ROLES),
        rng.below(100)
    )
}

/// An `AWS` principal value: mostly roles, sometimes roots, bare ids or `*`.
fn aws_principal(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => "*".into(),
        1 | 2 => format!("arn:aws:iam::{}:root", rng.pick(&OTHER_ACCOUNTS)),
        3 => rng.pick(&OTHER_ACCOUNTS).to_string(),
        _ => role(rng),
    }
}

fn one_or_many(values: Vec<String>) -> Value {
    match values.as_slice() {
        [one] => json!(one),
        _ => json!(values),
    }
}

fn principal(rng: &mut Rng, max_values: usize) -> Value {
    match rng.below(10) {
        0 => json!("*"),
        1 => json!({"Service": rng.pick(&SERVICES)}),
        _ => {
            let n = 1 + rng.below(max_values);
            json!({"AWS": one_or_many((0..n).map(|_| aws_principal(rng)).collect())})
        }
    }
}

fn actions(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => json!("ecr:*"),
        1 => json!("*"),
        _ => {
            let n = 1 + rng.below(5);
            one_or_many((0..n).map(|_| rng.pick(&ACTIONS).to_string()).collect())
        }
    }
}

fn condition(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => {
            json!({"ArnNotEquals": {"aws:PrincipalArn": one_or_many((0..1 + rng.below(4)).map(|_| role(rng)).collect())}})
        }
        1 => {
            json!({"StringEquals": {"aws:PrincipalOrgID": format!("o-{:010x}", rng.next_u64() % 0xff_ffff_ffff)}})
        }
        2 => {
            json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"]}})
        }
        3 => json!({"Bool": {"aws:SecureTransport": "false"}}),
        4 => json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.0/24"]}}),
        _ => json!({"StringEquals": {"aws:SourceAccount": OWN_ACCOUNT}}),
    }
}

fn statement(rng: &mut Rng, index: usize, max_values: usize) -> Value {
    let allow = rng.chance(60);
    let mut s = serde_json::Map::new();
    if rng.chance(80) {
        s.insert("Sid".into(), json!(format!("Statement{index}")));
    }
    s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
    if rng.chance(4) {
        s.insert("NotPrincipal".into(), principal(rng, max_values));
    } else {
        s.insert("Principal".into(), principal(rng, max_values));
    }
    if !allow && rng.chance(30) {
        s.insert("NotAction".into(), actions(rng));
    } else {
        s.insert("Action".into(), actions(rng));
    }
    if rng.chance(45) {
        s.insert("Condition".into(), condition(rng));
    }
    Value::Object(s)
}

/// The size profile of a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// One to three statements with few principals: mostly under 1 KB.
    Small,
    /// Sizes spread from small to the limit (median about 1.8 KB).
    Mixed,
    /// Six to twelve statements with long principal lists: most above 4 KB, up to the limit.
    Large,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "small" => Ok(Profile::Small),
            "mixed" => Ok(Profile::Mixed),
            "large" => Ok(Profile::Large),
            other => Err(format!(
                "profile must be `small`, `mixed` or `large`, found {}",
                crate::text::tick(other)
            )),
        }
    }
}

/// One policy of the mixed profile, compact JSON, at most [`MAX_POLICY_CHARS`] characters.
pub fn policy(rng: &mut Rng) -> String {
    policy_of(rng, Profile::Mixed)
}

/// One policy of a profile, compact JSON, at most [`MAX_POLICY_CHARS`] characters.
pub fn policy_of(rng: &mut Rng, profile: Profile) -> String {
    let (statements, max_values) = match profile {
        // A few statements with few principals, or up to 12 with long principal lists.
        Profile::Mixed => {
            let widest = if rng.chance(30) { 40 } else { 4 };
            (1 + rng.below(12), 1 + rng.below(widest))
        }
        Profile::Small => (1 + rng.below(3), 1 + rng.below(3)),
        Profile::Large => (6 + rng.below(7), 20 + rng.below(21)),
    };
    let mut list: Vec<Value> = (0..statements)
        .map(|i| statement(rng, i, max_values))
        .collect();
    if rng.chance(70) {
        list.push(
            json!({"Sid": "DenyByDefault", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [role(rng), role(rng)]}}}),
        );
    }
    loop {
        let version = if rng.chance(85) {
            "2012-10-17"
        } else {
            "2008-10-17"
        };
        let text = json!({"Version": version, "Statement": list}).to_string();
        if text.len() <= MAX_POLICY_CHARS || list.len() == 1 {
            return text;
        }
        list.remove(rng.below(list.len()));
    }
}

/// `count` policies from `seed`, the same on every run.
pub fn corpus(seed: u64, count: usize) -> Vec<String> {
    corpus_of(seed, count, Profile::Mixed)
}

/// `count` policies of a profile from `seed`, the same on every run.
pub fn corpus_of(seed: u64, count: usize, profile: Profile) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| policy_of(&mut rng, profile)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn the_corpus_is_deterministic_valid_and_spans_the_sizes() {
        let a = corpus(42, 500);
        assert_eq!(a, corpus(42, 500));
        assert_ne!(a, corpus(43, 500));
        for text in &a {
            Policy::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
        let sizes: Vec<usize> = a.iter().map(String::len).collect();
        assert!(
            *sizes.iter().min().unwrap() < 400,
            "{:?}",
            sizes.iter().min()
        );
        assert!(
            *sizes.iter().max().unwrap() > 8_000,
            "{:?}",
            sizes.iter().max()
        );
        assert!(sizes.iter().all(|s| *s <= MAX_POLICY_CHARS));
    }

    #[test]
    fn the_profiles_have_the_sizes_they_promise() {
        let median = |profile| {
            let mut sizes: Vec<usize> =
                corpus_of(7, 400, profile).iter().map(String::len).collect();
            sizes.sort_unstable();
            (
                sizes[sizes.len() / 2],
                sizes.iter().filter(|s| **s > 4096).count(),
            )
        };
        let (small, _) = median(Profile::Small);
        let (mixed, _) = median(Profile::Mixed);
        let (large, above_4k) = median(Profile::Large);
        assert!(
            small < 1024 && small < mixed && mixed < large,
            "{small} {mixed} {large}"
        );
        assert!(
            above_4k > 200,
            "{above_4k} of 400 large policies above 4 KB"
        );
    }
}
