//! The user's pages: `/prompt` (from the IdP), `/p/{id}` (the form), `/r/{id}` (the return).

use std::borrow::Cow;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::WebError;
use super::{ClientInfo, browser_cookie_name, continue_page, html_headers, set_cookie};
use crate::detour::{self, Next, Shown, Submitted};
use crate::render::strings;
use crate::render::views::{BackForm, Chrome, MessagePage};
use crate::state::AppState;
use crate::token;

/// Longest `state` accepted.
const MAX_STATE: usize = 2048;

/// The query the IdP sends: `state` and `session_token`, each at most once; other
/// parameters are ignored.
///
/// Read by hand rather than through axum's `Query`, whose serde path tracking cost 1.9 % of
/// a login's CPU (docs/benchmark.md, session 10).
#[derive(Debug, Default, PartialEq)]
struct PromptQuery {
    state: String,
    session_token: String,
}

impl PromptQuery {
    fn parse(raw: Option<&str>) -> Result<Self, WebError> {
        let mut query = PromptQuery::default();
        let (mut state, mut token) = (false, false);
        for (key, value) in raw.unwrap_or_default().split('&').filter_map(decoded) {
            let (seen, slot) = match key.as_ref() {
                "state" => (&mut state, &mut query.state),
                "session_token" => (&mut token, &mut query.session_token),
                _ => continue,
            };
            if std::mem::replace(seen, true) {
                return Err(WebError::BadRequest(format!(
                    "the query names `{key}` more than once"
                )));
            }
            *slot = value.into_owned();
        }
        Ok(query)
    }
}

/// One `key=value` pair of a query, decoded; borrowed when it holds nothing to decode (a
/// session token never does).
fn decoded(pair: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    if pair.is_empty() {
        return None;
    }
    if pair.contains(['%', '+']) {
        return form_urlencoded::parse(pair.as_bytes()).next();
    }
    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
    Some((Cow::Borrowed(key), Cow::Borrowed(value)))
}

/// The browser cookie lives a day: long enough for any detour, short enough to mean little.
const COOKIE_MAX_AGE: u64 = 86_400;

fn with_cookie(state: &AppState, info: &ClientInfo, mut response: Response) -> Response {
    if let Some(value) = &info.new_cookie {
        let secure = state.config().secure_cookies();
        let cookie = set_cookie(browser_cookie_name(secure), value, COOKIE_MAX_AGE, secure);
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn to_next(next: Next) -> Response {
    match next {
        Next::Prompt(id) => Redirect::to(&format!("/p/{id}")).into_response(),
        Next::Return(back) => Redirect::to(&format!("/r/{}", back.detour_id)).into_response(),
    }
}

/// `GET /prompt?state=…&session_token=…`: verify, record, and move off the token's URL.
pub async fn start(
    State(state): State<AppState>,
    info: ClientInfo,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let PromptQuery {
        state: idp_state,
        session_token: token_text,
    } = PromptQuery::parse(raw.as_deref())?;
    if idp_state.len() > MAX_STATE {
        return Err(WebError::BadRequest("the state is too long".into()));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let inbound = token::verify(&token_text, state.config(), now).inspect_err(|e| {
        crate::telemetry::token_refused(e.reason());
    })?;
    let next = detour::start(&state, inbound, &idp_state, &info.client).await?;
    Ok(with_cookie(&state, &info, to_next(next)))
}

/// `GET /p/{id}`: the form, or where the prompt led.
pub async fn show(
    State(state): State<AppState>,
    info: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    match detour::show(&state, &id, &info.client).await? {
        Shown::Form(mut page) => {
            page.chrome.nonce = info.nonce.clone();
            let html = state
                .renderer()
                .render(&page.chrome.theme.clone(), "form", &page)?;
            Ok((html_headers(), html).into_response())
        }
        Shown::MovedOn(next) => Ok(Redirect::to(&format!("/p/{next}")).into_response()),
        Shown::Done(back) => {
            let heading = strings::word(&back.locale, "done_title").to_owned();
            let set = state.campaigns();
            let campaign = back.campaign.as_deref().and_then(|id| set.get(id));
            let view = MessagePage {
                chrome: Chrome::after_campaign(
                    campaign.map(AsRef::as_ref),
                    &back.theme,
                    &back.locale,
                    &info.nonce,
                    &heading,
                ),
                heading,
                message: strings::word(&back.locale, "done_text").to_owned(),
                back: Some(BackForm {
                    continue_url: back.continue_url.clone(),
                    state: back.state.clone(),
                    token: back.token.clone(),
                }),
            };
            let html = state.renderer().render(&back.theme, "message", &view)?;
            let mut response = (html_headers(), html).into_response();
            response
                .extensions_mut()
                .insert(super::FormTarget(super::origin_of(&back.continue_url)));
            Ok(response)
        }
    }
}

/// `POST /p/{id}`: record the answer, or show the form again with messages.
pub async fn submit(
    State(state): State<AppState>,
    info: ClientInfo,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, WebError> {
    let Form(pairs) = form.map_err(|e| match e {
        FormRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            WebError::TooLarge
        }
        other => WebError::BadRequest(other.body_text()),
    })?;
    match detour::submit(&state, &id, &info.client, &pairs).await? {
        Submitted::Invalid(mut page) => {
            page.chrome.nonce = info.nonce.clone();
            let html = state
                .renderer()
                .render(&page.chrome.theme.clone(), "form", &page)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html_headers(), html).into_response())
        }
        Submitted::Next(Next::Prompt(next)) => {
            Ok(Redirect::to(&format!("/p/{next}")).into_response())
        }
        Submitted::Next(Next::Return(back)) => continue_page(&state, &back, &info.nonce),
    }
}

/// `GET /r/{id}`: the return page of a finished detour.
pub async fn returned(
    State(state): State<AppState>,
    info: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let back = detour::returned(&state, &id, &info.client).await?;
    continue_page(&state, &back, &info.nonce)
}

#[cfg(test)]
mod tests {
    use super::PromptQuery;

    fn parsed(raw: Option<&str>) -> Option<(String, String)> {
        PromptQuery::parse(raw)
            .ok()
            .map(|q| (q.state, q.session_token))
    }

    #[test]
    fn the_query_is_decoded_and_other_parameters_are_ignored() {
        assert_eq!(
            parsed(Some("state=a%2Bb+c&x=1&session_token=t.k.n")),
            Some(("a+b c".into(), "t.k.n".into()))
        );
        assert_eq!(
            parsed(Some("session_token=t")),
            Some((String::new(), "t".into()))
        );
        assert_eq!(parsed(None), Some((String::new(), String::new())));
        // Keys are decoded too; empty pairs and a pair without `=` are taken as
        // form_urlencoded takes them.
        assert_eq!(
            parsed(Some("&st%61te=s&&session_token&")),
            Some(("s".into(), String::new()))
        );
        assert_eq!(
            parsed(Some("state=%F0%9F%98%80")),
            Some(("😀".into(), String::new()))
        );
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        assert_eq!(parsed(Some("state=a&session_token=t&state=b")), None);
        assert_eq!(parsed(Some("session_token=t&session_token=u")), None);
    }
}
