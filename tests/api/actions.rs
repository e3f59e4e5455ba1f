//! The Auth0 Action in examples/auth0/interlude-redirect.js, run end to end: the harness
//! (examples/auth0/test/harness.mjs) plays Auth0 for real — encodeToken/validateToken with
//! the `jsonwebtoken` npm package, the redirect with its `state`, a browser with cookies that
//! fills the form, the tenant's POST /continue — against this service on an ephemeral port,
//! and reports what the Action did. Node.js and examples/auth0/node_modules are required:
//! scripts/test.sh installs them, and these tests fail (never skip) without them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

const NAMESPACE: &str = "https://interlude.example/";
const TOS_DECLINED: &str = "You must accept the Terms of Service to continue.";

fn auth0_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/auth0")
}

/// Fails with a clear message when the harness cannot run.
fn require_node() {
    let found = Command::new("node").arg("--version").output();
    match found {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let major: u32 = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            assert!(
                major >= 20,
                "the Auth0 Action tests need Node.js 20 or later, found {version}"
            );
        }
        _ => panic!(
            "`node` is not installed: the Auth0 Action tests need Node.js 20+. \
             Run scripts/test.sh (it installs nodejs and npm) or `apt-get install -y nodejs npm`."
        ),
    }
    let jsonwebtoken = auth0_dir().join("node_modules/jsonwebtoken/package.json");
    assert!(
        jsonwebtoken.is_file(),
        "examples/auth0/node_modules is missing: run `npm ci` in examples/auth0 \
         (scripts/test.sh does it)"
    );
}

/// A loopback port that was free a moment ago, for the harness's /continue.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the service with its tenant's /continue at the harness, runs one login of
/// `scenario` through the Action, and returns the app and the harness's report.
async fn login_through_the_action(scenario: Value) -> (TestApp, Value) {
    require_node();
    let port = free_port();
    let app = spawn_app_with(|c| {
        c.tenants[0].continue_url = format!("http://127.0.0.1:{port}/continue");
    })
    .await;
    let base = app.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("test/harness.mjs")
            .arg("--scenario-json")
            .arg(scenario.to_string())
            .current_dir(auth0_dir())
            .env("INTERLUDE_URL", base)
            .env("INTERLUDE_SECRET", SECRET)
            .env("TENANT", ISSUER)
            .env("HARNESS_PORT", port.to_string())
            .output()
    })
    .await
    .unwrap()
    .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the harness failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the report is not JSON ({e}):\n{stdout}\n{stderr}"));
    (app, report)
}

fn titles(report: &Value) -> Vec<String> {
    report["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_owned))
        .collect()
}

fn calls(report: &Value, name: &str) -> Vec<Value> {
    report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["fn"] == json!(name))
        .map(|c| c["args"].clone())
        .collect()
}

#[tokio::test]
async fn profile_name_answers_go_to_user_metadata_and_the_id_token() {
    let (app, report) = login_through_the_action(json!({
        "name": "profile-name completed",
        "user": {"user_id": "auth0|ada", "email": "ada@example.com", "email_verified": true,
                 "given_name": "Ada", "user_metadata": {}, "app_metadata": {"plan": "pro"}},
        "logins_count": 2,
        "request": {"language": "en"},
        "secrets": {"INTERLUDE_CAMPAIGNS": "profile-name"},
        "steps": [{"action": "submit", "fields": {"family_name": "Lovelace"}}],
    }))
    .await;

    // The Action's way out: /prompt with the token, and the state Auth0 adds.
    assert_eq!(
        report["redirect"]["url"],
        json!(format!("{}/prompt", app.base))
    );
    assert_eq!(
        report["redirect"]["query"],
        json!(["session_token", "state"])
    );
    let sent = &report["session_token"];
    assert_eq!(sent["sub"], json!("auth0|ada"));
    assert_eq!(sent["iss"], json!(ISSUER));
    assert_eq!(sent["logins_count"], json!(2));
    assert_eq!(sent["email_verified"], json!(true));
    assert_eq!(sent["locale"], json!("en"));
    assert_eq!(sent["campaign"], json!("profile-name"));
    assert_eq!(sent["app_metadata"], json!({"plan": "pro"}));
    assert_eq!(
        sent["exp"].as_i64().unwrap() - sent["iat"].as_i64().unwrap(),
        300
    );

    // The form was shown; the given name came pre-filled from the token and was sent as is.
    assert!(
        titles(&report).contains(&"What should we call you?".to_owned()),
        "{:?}",
        titles(&report)
    );
    assert_eq!(report["continue"]["state_echoed"], json!(true));
    assert_eq!(report["return_token"]["outcome"], json!("completed"));
    assert_eq!(report["validate_error"], Value::Null);

    assert_eq!(
        report["user_metadata"],
        json!({"given_name": "Ada", "family_name": "Lovelace"})
    );
    assert_eq!(report["app_metadata"], json!({}));
    assert_eq!(
        report["id_token_claims"],
        json!({
            format!("{NAMESPACE}given_name"): "Ada",
            format!("{NAMESPACE}family_name"): "Lovelace",
        })
    );
    assert_eq!(report["access_denied"], Value::Null);
    let callback = report["callback"].as_str().unwrap();
    assert!(callback.contains("code="), "{callback}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM responses WHERE outcome = 'completed'")
            .await,
        1
    );
}

#[tokio::test]
async fn tos_v2_declined_makes_the_action_deny_access() {
    let (app, report) = login_through_the_action(json!({
        "name": "tos-v2 declined",
        "user": {"user_id": "auth0|hal", "email": "hal@example.com"},
        "logins_count": 1,
        "steps": [{"action": "decline"}],
    }))
    .await;
    assert!(
        titles(&report).contains(&"We have updated our Terms of Service".to_owned()),
        "tos-v2 has the highest priority: {:?}",
        titles(&report)
    );
    assert_eq!(
        report["return_token"]["tos"],
        json!({"document": "terms", "version": "2", "accepted": false})
    );
    assert_eq!(report["access_denied"], json!({"reason": TOS_DECLINED}));
    assert_eq!(calls(&report, "access.deny"), vec![json!([TOS_DECLINED])]);
    assert_eq!(report["app_metadata"], json!({}), "no tos_version");
    assert_eq!(report["id_token_claims"], json!({}));
    let callback = report["callback"].as_str().unwrap();
    assert!(callback.contains("error=access_denied"), "{callback}");
    assert_eq!(app.count("SELECT COUNT(*) FROM tos_acceptances").await, 0);
}

#[tokio::test]
async fn tos_v2_accepted_is_stored_as_the_tos_version() {
    let (app, report) = login_through_the_action(json!({
        "name": "tos-v2 accepted",
        "user": {"user_id": "auth0|gus", "app_metadata": {"tos_version": "1"}},
        "logins_count": 9,
        "steps": [{"action": "submit", "fields": {"accept_terms": true}}],
    }))
    .await;
    assert_eq!(report["return_token"]["campaign"], json!("tos-v2"));
    assert_eq!(report["app_metadata"], json!({"tos_version": "2"}));
    assert_eq!(report["user_metadata"], json!({}));
    assert_eq!(report["access_denied"], Value::Null);
    assert!(calls(&report, "access.deny").is_empty());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tos_acceptances WHERE version = '2'")
            .await,
        1
    );
}

#[tokio::test]
async fn marketing_consent_is_stored_per_purpose_in_app_metadata() {
    let (_app, report) = login_through_the_action(json!({
        "name": "marketing-consent",
        "user": {"user_id": "auth0|ed",
                 "app_metadata": {"consent": {"sms": {"granted": true, "campaign": "older", "at": "2026-01-01T00:00:00Z"}}}},
        "logins_count": 3,
        "secrets": {"INTERLUDE_CAMPAIGNS": "marketing-consent"},
        "steps": [{"action": "submit", "fields": {"marketing_email": true, "product_updates": false}}],
    }))
    .await;
    assert_eq!(
        report["return_token"]["consent"],
        json!({"marketing_email": true, "product_updates": false})
    );
    let consent = &report["app_metadata"]["consent"];
    assert_eq!(consent["marketing_email"]["granted"], json!(true));
    assert_eq!(consent["product_updates"]["granted"], json!(false));
    assert_eq!(
        consent["marketing_email"]["campaign"],
        json!("marketing-consent")
    );
    assert!(consent["marketing_email"]["at"].is_string());
    assert_eq!(
        consent["sms"],
        json!({"granted": true, "campaign": "older", "at": "2026-01-01T00:00:00Z"}),
        "purposes not asked about are kept"
    );
    assert_eq!(calls(&report, "user.setAppMetadata").len(), 1);
    assert_eq!(
        report["user_metadata"],
        json!({}),
        "consent is not a profile answer"
    );
    assert_eq!(report["access_denied"], Value::Null);
}

#[tokio::test]
async fn answers_of_listed_campaigns_go_to_app_metadata() {
    let (_app, report) = login_through_the_action(json!({
        "name": "profile-job to app_metadata",
        "user": {"user_id": "auth0|di", "user_metadata": {"given_name": "Di", "family_name": "Ro"}},
        "logins_count": 2,
        "secrets": {"INTERLUDE_CAMPAIGNS": "profile-job", "INTERLUDE_APP_METADATA_CAMPAIGNS": "profile-job, other"},
        "steps": [{"action": "submit", "fields": {"job_title": "Engineer", "company": "Acme", "company_size": "11-200"}}],
    }))
    .await;
    assert_eq!(report["user_metadata"], json!({}));
    assert_eq!(report["app_metadata"]["job_title"], json!("Engineer"));
    assert_eq!(report["app_metadata"]["company"], json!("Acme"));
    assert_eq!(
        report["id_token_claims"][format!("{NAMESPACE}job_title")],
        json!("Engineer")
    );
}

#[tokio::test]
async fn when_no_campaign_fires_the_action_changes_nothing() {
    let (_app, report) = login_through_the_action(json!({
        "name": "nothing to show",
        "user": {"user_id": "auth0|ivy", "email_verified": false},
        "logins_count": 1,
        "secrets": {"INTERLUDE_CAMPAIGNS": "welcome-coupon"},
        "steps": [],
    }))
    .await;
    assert_eq!(report["return_token"]["outcome"], json!("none"));
    assert_eq!(report["return_token"]["results"], json!([]));
    assert_eq!(report["user_metadata"], json!({}));
    assert_eq!(report["app_metadata"], json!({}));
    assert_eq!(report["id_token_claims"], json!({}));
    assert_eq!(report["access_denied"], Value::Null);
    let fns: Vec<&str> = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["fn"].as_str())
        .collect();
    assert_eq!(
        fns,
        [
            "redirect.canRedirect",
            "redirect.encodeToken",
            "redirect.sendUserTo",
            "redirect.validateToken"
        ]
    );
}

#[tokio::test]
async fn without_a_redirect_the_action_does_not_leave_auth0() {
    let (app, report) = login_through_the_action(json!({
        "name": "refresh token grant",
        "user": {"user_id": "auth0|jo"},
        "logins_count": 4,
        "can_redirect": false,
    }))
    .await;
    assert_eq!(report["redirected"], json!(false));
    assert!(calls(&report, "redirect.encodeToken").is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM detours").await, 0);
}
