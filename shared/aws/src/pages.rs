//! The pages of the two table scans the scheduler function runs a step at
//! a time (a campaign's enrolment, a reconciliation): each page is a timer
//! message on the timers queue, so `timers` names them and the scans
//! (`campaigns`, `reconcile`) make and read them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One page of a campaign's enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignPage {
    pub flow: String,
    pub segment: String,
    pub start: Timestamp,
    pub part: u32,
    pub parts: u32,
    /// Where the previous page of this part stopped (the scan's
    /// `LastEvaluatedKey`, `pk` and `sk`); none for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<BTreeMap<String, String>>,
}

/// One page of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcilePage {
    /// Wake-ups at or before this instant and still stored are lost; the
    /// same for every page of one run.
    pub cutoff: Timestamp,
    pub part: u32,
    pub parts: u32,
    /// Where the previous page of this part stopped; none for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<BTreeMap<String, String>>,
}
