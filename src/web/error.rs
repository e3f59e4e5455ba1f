//! Errors at the edge: every failure becomes a page (or JSON for the admin API) with the
//! right status and words safe for users.
//!
//! Policy:
//! - Input the user or the IdP got wrong is a 4xx with a page that says what to do next;
//!   a refused token is never a 500.
//! - Our own failures (database, templates) are a 500 "something went wrong" page; the
//!   detail goes to the log, never to the page.
//! - A handler does not log. It returns a `WebError`; `into_response` attaches an
//!   [`ErrorPage`] to the response, and the `edge` middleware renders the page in the
//!   user's language and logs the reason once, without token content.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::detour::{FlowError, Return};
use crate::token::TokenError;

/// Which explanation an error page gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// The link is malformed, altered or unknown.
    Invalid,
    /// The link was used before.
    Used,
    /// The page expired.
    Expired,
    /// The page belongs to another browser / the form is forged.
    Forbidden,
    /// Our fault.
    Trouble,
}

impl PageKind {
    /// The built-in words' key prefix.
    pub fn key(self) -> &'static str {
        match self {
            PageKind::Invalid => "invalid",
            PageKind::Used => "used",
            PageKind::Expired => "expired",
            PageKind::Forbidden => "forbidden",
            PageKind::Trouble => "trouble",
        }
    }
}

/// Attached to error responses for the rendering middleware.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// Which explanation.
    pub kind: PageKind,
    /// Stable reason for logs and metrics.
    pub reason: String,
    /// Detail for the log (never shown).
    pub detail: String,
    /// A way back to the IdP, if there is one.
    pub back: Option<Box<Return>>,
}

impl ErrorPage {
    /// A response of `status` that the `edge` middleware renders as this page.
    pub fn respond(self, status: StatusCode) -> Response {
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The web layer's error.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A step of the detour failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request body is over the limit.
    #[error("the request body is too large")]
    TooLarge,
    /// A page failed to render.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// Anything else of ours.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<TokenError> for WebError {
    fn from(e: TokenError) -> Self {
        WebError::Flow(FlowError::Token(e))
    }
}

impl WebError {
    fn parts(self) -> (StatusCode, ErrorPage) {
        let page = |kind, reason: &str, detail: String| ErrorPage {
            kind,
            reason: reason.to_owned(),
            detail,
            back: None,
        };
        let detail = self.to_string();
        match self {
            WebError::Flow(flow) => match flow {
                FlowError::Token(t) => {
                    let kind = if t == TokenError::Expired {
                        PageKind::Expired
                    } else {
                        PageKind::Invalid
                    };
                    let status = if t == TokenError::TooLarge {
                        StatusCode::PAYLOAD_TOO_LARGE
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    (status, page(kind, &format!("token_{}", t.reason()), detail))
                }
                FlowError::MissingState => (
                    StatusCode::BAD_REQUEST,
                    page(PageKind::Invalid, "missing_state", detail),
                ),
                FlowError::StateReused => (
                    StatusCode::CONFLICT,
                    page(PageKind::Used, "state_reused", detail),
                ),
                FlowError::ContinueUriRefused => (
                    StatusCode::BAD_REQUEST,
                    page(PageKind::Invalid, "continue_uri", detail),
                ),
                FlowError::NotFound => (
                    StatusCode::NOT_FOUND,
                    page(PageKind::Invalid, "not_found", detail),
                ),
                FlowError::WrongBrowser => (
                    StatusCode::FORBIDDEN,
                    page(PageKind::Forbidden, "wrong_browser", detail),
                ),
                FlowError::BadCsrf => (
                    StatusCode::FORBIDDEN,
                    page(PageKind::Forbidden, "csrf", detail),
                ),
                FlowError::Expired { back } => (
                    StatusCode::GONE,
                    ErrorPage {
                        kind: PageKind::Expired,
                        reason: "expired".into(),
                        detail,
                        back,
                    },
                ),
                FlowError::Form(_) | FlowError::ActionRefused(_) => (
                    StatusCode::BAD_REQUEST,
                    page(PageKind::Invalid, "bad_form", detail),
                ),
                FlowError::CampaignGone(_) | FlowError::Store(_) | FlowError::Corrupt(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    page(PageKind::Trouble, "internal", detail),
                ),
            },
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                page(PageKind::Invalid, "too_large", detail),
            ),
            WebError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                page(PageKind::Invalid, "bad_request", detail),
            ),
            WebError::Render(_) | WebError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                page(PageKind::Trouble, "internal", detail),
            ),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, page) = self.parts();
        page.respond(status)
    }
}
