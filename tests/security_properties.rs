//! Property tests (the fuzzing that runs in CI; cargo-fuzz needs a nightly toolchain this
//! machine does not have): the campaign loader, the rules engine, the token verifier and
//! the form decoder take arbitrary input without panicking. Each property runs a bounded
//! number of cases (PROPTEST_CASES overrides).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use interlude::campaign::load::{LoadOptions, parse_str};
use interlude::campaign::{CampaignSet, load_dir};
use interlude::config::Config;
use interlude::rules::{self, Context, History, PastPrompt, PromptStatus};
use proptest::prelude::*;
use serde_json::Value;

fn examples() -> CampaignSet {
    load_dir(Path::new("campaigns"), &LoadOptions::default()).unwrap()
}

fn every_field() -> CampaignSet {
    load_dir(
        Path::new("tests/fixtures/form-rules"),
        &LoadOptions::default(),
    )
    .unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec!["pro", "free", "2026-01-01", "auth0|1", "de", ""])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "logins_count",
                    "email_verified",
                    "app_metadata",
                    "user_metadata",
                    "plan",
                    "given_name",
                    "job_title",
                    "locale",
                    "campaign",
                    "roles",
                    "0",
                    "x",
                ]),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn history() -> impl Strategy<Value = History> {
    let status = prop::sample::select(vec![
        PromptStatus::Pending,
        PromptStatus::Completed,
        PromptStatus::Skipped,
        PromptStatus::Declined,
        PromptStatus::Expired,
    ]);
    let prompt = (
        prop::sample::select(vec![
            "tos-v2",
            "profile-name",
            "profile-job",
            "marketing-consent",
            "welcome-coupon",
            "gone",
        ]),
        0u32..4,
        status,
        -100_000_000i64..100_000_000,
    )
        .prop_map(|(campaign, version, status, offset)| {
            let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
            PastPrompt {
                campaign: campaign.to_owned(),
                version,
                status,
                shown_at: at,
                finished_at: Some(at),
            }
        });
    prop::collection::vec(prompt, 0..20).prop_map(|prompts| History {
        prompts,
        tos: Vec::new(),
    })
}

/// A valid campaign file with a few bytes replaced: near-misses find more paths than noise.
fn mutated_campaign() -> impl Strategy<Value = String> {
    let base = std::fs::read_to_string("campaigns/profile-job.yaml").unwrap();
    let len = base.len();
    prop::collection::vec((0..len, any::<char>()), 1..6).prop_map(move |edits| {
        let mut chars: Vec<char> = base.chars().collect();
        for (at, c) in edits {
            let i = at % chars.len();
            chars[i] = c;
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = parse_str(Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn the_loader_never_panics_on_near_miss_campaigns(text in mutated_campaign()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yaml"), &text).unwrap();
        match load_dir(dir.path(), &LoadOptions::default()) {
            Ok(set) => prop_assert_eq!(set.len(), 1),
            Err(problems) => {
                // Every problem names the file and a position inside it.
                for p in &problems.0 {
                    prop_assert!(p.to_string().contains("c.yaml:"));
                    prop_assert!(p.pos.line as usize <= text.lines().count() + 1);
                }
            }
        }
    }

    #[test]
    fn the_rules_engine_never_panics_on_arbitrary_claims(claims in json_value(), history in history(), sub in ".{0,40}") {
        let set = examples();
        let ctx = Context { claims: &claims, subject: &sub, history: &history, now: time::OffsetDateTime::now_utc() };
        let choice = rules::choose(set.iter(), &ctx, true);
        prop_assert_eq!(choice.verdicts.len(), set.len());
        let first_firing = choice.verdicts.iter().find(|(_, v)| v.fires).map(|(id, _)| id.clone());
        prop_assert_eq!(choice.chosen.map(|c| c.id.clone()), first_firing);
    }

    #[test]
    fn the_token_verifier_never_panics(token in "[A-Za-z0-9_.=-]{0,300}") {
        let env: BTreeMap<String, String> = [("INTERLUDE_ISSUER", "acme.eu.auth0.test"), ("INTERLUDE_SECRET", "0123456789abcdef0123456789abcdef-fuzz")]
            .into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let config = Config::load(None, false, &env).unwrap();
        prop_assert!(interlude::token::verify(&token, &config, 0).is_err());
    }

    #[test]
    fn the_token_verifier_refuses_every_mutation_of_a_good_token(at in 0usize..400, c in "[A-Za-z0-9_-]") {
        let env: BTreeMap<String, String> = [("INTERLUDE_ISSUER", "acme.eu.auth0.test"), ("INTERLUDE_SECRET", "0123456789abcdef0123456789abcdef-fuzz")]
            .into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let config = Config::load(None, false, &env).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({
            "sub": "auth0|p", "iss": "acme.eu.auth0.test", "iat": now, "exp": now + 600
        })).unwrap();
        let good = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef-fuzz")).unwrap();
        prop_assert!(interlude::token::verify(&good, &config, now).is_ok());
        let i = at % good.len();
        let mut bytes = good.clone().into_bytes();
        if bytes[i] != b'.' && bytes[i] != c.as_bytes()[0] {
            bytes[i] = c.as_bytes()[0];
            let mutated = String::from_utf8(bytes).unwrap();
            // A changed signature or payload never verifies (base64 padding bits aside).
            if let Ok(inbound) = interlude::token::verify(&mutated, &config, now) {
                prop_assert_eq!(inbound.subject, "auth0|p");
            }
        }
    }

    #[test]
    fn the_form_decoder_never_panics_and_accepts_only_valid_answers(
        pairs in prop::collection::vec((
            prop::sample::select(vec!["nickname", "email", "phone", "site", "age", "birthday", "plan", "contact", "agree", "topics", "bio", "source", "_csrf", "_action", "evil"]),
            ".{0,30}",
        ), 0..16),
        claims in json_value(),
    ) {
        let set = every_field();
        let campaign = set.get("every-field").unwrap();
        let pairs: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Ok(submission) = interlude::form::decode(campaign, &campaign.form, &pairs, &claims)
            && submission.problems.is_empty()
        {
            // Whatever passes satisfies the schema compiled from the fields.
            let validator = jsonschema::validator_for(campaign.form.schema()).unwrap();
            prop_assert!(validator.is_valid(&Value::Object(submission.answers.clone())));
            prop_assert!(submission.answers.contains_key("email") && submission.answers.contains_key("nickname"));
        }
    }
}
