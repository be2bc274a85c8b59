//! HTML building: escaping, the page frame with the nine steps, and small shared pieces
//! (tables of counts, notices, forms with the CSRF field). Every value that comes from a
//! request, the store or the source goes through [`esc`].

use super::session::Session;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// `s` escaped for HTML text and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` encoded for a URL query value or path segment.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The nine steps of domain.md §1, as (path, title).
pub const STEPS: [(&str, &str); 9] = [
    ("/console/source", "Connect a source"),
    ("/console/shares", "What the source shares"),
    ("/console/schools", "Match schools"),
    ("/console/classrooms", "Link classrooms"),
    ("/console/settings", "Sync settings"),
    ("/console/check", "Self-check"),
    ("/console/schedule", "Enable the nightly sync"),
    ("/console/runs", "Sync reports"),
    ("/console/cleanup", "Clean up students"),
];

/// A whole page: header, the steps as navigation (`step` is 1-9, or 0 for none), `body`.
pub fn page(title: &str, step: usize, session: Option<&Session>, body: &str) -> Response {
    page_with(StatusCode::OK, title, step, session, body, None)
}

pub fn page_with(
    status: StatusCode,
    title: &str,
    step: usize,
    session: Option<&Session>,
    body: &str,
    refresh_secs: Option<u32>,
) -> Response {
    let mut h = String::with_capacity(body.len() + 2048);
    h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if let Some(s) = refresh_secs {
        let _ = write!(h, "<meta http-equiv=\"refresh\" content=\"{s}\">");
    }
    let _ = write!(
        h,
        "<title>{} · rostersync console</title><link rel=\"stylesheet\" href=\"/console/static/console.css\"></head><body>",
        esc(title)
    );
    h.push_str("<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\"><a class=\"brand\" href=\"/console\">rostersync</a>");
    if let Some(s) = session {
        let _ = write!(
            h,
            "<span class=\"who\">District <strong>{}</strong>{}</span>\
             <form method=\"post\" action=\"/console/sign-out\" class=\"inline\">{}<button type=\"submit\" class=\"link\">Sign out</button></form>",
            esc(&s.district),
            if s.read_only() { " (read-only)" } else { "" },
            csrf_field(s)
        );
    }
    h.push_str("</header><div class=\"layout\">");
    if session.is_some() {
        h.push_str("<nav aria-label=\"Setup steps\"><ol class=\"steps\">");
        for (i, (path, name)) in STEPS.iter().enumerate() {
            let current = if i + 1 == step {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                h,
                "<li><a href=\"{path}\"{current}><span class=\"num\">{}</span> {name}</a></li>",
                i + 1
            );
        }
        h.push_str("</ol></nav>");
    }
    let _ = write!(
        h,
        "<main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{body}</main></div></body></html>",
        esc(title)
    );
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        h,
    )
        .into_response()
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(s: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&s.csrf)
    )
}

/// A one-button form posting to `action` with hidden `fields`.
pub fn button_form(
    s: &Session,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    class: &str,
) -> String {
    let mut h = format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}",
        esc(action),
        csrf_field(s)
    );
    for (k, v) in fields {
        let _ = write!(
            h,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        );
    }
    let _ = write!(
        h,
        "<button type=\"submit\" class=\"{}\"{}>{}</button></form>",
        esc(class),
        if s.read_only() { " disabled" } else { "" },
        esc(label)
    );
    h
}

/// A form that posts one choice from a list: `hidden` = (name, value) carried along, the
/// `<select>` named `name` with `options` = (value, text), labelled `label` for screen readers.
pub struct PickForm<'a> {
    pub action: &'a str,
    pub hidden: (&'a str, &'a str),
    pub name: &'a str,
    pub label: &'a str,
    pub options: Vec<(&'a str, &'a str)>,
    pub button: &'a str,
    pub class: &'a str,
}

impl PickForm<'_> {
    pub fn render(&self, s: &Session) -> String {
        let id = format!("p-{}-{}", self.name, esc(self.hidden.1));
        let mut f = format!(
            "<form method=\"post\" action=\"{}\" class=\"inline\">{}\
             <input type=\"hidden\" name=\"{}\" value=\"{}\">\
             <label class=\"sr\" for=\"{id}\">{}</label><select id=\"{id}\" name=\"{}\">",
            esc(self.action),
            csrf_field(s),
            esc(self.hidden.0),
            esc(self.hidden.1),
            esc(self.label),
            esc(self.name)
        );
        for (v, text) in &self.options {
            let _ = write!(
                f,
                "<option value=\"{}\">{} ({})</option>",
                esc(v),
                esc(text),
                esc(v)
            );
        }
        let _ = write!(
            f,
            "</select> <button type=\"submit\" class=\"{}\"{}>{}</button></form>",
            esc(self.class),
            if s.read_only() { " disabled" } else { "" },
            esc(self.button)
        );
        f
    }
}

/// A notice box: `kind` is `ok`, `warn` or `error`. `text` is escaped.
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\">{}</p>",
        esc(text)
    )
}

/// A table: `head` cells are plain text (escaped); `rows` cells are HTML already built.
pub fn table(caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = format!(
        "<div class=\"scroll\"><table><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for c in head {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(
            h,
            "<tr><td colspan=\"{}\" class=\"empty\">Nothing to show.</td></tr>",
            head.len().max(1)
        );
    }
    h.push_str("</tbody></table></div>");
    h
}

/// The "next step" link at the foot of a page.
pub fn next_step(step: usize) -> String {
    match STEPS.get(step) {
        Some((path, name)) => format!(
            "<p class=\"next\"><a class=\"button\" href=\"{path}\">Next: {} · {name} →</a></p>",
            step + 1
        ),
        None => String::new(),
    }
}

/// A readable status label for runs.
pub fn status_badge(status: &str) -> String {
    let class = match status {
        "succeeded" => "ok",
        "completed_with_warnings" | "held" => "warn",
        "failed" => "error",
        _ => "info",
    };
    format!(
        "<span class=\"badge {class}\">{}</span>",
        esc(&status.replace('_', " "))
    )
}
