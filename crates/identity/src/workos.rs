//! The WorkOS IT Contacts API client: create, list (paginated) and delete, with every failure
//! classified as retryable or permanent.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url, header};
use serde::Deserialize;

use crate::connector::{
    ConnectorError, ConnectorKind, IdentityConnector, Registered, Registration, RemoteContact,
};

/// Page size asked of the list call (WorkOS allows 1 to 100).
const PAGE_LIMIT: &str = "100";
/// Stops a list that keeps answering cursors (a misbehaving server) from looping forever.
const MAX_PAGES: usize = 1_000;
/// The 409 code meaning "this address is already an IT contact of the organisation".
const ALREADY_EXISTS: &str = "it_contact_already_exists";

/// Building a [`WorkOsClient`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("invalid WorkOS base URL {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("the WorkOS API key is empty")]
    EmptyApiKey,
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A client of the WorkOS IT Contacts API (or any server that speaks it).
///
/// Holds one pooled `reqwest::Client`; clone it freely (clones share the pool).
#[derive(Clone)]
pub struct WorkOsClient {
    http: reqwest::Client,
    base: Url,
    api_key: String,
}

impl std::fmt::Debug for WorkOsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key stays out of logs.
        f.debug_struct("WorkOsClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// The `it_contact` object.
#[derive(Debug, Deserialize)]
struct ItContact {
    id: String,
    email: String,
    #[serde(default)]
    created_at: String,
}

impl From<ItContact> for RemoteContact {
    fn from(c: ItContact) -> Self {
        RemoteContact {
            id: c.id,
            email: c.email,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListMetadata {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ItContactList {
    data: Vec<ItContact>,
    list_metadata: ListMetadata,
}

/// A WorkOS error body: `{"code": "...", "message": "...", "errors": [...]}`; every field is
/// optional because gateways and older endpoints answer less.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
struct FieldError {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ErrorBody {
    /// The most helpful text available for an admin.
    fn reason(&self, status: StatusCode) -> String {
        let mut reason = self
            .message
            .clone()
            .or_else(|| self.error_description.clone())
            .or_else(|| self.error.clone())
            .or_else(|| self.code.clone())
            .unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("unexpected answer")
                    .to_owned()
            });
        let details: Vec<String> = self
            .errors
            .iter()
            .filter_map(|e| {
                let what = e.message.clone().or_else(|| e.code.clone())?;
                Some(match &e.field {
                    Some(field) => format!("{field}: {what}"),
                    None => what,
                })
            })
            .collect();
        if !details.is_empty() {
            reason = format!("{reason} ({})", details.join("; "));
        }
        reason
    }
}

/// A non-success answer, read once, before it is classified.
struct ApiFailure {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: ErrorBody,
}

impl ApiFailure {
    fn code(&self) -> Option<&str> {
        self.body.code.as_deref()
    }

    fn into_error(self) -> ConnectorError {
        let reason = format!(
            "HTTP {}: {}",
            self.status.as_u16(),
            self.body.reason(self.status)
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::REQUEST_TIMEOUT
            || self.status.is_server_error()
        {
            ConnectorError::Retryable {
                reason,
                retry_after: self.retry_after,
            }
        } else {
            ConnectorError::Permanent {
                status: Some(self.status.as_u16()),
                code: self.body.code,
                reason: self.body.message.unwrap_or(reason),
            }
        }
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP date.
fn parse_retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A transport failure (no answer): always worth retrying.
fn transport_error(err: &reqwest::Error) -> ConnectorError {
    let reason = if err.is_timeout() {
        "timed out waiting for the identity side".to_owned()
    } else if err.is_connect() {
        format!(
            "could not connect to the identity side: {}",
            error_chain(err)
        )
    } else if err.is_decode() {
        format!(
            "unreadable answer from the identity side: {}",
            error_chain(err)
        )
    } else {
        format!(
            "connection to the identity side failed: {}",
            error_chain(err)
        )
    };
    ConnectorError::Retryable {
        reason,
        retry_after: None,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl WorkOsClient {
    /// A client for the API at `base_url` (e.g. `https://api.workos.com`), authenticating with
    /// `api_key`; every request (connect, send, read the whole answer) must finish within
    /// `request_timeout`. Installs ring as rustls' provider if none is (see
    /// [`crate::install_crypto_provider`]).
    pub fn new(
        base_url: &str,
        api_key: &str,
        request_timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        let invalid = |reason: &str| ClientBuildError::InvalidBaseUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            return Err(invalid(
                "expected a plain http(s) URL without query or fragment",
            ));
        }
        if api_key.trim().is_empty() {
            return Err(ClientBuildError::EmptyApiKey);
        }
        // reqwest without a built-in provider panics when none is installed; installing ring
        // here is idempotent and keeps a forgotten start-up call from becoming a panic.
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("smartcore-identity/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WorkOsClient {
            http,
            base,
            api_key: api_key.trim().to_owned(),
        })
    }

    /// `{base}/organizations/{org}/it_contacts[/{id}]`, each segment percent-encoded.
    fn url(&self, org: &str, contact_id: Option<&str>) -> Url {
        let mut url = self.base.clone();
        {
            // `cannot_be_a_base` was rejected in `new`, so segments are available.
            if let Ok(mut segments) = url.path_segments_mut() {
                segments
                    .pop_if_empty()
                    .extend(["organizations", org, "it_contacts"]);
                if let Some(id) = contact_id {
                    segments.push(id);
                }
            }
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&self.api_key)
            .header(header::ACCEPT, "application/json")
    }

    /// Sends; `Ok` for 2xx, `Err(Ok(failure))` for an answer, `Err(Err(..))` for no answer.
    async fn send(
        &self,
        request: RequestBuilder,
    ) -> Result<Response, Result<ApiFailure, ConnectorError>> {
        let response = request.send().await.map_err(|e| Err(transport_error(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = parse_retry_after(&response);
        // An unreadable or non-JSON error body still yields a classified error.
        let body = match response.bytes().await {
            Ok(bytes) => {
                serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
                    message: std::str::from_utf8(&bytes)
                        .ok()
                        .map(|s| s.trim().chars().take(300).collect::<String>())
                        .filter(|s| !s.is_empty()),
                    ..ErrorBody::default()
                })
            }
            Err(e) if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
                tracing::debug!(error = %e, "could not read error body");
                ErrorBody::default()
            }
            Err(e) => return Err(Err(transport_error(&e))),
        };
        Err(Ok(ApiFailure {
            status,
            retry_after,
            body,
        }))
    }

    async fn create(
        &self,
        org: &str,
        registration: &Registration,
    ) -> Result<ItContact, Result<ApiFailure, ConnectorError>> {
        let request = self
            .request(Method::POST, self.url(org, None))
            .header("Idempotency-Key", &registration.idempotency_key)
            .json(&serde_json::json!({ "email": registration.email }));
        let response = self.send(request).await?;
        response
            .json::<ItContact>()
            .await
            .map_err(|e| Err(transport_error(&e)))
    }

    async fn list_all(&self, org: &str) -> Result<Vec<RemoteContact>, ConnectorError> {
        let mut contacts = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&str, &str)> = vec![("limit", PAGE_LIMIT), ("order", "desc")];
            if let Some(cursor) = after.as_deref() {
                query.push(("after", cursor));
            }
            let request = self.request(Method::GET, self.url(org, None)).query(&query);
            let response = self
                .send(request)
                .await
                .map_err(|e| e.map(ApiFailure::into_error).unwrap_or_else(|e| e))?;
            let page: ItContactList = response.json().await.map_err(|e| transport_error(&e))?;
            contacts.extend(page.data.into_iter().map(RemoteContact::from));
            match page.list_metadata.after {
                Some(next) if Some(&next) != after.as_ref() => after = Some(next),
                _ => return Ok(contacts),
            }
        }
        Err(ConnectorError::Retryable {
            reason: format!(
                "listing the identity side's contacts did not end after {MAX_PAGES} pages"
            ),
            retry_after: None,
        })
    }

    /// After a 409 `it_contact_already_exists`: the contact with that address, if listed.
    async fn adopt(&self, org: &str, email: &str) -> Result<Registered, ConnectorError> {
        let contacts = self.list_all(org).await?;
        match contacts
            .into_iter()
            .find(|c| c.email.eq_ignore_ascii_case(email))
        {
            Some(existing) => Ok(Registered {
                identity_contact_id: existing.id,
                adopted: true,
            }),
            // Deleted meanwhile, or the list lags behind: the next attempt will settle it.
            None => Err(ConnectorError::Retryable {
                reason: format!(
                    "the identity side says {email} is already registered but does not list it"
                ),
                retry_after: None,
            }),
        }
    }
}

fn linked(identity_org_id: Option<&str>) -> Result<&str, ConnectorError> {
    match identity_org_id.map(str::trim) {
        Some(org) if !org.is_empty() => Ok(org),
        _ => Err(ConnectorError::NotLinked),
    }
}

#[async_trait::async_trait]
impl IdentityConnector for WorkOsClient {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::WorkOs
    }

    fn can_delete(&self) -> bool {
        true
    }

    fn requires_identity_org(&self) -> bool {
        true
    }

    async fn register(&self, registration: &Registration) -> Result<Registered, ConnectorError> {
        let org = linked(registration.identity_org_id.as_deref())?;
        match self.create(org, registration).await {
            Ok(contact) => Ok(Registered {
                identity_contact_id: contact.id,
                adopted: false,
            }),
            Err(Ok(failure))
                if failure.status == StatusCode::CONFLICT
                    && failure.code() == Some(ALREADY_EXISTS) =>
            {
                self.adopt(org, &registration.email).await
            }
            Err(Ok(failure)) => Err(failure.into_error()),
            Err(Err(error)) => Err(error),
        }
    }

    async fn remove(
        &self,
        identity_org_id: Option<&str>,
        identity_contact_id: &str,
    ) -> Result<(), ConnectorError> {
        let org = linked(identity_org_id)?;
        let request = self.request(Method::DELETE, self.url(org, Some(identity_contact_id)));
        match self.send(request).await {
            Ok(_) => Ok(()),
            // Already gone: the removal's goal holds.
            Err(Ok(failure)) if failure.status == StatusCode::NOT_FOUND => Ok(()),
            Err(Ok(failure)) => Err(failure.into_error()),
            Err(Err(error)) => Err(error),
        }
    }

    async fn list(
        &self,
        identity_org_id: Option<&str>,
    ) -> Result<Vec<RemoteContact>, ConnectorError> {
        let org = linked(identity_org_id)?;
        self.list_all(org).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments_and_tolerate_a_trailing_slash() {
        let client = WorkOsClient::new("http://127.0.0.1:9/api/", "k", Duration::from_secs(1))
            .expect("client");
        assert_eq!(
            client.url("org/1", Some("it contact")).as_str(),
            "http://127.0.0.1:9/api/organizations/org%2F1/it_contacts/it%20contact"
        );
        let bare =
            WorkOsClient::new("http://127.0.0.1:9", "k", Duration::from_secs(1)).expect("client");
        assert_eq!(
            bare.url("org_1", None).as_str(),
            "http://127.0.0.1:9/organizations/org_1/it_contacts"
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(matches!(
            WorkOsClient::new("ftp://x", "k", Duration::from_secs(1)),
            Err(ClientBuildError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            WorkOsClient::new("http://x", " ", Duration::from_secs(1)),
            Err(ClientBuildError::EmptyApiKey)
        ));
    }

    #[test]
    fn error_reason_includes_field_errors() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"code":"invalid_request_parameters","message":"Validation failed","errors":[{"field":"email","code":"invalid"}]}"#,
        )
        .expect("json");
        assert_eq!(
            body.reason(StatusCode::UNPROCESSABLE_ENTITY),
            "Validation failed (email: invalid)"
        );
    }
}
