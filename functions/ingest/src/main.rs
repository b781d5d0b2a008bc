//! The ingest function (`storeflow_aws::handlers::ingest`) behind a Lambda
//! Function URL: wiring only.

use aws_config::BehaviorVersion;
use jiff::Timestamp;
use lambda_http::{run, service_fn, Body, Error, Request, Response};
use storeflow_aws::env::Env;
use storeflow_aws::handlers::ingest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let (router, table, events) = storeflow_aws::wiring::ingest(&env, &aws).await?;
    let (router, table, events) = (&router, &table, &events);
    run(service_fn(move |req: Request| async move {
        let body: &[u8] = req.body().as_ref();
        let request = storeflow_server::request(req.method(), req.uri(), req.headers(), body);
        let answer = ingest::handle(router, table, events, &request, Timestamp::now()).await;
        Ok::<_, Error>(
            Response::builder()
                .status(answer.status)
                .header("content-type", "application/json")
                .body(Body::from(answer.body.to_string()))?,
        )
    }))
    .await
}
