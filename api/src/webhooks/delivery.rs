//! One delivery attempt: the event as a JSON body, signed with the webhook's
//! secret (`X-CRM-Signature: sha256=<hex HMAC-SHA256 of the body>`), POSTed with a
//! timeout over hyper's client (rustls for https, the [`Resolver`] for DNS, no
//! redirects followed: a 3xx is a failure like any other non-2xx).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, Method, Request, Uri};
use chrono::{DateTime, Utc};
use crm_eventlog::RecordedEvent;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use super::target::{check_reachable, literal_ip, parse_url, Resolver};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-crm-signature";

/// The most of a receiver's answer body read (and thrown away).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The JSON a receiver gets for one event.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    event_id: Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    stream: &'a str,
    version: i64,
    position: i64,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    data: &'a Value,
    metadata: Value,
}

/// The body for `event` (personal values as already revealed or `[erased]`).
pub fn body(event: &RecordedEvent) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Payload {
        event_id: event.event_id,
        event_type: &event.event_type,
        stream: &event.stream,
        version: event.version,
        position: event.position,
        occurred_at: event.occurred_at,
        recorded_at: event.recorded_at,
        data: &event.data,
        metadata: serde_json::to_value(&event.metadata)?,
    })
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// The receiver's status, if it answered in time.
    pub status: Option<u16>,
    /// Why it is not a success (None: a 2xx).
    pub error: Option<String>,
}

impl Outcome {
    /// A 2xx within the timeout.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The HTTP client every webhook's deliveries share (connections are pooled per
/// host; each webhook still waits only on its own requests).
#[derive(Clone)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
    timeout: Duration,
    deny_private: bool,
}

impl Sender {
    /// A client with `timeout` per attempt (connecting, sending and the answer's
    /// head and body), refusing internal addresses when `deny_private`.
    pub fn new(timeout: Duration, deny_private: bool) -> Self {
        let mut http = HttpConnector::new_with_resolver(Resolver { deny_private });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(builder) => builder,
            Err(err) => {
                tracing::warn!(error = %err, "no system root certificates: https webhooks will fail");
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        };
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Sender {
            client,
            timeout,
            deny_private,
        }
    }

    /// POSTs `body` to `url` signed with `secret`: one attempt.
    pub async fn post(&self, url: &str, secret: &str, event_id: Uuid, body: Vec<u8>) -> Outcome {
        let started_at = Utc::now();
        let start = Instant::now();
        let result =
            tokio::time::timeout(self.timeout, self.send(url, secret, event_id, body)).await;
        let duration = start.elapsed();
        let (status, error) = match result {
            Err(_) => (
                None,
                Some(format!("no answer within {} ms", self.timeout.as_millis())),
            ),
            Ok(Err(error)) => (None, Some(error)),
            Ok(Ok(status)) if (200..300).contains(&status) => (Some(status), None),
            Ok(Ok(status)) => (Some(status), Some(format!("answered {status}"))),
        };
        Outcome {
            started_at,
            duration,
            status,
            error,
        }
    }

    async fn send(
        &self,
        url: &str,
        secret: &str,
        event_id: Uuid,
        body: Vec<u8>,
    ) -> Result<u16, String> {
        let uri: Uri = parse_url(url).map_err(|(_, detail)| detail)?;
        if literal_ip(&uri).is_some() {
            // The connector resolves names through the checking resolver; an address
            // written in the URL it connects to directly, so it is checked here.
            check_reachable(&uri, self.deny_private)
                .await
                .map_err(|(_, detail)| detail)?;
        }
        let signature = signature(secret, &body);
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "crm-webhooks/1")
            .header(SIGNATURE_HEADER, signature)
            .header("x-crm-event-id", event_id.to_string())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let answer = self
            .client
            .request(request)
            .await
            .map_err(|e| describe(&e))?;
        let status = answer.status().as_u16();
        // Read (a bounded part of) the answer, so the connection can be reused.
        let mut body = answer.into_body();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("reading the answer: {e}"))?;
            if let Some(data) = frame.data_ref() {
                read += data.len();
                if read > MAX_ANSWER_BYTES {
                    break;
                }
            }
        }
        Ok(status)
    }
}

/// A client error with its causes (hyper's own says only "client error (Connect)").
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231s_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
