//! # storeflow-aws
//!
//! storeflow on AWS: the adapters that put the application services of
//! `storeflow-app` on DynamoDB, SQS, EventBridge Scheduler and SES, and the
//! handlers the Lambda functions in `functions/` call. A handler takes its
//! dependencies as arguments and sees no Lambda type; each function's
//! `main.rs` only builds clients from the environment and calls it.
//!
//! - [`table`] — the single table, its attribute helpers and a meter of the
//!   capacity units consumed; [`keys`] — every key format in one place;
//!   [`codec`] — deflated JSON for states and messages.
//! - [`customers`] — the `Customers` and `Shops` ports on the table:
//!   conditional writes on a version, transactions for identity claims,
//!   and merges; a commit hands its messages to the send queue.
//! - [`deliveries`] — ingestion's `DeliveryStore` on the table.
//! - [`timers`] — wake-ups as delayed SQS messages or one-time schedules;
//!   [`campaigns`] — the campaign calendar: each start claimed once, its
//!   segment enrolled by pages of a parallel scan; [`reconcile`] — the
//!   daily re-arming of lost wake-ups, by the same kind of scan; [`pages`]
//!   — the pages of both scans, as timer messages carry them.
//! - [`queues`] — the events and send queues; [`sending`] — every channel
//!   behind one send ledger: [`ses_email`] (SES v2), [`sms`] (End User
//!   Messaging SMS), [`whatsapp`] (End User Messaging Social) and signed
//!   webhook POSTs (`storeflow_channels::webhook`); [`outgoing`] — what the
//!   channel adapters share (attribution tags, refusals, text bodies).
//! - [`privacy`] — data requests and erasures on the table.
//! - [`env`] — a function's configuration and secrets from its environment.
//! - [`handlers`] — one per Lambda function: ingest, evaluate, scheduler,
//!   send; [`wiring`] builds their dependencies from the environment and
//!   [`lambda`] adapts Lambda's SQS batches to them.
//!
//! Nothing here names an endpoint: the SDK reads `AWS_ENDPOINT_URL` (and
//! `AWS_ENDPOINT_URL_DYNAMODB`) when they are set, as the tests do.

pub mod campaigns;
pub mod codec;
pub mod customers;
pub mod deliveries;
pub mod env;
pub mod handlers;
pub mod keys;
pub mod lambda;
pub mod models;
pub mod outgoing;
pub mod pages;
pub mod privacy;
pub mod queues;
pub mod reconcile;
pub mod rollups;
pub mod sending;
pub mod ses_email;
pub mod sms;
pub mod table;
pub mod timers;
pub mod whatsapp;
pub mod wiring;

pub use table::Table;
