//! The feedback function (`storeflow_aws::handlers::feedback`): invoked by
//! the EventBridge rule on SES events, by the SMS events' SNS topic and by
//! its Function URL (links), so it takes any of those payloads. Wiring only.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use jiff::Timestamp;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use storeflow_aws::env::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let feedback = &storeflow_aws::wiring::feedback(&env, &aws).await?;
    run(service_fn(move |e: LambdaEvent<Value>| async move {
        let now = Timestamp::now();
        if e.payload["Records"][0]["EventSource"] == "aws:sns" {
            // SMS events from the configuration set's SNS destination; an
            // error makes Lambda retry the notification.
            let counted = feedback.sns(&e.payload, now).await?;
            return Ok::<Value, Error>(serde_json::json!({ "counted": format!("{counted:?}") }));
        }
        if e.payload.get("detail-type").is_some() {
            // An SES event through EventBridge; an error makes EventBridge
            // retry, then dead-letter it.
            let done = feedback.ses_event(&e.payload["detail"], now).await?;
            return Ok::<Value, Error>(serde_json::json!({ "recorded": format!("{done:?}") }));
        }
        let req: LambdaFunctionUrlRequest = serde_json::from_value(e.payload)?;
        let method = req.request_context.http.method.clone().unwrap_or_default();
        let path = req.raw_path.clone().unwrap_or_default();
        let body = match (&req.body, req.is_base64_encoded) {
            (Some(b), true) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
            (Some(b), false) => b.clone().into_bytes(),
            (None, _) => Vec::new(),
        };
        let mut res = LambdaFunctionUrlResponse::default();
        let ua = req.headers.get("user-agent").and_then(|v| v.to_str().ok());
        if let Some(r) = feedback.track(&method, &path, ua, now).await {
            res.status_code = i64::from(r.status);
            res.headers.insert("content-type", r.content_type.parse()?);
            res.headers.insert("cache-control", "no-store".parse()?);
            if let Some(to) = r.location {
                res.headers.insert("location", to.parse()?);
            }
            match r.bytes {
                Some(b) => {
                    res.body = Some(base64::engine::general_purpose::STANDARD.encode(b));
                    res.is_base64_encoded = true;
                }
                None => res.body = Some(r.body),
            }
            return Ok(serde_json::to_value(res)?);
        }
        let (status, content_type, body) = feedback.http(&method, &path, &body, now).await;
        res.status_code = i64::from(status);
        res.headers.insert("content-type", content_type.parse()?);
        res.body = Some(body);
        Ok(serde_json::to_value(res)?)
    }))
    .await
}
