//! HTML building blocks: escaping, the page frame and figure cells.
//!
//! Every figure taken from a trial report is written as
//! `<span data-figure="PATH" data-value="V">text</span>`, where PATH is the
//! figure's path in the report's JSON (`champion.anomaly_rate.low`) and V
//! its exact value (shortest representation that reads back to the same
//! f64); a missing figure has no `data-value`. Tests and scripts compare
//! pages against `GetTrialReport` through these attributes.

use std::fmt::Write;

use axum::response::Html;
use chrono::{DateTime, SecondsFormat, Utc};

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24292f;color:#fff;padding:.6em 1.2em}
header a{color:#fff;margin-right:1.2em;text-decoration:none}
header a.brand{font-weight:bold}
main{padding:1em 1.6em;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0 1.2em;background:#fff}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}
.error{color:#b00020}
.badge{display:inline-block;padding:.1em .5em;border-radius:.6em;background:#e8e8e8;font-size:.9em}
.status-champion,.verdict-promote,.gate-passed{background:#d4f5dc}
.status-challenger,.verdict-keep_running{background:#fff3c4}
.status-retired{background:#eee;color:#666}
.verdict-reject,.gate-violated{background:#ffd7d5}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.charts figure{margin:0;background:#fff;border:1px solid #ddd;padding:.4em}
figcaption{font-weight:bold;margin-bottom:.3em}
svg.chart text{font-size:11px;fill:#444}
svg.chart .axis{stroke:#999;stroke-width:1}
svg.chart .grid{stroke:#eee;stroke-width:1}
.champion{stroke:#1f77b4;fill:#1f77b4}
.challenger{stroke:#ff7f0e;fill:#ff7f0e}
.agreement{stroke:#2ca02c;fill:#2ca02c}
path.line{fill:none;stroke-width:2}
path.line.p99{stroke-dasharray:5 3}
path.band{stroke:none;fill-opacity:.18}
path.bars{fill-opacity:.35;stroke-width:1}
code{font-size:.95em}
";

/// Escapes text for HTML element content and quoted attribute values.
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

/// A whole page: title, navigation, `body`; `refresh` reloads it every so
/// many seconds.
pub fn page(title: &str, refresh: Option<u32>, body: &str) -> Html<String> {
    let refresh = refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · joust</title><style>{STYLE}</style></head>\
         <body><header><a class=\"brand\" href=\"/\">joust</a><a href=\"/models\">models</a>\
         <a href=\"/trials\">trials</a><a href=\"/approvals\">approvals</a><a href=\"/serving\">serving</a><a href=\"/api/models\">JSON API</a></header>\
         <main>{body}</main></body></html>\n",
        esc(title)
    ))
}

/// A time as RFC 3339 to the second.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A number for display: integers as they are, others to 4 significant
/// decimals, very small or large ones in scientific notation.
pub fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// A share as a percentage.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// A report figure (see the module docs); `show` formats the value.
pub fn fig(path: &str, value: Option<f64>, show: fn(f64) -> String) -> String {
    match value {
        Some(v) => format!(
            "<span data-figure=\"{}\" data-value=\"{v}\">{}</span>",
            esc(path),
            esc(&show(v))
        ),
        None => format!(
            "<span data-figure=\"{}\" class=\"muted\">—</span>",
            esc(path)
        ),
    }
}

/// A table from a header row and rows of ready-made cell HTML; cells
/// starting with `#` are right-aligned numbers (the `#` is dropped).
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell.strip_prefix('#') {
                Some(n) => {
                    let _ = write!(out, "<td class=\"num\">{n}</td>");
                }
                None => {
                    let _ = write!(out, "<td>{cell}</td>");
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A link; `href` and `text` are escaped.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A percent-encoded path segment (model names are `[a-z0-9_-]`, but the
/// page must not trust that).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn figures_carry_their_exact_value() {
        let v = 0.1 + 0.2;
        let html = fig("psi", Some(v), num);
        let raw = html
            .split("data-value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        assert_eq!(raw.and_then(|s| s.parse::<f64>().ok()), Some(v));
        assert!(!fig("psi", None, num).contains("data-value"));
    }
}
