//! Settings: the single-tenant case needs only the environment; weak or missing secrets
//! refuse to start (except in dev mode); secrets never show in Debug output.

use std::collections::BTreeMap;
use std::process::Command;

use interlude::config::{Config, DEV_ISSUER};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const GOOD: &str = "7f1c2b9a4e6d8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e";

#[test]
fn the_single_tenant_case_needs_two_variables() {
    let c = Config::load(
        None,
        false,
        &env(&[
            ("INTERLUDE_ISSUER", "acme.eu.auth0.com"),
            ("INTERLUDE_SECRET", GOOD),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://interlude.db");
    assert_eq!(c.campaigns_dir.to_str(), Some("campaigns"));
    assert_eq!(c.tenants.len(), 1);
    assert_eq!(
        c.tenants[0].continue_url,
        "https://acme.eu.auth0.com/continue"
    );
    assert_eq!(c.return_token_ttl_secs, 120);
    assert_eq!(c.max_chain, 1);
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(GOOD),
        "secrets never appear in Debug output"
    );
}

#[test]
fn weak_or_missing_secrets_refuse_to_start_with_advice() {
    for e in [
        env(&[("INTERLUDE_ISSUER", "acme.eu.auth0.com")]),
        env(&[
            ("INTERLUDE_ISSUER", "acme.eu.auth0.com"),
            ("INTERLUDE_SECRET", "short"),
        ]),
    ] {
        let err = Config::load(None, false, &e).unwrap_err().to_string();
        assert!(err.contains("openssl rand -hex 32"), "{err}");
    }
    let err = Config::load(None, false, &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tenant is configured"), "{err}");
}

#[test]
fn dev_mode_adds_the_dev_tenant_and_tolerates_weak_secrets() {
    let c = Config::load(
        None,
        true,
        &env(&[
            ("INTERLUDE_ISSUER", "acme.eu.auth0.com"),
            ("INTERLUDE_SECRET", "short"),
        ]),
    )
    .unwrap();
    assert!(c.tenant(DEV_ISSUER).is_some());
    assert_eq!(
        c.tenant(DEV_ISSUER).unwrap().continue_url,
        "http://127.0.0.1:8080/_dev/continue"
    );
}

#[test]
fn a_settings_file_lists_tenants_whose_secrets_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("interlude.yaml");
    std::fs::write(
        &file,
        "listen: 127.0.0.1:9000\npublic_url: https://detour.acme.com/\nmax_chain: 2\ntenants:\n  - issuer: login.acme.com\n    continue_url: https://login.acme.com/continue\n    secret_env: [ACME_SECRET, ACME_SECRET_OLD]\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&file),
        false,
        &env(&[("ACME_SECRET", GOOD), ("ACME_SECRET_OLD", GOOD)]),
    )
    .unwrap();
    assert_eq!(c.public_url, "https://detour.acme.com");
    assert_eq!(c.service_issuer, "detour.acme.com");
    assert_eq!(c.max_chain, 2);
    assert_eq!(c.tenant("login.acme.com").unwrap().secrets.len(), 2);
    assert!(c.secure_cookies());

    std::fs::write(
        &file,
        "tenants:\n  - issuer: x\n    secrets: [inline-is-not-allowed]\n",
    )
    .unwrap();
    let err = Config::load(Some(&file), false, &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `secrets`"), "{err}");
}

#[test]
fn return_tokens_must_live_at_least_a_minute() {
    let err = Config::load(
        None,
        false,
        &env(&[
            ("INTERLUDE_ISSUER", "a.auth0.com"),
            ("INTERLUDE_SECRET", GOOD),
            ("INTERLUDE_RETURN_TOKEN_TTL_SECS", "30"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("60 s"), "{err}");
}

#[test]
fn serve_refuses_a_weak_secret_before_listening() {
    let out = Command::new(env!("CARGO_BIN_EXE_interlude"))
        .arg("serve")
        .env("INTERLUDE_ISSUER", "acme.eu.auth0.com")
        .env("INTERLUDE_SECRET", "tooshort")
        .env("INTERLUDE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
    assert!(!stderr.contains("tooshort"), "the secret is never printed");
}
