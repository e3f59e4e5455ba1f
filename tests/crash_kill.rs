//! Crash safety: the server is killed (SIGKILL) while submissions are in flight, then
//! restarted on the same SQLite file. Every submission that got its continue page is in
//! the database, and the database passes `PRAGMA integrity_check`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "common/process.rs"]
mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helpers::*;
use process::Server;
use serde_json::json;

/// One user's login and answer; the prompt id when the continue page came back.
async fn one_login(base: &str, n: usize) -> Option<String> {
    let client = new_client();
    let claims = auth0_claims(
        &format!("auth0|crash-{n}"),
        json!({"logins_count": 2, "campaign": "profile-name"}),
    );
    let url = format!(
        "{base}/prompt?state={}&session_token={}",
        random_state(),
        mint(&claims, SECRET)
    );
    let redirect = client.get(url).send().await.ok()?;
    let location = redirect
        .headers()
        .get("location")?
        .to_str()
        .ok()?
        .to_owned();
    let form = client
        .get(format!("{base}{location}"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let csrf = form
        .split("name=\"_csrf\" value=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    let done = client
        .post(format!("{base}{location}"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("given_name", "Crash"),
            ("family_name", "Test"),
        ])
        .send()
        .await
        .ok()?;
    if done.status() != reqwest::StatusCode::OK {
        return None;
    }
    let page = done.text().await.ok()?;
    page.contains("name=\"session_token\"")
        .then(|| location.trim_start_matches("/p/").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_acknowledged_before_a_sigkill_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..12 {
        let base = server.base.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut n = w * 100_000;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                if let Some(prompt) = one_login(&base, n).await {
                    acknowledged.lock().unwrap().push(prompt);
                }
            }
        }));
    }
    // Let a load build up, then kill the process in the middle of it.
    for _ in 0..100 {
        if acknowledged.lock().unwrap().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db_url = server.db.clone();
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 40,
        "the load ran: {} answers",
        acknowledged.len()
    );

    // Restart on the same file: recovery runs, and every acknowledged answer is there.
    let again = Server::start_in(dir.path()).await;
    assert_eq!(again.db, db_url);
    let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let stored: Vec<String> = sqlx::query_scalar("SELECT prompt_id FROM responses")
        .fetch_all(&pool)
        .await
        .unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|p| !stored.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged answers lost: {missing:?}",
        missing.len()
    );
    let completed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM prompts WHERE status = 'completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        completed as usize,
        stored.len(),
        "answers and prompt states agree"
    );
    // The restarted server serves.
    let back = one_login(&again.base, 999_999_999).await;
    assert!(back.is_some());
    again.kill();
}
