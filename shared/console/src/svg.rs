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
    // From the lowest value or zero to the highest or zero: a day whose
    // refunds outweigh its revenue is a bar below the zero line.
    let hi = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let lo = points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let max = hi;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let y = |v: f64| pad + (hi - v) / span * (h - 2.0 * pad);
    let n = points.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut out = format!(
        r#"<svg role="img" aria-labelledby="chart-title" viewBox="0 0 {w} {h}" width="100%" style="max-width:{w}px;background:#fff;border:1px solid #d6dbe1"><title id="chart-title">{}</title>"#,
        esc(what)
    );
    out.push_str(&format!(
        r##"<line x1="{pad}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#4a5360" stroke-width="1"/>"##,
        w - pad,
        y(0.0),
        y(0.0)
    ));
    for (i, (day, v)) in points.iter().enumerate() {
        let (top, bottom) = (y(v.max(0.0)), y(v.min(0.0)));
        let x = pad + i as f64 * bw;
        let fill = if *v < 0.0 { "#a4161a" } else { "#0b5cad" };
        out.push_str(&format!(
            r##"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{fill}" data-day="{day}" data-value="{v}"><title>{day}: {v}</title></rect>"##,
            (bw - 2.0).max(1.0),
            bottom - top
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_never_have_a_negative_height_and_carry_their_numbers() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let svg = daily_bars(
            "net <revenue>",
            &[
                (d("2026-03-01"), 120.0),
                (d("2026-03-02"), -45.5),
                (d("2026-03-03"), 0.0),
            ],
        );
        assert!(!svg.contains("height=\"-"), "{svg}");
        assert!(svg.contains(r#"data-day="2026-03-02" data-value="-45.5""#));
        assert!(svg.contains("net &lt;revenue&gt;"));
    }
}
