//! The campaign format: example campaigns load, the committed schema is current and matches
//! the format, and each broken fixture yields exactly its problem at its position.

use std::path::{Path, PathBuf};

use interlude::campaign::load::LoadOptions;
use interlude::campaign::load_dir;
use interlude::campaign::schema::{campaign_schema, campaign_schema_text};

fn options() -> LoadOptions {
    LoadOptions {
        themes_dir: Some(PathBuf::from("themes")),
        allow_http: false,
    }
}

fn problems_of(fixture: &str) -> Vec<String> {
    let dir = Path::new("tests/fixtures/broken").join(fixture);
    match load_dir(&dir, &options()) {
        Ok(set) => panic!("{fixture} loaded {} campaigns without a problem", set.len()),
        Err(problems) => problems.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_example_campaigns_load() {
    let set = load_dir(Path::new("campaigns"), &options()).expect("examples load");
    let ids: Vec<&str> = set.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tos-v2",
            "profile-name",
            "profile-job",
            "marketing-consent",
            "welcome-coupon"
        ],
        "priority order"
    );
}

#[test]
fn the_committed_schema_is_current() {
    let committed = std::fs::read_to_string("campaigns/campaign.schema.json").unwrap();
    assert!(
        committed == campaign_schema_text(),
        "campaigns/campaign.schema.json is stale: run `cargo run -- schema > campaigns/campaign.schema.json`"
    );
}

fn yaml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn every_example_references_and_satisfies_the_schema() {
    let validator = jsonschema::validator_for(&campaign_schema()).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir("campaigns").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=./campaign.schema.json\n"),
            "{} lacks the schema line",
            path.display()
        );
        let errors: Vec<String> = validator
            .iter_errors(&yaml_as_json(&path))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    assert_eq!(seen, 5);
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator = jsonschema::validator_for(&campaign_schema()).unwrap();
    for fixture in ["unknown-key", "unknown-operator", "unknown-field-type"] {
        let doc = yaml_as_json(
            &Path::new("tests/fixtures/broken")
                .join(fixture)
                .join("campaign.yaml"),
        );
        assert!(!validator.is_valid(&doc), "{fixture} passes the schema");
    }
}

/// Each fixture has one problem; the whole line is asserted: file, line, column, message.
#[test]
fn each_broken_fixture_reports_its_problem_at_its_position() {
    let cases: &[(&str, &str)] = &[
        (
            "bad-claim-path",
            "campaign.yaml:4:10: `claim`: the claim path `user_metadata..plan` has an empty part (two dots in a row, or a dot at the start or end)",
        ),
        (
            "bad-duration",
            "campaign.yaml:5:27: `history.last_shown_more_than`: `30days` is not a duration; write a whole number and a unit: `30d`, `12h`, `45m`, `90s` or `2w`",
        ),
        (
            "bad-matches",
            "campaign.yaml:5:12: `matches`: not a valid regular expression: unclosed group",
        ),
        (
            "bad-pattern",
            "campaign.yaml:8:14: `fields.code.pattern`: not a valid regular expression: unclosed character class",
        ),
        (
            "bad-schedule",
            "campaign.yaml:4:9: `schedule.from`: `2026-13-01` is not a date (`2026-03-01`) or a time (`2026-03-01T09:00:00+01:00`)",
        ),
        (
            "claim-without-operator",
            "campaign.yaml:4:3: the condition on claim `logins_count` has no operator; add one of `eq`, `ne`, `in`, `not_in`, `gt`, `gte`, `lt`, `lte`, `exists`, `matches`, `contains`",
        ),
        (
            "duplicate-id",
            "b.yaml:1:5: `id`: `broken` is already the id of tests/fixtures/broken/duplicate-id/a.yaml; ids must be unique",
        ),
        (
            "insecure-tos-url",
            "campaign.yaml:20:10: `outcome.tos.url`: `http://example.com/terms` must be an https:// address",
        ),
        (
            "missing-coupon-pool",
            "campaign.yaml:16:11: `outcome.coupon.pool`: the file `codes.csv` does not exist (paths are relative to the campaigns folder)",
        ),
        (
            "missing-label",
            "campaign.yaml:12:7: `presentation.text.en` is the default locale and lacks: fields.company.label",
        ),
        (
            "not-a-boolean",
            "campaign.yaml:3:10: expected `true` or `false`",
        ),
        (
            "pre-ticked-consent",
            "campaign.yaml:6:11: field `newsletter` grants consent and must not be pre-ticked: remove `default` / `default_from`",
        ),
        (
            "rollout-out-of-range",
            "campaign.yaml:4:12: `rollout` is a percentage from 0 to 100, not 150",
        ),
        (
            "select-without-options",
            "campaign.yaml:7:11: `fields.size` is a select field and needs `options`",
        ),
        (
            "unknown-field-type",
            "campaign.yaml:7:11: unknown value `txt`, did you mean `text`? (allowed: text, email, tel, url, number, date, select, radio, checkbox, multi-select, textarea, hidden)",
        ),
        (
            "unknown-history-campaign",
            "campaign.yaml:5:15: `history.campaign`: there is no campaign `profile-nmae`",
        ),
        (
            "unknown-key",
            "campaign.yaml:3:1: unknown key `feilds`, did you mean `fields`? (allowed here: id, title, description, version, priority, enabled, schedule, trigger, fields, presentation, outcome)",
        ),
        (
            "unknown-operator",
            "campaign.yaml:6:7: unknown operator `gtee`, did you mean `gte`?",
        ),
        (
            "unknown-return-claim",
            "campaign.yaml:15:12: `outcome.claims`: there is no field `job_tilte`, did you mean `job_title`?",
        ),
        (
            "unknown-theme",
            "campaign.yaml:7:10: `presentation.theme`: unknown theme `fancy`; themes are: default, midnight",
        ),
        (
            "yaml-syntax",
            "campaign.yaml:2:8: expected a single text value here, not a list or map",
        ),
    ];
    let mut covered: Vec<&str> = cases.iter().map(|(f, _)| *f).collect();
    covered.push("many-problems");
    for entry in std::fs::read_dir("tests/fixtures/broken").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            covered.contains(&name.as_str()),
            "fixture {name} has no expectation"
        );
    }
    for (fixture, expected) in cases {
        let expected = format!("tests/fixtures/broken/{fixture}/{expected}");
        assert_eq!(problems_of(fixture), vec![expected], "fixture {fixture}");
    }
}

#[test]
fn every_problem_in_a_file_is_reported_not_just_the_first() {
    let problems = problems_of("many-problems");
    let positions: Vec<&str> = problems
        .iter()
        .map(|p| {
            p.split(": ")
                .next()
                .unwrap()
                .rsplit_once("campaign.yaml:")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(
        positions,
        ["1:5", "7:11", "9:10", "12:7", "17:12"],
        "{problems:#?}"
    );
    assert!(problems[0].contains("`Bad Id` must be lower-case"));
    assert!(problems[2].contains("unknown theme `fancy`"));
    assert!(problems[4].contains("there is no field `nope`"));
}
