//! Human-readable output (stderr) and machine output (`--json`, stdout).

use domain::EntityKind;
use domain::plan::Action;
use domain::report::{Report, ReportIssue};
use serde::Serialize;

/// Where output goes: `--json` prints JSON on stdout, humans read stderr.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Human text (stderr).
    pub fn say(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    /// Machine output when `--json`, else the human rendering.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{text}");
            }
        }
        Ok(())
    }
}

fn issue_lines(title: &str, issues: &[ReportIssue], max: usize) -> String {
    if issues.is_empty() {
        return String::new();
    }
    let mut s = format!("\n{title} ({}):\n", issues.len());
    // Group by code so a thousand identical warnings read as one line.
    let mut by_code: std::collections::BTreeMap<String, Vec<&ReportIssue>> = Default::default();
    for i in issues {
        by_code.entry(i.code.to_string()).or_default().push(i);
    }
    for (code, list) in by_code {
        s.push_str(&format!("  {code} ×{}\n", list.len()));
        for i in list.iter().take(max) {
            s.push_str(&format!("    {}  {}\n", i.location, i.message));
        }
        if list.len() > max {
            s.push_str(&format!(
                "    … {} more (all of them: --json)\n",
                list.len() - max
            ));
        }
    }
    s
}

/// The report as a table of entities × actions, then schools, warnings and errors.
pub fn render_report(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "District {} · run {} · {}{}{}\n",
        r.district,
        r.run_id,
        r.status.as_str(),
        r.reason.map(|x| format!(" ({x})")).unwrap_or_default(),
        if r.dry_run {
            " · dry run: nothing was written"
        } else {
            ""
        }
    ));
    s.push_str(&format!("{:<15}", ""));
    for a in Action::ALL {
        s.push_str(&format!("{:>11}", a.as_str()));
    }
    s.push('\n');
    for e in EntityKind::ALL {
        let c = r.totals.get(e);
        s.push_str(&format!("{:<15}", e.as_str()));
        for a in Action::ALL {
            s.push_str(&format!("{:>11}", c.get(a)));
        }
        s.push('\n');
    }
    if r.tried_to_archive.values().any(|n| *n > 0) {
        s.push_str("\nHeld: the run would archive more than the deletion threshold allows. Not archived:\n");
        for (e, n) in &r.tried_to_archive {
            if *n > 0 {
                s.push_str(&format!("  {:<13} {n}\n", e.as_str()));
            }
        }
        s.push_str(&format!(
            "Review with `rostersync runs changes --district {} --run {} --action archived`, then `runs approve` or `runs dismiss`.\n",
            r.district, r.run_id
        ));
    }
    if !r.schools.is_empty() {
        s.push_str(&format!("\nSchools ({}):\n", r.schools.len()));
        for sc in &r.schools {
            let t = |e| sc.totals.get(e);
            let st = t(EntityKind::Students);
            s.push_str(&format!(
                "  {:<24} source {:<12} {:<24} students +{} ~{} ={} -{}\n",
                sc.school_id,
                sc.external_id,
                sc.status.as_str(),
                st.created,
                st.updated,
                st.unchanged,
                st.archived
            ));
        }
    }
    s.push_str(&issue_lines("Errors", &r.errors, 10));
    s.push_str(&issue_lines("Warnings", &r.warnings, 3));
    s
}

/// Neutralises spreadsheet formula injection: a cell starting with `= + - @`, tab or CR gets a
/// leading `'`.
pub fn csv_safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}
