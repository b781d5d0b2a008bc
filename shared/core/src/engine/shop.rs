//! Store-level state: stock levels and back-in-stock waitlists.
//!
//! When a variant someone waits for goes from zero to positive stock, the
//! waiting customers are told in batches; stock is checked again before
//! each batch, so a restock of three units does not bring a thousand
//! customers to an empty shelf.

use crate::engine::Engine;
use crate::model::event::{Event, EventKind, VariantProps};
use crate::model::ids::{EventId, ProfileId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopState {
    pub inventory: BTreeMap<String, i64>,
    pub waitlists: BTreeMap<String, Waitlist>,
    #[serde(default)]
    pub wake: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Waitlist {
    pub variant: VariantProps,
    pub waiting: Vec<(ProfileId, Timestamp)>,
    /// Set while a restock is being announced: when the next batch goes.
    #[serde(default)]
    pub next_batch: Option<Timestamp>,
    /// The restock being announced (part of the notification ids).
    #[serde(default)]
    pub restocked_at: Option<Timestamp>,
}

pub enum ShopInput<'a> {
    /// An event; `profile` is the customer it belongs to, when it has one.
    Event(&'a Event, Option<&'a ProfileId>),
    Wake,
}

#[derive(Debug, Default)]
pub struct ShopOutcome {
    /// Engine-made events for individual customers (`back_in_stock`).
    pub notify: Vec<(ProfileId, Event)>,
    pub wake: Option<Timestamp>,
}

impl Engine {
    pub fn handle_shop(
        &self,
        shop: &mut ShopState,
        input: ShopInput,
        now: Timestamp,
    ) -> ShopOutcome {
        let mut out = ShopOutcome::default();
        if let ShopInput::Event(e, profile) = input {
            match &e.kind {
                EventKind::InventoryChanged(inv) => {
                    let before = shop.inventory.insert(inv.variant_id.clone(), inv.available);
                    if let Some(w) = shop.waitlists.get_mut(&inv.variant_id) {
                        // Unknown earlier stock counts as zero: people wait
                        // for variants that were sold out.
                        let was_out = before.unwrap_or(0) <= 0;
                        if was_out
                            && inv.available > 0
                            && !w.waiting.is_empty()
                            && w.next_batch.is_none()
                        {
                            w.next_batch = Some(now);
                            w.restocked_at = Some(e.occurred_at);
                            if inv.title.is_some() {
                                w.variant.title = inv.title.clone();
                            }
                            if inv.url.is_some() {
                                w.variant.url = inv.url.clone();
                            }
                            if inv.image_url.is_some() {
                                w.variant.image_url = inv.image_url.clone();
                            }
                            if inv.product_id.is_some() {
                                w.variant.product_id = inv.product_id.clone();
                            }
                        }
                    }
                }
                EventKind::BackInStockRequested(v) => {
                    if let Some(p) = profile {
                        let w = shop
                            .waitlists
                            .entry(v.variant_id.clone())
                            .or_insert_with(|| Waitlist {
                                variant: v.clone(),
                                ..Default::default()
                            });
                        if !w.waiting.iter().any(|(q, _)| q == p) {
                            w.waiting.push((p.clone(), e.occurred_at));
                        }
                    }
                }
                _ => {}
            }
        }
        let settings = &self.config.settings.back_in_stock;
        for (variant, w) in shop.waitlists.iter_mut() {
            let Some(due) = w.next_batch else { continue };
            if due > now {
                continue;
            }
            let stock = shop.inventory.get(variant).copied().unwrap_or(0);
            if stock <= 0 {
                // Sold out again: the rest keep waiting for the next restock.
                w.next_batch = None;
                w.restocked_at = None;
                continue;
            }
            let n = settings.batch_size.min(w.waiting.len());
            let restock = w.restocked_at.unwrap_or(now);
            for (p, _) in w.waiting.drain(..n) {
                let id = format!("back_in_stock:{variant}:{restock}:{p}");
                let e = Event {
                    id: EventId::parse(id).expect("non-empty"),
                    shop: crate::model::ids::ShopId::parse("shop").expect("non-empty"),
                    occurred_at: now,
                    customer: Default::default(),
                    kind: EventKind::BackInStock(w.variant.clone()),
                };
                out.notify.push((p, e));
            }
            if w.waiting.is_empty() {
                w.next_batch = None;
                w.restocked_at = None;
            } else {
                w.next_batch = Some(now + settings.batch_interval.exact());
            }
        }
        shop.waitlists.retain(|_, w| !w.waiting.is_empty());
        shop.wake = shop.waitlists.values().filter_map(|w| w.next_batch).min();
        out.wake = shop.wake;
        out
    }
}
