//! The fake's data: IT contacts, the faults that can be switched on, and the counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many IT contacts per organisation, as WorkOS allows.
pub const MAX_CONTACTS_PER_ORG: usize = 20;

/// The `it_contact` object, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItContact {
    pub object: String,
    pub id: String,
    pub email: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One fault to switch on (in-process with [`crate::FakeWorkOs::set_fault`], or as JSON
/// `{"kind": "...", ...}` posted to `/_fake/faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The next `count` API requests answer `status` (a 5xx, default 500).
    Fail5xx {
        count: u32,
        #[serde(default = "default_fail_status")]
        status: u16,
    },
    /// The next `count` API requests answer 429 with `Retry-After: retry_after_secs`.
    RateLimit { count: u32, retry_after_secs: u64 },
    /// The next `count` API requests are read, then their connection is closed unanswered.
    DropConnection { count: u32 },
    /// The next `count` API requests are processed (a create does create), then their
    /// connection is closed before the answer: the client cannot tell whether it worked.
    LoseAnswer { count: u32 },
    /// Every API answer is delayed by `ms` milliseconds (0 switches it off).
    Latency { ms: u64 },
    /// Every API request is processed at once (a create does create), and its answer then
    /// waits `ms` milliseconds (0 switches it off): a client that dies meanwhile never learns
    /// what was done.
    AnswerLatency { ms: u64 },
    /// At most `limit` API requests are served at once; the others wait their turn
    /// (`null` removes the limit). With a latency this fixes the server's own throughput.
    MaxConcurrency { limit: Option<usize> },
    /// Creating a contact with this address (compared case-insensitively) fails with 422 and
    /// `message`, every time.
    RejectEmail {
        email: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Changes the per-organisation contact limit (`null`: back to WorkOS' 20), e.g. to test
    /// pagination across many pages.
    ContactLimit { limit: Option<usize> },
    /// Switches every fault off (latency, concurrency and contact limits included).
    Clear,
}

fn default_fail_status() -> u16 {
    500
}

/// The faults currently in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    pub fail_next: u32,
    pub fail_status: u16,
    pub rate_limit_next: u32,
    pub retry_after_secs: u64,
    pub drop_next: u32,
    pub lose_answer_next: u32,
    pub latency_ms: u64,
    /// Delay after the work is done, before the answer (see [`Fault::AnswerLatency`]).
    #[serde(default)]
    pub answer_latency_ms: u64,
    pub max_concurrency: Option<usize>,
    /// Per-organisation contact limit when not WorkOS' [`MAX_CONTACTS_PER_ORG`].
    pub contact_limit: Option<usize>,
    /// Lower-cased address -> the 422 message it gets.
    pub reject_emails: BTreeMap<String, String>,
}

impl Faults {
    pub(crate) fn apply(&mut self, fault: Fault) {
        match fault {
            Fault::Fail5xx { count, status } => {
                self.fail_next = count;
                self.fail_status = if (500..=599).contains(&status) {
                    status
                } else {
                    500
                };
            }
            Fault::RateLimit {
                count,
                retry_after_secs,
            } => {
                self.rate_limit_next = count;
                self.retry_after_secs = retry_after_secs;
            }
            Fault::DropConnection { count } => self.drop_next = count,
            Fault::LoseAnswer { count } => self.lose_answer_next = count,
            Fault::Latency { ms } => self.latency_ms = ms,
            Fault::AnswerLatency { ms } => self.answer_latency_ms = ms,
            Fault::MaxConcurrency { limit } => self.max_concurrency = limit.filter(|l| *l > 0),
            Fault::RejectEmail { email, message } => {
                let message = message.unwrap_or_else(|| {
                    format!("The email address {email} cannot be an IT contact.")
                });
                self.reject_emails
                    .insert(email.trim().to_lowercase(), message);
            }
            Fault::ContactLimit { limit } => self.contact_limit = limit,
            Fault::Clear => *self = Faults::default(),
        }
    }
}

/// Counters of what the fake received, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request to the WorkOS routes (control routes under `/_fake` are not counted).
    pub requests_total: u64,
    /// Per `"METHOD /route/template"`, e.g. `"POST /organizations/{org}/it_contacts"`.
    pub requests: BTreeMap<String, u64>,
    /// Per answered status code (as a string, for JSON).
    pub responses: BTreeMap<String, u64>,
    /// Contacts really created through the API.
    pub creates_total: u64,
    /// Per lower-cased address: contacts really created through the API (replays excluded).
    pub creates_by_email: BTreeMap<String, u64>,
    /// Creates answered from the idempotency store, creating nothing.
    pub idempotent_replays: u64,
    pub deletes_total: u64,
    pub injected_5xx: u64,
    pub injected_429: u64,
    /// Connections closed unanswered (`DropConnection` and `LoseAnswer`).
    pub dropped_connections: u64,
    pub unauthorized: u64,
    /// Most API requests being served at the same moment.
    pub max_in_flight: u64,
    /// Contacts held now, over all organisations.
    pub contacts_now: u64,
    /// The server's own throughput ceiling (max concurrency / latency), when both are set.
    pub throughput_limit_per_sec: Option<f64>,
}
