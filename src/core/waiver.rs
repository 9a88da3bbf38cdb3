//! Waivers: known exceptions, each scoped to repositories and a rule (optionally a principal, a
//! statement and an account), with a reason and an expiry date. A waived violation is still
//! reported, but causes no alert and no revert until the day its waiver expires. The day is a
//! parameter ([`Date`]): the shell reads the clock, the core never does.

use crate::decision::{Action, Outcome, action_clause};
use crate::event::{EventFacts, Subject};
use crate::policy::is_account_id;
use crate::rules::{RuleId, Violation};
use crate::text::{plural, tick};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The longest a waiver may run: its expiry is at most this many days after the day the config
/// is loaded, so every exception is looked at again at least once a year.
pub const MAX_WAIVER_DAYS: i64 = 366;
/// A waiver expiring within this many days is reported as expiring.
pub const EXPIRING_WITHIN_DAYS: i64 = 30;

/// A calendar day (UTC), as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

impl Date {
    /// The day `days` after 1970-01-01 (what the shell computes from the clock).
    pub fn from_unix_days(days: i64) -> Date {
        Date(days)
    }

    /// A valid calendar day, or `None`.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Date> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let length = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > length {
            return None;
        }
        // Howard Hinnant's days_from_civil: the count of days in whole 400-year eras, then
        // within the era from March (so that the leap day ends a year).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let year_of_era = y.rem_euclid(400);
        let month_from_march = i64::from((month + 9) % 12);
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Some(Date(era * 146_097 + day_of_era - 719_468))
    }

    /// `YYYY-MM-DD` exactly (ISO 8601's calendar date, four-digit year).
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(range)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        Date::from_ymd(i64::from(digits(0..4)?), digits(5..7)?, digits(8..10)?)
    }

    /// (year, month, day): Hinnant's civil_from_days.
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// The day `days` later (earlier when negative).
    pub fn plus_days(self, days: i64) -> Date {
        Date(self.0 + days)
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.0 - self.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a waiver stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaiverStatus {
    /// In force, and for more than [`EXPIRING_WITHIN_DAYS`] days yet.
    Active,
    /// In force, but expiring within [`EXPIRING_WITHIN_DAYS`] days.
    Expiring,
    /// Its expiry date has come: the violations it covered count again.
    Expired,
}

impl WaiverStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaiverStatus::Active => "active",
            WaiverStatus::Expiring => "expiring",
            WaiverStatus::Expired => "expired",
        }
    }

    pub fn in_force(self) -> bool {
        self != WaiverStatus::Expired
    }
}

/// A waiver as written in the config, before it is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaiverSpec<'a> {
    pub repository: &'a str,
    pub rule: &'a str,
    pub principal: Option<&'a str>,
    pub statement: Option<&'a str>,
    pub account: Option<&'a str>,
    pub reason: &'a str,
    pub expires: &'a str,
}

/// A waiver that cannot be used; `number` is its 1-based position in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waiver {number}: {problem}")]
pub struct WaiverError {
    pub number: usize,
    pub problem: String,
}

/// One accepted exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// 1-based position in the config: how messages name it.
    pub number: usize,
    /// A repository name, or a pattern: `*` matches any run of characters (`/` included), `?`
    /// one character.
    pub repository: String,
    pub rule: RuleId,
    /// The offending value exactly as reported (a violation's `principal`); any when absent.
    pub principal: Option<String>,
    /// The offending statement's `Sid`; any when absent.
    pub statement: Option<String>,
    /// The repository's account (12 digits); any when absent.
    pub account: Option<String>,
    pub reason: String,
    /// The first day on which the waiver no longer applies.
    pub expires: Date,
}

impl Waiver {
    /// Checks a waiver from the config loaded on `loaded_on`; `number` is its 1-based position.
    pub fn new(number: usize, spec: WaiverSpec, loaded_on: Date) -> Result<Waiver, WaiverError> {
        let fail = |problem: String| WaiverError { number, problem };
        let text = |field: &str, value: Option<&str>| -> Result<Option<String>, WaiverError> {
            match value {
                Some(v) if v.trim().is_empty() || v.chars().any(char::is_control) => {
                    Err(fail(format!(
                        "`{field}` must be non-empty text on one line, found {}",
                        tick(v)
                    )))
                }
                other => Ok(other.map(str::to_owned)),
            }
        };
        if !is_repository_pattern(spec.repository) {
            return Err(fail(format!(
                "`repository` {} is not a repository name or pattern (lowercase letters, digits, `._-/`, and `*` or `?`)",
                tick(spec.repository)
            )));
        }
        let rule = RuleId::ALL
            .into_iter()
            .find(|r| r.as_str() == spec.rule)
            .ok_or_else(|| {
                let names: Vec<String> = RuleId::ALL
                    .iter()
                    .filter(|r| waivable(**r))
                    .map(|r| tick(r.as_str()))
                    .collect();
                fail(format!(
                    "`rule` {} is not a rule id (one of {})",
                    tick(spec.rule),
                    names.join(", ")
                ))
            })?;
        if rule == RuleId::InvalidPolicy {
            return Err(fail(
                "`invalid-policy` cannot be waived: the guard cannot tell what a policy it cannot read grants".into(),
            ));
        }
        if !waivable(rule) {
            return Err(fail(format!(
                "`{rule}` cannot be waived: waivers are about repository policies; allowlist the account in `allowed_replication_accounts` instead"
            )));
        }
        if let Some(account) = spec.account
            && !is_account_id(account)
        {
            return Err(fail(format!(
                "`account` {} is not a 12-digit account id",
                tick(account)
            )));
        }
        let reason = text("reason", Some(spec.reason))?.unwrap_or_default();
        let expires = Date::parse(spec.expires).ok_or_else(|| {
            fail(format!(
                "`expires` {} is not a date (YYYY-MM-DD)",
                tick(spec.expires)
            ))
        })?;
        let latest = loaded_on.plus_days(MAX_WAIVER_DAYS);
        if expires > latest {
            return Err(fail(format!(
                "`expires` {expires} is more than {MAX_WAIVER_DAYS} days after {loaded_on}, the day the config was loaded: a waiver runs for a year at most (until {latest}); renew it then"
            )));
        }
        Ok(Waiver {
            number,
            repository: spec.repository.to_owned(),
            rule,
            principal: text("principal", spec.principal)?,
            statement: text("statement", spec.statement)?,
            account: spec.account.map(str::to_owned),
            reason,
            expires,
        })
    }

    /// Where the waiver stands on `today`: it applies on every day before `expires`.
    pub fn status(&self, today: Date) -> WaiverStatus {
        match today.days_until(self.expires) {
            days if days <= 0 => WaiverStatus::Expired,
            days if days <= EXPIRING_WITHIN_DAYS => WaiverStatus::Expiring,
            _ => WaiverStatus::Active,
        }
    }

    /// Whether the waiver is about this violation of this repository (whatever its expiry).
    pub fn covers(&self, facts: &EventFacts, violation: &Violation) -> bool {
        // Waivers are about repositories: a registry-level door is never waived.
        let Some(repository) = facts
            .repository
            .as_deref()
            .filter(|_| facts.subject == Subject::Repository)
        else {
            return false;
        };
        let account = facts.registry_id.as_deref().or(facts.account.as_deref());
        let same = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == got)
        };
        self.rule == violation.rule
            && glob_match(&self.repository, repository)
            && same(&self.principal, violation.principal.as_deref())
            && same(&self.statement, violation.sid.as_deref())
            && same(&self.account, account)
    }

    /// What it is about, for one line: `repository` `rule`, then the principal, statement and
    /// account where given.
    pub fn scope(&self) -> String {
        let mut scope = format!("{} {}", tick(&self.repository), self.rule);
        for (label, value) in [
            ("principal", &self.principal),
            ("statement", &self.statement),
            ("account", &self.account),
        ] {
            if let Some(value) = value {
                scope.push_str(&format!(" {label} {}", tick(value)));
            }
        }
        scope
    }

    /// Its state on `today`.
    pub fn state(&self, today: Date) -> WaiverState {
        WaiverState {
            waiver: self.clone(),
            status: self.status(today),
            days_left: today.days_until(self.expires),
        }
    }
}

/// A waiver on a given day (the `waivers` command lists these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverState {
    #[serde(flatten)]
    pub waiver: Waiver,
    pub status: WaiverStatus,
    /// Days until it expires; 0 or less once it has.
    pub days_left: i64,
}

impl WaiverState {
    /// "until 2027-06-30 (211 days left)", or "expired on 2026-11-30".
    pub fn when(&self) -> String {
        match self.status {
            WaiverStatus::Expired => format!("expired on {}", self.waiver.expires),
            _ => format!(
                "until {} ({} left)",
                self.waiver.expires,
                plural(self.days_left.unsigned_abs() as usize, "day")
            ),
        }
    }
}

/// A waiver that matched violations of one change, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedWaiver {
    #[serde(flatten)]
    pub state: WaiverState,
    pub violations: usize,
}

/// What a violation's waiver says, as every report shows it beside the violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverMark {
    /// True while the waiver is in force: the violation causes no alert and no revert.
    pub waived: bool,
    pub waiver: WaiverNote,
}

/// The waiver of one violation, briefly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverNote {
    pub number: usize,
    pub reason: String,
    pub expires: Date,
    pub status: WaiverStatus,
}

impl WaiverMark {
    /// "waived by waiver 1 until 2027-06-30: reason", or "waiver 1 expired on 2026-11-30: reason".
    pub fn text(&self) -> String {
        let w = &self.waiver;
        if self.waived {
            format!(
                "waived by waiver {} until {}: {}",
                w.number, w.expires, w.reason
            )
        } else {
            format!("waiver {} expired on {}: {}", w.number, w.expires, w.reason)
        }
    }
}

/// The configured waivers, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waivers(Vec<Waiver>);

impl Waivers {
    pub fn new(waivers: Vec<Waiver>) -> Waivers {
        Waivers(waivers)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Waiver> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The waiver for a violation on `today`: one in force if any matches, else the matching
    /// one that expired last (so that the alert can say it expired), else none.
    pub fn find(&self, facts: &EventFacts, violation: &Violation, today: Date) -> Option<&Waiver> {
        let mut matching = self.0.iter().filter(|w| w.covers(facts, violation));
        let first = matching.next()?;
        if first.status(today).in_force() {
            return Some(first);
        }
        let mut latest = first;
        for w in matching {
            if w.status(today).in_force() {
                return Some(w);
            }
            if w.expires > latest.expires {
                latest = w;
            }
        }
        Some(latest)
    }

    /// The outcome with every violation a waiver matches marked, and the action and reason as
    /// the waivers in force on `today` leave them: when every violation is waived there is
    /// nothing to do. Ignored and compliant outcomes are returned as they are.
    pub fn apply(&self, mut outcome: Outcome, today: Date) -> Outcome {
        if self.0.is_empty() || outcome.violations.is_empty() {
            return outcome;
        }
        let mut used: BTreeMap<usize, (&Waiver, usize)> = BTreeMap::new();
        for v in &mut outcome.violations {
            let Some(waiver) = self.find(&outcome.facts, v, today) else {
                continue;
            };
            let status = waiver.status(today);
            v.waiver = Some(Box::new(WaiverMark {
                waived: status.in_force(),
                waiver: WaiverNote {
                    number: waiver.number,
                    reason: waiver.reason.clone(),
                    expires: waiver.expires,
                    status,
                },
            }));
            used.entry(waiver.number).or_insert((waiver, 0)).1 += 1;
        }
        if used.is_empty() {
            return outcome;
        }
        outcome.waivers = used
            .values()
            .map(|(waiver, violations)| MatchedWaiver {
                state: waiver.state(today),
                violations: *violations,
            })
            .collect();
        let waived = outcome.violations.iter().filter(|v| v.is_waived()).count();
        let counted = outcome.violations.len() - waived;
        let in_force: Vec<String> = outcome
            .waivers
            .iter()
            .filter(|m| m.state.status.in_force())
            .map(|m| {
                format!(
                    "waiver {} until {}",
                    m.state.waiver.number, m.state.waiver.expires
                )
            })
            .collect();
        let expired: Vec<String> = outcome
            .waivers
            .iter()
            .filter(|m| !m.state.status.in_force())
            .map(|m| {
                format!(
                    "waiver {} expired on {}",
                    m.state.waiver.number, m.state.waiver.expires
                )
            })
            .collect();
        let clause = action_clause(outcome.action, outcome.mode, outcome.facts.subject);
        let finding = outcome
            .reason
            .strip_suffix(clause.as_str())
            .unwrap_or(&outcome.reason)
            .to_owned();
        let mut notes = Vec::new();
        if waived > 0 && counted > 0 {
            notes.push(format!("{waived} waived by {}", in_force.join(", ")));
        }
        if !expired.is_empty() {
            notes.push(format!(
                "{}, so what it covered counts again",
                expired.join(", ")
            ));
        }
        if counted == 0 && outcome.action.is_violation() {
            outcome.action = Action::None;
            let all = if waived == 1 { "waived" } else { "all waived" };
            outcome.reason = format!(
                "{finding}, {all} by {}; the guard does nothing",
                in_force.join(", ")
            );
        } else if !notes.is_empty() {
            outcome.reason = format!("{finding} ({}){clause}", notes.join("; "));
        }
        outcome
    }

    /// The waivers whose numbers are not in `matched`.
    pub fn unmatched(&self, matched: &BTreeSet<usize>) -> Vec<&Waiver> {
        self.0
            .iter()
            .filter(|w| !matched.contains(&w.number))
            .collect()
    }
}

/// Whether a waiver may name the rule: not `invalid-policy` (what an unreadable policy grants is
/// unknown), nor a rule only registry-level doors break (a waiver is about repositories).
fn waivable(rule: RuleId) -> bool {
    !matches!(
        rule,
        RuleId::InvalidPolicy | RuleId::NoUnapprovedReplication
    )
}

/// A repository name or pattern: 1 to 256 of lowercase letters, digits, `._-/` and `*` `?`.
fn is_repository_pattern(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (`/` included)
/// and `?` exactly one. Iterative, with one backtrack point: linear in practice, never
/// exponential.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(&c) if c == '?' || c == t[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and try again.
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

impl Violation {
    /// True while a waiver in force covers it: reported, but neither alerted nor reverted.
    pub fn is_waived(&self) -> bool {
        self.waiver.as_ref().is_some_and(|m| m.waived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_parse_print_and_count_days_across_leap_years_and_eras() {
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(day("1970-01-01"), Date::from_unix_days(0));
        assert_eq!(day("2000-03-01").days_until(day("2000-02-29")), -1);
        assert_eq!(day("2026-12-01").days_until(day("2027-12-02")), 366);
        assert_eq!(day("2027-12-31").plus_days(1).to_string(), "2028-01-01");
        assert_eq!(day("1969-12-31"), Date::from_unix_days(-1));
        for text in [
            "2024-02-29",
            "1600-02-29",
            "2400-12-31",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(day(text).to_string(), text);
        }
        for bad in [
            "2027-02-29",
            "1900-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-04-31",
            "2027-1-01",
            "27-01-01",
            "2027/01/01",
            "2027-01-01T00:00:00Z",
            "２０２７-01-01",
            "+027-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        // Every day over four centuries round-trips.
        let start = day("1900-01-01");
        for n in 0..146_097 {
            let d = start.plus_days(n);
            assert_eq!(Date::parse(&d.to_string()), Some(d));
        }
    }

    #[test]
    fn globs_match_any_run_including_slashes_and_never_backtrack_exponentially() {
        assert!(glob_match("vendor/*", "vendor/scanner"));
        assert!(glob_match("vendor/*", "vendor/a/b"));
        assert!(glob_match("*/base-?", "platform/base-1"));
        assert!(glob_match("team-a/app", "team-a/app"));
        assert!(!glob_match("team-a/app", "team-a/app2"));
        assert!(!glob_match("vendor/*", "vendors/x"));
        assert!(!glob_match("*/base-?", "platform/base-12"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        let long = "a".repeat(200);
        assert!(!glob_match(&format!("{}b", "a*".repeat(50)), &long));
    }

    fn spec<'a>(expires: &'a str) -> WaiverSpec<'a> {
        WaiverSpec {
            repository: "vendor/*",
            rule: "no-root-principal",
            reason: "vendor contract until June",
            expires,
            ..WaiverSpec::default()
        }
    }

    #[test]
    fn a_waiver_runs_a_year_at_most_and_names_what_is_wrong() {
        let loaded = day("2026-12-01");
        assert!(Waiver::new(1, spec("2027-12-02"), loaded).is_ok());
        let err = Waiver::new(3, spec("2027-12-03"), loaded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "waiver 3: `expires` 2027-12-03 is more than 366 days after 2026-12-01, the day the config was loaded: a waiver runs for a year at most (until 2027-12-02); renew it then"
        );
        // An expiry already past is allowed: it is reported as expired.
        assert!(Waiver::new(1, spec("2020-01-01"), loaded).is_ok());
        for (bad, want) in [
            (
                WaiverSpec {
                    repository: "Vendor/X",
                    ..spec("2027-01-01")
                },
                "`repository` `Vendor/X` is not a repository name or pattern",
            ),
            (
                WaiverSpec {
                    repository: "",
                    ..spec("2027-01-01")
                },
                "`repository` `` is not",
            ),
            (
                WaiverSpec {
                    rule: "no-root",
                    ..spec("2027-01-01")
                },
                "`rule` `no-root` is not a rule id (one of `no-root-principal`,",
            ),
            (
                WaiverSpec {
                    rule: "invalid-policy",
                    ..spec("2027-01-01")
                },
                "`invalid-policy` cannot be waived",
            ),
            (
                WaiverSpec {
                    rule: "no-unapproved-replication",
                    ..spec("2027-01-01")
                },
                "`no-unapproved-replication` cannot be waived: waivers are about repository policies",
            ),
            (
                WaiverSpec {
                    reason: "  ",
                    ..spec("2027-01-01")
                },
                "`reason` must be non-empty text on one line",
            ),
            (
                WaiverSpec {
                    principal: Some("a\nb"),
                    ..spec("2027-01-01")
                },
                "`principal` must be non-empty text on one line, found `a\\nb`",
            ),
            (
                WaiverSpec {
                    account: Some("1234"),
                    ..spec("2027-01-01")
                },
                "`account` `1234` is not a 12-digit account id",
            ),
            (
                spec("2027-02-30"),
                "`expires` `2027-02-30` is not a date (YYYY-MM-DD)",
            ),
        ] {
            let err = Waiver::new(2, bad, loaded).unwrap_err().to_string();
            assert!(err.starts_with("waiver 2: "), "{err}");
            assert!(err.contains(want), "{err} lacks {want}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn status_turns_expiring_30_days_ahead_and_expired_on_the_expiry_day() {
        let w = Waiver::new(1, spec("2027-06-30"), day("2026-12-01")).unwrap();
        assert_eq!(w.status(day("2027-05-30")), WaiverStatus::Active);
        assert_eq!(w.status(day("2027-05-31")), WaiverStatus::Expiring);
        assert_eq!(w.status(day("2027-06-29")), WaiverStatus::Expiring);
        assert_eq!(w.status(day("2027-06-30")), WaiverStatus::Expired);
        assert_eq!(w.status(day("2028-01-01")), WaiverStatus::Expired);
        assert_eq!(
            w.state(day("2027-06-29")).when(),
            "until 2027-06-30 (1 day left)"
        );
        assert_eq!(w.state(day("2027-07-02")).when(), "expired on 2027-06-30");
    }
}
