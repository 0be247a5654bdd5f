//! A tiny authoritative DNS server on loopback, for tests: it answers TXT queries from an
//! in-memory map that the test changes while the server runs.
//!
//! The same port serves UDP and TCP (two-byte length framing); messages are encoded and decoded
//! with `hickory-proto`. Unknown names get NXDOMAIN with an SOA in the authority section (so a
//! resolver would cache the negative answer, which is what our verifier must not do); a known name
//! queried for another type gets an empty NOERROR answer (NODATA).
//!
//! ```no_run
//! # async fn demo() {
//! let dns = dns_fake::DnsFake::start().await;
//! dns.set_txt("_smartcore-challenge.example.com", vec!["smartcore-verification=abc".into()]);
//! let server = dns.addr(); // hand this to the resolver under test
//! # let _ = server;
//! # }
//! ```

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Time to live of the answers and of the negative answers (SOA minimum) the server gives.
pub const TTL_SECONDS: u32 = 300;

/// What the fake answers for one name.
#[derive(Clone, Debug)]
enum Entry {
    /// TXT records, each made of one or more character-strings.
    Txt(Vec<Vec<String>>),
    /// Answer SERVFAIL, as a broken authoritative server would.
    ServFail,
}

#[derive(Default)]
struct State {
    entries: Mutex<HashMap<String, Entry>>,
    queries: AtomicU64,
}

impl State {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake DNS server. Dropping it (or calling [`DnsFake::stop`]) stops the server.
pub struct DnsFake {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

fn key(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl DnsFake {
    /// Starts the server on 127.0.0.1 on a free port, UDP and TCP on the same port number.
    ///
    /// # Panics
    /// When no loopback port can be bound (this is a test helper).
    pub async fn start() -> DnsFake {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("bound UDP socket has an address");
        let state = Arc::new(State::default());
        let udp_task = tokio::spawn(serve_udp(udp, state.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, state.clone()));
        DnsFake {
            addr,
            state,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// The address (127.0.0.1 and port) to send queries to, over UDP or TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes `values` as TXT records of `name`, one record per value, replacing what was there.
    pub fn set_txt(&self, name: &str, values: Vec<String>) {
        let records = values.into_iter().map(|v| vec![v]).collect();
        self.set_txt_records(name, records);
    }

    /// Publishes TXT records of `name` where each record is made of several character-strings
    /// (as DNS does for values longer than 255 bytes), replacing what was there.
    pub fn set_txt_records(&self, name: &str, records: Vec<Vec<String>>) {
        self.state.entries().insert(key(name), Entry::Txt(records));
    }

    /// Makes the server answer SERVFAIL for `name`.
    pub fn set_servfail(&self, name: &str) {
        self.state.entries().insert(key(name), Entry::ServFail);
    }

    /// Forgets `name`: it is answered with NXDOMAIN from now on.
    pub fn clear(&self, name: &str) {
        self.state.entries().remove(&key(name));
    }

    /// How many queries the server has received (UDP and TCP), e.g. to prove no cache answered.
    pub fn query_count(&self) -> u64 {
        self.state.queries.load(Ordering::SeqCst)
    }

    /// Stops answering: the sockets are closed, so later queries time out or are refused.
    pub fn stop(mut self) {
        self.abort_all();
    }

    fn abort_all(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for DnsFake {
    fn drop(&mut self) {
        self.abort_all();
    }
}

async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind UDP on loopback");
        let port = udp.local_addr().expect("UDP address").port();
        if let Ok(tcp) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP after 50 attempts");
}

async fn serve_udp(socket: UdpSocket, state: Arc<State>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&buf[..len], &state) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(stream, state.clone()));
    }
}

async fn serve_tcp_connection(mut stream: TcpStream, state: Arc<State>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Some(reply) = answer(&buf, &state) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        if stream.write_u16(reply_len).await.is_err() || stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Builds the encoded reply to one encoded query; `None` when the query cannot be decoded.
fn answer(request: &[u8], state: &State) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    state.queries.fetch_add(1, Ordering::SeqCst);
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.authoritative = true;
    let Some(query) = request.queries.first().cloned() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response.to_vec().ok();
    };
    response.add_query(query.clone());
    let name = query.name().clone();
    let entry = state.entries().get(&key(&name.to_ascii())).cloned();
    match entry {
        None => {
            response.metadata.response_code = ResponseCode::NXDomain;
            response.add_authority(soa_record(&name));
        }
        Some(Entry::ServFail) => {
            response.metadata.response_code = ResponseCode::ServFail;
        }
        Some(Entry::Txt(records)) => {
            if query.query_type() == RecordType::TXT {
                for strings in records {
                    response.add_answer(Record::from_rdata(
                        name.clone(),
                        TTL_SECONDS,
                        RData::TXT(TXT::new(strings)),
                    ));
                }
            } else {
                response.add_authority(soa_record(&name));
            }
        }
    }
    response.to_vec().ok()
}

fn soa_record(name: &Name) -> Record {
    let zone = name.base_name();
    let soa = SOA::new(
        Name::from_ascii("ns.fake.test.").unwrap_or_else(|_| Name::root()),
        Name::from_ascii("hostmaster.fake.test.").unwrap_or_else(|_| Name::root()),
        1,
        3600,
        600,
        86400,
        TTL_SECONDS,
    );
    Record::from_rdata(zone, TTL_SECONDS, RData::SOA(soa))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask_udp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let mut query = Message::query();
        query.add_query(hickory_proto::op::Query::query(
            Name::from_ascii(name).unwrap(),
            rtype,
        ));
        socket
            .send_to(&query.to_vec().unwrap(), addr)
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let (len, _) = socket.recv_from(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(reply.metadata.id, query.metadata.id);
        reply
    }

    fn txt_strings(reply: &Message) -> Vec<Vec<String>> {
        reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn answers_txt_nxdomain_and_changes_while_running() {
        let dns = DnsFake::start().await;
        let reply = ask_udp(dns.addr(), "a.example.", RecordType::TXT).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(reply.authorities.len(), 1, "NXDOMAIN carries an SOA");

        dns.set_txt("A.Example", vec!["one".into(), "two".into()]);
        let reply = ask_udp(dns.addr(), "a.example.", RecordType::TXT).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            txt_strings(&reply),
            vec![vec!["one".to_string()], vec!["two".to_string()]]
        );

        let reply = ask_udp(dns.addr(), "a.example.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty(), "NODATA for another type");

        dns.set_txt_records("a.example", vec![vec!["x".into(), "y".into()]]);
        let reply = ask_udp(dns.addr(), "a.example.", RecordType::TXT).await;
        assert_eq!(
            txt_strings(&reply),
            vec![vec!["x".to_string(), "y".to_string()]]
        );

        dns.set_servfail("a.example");
        let reply = ask_udp(dns.addr(), "a.example.", RecordType::TXT).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

        dns.clear("a.example.");
        let reply = ask_udp(dns.addr(), "a.example.", RecordType::TXT).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(dns.query_count(), 6);
    }

    #[tokio::test]
    async fn answers_over_tcp() {
        let dns = DnsFake::start().await;
        dns.set_txt("t.example", vec!["over-tcp".into()]);
        let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
        let mut query = Message::query();
        query.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("t.example.").unwrap(),
            RecordType::TXT,
        ));
        let bytes = query.to_vec().unwrap();
        stream.write_u16(bytes.len() as u16).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf).unwrap();
        assert_eq!(txt_strings(&reply), vec![vec!["over-tcp".to_string()]]);
    }
}
