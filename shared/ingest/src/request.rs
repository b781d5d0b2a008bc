//! An HTTP request and response with nothing of any server library in them,
//! so one router serves the Lambda function (through `lambda_http`), the
//! local server and the tests alike.

use serde_json::Value;

/// Request headers. Names compare case-insensitively: HTTP/2 lower-cases
/// them, and Shopify asks receivers not to depend on their case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of the header, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

/// One HTTP request: the raw body is kept as bytes, since signatures are
/// computed over exactly the bytes sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn post(path: &str, headers: Headers, body: impl Into<Vec<u8>>) -> Self {
        Request {
            method: "POST".into(),
            path: path.into(),
            headers,
            body: body.into(),
        }
    }
}

/// The answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Self {
        Response { status, body }
    }

    /// A refusal: `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Response {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
