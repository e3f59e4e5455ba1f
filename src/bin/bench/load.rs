//! The load generator: N workers on this process's tokio runtime, each with its own reqwest
//! client and so its own keep-alive connection, sending the next request as soon as the last
//! answer has been read (a closed loop). Only operations that start inside the measured
//! window count; each one's latency is kept (in µs) for exact percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

use crate::Cell;
use crate::fixtures::{COOKIE as BROWSER_COOKIE, Prepared, Tokens};
use crate::servers::{Perf, PerfRecord, Server};

/// What a cell drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /` on the bare handler.
    Bare,
    /// `GET /prompt?state=…&session_token=…` (expects the 303 to the prompt).
    Prompt,
    /// `POST /p/{id}` of a valid answer to a pending prompt (expects the continue page).
    Post,
    /// What a user's browser does: `GET /prompt`, `GET /p/{id}`, `POST /p/{id}`.
    Trip,
}

impl Workload {
    /// Short name (CLI and JSON).
    pub fn key(self) -> &'static str {
        match self {
            Workload::Bare => "bare",
            Workload::Prompt => "prompt",
            Workload::Post => "post",
            Workload::Trip => "trip",
        }
    }

    /// Name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Bare => "bare GET /",
            Workload::Prompt => "GET /prompt",
            Workload::Post => "POST answer",
            Workload::Trip => "round trip",
        }
    }
}

/// Warm-up and measured time of a cell.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load applied, not measured.
    pub warmup: Duration,
    /// Measured.
    pub duration: Duration,
}

/// What the Interlude workloads need.
pub struct Data {
    /// One session token per bench user.
    pub tokens: Tokens,
    /// Pending prompts for the POST workload.
    pub prepared: Option<Vec<Prepared>>,
}

/// What a cell measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Operations completed without error in the window.
    pub ops: u64,
    /// Operations that failed in the window.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Length of the window (shorter when the POST pool ran out).
    pub secs: f64,
    /// Latencies of the successful operations, µs, sorted.
    pub latencies_us: Vec<u32>,
    /// Server CPU time (user + system) in the window.
    pub server_cpu: Option<Duration>,
    /// Load generator CPU time in the window.
    pub generator_cpu: Option<Duration>,
    /// CPU time of everything else on the machine in the window.
    pub others_cpu: Option<Duration>,
    /// CPU time the hypervisor took away in the window (all cores).
    pub steal: Option<Duration>,
    /// The server's peak RSS, KiB.
    pub peak_rss_kib: Option<u64>,
    /// The POST pool ran out before the window ended.
    pub ended_early: bool,
}

struct Shared {
    base: String,
    workload: Workload,
    tokens: Vec<String>,
    prepared: Vec<Prepared>,
    next_prepared: AtomicUsize,
    states: AtomicU64,
    run: String,
    measure_from: Instant,
    end: Instant,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    exhausted_at: Option<Instant>,
}

enum OpError {
    Failed(String),
    Exhausted,
}

impl<E: std::fmt::Display> From<E> for OpError {
    fn from(e: E) -> Self {
        OpError::Failed(e.to_string())
    }
}

fn fail(msg: impl Into<String>) -> OpError {
    OpError::Failed(msg.into())
}

/// Runs `cell` against `server` and measures it.
pub async fn drive(
    cell: &Cell,
    server: &Server,
    data: Option<Data>,
    timing: Timing,
    perf: Option<Perf>,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let end = measure_from + timing.duration;
    let (tokens, prepared) = match data {
        Some(d) => (d.tokens.0, d.prepared.unwrap_or_default()),
        None => (Vec::new(), Vec::new()),
    };
    let shared = Arc::new(Shared {
        base: server.base.clone(),
        workload: cell.workload,
        tokens,
        prepared,
        next_prepared: AtomicUsize::new(0),
        states: AtomicU64::new(0),
        run: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        measure_from,
        end,
    });
    let mut workers = Vec::with_capacity(cell.concurrency);
    for w in 0..cell.concurrency {
        let shared = Arc::clone(&shared);
        workers.push(tokio::spawn(worker(shared, w as u64)));
    }

    tokio::time::sleep_until(measure_from.into()).await;
    let server_cpu_0 = server.cpu_time();
    let gen_cpu_0 = crate::servers::cpu_time("/proc/self/stat");
    let busy_0 = crate::servers::machine_busy();
    let steal_0 = crate::servers::machine_steal();
    let recording = match &perf {
        Some(p) => Some(PerfRecord::start(p, server.pid())?),
        None => None,
    };
    tokio::time::sleep_until(end.into()).await;
    let server_cpu_1 = server.cpu_time();
    let gen_cpu_1 = crate::servers::cpu_time("/proc/self/stat");
    let busy_1 = crate::servers::machine_busy();
    let steal_1 = crate::servers::machine_steal();
    if let Some(r) = recording {
        r.stop();
    }

    let mut outcome = Outcome::default();
    let mut exhausted_at: Option<Instant> = None;
    for w in workers {
        let r = w.await.context("a load worker failed")?;
        outcome.ops += r.latencies_us.len() as u64;
        outcome.latencies_us.extend(r.latencies_us);
        outcome.errors += r.errors;
        if outcome.first_error.is_none() {
            outcome.first_error = r.first_error;
        }
        if let Some(t) = r.exhausted_at {
            exhausted_at = Some(exhausted_at.map_or(t, |e| e.min(t)));
        }
    }
    outcome.latencies_us.sort_unstable();
    let window_end = exhausted_at.map_or(end, |t| t.clamp(measure_from, end));
    outcome.ended_early = window_end < end;
    outcome.secs = window_end.duration_since(measure_from).as_secs_f64();
    outcome.server_cpu = server_cpu_0
        .zip(server_cpu_1)
        .map(|(a, b)| b.saturating_sub(a));
    outcome.generator_cpu = gen_cpu_0.zip(gen_cpu_1).map(|(a, b)| b.saturating_sub(a));
    outcome.steal = steal_0.zip(steal_1).map(|(a, b)| b.saturating_sub(a));
    outcome.others_cpu = busy_0.zip(busy_1).map(|(a, b)| {
        b.saturating_sub(a)
            .saturating_sub(outcome.server_cpu.unwrap_or_default())
            .saturating_sub(outcome.generator_cpu.unwrap_or_default())
    });
    outcome.peak_rss_kib = server.peak_rss_kib();
    Ok(outcome)
}

async fn worker(shared: Arc<Shared>, seed: u64) -> WorkerResult {
    let mut result = WorkerResult::default();
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .http1_only()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            result.errors += 1;
            result.first_error = Some(e.to_string());
            return result;
        }
    };
    // xorshift64*: which bench user logs in next.
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    loop {
        let t0 = Instant::now();
        if t0 >= shared.end {
            break;
        }
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        let pick = rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let r = match shared.workload {
            Workload::Bare => bare(&client, &shared).await,
            Workload::Prompt => prompt(&client, &shared, pick).await.map(|_| ()),
            Workload::Post => post(&client, &shared).await,
            Workload::Trip => trip(&client, &shared, pick).await,
        };
        let elapsed = t0.elapsed();
        let measured = t0 >= shared.measure_from;
        match r {
            Ok(()) if measured => result
                .latencies_us
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
            Ok(()) => {}
            Err(OpError::Exhausted) => {
                result.exhausted_at = Some(t0);
                break;
            }
            Err(OpError::Failed(e)) => {
                if measured {
                    result.errors += 1;
                    result.first_error.get_or_insert(e);
                } else {
                    // Failures while warming up are reported too, but not counted.
                    result.first_error.get_or_insert(format!("(warm-up) {e}"));
                }
                // Do not spin on a server that refuses everything.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    result
}

/// Interlude runs behind a proxy here (`INTERLUDE_TRUST_FORWARDED_FOR`), so each bench user
/// comes from an address of its own, as real users do, and the per-IP rate limit applies
/// per user rather than to the whole load generator.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Bench user `n`'s address.
fn user_ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

async fn bare(client: &reqwest::Client, shared: &Shared) -> Result<(), OpError> {
    let r = client.get(format!("{}/", shared.base)).send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    if status != reqwest::StatusCode::OK || body.is_empty() {
        return Err(fail(format!("bare: {status}")));
    }
    Ok(())
}

/// splitmix64's finalizer: a bijection on u64 whose outputs look random.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `GET /prompt`: returns the prompt's path and the browser cookie set.
async fn prompt(
    client: &reqwest::Client,
    shared: &Shared,
    pick: u64,
) -> Result<(String, String, u64), OpError> {
    let n = shared.tokens.len().max(1) as u64;
    let user = pick % n;
    let token = shared
        .tokens
        .get(usize::try_from(user)?)
        .ok_or_else(|| fail("no tokens"))?;
    // An IdP's states are random strings: each lands on a page of its own in the state
    // index, as in production (a counter would append every one to the same page). The
    // mix is a bijection of the counter, so each is still new; the run's id keeps them new
    // across runs on one database.
    let state = format!(
        "{:016x}{}",
        mix(shared.states.fetch_add(1, Ordering::Relaxed)),
        shared.run
    );
    let r = client
        .get(format!(
            "{}/prompt?state={state}&session_token={token}",
            shared.base
        ))
        .header(FORWARDED_FOR, user_ip(user))
        .send()
        .await?;
    let status = r.status();
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(BROWSER_COOKIE)?.strip_prefix('='))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let body = r.bytes().await?;
    if status != reqwest::StatusCode::SEE_OTHER || !location.starts_with("/p/") {
        return Err(fail(format!(
            "GET /prompt: {status} to `{location}`: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    Ok((location, cookie, user))
}

async fn answer(
    client: &reqwest::Client,
    shared: &Shared,
    user: u64,
    path: &str,
    cookie: &str,
    csrf: &str,
) -> Result<(), OpError> {
    let r = client
        .post(format!("{}{path}", shared.base))
        .header(FORWARDED_FOR, user_ip(user))
        .header(COOKIE, format!("{BROWSER_COOKIE}={cookie}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "_csrf={csrf}&_action=submit&given_name=Ada&family_name=Lovelace&company_size=11-200"
        ))
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    if status != reqwest::StatusCode::OK || !body.contains("name=\"session_token\"") {
        return Err(fail(format!(
            "POST {path}: {status}: {}",
            body.chars().take(200).collect::<String>()
        )));
    }
    Ok(())
}

async fn post(client: &reqwest::Client, shared: &Shared) -> Result<(), OpError> {
    let k = shared.next_prepared.fetch_add(1, Ordering::Relaxed);
    let p = shared.prepared.get(k).ok_or(OpError::Exhausted)?;
    answer(
        client,
        shared,
        p.user,
        &format!("/p/{}", p.prompt),
        &p.cookie,
        &p.csrf,
    )
    .await
}

async fn trip(client: &reqwest::Client, shared: &Shared, pick: u64) -> Result<(), OpError> {
    let (path, cookie, user) = prompt(client, shared, pick).await?;
    let r = client
        .get(format!("{}{path}", shared.base))
        .header(FORWARDED_FOR, user_ip(user))
        .header(COOKIE, format!("{BROWSER_COOKIE}={cookie}"))
        .send()
        .await?;
    let status = r.status();
    let html = r.text().await?;
    const MARK: &str = "name=\"_csrf\" value=\"";
    let csrf = html
        .find(MARK)
        .map(|i| &html[i + MARK.len()..])
        .and_then(|rest| rest.split('"').next())
        .filter(|_| status == reqwest::StatusCode::OK)
        .ok_or_else(|| fail(format!("GET {path}: {status}, no _csrf in the form")))?;
    answer(client, shared, user, &path, &cookie, csrf).await
}
