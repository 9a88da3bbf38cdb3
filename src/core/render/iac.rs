//! The CLI's text and JSON for templates, plans and located policies ([`crate::iac`]): every line
//! about a place leads with `path:line:`, as compilers write, so editors and CI logs link to it.

use super::text::{Style, input_name};
use super::violation_line;
use crate::iac::{FileReport, IacSummary, ResourceReport};
use crate::text::{plural, tick};
use serde::Serialize;
use std::fmt::Write;

/// The JSON document of `check` on templates and plans.
#[derive(Debug, Clone, Serialize)]
pub struct IacDocument<'a> {
    pub results: &'a [FileReport],
    pub summary: &'a IacSummary,
}

/// The resource as messages name it: `` `ECRRepository` (AWS::ECR::Repository) ``.
pub fn resource_name(r: &ResourceReport) -> String {
    if r.resource == "policy" && r.resource_type == "policy" {
        "the policy".to_owned()
    } else {
        format!("{} ({})", tick(&r.resource), r.resource_type)
    }
}

fn when(text: &mut String, w: Option<&str>) {
    if let Some(w) = w {
        let _ = write!(text, " (when {w})");
    }
}

/// One file as text: a verdict line per resource, then a line per finding and problem.
pub fn file_text(out: &mut String, report: &FileReport, style: Style) {
    let path = input_name(&report.file);
    if let Some(error) = &report.error {
        let _ = writeln!(
            out,
            "{path}:{}: {} {}",
            error.line.max(1),
            style_bad(style, "INVALID"),
            error.message
        );
        return;
    }
    if report.resources.is_empty() {
        let _ = writeln!(
            out,
            "{path}:1: no ECR repository, registry, creation-template or replication policy found"
        );
    }
    for r in &report.resources {
        let name = resource_name(r);
        let verdict = match r.compliant() {
            Some(true) => style_good(style, "COMPLIANT"),
            Some(false) => format!(
                "{} {}",
                style_bad(style, "NOT COMPLIANT"),
                plural(r.findings.len(), "violation")
            ),
            None => style_bad(style, "INVALID"),
        };
        let deploys = match r.deploys {
            0 | 1 => String::new(),
            n => format!(", judged over {n} deploys"),
        };
        let _ = writeln!(out, "{path}:{}: {verdict} {name}{deploys}", r.line);
        for f in &r.findings {
            let mut line = format!(
                "{path}:{}: {}: {}",
                f.line,
                tick(&r.resource),
                violation_line(&f.violation)
            );
            when(&mut line, f.when.as_deref());
            let _ = writeln!(out, "{line}");
        }
        for p in &r.problems {
            let mut line = format!("{path}:{}: {}: {}", p.line, tick(&r.resource), p.message);
            when(&mut line, p.when.as_deref());
            let _ = writeln!(out, "{line}");
        }
        for a in &r.assumptions {
            let _ = writeln!(
                out,
                "{path}:{}: {}: assumed: {}",
                a.line,
                tick(&r.resource),
                a.message
            );
        }
    }
}

fn style_bad(style: Style, text: &str) -> String {
    style.paint("1;31", text)
}

fn style_good(style: Style, text: &str) -> String {
    style.paint("1;32", text)
}

impl IacSummary {
    /// The closing line of the text output.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}, {}: {} compliant, {} not compliant, {} not judged",
            plural(self.files, "file"),
            plural(self.resources, "resource"),
            self.compliant,
            self.non_compliant,
            self.invalid,
        );
        let assumed = match self.assumptions {
            0 => String::new(),
            n => format!(", {}", plural(n, "assumption")),
        };
        let _ = writeln!(out, " ({}{assumed})", plural(self.violations, "violation"));
        out
    }
}

/// Every file as text, then the summary.
pub fn iac_text(reports: &[FileReport], summary: &IacSummary, style: Style) -> String {
    let mut out = String::new();
    for report in reports {
        file_text(&mut out, report, style);
    }
    out.push_str(&summary.text());
    out
}
