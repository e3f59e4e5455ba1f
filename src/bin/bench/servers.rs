//! The servers under test, each a child process of the bench: Interlude (the bench binary
//! re-run as `bench serve-interlude`, which calls `interlude::cli::serve` exactly as
//! `interlude serve` does) and the bare axum handler (`bench serve-bare`). A child of its own
//! gives each server its own peak RSS (VmHWM) and CPU time, read from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A fixed page about the size of Interlude's form page, so both send similar bytes.
pub fn bare_page() -> String {
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bare</title></head><body><main>",
    );
    while page.len() < 2_900 {
        page.push_str("<p>A fixed page: the ceiling of one HTTP round trip on this machine.</p>");
    }
    page.push_str("</main></body></html>");
    page
}

/// `bench serve-bare ADDR`: a default multi-threaded tokio runtime (as `interlude serve`
/// uses) and one axum route returning the fixed page.
pub fn serve_bare(listen: SocketAddr) -> anyhow::Result<()> {
    let page: &'static str = Box::leak(bare_page().into_boxed_str());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        page,
                    )
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Which server.
    pub kind: &'static str,
}

/// Where a `perf record` of the measured window goes.
#[derive(Debug, Clone)]
pub struct Perf {
    /// Folder.
    pub dir: PathBuf,
    /// The cell's name (the file's stem).
    pub name: String,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn log_file(work: &Path, name: &str) -> anyhow::Result<Stdio> {
    Ok(Stdio::from(std::fs::File::create(work.join(name))?))
}

impl Server {
    /// Starts the bare handler.
    pub async fn start_bare(work: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let child = Command::new(std::env::current_exe()?)
            .arg("serve-bare")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log_file(work, "bare.log")?)
            .spawn()
            .context("cannot start the bare server")?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            kind: "bare",
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Starts Interlude on `db` with the campaigns in `campaigns`.
    pub async fn start_interlude(
        work: &Path,
        db: &Path,
        campaigns: &Path,
        themes: &Path,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("serve-interlude");
        // Only the settings given here: nothing from the caller's INTERLUDE_* or RUST_LOG
        // (the service logs at its default level, info, as in production).
        for (k, _) in std::env::vars() {
            if k.starts_with("INTERLUDE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("INTERLUDE_LISTEN", format!("127.0.0.1:{port}"))
            .env("INTERLUDE_ISSUER", crate::fixtures::ISSUER)
            .env("INTERLUDE_SECRET", crate::fixtures::SECRET)
            .env("INTERLUDE_SERVICE_ISSUER", "interlude.bench.test")
            .env("INTERLUDE_PUBLIC_URL", "https://interlude.bench.test")
            .env(
                "INTERLUDE_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("INTERLUDE_TRUST_FORWARDED_FOR", "true")
            .env("INTERLUDE_CAMPAIGNS_DIR", campaigns)
            .env("INTERLUDE_THEMES_DIR", themes)
            .stdout(Stdio::null())
            .stderr(log_file(work, "interlude.log")?);
        let child = cmd.spawn().context("cannot start Interlude")?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            kind: "interlude",
        };
        if let Err(e) = server.wait_ready().await {
            let log = std::fs::read_to_string(work.join("interlude.log")).unwrap_or_default();
            server.stop().await;
            anyhow::bail!("{e}\n--- server log ---\n{log}");
        }
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = format!("{}/healthz", self.base);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("the {} server did not become ready", self.kind)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_field(self.pid(), "VmHWM:")
    }

    /// User + system CPU time the server has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.pid()))
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s).
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of a process from its `stat` file (clock ticks of 1/100 s).
pub fn cpu_time(stat_path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Busy CPU time of the whole machine so far (all cores: everything but idle and iowait),
/// to tell how much else was running during a cell.
pub fn machine_busy() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy = v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?;
    Some(Duration::from_millis(busy * 10))
}

/// Waits, up to `at_most`, until the rest of the machine uses less than `limit` % of a core
/// (sampled over half a second, while the bench itself is idle).
pub async fn settle(limit: f64, at_most: Duration) {
    let deadline = Instant::now() + at_most;
    while Instant::now() < deadline {
        let (Some(a), t) = (machine_busy(), Instant::now()) else {
            return;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(b) = machine_busy() else {
            return;
        };
        let pct = b.saturating_sub(a).as_secs_f64() * 100.0 / t.elapsed().as_secs_f64();
        if pct <= limit {
            return;
        }
    }
}

/// Median time of appending 4 KiB to a file and fsyncing it in `dir` (as SQLite syncs its
/// WAL on each commit while the WAL grows), ms: the disk's part of a durable write, which
/// other tenants of the host sway.
pub fn fsync_probe(dir: &Path) -> Option<f64> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).ok()?;
    let block = [0x5a_u8; 4096];
    let mut times = Vec::with_capacity(15);
    for _ in 0..15 {
        let t = Instant::now();
        file.write_all(&block).ok()?;
        file.sync_all().ok()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_file(&path);
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}

/// CPU time the hypervisor gave to other guests while this one wanted it ("steal"), all
/// cores, so far.
pub fn machine_steal() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = text.lines().next()?.strip_prefix("cpu ")?;
    let steal: u64 = cpu.split_whitespace().nth(7)?.parse().ok()?;
    Some(Duration::from_millis(steal * 10))
}

/// A `perf record` attached to a server for the measured window.
pub struct PerfRecord(Child);

impl PerfRecord {
    /// Starts recording `pid` into `perf.dir/perf.name.data`. Extra arguments come from
    /// `BENCH_PERF_ARGS` (default: `-e cpu-clock -F 999 -g`).
    pub fn start(perf: &Perf, pid: u32) -> anyhow::Result<PerfRecord> {
        std::fs::create_dir_all(&perf.dir)?;
        let args =
            std::env::var("BENCH_PERF_ARGS").unwrap_or_else(|_| "-e cpu-clock -F 999 -g".into());
        let child = Command::new("perf")
            .arg("record")
            .args(args.split_whitespace())
            .arg("-p")
            .arg(pid.to_string())
            .arg("-o")
            .arg(perf.dir.join(format!("{}.data", perf.name)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start perf record")?;
        Ok(PerfRecord(child))
    }

    /// Stops recording (SIGINT, as perf expects) and waits for the file to be written.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}
