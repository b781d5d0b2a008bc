//! `customers/create`, `customers/update` and the two marketing consent
//! topics.

use super::shapes::{consent_status, Address, Consent};
use super::Ctx;
use crate::fields::{first_time, parse, Id, Time};
use crate::normalized::{nonblank, stamp, Accepted, Normalized};
use crate::refusal::Refusal;
use jiff::Timestamp;
use serde::Deserialize;
use storeflow_core::model::event::{
    Channel, ConsentProps, ConsentStatus, CustomerProps, EventKind, Identity,
};

#[derive(Deserialize)]
struct Customer {
    id: Id,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    created_at: Option<Time>,
    updated_at: Option<Time>,
    /// Shopify: `"tag1, tag2"`.
    tags: Option<serde_json::Value>,
    locale: Option<String>,
    /// SHOPLINE's name for the locale.
    language: Option<String>,
    default_address: Option<Address>,
    email_marketing_consent: Option<Consent>,
    sms_marketing_consent: Option<Consent>,
    /// Older API versions and SHOPLINE: a plain flag.
    accepts_marketing: Option<bool>,
    accepts_marketing_updated_at: Option<Time>,
}

pub fn customer(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let c: Customer = parse(ctx.topic, body)?;
    let at = ctx.time(first_time(&[c.updated_at, c.created_at]));
    let who = Identity {
        id: Some(c.id.0.clone()),
        email: nonblank(c.email.as_deref()),
        phone: nonblank(c.phone.as_deref()),
        anonymous_id: None,
    };
    let addr = c.default_address.as_ref();
    let props = CustomerProps {
        first_name: nonblank(c.first_name.as_deref()),
        last_name: nonblank(c.last_name.as_deref()),
        locale: nonblank(c.locale.as_deref()).or_else(|| nonblank(c.language.as_deref())),
        timezone: None,
        country: addr.and_then(|a| nonblank(a.country_code.as_deref())),
        province: addr.and_then(|a| nonblank(a.province_code.as_deref())),
        birthday: None,
        tags: tags(c.tags.as_ref()),
        attributes: Default::default(),
    };
    let kind = if ctx.topic == "customers/create" {
        EventKind::CustomerCreated(props)
    } else {
        EventKind::CustomerUpdated(props)
    };
    let b = ctx.builder();
    let mut out = Normalized::default();
    out.accepted
        .push(b.make(&[ctx.topic, &c.id.0, &stamp(at)], at, who.clone(), kind));
    let email = match &c.email_marketing_consent {
        Some(k) => consent_status(k.state.as_deref()).map(|s| (s, k.consent_updated_at)),
        None => c.accepts_marketing.map(|a| {
            let s = if a {
                ConsentStatus::Subscribed
            } else {
                ConsentStatus::Unsubscribed
            };
            (s, c.accepts_marketing_updated_at)
        }),
    };
    if let Some((status, when)) = email {
        out.accepted.push(consent(
            ctx,
            &c.id.0,
            who.clone(),
            Channel::Email,
            status,
            when,
            at,
        ));
    }
    if let Some(k) = &c.sms_marketing_consent {
        if let Some(status) = consent_status(k.state.as_deref()) {
            out.accepted.push(consent(
                ctx,
                &c.id.0,
                who,
                Channel::Sms,
                status,
                k.consent_updated_at,
                at,
            ));
        }
    }
    Ok(out)
}

/// One consent event. Its id names the consent's own time, so the same
/// consent repeated in every later customer update is applied once.
fn consent(
    ctx: &Ctx,
    customer: &str,
    who: Identity,
    channel: Channel,
    status: ConsentStatus,
    when: Option<Time>,
    fallback: Timestamp,
) -> Accepted {
    let at = when.map(|t| t.0).unwrap_or(fallback);
    let status_name = match status {
        ConsentStatus::Subscribed => "subscribed",
        ConsentStatus::Unsubscribed => "unsubscribed",
    };
    ctx.builder().make(
        &[
            "consent",
            customer,
            channel.as_str(),
            status_name,
            &stamp(at),
        ],
        at,
        who,
        EventKind::ConsentChanged(ConsentProps {
            channel,
            status,
            source: Some(ctx.platform.prefix().to_string()),
        }),
    )
}

fn tags(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Deserialize)]
struct EmailConsent {
    customer_id: Id,
    email_address: Option<String>,
    email_marketing_consent: Consent,
}

/// `customers_email_marketing_consent/update`.
pub fn email_consent(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let c: EmailConsent = parse(ctx.topic, body)?;
    let who = Identity {
        id: Some(c.customer_id.0.clone()),
        email: nonblank(c.email_address.as_deref()),
        ..Default::default()
    };
    consent_only(
        ctx,
        &c.customer_id.0,
        who,
        Channel::Email,
        &c.email_marketing_consent,
    )
}

#[derive(Deserialize)]
struct SmsConsent {
    id: Id,
    phone: Option<String>,
    sms_marketing_consent: Consent,
}

/// `customers_marketing_consent/update` (SMS).
pub fn sms_consent(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let c: SmsConsent = parse(ctx.topic, body)?;
    let who = Identity {
        id: Some(c.id.0.clone()),
        phone: nonblank(c.phone.as_deref()),
        ..Default::default()
    };
    consent_only(ctx, &c.id.0, who, Channel::Sms, &c.sms_marketing_consent)
}

fn consent_only(
    ctx: &Ctx,
    customer: &str,
    who: Identity,
    channel: Channel,
    k: &Consent,
) -> Result<Normalized, Refusal> {
    let Some(status) = consent_status(k.state.as_deref()) else {
        return Ok(Normalized::ignored(format!(
            "{}: consent state {:?} changes nothing",
            ctx.topic,
            k.state.as_deref().unwrap_or("null")
        )));
    };
    let at = ctx.time(None);
    Ok(Normalized {
        accepted: vec![consent(
            ctx,
            customer,
            who,
            channel,
            status,
            k.consent_updated_at,
            at,
        )],
        ..Default::default()
    })
}
