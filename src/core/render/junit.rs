//! JUnit XML for CI dashboards (GitLab's test reports, Jenkins, Azure DevOps): a test suite per
//! file, a test case per resource; a violation is a failure, a resource that could not be judged
//! an error.

use super::iac::resource_name;
use super::text::input_name;
use super::violation_line;
use crate::iac::{FileReport, IacSummary};
use std::fmt::Write;

/// Text made safe for XML 1.0 attributes and content: markup escaped, and the control characters
/// XML cannot hold written as `\u{..}`.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit document of one run over these files.
pub fn junit(reports: &[FileReport], summary: &IacSummary) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let cases = summary.resources + reports.iter().filter(|r| r.error.is_some()).count();
    let _ = writeln!(
        out,
        "<testsuites name=\"ecr-policy-guard\" tests=\"{cases}\" failures=\"{}\" errors=\"{}\">",
        summary.non_compliant, summary.invalid
    );
    for report in reports {
        let path = xml_escape(input_name(&report.file));
        let failures = report
            .resources
            .iter()
            .filter(|r| r.compliant() == Some(false))
            .count();
        let errors = report
            .resources
            .iter()
            .filter(|r| r.compliant().is_none())
            .count()
            + usize::from(report.error.is_some());
        let tests = report.resources.len() + usize::from(report.error.is_some());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{path}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
        );
        if let Some(error) = &report.error {
            let message = xml_escape(&error.message);
            let _ = writeln!(
                out,
                "    <testcase classname=\"{path}\" name=\"(file)\" file=\"{path}\" line=\"{}\">\n      <error type=\"not-rendered\" message=\"{message}\">{path}:{}: {message}</error>\n    </testcase>",
                error.line.max(1),
                error.line.max(1)
            );
        }
        for r in &report.resources {
            let name = xml_escape(&resource_name(r));
            let _ = write!(
                out,
                "    <testcase classname=\"{path}\" name=\"{name}\" file=\"{path}\" line=\"{}\"",
                r.line
            );
            if r.findings.is_empty() && r.problems.is_empty() && r.assumptions.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if !r.assumptions.is_empty() {
                out.push_str("      <system-out>");
                for a in &r.assumptions {
                    let _ = write!(
                        out,
                        "{path}:{}: assumed: {}&#10;",
                        a.line,
                        xml_escape(&a.message)
                    );
                }
                out.push_str("</system-out>\n");
            }
            for f in &r.findings {
                let mut text = violation_line(&f.violation);
                if let Some(when) = &f.when {
                    let _ = write!(text, " (when {when})");
                }
                let text = xml_escape(&text);
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{text}\">{path}:{}: {text}</failure>",
                    f.violation.rule, f.line
                );
            }
            for p in &r.problems {
                let kind = serde_json::to_value(p.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let text = xml_escape(&p.message);
                let _ = writeln!(
                    out,
                    "      <error type=\"{kind}\" message=\"{text}\">{path}:{}: {text}</error>",
                    p.line
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            xml_escape("a<b & \"c\"\n\u{1}"),
            "a&lt;b &amp; &quot;c&quot;&#10;\\u{1}"
        );
    }
}
