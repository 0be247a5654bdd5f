//! The sink's SMTP dialogue, driven by hand over TCP: replies, sequencing, dot-unstuffing,
//! RSET, rejection and deferral.

use std::time::Duration;

use smtp_sink::SmtpSink;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(sink: &SmtpSink) -> Client {
        let stream = TcpStream::connect(sink.addr()).await.expect("connect");
        let (read, writer) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        assert_eq!(client.reply().await, 220);
        client
    }

    /// Reads one (possibly multi-line) reply and returns its code.
    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .expect("read");
            assert!(n > 0, "connection closed");
            let code: u16 = line[..3].parse().expect("a reply code");
            if line.as_bytes()[3] == b' ' {
                return code;
            }
        }
    }

    async fn send(&mut self, raw: &str) {
        self.writer.write_all(raw.as_bytes()).await.expect("write");
    }

    async fn command(&mut self, line: &str) -> u16 {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }
}

#[tokio::test]
async fn url_points_at_the_loopback_port() {
    let sink = SmtpSink::start().await;
    assert!(sink.addr().ip().is_loopback());
    assert_ne!(sink.addr().port(), 0);
    assert_eq!(
        sink.url(),
        format!("smtp://127.0.0.1:{}", sink.addr().port())
    );
}

#[tokio::test]
async fn a_full_transaction_is_recorded_with_dot_unstuffing() {
    let sink = SmtpSink::start().await;
    let mut c = Client::connect(&sink).await;
    assert_eq!(c.command("EHLO client.test").await, 250);
    assert_eq!(c.command("NOOP").await, 250);
    assert_eq!(
        c.command("MAIL FROM:<a@example.com> BODY=8BITMIME").await,
        250
    );
    assert_eq!(c.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.command("rcpt to:<c@example.com>").await, 250);
    assert_eq!(c.command("DATA").await, 354);
    c.send("Subject: hi\r\n\r\n..leading dot\r\n.\r\n").await;
    assert_eq!(c.reply().await, 250);
    assert_eq!(c.command("QUIT").await, 221);

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].mail_from, "a@example.com");
    assert_eq!(messages[0].rcpt_to, ["b@example.com", "c@example.com"]);
    assert_eq!(messages[0].data, b"Subject: hi\r\n\r\n.leading dot\r\n");
    assert_eq!(
        messages[0].data_text(),
        "Subject: hi\r\n\r\n.leading dot\r\n"
    );
}

#[tokio::test]
async fn commands_out_of_order_get_503_and_rset_clears_the_envelope() {
    let sink = SmtpSink::start().await;
    let mut c = Client::connect(&sink).await;
    assert_eq!(
        c.command("MAIL FROM:<a@example.com>").await,
        503,
        "before HELO"
    );
    assert_eq!(c.command("HELO client.test").await, 250);
    assert_eq!(
        c.command("RCPT TO:<b@example.com>").await,
        503,
        "before MAIL"
    );
    assert_eq!(c.command("DATA").await, 503, "before RCPT");
    assert_eq!(
        c.command("MAIL FROM:a@example.com").await,
        501,
        "no brackets"
    );
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 503, "nested");
    assert_eq!(c.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.command("RSET").await, 250);
    assert_eq!(c.command("DATA").await, 503, "RSET dropped the envelope");
    assert_eq!(c.command("VRFY b").await, 502);
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_rejected_recipient_gets_550_and_others_still_go_through() {
    let sink = SmtpSink::start().await;
    sink.reject_recipient("Gone@Example.com");
    let mut c = Client::connect(&sink).await;
    assert_eq!(c.command("EHLO client.test").await, 250);
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(c.command("RCPT TO:<gone@example.com>").await, 550);
    assert_eq!(c.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.command("DATA").await, 354);
    c.send("x\r\n.\r\n").await;
    assert_eq!(c.reply().await, 250);
    assert_eq!(sink.messages()[0].rcpt_to, ["b@example.com"]);
}

#[tokio::test]
async fn fail_next_defers_exactly_that_many_transactions() {
    let sink = SmtpSink::start().await;
    sink.fail_next(2);
    let mut c = Client::connect(&sink).await;
    assert_eq!(c.command("EHLO client.test").await, 250);
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 451);
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 451);
    assert_eq!(c.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(sink.deferred_count(), 2);
}

#[tokio::test]
async fn wait_for_messages_returns_once_they_arrive_or_at_the_deadline() {
    let sink = SmtpSink::start().await;
    let waited = sink.wait_for_messages(1, Duration::from_millis(50)).await;
    assert!(waited.is_empty(), "nothing arrived before the deadline");

    let addr = sink.addr();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, writer) = stream.into_split();
        let mut c = Client {
            reader: BufReader::new(read),
            writer,
        };
        assert_eq!(c.reply().await, 220);
        c.command("HELO x").await;
        c.command("MAIL FROM:<a@example.com>").await;
        c.command("RCPT TO:<b@example.com>").await;
        c.command("DATA").await;
        c.send("late\r\n.\r\n").await;
        c.reply().await
    });
    let arrived = sink.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0].data, b"late\r\n");
    assert_eq!(sender.await.expect("join"), 250);
}

#[tokio::test]
async fn dropping_the_sink_stops_the_server() {
    let sink = SmtpSink::start().await;
    let addr = sink.addr();
    drop(sink);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}
