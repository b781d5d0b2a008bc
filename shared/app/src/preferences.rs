//! The pages behind the signed links every message carries, the same in
//! every runtime: one-click unsubscribe (`/u/{token}`, RFC 8058) and the
//! preference centre (`/preferences/{token}`).
//!
//! The token is the credential: it names the profile and channel and is
//! signed over the profile's shop, so the pages need no login and cannot be
//! opened for somebody else. Every change is a `consent_changed` event with
//! the source `preference centre`, applied through the engine like any
//! other event (a runtime decides how: at once, or queued). The pages are
//! plain HTML forms with no script, in the customer's language (exact, then
//! language, then the store's, then English, as templates fall back), and
//! print nothing unescaped.

use crate::ports::StoreError;
use jiff::Timestamp;
use std::future::Future;
use storeflow_core::model::channel::{Address, Channel, Unsubscribe};
use storeflow_core::model::event::ConsentStatus;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::{Config, CustomerState, Event};

/// What the pages need from a runtime.
pub trait LinkPorts: Send + Sync {
    /// The shop a profile belongs to (its tokens are signed over it).
    fn shop_of(
        &self,
        profile: &ProfileId,
    ) -> impl Future<Output = Result<Option<ShopId>, StoreError>> + Send;

    /// The customer's state as stored.
    fn customer(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
    ) -> impl Future<Output = Result<Option<CustomerState>, StoreError>> + Send;

    /// Applies consent events through the engine.
    fn apply(
        &self,
        events: Vec<Event>,
        now: Timestamp,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// A redirect's target (the `Location` header).
    pub location: Option<String>,
    /// A binary body, sent instead of `body` (the open pixel).
    pub bytes: Option<&'static [u8]>,
}

impl Reply {
    pub(crate) fn html(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body,
            location: None,
            bytes: None,
        }
    }

    pub(crate) fn text(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
            location: None,
            bytes: None,
        }
    }
}

/// The source recorded on every consent change made here.
pub const SOURCE: &str = "preference centre";

/// Whether `path` is one of these pages (a runtime routes it here).
pub fn serves(path: &str) -> bool {
    path.starts_with("/u/") || path.starts_with("/preferences/")
}

/// Answers `method path` with `body` (a form, or RFC 8058's
/// `List-Unsubscribe=One-Click`); `None` when the path is not one of these
/// pages.
pub async fn handle<P: LinkPorts>(
    ports: &P,
    cfg: &Config,
    method: &str,
    path: &str,
    body: &[u8],
    now: Timestamp,
) -> Option<Reply> {
    let path = path.trim_end_matches('/');
    let (page, token) = if let Some(t) = path.strip_prefix("/u/") {
        (Page::Unsubscribe, t)
    } else if let Some(t) = path.strip_prefix("/preferences/") {
        (Page::Preferences, t)
    } else {
        return None;
    };
    Some(answer(ports, cfg, page, method, token, body, now).await)
}

#[derive(Clone, Copy)]
enum Page {
    Unsubscribe,
    Preferences,
}

async fn answer<P: LinkPorts>(
    ports: &P,
    cfg: &Config,
    page: Page,
    method: &str,
    token: &str,
    body: &[u8],
    now: Timestamp,
) -> Reply {
    let words = Words::for_locale(&cfg.settings.store.locale);
    let found = match verify(ports, cfg, token).await {
        Ok(f) => f,
        Err(e) => return unavailable(words, &e.to_string()),
    };
    let Some((shop, pid, channel)) = found else {
        return Reply::html(404, frame(words, &cfg.settings.store.name, words.invalid));
    };
    let state = match ports.customer(&shop, &pid).await {
        Ok(s) => s,
        Err(e) => return unavailable(words, &e.to_string()),
    };
    let words = match &state {
        Some(s) => Words::for_locale(s.profile.locale(&cfg.settings)),
        None => words,
    };
    let store = &cfg.settings.store.name;
    let Some(state) = state else {
        // Erased, or never stored: nothing is sent to it any more.
        return Reply::html(200, frame(words, store, words.unsubscribed));
    };
    let channels: Vec<Channel> = match channel.as_str() {
        "all" => Channel::customer_channels().collect(),
        one => Channel::customer_channels()
            .filter(|c| c.as_str() == one)
            .collect(),
    };
    if channels.is_empty() {
        // Signed, but not for these pages (a tracking token).
        return Reply::html(404, frame(words, store, words.invalid));
    }
    match (page, method) {
        (Page::Unsubscribe, "GET" | "HEAD") => {
            let more = format!(
                "<form method=post><p>{}</p><button>{}</button></form>\
                 <p><a href=\"../preferences/{}\">{}</a></p>",
                esc(words.confirm),
                esc(words.unsubscribe),
                esc(&preferences_token(cfg, &shop, &pid)),
                esc(words.manage)
            );
            Reply::html(200, frame(words, store, &more))
        }
        (Page::Unsubscribe, "POST") => {
            // RFC 8058 one-click and the page's button alike: one POST.
            let changes: Vec<_> = channels
                .iter()
                .map(|c| (*c, ConsentStatus::Unsubscribed))
                .collect();
            match ports.apply(events(&state, &shop, &changes, now), now).await {
                Ok(()) => Reply::html(200, frame(words, store, &esc(words.unsubscribed))),
                Err(e) => unavailable(words, &format!("{e:#}")),
            }
        }
        (Page::Preferences, "GET" | "HEAD") => {
            Reply::html(200, preferences(words, store, &state, &[], None))
        }
        (Page::Preferences, "POST") => {
            let form = form_fields(body);
            let changes = wanted_changes(&state, &form);
            if let Err(e) = ports.apply(events(&state, &shop, &changes, now), now).await {
                return unavailable(words, &format!("{e:#}"));
            }
            Reply::html(
                200,
                preferences(words, store, &state, &changes, Some(words.saved)),
            )
        }
        _ => Reply::text(405, "Use GET or POST.".into()),
    }
}

fn unavailable(words: &Words, why: &str) -> Reply {
    Reply::text(503, format!("{} ({why})", words.later))
}

/// The shop, profile and channel a token names, if its signature holds
/// over the profile's own shop.
async fn verify<P: LinkPorts>(
    ports: &P,
    cfg: &Config,
    token: &str,
) -> Result<Option<(ShopId, ProfileId, String)>, StoreError> {
    let Some(named) = token.rsplitn(3, '.').nth(2) else {
        return Ok(None);
    };
    let Ok(pid) = ProfileId::parse(named) else {
        return Ok(None);
    };
    let Some(shop) = ports.shop_of(&pid).await? else {
        return Ok(None);
    };
    Ok(cfg
        .links
        .verify(shop.as_str(), token)
        .map(|(_, channel)| (shop, pid, channel)))
}

fn preferences_token(cfg: &Config, shop: &ShopId, pid: &ProfileId) -> String {
    cfg.links.token(shop.as_str(), pid.as_str(), "all")
}

/// The changes a submitted form asks for. "Everything off" unsubscribes
/// every channel. Otherwise each channel the page showed a box for is set
/// as its box says; a box turned on only resubscribes email (SMS and
/// WhatsApp need the customer's own opt-in by message, which a web page
/// cannot give).
fn wanted_changes(
    state: &CustomerState,
    form: &[(String, String)],
) -> Vec<(Channel, ConsentStatus)> {
    let has = |k: &str| form.iter().any(|(n, _)| n == k);
    if form.iter().any(|(n, v)| n == "everything" && v == "off") {
        return Channel::customer_channels()
            .filter(|c| state.profile.consent(*c) != Some(ConsentStatus::Unsubscribed))
            .map(|c| (c, ConsentStatus::Unsubscribed))
            .collect();
    }
    let mut out = Vec::new();
    for c in Channel::customer_channels() {
        if !has(&format!("shown_{}", c.as_str())) {
            continue;
        }
        let on = has(c.as_str());
        let now_on = state.profile.subscribed(c);
        if on && !now_on && c == Channel::Email && state.profile.email().is_some() {
            out.push((c, ConsentStatus::Subscribed));
        } else if !on && now_on {
            out.push((c, ConsentStatus::Unsubscribed));
        }
    }
    out
}

/// One `consent_changed` event per change.
fn events(
    state: &CustomerState,
    shop: &ShopId,
    changes: &[(Channel, ConsentStatus)],
    now: Timestamp,
) -> Vec<Event> {
    let p = &state.profile;
    changes
        .iter()
        .filter_map(|(ch, status)| {
            let status = match status {
                ConsentStatus::Subscribed => "subscribed",
                ConsentStatus::Unsubscribed => "unsubscribed",
            };
            serde_json::from_value(serde_json::json!({
                "id": format!("preferences:{}:{}:{status}:{}", p.id, ch.as_str(), now.as_microsecond()),
                "shop": shop,
                "type": "consent_changed",
                "occurred_at": now,
                "customer": {
                    "email": p.email().map(|e| e.to_string()),
                    "phone": p.phone().map(|p| p.to_string()),
                    "id": p.customer_id,
                },
                "properties": {"channel": ch.as_str(), "status": status, "source": SOURCE},
            }))
            .ok()
        })
        .collect()
}

/// The preference centre: each channel, its address and its state (as
/// just changed, when `changes` says so), with a box where the customer
/// may change it.
fn preferences(
    words: &Words,
    store: &str,
    state: &CustomerState,
    changes: &[(Channel, ConsentStatus)],
    notice: Option<&str>,
) -> String {
    let p = &state.profile;
    let mut rows = String::new();
    for c in Channel::customer_channels() {
        let address = match c.spec().address {
            Address::Phone => p.address(c).map(|n| mask_phone(&n)),
            _ => p.address(c),
        };
        let status = changes
            .iter()
            .rev()
            .find(|(ch, _)| *ch == c)
            .map(|(_, s)| Some(*s))
            .unwrap_or_else(|| p.consent(c));
        let on = status == Some(ConsentStatus::Subscribed);
        let suppressed = p.suppressed.contains_key(&c);
        let label = match c {
            Channel::Email => words.email,
            Channel::Sms => words.sms,
            _ => words.whatsapp,
        };
        let state_text = if suppressed {
            words.blocked
        } else if on {
            words.on
        } else {
            words.off
        };
        let control = match &address {
            None => format!("<td>{}</td>", esc(words.no_address)),
            Some(_) if suppressed => "<td></td>".to_string(),
            // A link unsubscribes and the page subscribes again; a
            // channel left by reply (STOP) is joined again by reply.
            Some(_) if on || c.spec().unsubscribe == Unsubscribe::Link => format!(
                "<td><input type=hidden name=shown_{c} value=1>\
                 <label><input type=checkbox name={c} value=on{checked}> {}</label></td>",
                esc(words.receive),
                c = c.as_str(),
                checked = if on { " checked" } else { "" },
            ),
            Some(_) => format!("<td>{}</td>", esc(words.reply_start)),
        };
        rows.push_str(&format!(
            "<tr><th scope=row>{}</th><td>{}</td><td>{}</td>{control}</tr>",
            esc(label),
            esc(address.as_deref().unwrap_or("—")),
            esc(state_text),
        ));
    }
    let notice = notice
        .map(|n| format!("<p role=status><strong>{}</strong></p>", esc(n)))
        .unwrap_or_default();
    let body = format!(
        "{notice}<h2>{}</h2><form method=post><table>{rows}</table>\
         <p><button>{}</button></p></form>\
         <form method=post><input type=hidden name=everything value=off>\
         <p><button>{}</button></p></form>",
        esc(words.title),
        esc(words.save),
        esc(words.everything_off),
    );
    frame(words, store, &body)
}

/// The page around a body (the store's name as its heading).
fn frame(words: &Words, store: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang={lang}><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title} — {store}</title><h1>{store}</h1>{body}</html>",
        lang = words.lang,
        title = esc(words.title),
        store = esc(store),
    )
}

/// `+12125550101` → `•••• 0101`: enough for the customer to know the
/// number, not enough for someone who has the link.
fn mask_phone(n: &str) -> String {
    let digits: Vec<char> = n.chars().filter(|c| c.is_ascii_digit()).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("•••• {tail}")
}

/// HTML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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

/// `application/x-www-form-urlencoded` fields, decoded.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                // Bytes, not a slice of the text: what follows a `%` may be
                // any character.
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pages' words in one language.
struct Words {
    lang: &'static str,
    title: &'static str,
    invalid: &'static str,
    confirm: &'static str,
    unsubscribe: &'static str,
    unsubscribed: &'static str,
    manage: &'static str,
    email: &'static str,
    sms: &'static str,
    whatsapp: &'static str,
    on: &'static str,
    off: &'static str,
    blocked: &'static str,
    receive: &'static str,
    no_address: &'static str,
    reply_start: &'static str,
    save: &'static str,
    saved: &'static str,
    everything_off: &'static str,
    later: &'static str,
}

const WORDS: &[Words] = &[
    Words {
        lang: "en",
        title: "Your message preferences",
        invalid: "This link is not valid.",
        confirm: "Stop these messages?",
        unsubscribe: "Unsubscribe",
        unsubscribed: "You are unsubscribed.",
        manage: "Choose which messages you get",
        email: "Email",
        sms: "SMS",
        whatsapp: "WhatsApp",
        on: "subscribed",
        off: "not subscribed",
        blocked: "cannot be delivered",
        receive: "Receive marketing messages",
        no_address: "no address on file",
        reply_start: "reply START to one of our messages to subscribe again",
        save: "Save",
        saved: "Your preferences are saved.",
        everything_off: "Unsubscribe from everything",
        later: "Please try again later.",
    },
    Words {
        lang: "de",
        title: "Ihre Nachrichteneinstellungen",
        invalid: "Dieser Link ist nicht gültig.",
        confirm: "Diese Nachrichten abbestellen?",
        unsubscribe: "Abbestellen",
        unsubscribed: "Sie sind abgemeldet.",
        manage: "Wählen Sie, welche Nachrichten Sie erhalten",
        email: "E-Mail",
        sms: "SMS",
        whatsapp: "WhatsApp",
        on: "angemeldet",
        off: "nicht angemeldet",
        blocked: "nicht zustellbar",
        receive: "Werbenachrichten erhalten",
        no_address: "keine Adresse hinterlegt",
        reply_start: "antworten Sie START auf eine unserer Nachrichten, um sich wieder anzumelden",
        save: "Speichern",
        saved: "Ihre Einstellungen sind gespeichert.",
        everything_off: "Von allem abmelden",
        later: "Bitte versuchen Sie es später noch einmal.",
    },
    Words {
        lang: "fr",
        title: "Vos préférences de messages",
        invalid: "Ce lien n’est pas valide.",
        confirm: "Ne plus recevoir ces messages ?",
        unsubscribe: "Se désabonner",
        unsubscribed: "Vous êtes désabonné(e).",
        manage: "Choisir les messages que vous recevez",
        email: "E-mail",
        sms: "SMS",
        whatsapp: "WhatsApp",
        on: "abonné(e)",
        off: "non abonné(e)",
        blocked: "ne peut pas être remis",
        receive: "Recevoir les messages marketing",
        no_address: "aucune adresse enregistrée",
        reply_start: "répondez START à l’un de nos messages pour vous réabonner",
        save: "Enregistrer",
        saved: "Vos préférences sont enregistrées.",
        everything_off: "Se désabonner de tout",
        later: "Veuillez réessayer plus tard.",
    },
    Words {
        lang: "es",
        title: "Tus preferencias de mensajes",
        invalid: "Este enlace no es válido.",
        confirm: "¿Dejar de recibir estos mensajes?",
        unsubscribe: "Darse de baja",
        unsubscribed: "Te has dado de baja.",
        manage: "Elige qué mensajes recibes",
        email: "Correo electrónico",
        sms: "SMS",
        whatsapp: "WhatsApp",
        on: "suscrito",
        off: "no suscrito",
        blocked: "no se puede entregar",
        receive: "Recibir mensajes de marketing",
        no_address: "sin dirección registrada",
        reply_start: "responde START a uno de nuestros mensajes para suscribirte de nuevo",
        save: "Guardar",
        saved: "Tus preferencias se han guardado.",
        everything_off: "Darse de baja de todo",
        later: "Inténtalo de nuevo más tarde.",
    },
    Words {
        lang: "pt",
        title: "As suas preferências de mensagens",
        invalid: "Este link não é válido.",
        confirm: "Deixar de receber estas mensagens?",
        unsubscribe: "Cancelar subscrição",
        unsubscribed: "A sua subscrição foi cancelada.",
        manage: "Escolha as mensagens que recebe",
        email: "E-mail",
        sms: "SMS",
        whatsapp: "WhatsApp",
        on: "subscrito",
        off: "não subscrito",
        blocked: "não pode ser entregue",
        receive: "Receber mensagens de marketing",
        no_address: "sem endereço registado",
        reply_start: "responda START a uma das nossas mensagens para voltar a subscrever",
        save: "Guardar",
        saved: "As suas preferências foram guardadas.",
        everything_off: "Cancelar tudo",
        later: "Tente novamente mais tarde.",
    },
];

impl Words {
    /// Exact, then language, then English (the store's locale is what a
    /// customer without one of their own has).
    fn for_locale(locale: &str) -> &'static Words {
        let lang = locale.split(['-', '_']).next().unwrap_or(locale);
        WORDS
            .iter()
            .find(|w| w.lang.eq_ignore_ascii_case(locale))
            .or_else(|| WORDS.iter().find(|w| w.lang.eq_ignore_ascii_case(lang)))
            .unwrap_or(&WORDS[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_as_browsers_encode_them() {
        assert_eq!(
            form_fields("email=on&shown_email=1&x=a+b%26c&bad=%zz&cut=%4&u=%é1".as_bytes()),
            vec![
                ("email".into(), "on".into()),
                ("shown_email".into(), "1".into()),
                ("x".into(), "a b&c".into()),
                ("bad".into(), "%zz".into()),
                ("cut".into(), "%4".into()),
                ("u".into(), "%é1".into()),
            ]
        );
    }

    #[test]
    fn text_is_escaped_for_html_and_attributes() {
        assert_eq!(
            esc(r#"<b>"Tom's" & co</b>"#),
            "&lt;b&gt;&quot;Tom&#39;s&quot; &amp; co&lt;/b&gt;"
        );
    }

    #[test]
    fn words_fall_back_from_region_to_language_to_english() {
        assert_eq!(Words::for_locale("de-AT").lang, "de");
        assert_eq!(Words::for_locale("pt_BR").lang, "pt");
        assert_eq!(Words::for_locale("ja").lang, "en");
    }

    #[test]
    fn a_phone_shows_its_last_four_digits_only() {
        assert_eq!(mask_phone("+12125550101"), "•••• 0101");
        assert_eq!(mask_phone("12"), "•••• 12");
    }
}
