//! The offline commands (`check`, `explain`): they print for people and return whether all is well.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::campaign::load::LoadOptions;
use crate::campaign::{CampaignSet, load_dir};
use crate::config::{Config, ProcessEnv};
use crate::rules::{self, Context, History};
use crate::state::AppState;

/// The themes folder to check against: the one given, else ./themes when it exists.
fn themes_dir(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| Some(PathBuf::from("themes")).filter(|p| p.is_dir()))
}

/// Loads a folder, printing its problems to stderr.
fn load(dir: &Path, themes: Option<&Path>) -> Option<CampaignSet> {
    let options = LoadOptions {
        themes_dir: themes_dir(themes),
        allow_http: false,
    };
    match load_dir(dir, &options) {
        Ok(set) => Some(set),
        Err(problems) => {
            for p in &problems.0 {
                eprintln!("{p}");
            }
            let n = problems.0.len();
            eprintln!("{n} problem{}", if n == 1 { "" } else { "s" });
            None
        }
    }
}

/// `interlude check DIR`: prints the problems, or a one-line summary when there are none.
pub fn check(dir: &Path, themes: Option<&Path>) -> anyhow::Result<bool> {
    // Theme tokens are linted too: the service would fall back to the default's.
    let themes_ok = match themes_dir(themes) {
        Some(themes) => match crate::render::Renderer::load(&themes) {
            Ok(_) => true,
            Err(problems) => {
                for p in &problems.0 {
                    eprintln!("{p}");
                }
                false
            }
        },
        None => true,
    };
    let Some(set) = load(dir, themes) else {
        return Ok(false);
    };
    if !themes_ok {
        return Ok(false);
    }
    if set.is_empty() {
        eprintln!("{}: no campaign files (*.yaml, *.yml) found", dir.display());
        return Ok(false);
    }
    let n = set.len();
    println!("{n} campaign{} OK", if n == 1 { "" } else { "s" });
    Ok(true)
}

/// `interlude explain DIR --claims F [--history F]`: each campaign's verdict and the choice.
pub fn explain(
    dir: &Path,
    claims: &Path,
    history: Option<&Path>,
    now: Option<&str>,
) -> anyhow::Result<bool> {
    let Some(set) = load(dir, None) else {
        return Ok(false);
    };
    let claims: serde_json::Value = read_json(claims)?;
    let history: History = match history {
        Some(path) => read_json(path)?,
        None => History::default(),
    };
    let now = match now {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .with_context(|| format!("--now `{text}` is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let subject = claims.get("sub").and_then(|s| s.as_str()).unwrap_or("");
    let ctx = Context {
        claims: &claims,
        subject,
        history: &history,
        now,
    };
    let choice = rules::choose(set.iter(), &ctx, true);
    for (id, verdict) in &choice.verdicts {
        let mark = if verdict.fires { "fires  " } else { "skipped" };
        println!("{mark} {id}: {}", verdict.reason);
    }
    match &choice.chosen {
        Some(c) => println!("chosen: {}", c.id),
        None => println!("chosen: none (the user goes straight back with outcome `none`)"),
    }
    Ok(true)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON of the expected shape", path.display()))
}

/// Logs to stderr; JSON lines when `INTERLUDE_LOG_FORMAT=json`; level from `RUST_LOG`.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("INTERLUDE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `interlude serve`: runs the service until SIGINT or SIGTERM.
pub fn serve(config_file: Option<&Path>, dev: bool) -> anyhow::Result<bool> {
    init_tracing();
    let config = Config::load(config_file, dev, &ProcessEnv)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url.clone();
        let state = AppState::new(config).await?;
        tracing::info!(%addr, campaigns = state.campaigns().len(), "Interlude is listening");
        if dev {
            let host = if addr.ip().is_unspecified() {
                format!("127.0.0.1:{}", addr.port())
            } else {
                addr.to_string()
            };
            let link = if public_url.contains(&addr.to_string()) {
                format!("http://{host}/_dev")
            } else {
                format!("{public_url}/_dev")
            };
            println!("Interlude dev mode: open {link} to try a campaign in your browser");
        }
        crate::web::serve(listener, state, shutdown_signal()).await?;
        Ok(true)
    })
}

/// `interlude coupons import CAMPAIGN FILE`: adds a CSV's codes to the campaign's pool.
pub fn import_coupons(
    campaigns_dir: &Path,
    campaign: &str,
    file: &Path,
    database_url: &str,
) -> anyhow::Result<bool> {
    let Some(set) = load(campaigns_dir, None) else {
        return Ok(false);
    };
    if set.get(campaign).is_none() {
        eprintln!(
            "there is no campaign `{campaign}` in {}",
            campaigns_dir.display()
        );
        return Ok(false);
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let codes = crate::outcomes::coupon::read_codes(&text);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let added = runtime.block_on(async {
        let store = crate::store::Store::connect(database_url).await?;
        let mut conn = store.pool().acquire().await?;
        let now = crate::store::millis(OffsetDateTime::now_utc());
        anyhow::Ok(crate::store::coupons::import(&mut conn, campaign, &codes, now).await?)
    })?;
    println!(
        "{added} new code{} imported for {campaign} ({} already present)",
        if added == 1 { "" } else { "s" },
        codes.len() as u64 - added
    );
    Ok(true)
}

/// `interlude migrate`: creates the database if needed and applies the migrations.
pub fn migrate(database_url: &str) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = crate::store::Store::connect(database_url).await?;
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await?;
        println!("database is up to date ({applied} migrations applied)");
        anyhow::Ok(true)
    })
}
