//! What every request needs: settings, the database, the campaigns, the renderer.

use std::sync::{Arc, RwLock};

use crate::campaign::load::LoadOptions;
use crate::campaign::{CampaignSet, Problems, load_dir};
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

struct Inner {
    config: Config,
    store: Store,
    renderer: Renderer,
    campaigns: RwLock<Arc<CampaignSet>>,
}

/// Shared state of the running service; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Loads the campaigns and opens (and migrates) the database.
    pub async fn new(config: Config) -> Result<AppState, StartError> {
        let campaigns = load_campaigns(&config)?;
        check_outcome_settings(&config, &campaigns)?;
        let store = Store::connect(&config.database_url).await?;
        import_pools(&store, &campaigns).await?;
        let renderer = Renderer::new(&config.themes_dir);
        Ok(AppState(Arc::new(Inner {
            config,
            store,
            renderer,
            campaigns: RwLock::new(Arc::new(campaigns)),
        })))
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
        let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
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
