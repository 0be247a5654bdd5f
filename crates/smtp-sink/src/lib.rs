//! A small, real SMTP server for tests: it listens on 127.0.0.1 (port 0), speaks enough of
//! RFC 5321 for a client such as lettre (EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing,
//! RSET, NOOP, QUIT), and records every accepted message. A test can make it refuse a recipient
//! permanently (550) or defer the next transactions (451).
//!
//! ```no_run
//! # async fn demo() {
//! let sink = smtp_sink::SmtpSink::start().await;
//! sink.reject_recipient("gone@example.com");
//! // ... send through sink.url() ...
//! let received = sink.messages();
//! # }
//! ```

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Largest message the sink accepts; larger ones are answered with 552.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest command or data line accepted (RFC 5321 asks for at least 1000 octets).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One message accepted by the sink (the envelope plus the data as sent, dot-unstuffed, with the
/// client's line endings and without the terminating `.` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

impl ReceivedMessage {
    /// The data as text (lossy for invalid UTF-8), handy in assertions.
    pub fn data_text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMessage>,
    /// Lower-cased addresses answered with 550 at RCPT TO.
    rejected: HashSet<String>,
    /// How many of the next transactions get 451 at MAIL FROM.
    fail_next: usize,
    /// Transactions answered with 451 so far.
    deferred: usize,
}

struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep going with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running SMTP sink. Dropping it stops the server and closes its connections.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on 127.0.0.1 with a port chosen by the system.
    ///
    /// # Panics
    /// When no loopback port can be bound (a broken test environment); use [`SmtpSink::try_start`]
    /// to handle that case.
    pub async fn start() -> SmtpSink {
        match Self::try_start().await {
            Ok(sink) => sink,
            Err(e) => panic!("smtp-sink: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a sink on 127.0.0.1 with a port chosen by the system.
    pub async fn try_start() -> io::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(SmtpSink {
            addr,
            shared,
            server,
        })
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`, as lettre's `from_url` and `SMARTCORE_SMTP_URL` expect.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.shared.lock().messages.clone()
    }

    /// Forgets the messages received so far.
    pub fn clear(&self) {
        self.shared.lock().messages.clear();
    }

    /// Answers `550` to `RCPT TO` for this address (compared case-insensitively) from now on.
    pub fn reject_recipient(&self, addr: &str) {
        self.shared.lock().rejected.insert(addr.to_lowercase());
    }

    /// Answers `451` (a temporary failure) at `MAIL FROM` to the next `n` transactions.
    pub fn fail_next(&self, n: usize) {
        self.shared.lock().fail_next = n;
    }

    /// How many transactions were answered with 451 because of [`SmtpSink::fail_next`].
    pub fn deferred_count(&self) -> usize {
        self.shared.lock().deferred
    }

    /// Waits until at least `count` messages have arrived or `timeout` passed; returns the
    /// messages received by then (for tests whose sender runs in the background).
    pub async fn wait_for_messages(
        &self,
        count: usize,
        timeout: std::time::Duration,
    ) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            {
                let state = self.shared.lock();
                if state.messages.len() >= count {
                    return state.messages.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.messages();
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in the set, so aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(session(stream, Arc::clone(&shared)));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Where a session is in the RFC 5321 command sequence.
#[derive(Default)]
struct Transaction {
    greeted: bool,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Transaction {
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
}

async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> io::Result<Line> {
    let mut buf = Vec::new();
    let mut limited = (&mut *reader).take(MAX_LINE_BYTES as u64);
    let n = limited.read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(Line::Closed);
    }
    if !buf.ends_with(b"\n") {
        if buf.len() >= MAX_LINE_BYTES {
            return Ok(Line::TooLong);
        }
        return Ok(Line::Closed);
    }
    Ok(Line::Text(buf))
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 smtp-sink ESMTP ready\r\n").await?;
    let mut tx = Transaction::default();

    loop {
        let line = match read_line(&mut reader).await? {
            Line::Text(line) => line,
            Line::TooLong => {
                write.write_all(b"500 5.5.2 Line too long\r\n").await?;
                return Ok(());
            }
            Line::Closed => return Ok(()),
        };
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();

        let reply: String = match verb.as_str() {
            "EHLO" => {
                tx.greeted = true;
                tx.reset();
                "250-smtp-sink greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
                    .to_owned()
            }
            "HELO" => {
                tx.greeted = true;
                tx.reset();
                "250 smtp-sink\r\n".to_owned()
            }
            "MAIL" => mail_from(command, &mut tx, &shared),
            "RCPT" => rcpt_to(command, &mut tx, &shared),
            "DATA" => {
                if tx.mail_from.is_none() || tx.rcpt_to.is_empty() {
                    "503 5.5.1 Need MAIL and RCPT before DATA\r\n".to_owned()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let reply = match read_data(&mut reader).await? {
                        Data::Complete(data) => {
                            let message = ReceivedMessage {
                                mail_from: tx.mail_from.take().unwrap_or_default(),
                                rcpt_to: std::mem::take(&mut tx.rcpt_to),
                                data,
                            };
                            shared.lock().messages.push(message);
                            shared.arrived.notify_waiters();
                            "250 2.0.0 OK: queued\r\n".to_owned()
                        }
                        Data::TooLarge => "552 5.3.4 Message too big\r\n".to_owned(),
                        Data::Closed => return Ok(()),
                    };
                    tx.reset();
                    reply
                }
            }
            "RSET" => {
                tx.reset();
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            "" => "500 5.5.2 Empty command\r\n".to_owned(),
            _ => "502 5.5.1 Command not implemented\r\n".to_owned(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The reply to `MAIL FROM:`: the transaction starts, unless a deferral was asked for.
fn mail_from(command: &str, tx: &mut Transaction, shared: &Shared) -> String {
    match path_argument(command, "FROM:") {
        _ if !tx.greeted => "503 5.5.1 Send EHLO or HELO first\r\n".to_owned(),
        _ if tx.mail_from.is_some() => "503 5.5.1 Nested MAIL command\r\n".to_owned(),
        None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_owned(),
        Some(from) => {
            let mut state = shared.lock();
            if state.fail_next > 0 {
                state.fail_next -= 1;
                state.deferred += 1;
                "451 4.3.0 Temporary failure, try again later\r\n".to_owned()
            } else {
                tx.mail_from = Some(from);
                "250 2.1.0 OK\r\n".to_owned()
            }
        }
    }
}

/// The reply to `RCPT TO:`: the recipient is added, unless it is one to reject.
fn rcpt_to(command: &str, tx: &mut Transaction, shared: &Shared) -> String {
    match path_argument(command, "TO:") {
        _ if tx.mail_from.is_none() => "503 5.5.1 Need MAIL before RCPT\r\n".to_owned(),
        None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_owned(),
        Some(to) if to.is_empty() => "501 5.1.3 Empty recipient\r\n".to_owned(),
        Some(to) => {
            if shared.lock().rejected.contains(&to.to_lowercase()) {
                format!("550 5.1.1 <{to}>: Recipient address rejected: no such user\r\n")
            } else {
                tx.rcpt_to.push(to);
                "250 2.1.5 OK\r\n".to_owned()
            }
        }
    }
}

/// The address in `MAIL FROM:<addr> [params]` or `RCPT TO:<addr> [params]`, without brackets.
fn path_argument(command: &str, keyword: &str) -> Option<String> {
    let rest = command.get(4..)?.trim_start();
    let prefix = rest.get(..keyword.len())?;
    if !prefix.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

enum Data {
    Complete(Vec<u8>),
    TooLarge,
    Closed,
}

/// Reads message data up to the `.` line, undoing dot-stuffing (RFC 5321 section 4.5.2).
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> io::Result<Data> {
    let mut data = Vec::new();
    let mut too_large = false;
    loop {
        let line = match read_line(reader).await? {
            Line::Text(line) => line,
            // Keep reading to the end of the data even past an over-long line.
            Line::TooLong => {
                too_large = true;
                continue;
            }
            Line::Closed => return Ok(Data::Closed),
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_large {
                Data::TooLarge
            } else {
                Data::Complete(data)
            });
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > MAX_MESSAGE_BYTES {
            too_large = true;
        }
        if !too_large {
            data.extend_from_slice(unstuffed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_argument_reads_the_address_and_ignores_parameters() {
        assert_eq!(
            path_argument("MAIL FROM:<a@example.com> BODY=8BITMIME", "FROM:"),
            Some("a@example.com".to_owned())
        );
        assert_eq!(
            path_argument("rcpt to: <b@example.com>", "TO:"),
            Some("b@example.com".to_owned())
        );
        assert_eq!(path_argument("MAIL FROM:<>", "FROM:"), Some(String::new()));
        assert_eq!(path_argument("MAIL FROM:a@example.com", "FROM:"), None);
        assert_eq!(path_argument("RCPT FROM:<a@example.com>", "TO:"), None);
    }
}
