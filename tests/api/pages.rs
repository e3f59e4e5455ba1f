//! The pages people see: themes and their design tokens, campaign branding over them,
//! right-to-left pages, and end-to-end runs in a real headless Chromium.
//!
//! The browser test starts the service in dev mode and runs tests/browser/run.mjs: Node
//! with playwright-core drives Debian's /usr/bin/chromium (never a downloaded browser)
//! through every example campaign with and without JavaScript, in German and Arabic, runs
//! axe-core on every page and saves screenshots at phone and desktop widths under
//! target/screenshots/. It needs Node.js 20+, chromium and tests/browser/node_modules:
//! scripts/test.sh installs them, and the test fails (never skips) without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interlude::campaign::load::LoadOptions;
use interlude::campaign::load_dir;
use interlude::config::Config;
use interlude::render::theme::{
    COLOR_TOKENS, CONTRAST_PAIRS, Scheme, contrast, parse_color, readable_on,
};
use interlude::render::views::{Chrome, MessagePage};
use interlude::render::{Renderer, strings};
use interlude::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The declarations of the page's nonce'd `<style>` (theme tokens, then branding).
fn root_style(page: &Page) -> String {
    page.text_of("head style").unwrap_or_default()
}

/// The value the last declaration of `--name` in `css` sets.
fn last_value(css: &str, name: &str) -> Option<String> {
    let needle = format!("{name}:");
    css.rmatch_indices(&needle).next().map(|(i, _)| {
        css[i + needle.len()..]
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    })
}

#[test]
fn every_theme_loads_strictly_and_meets_wcag_aa_contrast() {
    let renderer = Renderer::load(&root().join("themes")).expect("every theme.yaml is valid");
    let names: Vec<&str> = renderer.theme_names().collect();
    assert_eq!(names, ["default", "midnight"]);
    for name in names {
        let theme = renderer.theme(name).unwrap();
        assert_eq!(
            theme.colors.len(),
            COLOR_TOKENS.len(),
            "{name} has every colour"
        );
        assert_eq!(theme.contrast_problems(), vec![], "theme {name}");
    }
    let midnight = renderer.theme("midnight").unwrap();
    let default = renderer.theme("default").unwrap();
    assert_eq!(midnight.scheme, Scheme::Dark);
    assert_eq!(default.scheme, Scheme::Light);
    // Clearly different: a dark page behind light text.
    let bg = parse_color(&midnight.colors["background"]).unwrap();
    assert!(contrast(bg, [255, 255, 255]) > 15.0, "midnight is dark");
    assert_ne!(midnight.colors["primary"], default.colors["primary"]);
    assert_ne!(midnight.radius, default.radius);
    assert_eq!(
        midnight.logo_url("midnight").as_deref(),
        Some("/static/midnight/logo.svg")
    );
}

/// style.css's `:root` fallbacks are the default theme's tokens, and their contrast,
/// computed from the CSS variables themselves, meets WCAG 2.1 AA.
#[test]
fn the_default_stylesheet_variables_meet_wcag_aa_contrast() {
    let css = std::fs::read_to_string(root().join("themes/default/static/style.css")).unwrap();
    let block = css
        .split_once(":root {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(block, _)| block)
        .expect("a :root block");
    let vars: BTreeMap<String, String> = block
        .split(';')
        .filter_map(|decl| decl.trim().strip_prefix("--")?.split_once(':'))
        .map(|(k, v)| (k.trim().replace('-', "_"), v.trim().to_owned()))
        .collect();
    let renderer = Renderer::load(&root().join("themes")).unwrap();
    let tokens = renderer.theme("default").unwrap();
    for name in COLOR_TOKENS {
        assert_eq!(
            vars.get(name).map(|v| v.to_ascii_lowercase()),
            Some(tokens.colors[name].clone()),
            "--{name} in style.css and theme.yaml"
        );
    }
    for (fg, bg, min) in CONTRAST_PAIRS {
        let ratio = contrast(
            parse_color(&vars[fg]).unwrap(),
            parse_color(&vars[bg]).unwrap(),
        );
        assert!(ratio >= min, "{fg} on {bg}: {ratio:.2}:1 < {min}:1");
    }
    // No web fonts and no other origin: everything the page loads comes from Interlude.
    assert!(!css.contains("@import") && !css.contains("url(http") && !css.contains("@font-face"));
}

#[test]
fn a_broken_theme_yaml_is_refused_at_load_and_never_takes_pages_down() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("theme.yaml"),
        "name: Bad\ncolors: { primary: blue }\nshadow: big\n",
    )
    .unwrap();
    let problems = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        problems.contains("bad/theme.yaml") && problems.contains("shadow"),
        "{problems}"
    );

    std::fs::write(
        bad.join("theme.yaml"),
        "name: Bad\ncolors: { primary: blue }\n",
    )
    .unwrap();
    let problems = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        problems.contains("`colors.primary`: `blue` is not a colour"),
        "{problems}"
    );

    // The lenient renderer the service uses: the theme gets the default tokens (built in,
    // as this folder has no default theme) and its pages still render.
    let renderer = Renderer::new(dir.path());
    let view = MessagePage {
        chrome: Chrome::plain("bad", "en", "n0nce", "Hello"),
        heading: "Hello".into(),
        message: "World".into(),
        back: None,
    };
    let html = renderer.render("bad", "message", &view).unwrap();
    assert!(html.contains("--primary: #1a56b8;"), "{html}");
    assert!(html.contains(r#"<style nonce="n0nce">"#));
    assert!(html.contains("<h1>Hello</h1>"));
}

#[test]
fn brand_colours_get_readable_button_text() {
    assert_eq!(readable_on(parse_color("#0f6b5c").unwrap()), "#ffffff");
    assert_eq!(readable_on(parse_color("#f4c542").unwrap()), "#111111");
}

#[tokio::test]
async fn a_midnight_campaign_wears_its_theme_from_form_to_coupon() {
    let app = spawn_app().await;
    let claims = auth0_claims(
        "auth0|night-owl",
        json!({"email_verified": true, "campaign": "welcome-coupon"}),
    );
    let (_, form) = app.login(&claims).await;
    assert_eq!(form.status, StatusCode::OK);
    let style = root_style(&form);
    assert!(style.contains("color-scheme: dark;"), "{style}");
    assert_eq!(
        last_value(&style, "--background").as_deref(),
        Some("#0b1020")
    );
    assert_eq!(last_value(&style, "--radius").as_deref(), Some("18px"));
    assert!(
        style.contains("--font: ui-rounded, \"SF Pro Rounded\""),
        "{style}"
    );
    // The nonce of the <style> is the one the CSP allows.
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    let nonce = form.attr("head style", "nonce").unwrap();
    assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
    // Midnight overrides base.html only: its band and stylesheet, the default's form.
    assert_eq!(
        form.attr("link[href$='midnight.css']", "href").as_deref(),
        Some("/static/midnight/midnight.css")
    );
    assert_eq!(
        form.attr(".band-logo", "src").as_deref(),
        Some("/static/midnight/logo.svg")
    );
    assert!(form.attr("main form", "novalidate").is_some());

    let reveal = app.answer(&form, "submit", &[]).await;
    assert_eq!(reveal.status, StatusCode::OK);
    assert_eq!(reveal.h1(), "Here is your code");
    assert!(
        reveal
            .text_of("#coupon-code")
            .unwrap()
            .starts_with("WELCOME-")
    );
    assert_eq!(
        last_value(&root_style(&reveal), "--background").as_deref(),
        Some("#0b1020")
    );
}

#[tokio::test]
async fn theme_files_are_served_with_cache_headers_and_fall_back_to_the_default() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/static/midnight/midnight.css", "text/css; charset=utf-8"),
        ("/static/midnight/style.css", "text/css; charset=utf-8"),
        ("/static/midnight/logo.svg", "image/svg+xml"),
        ("/static/default/style.css", "text/css; charset=utf-8"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], kind, "{path}");
        assert!(
            r.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age="),
            "{path}"
        );
    }
    let fallback = app.get("/static/midnight/style.css").await;
    let default = app.get("/static/default/style.css").await;
    assert_eq!(fallback.html, default.html);
    assert_eq!(
        app.get("/static/midnight/..%2Ftheme.yaml").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/static/midnight/theme.yaml").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn spawn_fixture_app() -> TestApp {
    spawn_app_with(|c| c.campaigns_dir = root().join("tests/fixtures/pages")).await
}

#[tokio::test]
async fn arabic_pages_run_right_to_left_with_the_brand_over_the_theme() {
    let app = spawn_fixture_app().await;
    let claims = auth0_claims("auth0|rtl", json!({}));
    let (state, form) = app.login(&claims).await;
    assert_eq!(form.attr("html", "lang").as_deref(), Some("ar"));
    assert_eq!(form.attr("html", "dir").as_deref(), Some("rtl"));
    assert_eq!(form.h1(), "أخبرنا عن نفسك");
    assert_eq!(form.text_of("button[value=skip]").unwrap(), "ليس الآن");
    // Addresses stay left to right inside the right-to-left page.
    assert_eq!(form.attr("#f-email", "dir").as_deref(), Some("ltr"));
    // Branding comes after the theme's tokens, so it wins; the button text follows it.
    let style = root_style(&form);
    let theme_at = style.find("--primary: #1a56b8;").expect("theme token");
    let brand_at = style.find("--primary: #0f6b5c;").expect("brand colour");
    assert!(theme_at < brand_at, "{style}");
    assert_eq!(
        last_value(&style, "--primary-text").as_deref(),
        Some("#ffffff")
    );

    // A refused answer: Arabic messages, bound to their fields, the summary first.
    let bad = app
        .answer(&form, "submit", &[("email", "nope"), ("full_name", "")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text_of("title").unwrap().starts_with("خطأ: "));
    assert_eq!(bad.attr("#error-summary", "role").as_deref(), Some("alert"));
    assert!(bad.attr("#error-summary", "autofocus").is_some());
    assert_eq!(bad.field_error("full_name").unwrap(), "يرجى ملء هذا الحقل.");
    assert_eq!(
        bad.attr("#f-email", "aria-describedby").as_deref(),
        Some("h-email e-email")
    );
    assert_eq!(
        bad.attr("#f-email", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(bad.input_value("email").as_deref(), Some("nope"));
    assert_eq!(
        bad.attr("#f-contact", "aria-describedby").as_deref(),
        Some("e-contact")
    );

    let done = app
        .answer(
            &bad,
            "submit",
            &[
                ("full_name", "Ada"),
                ("email", "ada@example.com"),
                ("contact", "phone"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.attr("html", "dir").as_deref(), Some("rtl"));
    assert_eq!(done.text_of(".intro").unwrap(), "شكرًا لك!");
    // The return page wears the campaign's branding too.
    assert_eq!(
        last_value(&root_style(&done), "--primary").as_deref(),
        Some("#0f6b5c")
    );
    let token = app.finish(&done, &state).await;
    assert_eq!(token["answers"]["contact"], json!("phone"));

    // The same campaign for a user whose token says English: left to right.
    let english = auth0_claims("auth0|ltr", json!({"locale": "en"}));
    let (_, form) = app.login(&english).await;
    assert_eq!(form.attr("html", "dir").as_deref(), Some("ltr"));
    assert_eq!(form.h1(), "Tell us about yourself");
}

#[tokio::test]
async fn error_pages_speak_the_browsers_language_and_say_how_to_get_back() {
    let app = spawn_app().await;
    for (language, heading, hint) in [
        (
            "de-DE,de;q=0.9",
            "Dieser Anmeldelink ist ungültig",
            "Sie können diese Seite schließen.",
        ),
        (
            "fr",
            "Ce lien de connexion n’est pas valide",
            "Vous pouvez fermer cette page.",
        ),
        (
            "es-MX",
            "Este enlace de inicio de sesión no es válido",
            "Puede cerrar esta página.",
        ),
        (
            "ar",
            "رابط تسجيل الدخول هذا غير صالح",
            "يمكنك إغلاق هذه الصفحة.",
        ),
        (
            "ja",
            "This sign-in link is not valid",
            "You can close this page.",
        ),
    ] {
        let r = app
            .client
            .get(format!("{}/p/{}", app.base, "0".repeat(32)))
            .header("accept-language", language)
            .send()
            .await
            .unwrap();
        let page = page(String::new(), r).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert_eq!(page.h1(), heading, "{language}");
        assert!(page.text_of(".intro").unwrap().len() > 20, "{language}");
        assert_eq!(page.text_of("main .help").unwrap(), hint, "{language}");
        let lang = page.attr("html", "lang").unwrap();
        assert_eq!(
            strings::is_rtl(&lang),
            page.attr("html", "dir").as_deref() == Some("rtl")
        );
    }
}

// --- the real browser --------------------------------------------------------------------

fn browser_dir() -> PathBuf {
    root().join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails with a clear message when the browser tests cannot run.
fn require_browser() {
    let node = Command::new("node").arg("--version").output();
    let version = match node {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => panic!(
            "`node` is not installed: the browser tests need Node.js 20+. Run scripts/test.sh \
             (it installs nodejs, npm and chromium) or `apt-get install -y nodejs npm chromium`."
        ),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "the browser tests need Node.js 20+, found {version}"
    );
    assert!(
        chromium().is_file(),
        "{} is missing: run scripts/test.sh or `apt-get install -y chromium`",
        chromium().display()
    );
    assert!(
        browser_dir()
            .join("node_modules/playwright-core/package.json")
            .is_file()
            && browser_dir()
                .join("node_modules/axe-core/axe.min.js")
                .is_file(),
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser (scripts/test.sh does it)"
    );
}

/// A campaigns folder with the examples (and their files) plus the Arabic fixture.
fn campaigns_with_fixture(into: &Path) {
    for entry in std::fs::read_dir(root().join("campaigns")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, into.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        root().join("tests/fixtures/pages/survey-ar.yaml"),
        into.join("survey-ar.yaml"),
    )
    .unwrap();
}

/// The service in dev mode on `campaigns`, with the repository's themes.
async fn spawn_dev_app_on(campaigns: &Path, db: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let env: BTreeMap<String, String> = [
        ("INTERLUDE_PUBLIC_URL", format!("http://{addr}")),
        (
            "INTERLUDE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        ),
        ("INTERLUDE_CAMPAIGNS_DIR", campaigns.display().to_string()),
        (
            "INTERLUDE_THEMES_DIR",
            root().join("themes").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::load(None, true, &env).unwrap();
    let state = AppState::new(config).await.unwrap();
    tokio::spawn(async move {
        interlude::web::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

/// Width and height of a PNG file.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Runs tests/browser/run.mjs and returns its report.
fn run_browser(base: &str, campaigns: &[String], shots: &Path, report: &Path) -> Value {
    let log = shots.join("run.log");
    let mut child = Command::new("node")
        .arg("run.mjs")
        .args(["--base", base])
        .args(["--campaigns", &campaigns.join(",")])
        .args(["--rtl-campaign", "survey-ar"])
        .arg("--out")
        .arg(shots)
        .arg("--report")
        .arg(report)
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(shots.join("run.out")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    // run.mjs stops itself after 5 minutes; this is the last resort.
    let deadline = Instant::now() + Duration::from_secs(420);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the browser run hung; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(report).unwrap_or_else(|_| {
        panic!(
            "no report (exit {status}); the log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let report: Value = serde_json::from_str(&text).unwrap();
    assert!(
        status.success() && report["failures"].as_array().is_some_and(Vec::is_empty),
        "the browser run failed (exit {status}):\n{}\n\nlog:\n{}",
        report["failures"]
            .as_array()
            .map(|f| f
                .iter()
                .map(|x| format!("- {}", x.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n"))
            .unwrap_or_default(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_campaign_works_in_a_real_browser_with_and_without_javascript() {
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let campaigns_dir = dir.path().join("campaigns");
    std::fs::create_dir_all(&campaigns_dir).unwrap();
    campaigns_with_fixture(&campaigns_dir);
    let options = LoadOptions {
        themes_dir: Some(root().join("themes")),
        allow_http: false,
    };
    let examples: Vec<String> = load_dir(&root().join("campaigns"), &options)
        .unwrap()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    let base = spawn_dev_app_on(&campaigns_dir, &dir.path().join("dev.db")).await;

    let shots = root().join("target/screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let report_file = dir.path().join("report.json");
    let started = Instant::now();
    let report = {
        let (base, examples, shots, report_file) = (
            base.clone(),
            examples.clone(),
            shots.clone(),
            report_file.clone(),
        );
        tokio::task::spawn_blocking(move || run_browser(&base, &examples, &shots, &report_file))
            .await
            .unwrap()
    };
    let elapsed = started.elapsed();

    // Every example campaign ran to a valid return, with and without JavaScript.
    let runs = report["runs"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    for id in &examples {
        for name in [id.clone(), format!("{id}-nojs")] {
            let run = by_name
                .get(name.as_str())
                .unwrap_or_else(|| panic!("no run {name}"));
            assert_eq!(run["token"]["campaign"], json!(id), "{name}");
            assert_eq!(run["token"]["outcome"], json!("completed"), "{name}");
            assert_eq!(run["js"], json!(!name.ends_with("-nojs")), "{name}");
        }
    }
    // Validation errors were seen, and a coupon revealed and returned, both ways.
    assert!(runs.iter().filter(|r| r["errors"].is_array()).count() >= 6);
    for name in ["welcome-coupon", "welcome-coupon-nojs", "welcome-coupon-de"] {
        let run = by_name[name];
        assert_eq!(run["token"]["coupon"]["code"], run["coupon"], "{name}");
    }
    // German and Arabic.
    let german: Vec<&&Value> = by_name.values().filter(|r| r["lang"] == "de").collect();
    assert!(german.len() >= 2, "German runs: {}", german.len());
    for name in ["survey-ar", "survey-ar-nojs"] {
        let run = by_name[name];
        assert_eq!(
            (run["lang"].as_str(), run["dir"].as_str()),
            (Some("ar"), Some("rtl"))
        );
        assert_eq!(run["token"]["outcome"], json!("completed"));
    }
    // axe ran on every page visited, with no serious or critical violation.
    let audits = report["audits"].as_array().unwrap();
    let visited: usize = runs
        .iter()
        .map(|r| r["pages"].as_array().unwrap().len())
        .sum();
    assert_eq!(audits.len(), visited);
    for page in [
        "dev",
        "form",
        "form-errors",
        "coupon",
        "continue",
        "done",
        "dev-continue",
        "error-used",
        "error-invalid",
        "error-forbidden",
    ] {
        assert!(
            audits.iter().any(|a| a["page"] == page),
            "no audit of a {page} page"
        );
    }
    for a in audits {
        for v in a["violations"].as_array().unwrap() {
            assert!(
                !matches!(v["impact"].as_str(), Some("serious" | "critical")),
                "{} {}: {v}",
                a["run"],
                a["page"]
            );
        }
    }
    // Focus is visible on every control the keyboard reaches.
    let focus = report["focus"].as_array().unwrap();
    assert!(focus.len() >= examples.len());
    // Screenshots at both widths, with nothing wider than the phone's screen.
    let files: Vec<PathBuf> = report["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert_eq!(files.len(), visited * 2);
    for file in &files {
        let (width, height) = png_size(file);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with("--phone.png") {
            assert_eq!(width, 390, "{name} scrolls sideways on a phone");
            assert!(height >= 844, "{name}");
        } else {
            assert!(name.ends_with("--desktop.png"), "{name}");
            assert_eq!(width, 1280, "{name}");
        }
    }
    eprintln!(
        "browser tests: {} runs, {} pages audited, {} screenshots in {}, {:.1} s (browser {} ms)",
        runs.len(),
        audits.len(),
        files.len(),
        shots.display(),
        elapsed.as_secs_f64(),
        report["timings"]["total_ms"]
    );
}
