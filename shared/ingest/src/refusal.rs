//! Why a delivery was refused, and the HTTP status that says so.

/// A refused delivery. Every variant is a clear 4xx (or a 503 when our own
/// store failed, so the platform retries); nothing refused is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bad or missing signature or write key.
    #[error("{0}")]
    Unauthorized(String),
    /// Not JSON, or missing or mistyped what the topic needs.
    #[error("{0}")]
    Malformed(String),
    #[error("body is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("no endpoint {0}")]
    NotFound(String),
    #[error("{0} only accepts POST")]
    MethodNotAllowed(String),
    /// The delivery store failed: the platform should retry.
    #[error("could not store the delivery: {0}")]
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Unauthorized(_) => 401,
            Refusal::Malformed(_) => 400,
            Refusal::TooLarge { .. } => 413,
            Refusal::NotFound(_) => 404,
            Refusal::MethodNotAllowed(_) => 405,
            Refusal::Unavailable(_) => 503,
        }
    }
}
