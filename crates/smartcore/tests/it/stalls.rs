//! Clients that stall: connections that never finish their headers or bodies, kept-alive
//! connections left idle, more connections than the cap, and SIGTERM while clients stall. Real
//! sockets against the real server (in process, or the binary as a child process); SQLite only,
//! as none of this is about the database.

use crate::support::{Backend, TempDir, TestApp};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The start of a request that never finishes its headers.
const PARTIAL_HEADERS: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: stalled.example\r\nX-Pad: ";

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test.example\r\n\r\n";

fn address(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Lets this test process hold `connections` client sockets and the server's side of each.
fn allow_open_files(connections: u64) {
    let now = rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    assert!(
        now >= 2 * connections + 512,
        "the open-files limit ({now}) is too low for {connections} connections and their server side"
    );
}

/// Reads one response (headers and a Content-Length body) from a kept-alive connection;
/// returns its status code.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("a Content-Length"))
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("a status line");
                return status;
            }
        }
        let n = stream.read(&mut chunk).await.expect("read a response");
        assert!(n > 0, "the connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits until the server closes `stream` (EOF or reset), up to `deadline`; returns when.
async fn closed_by(stream: &mut TcpStream, deadline: tokio::time::Instant) -> Option<Instant> {
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            // hyper may answer before closing; keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

/// True while the server has neither closed `stream` nor written to it.
fn still_open(stream: &TcpStream) -> bool {
    let mut chunk = [0u8; 16];
    matches!(stream.try_read(&mut chunk), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_connections_neither_starve_others_nor_stay_open() {
    const STALLED: usize = 1_100;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(4);
    allow_open_files(STALLED as u64);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            (
                "SMARTCORE_HEADER_TIMEOUT_S",
                HEADER_TIMEOUT.as_secs().to_string(),
            ),
            // Every connection here comes from 127.0.0.1: the per-client share is tested on
            // its own (`one_client_holds_at_most_its_share_of_the_connections`).
            ("SMARTCORE_MAX_CONNECTIONS_PER_CLIENT", "10000".to_owned()),
        ],
    )
    .await
    .expect("SQLite");
    let (org, token) = app.org_with_admin("Stalled").await;
    let addr = address(&app);

    let started = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(PARTIAL_HEADERS)
            .await
            .expect("send part of a request");
        stalled.push((s, Instant::now()));
    }
    let opened = started.elapsed();

    // A normal client, on new connections each time, is answered while they are all held.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let r = fresh
            .get(format!("{}/healthz", app.base_url))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .expect("/healthz answered within 3 s while 1,100 connections stall");
        assert_eq!(r.status(), 200);
        let r = fresh
            .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .expect("the API answered within 3 s while 1,100 connections stall");
        assert_eq!(r.status(), 200);
        slowest = slowest.max(t.elapsed());
    }
    let held = stalled.iter().filter(|(s, _)| still_open(s)).count();
    let answered_by = started.elapsed();
    eprintln!(
        "{STALLED} stalled connections opened in {opened:?}; slowest healthy pair of answers {slowest:?}; \
         {held} still open at {answered_by:?}"
    );
    if answered_by < HEADER_TIMEOUT - Duration::from_millis(500) {
        assert_eq!(
            held, STALLED,
            "stalled connections closed before their timeout"
        );
    }

    // Then the header timeout closes every one of them: not before it, and not long after.
    let deadline = tokio::time::Instant::now() + HEADER_TIMEOUT + Duration::from_secs(8);
    let mut earliest = Duration::MAX;
    let mut latest = Duration::ZERO;
    for (s, since) in &mut stalled {
        let at = closed_by(s, deadline)
            .await
            .expect("a stalled connection is closed within the header timeout and 8 s");
        earliest = earliest.min(at - *since);
        latest = latest.max(at - *since);
    }
    eprintln!("stalled connections closed {earliest:?} to {latest:?} after they opened");
    assert!(
        earliest >= HEADER_TIMEOUT - Duration::from_millis(500),
        "closed after {earliest:?}, before the header timeout"
    );

    // And the service goes on.
    let r = fresh
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("SMARTCORE_HEADER_TIMEOUT_S", TIMEOUT.as_secs().to_string())],
    )
    .await
    .expect("SQLite");
    let mut s = TcpStream::connect(address(&app)).await.unwrap();
    // Two requests on one connection: it is kept alive.
    for _ in 0..2 {
        s.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut s).await, 200);
    }
    let idle_since = Instant::now();
    let closed = closed_by(
        &mut s,
        tokio::time::Instant::now() + TIMEOUT + Duration::from_secs(4),
    )
    .await
    .expect("the idle connection is closed within the idle timeout and 4 s");
    let idle = closed - idle_since;
    eprintln!("idle keep-alive connection closed after {idle:?}");
    assert!(
        idle >= TIMEOUT - Duration::from_millis(500),
        "closed after {idle:?}, before the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_open_connections_are_served_and_new_ones_wait() {
    const CAP: usize = 20;
    const TIMEOUT: Duration = Duration::from_secs(3);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("SMARTCORE_HEADER_TIMEOUT_S", TIMEOUT.as_secs().to_string()),
            ("SMARTCORE_MAX_CONNECTIONS", CAP.to_string()),
            ("SMARTCORE_MAX_CONNECTIONS_PER_CLIENT", CAP.to_string()),
        ],
    )
    .await
    .expect("SQLite");
    let addr = address(&app);
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut kept).await, 200);

    let mut stalled = Vec::new();
    for _ in 1..CAP {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(PARTIAL_HEADERS).await.unwrap();
        stalled.push(s);
    }
    // Past the cap: the kernel completes the handshake, the server does not take it up yet.
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting.write_all(HEALTHZ).await.unwrap();
    let waiting_since = Instant::now();

    // A connection already open is still answered, at once.
    kept.write_all(HEALTHZ).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), read_response(&mut kept))
        .await
        .expect("a kept-alive connection answered at the cap");

    let mut first = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), waiting.peek(&mut first))
            .await
            .is_err(),
        "a connection past the cap was served"
    );
    // Once the stalled ones time out, the waiting one is served.
    let status = tokio::time::timeout(
        TIMEOUT + Duration::from_secs(5),
        read_response(&mut waiting),
    )
    .await
    .expect("the waiting connection is served once slots free up");
    assert_eq!(status, 200);
    eprintln!(
        "the connection past the cap was answered after {:?}",
        waiting_since.elapsed()
    );
}

/// The binary as a child process, killed if the test fails before it exits.
struct Service {
    child: Child,
    _dir: TempDir,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Service {
    /// Starts `smartcore serve` on a free port with a fresh SQLite database; returns it and its
    /// address once it is serving.
    fn start(extra: &[(&str, &str)]) -> (Service, String) {
        let dir = TempDir::new("sigterm");
        let mut command = Command::new(env!("CARGO_BIN_EXE_smartcore"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("SMARTCORE_CONFIG")
            .env(
                "SMARTCORE_DATABASE_URL",
                format!("sqlite://{}/smartcore.db", dir.0.display()),
            )
            .env("SMARTCORE_OUTBOX_DIR", dir.0.join("outbox"))
            .env("SMARTCORE_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start smartcore serve");
        let pipe = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut service = Service {
            child,
            _dir: dir,
            stderr: rx,
        };
        let address = service
            .wait_for_log("serving", Duration::from_secs(30))
            .and_then(|line| line["fields"]["address"].as_str().map(str::to_owned))
            .expect("the service logs its address");
        (service, address)
    }

    fn wait_for_log(&mut self, message: &str, within: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = self.stderr.recv_timeout(left).ok()?;
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                && json["fields"]["message"] == message
            {
                return Some(json);
            }
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_stalled_clients_finishes_within_the_grace() {
    const GRACE: Duration = Duration::from_secs(2);
    let (mut service, addr) = Service::start(&[("SMARTCORE_SHUTDOWN_GRACE_S", "2")]);

    // A kept-alive idle connection, one that never finishes its headers, one whose body never
    // comes, and one request under way that finishes after SIGTERM.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut idle).await, 200);
    let mut headers = TcpStream::connect(&addr).await.unwrap();
    headers.write_all(PARTIAL_HEADERS).await.unwrap();
    let form = b"email=nobody%40example.com&password=not+the+password";
    let post = format!(
        "POST /sign-in HTTP/1.1\r\nHost: test.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    let mut body = TcpStream::connect(&addr).await.unwrap();
    body.write_all(post.as_bytes()).await.unwrap();
    body.write_all(&form[..5]).await.unwrap();
    let mut under_way = TcpStream::connect(&addr).await.unwrap();
    under_way.write_all(post.as_bytes()).await.unwrap();
    under_way.write_all(&form[..5]).await.unwrap();
    // Waits until the server has taken every connection up: it accepts them in the order they
    // came, one at a time, so once a connection opened after them is answered, each of them
    // was accepted and is the server's to finish or close.
    let mut probe = TcpStream::connect(&addr).await.unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let probed = tokio::time::timeout(Duration::from_secs(5), read_response(&mut probe))
        .await
        .expect("a connection opened after the stalled ones is answered");
    assert_eq!(probed, 200);
    drop(probe);

    let sent = Instant::now();
    // SAFETY: kill(2) with the pid of our own child process.
    let rc = unsafe { libc::kill(service.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "send SIGTERM");
    assert!(
        service
            .wait_for_log(
                "stopped accepting; finishing the requests under way",
                Duration::from_secs(3)
            )
            .is_some(),
        "the service starts shutting down on SIGTERM"
    );

    // The request under way is still answered during the grace.
    under_way.write_all(&form[5..]).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(2), read_response(&mut under_way))
        .await
        .expect("the request under way is answered during the grace");
    assert!((200..500).contains(&status), "status {status}");
    // The idle connection is closed at once.
    assert!(
        closed_by(
            &mut idle,
            tokio::time::Instant::now() + Duration::from_secs(1)
        )
        .await
        .is_some(),
        "the idle connection is closed on shutdown"
    );

    let exited = loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            break Some((status, sent.elapsed()));
        }
        if sent.elapsed() > GRACE + Duration::from_secs(4) {
            break None;
        }
        // Real time: the process exits on its own, within the grace.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (status, took) = exited.expect("the service exits within the grace and 4 s");
    eprintln!("exited {took:?} after SIGTERM, with {status}");
    assert!(status.success(), "exit status {status}");
    // The last log line says the shutdown is over.
    let mut last = None;
    while let Ok(line) = service.stderr.recv_timeout(Duration::from_secs(1)) {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            last = Some(json["fields"]["message"].clone());
        }
    }
    assert_eq!(
        last,
        Some(serde_json::json!("stopped")),
        "the last log line"
    );
    assert!(
        took >= GRACE - Duration::from_millis(300),
        "exited after {took:?}: the stalled body was not given the grace"
    );
    for s in [&mut headers, &mut body] {
        assert!(
            closed_by(s, tokio::time::Instant::now() + Duration::from_secs(1))
                .await
                .is_some(),
            "a stalled connection is closed when the service exits"
        );
    }
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "nothing listens after exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_is_cut_off_at_the_body_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("SMARTCORE_BODY_TIMEOUT_S", TIMEOUT.as_secs().to_string())],
    )
    .await
    .expect("SQLite");
    let mut s = TcpStream::connect(address(&app)).await.unwrap();
    s.write_all(
        b"POST /sign-in HTTP/1.1\r\nHost: test.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
    )
    .await
    .unwrap();
    let since = Instant::now();
    let mut first = [0u8; 64];
    let n = tokio::time::timeout(TIMEOUT + Duration::from_secs(4), s.read(&mut first))
        .await
        .expect("the server answers or closes within the body timeout and 4 s")
        .unwrap_or(0);
    let after = since.elapsed();
    let head = String::from_utf8_lossy(&first[..n]);
    eprintln!("a stalled body was cut off after {after:?}: {head:?}");
    assert!(
        after >= TIMEOUT - Duration::from_millis(300),
        "cut off after {after:?}, before the body timeout"
    );
    assert!(
        n == 0 || head.starts_with("HTTP/1.1 4"),
        "a stalled body is refused: {head:?}"
    );
    // The server closes it afterwards: the rest of the body is never awaited.
    assert!(
        closed_by(&mut s, tokio::time::Instant::now() + Duration::from_secs(3))
            .await
            .is_some(),
        "the connection is closed after a body timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_open_files_does_not_end_the_accept_loop() {
    // Lowering the open-files limit is only safe where this test has its process to itself.
    if std::env::var("NEXTEST_EXECUTION_MODE").as_deref() != Ok("process-per-test") {
        eprintln!("skipped: needs a process of its own (cargo nextest)");
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    let addr = address(&app);
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    rlimit::Resource::NOFILE.set(open + 40, hard).unwrap();
    let mut held = Vec::new();
    let mut ran_out = false;
    for _ in 0..200 {
        match TcpStream::connect(&addr).await {
            Ok(s) => held.push(s),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                ran_out = true;
                break;
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    // Let the server's accepts meet the limit too (real time: its accept loop runs on its own).
    // Left as a fixed wait: what it waits for, an accept failing with EMFILE, shows only as a
    // log line inside the server, and nothing the test can read says it happened.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(held);
    rlimit::Resource::NOFILE.set(soft, hard).unwrap();
    assert!(ran_out, "the process never ran out of open files");
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new()
            .get(format!("{}/healthz", app.base_url))
            .send(),
    )
    .await
    .expect("answered within 5 s of files freeing up")
    .expect("GET /healthz");
    assert_eq!(r.status(), 200);
}

/// How one request on a kept-alive connection ended.
enum Ended {
    /// A whole response (status line, headers, the Content-Length body).
    Answered,
    /// The connection closed before any byte of a response: the server closed it between
    /// requests (allowed only once shutdown began).
    ClosedBeforeAnswer,
    /// Part of a response, then the connection closed: a request cut off.
    CutOff,
}

/// Sends `request` on `stream` and reads its response to the end.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Ended {
    if stream.write_all(request).await.is_err() {
        return Ended::ClosedBeforeAnswer;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ended::Answered;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ if buf.is_empty() => return Ended::ClosedBeforeAnswer,
            _ => return Ended::CutOff,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_cuts_off_no_request() {
    // Eight clients, each on one kept-alive connection, send requests back to back (a database
    // write through /readyz, and /healthz) while the service gets SIGTERM. No response is ever
    // cut off; a connection is closed only once shutdown began, and only between requests;
    // the service exits 0 within the grace.
    let (mut service, addr) = Service::start(&[("SMARTCORE_SHUTDOWN_GRACE_S", "5")]);
    const READYZ: &[u8] = b"GET /readyz HTTP/1.1\r\nHost: test.example\r\n\r\n";
    let signalled: std::sync::Arc<std::sync::OnceLock<Instant>> = Default::default();
    // Each client's answered requests so far, for the wait before the signal.
    let progress: std::sync::Arc<[std::sync::atomic::AtomicU32; 8]> = Default::default();
    let mut clients = Vec::new();
    for client in 0..8 {
        let addr = addr.clone();
        let signalled = signalled.clone();
        let progress = progress.clone();
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr)
                .await
                .expect("connect before shutdown");
            let (mut answered, mut late_closes, mut early_closes, mut cut_off) =
                (0u32, 0u32, 0u32, 0u32);
            for i in 0u32.. {
                let request = if (i + client) % 2 == 0 {
                    READYZ
                } else {
                    HEALTHZ
                };
                let sent = Instant::now();
                match exchange(&mut stream, request).await {
                    Ended::Answered => {
                        answered += 1;
                        progress[client as usize].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ended::CutOff => cut_off += 1,
                    Ended::ClosedBeforeAnswer => {
                        // Closed between requests: fine once the signal was sent, not before.
                        match signalled.get() {
                            Some(at) if sent >= *at => late_closes += 1,
                            _ => early_closes += 1,
                        }
                        break;
                    }
                }
            }
            (answered, late_closes, early_closes, cut_off)
        }));
    }
    // The load runs before the signal: every client has had 20 requests answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while progress
        .iter()
        .any(|n| n.load(std::sync::atomic::Ordering::SeqCst) < 20)
    {
        assert!(Instant::now() < deadline, "the load did not get going");
        // Real time: the clients and the service run on their own.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Marked just before the signal goes: a connection the server closes between requests
    // from here on is closed by the shutdown (a client retries such a request on a new
    // connection, as HTTP/1.1 clients do); what may never happen is a response cut off.
    signalled.set(Instant::now()).unwrap();
    // SAFETY: kill(2) with the pid of our own child process.
    let rc = unsafe { libc::kill(service.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "send SIGTERM");
    let sent = Instant::now();
    let mut totals = (0, 0, 0, 0);
    for client in clients {
        let (a, l, e, c) = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .expect("every client's connection ends after SIGTERM")
            .unwrap();
        totals = (totals.0 + a, totals.1 + l, totals.2 + e, totals.3 + c);
    }
    let exited = loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            break Some((status, sent.elapsed()));
        }
        if sent.elapsed() > Duration::from_secs(9) {
            break None;
        }
        // Real time: the process exits on its own, within the grace.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (answered, late_closes, early_closes, cut_off) = totals;
    eprintln!(
        "under load: {answered} requests answered in full, {late_closes} connections closed between requests after SIGTERM, {early_closes} before, {cut_off} cut off"
    );
    let (status, took) = exited.expect("the service exits within the grace and 4 s");
    eprintln!("exited {took:?} after SIGTERM, with {status}");
    assert!(status.success(), "exit status {status}");
    assert!(answered > 100, "the load ran: {answered} requests");
    assert_eq!(cut_off, 0, "no response was cut off");
    assert_eq!(
        early_closes, 0,
        "no connection was closed before shutdown began"
    );
    assert_eq!(
        late_closes, 8,
        "every connection was closed once, between requests"
    );
}

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef";

/// Issue 24: one client (one address; IPv6 by its /64) holds at most its share of the
/// connection cap; a connection past it is closed at once, and other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_the_connections() {
    const SHARE: usize = 5;
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("SMARTCORE_MAX_CONNECTIONS", "50".to_owned()),
            ("SMARTCORE_MAX_CONNECTIONS_PER_CLIENT", SHARE.to_string()),
            ("SMARTCORE_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ],
    )
    .await
    .expect("SQLite");
    let addr: std::net::SocketAddr = address(&app).parse().unwrap();
    let from = |ip: &str| {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
            socket.connect(addr).await.unwrap()
        }
    };
    let mut hog = Vec::new();
    for _ in 0..SHARE {
        let mut s = from("127.0.0.2").await;
        s.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut s).await, 200);
        hog.push(s);
    }
    // One more from the same client: closed without an answer.
    let mut extra = from("127.0.0.2").await;
    let _ = extra.write_all(HEALTHZ).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "served past its share: {read:?}"
    );
    // Another client is served meanwhile, and the refusal is counted in /metrics.
    let mut other = from("127.0.0.3").await;
    other.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut other).await, 200);
    let metrics = app
        .request(reqwest::Method::GET, "/metrics", Some(METRICS_TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "smartcore_limit_refusals_total{limit=\"connections_per_client\"} 1"),
        "one refusal counted: {metrics}"
    );
    // A connection closed gives its place back.
    drop(hog.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = from("127.0.0.2").await;
        let _ = again.write_all(HEALTHZ).await;
        let mut head = [0u8; 12];
        let read = tokio::time::timeout(Duration::from_secs(2), again.read(&mut head)).await;
        if matches!(read, Ok(Ok(12))) && &head == b"HTTP/1.1 200" {
            break;
        }
        assert!(Instant::now() < deadline, "the place was not given back");
        // Real time: the server notices the closed connection on its own.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
