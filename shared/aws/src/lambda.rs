//! The one place Lambda's SQS types meet the handlers: records in, partial
//! batch failures out (`ReportBatchItemFailures` on every event source
//! mapping in the template).

use crate::handlers::{Failures, Record};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

pub fn records(e: SqsEvent) -> Vec<Record> {
    e.records
        .into_iter()
        .map(|r| Record {
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

pub fn response(f: Failures) -> SqsBatchResponse {
    let mut out = SqsBatchResponse::default();
    out.batch_item_failures =
        f.0.into_iter()
            .map(|id| {
                let mut b = BatchItemFailure::default();
                b.item_identifier = id;
                b
            })
            .collect();
    out
}
