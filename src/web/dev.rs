//! Dev mode's IdP emulator: `/_dev` mints session tokens like Auth0's `encodeToken` and
//! `/_dev/continue` checks the return token like `validateToken`. Routed only with `--dev`.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::{ClientInfo, cookie, html_headers, set_cookie};
use crate::config::DEV_ISSUER;
use crate::render::views::Chrome;
use crate::state::AppState;
use crate::token;

const STATE_COOKIE: &str = "interlude_dev_state";

#[derive(Serialize)]
struct CampaignRow {
    id: String,
    title: String,
    version: u32,
    priority: i32,
    enabled: bool,
}

#[derive(Serialize)]
struct Persona {
    name: &'static str,
    claims: String,
}

#[derive(Serialize)]
struct DevPage {
    #[serde(flatten)]
    chrome: Chrome,
    issuer: &'static str,
    csrf: String,
    campaigns: Vec<CampaignRow>,
    personas: Vec<Persona>,
}

#[derive(Serialize)]
struct DevContinuePage {
    #[serde(flatten)]
    chrome: Chrome,
    ok: bool,
    verdict: String,
    claims: Option<String>,
}

fn dev_secret(state: &AppState) -> Result<secrecy::SecretString, WebError> {
    state
        .config()
        .tenant(DEV_ISSUER)
        .and_then(|t| t.secrets.first().cloned())
        .ok_or_else(|| WebError::Internal("the dev tenant has no secret".into()))
}

fn dev_csrf(state: &AppState) -> Result<String, WebError> {
    use secrecy::ExposeSecret;
    let secret = dev_secret(state)?;
    Ok(token::hex(&Sha256::digest(
        format!("dev-csrf:{}", secret.expose_secret()).as_bytes(),
    )))
}

fn personas() -> Vec<Persona> {
    let presets = [
        (
            "a returning user without a name",
            json!({"sub": "auth0|dev-returning", "email": "sam@example.com", "email_verified": false,
                   "logins_count": 2, "locale": "en", "user_metadata": {}, "app_metadata": {}}),
        ),
        (
            "a regular with a verified e-mail",
            json!({"sub": "auth0|dev-regular", "email": "kim@example.com", "email_verified": true,
                   "logins_count": 5, "locale": "en",
                   "user_metadata": {"given_name": "Kim", "family_name": "Lee"}, "app_metadata": {"plan": "pro"}}),
        ),
        (
            "a German-speaking user",
            json!({"sub": "auth0|dev-de", "email": "lena@example.de", "email_verified": true,
                   "logins_count": 3, "locale": "de", "user_metadata": {}, "app_metadata": {}}),
        ),
    ];
    presets
        .into_iter()
        .map(|(name, claims)| Persona {
            name,
            claims: serde_json::to_string_pretty(&claims).unwrap_or_default(),
        })
        .collect()
}

/// `GET /_dev`: campaigns and personas.
pub async fn index(State(state): State<AppState>, info: ClientInfo) -> Result<Response, WebError> {
    let view = DevPage {
        chrome: Chrome::plain("default", "en", &info.nonce, "Interlude dev tenant"),
        issuer: DEV_ISSUER,
        csrf: dev_csrf(&state)?,
        campaigns: state
            .campaigns()
            .iter()
            .map(|c| CampaignRow {
                id: c.id.clone(),
                title: c.title.clone(),
                version: c.version,
                priority: c.priority,
                enabled: c.enabled,
            })
            .collect(),
        personas: personas(),
    };
    let html = state.renderer().render("default", "dev", &view)?;
    Ok((html_headers(), html).into_response())
}

/// The dev login form.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    claims: String,
    #[serde(default)]
    campaign: String,
}

/// `POST /_dev/start`: mint a session token as `api.redirect.encodeToken` does and redirect.
pub async fn start(
    State(state): State<AppState>,
    Form(form): Form<StartForm>,
) -> Result<Response, WebError> {
    if form.csrf != dev_csrf(&state)? {
        return Err(WebError::Flow(crate::detour::FlowError::BadCsrf));
    }
    let mut claims: Map<String, Value> = serde_json::from_str(&form.claims)
        .map_err(|e| WebError::BadRequest(format!("the claims are not a JSON object: {e}")))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    claims
        .entry("sub")
        .or_insert_with(|| json!("auth0|dev-user"));
    claims.insert("iss".into(), json!(DEV_ISSUER));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 900));
    claims.entry("ip").or_insert_with(|| json!("127.0.0.1"));
    if !form.campaign.is_empty() {
        claims.insert("campaign".into(), json!(form.campaign));
    }
    let session_token = token::sign(&claims, &dev_secret(&state)?)?;
    let idp_state = uuid::Uuid::new_v4().simple().to_string();
    let location = format!("/prompt?state={idp_state}&session_token={session_token}");
    let mut response = Redirect::to(&location).into_response();
    let secure = state.config().secure_cookies();
    if let Ok(v) =
        header::HeaderValue::from_str(&set_cookie(STATE_COOKIE, &idp_state, 3600, secure))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// What comes back to /continue.
#[derive(Debug, Deserialize)]
pub struct ContinueForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    session_token: String,
}

/// `POST /_dev/continue`: check the return token as `api.redirect.validateToken` does.
pub async fn continued(
    State(state): State<AppState>,
    info: ClientInfo,
    headers: HeaderMap,
    Form(form): Form<ContinueForm>,
) -> Result<Response, WebError> {
    let sent_state = cookie(&headers, STATE_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let checked = if form.state != sent_state {
        Err("the state posted back differs from the state this tenant sent".to_owned())
    } else {
        token::validate_like_auth0(&form.session_token, &dev_secret(&state)?, &sent_state)
    };
    let (ok, verdict, claims) = match checked {
        Ok(claims) => (
            true,
            "validateToken accepted it: signature, expiry and state all check out.".to_owned(),
            Some(claims),
        ),
        Err(reason) => (false, reason, None),
    };
    let view = DevContinuePage {
        chrome: Chrome::plain("default", "en", &info.nonce, "Back at the dev tenant"),
        ok,
        verdict,
        claims: claims.map(|c| serde_json::to_string_pretty(&c).unwrap_or_default()),
    };
    let html = state.renderer().render("default", "dev_continue", &view)?;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, html_headers(), html).into_response())
}
