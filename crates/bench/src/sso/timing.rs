//! The measuring: percentiles, this process's CPU time, and concurrent clients taking the next
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where verify's time goes, single thread, per Response (each a p50 over the run).
#[derive(Default)]
pub(super) struct Breakdown {
    pub(super) verify: Vec<Duration>,
    pub(super) signature_only: Vec<Duration>,
    pub(super) crypto: Vec<Duration>,
    pub(super) parse: Vec<Duration>,
    pub(super) c14n: Vec<Duration>,
    pub(super) certificate: Vec<Duration>,
}

pub(super) fn p50(v: &mut [Duration]) -> Duration {
    v.sort();
    percentile(v, 50.0)
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time (user + system) this process has used so far: the service and its clients.
pub(super) fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with an owned out-parameter.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `requests` from `clients` concurrent clients, each taking the next index; returns the
/// latencies and the wall time.
pub(super) async fn drive<F, Fut, T>(
    clients: usize,
    requests: usize,
    one: F,
) -> anyhow::Result<(Vec<Duration>, Duration, Vec<(usize, T)>)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
    T: Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, one) = (next.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return anyhow::Ok(seen);
                }
                let t = Instant::now();
                let out = one(i).await?;
                seen.push((t.elapsed(), i, out));
            }
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut outputs = Vec::with_capacity(requests);
    for task in tasks {
        for (d, i, out) in task.await?? {
            latencies.push(d);
            outputs.push((i, out));
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    Ok((latencies, wall, outputs))
}
