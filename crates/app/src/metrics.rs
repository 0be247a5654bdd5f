//! What the operations team scrapes from `/metrics`: OpenMetrics text when the scraper asks for
//! it (`Accept: application/openmetrics-text`), else the Prometheus text format 0.0.4
//! ([`to_prometheus_text`] converts the one into the other).
//!
//! Counters and histograms are this instance's own, since it started: HTTP requests by route and
//! status with their latency, identity-side sync and removal attempts by outcome, reminders by
//! outcome, mail deliveries with their latency, metadata refreshes by outcome. The work gauges
//! (contacts by status, removals waiting, reminders not yet out) are read from the database at
//! scrape time, so every instance reports the same numbers for them.
//!
//! Label values come from fixed sets (route templates, not paths; outcome names, not error
//! texts), so the number of series stays bounded whatever the traffic.

use crate::Operations;
use crate::{App, AppError};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use smartcore_domain::{ReminderStatus, SyncStatus};
use smartcore_storage::WorkCounts;
use std::sync::Arc;
use std::time::Duration;

/// The content type of [`Operations::metrics_text`] (OpenMetrics).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the same metrics in the Prometheus text format 0.0.4.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Converts OpenMetrics text (as prometheus-client writes it) into the Prometheus text format
/// 0.0.4: a counter's family is named with its `_total` in `# HELP` and `# TYPE` (its samples
/// already are) and stays a counter; `# UNIT` lines and the closing `# EOF` go (0.0.4 has
/// neither); `\"` in a HELP text becomes `"` (0.0.4 escapes only `\\` and the line break
/// there); label values and sample lines are written alike in both.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some((name, "counter")) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let converted = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = if counters.contains(name) && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            let tail = if *prefix == "# HELP " {
                tail.replace("\\\"", "\"")
            } else {
                tail.to_owned()
            };
            Some(format!("{prefix}{name} {tail}"))
        });
        out.push_str(converted.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

/// Mails to one address in a day (issue 24), of every kind but certificate reminders.
pub const MAIL_PER_RECIPIENT_PER_DAY: i64 = 20;

/// Every limit counted by `smartcore_limit_refusals_total`: requests refused (or, for
/// `welcome_per_address`, welcomes not sent; for `mail_per_recipient`, mails deferred; for
/// `connections_per_client`, connections closed) because a limit was reached.
pub const LIMITS: [&str; 9] = [
    "contact_additions",
    "invitation_resends",
    "welcome_per_address",
    "invitations_per_minute",
    "setup_links",
    "test_alerts",
    "sign_in",
    "mail_per_recipient",
    "connections_per_client",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

fn latency_buckets() -> Histogram {
    // 1 ms … 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The methods counted under their own name; every other one counts as `other`.
pub const COUNTED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The `method` label of a request: its method when it is one of [`COUNTED_METHODS`], `other`
/// otherwise, so that made-up methods cannot add series (each series is memory kept for the
/// life of the process).
pub fn method_label(method: &str) -> &'static str {
    COUNTED_METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

/// How one registration attempt with the identity side ended.
#[derive(Debug, Clone, Copy)]
pub enum SyncOutcome {
    Synced,
    /// Registered already (409): the existing registration was adopted.
    Adopted,
    /// A passing failure (429, 5xx, timeout): retried with backoff.
    Retry,
    /// Refused for good (other 4xx): the contact shows "Sync failed".
    Refused,
    /// The organisation is not linked to the identity side yet.
    NotLinked,
}

impl SyncOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Adopted => "adopted",
            Self::Retry => "retry",
            Self::Refused => "refused",
            Self::NotLinked => "not_linked",
        }
    }
}

/// The instance's metrics. Cheap to clone; every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: RouteHistograms,
    sync_attempts: Family<OutcomeLabels, Counter>,
    removal_attempts: Family<OutcomeLabels, Counter>,
    reminders: Family<OutcomeLabels, Counter>,
    mail_deliveries: Family<OutcomeLabels, Counter>,
    mail_duration: Histogram,
    metadata_refreshes: Family<OutcomeLabels, Counter>,
    limits: Family<LimitLabels, Counter>,
    contacts: Family<StatusLabels, Gauge>,
    removals_waiting: Gauge,
    reminders_waiting: Family<StatusLabels, Gauge>,
}

/// Latency histograms per route, each made with the latency buckets.
type RouteHistograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The HTTP request counter and latency histogram, registered.
fn register_http(registry: &mut Registry) -> (Family<HttpLabels, Counter>, RouteHistograms) {
    let http_requests = Family::<HttpLabels, Counter>::default();
    registry.register(
        "http_requests",
        "HTTP requests answered, by method, route template and status",
        http_requests.clone(),
    );
    let http_duration =
        Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
    registry.register(
        "http_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template",
        http_duration.clone(),
    );
    (http_requests, http_duration)
}

/// The gauges read from the database (contacts, removals and reminders waiting), registered.
fn register_gauges(
    registry: &mut Registry,
) -> (
    Family<StatusLabels, Gauge>,
    Gauge,
    Family<StatusLabels, Gauge>,
) {
    let contacts = Family::<StatusLabels, Gauge>::default();
    registry.register(
        "it_contacts",
        "IT contacts of every organisation, by status (pending, synced, failed); from the database",
        contacts.clone(),
    );
    let removals_waiting = Gauge::default();
    registry.register(
        "identity_removals_waiting",
        "Identity-side removals not done yet; from the database",
        removals_waiting.clone(),
    );
    let reminders_waiting = Family::<StatusLabels, Gauge>::default();
    registry.register(
        "certificate_reminders_waiting",
        "Certificate reminders not out yet, by state (queued, sending, failed); from the database",
        reminders_waiting.clone(),
    );
    (contacts, removals_waiting, reminders_waiting)
}

/// Every outcome of the outcome counters is there from the start, at 0.
fn start_at_zero(
    sync_attempts: &Family<OutcomeLabels, Counter>,
    removal_attempts: &Family<OutcomeLabels, Counter>,
    reminders: &Family<OutcomeLabels, Counter>,
    mail_deliveries: &Family<OutcomeLabels, Counter>,
    metadata_refreshes: &Family<OutcomeLabels, Counter>,
) {
    // Every outcome is there from the start, at 0, so a scraper's rate() has a series
    // before the first event.
    let known: [(&Family<OutcomeLabels, Counter>, &[&'static str]); 5] = [
        (
            sync_attempts,
            &["synced", "adopted", "retry", "refused", "not_linked"],
        ),
        (
            removal_attempts,
            &[
                "removed",
                "retry",
                "handed_to_operations",
                "taken_over",
                "nothing_there",
            ],
        ),
        (
            reminders,
            &["queued", "sent", "deferred", "rejected", "cancelled"],
        ),
        (mail_deliveries, &["sent", "rejected", "deferred"]),
        (metadata_refreshes, &["unchanged", "changed", "failed"]),
    ];
    for (family, outcomes) in known {
        for outcome in outcomes {
            family.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("smartcore");
        let (http_requests, http_duration) = register_http(&mut registry);
        let sync_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "identity_sync_attempts",
            "Registrations of IT contacts tried with the identity side, by outcome (synced, adopted, retry, refused, not_linked)",
            sync_attempts.clone(),
        );
        let removal_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "identity_removal_attempts",
            "Automatic identity-side removals tried, by outcome (removed, retry, handed_to_operations; taken_over and nothing_there for registrations of removed contacts taken over)",
            removal_attempts.clone(),
        );
        let reminders = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "certificate_reminders",
            "Certificate reminders handled by this instance's sweeps, by outcome (queued, sent, deferred, rejected, cancelled)",
            reminders.clone(),
        );
        let mail_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "mail_deliveries",
            "Mails handed to the mail server or outbox, by outcome (sent, rejected, deferred)",
            mail_deliveries.clone(),
        );
        let mail_duration = latency_buckets();
        registry.register(
            "mail_delivery_duration_seconds",
            "Time to hand one mail to the mail server or outbox",
            mail_duration.clone(),
        );
        let metadata_refreshes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "metadata_refreshes",
            "Fetches of identity-provider metadata URLs, by outcome (unchanged, changed, failed)",
            metadata_refreshes.clone(),
        );
        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limit_refusals",
            "Requests refused because a limit was reached, by limit (welcome_per_address: welcomes not sent to an address welcomed to the organisation within 7 days)",
            limits.clone(),
        );
        for limit in LIMITS {
            limits.get_or_create(&LimitLabels { limit }).inc_by(0);
        }
        let (contacts, removals_waiting, reminders_waiting) = register_gauges(&mut registry);
        start_at_zero(
            &sync_attempts,
            &removal_attempts,
            &reminders,
            &mail_deliveries,
            &metadata_refreshes,
        );
        Self(Arc::new(Inner {
            registry,
            http_requests,
            http_duration,
            sync_attempts,
            removal_attempts,
            reminders,
            mail_deliveries,
            mail_duration,
            metadata_refreshes,
            limits,
            contacts,
            removals_waiting,
            reminders_waiting,
        }))
    }

    /// One HTTP request answered. `route` is the matched route's template (`/api/v1/orgs/{org}`),
    /// or a fixed word for requests that matched none; `method` is counted by [`method_label`].
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = method_label(method);
        self.0
            .http_requests
            .get_or_create(&HttpLabels {
                method,
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.0
            .http_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn sync_attempt(&self, outcome: SyncOutcome) {
        self.count(&self.0.sync_attempts, outcome.label(), 1);
    }

    pub(crate) fn removal_attempt(&self, outcome: &'static str) {
        self.count(&self.0.removal_attempts, outcome, 1);
    }

    pub(crate) fn reminders(&self, outcome: &'static str, n: usize) {
        self.count(&self.0.reminders, outcome, n);
    }

    pub(crate) fn mail_delivery(&self, outcome: &'static str, took: Duration) {
        self.count(&self.0.mail_deliveries, outcome, 1);
        self.0.mail_duration.observe(took.as_secs_f64());
    }

    /// One fetch of an identity provider's metadata URL: `unchanged`, `changed` or `failed`.
    pub fn metadata_refresh(&self, outcome: &'static str) {
        self.count(&self.0.metadata_refreshes, outcome, 1);
    }

    /// A connection closed because its client already held its share of connections
    /// (`SMARTCORE_MAX_CONNECTIONS_PER_CLIENT`).
    pub fn connection_refused_by_share(&self) {
        self.limit_refusal("connections_per_client");
    }

    /// One refusal by a limit (one of [`LIMITS`]).
    pub(crate) fn limit_refusal(&self, limit: &'static str) {
        debug_assert!(LIMITS.contains(&limit), "{limit}");
        self.0.limits.get_or_create(&LimitLabels { limit }).inc();
    }

    fn count(&self, family: &Family<OutcomeLabels, Counter>, outcome: &'static str, n: usize) {
        family
            .get_or_create(&OutcomeLabels { outcome })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// The text a scrape gets, with the work gauges set from `counts`. Every known state is
    /// present, at 0 when nothing is in it.
    fn render(&self, counts: &WorkCounts) -> String {
        let states: Vec<&str> = SyncStatus::ALL.iter().map(|s| s.as_str()).collect();
        set_by_state(&self.0.contacts, &states, &counts.contacts);
        let waiting = [
            ReminderStatus::Queued,
            ReminderStatus::Sending,
            ReminderStatus::Failed,
        ]
        .map(|s| s.as_str());
        set_by_state(&self.0.reminders_waiting, &waiting, &counts.reminders);
        self.0.removals_waiting.set(counts.removals_waiting);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.0.registry);
        text
    }
}

fn set_by_state(family: &Family<StatusLabels, Gauge>, known: &[&str], counts: &[(String, i64)]) {
    for state in known {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        family
            .get_or_create(&StatusLabels {
                status: (*state).to_owned(),
            })
            .set(n);
    }
    for (state, n) in counts.iter().filter(|(s, _)| !known.contains(&s.as_str())) {
        family
            .get_or_create(&StatusLabels {
                status: state.clone(),
            })
            .set(*n);
    }
}

impl App {
    /// Hands `mail` to the mailer, counting the outcome and timing it for `/metrics`. Every
    /// mail the use cases send goes through here, and takes one from its recipient's budget
    /// ([`MAIL_PER_RECIPIENT_PER_DAY`], issue 24): past it the mail is deferred (a transient
    /// failure, shown in the deliveries with the time the budget frees) and counted as
    /// `smartcore_limit_refusals_total{limit="mail_per_recipient"}`. Certificate reminders go
    /// through [`App::send_mail_with_calendar`] and are exempt.
    pub(crate) async fn send_mail(
        &self,
        mail: &smartcore_mail::OutgoingMail,
    ) -> Result<smartcore_mail::SentMail, smartcore_mail::MailError> {
        let key = smartcore_domain::EmailAddress::parse(&mail.to)
            .map(|e| e.key().to_owned())
            .unwrap_or_else(|_| mail.to.trim().to_lowercase());
        match self
            .store
            .take_mail_budget(&key, MAIL_PER_RECIPIENT_PER_DAY, self.now())
            .await
        {
            Ok(None) => {}
            Ok(Some(free_at)) => {
                self.metrics.limit_refusal("mail_per_recipient");
                self.metrics.mail_delivery("deferred", Duration::ZERO);
                return Err(smartcore_mail::MailError::Transient {
                    reason: format!(
                        "{} has received {MAIL_PER_RECIPIENT_PER_DAY} mails from us within a day, the most allowed; deferred until {free_at}",
                        mail.to
                    ),
                });
            }
            Err(e) => {
                return Err(smartcore_mail::MailError::Transient {
                    reason: format!("the mail budget could not be read: {e}"),
                });
            }
        }
        self.send_mail_with_calendar(mail, None).await
    }

    /// [`App::send_mail`] with an optional `text/calendar` attachment (certificate reminders,
    /// exempt from the per-recipient budget: an expiring certificate must not wait a day).
    pub(crate) async fn send_mail_with_calendar(
        &self,
        mail: &smartcore_mail::OutgoingMail,
        calendar: Option<&str>,
    ) -> Result<smartcore_mail::SentMail, smartcore_mail::MailError> {
        let started = std::time::Instant::now();
        let result = self.mailer.send_with_calendar(mail, calendar).await;
        let outcome = match &result {
            Ok(_) => "sent",
            Err(smartcore_mail::MailError::Rejected { .. }) => "rejected",
            Err(_) => "deferred",
        };
        self.metrics.mail_delivery(outcome, started.elapsed());
        result
    }
}

/// A send's result as its delivery is recorded: sent with its Message-ID, rejected for good
/// (a 5xx reply) or deferred (anything else, tried again later).
pub(crate) fn delivery_outcome(
    result: Result<smartcore_mail::SentMail, smartcore_mail::MailError>,
) -> smartcore_storage::DeliveryOutcome {
    use smartcore_storage::DeliveryOutcome;
    match result {
        Ok(sent) => DeliveryOutcome::Sent {
            message_id: sent.message_id,
        },
        Err(smartcore_mail::MailError::Rejected { reason }) => {
            DeliveryOutcome::Rejected { error: reason }
        }
        Err(e) => DeliveryOutcome::Deferred {
            error: e.to_string(),
        },
    }
}

impl Operations<'_> {
    /// The `/metrics` text: this instance's counters and the work gauges read now.
    pub async fn metrics_text(&self) -> Result<String, AppError> {
        let counts = self.store.work_counts().await?;
        Ok(self.metrics.render(&counts))
    }
}

impl Operations<'_> {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_add_no_series() {
        let metrics = Metrics::new();
        for i in 0..1000 {
            let method = format!("X{i}");
            metrics.http_request(&method, "unmatched", 405, Duration::from_millis(1));
        }
        metrics.http_request("GET", "/healthz", 200, Duration::from_millis(1));
        let text = metrics.render(&WorkCounts::default());
        let series = text
            .lines()
            .filter(|l| l.starts_with("smartcore_http_requests_total{"))
            .collect::<Vec<_>>();
        assert_eq!(series.len(), 2, "{series:?}");
        assert!(
            text.contains(
                "smartcore_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 1000"
            ),
            "{text}"
        );
        assert!(!text.contains("X1"), "{text}");
    }
}
