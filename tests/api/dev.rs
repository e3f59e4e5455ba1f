//! Dev mode: the built-in IdP emulator mints tokens like encodeToken, and its /continue
//! checks the returned token like validateToken.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_dev_tenant_runs_a_whole_login_through_a_campaign() {
    let (base, _dir, client) = spawn_dev_app().await;
    let index = page(
        format!("{base}/_dev"),
        client.get(format!("{base}/_dev")).send().await.unwrap(),
    )
    .await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.html.contains("tos-v2") && index.html.contains("welcome-coupon"));
    let csrf = index.csrf();

    let claims = r#"{"sub": "auth0|dev-test", "logins_count": 2, "email_verified": true}"#;
    let started = client
        .post(format!("{base}/_dev/start"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("claims", claims),
            ("campaign", "profile-name"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let to_prompt = started.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_prompt.starts_with("/prompt?state=") && to_prompt.contains("session_token="));
    let redirect = client
        .get(format!("{base}{to_prompt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    let form_url = format!("{base}{}", redirect.headers()["location"].to_str().unwrap());
    let form = page(
        form_url.clone(),
        client.get(&form_url).send().await.unwrap(),
    )
    .await;
    assert_eq!(form.h1(), "What should we call you?");

    let done = client
        .post(&form_url)
        .form(&[
            ("_csrf", form.csrf().as_str()),
            ("given_name", "Dev"),
            ("family_name", "Tester"),
        ])
        .send()
        .await
        .unwrap();
    let done = page(form_url, done).await;
    let (action, hidden) = done.form();
    assert_eq!(action, format!("{base}/_dev/continue"));
    let back = client.post(&action).form(&hidden).send().await.unwrap();
    let back = page(action.clone(), back).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.html);
    assert_eq!(back.h1(), "Back at the IdP: the token is valid");
    let claims = back.text_of("#claims").unwrap();
    assert!(
        claims.contains("\"given_name\": \"Dev\"") && claims.contains("\"outcome\": \"completed\""),
        "{claims}"
    );

    // A tampered return is refused the way validateToken refuses it.
    let mut forged = hidden.clone();
    for (k, v) in forged.iter_mut() {
        if k == "session_token" {
            v.push('x');
        }
    }
    let refused = client.post(&action).form(&forged).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn dev_routes_do_not_exist_outside_dev_mode() {
    let app = spawn_app().await;
    assert_eq!(app.get("/_dev").await.status, StatusCode::NOT_FOUND);
    let r = app
        .client
        .post(format!("{}/_dev/start", app.base))
        .form(&[("claims", "{}")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
