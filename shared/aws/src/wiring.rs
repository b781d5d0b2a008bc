//! Building each function's dependencies from its environment and the SDK
//! configuration: what the functions' `main.rs` call at init, once per
//! cold start.

use crate::env::Env;
use crate::handlers::evaluate::Pipeline;
use crate::queues::{EventsQueue, SendQueue};
use crate::sending::Senders;
use crate::ses_email::SesEmail;
use crate::sms::Sms;
use crate::table::Table;
use crate::timers::Timers;
use crate::whatsapp::WhatsApp;
use anyhow::Result;
use aws_config::SdkConfig;
use std::sync::Arc;
use storeflow_app::dispatch::Router as Dispatch;
use storeflow_app::App;
use storeflow_core::model::channel::Channel;
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
            sqs: sqs.clone(),
            scheduler: aws_sdk_scheduler::Client::new(aws),
            queue_url: env.require("STOREFLOW_TIMERS_QUEUE_URL")?,
            queue_arn: env.require("STOREFLOW_TIMERS_QUEUE_ARN")?,
            dead_letter_arn: env.require("STOREFLOW_TIMERS_DLQ_ARN")?,
            group: env.require("STOREFLOW_SCHEDULE_GROUP")?,
            role_arn: env.require("STOREFLOW_SCHEDULER_ROLE_ARN")?,
            max_delay_seconds: crate::timers::MAX_DELAY_SECONDS,
        },
        // The scheduler's environment names it (campaign enrolment);
        // evaluate's does not need it.
        events: env
            .get("STOREFLOW_EVENTS_QUEUE_URL")
            .map(|url| EventsQueue {
                sqs: sqs.clone(),
                url: url.to_string(),
            }),
        // Evaluate's: where an input that cannot be applied goes, with its
        // error.
        dead_letters: env.get("STOREFLOW_EVENTS_DLQ_URL").map(|url| {
            crate::queues::DeadLetterQueue {
                sqs,
                url: url.to_string(),
            }
        }),
        models_read: Default::default(),
    })
}

/// The send function's providers: SES always; SMS, WhatsApp and webhooks
/// when the stack configures them (an origination identity, a WhatsApp
/// phone number id, a webhook signing secret).
pub async fn senders(env: &Env, aws: &SdkConfig) -> Result<Senders> {
    let email = SesEmail {
        ses: aws_sdk_sesv2::Client::new(aws),
        configuration_set: env.require("STOREFLOW_SES_CONFIGURATION_SET")?,
        from: env.require("STOREFLOW_FROM_ADDRESS")?,
    };
    let sms = env
        .get("STOREFLOW_SMS_ORIGINATION_IDENTITY")
        .map(|origination| Sms {
            client: aws_sdk_pinpointsmsvoicev2::Client::new(aws),
            origination_identity: origination.to_string(),
            configuration_set: env
                .get("STOREFLOW_SMS_CONFIGURATION_SET")
                .map(str::to_string),
        });
    let whatsapp = env
        .get("STOREFLOW_WHATSAPP_PHONE_NUMBER_ID")
        .map(|id| WhatsApp {
            client: aws_sdk_socialmessaging::Client::new(aws),
            phone_number_id: id.to_string(),
            meta_api_version: env
                .get("STOREFLOW_WHATSAPP_META_API_VERSION")
                .unwrap_or(crate::whatsapp::DEFAULT_META_API_VERSION)
                .to_string(),
        });
    // `Env::secret` calls SSM only when a parameter is named: a stack
    // without webhook steps makes no SSM call at init.
    let webhooks = env
        .secret(
            &aws_sdk_ssm::Client::new(aws),
            "STOREFLOW_WEBHOOK_SECRET",
            "STOREFLOW_WEBHOOK_SIGNING_SECRET_PARAM",
        )
        .await?
        .map(|secret| {
            storeflow_channels::WebhookPoster::new(&secret).map_err(|e| {
                anyhow::anyhow!(
                    "{e} (from STOREFLOW_WEBHOOK_SECRET or the SSM parameter \
                     STOREFLOW_WEBHOOK_SIGNING_SECRET_PARAM names)"
                )
            })
        })
        .transpose()?;
    let mut router = Dispatch::new(|c| {
        match c {
            Channel::Sms => "set the stack's SmsOriginationIdentity",
            Channel::Whatsapp => "set the stack's WhatsAppPhoneNumberId",
            Channel::Webhook => "put a signing secret in the SSM parameter the stack names",
            Channel::Email | Channel::Alert => "SES is always configured",
        }
        .to_string()
    })
    .route(&[Channel::Email, Channel::Alert], Arc::new(email));
    if let Some(sms) = sms {
        router = router.route(&[Channel::Sms], Arc::new(sms));
    }
    if let Some(w) = whatsapp {
        router = router.route(&[Channel::Whatsapp], Arc::new(w));
    }
    if let Some(w) = webhooks {
        router = router.route(&[Channel::Webhook], Arc::new(w));
    }
    Ok(Senders {
        table: table(env, aws)?,
        router,
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
        config,
    })
}
