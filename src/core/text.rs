//! Text helpers every message uses: quoting user input (one line, bounded, in backticks), counts.

/// Longest user-supplied text quoted in a message; the rest is elided.
const MAX_QUOTED_CHARS: usize = 120;

/// User input made safe for a one-line message: control characters escaped, long text cut.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_QUOTED_CHARS + 8));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// User input in backticks, as every message quotes it.
pub fn tick(s: &str) -> String {
    format!("`{}`", escape(s))
}

/// "1 violation", "2 violations": a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "1 repository", "2 repositories".
pub fn repositories(n: usize) -> String {
    match n {
        1 => "1 repository".to_owned(),
        n => format!("{n} repositories"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_cuts_long_input() {
        assert_eq!(tick("a\nb"), "`a\\nb`");
        let long = "x".repeat(500);
        let quoted = tick(&long);
        assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 3);
        assert!(quoted.ends_with("…`"));
    }
}
