//! What every request needs: settings, the database, the campaigns, the renderer.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use crate::campaign::load::LoadOptions;
use crate::campaign::{Campaign, CampaignSet, Problems, load_dir};
use crate::config::Config;
use crate::render::Renderer;
use crate::store::{Store, StoreError};

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The campaigns folder has problems.
    #[error("the campaigns in {dir} have problems:\n{problems}")]
    Campaigns {
        /// The folder.
        dir: String,
        /// Every problem.
        problems: Problems,
    },
    /// The database cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Campaigns need settings that are missing.
    #[error("{0}")]
    Settings(String),
    /// A coupon pool file cannot be read.
    #[error("coupon pool of `{campaign}`: {message}")]
    Pool {
        /// The campaign.
        campaign: String,
        /// What went wrong.
        message: String,
    },
}

/// The outcome of the last (re)load of the campaigns folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadStatus {
    /// The last attempt succeeded (the set serving is the folder's current content).
    pub ok: bool,
    /// When it was attempted.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The problems that kept the last attempt out (empty when ok).
    pub problems: Vec<String>,
    /// How many campaigns are serving.
    pub serving: usize,
    #[serde(skip)]
    fingerprint: u64,
}

struct Inner {
    config: Config,
    store: Store,
    renderer: Renderer,
    campaigns: RwLock<Arc<CampaignSet>>,
    /// Every campaign version served since start, so prompts finish on the version they
    /// started with after a reload.
    archive: RwLock<HashMap<(String, u32), Arc<Campaign>>>,
    reload: RwLock<ReloadStatus>,
    /// Serializes reloads (the watcher and SIGHUP may fire together).
    reloading: tokio::sync::Mutex<()>,
    /// Per-IP rate limiter, when configured.
    limiter: Option<crate::web::limit::Limiter>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<T>(lock: &RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

/// A cheap fingerprint of a folder: names, sizes and modification times of its files.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut entries: Vec<(String, u64, Option<std::time::SystemTime>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        meta.len(),
                        meta.modified().ok(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut hasher);
    hasher.finish()
}

/// Shared state of the running service; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Loads the campaigns and opens (and migrates) the database.
    pub async fn new(config: Config) -> Result<AppState, StartError> {
        let print = fingerprint(&config.campaigns_dir);
        let campaigns = load_campaigns(&config)?;
        check_outcome_settings(&config, &campaigns)?;
        let store = Store::connect(&config.database_url).await?;
        import_pools(&store, &campaigns).await?;
        let renderer = Renderer::new(&config.themes_dir);
        let archive = campaigns
            .iter()
            .map(|c| ((c.id.clone(), c.version), Arc::clone(c)))
            .collect();
        let status = ReloadStatus {
            ok: true,
            at: OffsetDateTime::now_utc(),
            problems: Vec::new(),
            serving: campaigns.len(),
            fingerprint: print,
        };
        Ok(AppState(Arc::new(Inner {
            store,
            renderer,
            campaigns: RwLock::new(Arc::new(campaigns)),
            archive: RwLock::new(archive),
            reload: RwLock::new(status),
            reloading: tokio::sync::Mutex::new(()),
            limiter: crate::web::limit::Limiter::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
            ),
            config,
        })))
    }

    /// The campaign a prompt was shown with: the serving one when its version matches, else
    /// the archived version it started on.
    pub fn campaign_for(&self, id: &str, version: i64) -> Option<Arc<Campaign>> {
        let version = u32::try_from(version).ok()?;
        if let Some(c) = self.campaigns().get(id).filter(|c| c.version == version) {
            return Some(Arc::clone(c));
        }
        let archive = match self.0.archive.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        archive.get(&(id.to_owned(), version)).cloned()
    }

    /// The per-IP rate limiter, when configured.
    pub fn limiter(&self) -> Option<&crate::web::limit::Limiter> {
        self.0.limiter.as_ref()
    }

    /// The outcome of the last (re)load.
    pub fn reload_status(&self) -> ReloadStatus {
        read(&self.0.reload)
    }

    /// Reloads the campaigns folder when it changed since the last attempt (or always, with
    /// `force`). A set with problems is refused: the last good set keeps serving.
    pub async fn reload(&self, force: bool) -> ReloadStatus {
        let _one_at_a_time = self.0.reloading.lock().await;
        let dir = &self.0.config.campaigns_dir;
        let print = fingerprint(dir);
        if !force && print == read(&self.0.reload).fingerprint {
            return self.reload_status();
        }
        let loaded = load_campaigns(&self.0.config).and_then(|set| {
            check_outcome_settings(&self.0.config, &set)?;
            Ok(set)
        });
        let loaded = match loaded {
            Ok(set) => import_pools(&self.0.store, &set).await.map(|()| set),
            Err(e) => Err(e),
        };
        let status = match loaded {
            Ok(set) => {
                let serving = set.len();
                {
                    let mut archive = match self.0.archive.write() {
                        Ok(guard) => guard,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    for c in set.iter() {
                        archive.insert((c.id.clone(), c.version), Arc::clone(c));
                    }
                }
                write(&self.0.campaigns, Arc::new(set));
                tracing::info!(campaigns = serving, "campaigns reloaded");
                metrics::counter!("interlude_campaign_reloads_total", "result" => "ok")
                    .increment(1);
                ReloadStatus {
                    ok: true,
                    at: OffsetDateTime::now_utc(),
                    problems: Vec::new(),
                    serving,
                    fingerprint: print,
                }
            }
            Err(e) => {
                let problems: Vec<String> = match &e {
                    StartError::Campaigns { problems, .. } => {
                        problems.0.iter().map(ToString::to_string).collect()
                    }
                    other => vec![other.to_string()],
                };
                for p in &problems {
                    tracing::error!(problem = %p, "campaign reload refused; the last good set keeps serving");
                }
                metrics::counter!("interlude_campaign_reloads_total", "result" => "refused")
                    .increment(1);
                ReloadStatus {
                    ok: false,
                    at: OffsetDateTime::now_utc(),
                    problems,
                    serving: self.campaigns().len(),
                    fingerprint: print,
                }
            }
        };
        write(&self.0.reload, status.clone());
        status
    }

    /// Settings.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Pages.
    pub fn renderer(&self) -> &Renderer {
        &self.0.renderer
    }

    /// The current campaign set.
    pub fn campaigns(&self) -> Arc<CampaignSet> {
        match self.0.campaigns.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Loads the configured campaigns folder with the checks of `interlude check`.
pub fn load_campaigns(config: &Config) -> Result<CampaignSet, StartError> {
    let options = LoadOptions {
        themes_dir: Some(config.themes_dir.clone()).filter(|d| d.is_dir()),
        allow_http: config.dev,
    };
    load_dir(&config.campaigns_dir, &options).map_err(|problems| StartError::Campaigns {
        dir: config.campaigns_dir.display().to_string(),
        problems,
    })
}

/// Imports the pool file of every pool-based coupon campaign (idempotent: known codes stay).
pub async fn import_pools(store: &Store, campaigns: &CampaignSet) -> Result<(), StartError> {
    for campaign in campaigns.iter() {
        let Some(coupon) = &campaign.outcome.coupon else {
            continue;
        };
        let crate::campaign::CouponSource::Pool(path) = &coupon.source else {
            continue;
        };
        let text = std::fs::read_to_string(path).map_err(|e| StartError::Pool {
            campaign: campaign.id.clone(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let codes = crate::outcomes::coupon::read_codes(&text);
        let mut conn = store.conn().await?;
        let now = crate::store::millis(time::OffsetDateTime::now_utc());
        let added = crate::store::coupons::import(&mut conn, &campaign.id, &codes, now).await?;
        if added > 0 {
            tracing::info!(campaign = %campaign.id, added, "imported coupon codes");
        }
    }
    Ok(())
}

/// Webhooks need a signing secret; profile write-back without Management API credentials
/// only returns the answers in the token, which is worth a warning.
pub fn check_outcome_settings(config: &Config, campaigns: &CampaignSet) -> Result<(), StartError> {
    let hooked: Vec<&str> = campaigns
        .iter()
        .filter(|c| !c.outcome.webhooks.is_empty())
        .map(|c| c.id.as_str())
        .collect();
    if !hooked.is_empty() && config.webhook_secret.is_none() {
        return Err(StartError::Settings(format!(
            "campaigns {} send webhooks, which are signed: set INTERLUDE_WEBHOOK_SECRET (make one with `openssl rand -hex 32`)",
            hooked.join(", ")
        )));
    }
    let writes_back = campaigns.iter().any(|c| c.outcome.profile.is_some());
    for t in config.tenants.iter().filter(|t| t.management.is_none()) {
        if writes_back && t.issuer != crate::config::DEV_ISSUER {
            tracing::warn!(tenant = %t.issuer,
                "campaigns write profile answers back, but this tenant has no Management API credentials: answers are returned in the token only");
        }
    }
    Ok(())
}
