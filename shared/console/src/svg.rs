//! Charts as SVG drawn on the server: no script, readable by a screen
//! reader (a title and a table of the same numbers beside each), and by a
//! test (each bar carries its day and value).

use jiff::civil::Date;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar per day; `what` names the value (its unit included).
pub fn daily_bars(what: &str, points: &[(Date, f64)]) -> String {
    let (w, h, pad) = (720.0, 180.0, 28.0);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let n = points.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut out = format!(
        r#"<svg role="img" aria-labelledby="chart-title" viewBox="0 0 {w} {h}" width="100%" style="max-width:{w}px;background:#fff;border:1px solid #d6dbe1"><title id="chart-title">{}</title>"#,
        esc(what)
    );
    for (i, (day, v)) in points.iter().enumerate() {
        let bh = if max > 0.0 {
            v / max * (h - 2.0 * pad)
        } else {
            0.0
        };
        let x = pad + i as f64 * bw;
        out.push_str(&format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#0b5cad" data-day="{day}" data-value="{v}"><title>{day}: {v}</title></rect>"##,
            h - pad - bh,
            (bw - 2.0).max(1.0)
        ));
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        out.push_str(&format!(
            r#"<text x="{pad}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text><text x="{pad}" y="16">max {max}</text>"#,
            h - 8.0,
            first.0,
            w - pad,
            h - 8.0,
            last.0
        ));
    }
    out.push_str("</svg>");
    out
}
