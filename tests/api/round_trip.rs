//! The redirect round trip, played as the IdP and a user: token in, form, answer recorded,
//! signed token back to /continue. One test per example campaign, plus history and chains.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn profile_name_is_asked_after_the_first_login_and_returned_in_the_token() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|ada",
        json!({"logins_count": 2, "email": "ada@example.com", "campaign": "profile-name", "given_name": "Ada"}),
    );
    let (state, form) = app.login(&claims).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.h1(), "What should we call you?");
    assert_eq!(
        form.input_value("given_name").as_deref(),
        Some("Ada"),
        "pre-filled from the claim"
    );

    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Ada"), ("family_name", "Lovelace")],
        )
        .await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["sub"], json!("auth0|ada"));
    assert_eq!(token["campaign"], json!("profile-name"));
    assert_eq!(token["outcome"], json!("completed"));
    assert_eq!(
        token["answers"],
        json!({"given_name": "Ada", "family_name": "Lovelace"})
    );
    assert_eq!(token["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM responses WHERE outcome = 'completed'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prompts WHERE status = 'completed'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_campaign_that_was_answered_does_not_fire_again() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|bo",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let (state, form) = app.login(&claims).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Bo"), ("family_name", "Diaz")],
        )
        .await;
    app.finish(&done, &state).await;

    // Next login: the claims still lack the name (the Action has not written it yet), but
    // the history says the campaign was answered.
    let claims = auth0_claims(
        "auth0|bo",
        json!({"logins_count": 3, "campaign": "profile-name"}),
    );
    let (state, back) = app.login(&claims).await;
    assert!(back.url.contains("/r/"), "straight back: {}", back.url);
    let token = app.finish(&back, &state).await;
    assert_eq!(token["outcome"], json!("none"));
    assert_eq!(token["results"], json!([]));
    assert!(token.get("campaign").is_none());
}

#[tokio::test]
async fn profile_job_can_be_skipped_and_stays_away_for_its_cooldown() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|cy",
        json!({"logins_count": 4, "campaign": ["profile-job", "marketing-consent"],
               "user_metadata": {"given_name": "Cy", "family_name": "Ng"}}),
    );
    let (state, form) = app.login(&claims).await;
    assert_eq!(form.h1(), "Tell us about your work");
    let skip = form.text_of("button[value=skip]").unwrap();
    assert_eq!(skip, "Not now");
    let done = app.answer(&form, "skip", &[]).await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["campaign"], json!("profile-job"));
    assert_eq!(token["outcome"], json!("skipped"));
    assert!(
        token.get("answers").is_none(),
        "nothing answered, nothing returned"
    );

    // Dismissed minutes ago: the 7-day cooldown holds it back; the next campaign fires.
    let (_, next) = app.login(&claims).await;
    assert_eq!(next.h1(), "Stay in touch?");
}

#[tokio::test]
async fn profile_job_returns_only_the_declared_claims() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|di",
        json!({"logins_count": 2, "campaign": "profile-job"}),
    );
    let (state, form) = app.login(&claims).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[
                ("job_title", "Engineer"),
                ("company", "Acme"),
                ("company_size", "11-200"),
            ],
        )
        .await;
    let token = app.finish(&done, &state).await;
    assert_eq!(
        token["answers"],
        json!({"job_title": "Engineer", "company": "Acme", "company_size": "11-200"})
    );
}

#[tokio::test]
async fn marketing_consent_records_each_purpose_and_can_be_declined() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|ed",
        json!({"logins_count": 3, "campaign": "marketing-consent"}),
    );
    let (state, form) = app.login(&claims).await;
    assert_eq!(form.h1(), "Stay in touch?");
    assert!(!form.html.contains(" checked"), "no box is pre-ticked");
    assert!(
        form.html.contains("Example Corp Ltd."),
        "the controller is named"
    );
    let done = app
        .answer(&form, "submit", &[("marketing_email", "on")])
        .await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["outcome"], json!("completed"));
    assert_eq!(
        token["consent"],
        json!({"marketing_email": true, "product_updates": false})
    );

    let other = auth0_claims(
        "auth0|fay",
        json!({"logins_count": 3, "campaign": "marketing-consent"}),
    );
    let (state, form) = app.login(&other).await;
    let done = app.answer(&form, "decline", &[]).await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["outcome"], json!("declined"));
    assert_eq!(
        token["consent"],
        json!({"marketing_email": false, "product_updates": false})
    );
}

#[tokio::test]
async fn tos_v2_is_required_and_accepting_it_stops_the_prompt() {
    let app = spawn_app().await;
    let claims = auth0_claims("auth0|gus", json!({"logins_count": 9}));
    let (state, form) = app.login(&claims).await;
    assert_eq!(form.h1(), "We have updated our Terms of Service");
    assert_eq!(
        form.attr(".tos a", "href").as_deref(),
        Some("https://example.com/legal/terms-v2")
    );
    assert_eq!(
        form.text_of(".tos a").as_deref(),
        Some("Read the Terms of Service")
    );

    // The box is required: submitting without it re-renders with a message, nothing recorded.
    let again = app.answer(&form, "submit", &[]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again.field_error("accept_terms").as_deref(),
        Some("Please fill in this field.")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 0);

    let done = app
        .answer(&again, "submit", &[("accept_terms", "on")])
        .await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["campaign"], json!("tos-v2"));
    assert_eq!(
        token["tos"],
        json!({"document": "terms", "version": "2", "accepted": true})
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tos_acceptances WHERE version = '2'")
            .await,
        1
    );

    // Accepted: the next login goes on to the campaigns below it.
    let (_, next) = app.login(&claims).await;
    assert_ne!(next.h1(), "We have updated our Terms of Service");
}

#[tokio::test]
async fn tos_decline_is_returned_so_the_action_can_deny_access() {
    let app = spawn_app().await;
    let claims = auth0_claims("auth0|hal", json!({"logins_count": 1}));
    let (state, form) = app.login(&claims).await;
    let done = app.answer(&form, "decline", &[]).await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["outcome"], json!("declined"));
    assert_eq!(token["tos"]["accepted"], json!(false));
    assert_eq!(app.count("SELECT COUNT(*) FROM tos_acceptances").await, 0);
}

#[tokio::test]
async fn welcome_coupon_fires_once_the_email_is_verified() {
    let app = spawn_app().await;
    let unverified = auth0_claims(
        "auth0|ivy",
        json!({"email_verified": false, "campaign": "welcome-coupon"}),
    );
    let (state, back) = app.login(&unverified).await;
    assert_eq!(app.finish(&back, &state).await["outcome"], json!("none"));

    let verified = auth0_claims(
        "auth0|ivy",
        json!({"email_verified": true, "campaign": "welcome-coupon"}),
    );
    let (state, form) = app.login(&verified).await;
    assert_eq!(form.h1(), "Welcome! Here is 10 % off your first order");
    let done = app.answer(&form, "submit", &[]).await;
    let token = app.finish(&done, &state).await;
    assert_eq!(token["campaign"], json!("welcome-coupon"));
    assert_eq!(token["outcome"], json!("completed"));
}

#[tokio::test]
async fn a_detour_can_chain_campaigns_up_to_the_configured_maximum() {
    let app = spawn_app_with(|c| c.max_chain = 2).await;
    let claims = auth0_claims("auth0|jo", json!({"logins_count": 2}));
    let (state, tos) = app.login(&claims).await;
    assert_eq!(tos.h1(), "We have updated our Terms of Service");
    let next = app.answer(&tos, "submit", &[("accept_terms", "on")]).await;
    assert_eq!(
        next.status,
        StatusCode::SEE_OTHER,
        "on to the next campaign"
    );
    let name = app.get(&location(&next)).await;
    assert_eq!(name.h1(), "What should we call you?");
    let done = app
        .answer(
            &name,
            "submit",
            &[("given_name", "Jo"), ("family_name", "March")],
        )
        .await;
    let token = app.finish(&done, &state).await;
    let results = token["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["campaign"], json!("tos-v2"));
    assert_eq!(results[0]["outcome"], json!("completed"));
    assert_eq!(results[1]["campaign"], json!("profile-name"));
    assert_eq!(
        token["campaign"],
        json!("profile-name"),
        "the top level is the last step"
    );
}

#[tokio::test]
async fn the_default_chain_shows_one_campaign_per_detour() {
    let app = spawn_app().await;
    let claims = auth0_claims("auth0|kai", json!({"logins_count": 2}));
    let (state, tos) = app.login(&claims).await;
    let done = app.answer(&tos, "submit", &[("accept_terms", "on")]).await;
    assert_eq!(done.status, StatusCode::OK);
    let token = app.finish(&done, &state).await;
    assert_eq!(token["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_post_records_nothing_new_and_shows_the_same_result() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|lu",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let (state, form) = app.login(&claims).await;
    let fields = [("given_name", "Lu"), ("family_name", "Xin")];
    let first = app.answer(&form, "submit", &fields).await;
    let second = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Changed"), ("family_name", "Mind")],
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    let a = app.finish(&first, &state).await;
    let b = app.finish(&second, &state).await;
    assert_eq!(a["answers"], b["answers"]);
    assert_eq!(b["answers"]["given_name"], json!("Lu"));
    assert_eq!(app.count("SELECT COUNT(*) FROM responses").await, 1);

    // The back button to the form: it explains and offers the way back.
    let revisit = app.get(&form.url).await;
    assert_eq!(revisit.status, StatusCode::OK);
    assert_eq!(revisit.h1(), "You have already answered");
    let (action, _) = revisit.form();
    assert_eq!(action, app.idp.continue_url);
}

#[tokio::test]
async fn the_token_leaves_the_address_bar_and_pages_carry_security_headers() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|mo",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let redirect = app.prompt(&random_state(), &mint(&claims, SECRET)).await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    let loc = location(&redirect);
    assert!(loc.starts_with("/p/") && !loc.contains("token"));
    let cookie = redirect.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let form = app.get(&loc).await;
    let h = &form.headers;
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"),
        "{csp}"
    );
}

#[tokio::test]
async fn the_continue_page_auto_submits_with_a_nonced_script_and_a_visible_button() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|ned",
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let (_, form) = app.login(&claims).await;
    let done = app
        .answer(
            &form,
            "submit",
            &[("given_name", "Ned"), ("family_name", "Ox")],
        )
        .await;
    let csp = done.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap();
    assert!(
        done.html.contains(&format!("<script nonce=\"{nonce}\">")),
        "{}",
        done.html
    );
    assert!(
        done.text_of("form button").is_some(),
        "a button for browsers without scripts"
    );
    let idp_origin = app.idp.continue_url.trim_end_matches("/continue");
    assert!(
        csp.contains(&format!("form-action 'self' {idp_origin}")),
        "{csp}"
    );
}

#[tokio::test]
async fn an_allowlisted_continue_uri_replaces_the_tenants_and_others_are_refused() {
    let app = spawn_app_with(|c| {
        c.continue_uri_allowlist = vec!["https://login.acme.test/continue".into()]
    })
    .await;
    let ok = auth0_claims(
        "auth0|ola",
        json!({"campaign": "welcome-coupon", "email_verified": false, "continue_uri": "https://login.acme.test/continue"}),
    );
    let (_, back) = app.login(&ok).await;
    assert_eq!(back.form().0, "https://login.acme.test/continue");

    let evil = auth0_claims(
        "auth0|ola",
        json!({"continue_uri": "https://evil.test/continue"}),
    );
    let refused = app.prompt(&random_state(), &mint(&evil, SECRET)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM detours").await, 1);
    // The detour keeps the verified claims, every one of them.
    let pool = app.db().await;
    let stored: String = sqlx::query_scalar("SELECT claims FROM detours")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        Value::Object(ok)
    );
}
