//! Store settings (`store.yaml`): who the store is, where its customers
//! live by default, and the thresholds that give metrics a meaning
//! (lifecycle stages, RFM scores, loyalty tiers, product intervals).

use crate::model::duration::Dur;
use crate::policy::config::PolicyConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub store: StoreInfo,
    #[serde(default)]
    pub lifecycle: LifecycleSettings,
    #[serde(default)]
    pub rfm: RfmSettings,
    #[serde(default)]
    pub loyalty: LoyaltySettings,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Products with a replenishment interval: a customer who orders one is
    /// reminded after the interval (the `replenishment_due` event).
    #[serde(default)]
    pub products: BTreeMap<String, ProductSettings>,
    #[serde(default)]
    pub back_in_stock: BackInStockSettings,
    /// Intent levels, lowest first: a run of a flow at a higher level ends
    /// the live runs of lower levels for the same customer.
    #[serde(default = "default_ladder")]
    pub intent_ladder: Vec<String>,
    /// Profile attributes that templates and conditions may read beside the
    /// standard ones; `check` refuses a reference to any other.
    #[serde(default)]
    pub profile_attributes: Vec<String>,
    /// Where store platforms and storefronts send data (see [`IngestSettings`]).
    #[serde(default)]
    pub ingest: IngestSettings,
    /// Which touches of a message earn an order's credit, and for how long.
    #[serde(default)]
    pub attribution: crate::results::attribution::AttributionSettings,
    /// Click and open tracking of customer messages.
    #[serde(default)]
    pub tracking: TrackingSettings,
    /// What the store's prediction model forecasts, once refitted.
    #[serde(default)]
    pub predictions: PredictionSettings,
}

/// `store.yaml` `predictions`: the horizon of `expected_orders` and
/// `predicted_clv`, the yearly discount rate of the value, and the fewest
/// customers with orders for which BG/NBD serves (below it, the intervals
/// model does; see `crate::predict::forecast`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionSettings {
    #[serde(default = "default_horizon")]
    pub horizon: Dur,
    #[serde(default = "default_discount_rate")]
    pub discount_rate: f64,
    #[serde(default = "default_min_customers")]
    pub min_customers: usize,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        PredictionSettings {
            horizon: default_horizon(),
            discount_rate: default_discount_rate(),
            min_customers: default_min_customers(),
        }
    }
}

fn default_horizon() -> Dur {
    Dur::days(365)
}

fn default_discount_rate() -> f64 {
    0.1
}

fn default_min_customers() -> usize {
    crate::predict::forecast::DEFAULT_MIN_CUSTOMERS
}

/// `store.yaml` `tracking`: links in email, SMS and WhatsApp become signed
/// redirects (clicks, on by default); emails may carry an open pixel
/// (opens, off by default: privacy proxies load every pixel). A template
/// can turn both off for itself (`tracking: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSettings {
    #[serde(default = "yes")]
    pub clicks: bool,
    #[serde(default)]
    pub opens: bool,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        TrackingSettings {
            clicks: true,
            opens: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_ladder() -> Vec<String> {
    vec!["browse".into(), "cart".into(), "checkout".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreInfo {
    pub name: String,
    pub url: String,
    /// IANA zone used when a customer's own zone is unknown.
    pub timezone: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    pub support_email: Option<String>,
    #[serde(default)]
    pub from_email: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// Public base URL of this storeflow deployment (unsubscribe links).
    #[serde(default = "default_links_base")]
    pub links_base_url: String,
    /// Where merchant alerts go.
    #[serde(default)]
    pub alert_email: Option<String>,
    /// `timezone` looked up once (most customers fall back to it on every
    /// event, and a lookup by name costs more than the event's other zone work).
    #[serde(skip)]
    zone: std::sync::OnceLock<Option<jiff::tz::TimeZone>>,
}

impl StoreInfo {
    /// The store's zone, when `timezone` names one.
    pub fn zone(&self) -> Option<&jiff::tz::TimeZone> {
        self.zone
            .get_or_init(|| jiff::tz::TimeZone::get(&self.timezone).ok())
            .as_ref()
    }
}

fn default_currency() -> String {
    "USD".into()
}
fn default_locale() -> String {
    "en".into()
}
fn default_links_base() -> String {
    "http://localhost:8080".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSettings {
    /// Lifetime spend (store currency) from which a buyer is a VIP.
    #[serde(default = "d_vip")]
    pub vip_spent: f64,
    /// Days without an order after which a buyer is at risk.
    #[serde(default = "d_at_risk")]
    pub at_risk_days: i64,
    /// Days without an order after which a buyer is dormant.
    #[serde(default = "d_dormant")]
    pub dormant_days: i64,
}
fn d_vip() -> f64 {
    500.0
}
fn d_at_risk() -> i64 {
    90
}
fn d_dormant() -> i64 {
    180
}
impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            vip_spent: d_vip(),
            at_risk_days: d_at_risk(),
            dormant_days: d_dormant(),
        }
    }
}

/// Fixed RFM boundaries (scores 5 best … 1): a per-profile score that needs
/// no scan of all customers, unlike population quintiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmSettings {
    /// Days since last order under which recency scores 5, 4, 3, 2 (else 1).
    #[serde(default = "d_rec")]
    pub recency_days: Vec<i64>,
    /// Order counts at or above which frequency scores 2, 3, 4, 5.
    #[serde(default = "d_freq")]
    pub frequency_orders: Vec<f64>,
    /// Lifetime spend at or above which monetary scores 2, 3, 4, 5.
    #[serde(default = "d_mon")]
    pub monetary_spent: Vec<f64>,
}
fn d_rec() -> Vec<i64> {
    vec![30, 90, 180, 365]
}
fn d_freq() -> Vec<f64> {
    vec![2.0, 3.0, 5.0, 10.0]
}
fn d_mon() -> Vec<f64> {
    vec![100.0, 250.0, 500.0, 1000.0]
}
impl Default for RfmSettings {
    fn default() -> Self {
        RfmSettings {
            recency_days: d_rec(),
            frequency_orders: d_freq(),
            monetary_spent: d_mon(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltySettings {
    /// Points earned per unit of store currency spent on an order.
    #[serde(default)]
    pub points_per_unit: f64,
    /// Tiers, any order; a customer holds the highest one reached.
    #[serde(default)]
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    #[serde(default)]
    pub min_spent: Option<f64>,
    #[serde(default)]
    pub min_points: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSettings {
    #[serde(default)]
    pub replenish_after: Option<Dur>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackInStockSettings {
    /// How many waiting customers are told per batch.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Time between batches; stock is checked again before each one.
    #[serde(default = "d_interval")]
    pub batch_interval: Dur,
}
fn d_batch() -> usize {
    50
}
fn d_interval() -> Dur {
    Dur {
        days: 0,
        seconds: 600,
    }
}
impl Default for BackInStockSettings {
    fn default() -> Self {
        BackInStockSettings {
            batch_size: d_batch(),
            batch_interval: d_interval(),
        }
    }
}

/// How platform webhooks and storefront tracking reach this store. Secrets
/// and write keys may also come from the environment (the command reads
/// `STOREFLOW_SHOPIFY_SECRETS`, `STOREFLOW_SHOPLINE_SECRETS`,
/// `STOREFLOW_WRITE_KEYS`), which then replaces what is written here.
/// `Debug` is written by hand below: it counts the secrets and keys, never
/// shows them.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// The shop id tracking events belong to (the Shopify `myshopify.com`
    /// domain, so storefront and webhook events land on the same profiles).
    /// Defaults to the host of `store.url`.
    #[serde(default)]
    pub shop: Option<String>,
    /// Shopify webhook signing secrets, newest first (several during a rotation).
    #[serde(default)]
    pub shopify_secrets: Vec<String>,
    /// SHOPLINE app secrets, newest first.
    #[serde(default)]
    pub shopline_secrets: Vec<String>,
    /// Write keys accepted by the tracking API (`/v1/*`).
    #[serde(default)]
    pub write_keys: Vec<String>,
    /// Largest request body accepted, in bytes (default 2 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

impl std::fmt::Debug for IngestSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |v: &Vec<String>| format!("<{} redacted>", v.len());
        f.debug_struct("IngestSettings")
            .field("shop", &self.shop)
            .field("shopify_secrets", &count(&self.shopify_secrets))
            .field("shopline_secrets", &count(&self.shopline_secrets))
            .field("write_keys", &count(&self.write_keys))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}
