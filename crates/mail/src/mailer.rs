//! The mailer: sends an [`OutgoingMail`] over SMTP (lettre, rustls on ring) or writes it to the
//! outbox directory, and sorts failures into permanent and temporary ones.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{MailError, OutgoingMail, SentMail, message, outbox};

/// How long one SMTP command may take before the attempt counts as a temporary failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where mail goes. `{:?}` does not show the SMTP URL, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub enum MailConfig {
    /// Write RFC 5322 `.eml` files into this directory (the default: needs nothing installed).
    Outbox { dir: PathBuf },
    /// Send through an SMTP server, given as a URL lettre's `from_url` understands:
    /// `smtp://host:port`, `smtp://host:587?tls=required`, `smtps://user:pass@host`.
    Smtp { url: String },
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailConfig::Outbox { dir } => f.debug_struct("Outbox").field("dir", dir).finish(),
            MailConfig::Smtp { .. } => f
                .debug_struct("Smtp")
                .field("url", &format_args!("[REDACTED]"))
                .finish(),
        }
    }
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends mail from one sender address. Cheap to share behind an `Arc`; SMTP connections are pooled.
pub struct Mailer {
    from: Mailbox,
    /// The right-hand side of every Message-ID: the public URL's host once set, else the
    /// sender's domain.
    message_id_domain: String,
    transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may hold a password: show the mode only.
        let mode = match &self.transport {
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
            Transport::Smtp(_) => "smtp".to_owned(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &mode)
            .finish()
    }
}

impl Mailer {
    /// Builds a mailer. `from` is the sender, e.g. `Smart Core Connect <no-reply@localhost>`.
    ///
    /// In SMTP mode this must be called inside a Tokio runtime (the connection pool runs a
    /// clean-up task); no connection is opened until the first message.
    pub fn new(config: &MailConfig, from: &str) -> Result<Mailer, MailError> {
        let from = message::parse_from(from)?;
        let transport = match config {
            MailConfig::Outbox { dir } => Transport::Outbox(dir.clone()),
            MailConfig::Smtp { url } => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(MailError::Config(
                        "the SMTP mailer must be created inside a Tokio runtime".to_owned(),
                    ));
                }
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Config(format!("invalid SMTP URL: {e}")))?;
                Transport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build())
            }
        };
        let message_id_domain = from.email.domain().to_owned();
        Ok(Mailer {
            from,
            message_id_domain,
            transport,
        })
    }

    /// Message-IDs end in `@domain` (the host of the service's public URL, e.g.
    /// `sso.example.com`), so that they name the system that made them whatever the sender
    /// address. Anything that is not a plain host (empty, with `@`, `<`, `>`, spaces or
    /// control characters) leaves the sender's domain in place.
    pub fn with_message_id_domain(mut self, domain: &str) -> Mailer {
        let ok = !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
        if ok {
            self.message_id_domain = domain.to_owned();
        }
        self
    }

    /// The sender, as it appears in the From header.
    pub fn from_address(&self) -> String {
        self.from.to_string()
    }

    /// Sends one message (or writes it to the outbox) and returns its Message-ID.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<SentMail, MailError> {
        self.send_with_calendar(mail, None).await
    }

    /// Like [`Mailer::send`], with a `text/calendar` attachment when `calendar` is given (the
    /// outbox keeps it too: it writes the same message).
    pub async fn send_with_calendar(
        &self,
        mail: &OutgoingMail,
        calendar: Option<&str>,
    ) -> Result<SentMail, MailError> {
        let (id, message_id) = message::new_message_id(&self.message_id_domain);
        let built = message::build(&self.from, mail, &message_id, calendar)?;
        match &self.transport {
            Transport::Outbox(dir) => {
                let path = outbox::write(dir, id, &built.formatted()).await?;
                tracing::info!(%message_id, path = %path.display(), "mail written to the outbox");
            }
            Transport::Smtp(transport) => {
                transport.send(built).await.map_err(smtp_error)?;
                tracing::info!(%message_id, "mail accepted by the SMTP server");
            }
        }
        Ok(SentMail { message_id })
    }

    /// Checks that the SMTP server answers (connect, greet, NOOP). Always fine for the outbox.
    pub async fn check(&self) -> Result<(), MailError> {
        match &self.transport {
            Transport::Outbox(_) => Ok(()),
            Transport::Smtp(transport) => match transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(MailError::Transient {
                    reason: "the SMTP server did not answer NOOP".to_owned(),
                }),
                Err(e) => Err(smtp_error(e)),
            },
        }
    }
}

/// A 5xx reply is permanent for this message; everything else (4xx, network, TLS, timeout) is
/// worth retrying.
fn smtp_error(e: lettre::transport::smtp::Error) -> MailError {
    let reason = e.to_string();
    if e.is_permanent() {
        MailError::Rejected { reason }
    } else {
        MailError::Transient { reason }
    }
}
