//! Tokens: verify the inbound `session_token` (as Auth0's `api.redirect.encodeToken` makes it)
//! and sign the return token (as `api.redirect.validateToken` accepts it).
//!
//! HS256 is pinned: the header's `alg` is read before anything else and any other value,
//! `none` included, is refused. The issuer is looked up in the allowlist before the signature
//! is checked, so the secret tried is always that tenant's own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;

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
    /// The claims as the token carried them (its payload, JSON): what a detour records,
    /// without writing `claims` out again.
    pub claims_json: String,
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

/// The three parts of a compact JWS: header, payload and signature, each base64url; the
/// signed message is the first two with the dot between them.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    message: &'a str,
    signature: &'a str,
}

fn parts(token: &str) -> Result<Parts<'_>, TokenError> {
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.contains('.') {
        return Err(TokenError::Malformed);
    }
    Ok(Parts {
        header,
        payload,
        message,
        signature,
    })
}

fn base64_bytes(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

/// The registered claims jsonwebtoken's validation read, each at most once (a repeated one
/// fails to deserialize); their values are checked from the parsed claims, so the fields
/// are never read.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Registered {
    exp: Option<serde::de::IgnoredAny>,
    nbf: Option<serde::de::IgnoredAny>,
    sub: Option<serde::de::IgnoredAny>,
    iss: Option<serde::de::IgnoredAny>,
    aud: Option<serde::de::IgnoredAny>,
}

/// Whether `signature` (base64url) is the HS256 MAC of `message` under `secret`; the
/// comparison takes the same time whatever the bytes.
fn hs256_holds(secret: &[u8], message: &str, signature: &[u8]) -> bool {
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.chain_update(message.as_bytes())
        .verify_slice(signature)
        .is_ok()
}

/// A registered time claim (`exp`, `nbf`) as jsonwebtoken reads it: a non-negative
/// number of seconds, a fraction rounded. `Ok(None)` when absent, `Err` when it is anything
/// else (`null` included).
fn numeric_date(claims: &Value, name: &str) -> Result<Option<u64>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Ok(Some(f.round() as u64))
            }
            _ => Err(()),
        },
        Some(_) => Err(()),
    }
}

/// Verifies an inbound session token exactly as DESIGN.md says; `now` is seconds since the
/// epoch.
///
/// Each part is base64-decoded once and the payload parsed once into the claims that are
/// returned; the signature is checked with each of the tenant's secrets over the same
/// bytes. The checks follow what jsonwebtoken's `decode` and `Validation` did (HS256; a
/// well-typed header; `exp`, `iss` and `sub` required, none of the registered claims
/// twice; `nbf` checked; no audience), in its order, so a token is refused when it was
/// refused before, and for the same reason but one: a registered claim that holds an
/// array or an object is missing or of the wrong type here, where jsonwebtoken's reader
/// stopped on it and called the token malformed. `tests` compares the two.
pub fn verify(token: &str, config: &Config, now: i64) -> Result<Inbound, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let parts = parts(token)?;
    let header_bytes = base64_bytes(parts.header)?;
    // The usual header parses as jsonwebtoken's and names HS256; any other is read as JSON
    // for the name of its algorithm, and refused in the order the checks below keep.
    let typed = serde_json::from_slice::<jsonwebtoken::Header>(&header_bytes);
    let header_well_typed = typed.is_ok();
    if !typed.is_ok_and(|h| h.alg == jsonwebtoken::Algorithm::HS256) {
        let header: Value =
            serde_json::from_slice(&header_bytes).map_err(|_| TokenError::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(TokenError::Malformed)?;
        if alg != "HS256" {
            return Err(TokenError::Algorithm(alg.chars().take(20).collect()));
        }
    }
    let payload = base64_bytes(parts.payload)?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if !claims.is_object() {
        return Err(TokenError::Malformed);
    }
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::UnknownIssuer)?;
    // The allowlist is matched exactly, so the issuer is checked here once and for all.
    let tenant = config.tenant(issuer).ok_or(TokenError::UnknownIssuer)?;
    // As strict as jsonwebtoken was: a header field of the wrong type, or a header field or
    // registered claim given twice (which the claims above would take the last of), makes
    // the token malformed. Both are cheap: the header is a few bytes, and the payload's
    // other claims are skipped without being built.
    if !header_well_typed || serde_json::from_slice::<Registered>(&payload).is_err() {
        return Err(TokenError::Malformed);
    }

    let signature = base64_bytes(parts.signature)?;
    let secret_index = tenant
        .secrets
        .iter()
        .position(|s| hs256_holds(s.expose_secret().as_bytes(), parts.message, &signature))
        .ok_or(TokenError::BadSignature)?;

    // As jsonwebtoken's `Validation` checks them: the required claims first (one that is
    // there but not of its type counts as missing), then the time claims.
    let Ok(Some(expires)) = numeric_date(&claims, "exp") else {
        return Err(TokenError::MissingExpiry);
    };
    let Some(Value::String(subject)) = claims.get("sub") else {
        return Err(TokenError::MissingSubject);
    };
    let nbf = numeric_date(&claims, "nbf").map_err(|()| TokenError::BadClaim("nbf".into()))?;
    let leeway = config.token_leeway_secs;
    let now_secs = u64::try_from(now).unwrap_or(0);
    if expires < now_secs.saturating_sub(leeway) {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now_secs.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    // Then this service's own: a subject that is not blank, an expiry in whole seconds, and
    // no `iat` in the future.
    if subject.trim().is_empty() {
        return Err(TokenError::MissingSubject);
    }
    let subject = subject.clone();
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(TokenError::MissingExpiry)?;
    let leeway = i64::try_from(leeway).unwrap_or(0);
    if let Some(iat) = claims.get("iat") {
        let iat = iat
            .as_i64()
            .ok_or_else(|| TokenError::BadClaim("iat".to_owned()))?;
        if iat > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
    }
    // Parsed above, so UTF-8 (JSON outside its strings is ASCII, and the parser checks them).
    let claims_json = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
    Ok(Inbound {
        subject,
        issuer: tenant.issuer.clone(),
        expires_at,
        secret_index,
        claims,
        claims_json,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jsonwebtoken::errors::ErrorKind;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "acme.eu.auth0.test";
    const SECRET: &str = "0123456789abcdef0123456789abcdef-current";
    const PREVIOUS: &str = "0123456789abcdef0123456789abcdef-previous";

    fn config() -> Config {
        let env: BTreeMap<String, String> = [
            ("INTERLUDE_ISSUER", ISSUER),
            ("INTERLUDE_SECRET", SECRET),
            ("INTERLUDE_SECRET_PREVIOUS", PREVIOUS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::load(None, false, &env).expect("a config")
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// A token of `header` and `claims` (any JSON), signed with `secret`.
    fn mint(header: &Value, claims: &Value, secret: &str) -> String {
        mint_raw(&header.to_string(), &claims.to_string(), secret)
    }

    /// A token of a raw header and payload (JSON text as given, repeated keys and all).
    fn mint_raw(header: &str, claims: &str, secret: &str) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("any key length")
            .chain_update(message.as_bytes())
            .finalize()
            .into_bytes();
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    fn hs256() -> Value {
        json!({"alg": "HS256", "typ": "JWT"})
    }

    /// What `verify` did before it decoded each part once: jsonwebtoken's `decode` with
    /// its `Validation`, after reading the header and the claims for the tenant. Kept as
    /// the reference the new code is compared with.
    fn reference(token: &str, config: &Config, now: i64) -> Result<Inbound, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let mut split = token.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (split.next(), split.next(), split.next(), split.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| -> Result<Value, TokenError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .map_err(|_| TokenError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
        };
        let alg = decode(header)?
            .get("alg")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(TokenError::Malformed)?;
        if alg != "HS256" {
            return Err(TokenError::Algorithm(alg.chars().take(20).collect()));
        }
        let claims = decode(payload)?;
        if !claims.is_object() {
            return Err(TokenError::Malformed);
        }
        let issuer = claims
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
                    ErrorKind::InvalidClaimFormat(c) => {
                        return Err(TokenError::BadClaim(c.clone()));
                    }
                    ErrorKind::InvalidAlgorithm => return Err(TokenError::Algorithm(alg)),
                    _ => return Err(TokenError::Malformed),
                },
            }
        }
        let secret_index = verified.ok_or(TokenError::BadSignature)?;
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
            claims_json: claims.to_string(),
            claims,
        })
    }

    /// The outcome in comparable form.
    fn outcome(r: Result<Inbound, TokenError>) -> Result<(String, usize, i64, Value), TokenError> {
        r.map(|i| (i.subject, i.secret_index, i.expires_at, i.claims))
    }

    /// A time claim: absent, null, seconds from now (whole or with a fraction), or not a
    /// number of seconds at all. The offsets stay clear of the leeway's edges (30 s), so a
    /// second ticking between the two verifications changes nothing.
    fn time_claim() -> impl Strategy<Value = Option<Value>> {
        let offsets = prop::sample::select(vec![-100_000i64, -45, -20, 20, 45, 100_000]);
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            offsets.clone().prop_map(|o| Some(json!(now() + o))),
            offsets.prop_map(|o| Some(json!(now() as f64 + o as f64 + 0.4))),
            Just(Some(json!(-5))),
            Just(Some(json!("soon"))),
            Just(Some(json!(true))),
            Just(Some(json!(u64::MAX))),
        ]
    }

    fn claims() -> impl Strategy<Value = Value> {
        let iss = prop::sample::select(vec![
            Some(json!(ISSUER)),
            Some(json!("other.auth0.test")),
            Some(json!(7)),
            Some(json!([ISSUER])),
            None,
        ]);
        let sub = prop::sample::select(vec![
            Some(json!("auth0|p")),
            Some(json!("")),
            Some(json!("  ")),
            Some(json!(5)),
            Some(Value::Null),
            None,
        ]);
        (iss, sub, time_claim(), time_claim(), time_claim()).prop_map(
            |(iss, sub, exp, nbf, iat)| {
                let mut claims = Map::new();
                for (name, value) in [("iss", iss), ("sub", sub), ("exp", exp), ("nbf", nbf)] {
                    if let Some(v) = value {
                        claims.insert(name.to_owned(), v);
                    }
                }
                if let Some(v) = iat {
                    claims.insert("iat".to_owned(), v);
                }
                claims.insert("email".to_owned(), json!("p@example.test"));
                Value::Object(claims)
            },
        )
    }

    fn missing(r: &Result<(String, usize, i64, Value), TokenError>) -> bool {
        matches!(
            r,
            Err(TokenError::MissingExpiry | TokenError::MissingSubject)
        )
    }

    proptest! {
        /// Every combination of standard claims, signing secrets and headers gets the same
        /// verdict, for the same reason, as jsonwebtoken's own validation gave.
        #[test]
        fn verdicts_match_jsonwebtokens_validation(
            claims in claims(),
            secret in prop::sample::select(vec![SECRET, PREVIOUS, "a-secret-no-tenant-has-0123456789"]),
            header in prop::sample::select(vec![
                hs256(), json!({"alg": "HS256"}), json!({"alg": "none"}), json!({"alg": "HS512"}),
                json!({"typ": "JWT"}), json!("HS256"),
            ]),
        ) {
            let config = config();
            let token = mint(&header, &claims, secret);
            let now = now();
            let new = outcome(verify(&token, &config, now));
            let old = outcome(reference(&token, &config, now));
            // With both `exp` and `sub` missing, jsonwebtoken named whichever its hash set
            // listed first.
            if !(missing(&new) && missing(&old)) {
                prop_assert_eq!(new, old);
            }
        }

        /// And so do headers and payloads that a JSON value would read leniently: a
        /// registered claim or a header field given twice, a header field of the wrong type.
        #[test]
        fn verdicts_on_repeated_and_mistyped_fields_match(
            header in prop::sample::select(vec![
                r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"alg":"HS256","typ":5}"#,
                r#"{"alg":"none","alg":"HS256"}"#, r#"{"alg":"HS256","alg":"HS256"}"#,
                r#"{"alg":"HS256","kid":["k"]}"#, r#"{"alg":"HS256","x5c":"c"}"#,
                r#"{"alg":"HS256","cty":null}"#,
            ]),
            repeated in prop::sample::select(vec!["", "exp", "nbf", "sub", "iss", "aud", "email"]),
        ) {
            let config = config();
            let now = now();
            let mut claims = format!(
                r#"{{"iss":"{ISSUER}","sub":"auth0|p","iat":{now},"exp":{},"email":"p@example.test""#,
                now + 600
            );
            match repeated {
                "" => {}
                "iss" => claims.push_str(&format!(r#","iss":"{ISSUER}""#)),
                "sub" => claims.push_str(r#","sub":"auth0|q""#),
                "email" => claims.push_str(r#","email":"q@example.test""#),
                "aud" => claims.push_str(r#","aud":"a","aud":"b""#),
                name => claims.push_str(&format!(r#","{name}":{},"{name}":{}"#, now, now + 600)),
            }
            claims.push('}');
            let token = mint_raw(header, &claims, SECRET);
            prop_assert_eq!(outcome(verify(&token, &config, now)), outcome(reference(&token, &config, now)));
        }

        /// So does every change of one character of a good token.
        #[test]
        fn verdicts_on_mutated_tokens_match(at in 0usize..400, c in "[A-Za-z0-9_.=-]") {
            let config = config();
            let now = now();
            let good = mint(&hs256(), &json!({"iss": ISSUER, "sub": "auth0|p", "iat": now, "exp": now + 600}), SECRET);
            let mut bytes = good.into_bytes();
            let i = at % bytes.len();
            bytes[i] = c.as_bytes()[0];
            let token = String::from_utf8(bytes).expect("ASCII");
            prop_assert_eq!(outcome(verify(&token, &config, now)), outcome(reference(&token, &config, now)));
        }
    }

    #[test]
    fn a_good_token_verifies_with_either_secret_of_a_rotation() {
        let config = config();
        let now = now();
        let claims = json!({"iss": ISSUER, "sub": "auth0|p", "iat": now, "exp": now + 600});
        for (secret, index) in [(SECRET, 0), (PREVIOUS, 1)] {
            let inbound = verify(&mint(&hs256(), &claims, secret), &config, now).expect("valid");
            assert_eq!(inbound.secret_index, index);
            assert_eq!(inbound.subject, "auth0|p");
            assert_eq!(inbound.issuer, ISSUER);
            assert_eq!(inbound.expires_at, now + 600);
            assert_eq!(inbound.claims, claims);
        }
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let config = config();
        let now = now();
        let good = || json!({"iss": ISSUER, "sub": "auth0|p", "iat": now, "exp": now + 600});
        let with = |name: &str, value: Value| {
            let mut c = good();
            c[name] = value;
            c
        };
        let without = |name: &str| {
            let mut c = good();
            c.as_object_mut().expect("an object").remove(name);
            c
        };
        let signed = |claims: &Value| mint(&hs256(), claims, SECRET);
        let cases = [
            (String::new(), TokenError::Missing),
            ("a".repeat(MAX_TOKEN_BYTES + 1), TokenError::TooLarge),
            ("a.b".to_owned(), TokenError::Malformed),
            (format!("{}.x", signed(&good())), TokenError::Malformed),
            (
                mint(&json!({"alg": "none"}), &good(), SECRET),
                TokenError::Algorithm("none".into()),
            ),
            (mint(&hs256(), &json!([1]), SECRET), TokenError::Malformed),
            (
                signed(&with("iss", json!("evil.test"))),
                TokenError::UnknownIssuer,
            ),
            (
                mint(&hs256(), &good(), "not-the-secret-0123456789abcdef01"),
                TokenError::BadSignature,
            ),
            (signed(&without("exp")), TokenError::MissingExpiry),
            (
                signed(&with("exp", json!("soon"))),
                TokenError::MissingExpiry,
            ),
            (signed(&with("exp", json!(now - 31))), TokenError::Expired),
            (
                signed(&with("nbf", json!(now + 31))),
                TokenError::NotYetValid,
            ),
            (
                signed(&with("nbf", json!("later"))),
                TokenError::BadClaim("nbf".into()),
            ),
            (
                signed(&with("iat", json!(now + 31))),
                TokenError::NotYetValid,
            ),
            (
                signed(&with("iat", json!("now"))),
                TokenError::BadClaim("iat".into()),
            ),
            (signed(&with("sub", json!(" "))), TokenError::MissingSubject),
            (signed(&without("sub")), TokenError::MissingSubject),
            (
                mint_raw(r#"{"alg":"HS256","typ":5}"#, &good().to_string(), SECRET),
                TokenError::Malformed,
            ),
            (
                mint_raw(
                    r#"{"alg":"HS256"}"#,
                    &format!(
                        r#"{{"iss":"{ISSUER}","sub":"a","exp":1,"exp":{}}}"#,
                        now + 600
                    ),
                    SECRET,
                ),
                TokenError::Malformed,
            ),
            // A registered claim that is an array: jsonwebtoken's reader stopped half-way
            // and called the token malformed; here it is the claim that is missing.
            (
                signed(&with("sub", json!(["a"]))),
                TokenError::MissingSubject,
            ),
        ];
        for (token, reason) in cases {
            assert_eq!(verify(&token, &config, now).err(), Some(reason), "{token}");
        }
        // Within the leeway (30 s) a token is still good, and a signature with padding is
        // not the signature.
        assert!(verify(&signed(&with("exp", json!(now - 29))), &config, now).is_ok());
        assert!(verify(&signed(&with("nbf", json!(now + 29))), &config, now).is_ok());
        assert_eq!(
            verify(&format!("{}=", signed(&good())), &config, now).err(),
            Some(TokenError::Malformed)
        );
    }
}
