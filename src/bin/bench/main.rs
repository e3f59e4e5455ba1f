//! `bench`: how fast Interlude is on this machine, and how its cost grows with history and
//! campaigns. See the README's "Benchmark" section and docs/benchmark.md.
//!
//! One run starts each server as a child process (Interlude through the same
//! `interlude::cli::serve` path as `interlude serve`, and a bare axum handler as the ceiling
//! of one HTTP round trip), drives it over loopback from a tokio load generator in this
//! process, and prints one table (also written as JSON). Every Interlude cell gets a fresh
//! copy of a pre-filled SQLite file and a fresh server, so cells do not see each other's rows
//! and the server's peak RSS (VmHWM) is the cell's own.

// A benchmark tool, not the service: failures to set up may stop it.
#![allow(clippy::expect_used)]

mod fixtures;
mod load;
mod report;
mod servers;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::load::Workload;
use crate::report::{CellResult, Machine, Results};

/// The allocator of the `interlude` binary (src/main.rs), so that `serve-interlude` serves as
/// it does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmark Interlude against a bare axum handler"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(clap::Args, Clone, Debug)]
struct Opts {
    /// A smoke run of a few seconds: tiny cells, small history, few campaigns.
    #[arg(long, env = "BENCH_QUICK")]
    quick: bool,
    /// Measured seconds per cell.
    #[arg(long, env = "BENCH_DURATION", default_value_t = 7.0)]
    duration: f64,
    /// Warm-up seconds per cell (load applied, not measured).
    #[arg(long, env = "BENCH_WARMUP", default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent connections (comma-separated).
    #[arg(long, env = "BENCH_CONCURRENCY", value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Background prompt rows (other users) to pre-fill, per history level.
    #[arg(long, env = "BENCH_HISTORY", value_delimiter = ',', default_values_t = [0, 100_000, 1_000_000])]
    history: Vec<u64>,
    /// Number of campaigns, per campaign level (all but one do not fire).
    #[arg(long, env = "BENCH_CAMPAIGNS", value_delimiter = ',', default_values_t = [1, 100, 1000])]
    campaigns: Vec<u32>,
    /// Workloads to run (bare, prompt, post, trip); all by default.
    #[arg(long, env = "BENCH_ONLY", value_delimiter = ',')]
    only: Vec<String>,
    /// Pending prompts prepared for each POST cell (the cell stops early when they run out).
    #[arg(long, env = "BENCH_POST_POOL", default_value_t = 40_000)]
    post_pool: usize,
    /// Bench users (each with a handful of past prompts) the requests are spread over.
    #[arg(long, env = "BENCH_USERS", default_value_t = 5_000)]
    users: u64,
    /// Where the JSON goes.
    #[arg(long, env = "BENCH_OUT", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench/results.json"))]
    out: PathBuf,
    /// Themes folder for Interlude.
    #[arg(long, env = "BENCH_THEMES", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/themes"))]
    themes: PathBuf,
    /// Record a CPU profile of the Interlude server with `perf record` during each measured
    /// window, into this folder (one `<cell>.data` per cell).
    #[arg(long, env = "BENCH_PERF")]
    perf: Option<PathBuf>,
    /// A cell during which other processes used more CPU than this (% of one core) is
    /// repeated, and the quietest attempt kept.
    #[arg(long, env = "BENCH_NOISE_LIMIT", default_value_t = 25.0)]
    noise_limit: f64,
    /// How often a disturbed cell is repeated.
    #[arg(long, env = "BENCH_RETRIES", default_value_t = 1)]
    retries: u32,
    /// Seconds to wait at most, before each cell, for other processes to go quiet.
    #[arg(long, env = "BENCH_SETTLE", default_value_t = 10.0)]
    settle: f64,
    /// Keep the work folder (databases, campaigns, server logs) at the end.
    #[arg(long)]
    keep: bool,
}

#[derive(Subcommand)]
enum Command {
    /// (internal) Serve Interlude as `interlude serve` does, configured by the environment.
    ServeInterlude,
    /// (internal) Serve the bare handler on the address given.
    ServeBare {
        /// Where to listen.
        listen: std::net::SocketAddr,
    },
}

/// One cell of the table: a workload against one server configuration.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Which rows of the table it belongs to: `bare`, `base`, `history`, `campaigns`.
    pub group: &'static str,
    /// What is driven.
    pub workload: Workload,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Background prompt rows.
    pub history: u64,
    /// Campaigns loaded.
    pub campaigns: u32,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "{}-{}-c{}-h{}-k{}",
            self.group,
            self.workload.key(),
            self.concurrency,
            self.history,
            self.campaigns
        )
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::ServeInterlude) => {
            let ok = interlude::cli::serve(None, false)?;
            anyhow::ensure!(ok, "the server stopped with an error");
            Ok(())
        }
        Some(Command::ServeBare { listen }) => servers::serve_bare(listen),
        None => {
            let mut opts = args.opts;
            if opts.quick {
                opts.duration = opts.duration.min(0.3);
                opts.warmup = opts.warmup.min(0.1);
                opts.concurrency = vec![1, 16];
                opts.history = vec![0, 2_000];
                opts.campaigns = vec![1, 20];
                opts.post_pool = opts.post_pool.min(3_000);
                opts.users = opts.users.min(200);
                opts.retries = 0;
                opts.settle = 0.0;
            }
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the load generator's runtime")?
                .block_on(run(opts))
        }
    }
}

/// The cells of a run, in order: the ceiling, the base case, then the two sweeps.
fn plan(opts: &Opts) -> Vec<Cell> {
    let wanted = |w: Workload| opts.only.is_empty() || opts.only.iter().any(|o| o == w.key());
    let base_history = opts.history.first().copied().unwrap_or(0);
    let base_campaigns = opts.campaigns.first().copied().unwrap_or(1);
    let mut cells = Vec::new();
    let mut push = |group, workload, history, campaigns| {
        if wanted(workload) {
            for &concurrency in &opts.concurrency {
                cells.push(Cell {
                    group,
                    workload,
                    concurrency,
                    history,
                    campaigns,
                });
            }
        }
    };
    push("bare", Workload::Bare, 0, 0);
    for w in [Workload::Prompt, Workload::Post, Workload::Trip] {
        push("base", w, base_history, base_campaigns);
    }
    for &h in opts.history.iter().skip(1) {
        for w in [Workload::Prompt, Workload::Trip] {
            push("history", w, h, base_campaigns);
        }
    }
    for &k in opts.campaigns.iter().skip(1) {
        for w in [Workload::Prompt, Workload::Trip] {
            push("campaigns", w, base_history, k);
        }
    }
    cells
}

/// The order the cells are measured in: each comparison's cells one after the other (for
/// each concurrency and workload, the bare handler, the base case, then each level of the
/// sweeps), since the shared host's speed drifts by a quarter within minutes and the ratios
/// compare cells measured moments apart rather than minutes apart.
fn measuring_order(cells: &[Cell]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    // A stable sort: within a workload and concurrency the plan's order (base, history
    // levels, campaign levels) stays.
    order.sort_by_key(|&i| {
        let c = &cells[i];
        let workload = match c.workload {
            Workload::Bare => 0,
            Workload::Prompt => 1,
            Workload::Trip => 2,
            Workload::Post => 3,
        };
        (c.concurrency, workload)
    });
    order
}

async fn run(opts: Opts) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let work = std::env::temp_dir().join(format!("interlude-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let cells = plan(&opts);
    let machine = Machine::detect();
    eprintln!(
        "bench: {} cells, {:.1} s + {:.1} s warm-up each; {} ({} cores); work folder {}",
        cells.len(),
        opts.duration,
        opts.warmup,
        machine.cpu_model,
        machine.nproc,
        work.display()
    );
    let mut fixtures = fixtures::Fixtures::new(&work, opts.users);
    let mut results: Vec<CellResult> = Vec::new();
    let mut bare: Option<servers::Server> = None;
    let timing = load::Timing {
        warmup: Duration::from_secs_f64(opts.warmup),
        duration: Duration::from_secs_f64(opts.duration),
    };
    let mut measured: Vec<Option<CellResult>> = cells.iter().map(|_| None).collect();
    for i in measuring_order(&cells) {
        let Some(cell) = cells.get(i) else { continue };
        // The machine is shared: wait for a quiet moment, and repeat a cell that others
        // disturbed, keeping the quietest attempt.
        servers::settle(opts.noise_limit, Duration::from_secs_f64(opts.settle)).await;
        let mut kept: Option<CellResult> = None;
        for attempt in 0..=opts.retries {
            let result = if cell.workload == Workload::Bare {
                // One bare server for all its cells: it has no state to reset.
                if bare.is_none() {
                    bare = Some(servers::Server::start_bare(&work).await?);
                }
                let server = bare.as_ref().context("the bare server")?;
                measure(cell, server, None, timing, &opts).await?
            } else {
                run_interlude_cell(cell, &mut fixtures, &work, timing, &opts).await?
            };
            let mut result = result;
            result.fsync_ms = servers::fsync_probe(&work);
            let others = result.others_cpu_pct.unwrap_or(0.0);
            eprintln!("  {}", report::one_line(&result));
            let quieter = kept
                .as_ref()
                .is_none_or(|k| others < k.others_cpu_pct.unwrap_or(0.0));
            if quieter {
                kept = Some(result);
            }
            if others <= opts.noise_limit {
                break;
            }
            if attempt < opts.retries {
                eprintln!("    (others used {others:.0} % of a core: again)");
                servers::settle(opts.noise_limit, Duration::from_secs_f64(opts.settle)).await;
            }
        }
        if let Some(slot) = measured.get_mut(i) {
            *slot = kept;
        }
    }
    // The table keeps the plan's order.
    results.extend(measured.into_iter().flatten());
    if let Some(b) = bare {
        b.stop().await;
    }
    // The rules engine alone, per campaign count (CPU only: no database, no HTTP).
    let mut rules = Vec::new();
    for &k in &opts.campaigns {
        let dir = fixtures.campaigns_dir(k)?;
        let secs = if opts.quick { 0.05 } else { 0.5 };
        let (all, indexed) = fixtures::rules_cost(&dir, secs)?;
        rules.push((k, all, indexed));
    }
    let mut results = Results::new(machine, &opts_summary(&opts), results, started.elapsed());
    results.rules_us_per_choice = rules;
    results.token_us_per_verify = Some(fixtures::token_cost(if opts.quick { 0.05 } else { 0.5 })?);
    let table = report::table(&results);
    println!("{table}");
    println!("{}", report::targets(&results));
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, serde_json::to_string_pretty(&results)?)?;
    eprintln!(
        "bench: wrote {} in {:.0} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    if opts.keep {
        eprintln!("bench: kept {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

async fn run_interlude_cell(
    cell: &Cell,
    fixtures: &mut fixtures::Fixtures,
    work: &std::path::Path,
    timing: load::Timing,
    opts: &Opts,
) -> anyhow::Result<CellResult> {
    let db = fixtures.cell_database(cell.history).await?;
    let campaigns = fixtures.campaigns_dir(cell.campaigns)?;
    let prepared = if cell.workload == Workload::Post {
        Some(fixtures::prepare_posts(&db, opts.post_pool, opts.users).await?)
    } else {
        None
    };
    let server = servers::Server::start_interlude(work, &db, &campaigns, &opts.themes)
        .await
        .with_context(|| format!("starting Interlude for {}", cell.name()))?;
    let tokens = fixtures::Tokens::mint(opts.users);
    let data = load::Data { tokens, prepared };
    let r = measure(cell, &server, Some(data), timing, opts).await;
    server.stop().await;
    fixtures.discard(&db);
    r
}

fn opts_summary(opts: &Opts) -> serde_json::Value {
    serde_json::json!({
        "quick": opts.quick,
        "duration_secs": opts.duration,
        "warmup_secs": opts.warmup,
        "concurrency": opts.concurrency,
        "history": opts.history,
        "campaigns": opts.campaigns,
        "users": opts.users,
        "post_pool": opts.post_pool,
        "noise_limit_pct": opts.noise_limit,
        "retries": opts.retries,
        "settle_secs": opts.settle,
    })
}

async fn measure(
    cell: &Cell,
    server: &servers::Server,
    data: Option<load::Data>,
    timing: load::Timing,
    opts: &Opts,
) -> anyhow::Result<CellResult> {
    let perf = match (&opts.perf, cell.workload) {
        (Some(dir), w) if w != Workload::Bare => Some(servers::Perf {
            dir: dir.clone(),
            name: cell.name(),
        }),
        _ => None,
    };
    let outcome = load::drive(cell, server, data, timing, perf).await?;
    Ok(CellResult::new(cell, outcome))
}
