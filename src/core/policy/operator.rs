//! IAM's condition operators, exactly as IAM spells them: 27 base names, an optional `IfExists`
//! suffix (on all but `Null`) and an optional `ForAnyValue:` / `ForAllValues:` prefix. Any other
//! spelling is refused at parse time (IAM itself refuses `stringEquals` with "Invalid Condition
//! type"), so an odd spelling can neither restrict a grant nor pass for a deny's condition.

/// The base condition operators (IAM User Guide, "Condition operators").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl BaseOperator {
    pub const ALL: [BaseOperator; 27] = [
        BaseOperator::StringEquals,
        BaseOperator::StringNotEquals,
        BaseOperator::StringEqualsIgnoreCase,
        BaseOperator::StringNotEqualsIgnoreCase,
        BaseOperator::StringLike,
        BaseOperator::StringNotLike,
        BaseOperator::NumericEquals,
        BaseOperator::NumericNotEquals,
        BaseOperator::NumericLessThan,
        BaseOperator::NumericLessThanEquals,
        BaseOperator::NumericGreaterThan,
        BaseOperator::NumericGreaterThanEquals,
        BaseOperator::DateEquals,
        BaseOperator::DateNotEquals,
        BaseOperator::DateLessThan,
        BaseOperator::DateLessThanEquals,
        BaseOperator::DateGreaterThan,
        BaseOperator::DateGreaterThanEquals,
        BaseOperator::Bool,
        BaseOperator::BinaryEquals,
        BaseOperator::IpAddress,
        BaseOperator::NotIpAddress,
        BaseOperator::ArnEquals,
        BaseOperator::ArnLike,
        BaseOperator::ArnNotEquals,
        BaseOperator::ArnNotLike,
        BaseOperator::Null,
    ];

    pub fn as_str(self) -> &'static str {
        use BaseOperator::*;
        match self {
            StringEquals => "StringEquals",
            StringNotEquals => "StringNotEquals",
            StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            StringLike => "StringLike",
            StringNotLike => "StringNotLike",
            NumericEquals => "NumericEquals",
            NumericNotEquals => "NumericNotEquals",
            NumericLessThan => "NumericLessThan",
            NumericLessThanEquals => "NumericLessThanEquals",
            NumericGreaterThan => "NumericGreaterThan",
            NumericGreaterThanEquals => "NumericGreaterThanEquals",
            DateEquals => "DateEquals",
            DateNotEquals => "DateNotEquals",
            DateLessThan => "DateLessThan",
            DateLessThanEquals => "DateLessThanEquals",
            DateGreaterThan => "DateGreaterThan",
            DateGreaterThanEquals => "DateGreaterThanEquals",
            Bool => "Bool",
            BinaryEquals => "BinaryEquals",
            IpAddress => "IpAddress",
            NotIpAddress => "NotIpAddress",
            ArnEquals => "ArnEquals",
            ArnLike => "ArnLike",
            ArnNotEquals => "ArnNotEquals",
            ArnNotLike => "ArnNotLike",
            Null => "Null",
        }
    }

    /// Matches when the key matches none of the values (IAM: "negated matching"; several values
    /// are NORed, and an absent key makes the condition true).
    pub fn is_negated(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// `*` and `?` are wildcards in the values: `StringLike`, and every ARN operator (IAM: "The
    /// `ArnEquals` and `ArnLike` condition operators behave identically").
    pub fn is_pattern(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringLike | StringNotLike | ArnEquals | ArnLike | ArnNotEquals | ArnNotLike
        )
    }

    /// The ARN operators match segment by segment: a wildcard never crosses a `:` of the first
    /// five segments.
    pub fn is_arn(self) -> bool {
        use BaseOperator::*;
        matches!(self, ArnEquals | ArnLike | ArnNotEquals | ArnNotLike)
    }
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// A condition operator as IAM reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    pub base: BaseOperator,
    pub set: Option<SetQualifier>,
    /// `...IfExists`: true when the key is absent.
    pub if_exists: bool,
}

impl Operator {
    /// The operator a name spells, exactly (case included); `None` for anything IAM refuses.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let base = BaseOperator::ALL
            .into_iter()
            .find(|b| b.as_str() == base_name)?;
        // IAM: "You can add IfExists to the end of any condition operator name except the Null
        // condition"; a set of "present or absent" answers is meaningless too.
        if base == BaseOperator::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator {
            base,
            set,
            if_exists,
        })
    }

    /// True for the positive operators that can limit who the caller is: `StringEquals`,
    /// `StringEqualsIgnoreCase`, `StringLike`, `ArnEquals`, `ArnLike`, alone or with
    /// `ForAnyValue:`. `...IfExists` and `ForAllValues:` are true when the key is absent, and
    /// negated operators let through everyone they do not list, so none of those restricts.
    pub fn can_restrict(self) -> bool {
        use BaseOperator::*;
        matches!(
            self.base,
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike
        ) && !self.if_exists
            && self.set != Some(SetQualifier::ForAllValues)
    }

    /// True for the same positive operators when the statement also requires the key to be
    /// present (`Null` `false` on it): IAM ANDs a statement's condition blocks, so
    /// `...IfExists` then compares like the operator without it, and `ForAllValues:` then has
    /// a value to test (IAM User Guide: "Condition operators", "...IfExists condition
    /// operators"; "Single-valued vs. multivalued context keys").
    pub fn can_restrict_when_present(self) -> bool {
        use BaseOperator::*;
        matches!(
            self.base,
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike
        )
    }

    /// True for the negated string and ARN operators a deny-by-default may exempt callers with.
    pub fn can_exempt(self) -> bool {
        use BaseOperator::*;
        matches!(
            self.base,
            StringNotEquals | StringNotEqualsIgnoreCase | StringNotLike | ArnNotEquals | ArnNotLike
        ) && self.set != Some(SetQualifier::ForAnyValue)
    }

    pub fn ignores_case(self) -> bool {
        matches!(
            self.base,
            BaseOperator::StringEqualsIgnoreCase | BaseOperator::StringNotEqualsIgnoreCase
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_iams_exact_spellings_parse() {
        for name in [
            "StringEquals",
            "ForAnyValue:StringLike",
            "ForAllValues:StringNotLikeIfExists",
            "BoolIfExists",
            "NotIpAddress",
            "ArnNotEqualsIfExists",
            "Null",
        ] {
            assert!(Operator::parse(name).is_some(), "{name}");
        }
        for name in [
            "stringEquals",
            "StringNotEqualz",
            "StringEqualsIfexists",
            "NullIfExists",
            "ForAnyValue:Null",
            "forallvalues:StringEquals",
            "ForAnyValue: StringEquals",
            "StringLikeIgnoreCase",
            "BinaryNotEquals",
            "",
        ] {
            assert!(Operator::parse(name).is_none(), "{name}");
        }
    }

    #[test]
    fn what_restricts_and_what_exempts() {
        let op = |n: &str| Operator::parse(n).unwrap();
        assert!(op("StringEquals").can_restrict());
        assert!(op("ForAnyValue:StringLike").can_restrict());
        assert!(op("ArnEquals").can_restrict());
        assert!(!op("StringEqualsIfExists").can_restrict());
        assert!(!op("ForAllValues:StringEquals").can_restrict());
        assert!(op("ForAllValues:StringEquals").can_restrict_when_present());
        assert!(op("StringLikeIfExists").can_restrict_when_present());
        assert!(!op("StringNotEqualsIfExists").can_restrict_when_present());
        assert!(!op("NumericEquals").can_restrict_when_present());
        assert!(!op("StringNotEquals").can_restrict());
        assert!(op("ArnNotEqualsIfExists").can_exempt());
        assert!(op("ForAllValues:StringNotLike").can_exempt());
        assert!(!op("ForAnyValue:StringNotLike").can_exempt());
        assert!(!op("NotIpAddress").can_exempt());
        assert!(op("ArnEquals").base.is_pattern() && !op("StringEquals").base.is_pattern());
    }
}
