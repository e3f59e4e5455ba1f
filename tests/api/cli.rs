//! The `interlude` binary's offline commands, run as a user would run them.

use std::process::Command;

fn interlude(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_interlude"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn check_passes_the_examples_with_a_summary() {
    let out = interlude(&["check", "campaigns", "--themes", "themes"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "5 campaigns OK\n");
}

#[test]
fn check_fails_a_broken_folder_and_prints_each_problem() {
    let out = interlude(&[
        "check",
        "tests/fixtures/broken/many-problems",
        "--themes",
        "themes",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 6, "{stderr}");
    assert!(stderr.ends_with("5 problems\n"), "{stderr}");
}

#[test]
fn check_fails_an_empty_or_missing_folder() {
    let empty = tempfile::tempdir().unwrap();
    let out = interlude(&["check", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no campaign files"));
    let out = interlude(&["check", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the campaigns folder"));
}

#[test]
fn explain_names_the_deciding_condition_for_each_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("claims.json");
    std::fs::write(
        &claims,
        r#"{"sub":"auth0|42","logins_count":3,"email_verified":true,
            "user_metadata":{"given_name":"Ada","family_name":"Lovelace"}}"#,
    )
    .unwrap();
    let history = dir.path().join("history.json");
    std::fs::write(
        &history,
        r#"{"prompts":[{"campaign":"profile-job","version":1,"status":"skipped",
             "shown_at":"2026-11-20T10:00:00Z","finished_at":"2026-11-20T10:01:00Z"}],
            "tos":[{"document":"terms","version":"2"}]}"#,
    )
    .unwrap();
    let out = interlude(&[
        "explain",
        "campaigns",
        "--claims",
        claims.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--now",
        "2026-11-23T10:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "skipped tos-v2: not (accepted terms 2)");
    assert!(
        lines[1].starts_with("skipped profile-name:")
            && lines[1].contains("user_metadata.given_name"),
        "{stdout}"
    );
    assert_eq!(
        lines[2],
        "skipped profile-job: history: `profile-job` last dismissed 2d ago, within 7d"
    );
    assert_eq!(lines[3], "fires   marketing-consent: all 3 conditions held");
    assert_eq!(lines.last(), Some(&"chosen: marketing-consent"));
}

#[test]
fn check_lints_theme_tokens_too() {
    let themes = tempfile::tempdir().unwrap();
    let broken = themes.path().join("default");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("theme.yaml"),
        "name: Broken\ncolors:\n  primary: blue\n",
    )
    .unwrap();
    let out = interlude(&[
        "check",
        "campaigns",
        "--themes",
        themes.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("theme.yaml") && stderr.contains("blue"),
        "{stderr}"
    );
}
