//! Service settings: an optional YAML file, then `INTERLUDE_*` environment variables on top.
//!
//! Secrets (the HS256 secrets shared with each IdP tenant) come only from the environment or
//! a secrets file, never from the settings file or campaign YAML, and are held as
//! [`SecretString`] so they are never printed by `Debug` or logged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The issuer name the dev tenant uses in dev mode.
pub const DEV_ISSUER: &str = "dev-tenant.interlude.test";
/// Secrets shorter than this are refused outside dev mode.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read.
    #[error("cannot read the settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The settings file is not valid.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        message: String,
    },
    /// A setting has a bad value.
    #[error("{0}")]
    Invalid(String),
}

/// Credentials for a tenant's Auth0 Management API (profile write-back).
#[derive(Clone)]
pub struct Management {
    /// `https://{tenant}` (the API is under `/api/v2/`, the token endpoint `/oauth/token`).
    pub base_url: String,
    /// The machine-to-machine application's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: SecretString,
    /// The API audience, `https://{tenant}/api/v2/` by default.
    pub audience: String,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// One IdP tenant allowed to send users here.
#[derive(Clone)]
pub struct Tenant {
    /// The `iss` its tokens carry, e.g. `acme.eu.auth0.com` (a custom domain works too).
    pub issuer: String,
    /// Where users go back to: `https://{issuer}/continue` unless set.
    pub continue_url: String,
    /// HS256 secrets, newest first: tokens signed with any are accepted; the first signs.
    pub secrets: Vec<SecretString>,
    /// Management API access, for profile write-back.
    pub management: Option<Management>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("issuer", &self.issuer)
            .field("continue_url", &self.continue_url)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

/// A bearer token of the admin API, kept only as its SHA-256.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// A name for logs (which token was used).
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// May only read.
    pub read_only: bool,
}

/// Parses 64 hex digits.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Every setting of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket to listen on.
    pub listen: SocketAddr,
    /// The URL users reach this service at (no trailing slash).
    pub public_url: String,
    /// sqlx database URL, e.g. `sqlite://interlude.db`.
    pub database_url: String,
    /// Campaign files.
    pub campaigns_dir: PathBuf,
    /// Theme folders.
    pub themes_dir: PathBuf,
    /// The `iss` of return tokens.
    pub service_issuer: String,
    /// Allowed tenants.
    pub tenants: Vec<Tenant>,
    /// `continue_uri` claim values that may replace a tenant's continue URL (exact match).
    pub continue_uri_allowlist: Vec<String>,
    /// Campaigns one detour may show in a row.
    pub max_chain: u32,
    /// Lifetime of return tokens (at least 60 s: Auth0 requires it).
    pub return_token_ttl_secs: u64,
    /// How long a prompt may stay open before it expires.
    pub prompt_ttl_secs: u64,
    /// Clock-skew allowance for inbound `exp` / `nbf` / `iat`.
    pub token_leeway_secs: u64,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Dev mode: the IdP emulator at /_dev, http cookies, a throwaway secret.
    pub dev: bool,
    /// Key of the HMAC signature on webhook events.
    pub webhook_secret: Option<SecretString>,
    /// How often the delivery worker looks for due work.
    pub outbox_poll_ms: u64,
    /// First retry delay; doubled per attempt, at most an hour.
    pub outbox_backoff_ms: u64,
    /// Attempts before a delivery is given up (and shown as failed).
    pub outbox_max_attempts: u32,
    /// How often the campaigns folder is checked for changes (0: only on SIGHUP).
    pub reload_poll_ms: u64,
    /// Admin API tokens (hashes).
    pub admin_tokens: Vec<AdminToken>,
    /// Requests per minute per client IP on the user pages and the admin API (0: off).
    pub rate_limit_per_minute: u32,
    /// Burst allowed above the steady rate.
    pub rate_limit_burst: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind one trusted proxy).
    pub trust_forwarded_for: bool,
    /// Erasing a subject keeps consent and ToS records as proof (with IP and user agent
    /// removed); `false` deletes them too.
    pub erasure_keeps_consent_proof: bool,
}

/// The settings file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    campaigns_dir: Option<PathBuf>,
    themes_dir: Option<PathBuf>,
    service_issuer: Option<String>,
    continue_uri_allowlist: Option<Vec<String>>,
    max_chain: Option<u32>,
    return_token_ttl_secs: Option<u64>,
    prompt_ttl_secs: Option<u64>,
    token_leeway_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    outbox_poll_ms: Option<u64>,
    outbox_backoff_ms: Option<u64>,
    outbox_max_attempts: Option<u32>,
    reload_poll_ms: Option<u64>,
    erasure_keeps_consent_proof: Option<bool>,
    rate_limit_per_minute: Option<u32>,
    rate_limit_burst: Option<u32>,
    trust_forwarded_for: Option<bool>,
    #[serde(default)]
    admin_tokens: Vec<AdminTokenSettings>,
    #[serde(default)]
    tenants: Vec<TenantSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminTokenSettings {
    name: String,
    /// SHA-256 of the token, hex (`printf %s TOKEN | sha256sum`).
    sha256: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagementSettings {
    base_url: Option<String>,
    client_id: String,
    /// The environment variable holding the client secret.
    client_secret_env: String,
    audience: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantSettings {
    issuer: String,
    continue_url: Option<String>,
    /// Names of environment variables holding this tenant's secrets, newest first.
    #[serde(default)]
    secret_env: Vec<String>,
    management: Option<ManagementSettings>,
}

/// Where settings come from, so tests can supply their own environment.
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::Invalid(format!("{name}=`{value}` is not a whole number")))
}

fn weak_secret_message(whose: &str) -> String {
    format!(
        "the secret for {whose} is missing or shorter than {MIN_SECRET_BYTES} bytes; make one with `openssl rand -hex 32` and set it in INTERLUDE_SECRET (or the tenant's secret_env), the same value as the Action's secret"
    )
}

impl Config {
    /// Reads the optional settings file, then the environment. `dev` turns on dev mode.
    pub fn load(file: Option<&Path>, dev: bool, env: &dyn Env) -> Result<Config, ConfigError> {
        let settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                serde_saphyr::from_str::<FileSettings>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.without_snippet().to_string(),
                })?
            }
            None => FileSettings::default(),
        };
        let pick = |name: &str, from_file: Option<String>| env.var(name).or(from_file);

        let listen_text = pick("INTERLUDE_LISTEN", settings.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen address `{listen_text}` is not host:port, e.g. 127.0.0.1:8080"
            ))
        })?;
        let public_url = pick("INTERLUDE_PUBLIC_URL", settings.public_url)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err(ConfigError::Invalid(format!(
                "public URL `{public_url}` must start with https:// (or http:// in development)"
            )));
        }
        let database_url = pick("INTERLUDE_DATABASE_URL", settings.database_url)
            .unwrap_or_else(|| "sqlite://interlude.db".to_owned());
        let campaigns_dir = env
            .var("INTERLUDE_CAMPAIGNS_DIR")
            .map(PathBuf::from)
            .or(settings.campaigns_dir)
            .unwrap_or_else(|| PathBuf::from("campaigns"));
        let themes_dir = env
            .var("INTERLUDE_THEMES_DIR")
            .map(PathBuf::from)
            .or(settings.themes_dir)
            .unwrap_or_else(|| PathBuf::from("themes"));
        let service_issuer = pick("INTERLUDE_SERVICE_ISSUER", settings.service_issuer)
            .unwrap_or_else(|| {
                public_url
                    .split("://")
                    .nth(1)
                    .unwrap_or("interlude")
                    .to_owned()
            });
        let number = |name: &str, from_file: Option<u64>, default: u64| {
            env.var(name)
                .map(|v| parse_num::<u64>(name, v))
                .transpose()
                .map(|v| v.or(from_file).unwrap_or(default))
        };
        let max_chain = number("INTERLUDE_MAX_CHAIN", settings.max_chain.map(u64::from), 1)?;
        let return_token_ttl_secs = number(
            "INTERLUDE_RETURN_TOKEN_TTL_SECS",
            settings.return_token_ttl_secs,
            120,
        )?;
        let prompt_ttl_secs = number("INTERLUDE_PROMPT_TTL_SECS", settings.prompt_ttl_secs, 1800)?;
        let token_leeway_secs = number(
            "INTERLUDE_TOKEN_LEEWAY_SECS",
            settings.token_leeway_secs,
            30,
        )?;
        let body_limit_bytes = number(
            "INTERLUDE_BODY_LIMIT_BYTES",
            settings.body_limit_bytes.map(|b| b as u64),
            64 * 1024,
        )?;
        if return_token_ttl_secs < 60 {
            return Err(ConfigError::Invalid(format!(
                "return_token_ttl_secs is {return_token_ttl_secs}; Auth0 refuses return tokens that expire less than 60 s after they are issued"
            )));
        }
        if token_leeway_secs > 30 {
            return Err(ConfigError::Invalid(format!(
                "token_leeway_secs is {token_leeway_secs}; at most 30 s of clock skew is allowed"
            )));
        }
        if !(1..=10).contains(&max_chain) {
            return Err(ConfigError::Invalid(format!(
                "max_chain is {max_chain}; it must be 1 to 10"
            )));
        }

        let secrets_file = load_secrets_file(env)?;
        let mut tenants = Vec::new();
        for t in settings.tenants {
            let mut secrets: Vec<SecretString> = t
                .secret_env
                .iter()
                .filter_map(|name| env.var(name))
                .map(SecretString::from)
                .collect();
            if let Some(listed) = secrets_file.get(&t.issuer) {
                secrets.extend(listed.iter().cloned().map(SecretString::from));
            }
            let management = match t.management {
                None => None,
                Some(m) => {
                    let secret = env.var(&m.client_secret_env).ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "the Management API client secret of {} is missing: set {}",
                            t.issuer, m.client_secret_env
                        ))
                    })?;
                    Some(management(
                        &t.issuer,
                        m.base_url,
                        m.client_id,
                        secret,
                        m.audience,
                    ))
                }
            };
            tenants.push(Tenant {
                continue_url: t
                    .continue_url
                    .unwrap_or_else(|| format!("https://{}/continue", t.issuer)),
                issuer: t.issuer,
                secrets,
                management,
            });
        }
        if let Some(issuer) = env.var("INTERLUDE_ISSUER") {
            let mut secrets: Vec<SecretString> = ["INTERLUDE_SECRET", "INTERLUDE_SECRET_PREVIOUS"]
                .iter()
                .filter_map(|name| env.var(name))
                .map(SecretString::from)
                .collect();
            if let Some(listed) = secrets_file.get(&issuer) {
                secrets.extend(listed.iter().cloned().map(SecretString::from));
            }
            let management = match (
                env.var("INTERLUDE_MGMT_CLIENT_ID"),
                env.var("INTERLUDE_MGMT_CLIENT_SECRET"),
            ) {
                (Some(id), Some(secret)) => Some(management(
                    &issuer,
                    env.var("INTERLUDE_MGMT_BASE_URL"),
                    id,
                    secret,
                    env.var("INTERLUDE_MGMT_AUDIENCE"),
                )),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Invalid(
                        "set both INTERLUDE_MGMT_CLIENT_ID and INTERLUDE_MGMT_CLIENT_SECRET, or neither".into(),
                    ));
                }
            };
            tenants.push(Tenant {
                continue_url: env
                    .var("INTERLUDE_CONTINUE_URL")
                    .unwrap_or_else(|| format!("https://{issuer}/continue")),
                issuer,
                secrets,
                management,
            });
        }
        for t in &tenants {
            let weak = t.secrets.is_empty()
                || t.secrets
                    .iter()
                    .any(|s| s.expose_secret().len() < MIN_SECRET_BYTES);
            if weak && !dev {
                return Err(ConfigError::Invalid(weak_secret_message(&t.issuer)));
            }
            if !t.continue_url.starts_with("https://") && !dev {
                return Err(ConfigError::Invalid(format!(
                    "the continue URL of {} must be https://, not `{}`",
                    t.issuer, t.continue_url
                )));
            }
        }
        if dev {
            tenants.push(Tenant {
                issuer: DEV_ISSUER.to_owned(),
                continue_url: format!("{public_url}/_dev/continue"),
                secrets: vec![SecretString::from(crate::token::random_secret())],
                management: None,
            });
        }
        if tenants.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "no tenant is configured: set INTERLUDE_ISSUER (e.g. acme.eu.auth0.com) and INTERLUDE_SECRET, list `tenants` in a settings file, or run with --dev. {}",
                weak_secret_message("the tenant")
            )));
        }

        let webhook_secret = match env.var("INTERLUDE_WEBHOOK_SECRET") {
            Some(s) if s.len() >= MIN_SECRET_BYTES || dev => Some(SecretString::from(s)),
            Some(_) => {
                return Err(ConfigError::Invalid(format!(
                    "INTERLUDE_WEBHOOK_SECRET is shorter than {MIN_SECRET_BYTES} bytes; make one with `openssl rand -hex 32`"
                )));
            }
            None if dev => Some(SecretString::from(crate::token::random_secret())),
            None => None,
        };
        let outbox_poll_ms = number("INTERLUDE_OUTBOX_POLL_MS", settings.outbox_poll_ms, 500)?;
        let outbox_backoff_ms = number(
            "INTERLUDE_OUTBOX_BACKOFF_MS",
            settings.outbox_backoff_ms,
            1000,
        )?;
        let reload_poll_ms = number("INTERLUDE_RELOAD_POLL_MS", settings.reload_poll_ms, 2000)?;
        let outbox_max_attempts = number(
            "INTERLUDE_OUTBOX_MAX_ATTEMPTS",
            settings.outbox_max_attempts.map(u64::from),
            10,
        )?;

        let mut admin_tokens = Vec::new();
        for t in settings.admin_tokens {
            let sha256 = parse_sha256(&t.sha256).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "admin token `{}`: sha256 must be 64 hex digits (`printf %s TOKEN | sha256sum`)",
                    t.name
                ))
            })?;
            admin_tokens.push(AdminToken {
                name: t.name,
                sha256,
                read_only: t.read_only,
            });
        }
        for (var, read_only) in [
            ("INTERLUDE_ADMIN_TOKEN_SHA256", false),
            ("INTERLUDE_ADMIN_READONLY_TOKEN_SHA256", true),
        ] {
            for (i, hex) in env.var(var).unwrap_or_default().split(',').enumerate() {
                if hex.trim().is_empty() {
                    continue;
                }
                let sha256 = parse_sha256(hex).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "{var}: each entry must be 64 hex digits (`printf %s TOKEN | sha256sum`)"
                    ))
                })?;
                admin_tokens.push(AdminToken {
                    name: format!("{}-{i}", if read_only { "readonly" } else { "admin" }),
                    sha256,
                    read_only,
                });
            }
        }
        let rate_limit_per_minute = number(
            "INTERLUDE_RATE_LIMIT_PER_MINUTE",
            settings.rate_limit_per_minute.map(u64::from),
            1200,
        )?;
        let rate_limit_burst = number(
            "INTERLUDE_RATE_LIMIT_BURST",
            settings.rate_limit_burst.map(u64::from),
            200,
        )?;
        let trust_forwarded_for = match env.var("INTERLUDE_TRUST_FORWARDED_FOR") {
            Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            None => settings.trust_forwarded_for.unwrap_or(false),
        };
        let erasure_keeps_consent_proof = match env.var("INTERLUDE_ERASURE_KEEPS_CONSENT_PROOF") {
            Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            None => settings.erasure_keeps_consent_proof.unwrap_or(true),
        };

        Ok(Config {
            listen,
            public_url,
            database_url,
            campaigns_dir,
            themes_dir,
            service_issuer,
            tenants,
            continue_uri_allowlist: settings.continue_uri_allowlist.unwrap_or_default(),
            max_chain: max_chain as u32,
            return_token_ttl_secs,
            prompt_ttl_secs,
            token_leeway_secs,
            body_limit_bytes: body_limit_bytes as usize,
            dev,
            webhook_secret,
            outbox_poll_ms: outbox_poll_ms.max(10),
            outbox_backoff_ms: outbox_backoff_ms.max(1),
            outbox_max_attempts: u32::try_from(outbox_max_attempts.clamp(1, 100)).unwrap_or(10),
            reload_poll_ms,
            admin_tokens,
            erasure_keeps_consent_proof,
            rate_limit_per_minute: u32::try_from(rate_limit_per_minute).unwrap_or(u32::MAX),
            rate_limit_burst: u32::try_from(rate_limit_burst).unwrap_or(u32::MAX),
            trust_forwarded_for,
        })
    }

    /// The tenant whose tokens carry this `iss`.
    pub fn tenant(&self, issuer: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.issuer == issuer)
    }

    /// Whether cookies may carry the `Secure` flag (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn management(
    issuer: &str,
    base_url: Option<String>,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
) -> Management {
    Management {
        base_url: base_url
            .unwrap_or_else(|| format!("https://{issuer}"))
            .trim_end_matches('/')
            .to_owned(),
        client_id,
        client_secret: SecretString::from(client_secret),
        audience: audience.unwrap_or_else(|| format!("https://{issuer}/api/v2/")),
    }
}

/// `INTERLUDE_SECRETS_FILE`: a YAML map from issuer to its secrets, newest first.
fn load_secrets_file(env: &dyn Env) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let Some(path) = env.var("INTERLUDE_SECRETS_FILE") else {
        return Ok(BTreeMap::new());
    };
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    // The message names the position only, never the file's content.
    serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
        message: format!(
            "not a map from issuer to a list of secrets (at {})",
            e.location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "an unknown position".to_owned())
        ),
        path,
    })
}
