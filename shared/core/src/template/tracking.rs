//! Click and open tracking in rendered messages: every link to somewhere
//! else becomes a signed redirect through storeflow (`/c/{token}`), and an
//! email may carry an open pixel (`/o/{token}`). Links to storeflow's own
//! pages (unsubscribe, preferences) stay as they are: they are already
//! signed, and RFC 8058's one-click unsubscribe must reach them directly.

use crate::template::Rendered;

/// Rewrites the links of every part of `r` with `link` (given the target,
/// it returns the tracked URL), leaving those that start with `own`.
/// HTML parts: `href` attributes with an http(s) URL. Text parts (plain
/// text, SMS and WhatsApp bodies): bare http(s) URLs.
pub fn rewrite(r: &mut Rendered, own: &str, link: &mut dyn FnMut(&str) -> String) {
    if let Some(h) = r.html.as_mut() {
        *h = rewrite_html(h, own, link);
    }
    for t in [r.text.as_mut(), r.body.as_mut()].into_iter().flatten() {
        *t = rewrite_text(t, own, link);
    }
}

/// Adds the open pixel before `</body>` (or at the end).
pub fn add_pixel(html: &mut String, url: &str) {
    let img = format!(
        r#"<img src="{url}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">"#
    );
    match html.rfind("</body>") {
        Some(i) => html.insert_str(i, &img),
        None => html.push_str(&img),
    }
}

fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn rewrite_html(html: &str, own: &str, link: &mut dyn FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(i) = find_href(rest) {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        // after: `href=` then a quote.
        let eq = after.find('=').expect("found with =") + 1;
        let quote = after[eq..].chars().next().unwrap_or('"');
        out.push_str(&after[..eq + 1]);
        let value_start = eq + 1;
        let Some(len) = after[value_start..].find(quote) else {
            out.push_str(&after[value_start..]);
            return out;
        };
        let value = &after[value_start..value_start + len];
        // The attribute is HTML-escaped; the target is its plain text.
        let target = value.replace("&amp;", "&");
        if is_web(&target) && !target.starts_with(own) {
            out.push_str(&link(&target));
        } else {
            out.push_str(value);
        }
        rest = &after[value_start + len..];
    }
    out.push_str(rest);
    out
}

/// The next `href="` or `href='` (any case).
fn find_href(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let at = from + i;
        let tail = lower[at + 4..].trim_start();
        if let Some(t) = tail.strip_prefix('=') {
            if t.starts_with('"') || t.starts_with('\'') {
                // Normalise: no space around `=` in what is copied, so the
                // caller finds `=` then the quote.
                if lower[at + 4..].starts_with("=\"") || lower[at + 4..].starts_with("='") {
                    return Some(at);
                }
            }
        }
        from = at + 4;
    }
    None
}

fn rewrite_text(text: &str, own: &str, link: &mut dyn FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 128);
    let mut rest = text;
    loop {
        let next = [rest.find("https://"), rest.find("http://")]
            .into_iter()
            .flatten()
            .min();
        let Some(i) = next else { break };
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        // Sentence punctuation after a URL is not part of it.
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')']) {
            end -= 1;
        }
        let url = &tail[..end];
        if url.starts_with(own) || url.len() <= "https://".len() {
            out.push_str(url);
        } else {
            out.push_str(&link(url));
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(u: &str) -> String {
        format!("https://sf.example.com/c/[{u}]")
    }

    #[test]
    fn links_become_redirects_except_our_own_pages() {
        let mut r = Rendered {
            html: Some(r#"<a href="https://shop.example.com/p?a=1&amp;b=2">Shop</a> <a HREF='mailto:x@y.z'>mail</a> <a href="https://sf.example.com/u/tok">Unsubscribe</a>"#.into()),
            text: Some("See https://shop.example.com/p. Or (https://shop.example.com/q), stop: https://sf.example.com/u/tok".into()),
            ..Default::default()
        };
        rewrite(&mut r, "https://sf.example.com", &mut |u| tracked(u));
        assert_eq!(
            r.html.as_deref().unwrap(),
            r#"<a href="https://sf.example.com/c/[https://shop.example.com/p?a=1&b=2]">Shop</a> <a HREF='mailto:x@y.z'>mail</a> <a href="https://sf.example.com/u/tok">Unsubscribe</a>"#
        );
        assert_eq!(
            r.text.as_deref().unwrap(),
            "See https://sf.example.com/c/[https://shop.example.com/p]. Or (https://sf.example.com/c/[https://shop.example.com/q]), stop: https://sf.example.com/u/tok"
        );
    }

    #[test]
    fn the_pixel_goes_before_the_end_of_the_body() {
        let mut h = "<html><body><p>Hi</p></body></html>".to_string();
        add_pixel(&mut h, "https://sf.example.com/o/t");
        assert!(
            h.ends_with(
                r#"alt="" style="display:block;border:0;width:1px;height:1px"></body></html>"#
            ),
            "{h}"
        );
    }
}
