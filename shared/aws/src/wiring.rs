//! Building each function's dependencies from its environment and the SDK
//! configuration: what the functions' `main.rs` call at init, once per
//! cold start.

use crate::env::Env;
use crate::handlers::evaluate::Pipeline;
use crate::queues::{EventsQueue, SendQueue};
use crate::sending::SesEmail;
use crate::table::Table;
use crate::timers::Timers;
use anyhow::Result;
use aws_config::SdkConfig;
use storeflow_app::App;
use storeflow_core::Engine;
use storeflow_ingest::{IngestConfig, Router};

pub fn table(env: &Env, aws: &SdkConfig) -> Result<Table> {
    Ok(Table::new(
        aws_sdk_dynamodb::Client::new(aws),
        env.require("STOREFLOW_TABLE")?,
    ))
}

/// The ingest function's router and queue.
pub async fn ingest(env: &Env, aws: &SdkConfig) -> Result<(Router, Table, EventsQueue)> {
    let ssm = aws_sdk_ssm::Client::new(aws);
    let secrets = env.ingest_secrets(&ssm).await?;
    // Ingest makes no links: any key validates the configuration.
    let config = env.store_config(b"ingest".to_vec())?;
    let router = Router::new(IngestConfig::from_settings(&config.settings, &secrets));
    let events = EventsQueue {
        sqs: aws_sdk_sqs::Client::new(aws),
        url: env.require("STOREFLOW_EVENTS_QUEUE_URL")?,
    };
    Ok((router, table(env, aws)?, events))
}

/// Evaluate's and the scheduler's pipeline.
pub async fn pipeline(env: &Env, aws: &SdkConfig) -> Result<Pipeline> {
    let ssm = aws_sdk_ssm::Client::new(aws);
    let config = env.store_config(env.link_secret(&ssm).await?)?;
    let sqs = aws_sdk_sqs::Client::new(aws);
    let sends = SendQueue {
        sqs: sqs.clone(),
        url: env.require("STOREFLOW_SEND_QUEUE_URL")?,
        delay_seconds: crate::queues::HANDOFF_DELAY_SECONDS,
    };
    Ok(Pipeline {
        app: App::new(Engine::new(config), table(env, aws)?.handing_over_to(sends)),
        timers: Timers {
            sqs,
            scheduler: aws_sdk_scheduler::Client::new(aws),
            queue_url: env.require("STOREFLOW_TIMERS_QUEUE_URL")?,
            queue_arn: env.require("STOREFLOW_TIMERS_QUEUE_ARN")?,
            dead_letter_arn: env.require("STOREFLOW_TIMERS_DLQ_ARN")?,
            group: env.require("STOREFLOW_SCHEDULE_GROUP")?,
            role_arn: env.require("STOREFLOW_SCHEDULER_ROLE_ARN")?,
            max_delay_seconds: crate::timers::MAX_DELAY_SECONDS,
        },
    })
}

/// The send function's SES channel.
pub fn email(env: &Env, aws: &SdkConfig) -> Result<SesEmail> {
    Ok(SesEmail {
        ses: aws_sdk_sesv2::Client::new(aws),
        table: table(env, aws)?,
        configuration_set: env.require("STOREFLOW_SES_CONFIGURATION_SET")?,
        from: env.require("STOREFLOW_FROM_ADDRESS")?,
    })
}

/// The feedback function's dependencies.
pub async fn feedback(env: &Env, aws: &SdkConfig) -> Result<crate::handlers::feedback::Feedback> {
    let ssm = aws_sdk_ssm::Client::new(aws);
    let config = env.store_config(env.link_secret(&ssm).await?)?;
    Ok(crate::handlers::feedback::Feedback {
        table: table(env, aws)?,
        events: EventsQueue {
            sqs: aws_sdk_sqs::Client::new(aws),
            url: env.require("STOREFLOW_EVENTS_QUEUE_URL")?,
        },
        store_name: config.settings.store.name.clone(),
        links: config.links,
    })
}
