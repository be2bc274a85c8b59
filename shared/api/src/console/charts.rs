//! Charts as inline SVG, drawn on the server: no script, no CDN, readable without colour (every
//! series is also named in a legend and the numbers are in a table beside the chart).

use super::html::esc;
use std::fmt::Write;

/// A series: name and colour (each colour has at least 4.5:1 contrast on white).
pub const SERIES: [(&str, &str); 5] = [
    ("created", "#1b7f3b"),
    ("updated", "#1f5fbf"),
    ("archived", "#b3261e"),
    ("unarchived", "#6b3fa0"),
    ("warnings", "#8a5a00"),
];

fn colour(name: &str) -> &'static str {
    SERIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or("#333333")
}

fn legend(names: &[&str], x0: f64, y: f64) -> String {
    let mut h = String::new();
    let mut x = x0;
    for n in names {
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"lg\">{}</text>",
            y - 10.0,
            colour(n),
            x + 16.0,
            y,
            esc(n)
        );
        x += 24.0 + 8.0 * n.len() as f64 + 16.0;
    }
    h
}

/// One horizontal stacked bar per row (e.g. per entity), one segment per action.
/// `rows`: (label, [(action, count)]).
pub fn stacked_bars(title: &str, rows: &[(String, Vec<(&str, u64)>)]) -> String {
    let label_w = 120.0;
    let bar_w = 440.0;
    let row_h = 26.0;
    let top = 30.0;
    let height = top + row_h * rows.len() as f64 + 16.0;
    let max = rows
        .iter()
        .map(|(_, segs)| segs.iter().map(|(_, n)| *n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut names: Vec<&str> = Vec::new();
    for (_, segs) in rows {
        for (n, _) in segs {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    let mut h = format!(
        "<figure class=\"chart\"><svg role=\"img\" aria-labelledby=\"c-{id}\" viewBox=\"0 0 {w} {height}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"c-{id}\">{t}</title>",
        id = slug(title),
        w = label_w + bar_w + 80.0,
        t = esc(title)
    );
    h.push_str(&legend(&names, label_w, 16.0));
    for (i, (label, segs)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"ax\">{}</text>",
            label_w - 8.0,
            y + 15.0,
            esc(label)
        );
        let mut x = label_w;
        let mut total = 0;
        for (name, n) in segs {
            if *n == 0 {
                continue;
            }
            let w = bar_w * *n as f64 / max;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"18\" fill=\"{}\"><title>{}: {n} {}</title></rect>",
                y + 2.0,
                colour(name),
                esc(label),
                esc(name)
            );
            x += w;
            total += n;
        }
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{}\" class=\"ax\">{total}</text>",
            x + 6.0,
            y + 15.0
        );
    }
    h.push_str("</svg></figure>");
    h
}

/// Lines over runs, oldest on the left. `points`: (label, values in `names` order).
pub fn trend(title: &str, names: &[&str], points: &[(String, Vec<u64>)]) -> String {
    let (w, hgt) = (640.0, 240.0);
    let (left, right, top, bottom) = (48.0, 16.0, 30.0, 40.0);
    let plot_w = w - left - right;
    let plot_h = hgt - top - bottom;
    let max = points
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = if points.len() > 1 {
        plot_w / (points.len() - 1) as f64
    } else {
        0.0
    };
    let px = |i: usize| left + step * i as f64 + if points.len() == 1 { plot_w / 2.0 } else { 0.0 };
    let py = |v: u64| top + plot_h - plot_h * v as f64 / max;
    let mut h = format!(
        "<figure class=\"chart\"><svg role=\"img\" aria-labelledby=\"c-{id}\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"c-{id}\">{t}</title>",
        id = slug(title),
        t = esc(title)
    );
    h.push_str(&legend(names, left, 16.0));
    // Axes and three grid lines with their values.
    for k in 0..=2 {
        let v = (max * k as f64 / 2.0).round() as u64;
        let y = py(v);
        let _ = write!(
            h,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" class=\"ax\">{v}</text>",
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            h,
            "<text x=\"{left}\" y=\"{}\" class=\"ax\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"ax\">{}</text>",
            hgt - 12.0,
            esc(&first.0),
            w - right,
            hgt - 12.0,
            esc(&last.0)
        );
    }
    for (si, name) in names.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, (_, v))| format!("{:.1},{:.1}", px(i), py(v.get(si).copied().unwrap_or(0))))
            .collect();
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            colour(name),
            pts.join(" ")
        );
        for (i, (label, v)) in points.iter().enumerate() {
            let n = v.get(si).copied().unwrap_or(0);
            let _ = write!(
                h,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{}: {n} {}</title></circle>",
                px(i),
                py(n),
                colour(name),
                esc(label),
                esc(name)
            );
        }
    }
    h.push_str("</svg></figure>");
    h
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_row_and_escape_labels() {
        let svg = stacked_bars(
            "Changes",
            &[
                ("students".into(), vec![("created", 30), ("archived", 10)]),
                ("<b>".into(), vec![("created", 20)]),
            ],
        );
        // The largest row (40) spans the whole 440 px: 30 → 330, 10 → 110.
        assert!(svg.contains("width=\"330.0\""), "{svg}");
        assert!(svg.contains("width=\"110.0\""), "{svg}");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }

    #[test]
    fn trend_draws_one_line_per_series() {
        let pts = vec![("a".to_string(), vec![1, 2]), ("b".to_string(), vec![3, 0])];
        let svg = trend("Trend", &["created", "warnings"], &pts);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
    }
}
