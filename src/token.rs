//! Tokens: verify the inbound `session_token` (as Auth0's `api.redirect.encodeToken` makes it)
//! and sign the return token (as `api.redirect.validateToken` accepts it).
//!
//! HS256 is pinned: the header's `alg` is read before anything else and any other value,
//! `none` included, is refused. The issuer is looked up in the allowlist before the signature
//! is checked, so the secret tried is always that tenant's own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::config::Config;

/// Inbound tokens larger than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why an inbound token was refused. `reason()` is the stable label for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token in the request.
    #[error("no session_token was given")]
    Missing,
    /// Over [`MAX_TOKEN_BYTES`].
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// Not three base64url parts with JSON inside.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm other than HS256.
    #[error("the token's algorithm `{0}` is not HS256")]
    Algorithm(String),
    /// `iss` missing or not on the allowlist.
    #[error("the token's issuer is not allowed")]
    UnknownIssuer,
    /// No configured secret verifies the signature.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `exp` missing.
    #[error("the token has no expiry (`exp`)")]
    MissingExpiry,
    /// `exp` in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `sub` missing or empty.
    #[error("the token names no user (`sub`)")]
    MissingSubject,
    /// A standard claim has the wrong type.
    #[error("the token's claim `{0}` has the wrong type")]
    BadClaim(String),
    /// Signing failed (never for a valid HS256 key).
    #[error("the return token could not be signed")]
    Signing,
}

impl TokenError {
    /// A short stable label: `alg`, `signature`, `expired`, …
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::TooLarge => "too_large",
            TokenError::Malformed => "malformed",
            TokenError::Algorithm(_) => "algorithm",
            TokenError::UnknownIssuer => "issuer",
            TokenError::BadSignature => "signature",
            TokenError::MissingExpiry => "no_exp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::MissingSubject => "no_sub",
            TokenError::BadClaim(_) => "bad_claim",
            TokenError::Signing => "signing",
        }
    }
}

/// A verified inbound token.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// `sub`.
    pub subject: String,
    /// `iss` (an allowed tenant).
    pub issuer: String,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// Which of the tenant's secrets verified it (0 is the newest).
    pub secret_index: usize,
    /// Every claim, for the rules and the form defaults.
    pub claims: Value,
}

/// A fresh random secret (32 bytes, hex), for dev mode.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn header_alg(token: &str) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    json.get("alg")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(TokenError::Malformed)
}

fn claims_unverified(token: &str) -> Result<Value, TokenError> {
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if json.is_object() {
        Ok(json)
    } else {
        Err(TokenError::Malformed)
    }
}

/// Verifies an inbound session token exactly as DESIGN.md says; `now` is seconds since the epoch.
pub fn verify(token: &str, config: &Config, now: i64) -> Result<Inbound, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let alg = header_alg(token)?;
    if alg != "HS256" {
        return Err(TokenError::Algorithm(alg.chars().take(20).collect()));
    }
    let unverified = claims_unverified(token)?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::UnknownIssuer)?;
    let tenant = config.tenant(issuer).ok_or(TokenError::UnknownIssuer)?;

    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = config.token_leeway_secs;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.set_issuer(&[tenant.issuer.as_str()]);

    // The claims were parsed above to find the tenant; once the signature over the same
    // bytes holds they are the verified claims, so the decode does not build them again.
    let mut verified = None;
    for (index, secret) in tenant.secrets.iter().enumerate() {
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
        match jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &key, &validation) {
            Ok(_) => {
                verified = Some(index);
                break;
            }
            Err(e) => match e.kind() {
                ErrorKind::InvalidSignature => continue,
                ErrorKind::ExpiredSignature => return Err(TokenError::Expired),
                ErrorKind::ImmatureSignature => return Err(TokenError::NotYetValid),
                ErrorKind::InvalidIssuer => return Err(TokenError::UnknownIssuer),
                ErrorKind::MissingRequiredClaim(c) if c == "exp" => {
                    return Err(TokenError::MissingExpiry);
                }
                ErrorKind::MissingRequiredClaim(c) if c == "sub" => {
                    return Err(TokenError::MissingSubject);
                }
                ErrorKind::MissingRequiredClaim(c) if c == "iss" => {
                    return Err(TokenError::UnknownIssuer);
                }
                ErrorKind::InvalidClaimFormat(c) => return Err(TokenError::BadClaim(c.clone())),
                ErrorKind::InvalidAlgorithm => return Err(TokenError::Algorithm(alg)),
                _ => return Err(TokenError::Malformed),
            },
        }
    }
    let secret_index = verified.ok_or(TokenError::BadSignature)?;
    let claims = unverified;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or(TokenError::MissingSubject)?
        .to_owned();
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(TokenError::MissingExpiry)?;
    let leeway = i64::try_from(config.token_leeway_secs).unwrap_or(0);
    if let Some(iat) = claims.get("iat") {
        let iat = iat
            .as_i64()
            .ok_or_else(|| TokenError::BadClaim("iat".to_owned()))?;
        if iat > now + leeway {
            return Err(TokenError::NotYetValid);
        }
    }
    Ok(Inbound {
        subject,
        issuer: tenant.issuer.clone(),
        expires_at,
        secret_index,
        claims,
    })
}

/// Signs `claims` with HS256 and `secret`.
pub fn sign(claims: &Map<String, Value>, secret: &SecretString) -> Result<String, TokenError> {
    let header = Header::new(Algorithm::HS256);
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&header, claims, &key).map_err(|_| TokenError::Signing)
}

/// Verifies a return token the way Auth0's `api.redirect.validateToken` does: HS256 signature,
/// not expired, and its `state` claim equal to the state of the redirect. Used by the dev
/// tenant and by tests.
pub fn validate_like_auth0(
    token: &str,
    secret: &SecretString,
    expected_state: &str,
) -> Result<Value, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| format!("the token does not validate: {e}"))?;
    let claims = data.claims;
    match claims.get("state").and_then(Value::as_str) {
        Some(s) if s == expected_state => {}
        Some(_) => return Err("the token's state differs from the state of the redirect".into()),
        None => return Err("the token has no state claim".into()),
    }
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp - iat < 60 {
        return Err(
            "Missing or invalid standard claims: exp must be at least 60 s after iat".into(),
        );
    }
    Ok(claims)
}
