//! Click and open tracking, the same in every runtime: `/c/{token}` records
//! a click on a message's link and answers with a 302 to its target;
//! `/o/{token}` records an email open and answers with a 1×1 GIF. The
//! token is signed (`storeflow_core::model::links`): it names the customer,
//! channel, message, send instant and target, so nothing is looked up and
//! the redirect cannot be pointed anywhere else.
//!
//! A click or open is the customer's `{channel}_clicked` or `email_opened`
//! event (with `message` and `link`), applied through the engine like any
//! other: it is counted for the message and may earn an order's credit.
//!
//! **Link scanners are not customers.** Mail security gateways follow
//! every link of a message as it arrives. A request is a scanner's, and
//! is redirected but not recorded, when any of these holds:
//! - it is a `HEAD` request (scanners check links without loading them);
//! - it comes within [`SCANNER_SECONDS`] of the message being sent;
//! - its `User-Agent` is empty or names a known scanner or bot
//!   ([`SCANNER_AGENTS`]).

use crate::preferences::{LinkPorts, Reply};
use jiff::Timestamp;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::model::links::Tracked;
use storeflow_core::{Config, Event};

/// A click this soon after sending is a scanner's.
pub const SCANNER_SECONDS: i64 = 10;

/// `User-Agent` fragments (lowercase) of link scanners and bots.
pub const SCANNER_AGENTS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "scanner",
    "preview",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "urldefense",
    "trendmicro",
    "symantec",
    "forcepoint",
    "python-requests",
    "go-http-client",
    "headlesschrome",
];

/// A transparent 1×1 GIF.
pub const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Whether `path` is a tracking link (a runtime routes it here).
pub fn serves(path: &str) -> bool {
    path.starts_with("/c/") || path.starts_with("/o/")
}

/// Whether a request is a link scanner's, not the customer's.
pub fn is_scanner(method: &str, user_agent: Option<&str>, sent_at: i64, now: Timestamp) -> bool {
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    method.eq_ignore_ascii_case("HEAD")
        || now.as_second() - sent_at < SCANNER_SECONDS
        || ua.trim().is_empty()
        || SCANNER_AGENTS.iter().any(|a| ua.contains(a))
}

/// Answers a tracking link; `None` when `path` is not one.
pub async fn handle<P: LinkPorts>(
    ports: &P,
    cfg: &Config,
    method: &str,
    path: &str,
    user_agent: Option<&str>,
    now: Timestamp,
) -> Option<Reply> {
    let token = path
        .strip_prefix("/c/")
        .or_else(|| path.strip_prefix("/o/"))?
        .trim_end_matches('/');
    if !matches!(method, "GET" | "HEAD") {
        return Some(Reply::text(405, "Use GET.".into()));
    }
    let invalid = || Reply::text(404, "This link is not valid.".into());
    let Some(pid) = token
        .rsplitn(3, '.')
        .nth(2)
        .and_then(|p| ProfileId::parse(p).ok())
    else {
        return Some(invalid());
    };
    let shop = match ports.shop_of(&pid).await {
        Ok(Some(s)) => s,
        // An erased customer's link still leads nowhere harmful: refuse.
        Ok(None) => return Some(invalid()),
        Err(e) => return Some(Reply::text(503, format!("Try again later ({e})."))),
    };
    let Some(link) = cfg.links.verify_tracked(shop.as_str(), token) else {
        return Some(invalid());
    };
    let kind_ok = match link.kind {
        Tracked::Click => path.starts_with("/c/"),
        Tracked::Open => path.starts_with("/o/"),
    };
    if !kind_ok {
        return Some(invalid());
    }
    if !is_scanner(method, user_agent, link.sent_at, now) {
        // Recording is best effort: the customer gets where they were
        // going even when the store cannot take the event now.
        if let Err(e) = record(ports, &shop, &pid, &link, now).await {
            tracing::warn!(error = %e, "tracking: a click or open was not recorded");
        }
    }
    Some(match link.kind {
        Tracked::Click => Reply {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            body: String::new(),
            location: link.url,
            bytes: None,
        },
        Tracked::Open => Reply {
            status: 200,
            content_type: "image/gif",
            body: String::new(),
            location: None,
            bytes: Some(PIXEL),
        },
    })
}

async fn record<P: LinkPorts>(
    ports: &P,
    shop: &ShopId,
    pid: &ProfileId,
    link: &storeflow_core::model::links::TrackedLink,
    now: Timestamp,
) -> anyhow::Result<()> {
    let Some(state) = ports.customer(shop, pid).await? else {
        return Ok(());
    };
    let p = &state.profile;
    let (name, what) = match link.kind {
        Tracked::Click => (format!("{}_clicked", link.channel), "click"),
        Tracked::Open => ("email_opened".to_string(), "open"),
    };
    let mut properties = serde_json::json!({ "message": link.message });
    if let Some(url) = &link.url {
        properties["link"] = serde_json::json!(url);
    }
    let event: Event = serde_json::from_value(serde_json::json!({
        "id": format!("{what}:{}:{}", link.message, now.as_microsecond()),
        "shop": shop,
        "type": name,
        "occurred_at": now,
        "customer": {
            "email": p.email().map(|e| e.to_string()),
            "phone": p.phone().map(|p| p.to_string()),
            "id": p.customer_id,
        },
        "properties": properties,
    }))?;
    ports.apply(vec![event], now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_are_told_apart_from_customers() {
        let sent = 1_800_000_000;
        let at = |secs: i64| Timestamp::from_second(sent + secs).unwrap();
        let browser = Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148");
        assert!(!is_scanner("GET", browser, sent, at(60)));
        // Seconds after sending: a gateway checking the message.
        assert!(is_scanner("GET", browser, sent, at(3)));
        assert!(is_scanner("HEAD", browser, sent, at(600)));
        assert!(is_scanner("GET", None, sent, at(600)));
        assert!(is_scanner(
            "GET",
            Some("Mozilla/5.0 (compatible; Mimecast)"),
            sent,
            at(600)
        ));
        assert!(is_scanner(
            "GET",
            Some("python-requests/2.31"),
            sent,
            at(600)
        ));
    }
}
