//! The send function (`storeflow_aws::handlers::send`) on the send queue:
//! wiring only.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use jiff::Timestamp;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use storeflow_aws::env::Env;
use storeflow_aws::handlers::send;
use storeflow_aws::lambda::{records, response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let senders = &storeflow_aws::wiring::senders(&env, &aws).await?;
    run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        let failures = send::handle(senders, &records(e.payload), Timestamp::now()).await;
        Ok::<SqsBatchResponse, Error>(response(failures))
    }))
    .await
}
