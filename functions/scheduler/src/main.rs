//! The scheduler function (`storeflow_aws::handlers::scheduler`): invoked
//! by the timers queue (SQS batches) and by the two cron schedules (their
//! `{"kind": …}` input), so it takes either payload. Wiring only.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::SqsEvent;
use jiff::Timestamp;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use storeflow_aws::env::Env;
use storeflow_aws::handlers::scheduler;
use storeflow_aws::lambda::{records, response};
use storeflow_aws::timers::TimerMessage;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let pipeline = &storeflow_aws::wiring::pipeline(&env, &aws).await?;
    run(service_fn(move |e: LambdaEvent<Value>| async move {
        let now = Timestamp::now();
        if e.payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(e.payload)?;
            let failures = scheduler::handle(pipeline, &records(batch), now).await;
            return Ok::<Value, Error>(serde_json::to_value(response(failures))?);
        }
        // A cron schedule: a failure here is retried by Scheduler.
        let cron: TimerMessage = serde_json::from_value(e.payload)?;
        let fired = scheduler::fire(pipeline, &cron, now, false).await?;
        Ok(serde_json::json!({ "fired": format!("{fired:?}") }))
    }))
    .await
}
