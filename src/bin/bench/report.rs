//! The results: one row per cell, ratios to the bare handler at the same concurrency, the
//! table as text (Markdown, so it pastes into docs/benchmark.md), the JSON, and where each
//! target of issue 8 stands.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::Cell;
use crate::load::{Outcome, Workload};

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available (`nproc`).
    pub nproc: usize,
    /// From /proc/cpuinfo.
    pub cpu_model: String,
    /// `uname -r`.
    pub kernel: String,
    /// The commit measured (`git describe --always --dirty`).
    pub commit: String,
}

impl Machine {
    /// Reads what this machine is.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let commit = std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel,
            commit,
        }
    }
}

/// One row.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// bare / base / history / campaigns.
    pub group: &'static str,
    /// bare / prompt / post / trip.
    pub workload: &'static str,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Background prompt rows.
    pub history: u64,
    /// Campaigns loaded.
    pub campaigns: u32,
    /// Operations completed in the window (a round trip is one operation of 3 requests).
    pub ops: u64,
    /// Failed operations in the window.
    pub errors: u64,
    /// The first failure seen.
    pub first_error: Option<String>,
    /// Window length, s.
    pub secs: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// p99.9, ms.
    pub p999_ms: f64,
    /// Server CPU time per operation, µs.
    pub server_cpu_us_per_op: Option<f64>,
    /// Load generator CPU, % of one core.
    pub generator_cpu_pct: Option<f64>,
    /// Load generator CPU time per operation, µs: the same work in every cell of a
    /// workload, so it tracks how fast the host is at the moment.
    pub generator_cpu_us_per_op: Option<f64>,
    /// Server CPU per operation ÷ the generator's: the server's cost with the host's speed
    /// of the moment divided out (on a shared host it drifts by a quarter within minutes,
    /// and both processes with it), for comparing cells measured at different times.
    pub cpu_vs_generator: Option<f64>,
    /// CPU used by other processes on the machine during the window, % of one core
    /// (a noise indicator: the bench shares the machine).
    pub others_cpu_pct: Option<f64>,
    /// CPU the hypervisor gave other guests during the window, % of one core (noise too).
    pub steal_pct: Option<f64>,
    /// The disk's fsync of a 4 KiB append right after the cell, median, ms.
    pub fsync_ms: Option<f64>,
    /// Server peak RSS (VmHWM), MiB.
    pub peak_rss_mib: Option<f64>,
    /// The POST pool ran out before the window ended.
    pub ended_early: bool,
    /// Ratios to the bare handler at the same concurrency.
    pub vs_bare: Option<Ratios>,
}

/// Figures divided by the bare handler's.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// ops/s ÷ bare req/s.
    pub ops_per_sec: f64,
    /// p50 ÷ bare p50.
    pub p50: f64,
    /// p99 ÷ bare p99.
    pub p99: f64,
    /// p99.9 ÷ bare p99.9.
    pub p999: f64,
}

fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

impl CellResult {
    /// The row of a measured cell.
    pub fn new(cell: &Cell, o: Outcome) -> CellResult {
        let secs = o.secs.max(1e-9);
        let per_op = |d: Option<Duration>| {
            d.filter(|_| o.ops > 0)
                .map(|d| d.as_secs_f64() * 1e6 / o.ops as f64)
        };
        let (server_cpu, generator_cpu) = (per_op(o.server_cpu), per_op(o.generator_cpu));
        CellResult {
            group: cell.group,
            workload: cell.workload.key(),
            concurrency: cell.concurrency,
            history: cell.history,
            campaigns: cell.campaigns,
            ops: o.ops,
            errors: o.errors,
            first_error: o.first_error,
            secs: o.secs,
            ops_per_sec: o.ops as f64 / secs,
            p50_ms: percentile_ms(&o.latencies_us, 0.50),
            p99_ms: percentile_ms(&o.latencies_us, 0.99),
            p999_ms: percentile_ms(&o.latencies_us, 0.999),
            server_cpu_us_per_op: server_cpu,
            generator_cpu_pct: o.generator_cpu.map(|d| d.as_secs_f64() * 100.0 / secs),
            generator_cpu_us_per_op: generator_cpu,
            cpu_vs_generator: server_cpu
                .zip(generator_cpu)
                .filter(|(_, g)| *g > 0.0)
                .map(|(s, g)| s / g),
            others_cpu_pct: o.others_cpu.map(|d| d.as_secs_f64() * 100.0 / secs),
            steal_pct: o.steal.map(|d| d.as_secs_f64() * 100.0 / secs),
            fsync_ms: None,
            peak_rss_mib: o.peak_rss_kib.map(|k| k as f64 / 1024.0),
            ended_early: o.ended_early,
            vs_bare: None,
        }
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Results {
    /// Where.
    pub machine: Machine,
    /// With which settings.
    pub settings: serde_json::Value,
    /// When (RFC 3339).
    pub finished_at: String,
    /// How long the run took, s.
    pub run_secs: f64,
    /// The rows.
    pub cells: Vec<CellResult>,
    /// The rules engine alone: (campaigns, µs per choice evaluating every campaign, µs per
    /// choice through the index as a request does).
    pub rules_us_per_choice: Vec<(u32, f64, f64)>,
    /// Token verification alone: µs per inbound session token.
    pub token_us_per_verify: Option<f64>,
}

impl Results {
    /// Fills in the ratios to the bare handler.
    pub fn new(
        machine: Machine,
        settings: &serde_json::Value,
        mut cells: Vec<CellResult>,
        took: Duration,
    ) -> Results {
        let bare: Vec<CellResult> = cells
            .iter()
            .filter(|c| c.workload == Workload::Bare.key())
            .cloned()
            .collect();
        for c in &mut cells {
            if let Some(b) = bare.iter().find(|b| b.concurrency == c.concurrency) {
                let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
                c.vs_bare = Some(Ratios {
                    ops_per_sec: div(c.ops_per_sec, b.ops_per_sec),
                    p50: div(c.p50_ms, b.p50_ms),
                    p99: div(c.p99_ms, b.p99_ms),
                    p999: div(c.p999_ms, b.p999_ms),
                });
            }
        }
        let finished_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Results {
            machine,
            settings: settings.clone(),
            finished_at,
            run_secs: took.as_secs_f64(),
            cells,
            rules_us_per_choice: Vec::new(),
            token_us_per_verify: None,
        }
    }

    fn find(
        &self,
        group: &str,
        workload: &str,
        conc: usize,
        h: u64,
        k: u32,
    ) -> Option<&CellResult> {
        self.cells.iter().find(|c| {
            (group.is_empty() || c.group == group)
                && c.workload == workload
                && c.concurrency == conc
                && c.history == h
                && c.campaigns == k
        })
    }
}

fn label(key: &str) -> &'static str {
    [
        Workload::Bare,
        Workload::Prompt,
        Workload::Post,
        Workload::Trip,
    ]
    .into_iter()
    .find(|w| w.key() == key)
    .map_or("?", |w| w.label())
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

fn ratio(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.2}×"))
}

fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// A progress line for one cell.
pub fn one_line(c: &CellResult) -> String {
    let mut s = format!(
        "{:<9} {:<12} c={:<3} h={:<5} k={:<5} {:>8.0}/s p50 {:>7.2} ms p99 {:>7.2} ms p99.9 {:>7.2} ms cpu {} µs/op others {} % steal {} % fsync {} ms rss {} MiB",
        c.group,
        label(c.workload),
        c.concurrency,
        count(c.history),
        c.campaigns,
        c.ops_per_sec,
        c.p50_ms,
        c.p99_ms,
        c.p999_ms,
        opt(c.server_cpu_us_per_op, 0),
        opt(c.others_cpu_pct, 0),
        opt(c.steal_pct, 0),
        opt(c.fsync_ms, 2),
        opt(c.peak_rss_mib, 1),
    );
    if c.errors > 0 || c.first_error.is_some() {
        let _ = write!(
            s,
            " errors {} ({})",
            c.errors,
            c.first_error.as_deref().unwrap_or("")
        );
    }
    if c.ended_early {
        let _ = write!(s, " [pool ran out after {:.1} s]", c.secs);
    }
    s
}

/// The table, in Markdown.
pub fn table(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Interlude bench: {} × {} ({}), commit {}, {:.1} s per cell",
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine.kernel,
        r.machine.commit,
        r.settings["duration_secs"].as_f64().unwrap_or(0.0)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| group | workload | conn | history | campaigns | ops/s | ×bare | p50 ms | ×bare | p99 ms | ×bare | p99.9 ms | ×bare | server CPU µs/op | gen CPU % | server ÷ gen CPU/op | others CPU % | steal % | fsync ms | server peak RSS MiB | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for c in &r.cells {
        let v = c.vs_bare;
        let bare = c.workload == Workload::Bare.key();
        let x = |f: fn(&Ratios) -> f64| {
            if bare {
                String::new()
            } else {
                ratio(v.as_ref().map(f))
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.0}{} | {} | {:.2} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.group,
            label(c.workload),
            c.concurrency,
            if bare { "-".into() } else { count(c.history) },
            if bare {
                "-".into()
            } else {
                c.campaigns.to_string()
            },
            c.ops_per_sec,
            if c.ended_early { "*" } else { "" },
            x(|r| r.ops_per_sec),
            c.p50_ms,
            x(|r| r.p50),
            c.p99_ms,
            x(|r| r.p99),
            c.p999_ms,
            x(|r| r.p999),
            opt(c.server_cpu_us_per_op, 0),
            opt(c.generator_cpu_pct, 0),
            opt(c.cpu_vs_generator, 2),
            opt(c.others_cpu_pct, 0),
            opt(c.steal_pct, 0),
            opt(c.fsync_ms, 2),
            opt(c.peak_rss_mib, 1),
            c.errors,
        );
    }
    if !r.rules_us_per_choice.is_empty() {
        let list: Vec<String> = r
            .rules_us_per_choice
            .iter()
            .map(|(k, all, indexed)| {
                format!("{k} campaigns {indexed:.1} µs ({all:.1} µs evaluating all)")
            })
            .collect();
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Rules engine alone (choosing for a bench user, in-process): {}.",
            list.join(", ")
        );
    }
    if let Some(us) = r.token_us_per_verify {
        let _ = writeln!(
            s,
            "Token verification alone (a bench user's session token, in-process): {us:.1} µs."
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "A round trip is one operation of three requests (GET /prompt, GET /p/{{id}}, POST). \
         History: background prompts of other users; the bench users have {} each as well. \
         * = the prepared prompts ran out before the window ended (rate over the shorter window).",
        crate::fixtures::BENCH_USER_ROWS
    );
    s
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Where each target of the issue stands.
pub fn targets(r: &Results) -> String {
    let mut s = String::from("Targets\n");
    let concs: Vec<usize> = {
        let mut v: Vec<usize> = r.cells.iter().map(|c| c.concurrency).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let base: Vec<&CellResult> = r.cells.iter().filter(|c| c.group == "base").collect();
    let (h0, k0) = base.first().map_or((0, 1), |c| (c.history, c.campaigns));

    // GET /prompt ≥ 25 % of bare req/s.
    let parts: Vec<(usize, f64)> = base
        .iter()
        .filter(|c| c.workload == "prompt")
        .filter_map(|c| c.vs_bare.map(|v| (c.concurrency, v.ops_per_sec)))
        .collect();
    if !parts.is_empty() {
        let ok = parts.iter().all(|(_, v)| *v >= 0.25);
        let list: Vec<String> = parts
            .iter()
            .map(|(c, v)| format!("c={c} {:.0} %", v * 100.0))
            .collect();
        let _ = writeln!(
            s,
            "- GET /prompt ≥ 25 % of bare req/s: {} ({})",
            list.join(", "),
            mark(ok)
        );
    }
    // POST ≥ 2,000 answers/s.
    if let Some(best) = base
        .iter()
        .filter(|c| c.workload == "post" && c.errors == 0)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec))
    {
        let _ = writeln!(
            s,
            "- POST ≥ 2,000 answers/s with durable commits (synchronous=FULL): best {:.0}/s at c={} ({})",
            best.ops_per_sec,
            best.concurrency,
            mark(best.ops_per_sec >= 2000.0)
        );
    }
    // p99 ≤ 10 ms at 64 connections.
    let at64: Vec<&&CellResult> = base.iter().filter(|c| c.concurrency == 64).collect();
    if !at64.is_empty() {
        let list: Vec<String> = at64
            .iter()
            .map(|c| {
                let per_request = if c.workload == "trip" {
                    " (3 requests)"
                } else {
                    ""
                };
                format!("{} {:.1} ms{per_request}", label(c.workload), c.p99_ms)
            })
            .collect();
        let mut singles = at64.iter().filter(|c| c.workload != "trip").peekable();
        // Only round trips measured: the target is about single requests, so it stays open.
        let verdict = if singles.peek().is_none() {
            "no single-request cell"
        } else {
            mark(singles.all(|c| c.p99_ms <= 10.0))
        };
        let _ = writeln!(
            s,
            "- p99 ≤ 10 ms at 64 connections (single requests): {} ({verdict})",
            list.join(", "),
        );
    }
    // History: the largest level against the base.
    if let Some(hmax) = r
        .cells
        .iter()
        .filter(|c| c.group == "history")
        .map(|c| c.history)
        .max()
    {
        let mut list = Vec::new();
        let mut ok = true;
        let mut normalized = Normalized::default();
        for w in ["prompt", "trip"] {
            for &c in &concs {
                if let (Some(a), Some(b)) = (
                    r.find("base", w, c, h0, k0),
                    r.find("history", w, c, hmax, k0),
                ) {
                    let p50 = b.p50_ms / a.p50_ms;
                    let p99 = b.p99_ms / a.p99_ms;
                    ok &= p50 <= 1.2;
                    list.push(format!(
                        "{} c={c} p50 {p50:.2}× p99 {p99:.2}× CPU÷gen {}",
                        label(w),
                        ratio(normalized.add(a, b))
                    ));
                }
            }
        }
        let _ = writeln!(
            s,
            "- latency at {} history rows within 1.2× of {} (p50): {} ({}; by server ÷ generator CPU per op, within 1.2×: {})",
            count(hmax),
            count(h0),
            list.join("; "),
            mark(ok),
            normalized.verdict()
        );
    }
    // Campaigns: the largest count against the base.
    if let Some(kmax) = r
        .cells
        .iter()
        .filter(|c| c.group == "campaigns")
        .map(|c| c.campaigns)
        .max()
    {
        let mut list = Vec::new();
        let mut worst: f64 = 0.0;
        let mut normalized = Normalized::default();
        for w in ["prompt", "trip"] {
            for &c in &concs {
                if let (Some(a), Some(b)) = (
                    r.find("base", w, c, h0, k0),
                    r.find("campaigns", w, c, h0, kmax),
                ) {
                    let p50 = b.p50_ms / a.p50_ms;
                    let cpu = b
                        .server_cpu_us_per_op
                        .zip(a.server_cpu_us_per_op)
                        .map(|(b, a)| b / a);
                    worst = worst.max(p50);
                    list.push(format!(
                        "{} c={c} p50 {p50:.2}× CPU/op {} CPU÷gen {}",
                        label(w),
                        ratio(cpu),
                        ratio(normalized.add(a, b))
                    ));
                }
            }
        }
        let _ = writeln!(
            s,
            "- cost flat in campaigns ({kmax} vs {k0}; flat taken as p50 within 1.2×): {} ({}; by server ÷ generator CPU per op, within 1.2×: {})",
            list.join("; "),
            mark(worst <= 1.2),
            normalized.verdict()
        );
    }
    s
}

/// Cells compared by server ÷ generator CPU per operation (the host's speed divided out).
#[derive(Default)]
struct Normalized {
    worst: Option<f64>,
}

impl Normalized {
    /// `b`'s figure ÷ `a`'s, kept for the verdict.
    fn add(&mut self, a: &CellResult, b: &CellResult) -> Option<f64> {
        let r = b
            .cpu_vs_generator
            .zip(a.cpu_vs_generator)
            .map(|(b, a)| b / a)?;
        self.worst = Some(self.worst.map_or(r, |w| w.max(r)));
        Some(r)
    }

    fn verdict(&self) -> &'static str {
        match self.worst {
            Some(w) => mark(w <= 1.2),
            None => "not measured",
        }
    }
}
