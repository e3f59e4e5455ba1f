//! The offline commands (`check`, `explain`): they print for people and return whether all is well.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::campaign::load::LoadOptions;
use crate::campaign::{CampaignSet, load_dir};
use crate::rules::{self, Context, History};

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
    let Some(set) = load(dir, themes) else {
        return Ok(false);
    };
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
