//! Tests of the rules engine: claims + history + time in, verdict out.
//!
//! Most triggers are written as YAML and go through the real loader, so these tests also
//! pin down what a marketer's condition compiles to.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::campaign::load::LoadOptions;
use crate::campaign::{Campaign, CampaignSet, load_dir};

/// "Now" for every test unless a test says otherwise.
const NOW: OffsetDateTime = datetime!(2026-03-15 12:00 UTC);
const ALICE: &str = "auth0|alice";

static NO_HISTORY: History = History {
    prompts: Vec::new(),
    tos: Vec::new(),
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A complete, minimal campaign file; `extra` holds further top-level keys.
fn campaign_yaml(id: &str, extra: &str) -> String {
    format!(
        "id: {id}\ntitle: Campaign {id}\n{extra}\npresentation:\n  text:\n    en: {{ title: Hello, submit: OK }}\n"
    )
}

/// Loads these campaign files through the real loader.
fn load(files: &[String]) -> CampaignSet {
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    for (i, text) in files.iter().enumerate() {
        std::fs::write(dir.path().join(format!("c{i}.yaml")), text).expect("write a campaign");
    }
    match load_dir(dir.path(), &LoadOptions::default()) {
        Ok(set) => set,
        Err(problems) => panic!("the campaigns did not load:\n{problems}\n---\n{files:#?}"),
    }
}

/// Loads one campaign.
fn load_one(id: &str, extra: &str) -> Arc<Campaign> {
    let set = load(&[campaign_yaml(id, extra)]);
    Arc::clone(set.get(id).expect("the campaign just loaded"))
}

/// Compiles a trigger written in YAML (flow style is simplest) through the loader.
fn trigger(yaml: &str) -> Rule {
    load_one("subject-campaign", &format!("trigger: {yaml}"))
        .trigger
        .clone()
        .expect("a compiled trigger")
}

fn ctx<'a>(claims: &'a Value, history: &'a History) -> Context<'a> {
    Context {
        claims,
        subject: ALICE,
        history,
        now: NOW,
    }
}

/// Evaluates `rule` in `ctx`, and checks that the request path's [`holds`] decides the same.
#[track_caller]
fn decide(rule: &Rule, ctx: &Context<'_>) -> Verdict {
    let verdict = evaluate(rule, ctx);
    assert_eq!(
        holds(rule, ctx),
        verdict.fires,
        "holds() and evaluate() disagree ({})",
        verdict.reason
    );
    verdict
}

/// Evaluates `rule` against `claims`, no history.
#[track_caller]
fn check(rule: &Rule, claims: &Value) -> Verdict {
    decide(rule, &ctx(claims, &NO_HISTORY))
}

/// Compiles the YAML trigger and evaluates it against `claims`, no history.
fn verdict(yaml: &str, claims: &Value) -> Verdict {
    check(&trigger(yaml), claims)
}

fn fires(yaml: &str, claims: &Value) -> bool {
    verdict(yaml, claims).fires
}

fn claim(path: &str, test: ClaimTest) -> Rule {
    Rule::Claim {
        path: ClaimPath::parse(path).expect("a valid path"),
        test,
    }
}

fn prompt(
    campaign: &str,
    version: u32,
    status: PromptStatus,
    shown_at: OffsetDateTime,
) -> PastPrompt {
    PastPrompt {
        campaign: campaign.to_owned(),
        version,
        status,
        shown_at,
        finished_at: None,
    }
}

fn history(prompts: Vec<PastPrompt>) -> History {
    History {
        prompts,
        tos: Vec::new(),
    }
}

fn tos(records: &[(&str, &str)]) -> History {
    History {
        prompts: Vec::new(),
        tos: records
            .iter()
            .map(|(document, version)| TosRecord {
                document: (*document).to_owned(),
                version: (*version).to_owned(),
            })
            .collect(),
    }
}

#[track_caller]
fn eval_with(rule: &Rule, history: &History, now: OffsetDateTime) -> Verdict {
    decide(
        rule,
        &Context {
            claims: &Value::Null,
            subject: ALICE,
            history,
            now,
        },
    )
}

#[track_caller]
fn at(campaign: &Campaign, now: OffsetDateTime) -> Verdict {
    let ctx = Context {
        claims: &json!({}),
        subject: ALICE,
        history: &NO_HISTORY,
        now,
    };
    let verdict = evaluate_campaign(campaign, &ctx);
    assert_eq!(
        campaign_fires(campaign, &ctx),
        verdict.fires,
        "{}",
        verdict.reason
    );
    verdict
}

#[track_caller]
fn assert_reason(v: &Verdict, parts: &[&str]) {
    for part in parts {
        assert!(
            v.reason.contains(part),
            "reason {:?} should contain {:?}",
            v.reason,
            part
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Claim operators
// ---------------------------------------------------------------------------------------------

#[test]
fn eq_compares_numbers_by_value() {
    let two = json!({"n": 2});
    let two_point_o = json!({"n": 2.0});
    assert!(fires("{claim: n, eq: 2}", &two));
    assert!(fires("{claim: n, eq: 2.0}", &two), "2 == 2.0");
    assert!(fires("{claim: n, eq: 2}", &two_point_o), "2.0 == 2");
    assert!(!fires("{claim: n, eq: 3}", &two));
    assert!(!fires("{claim: n, eq: 2.5}", &two));
    assert!(fires("{claim: n, eq: -7}", &json!({"n": -7})));
    assert!(!fires("{claim: n, eq: -7}", &json!({"n": 7})));
}

#[test]
fn eq_numbers_beyond_f64_precision_stay_distinct() {
    // 2^53 + 1 is not representable as f64; as floats the two would collapse into one.
    let big = json!({"n": 9_007_199_254_740_993_u64});
    assert!(fires("{claim: n, eq: 9007199254740993}", &big));
    assert!(!fires("{claim: n, eq: 9007199254740992}", &big));
    assert!(fires("{claim: n, ne: 9007199254740992}", &big));
    assert!(fires("{claim: n, gt: 9007199254740992}", &big));
    assert!(!fires("{claim: n, lte: 9007199254740992}", &big));
    assert!(fires("{claim: n, in: [1, 9007199254740993]}", &big));
    // Integers and floats still compare by value.
    assert!(fires("{claim: n, gte: 9007199254740992.0}", &big));
}

#[test]
fn eq_compares_strings_and_bools_exactly() {
    let claims = json!({"plan": "pro", "verified": true, "flag": false});
    assert!(fires("{claim: plan, eq: pro}", &claims));
    assert!(fires("{claim: plan, eq: \"pro\"}", &claims));
    assert!(!fires("{claim: plan, eq: Pro}", &claims), "case matters");
    assert!(!fires("{claim: plan, eq: \"pro \"}", &claims));
    assert!(fires("{claim: verified, eq: true}", &claims));
    assert!(!fires("{claim: verified, eq: false}", &claims));
    assert!(fires("{claim: flag, eq: false}", &claims));
    // No coercion between kinds.
    assert!(!fires("{claim: verified, eq: \"true\"}", &claims));
    assert!(!fires("{claim: n, eq: \"2\"}", &json!({"n": 2})));
    assert!(!fires("{claim: s, eq: 2}", &json!({"s": "2"})));
}

#[test]
fn eq_on_a_missing_claim_fails_and_says_so() {
    let v = verdict("{claim: plan, eq: pro}", &json!({}));
    assert!(!v.fires);
    assert_reason(&v, &["`plan`", "missing", "eq \"pro\"", "failed"]);
}

#[test]
fn eq_reason_names_path_operator_and_value() {
    let v = verdict("{claim: plan, eq: pro}", &json!({"plan": "free"}));
    assert!(!v.fires);
    assert_eq!(v.reason, "claim `plan` eq \"pro\" failed (value \"free\")");
    let v = verdict("{claim: plan, eq: pro}", &json!({"plan": "pro"}));
    assert!(v.fires);
    assert_eq!(v.reason, "claim `plan` eq \"pro\" held (value \"pro\")");
}

#[test]
fn ne_holds_for_other_values_and_for_missing_claims() {
    assert!(fires("{claim: plan, ne: pro}", &json!({"plan": "free"})));
    assert!(!fires("{claim: plan, ne: pro}", &json!({"plan": "pro"})));
    assert!(!fires("{claim: n, ne: 2}", &json!({"n": 2.0})), "2.0 is 2");
    assert!(
        fires("{claim: n, ne: 2}", &json!({"n": "2"})),
        "a string is not a number"
    );
    let v = verdict("{claim: plan, ne: pro}", &json!({}));
    assert!(v.fires, "a missing claim is not equal to anything");
    assert_reason(&v, &["missing", "ne \"pro\"", "held"]);
    assert!(
        fires("{claim: plan, ne: pro}", &json!({"plan": null})),
        "null counts as missing"
    );
}

#[test]
fn in_holds_for_listed_values_only() {
    let rule = trigger("{claim: plan, in: [free, trial, 3]}");
    assert!(check(&rule, &json!({"plan": "free"})).fires);
    assert!(check(&rule, &json!({"plan": "trial"})).fires);
    assert!(
        check(&rule, &json!({"plan": 3.0})).fires,
        "numbers by value"
    );
    assert!(!check(&rule, &json!({"plan": "pro"})).fires);
    assert!(!check(&rule, &json!({"plan": "3"})).fires);
    let missing = check(&rule, &json!({}));
    assert!(!missing.fires);
    assert_reason(&missing, &["missing", "in [\"free\",\"trial\",3]"]);
}

#[test]
fn not_in_holds_for_unlisted_and_missing() {
    let rule = trigger("{claim: plan, not_in: [free, trial]}");
    assert!(check(&rule, &json!({"plan": "pro"})).fires);
    assert!(!check(&rule, &json!({"plan": "free"})).fires);
    assert!(!check(&rule, &json!({"plan": "trial"})).fires);
    let missing = check(&rule, &json!({}));
    assert!(missing.fires, "missing is in no list");
    assert_reason(&missing, &["missing", "not_in", "held"]);
    assert!(check(&rule, &json!({"plan": null})).fires);
}

#[test]
fn ordering_operators_on_numbers() {
    let five = json!({"logins_count": 5});
    let cases = [
        ("gt", 4.0, true),
        ("gt", 5.0, false),
        ("gt", 6.0, false),
        ("gte", 4.0, true),
        ("gte", 5.0, true),
        ("gte", 6.0, false),
        ("lt", 4.0, false),
        ("lt", 5.0, false),
        ("lt", 6.0, true),
        ("lte", 4.0, false),
        ("lte", 5.0, true),
        ("lte", 6.0, true),
        ("gt", 4.5, true),
        ("lt", 5.5, true),
        ("gte", -1.0, true),
    ];
    for (op, operand, expected) in cases {
        let yaml = format!("{{claim: logins_count, {op}: {operand}}}");
        assert_eq!(fires(&yaml, &five), expected, "5 {op} {operand}");
    }
    // Integer operands too.
    assert!(fires("{claim: logins_count, gte: 5}", &five));
    assert!(!fires("{claim: logins_count, gt: 5}", &five));
    // Float claims.
    assert!(fires("{claim: score, gt: 0.5}", &json!({"score": 0.75})));
    assert!(!fires("{claim: score, lt: 0.5}", &json!({"score": 0.75})));
}

#[test]
fn ordering_operators_on_iso_dates_as_strings() {
    let claims = json!({"created_at": "2025-06-30T10:00:00.000Z", "birthday": "1990-05-17"});
    assert!(fires("{claim: created_at, lt: \"2026-01-01\"}", &claims));
    assert!(!fires("{claim: created_at, gt: \"2026-01-01\"}", &claims));
    assert!(fires("{claim: created_at, gte: \"2025-06-30\"}", &claims));
    assert!(fires(
        "{claim: created_at, lte: \"2025-06-30T10:00:00.000Z\"}",
        &claims
    ));
    assert!(!fires(
        "{claim: created_at, lt: \"2025-06-30T10:00:00.000Z\"}",
        &claims
    ));
    assert!(fires("{claim: birthday, gte: \"1990-05-17\"}", &claims));
    assert!(fires("{claim: birthday, lte: \"1990-05-17\"}", &claims));
    assert!(!fires("{claim: birthday, gt: \"1990-05-17\"}", &claims));
    assert!(fires("{claim: birthday, lt: \"1990-05-18\"}", &claims));
    // Unquoted YAML dates stay text (YAML 1.2 core schema) and compare the same way.
    assert!(fires("{claim: birthday, lt: 1990-05-18}", &claims));
    assert!(!fires("{claim: birthday, gt: 1990-05-18}", &claims));
}

#[test]
fn ordering_across_kinds_is_false_both_ways() {
    let claims = json!({"n": 5, "s": "5", "b": true, "list": [1, 2], "obj": {"a": 1}});
    for op in ["gt", "gte", "lt", "lte"] {
        assert!(
            !fires(&format!("{{claim: n, {op}: \"5\"}}"), &claims),
            "number {op} text"
        );
        assert!(
            !fires(&format!("{{claim: s, {op}: 5}}"), &claims),
            "text {op} number"
        );
        assert!(
            !fires(&format!("{{claim: b, {op}: 0}}"), &claims),
            "bool {op} number"
        );
        assert!(
            !fires(&format!("{{claim: list, {op}: 0}}"), &claims),
            "list {op} number"
        );
        assert!(
            !fires(&format!("{{claim: obj, {op}: a}}"), &claims),
            "map {op} text"
        );
        assert!(
            !fires(&format!("{{claim: missing, {op}: 0}}"), &claims),
            "missing {op}"
        );
    }
    // Not of a mixed comparison therefore holds.
    assert!(fires("{not: {claim: s, gte: 5}}", &claims));
}

#[test]
fn exists_true_and_false_treat_null_as_missing() {
    let claims = json!({"name": "Ada", "empty": "", "zero": 0, "no": false, "nothing": null});
    for present in ["name", "empty", "zero", "no"] {
        let yes = verdict(&format!("{{claim: {present}, exists: true}}"), &claims);
        assert!(yes.fires, "{present} exists");
        assert_reason(&yes, &["exists true", "held"]);
        assert!(!fires(
            &format!("{{claim: {present}, exists: false}}"),
            &claims
        ));
    }
    for absent in ["nothing", "absent", "name.deeper"] {
        let yes = verdict(&format!("{{claim: \"{absent}\", exists: true}}"), &claims);
        assert!(!yes.fires, "{absent} does not exist");
        assert_reason(&yes, &["missing", "exists true", "failed"]);
        let no = verdict(&format!("{{claim: \"{absent}\", exists: false}}"), &claims);
        assert!(no.fires, "{absent} does not exist");
        assert_reason(&no, &["missing", "exists false", "held"]);
    }
}

#[test]
fn matches_is_an_unanchored_regex_on_strings_only() {
    let claims = json!({"email": "ada@Example.com", "n": 12345, "list": ["ada@example.com"]});
    assert!(fires(
        "{claim: email, matches: \"@example\\\\.com$\"}",
        &json!({"email": "x@example.com"})
    ));
    assert!(fires(
        "{claim: email, matches: '(?i)@example\\.com$'}",
        &claims
    ));
    assert!(
        !fires("{claim: email, matches: '@example\\.com$'}", &claims),
        "case-sensitive"
    );
    assert!(
        fires("{claim: email, matches: 'Example'}", &claims),
        "unanchored"
    );
    assert!(!fires("{claim: email, matches: '^Example'}", &claims));
    // Not a string: never matches, even if its text would.
    assert!(!fires("{claim: n, matches: '^[0-9]+$'}", &claims));
    assert!(!fires("{claim: list, matches: 'example'}", &claims));
    let missing = verdict("{claim: nope, matches: '.*'}", &claims);
    assert!(!missing.fires);
    assert_reason(&missing, &["missing", "matches /.*/"]);
    let v = verdict("{claim: email, matches: '^ada@'}", &claims);
    assert!(v.fires);
    assert_reason(&v, &["claim `email` matches /^ada@/ held"]);
}

#[test]
fn contains_looks_into_lists_and_strings() {
    let claims = json!({
        "roles": ["admin", "editor"],
        "ids": [1, 2.0, 3],
        "bio": "Rust engineer at Acme",
        "n": 123,
        "obj": {"admin": true}
    });
    assert!(fires("{claim: roles, contains: admin}", &claims));
    assert!(
        !fires("{claim: roles, contains: adm}", &claims),
        "elements, not substrings"
    );
    assert!(!fires("{claim: roles, contains: viewer}", &claims));
    assert!(
        fires("{claim: ids, contains: 2}", &claims),
        "numbers by value"
    );
    assert!(fires("{claim: ids, contains: 3.0}", &claims));
    assert!(!fires("{claim: ids, contains: \"1\"}", &claims));
    assert!(fires("{claim: bio, contains: engineer}", &claims));
    assert!(fires("{claim: bio, contains: \"at Acme\"}", &claims));
    assert!(
        !fires("{claim: bio, contains: acme}", &claims),
        "case-sensitive"
    );
    assert!(
        !fires("{claim: bio, contains: 1}", &claims),
        "non-text needle in text"
    );
    assert!(
        !fires("{claim: n, contains: \"2\"}", &claims),
        "numbers contain nothing"
    );
    assert!(
        !fires("{claim: obj, contains: admin}", &claims),
        "maps contain nothing"
    );
    assert!(!fires("{claim: nope, contains: admin}", &claims));
    let v = verdict("{claim: roles, contains: editor}", &claims);
    assert_reason(
        &v,
        &[
            "claim `roles` contains \"editor\" held",
            "[\"admin\",\"editor\"]",
        ],
    );
}

#[test]
fn directly_built_tests_agree_with_compiled_ones() {
    let claims = json!({"plan": "pro", "n": 2});
    let cases = [
        (claim("plan", ClaimTest::Eq(json!("pro"))), true),
        (claim("plan", ClaimTest::Ne(json!("pro"))), false),
        (claim("n", ClaimTest::In(vec![json!(1), json!(2.0)])), true),
        (
            claim("n", ClaimTest::NotIn(vec![json!(1), json!(2.0)])),
            false,
        ),
        (claim("n", ClaimTest::Gt(json!(1))), true),
        (claim("n", ClaimTest::Gte(json!(2))), true),
        (claim("n", ClaimTest::Lt(json!(2))), false),
        (claim("n", ClaimTest::Lte(json!(1.5))), false),
        (claim("n", ClaimTest::Exists(true)), true),
        (claim("plan", ClaimTest::Exists(false)), false),
        (
            claim("plan", ClaimTest::Matches(Regex::new("^p").expect("regex"))),
            true,
        ),
        (claim("plan", ClaimTest::Contains(json!("r"))), true),
    ];
    for (i, (rule, expected)) in cases.iter().enumerate() {
        assert_eq!(check(rule, &claims).fires, *expected, "case {i}: {rule:?}");
    }
}

#[test]
fn long_values_are_shortened_in_reasons() {
    let long = "x".repeat(200);
    let v = check(
        &claim("s", ClaimTest::Eq(json!("y"))),
        &json!({ "s": long }),
    );
    assert!(!v.fires);
    assert!(v.reason.contains("..."), "{}", v.reason);
    assert!(v.reason.len() < 120, "{}", v.reason);
}

// ---------------------------------------------------------------------------------------------
// Claim paths
// ---------------------------------------------------------------------------------------------

#[test]
fn dotted_paths_reach_nested_claims() {
    let claims = json!({
        "app_metadata": {"plan": "pro", "billing": {"tier": {"level": 3}}},
        "user_metadata": {}
    });
    let v = verdict("{claim: app_metadata.plan, eq: pro}", &claims);
    assert!(v.fires);
    assert_reason(&v, &["`app_metadata.plan`"]);
    assert!(fires(
        "{claim: app_metadata.billing.tier.level, gte: 3}",
        &claims
    ));
    assert!(!fires("{claim: app_metadata.plan, eq: free}", &claims));
    // A missing step anywhere is a missing claim.
    assert!(!fires(
        "{claim: user_metadata.job_title, exists: true}",
        &claims
    ));
    assert!(fires(
        "{claim: app_metadata.nope.deeper, exists: false}",
        &claims
    ));
    // A step through a scalar is missing too.
    assert!(fires(
        "{claim: app_metadata.plan.name, exists: false}",
        &claims
    ));
    // The top level key alone is the whole object.
    assert!(fires("{claim: app_metadata, exists: true}", &claims));
}

#[test]
fn numeric_segments_index_arrays() {
    let claims = json!({"roles": ["admin", "editor"], "orgs": [{"id": "o1"}, {"id": "o2"}]});
    assert!(fires("{claim: roles.0, eq: admin}", &claims));
    assert!(fires("{claim: roles.1, eq: editor}", &claims));
    assert!(!fires("{claim: roles.1, eq: admin}", &claims));
    assert!(
        fires("{claim: roles.2, exists: false}", &claims),
        "out of range"
    );
    assert!(
        fires("{claim: roles.first, exists: false}", &claims),
        "not an index"
    );
    assert!(fires("{claim: orgs.1.id, eq: o2}", &claims));
    // A numeric key of an object is a plain key.
    assert!(fires(
        "{claim: \"codes.404\", eq: gone}",
        &json!({"codes": {"404": "gone"}})
    ));
}

#[test]
fn quoted_segments_reach_namespaced_claims() {
    let claims = json!({
        "https://acme.com/roles": ["admin"],
        "https://acme.com/app": {"plan": "pro", "a.b": 1},
        "app_metadata": {"odd key": "yes"}
    });
    let v = verdict(
        "{claim: \"['https://acme.com/roles']\", contains: admin}",
        &claims,
    );
    assert!(v.fires);
    assert_reason(&v, &["['https://acme.com/roles']"]);
    assert!(fires(
        "{claim: \"['https://acme.com/roles'].0\", eq: admin}",
        &claims
    ));
    assert!(fires(
        "{claim: \"['https://acme.com/app'].plan\", eq: pro}",
        &claims
    ));
    assert!(fires(
        "{claim: \"['https://acme.com/app']['a.b']\", eq: 1}",
        &claims
    ));
    assert!(fires(
        "{claim: \"app_metadata['odd key']\", eq: \"yes\"}",
        &claims
    ));
    assert!(fires(
        "{claim: \"['https://other.com/roles']\", exists: false}",
        &claims
    ));
}

#[test]
fn lookup_directly() {
    let claims = json!({"a": {"b": [10, {"c": null}]}});
    let path = |p: &str| ClaimPath::parse(p).expect("valid");
    assert_eq!(path("a.b.0").lookup(&claims), Some(&json!(10)));
    assert_eq!(path("a.b.1.c").lookup(&claims), Some(&Value::Null));
    assert_eq!(path("a.b.2").lookup(&claims), None);
    assert_eq!(path("a.b.-1").lookup(&claims), None);
    assert_eq!(path("['a']['b'].0").lookup(&claims), Some(&json!(10)));
    assert_eq!(path("a.b.0").as_str(), "a.b.0");
    // Present but null is missing for the rules.
    assert!(check(&claim("a.b.1.c", ClaimTest::Exists(false)), &claims).fires);
}

#[test]
fn the_loader_refuses_malformed_paths() {
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    std::fs::write(
        dir.path().join("bad.yaml"),
        campaign_yaml(
            "bad",
            "trigger: {claim: \"https://acme.com/roles\", contains: admin}",
        ),
    )
    .expect("write");
    let problems = load_dir(dir.path(), &LoadOptions::default()).expect_err("a bad path");
    let text = problems.to_string();
    assert!(text.contains("quote such keys"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

const ME: &str = "subject-campaign";

#[test]
fn answered_false_holds_until_answered() {
    let rule = trigger("{history: {answered: false}}");
    let v = eval_with(&rule, &NO_HISTORY, NOW);
    assert!(v.fires, "never shown");
    assert_reason(&v, &["history", "shown 0 times", "not answered"]);

    let dismissed = history(vec![
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(3)),
        prompt(ME, 1, PromptStatus::Declined, NOW - Duration::days(2)),
        prompt(ME, 1, PromptStatus::Expired, NOW - Duration::days(1)),
        prompt(ME, 1, PromptStatus::Pending, NOW - Duration::hours(1)),
    ]);
    assert!(
        eval_with(&rule, &dismissed, NOW).fires,
        "shown but never completed"
    );

    let mut done = dismissed.clone();
    done.prompts.push(prompt(
        ME,
        1,
        PromptStatus::Completed,
        NOW - Duration::days(30),
    ));
    let v = eval_with(&rule, &done, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["`subject-campaign`", "was answered"]);
}

#[test]
fn answered_true_needs_a_completion() {
    let rule = trigger("{history: {answered: true}}");
    let v = eval_with(&rule, &NO_HISTORY, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["was never answered"]);
    let skipped = history(vec![prompt(ME, 1, PromptStatus::Skipped, NOW)]);
    assert!(!eval_with(&rule, &skipped, NOW).fires);
    let done = history(vec![prompt(ME, 1, PromptStatus::Completed, NOW)]);
    let v = eval_with(&rule, &done, NOW);
    assert!(v.fires);
    assert_reason(&v, &["shown 1 time, answered"]);
}

#[test]
fn history_reads_only_its_own_campaign_by_default() {
    let rule = trigger("{history: {answered: false}}");
    let elsewhere = history(vec![prompt("other", 1, PromptStatus::Completed, NOW)]);
    assert!(eval_with(&rule, &elsewhere, NOW).fires);
    let shown = trigger("{history: {shown_at_most: 0}}");
    assert!(eval_with(&shown, &elsewhere, NOW).fires);
}

#[test]
fn version_filter_by_number() {
    let campaign = load_one(
        ME,
        "version: 2\ntrigger: {history: {version: 2, answered: false}}",
    );
    let rule = campaign.trigger.clone().expect("trigger");
    let old_answer = history(vec![prompt(ME, 1, PromptStatus::Completed, NOW)]);
    assert!(
        eval_with(&rule, &old_answer, NOW).fires,
        "v1 answers do not count"
    );
    let new_answer = history(vec![
        prompt(ME, 1, PromptStatus::Completed, NOW),
        prompt(ME, 2, PromptStatus::Completed, NOW),
    ]);
    let v = eval_with(&rule, &new_answer, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["`subject-campaign` v2", "was answered"]);
}

#[test]
fn version_current_means_the_campaigns_own_version() {
    let campaign = load_one(
        ME,
        "version: 3\ntrigger: {history: {version: current, answered: false}}",
    );
    let rule = campaign.trigger.clone().expect("trigger");
    match &rule {
        Rule::History(h) => {
            assert_eq!(h.version, Some(3));
            assert_eq!(h.campaign, ME);
        }
        other => panic!("expected a history rule, got {other:?}"),
    }
    let older = history(vec![
        prompt(ME, 1, PromptStatus::Completed, NOW),
        prompt(ME, 2, PromptStatus::Completed, NOW),
    ]);
    assert!(eval_with(&rule, &older, NOW).fires);
    let current = history(vec![prompt(ME, 3, PromptStatus::Completed, NOW)]);
    let v = eval_with(&rule, &current, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["v3"]);
}

#[test]
fn version_filter_applies_to_counts() {
    let campaign = load_one(
        ME,
        "version: 2\ntrigger: {history: {version: current, shown_at_most: 1}}",
    );
    let rule = campaign.trigger.clone().expect("trigger");
    let h = history(vec![
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(9)),
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(8)),
        prompt(ME, 2, PromptStatus::Skipped, NOW - Duration::days(1)),
    ]);
    assert!(eval_with(&rule, &h, NOW).fires, "only one v2 prompt");
    let mut more = h.clone();
    more.prompts.push(prompt(ME, 2, PromptStatus::Expired, NOW));
    let v = eval_with(&rule, &more, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["shown 2 times, more than 1"]);
}

#[test]
fn shown_at_least_and_at_most_count_every_showing() {
    let least = trigger("{history: {shown_at_least: 2}}");
    let most = trigger("{history: {shown_at_most: 2}}");
    let shown = |n: usize| {
        history(
            (0..n)
                .map(|i| {
                    let status = if i % 2 == 0 {
                        PromptStatus::Skipped
                    } else {
                        PromptStatus::Expired
                    };
                    prompt(ME, 1, status, NOW - Duration::days(i as i64 + 1))
                })
                .collect(),
        )
    };
    let v = eval_with(&least, &shown(0), NOW);
    assert!(!v.fires);
    assert_reason(&v, &["shown 0 times, fewer than 2"]);
    let v = eval_with(&least, &shown(1), NOW);
    assert!(!v.fires);
    assert_reason(&v, &["shown 1 time, fewer than 2"]);
    assert!(eval_with(&least, &shown(2), NOW).fires);
    assert!(eval_with(&least, &shown(5), NOW).fires);

    assert!(eval_with(&most, &shown(0), NOW).fires);
    assert!(eval_with(&most, &shown(2), NOW).fires);
    let v = eval_with(&most, &shown(3), NOW);
    assert!(!v.fires);
    assert_reason(&v, &["shown 3 times, more than 2"]);

    let between = trigger("{history: {shown_at_least: 1, shown_at_most: 2}}");
    let results: Vec<bool> = (0..4)
        .map(|n| eval_with(&between, &shown(n), NOW).fires)
        .collect();
    assert_eq!(results, [false, true, true, false]);
}

#[test]
fn last_shown_more_than() {
    let rule = trigger("{history: {last_shown_more_than: 7d}}");
    assert!(
        eval_with(&rule, &NO_HISTORY, NOW).fires,
        "never shown holds"
    );

    let shown = |ago: Duration| history(vec![prompt(ME, 1, PromptStatus::Skipped, NOW - ago)]);
    let v = eval_with(&rule, &shown(Duration::days(6)), NOW);
    assert!(!v.fires, "within the gap");
    assert_reason(&v, &["last shown 6d ago", "within"]);
    assert!(
        !eval_with(&rule, &shown(Duration::days(7)), NOW).fires,
        "exactly the gap is not more than it"
    );
    assert!(eval_with(&rule, &shown(Duration::days(7) + Duration::SECOND), NOW).fires);
    assert!(eval_with(&rule, &shown(Duration::days(60)), NOW).fires);

    // The latest showing counts, whatever the order of the history.
    let both = history(vec![
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(60)),
        prompt(ME, 1, PromptStatus::Completed, NOW - Duration::hours(2)),
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(30)),
    ]);
    let v = eval_with(&rule, &both, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["last shown 2h ago"]);

    // Another campaign's recent showing is irrelevant.
    let elsewhere = history(vec![prompt("other", 1, PromptStatus::Skipped, NOW)]);
    assert!(eval_with(&rule, &elsewhere, NOW).fires);
}

#[test]
fn last_dismissed_more_than() {
    let rule = trigger("{history: {last_dismissed_more_than: 3d}}");
    assert!(
        eval_with(&rule, &NO_HISTORY, NOW).fires,
        "never shown holds"
    );

    // Shown recently but never dismissed: completions, expiries and pending do not count.
    let not_dismissed = history(vec![
        prompt(ME, 1, PromptStatus::Completed, NOW - Duration::hours(1)),
        prompt(ME, 1, PromptStatus::Expired, NOW - Duration::hours(2)),
        prompt(ME, 1, PromptStatus::Pending, NOW - Duration::minutes(5)),
    ]);
    assert!(eval_with(&rule, &not_dismissed, NOW).fires);

    for status in [PromptStatus::Skipped, PromptStatus::Declined] {
        let recent = history(vec![prompt(ME, 1, status, NOW - Duration::days(1))]);
        let v = eval_with(&rule, &recent, NOW);
        assert!(!v.fires, "{status:?} a day ago");
        assert_reason(&v, &["last dismissed 1d ago", "within"]);
        let exactly = history(vec![prompt(ME, 1, status, NOW - Duration::days(3))]);
        assert!(
            !eval_with(&rule, &exactly, NOW).fires,
            "{status:?} exactly 3d ago"
        );
        let beyond = history(vec![prompt(
            ME,
            1,
            status,
            NOW - Duration::days(3) - Duration::SECOND,
        )]);
        assert!(eval_with(&rule, &beyond, NOW).fires, "{status:?} beyond 3d");
    }

    // The dismissal time is when it ended, not when it was shown.
    let mut late = prompt(ME, 1, PromptStatus::Declined, NOW - Duration::days(10));
    late.finished_at = Some(NOW - Duration::hours(5));
    let v = eval_with(&rule, &history(vec![late]), NOW);
    assert!(!v.fires);
    assert_reason(&v, &["last dismissed 5h ago"]);

    // The latest dismissal counts.
    let two = history(vec![
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::minutes(10)),
        prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(20)),
    ]);
    let v = eval_with(&rule, &two, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["last dismissed 10m ago"]);
}

#[test]
fn history_of_another_campaign() {
    let set = load(&[
        campaign_yaml("profile-name", ""),
        campaign_yaml(
            "profile-job",
            "trigger: {all: [{history: {campaign: profile-name, answered: true}}, {history: {answered: false}}]}",
        ),
    ]);
    let job = set.get("profile-job").expect("loaded");
    let rule = job.trigger.clone().expect("trigger");
    let v = eval_with(&rule, &NO_HISTORY, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["`profile-name`", "was never answered"]);

    let name_done = history(vec![prompt(
        "profile-name",
        1,
        PromptStatus::Completed,
        NOW - Duration::days(2),
    )]);
    assert!(eval_with(&rule, &name_done, NOW).fires);

    // Its own completion does not stand in for the other campaign's...
    let own_done = history(vec![prompt("profile-job", 1, PromptStatus::Completed, NOW)]);
    assert!(!eval_with(&rule, &own_done, NOW).fires);

    // ...and once both are answered the second condition fails.
    let mut both = name_done.clone();
    both.prompts
        .push(prompt("profile-job", 1, PromptStatus::Completed, NOW));
    let v = eval_with(&rule, &both, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["`profile-job`", "was answered"]);
}

#[test]
fn the_loader_refuses_history_of_an_unknown_campaign() {
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    std::fs::write(
        dir.path().join("a.yaml"),
        campaign_yaml("a", "trigger: {history: {campaign: nope, answered: true}}"),
    )
    .expect("write");
    let problems = load_dir(dir.path(), &LoadOptions::default()).expect_err("unknown campaign");
    assert!(
        problems.to_string().contains("no campaign `nope`"),
        "{problems}"
    );
}

#[test]
fn every_history_part_must_hold() {
    let rule =
        trigger("{history: {answered: false, shown_at_most: 3, last_dismissed_more_than: 1d}}");
    let ok = history(vec![prompt(
        ME,
        1,
        PromptStatus::Skipped,
        NOW - Duration::days(2),
    )]);
    assert!(eval_with(&rule, &ok, NOW).fires);
    let recent = history(vec![prompt(
        ME,
        1,
        PromptStatus::Skipped,
        NOW - Duration::hours(2),
    )]);
    let v = eval_with(&rule, &recent, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["last dismissed 2h ago"]);
    let many = history(
        (1..=4)
            .map(|d| prompt(ME, 1, PromptStatus::Skipped, NOW - Duration::days(d + 10)))
            .collect(),
    );
    let v = eval_with(&rule, &many, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["more than 3"]);
}

#[test]
fn history_deserializes_from_plain_json() {
    let h: History = serde_json::from_value(json!({
        "prompts": [{
            "campaign": ME,
            "version": 1,
            "status": "declined",
            "shown_at": "2026-03-10T12:00:00Z",
            "finished_at": "2026-03-14T12:00:00Z"
        }],
        "tos": [{"document": "terms", "version": "2"}]
    }))
    .expect("valid history");
    assert_eq!(h.prompts[0].status, PromptStatus::Declined);
    assert_eq!(
        h.prompts[0].finished_at,
        Some(datetime!(2026-03-14 12:00 UTC))
    );
    let rule = trigger("{history: {last_dismissed_more_than: 2d}}");
    assert!(
        !eval_with(&rule, &h, NOW).fires,
        "dismissed one day before NOW"
    );
    assert!(eval_with(&rule, &h, datetime!(2026-03-16 12:00:01 UTC)).fires);
}

// ---------------------------------------------------------------------------------------------
// ToS
// ---------------------------------------------------------------------------------------------

#[test]
fn tos_accepted_a_specific_version() {
    let rule = trigger("{tos_accepted: {document: terms, version: \"2\"}}");
    let v = eval_with(&rule, &NO_HISTORY, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["has not accepted terms 2"]);
    assert!(!eval_with(&rule, &tos(&[("terms", "1")]), NOW).fires);
    assert!(
        !eval_with(&rule, &tos(&[("privacy", "2")]), NOW).fires,
        "other document"
    );
    let v = eval_with(&rule, &tos(&[("terms", "1"), ("terms", "2")]), NOW);
    assert!(v.fires);
    assert_reason(&v, &["accepted terms 2"]);
    // The usual re-prompt trigger: not yet accepted the new version.
    let reprompt = trigger("{not: {tos_accepted: {version: \"2\"}}}");
    assert!(eval_with(&reprompt, &tos(&[("terms", "1")]), NOW).fires);
    assert!(!eval_with(&reprompt, &tos(&[("terms", "2")]), NOW).fires);
}

#[test]
fn tos_accepted_any_version() {
    let rule = trigger("{tos_accepted: {document: privacy, version: any}}");
    match &rule {
        Rule::TosAccepted { document, version } => {
            assert_eq!(document, "privacy");
            assert_eq!(version, &None);
        }
        other => panic!("expected a ToS rule, got {other:?}"),
    }
    let v = eval_with(&rule, &NO_HISTORY, NOW);
    assert!(!v.fires);
    assert_reason(&v, &["has not accepted privacy any version"]);
    assert!(!eval_with(&rule, &tos(&[("terms", "7")]), NOW).fires);
    let v = eval_with(&rule, &tos(&[("privacy", "2019-01")]), NOW);
    assert!(v.fires);
    assert_reason(&v, &["accepted privacy any version"]);
}

#[test]
fn tos_document_defaults_to_terms() {
    let rule = trigger("{tos_accepted: {version: \"3\"}}");
    assert!(eval_with(&rule, &tos(&[("terms", "3")]), NOW).fires);
    assert!(!eval_with(&rule, &tos(&[("other", "3")]), NOW).fires);
}

// ---------------------------------------------------------------------------------------------
// all / any / not
// ---------------------------------------------------------------------------------------------

#[test]
fn all_fails_on_the_first_failing_condition_and_names_it() {
    let rule = trigger(
        "{all: [{claim: plan, eq: pro}, {claim: logins_count, gte: 5}, {claim: country, eq: DE}]}",
    );
    let v = check(
        &rule,
        &json!({"plan": "pro", "logins_count": 2, "country": "FR"}),
    );
    assert!(!v.fires);
    assert_reason(&v, &["`logins_count`", "gte 5", "failed", "(value 2)"]);
    assert!(!v.reason.contains("country"), "{}", v.reason);
    let v = check(
        &rule,
        &json!({"plan": "pro", "logins_count": 9, "country": "FR"}),
    );
    assert!(!v.fires);
    assert_reason(&v, &["`country`"]);
    let v = check(
        &rule,
        &json!({"plan": "pro", "logins_count": 9, "country": "DE"}),
    );
    assert!(v.fires);
    assert_eq!(v.reason, "all 3 conditions held");
}

#[test]
fn any_holds_on_the_first_holding_condition_and_names_it() {
    let rule = trigger(
        "{any: [{claim: plan, eq: pro}, {claim: role, eq: admin}, {claim: vip, eq: true}]}",
    );
    let v = check(
        &rule,
        &json!({"plan": "free", "role": "admin", "vip": true}),
    );
    assert!(v.fires);
    assert_reason(&v, &["`role`", "eq \"admin\" held"]);
    let v = check(
        &rule,
        &json!({"plan": "free", "role": "user", "vip": false}),
    );
    assert!(!v.fires);
    assert_reason(
        &v,
        &[
            "none of 3 conditions held",
            "first: claim `plan` eq \"pro\" failed",
        ],
    );
}

#[test]
fn not_inverts_and_wraps_the_reason() {
    let rule = trigger("{not: {claim: user_metadata.job_title, exists: true}}");
    let v = check(&rule, &json!({"user_metadata": {}}));
    assert!(v.fires);
    assert!(v.reason.starts_with("not ("), "{}", v.reason);
    assert_reason(&v, &["`user_metadata.job_title`", "missing"]);
    let v = check(&rule, &json!({"user_metadata": {"job_title": "CTO"}}));
    assert!(!v.fires);
    assert_reason(
        &v,
        &["not (claim `user_metadata.job_title` exists true held"],
    );

    let double = trigger("{not: {not: {claim: a, eq: 1}}}");
    assert!(check(&double, &json!({"a": 1})).fires);
    assert!(!check(&double, &json!({"a": 2})).fires);
    assert_reason(&check(&double, &json!({"a": 2})), &["not (not (claim `a`"]);
}

#[test]
fn deep_nesting_evaluates_correctly_and_reports_the_innermost_decider() {
    // fires = plan == pro AND NOT (country in [XX, YY] OR (NOT beta AND logins < 3))
    let yaml = "{all: [
        {claim: plan, eq: pro},
        {not: {any: [
            {claim: country, in: [XX, YY]},
            {all: [
                {not: {claim: beta, eq: true}},
                {any: [{claim: logins_count, lt: 3}, {claim: deep.a.b.c, eq: 42}]}
            ]}
        ]}}
    ]}";
    let rule = trigger(yaml);
    let eval = |plan: &str, country: &str, beta: bool, logins: u32, deep: u32| {
        check(
            &rule,
            &json!({
                "plan": plan, "country": country, "beta": beta,
                "logins_count": logins, "deep": {"a": {"b": {"c": deep}}}
            }),
        )
    };
    let expected = |plan: &str, country: &str, beta: bool, logins: u32, deep: u32| {
        plan == "pro"
            && !(country == "XX" || country == "YY" || (!beta && (logins < 3 || deep == 42)))
    };
    for plan in ["pro", "free"] {
        for country in ["DE", "XX", "YY"] {
            for beta in [true, false] {
                for logins in [1, 3, 10] {
                    for deep in [0, 42] {
                        assert_eq!(
                            eval(plan, country, beta, logins, deep).fires,
                            expected(plan, country, beta, logins, deep),
                            "{plan} {country} {beta} {logins} {deep}"
                        );
                    }
                }
            }
        }
    }
    // A held `all` is reported as such, without naming its parts.
    let v = eval("pro", "DE", false, 10, 42);
    assert!(!v.fires);
    assert_eq!(v.reason, "not (all 2 conditions held)");
    let v = eval("pro", "XX", true, 10, 0);
    assert!(!v.fires);
    assert_reason(&v, &["not (claim `country` in"]);
    let v = eval("free", "XX", false, 1, 42);
    assert!(!v.fires);
    assert_reason(&v, &["claim `plan` eq \"pro\" failed"]);
    let v = eval("pro", "DE", false, 5, 0);
    assert!(v.fires);
    assert_eq!(v.reason, "all 2 conditions held");
}

#[test]
fn a_failure_deep_down_is_named_at_the_top() {
    let rule =
        trigger("{all: [{any: [{all: [{not: {not: {any: [{claim: deep.a.b.c, eq: 42}]}}}]}]}]}");
    let v = check(&rule, &json!({"deep": {"a": {"b": {"c": 7}}}}));
    assert!(!v.fires);
    assert_reason(
        &v,
        &[
            "none of 1 conditions held (first: not (not (none of 1 conditions held",
            "claim `deep.a.b.c` eq 42 failed (value 7)",
        ],
    );
    let v = check(&rule, &json!({"deep": {"a": {"b": {"c": 42}}}}));
    assert!(v.fires);
    assert_eq!(v.reason, "all 1 conditions held");
    let missing = check(&rule, &json!({"deep": {"a": {}}}));
    assert!(!missing.fires);
    assert_reason(&missing, &["claim `deep.a.b.c` is missing"]);
}

#[test]
fn combinators_mix_claims_history_tos_and_rollout() {
    let rule = trigger(
        "{all: [{claim: logins_count, gte: 2}, {history: {answered: false}}, {not: {tos_accepted: {version: \"9\"}}}, {rollout: 100}]}",
    );
    let claims = json!({"logins_count": 2});
    let fresh = History::default();
    assert!(evaluate(&rule, &ctx(&claims, &fresh)).fires);
    let answered = history(vec![prompt(ME, 1, PromptStatus::Completed, NOW)]);
    let v = evaluate(&rule, &ctx(&claims, &answered));
    assert!(!v.fires);
    assert_reason(&v, &["history", "was answered"]);
    let accepted = tos(&[("terms", "9")]);
    let v = evaluate(&rule, &ctx(&claims, &accepted));
    assert!(!v.fires);
    assert_reason(&v, &["not (accepted terms 9)"]);
}

#[test]
fn directly_built_empty_combinators() {
    let claims = json!({});
    assert!(
        check(&Rule::All(Vec::new()), &claims).fires,
        "vacuous truth"
    );
    let v = check(&Rule::Any(Vec::new()), &claims);
    assert!(!v.fires);
    assert_reason(&v, &["none of 0 conditions held"]);
}

// ---------------------------------------------------------------------------------------------
// Campaigns: enabled, schedule, no trigger
// ---------------------------------------------------------------------------------------------

#[test]
fn schedule_from_is_inclusive_and_until_exclusive() {
    let c = load_one(
        "spring",
        "schedule: {from: \"2026-03-01T09:00:00Z\", until: \"2026-03-31T00:00:00Z\"}",
    );
    let v = at(&c, datetime!(2026-03-01 08:59:59 UTC));
    assert!(!v.fires, "one second before from");
    assert_reason(&v, &["the schedule starts at 2026-03-01T09:00:00Z"]);
    assert!(
        at(&c, datetime!(2026-03-01 09:00 UTC)).fires,
        "exactly at from"
    );
    assert!(at(&c, datetime!(2026-03-15 12:00 UTC)).fires);
    assert!(
        at(&c, datetime!(2026-03-30 23:59:59 UTC)).fires,
        "one second before until"
    );
    let v = at(&c, datetime!(2026-03-31 00:00 UTC));
    assert!(!v.fires, "exactly at until");
    assert_reason(&v, &["the schedule ended at 2026-03-31T00:00:00Z"]);
    assert!(!at(&c, datetime!(2027-01-01 00:00 UTC)).fires);
}

#[test]
fn schedule_respects_offsets_and_plain_dates() {
    // 09:00 at +01:00 is 08:00 UTC.
    let c = load_one("berlin", "schedule: {from: \"2026-03-01T09:00:00+01:00\"}");
    assert!(!at(&c, datetime!(2026-03-01 07:59:59 UTC)).fires);
    assert!(at(&c, datetime!(2026-03-01 08:00 UTC)).fires);
    assert!(
        at(&c, datetime!(2026-03-01 09:00 +01:00)).fires,
        "same instant, other offset"
    );
    assert!(at(&c, datetime!(2030-01-01 00:00 UTC)).fires, "no end");

    // A plain date is midnight UTC.
    let d = load_one("dates", "schedule: {from: 2026-03-01, until: 2026-04-01}");
    assert!(!at(&d, datetime!(2026-02-28 23:59:59 UTC)).fires);
    assert!(at(&d, datetime!(2026-03-01 00:00 UTC)).fires);
    assert!(at(&d, datetime!(2026-03-31 23:59:59 UTC)).fires);
    assert!(!at(&d, datetime!(2026-04-01 00:00 UTC)).fires);

    let only_until = load_one("until", "schedule: {until: \"2026-03-01T00:00:00Z\"}");
    assert!(at(&only_until, datetime!(1999-01-01 00:00 UTC)).fires);
    assert!(!at(&only_until, datetime!(2026-03-01 00:00 UTC)).fires);
}

#[test]
fn schedule_applies_before_the_trigger() {
    let c = load_one(
        "gated",
        "schedule: {from: \"2026-03-01T00:00:00Z\"}\ntrigger: {claim: plan, eq: pro}",
    );
    let claims = json!({"plan": "pro"});
    let before = Context {
        claims: &claims,
        subject: ALICE,
        history: &NO_HISTORY,
        now: datetime!(2026-02-01 00:00 UTC),
    };
    let v = evaluate_campaign(&c, &before);
    assert!(!v.fires);
    assert_reason(&v, &["schedule starts"]);
    let v = evaluate_campaign(&c, &ctx(&claims, &NO_HISTORY));
    assert!(v.fires);
    assert_reason(&v, &["`plan`"]);
    let v = evaluate_campaign(&c, &ctx(&json!({"plan": "free"}), &NO_HISTORY));
    assert!(!v.fires);
    assert_reason(&v, &["`plan`", "failed"]);
}

#[test]
fn a_disabled_campaign_never_fires() {
    let c = load_one(
        "off",
        "enabled: false\nschedule: {from: \"2026-01-01T00:00:00Z\"}\ntrigger: {claim: plan, eq: pro}",
    );
    assert!(!c.enabled);
    for now in [
        datetime!(2025-01-01 00:00 UTC),
        datetime!(2026-01-01 00:00 UTC),
        NOW,
    ] {
        let claims = json!({"plan": "pro"});
        let v = evaluate_campaign(
            &c,
            &Context {
                claims: &claims,
                subject: ALICE,
                history: &NO_HISTORY,
                now,
            },
        );
        assert!(!v.fires, "at {now}");
        assert_eq!(v.reason, "the campaign is disabled");
    }
    let no_trigger = load_one("off2", "enabled: false");
    assert!(!at(&no_trigger, NOW).fires);
}

#[test]
fn a_campaign_without_a_trigger_fires() {
    let c = load_one("always", "");
    assert!(c.enabled);
    assert!(c.trigger.is_none());
    for claims in [json!({}), json!({"anything": 1})] {
        let v = evaluate_campaign(&c, &ctx(&claims, &NO_HISTORY));
        assert!(v.fires);
        assert_reason(&v, &["no trigger"]);
    }
    let answered = history(vec![prompt("always", 1, PromptStatus::Completed, NOW)]);
    assert!(
        evaluate_campaign(&c, &ctx(&json!({}), &answered)).fires,
        "no trigger means no history test either"
    );
}

// ---------------------------------------------------------------------------------------------
// Rollout
// ---------------------------------------------------------------------------------------------

fn rollout(basis_points: u32, salt: &str) -> Rule {
    Rule::Rollout {
        basis_points,
        salt: salt.to_owned(),
    }
}

fn included(rule: &Rule, subject: &str) -> bool {
    evaluate(
        rule,
        &Context {
            claims: &Value::Null,
            subject,
            history: &NO_HISTORY,
            now: NOW,
        },
    )
    .fires
}

fn subjects() -> impl Iterator<Item = String> {
    (0..10_000).map(|i| format!("auth0|user-{i}"))
}

#[test]
fn the_loader_compiles_rollout_to_basis_points_salted_with_the_id() {
    match trigger("{rollout: 25}") {
        Rule::Rollout { basis_points, salt } => {
            assert_eq!(basis_points, 2_500);
            assert_eq!(salt, ME);
        }
        other => panic!("expected a rollout, got {other:?}"),
    }
    match trigger("{rollout: 12.5}") {
        Rule::Rollout { basis_points, .. } => assert_eq!(basis_points, 1_250),
        other => panic!("expected a rollout, got {other:?}"),
    }
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    std::fs::write(
        dir.path().join("a.yaml"),
        campaign_yaml("a", "trigger: {rollout: 101}"),
    )
    .expect("write");
    assert!(load_dir(dir.path(), &LoadOptions::default()).is_err());
}

#[test]
fn the_same_subject_always_gets_the_same_answer() {
    let rule = trigger("{rollout: 50}");
    for subject in subjects().take(200) {
        let first = included(&rule, &subject);
        let bucket = rollout_bucket(&subject, ME);
        for _ in 0..3 {
            assert_eq!(included(&rule, &subject), first, "{subject}");
            assert_eq!(rollout_bucket(&subject, ME), bucket);
        }
        // Neither the time, the claims nor the history change the answer.
        let claims = json!({"plan": "pro"});
        let h = history(vec![prompt(ME, 1, PromptStatus::Completed, NOW)]);
        let other = Context {
            claims: &claims,
            subject: &subject,
            history: &h,
            now: datetime!(2030-12-31 23:59:59 UTC),
        };
        assert_eq!(evaluate(&rule, &other).fires, first, "{subject}");
        // A recompiled campaign with the same id agrees.
        assert_eq!(included(&trigger("{rollout: 50}"), &subject), first);
    }
}

#[test]
fn rollout_bucket_is_pinned() {
    // SHA-256 of salt, a zero byte and the subject; first 8 bytes big-endian, mod 10,000.
    // Changing the hash would silently reshuffle every running rollout.
    let buckets: Vec<u32> = ["auth0|user-0", "auth0|user-1", "auth0|user-2"]
        .iter()
        .map(|s| rollout_bucket(s, "campaign-a"))
        .collect();
    assert_eq!(buckets, [9_741, 6_696, 6_187]);
    // Salt and subject are separated: ("ab", "c") and ("a", "bc") differ.
    assert_ne!(rollout_bucket("c", "ab"), rollout_bucket("bc", "a"));
    assert!(subjects().all(|s| rollout_bucket(&s, "range") < 10_000));
}

#[test]
fn rollout_includes_a_bucket_strictly_below_the_share() {
    for subject in subjects().take(50) {
        let bucket = rollout_bucket(&subject, "edge");
        assert!(
            !included(&rollout(bucket, "edge"), &subject),
            "{subject}: bucket == share"
        );
        assert!(
            included(&rollout(bucket + 1, "edge"), &subject),
            "{subject}: bucket < share"
        );
    }
    let v = evaluate(&rollout(2_500, "edge"), &ctx(&Value::Null, &NO_HISTORY));
    assert_reason(&v, &["rollout 25%", "user's bucket is"]);
    let v = evaluate(&rollout(1_250, "edge"), &ctx(&Value::Null, &NO_HISTORY));
    assert_reason(&v, &["rollout 12.5%"]);
}

#[test]
fn a_quarter_rollout_includes_about_a_quarter() {
    let rule = rollout(2_500, "spring-survey");
    let count = subjects().filter(|s| included(&rule, s)).count();
    assert!(
        (2_300..=2_700).contains(&count),
        "25 % rollout included {count} of 10,000"
    );
    // Compiled from YAML: the same kind of share.
    let compiled = trigger("{rollout: 25}");
    let count = subjects().filter(|s| included(&compiled, s)).count();
    assert!((2_300..=2_700).contains(&count), "{count}");
}

#[test]
fn rollout_spreads_evenly_over_buckets() {
    // Every tenth of the range gets roughly a tenth of the users.
    let mut deciles = [0u32; 10];
    for s in subjects() {
        deciles[(rollout_bucket(&s, "spread") / 1_000) as usize] += 1;
    }
    for (i, n) in deciles.iter().enumerate() {
        assert!((850..=1_150).contains(n), "decile {i} has {n}");
    }
}

#[test]
fn zero_and_full_rollouts() {
    let none = trigger("{rollout: 0}");
    let all = trigger("{rollout: 100}");
    assert_eq!(subjects().filter(|s| included(&none, s)).count(), 0);
    assert_eq!(subjects().filter(|s| included(&all, s)).count(), 10_000);
}

#[test]
fn different_campaigns_pick_different_users() {
    let set = load(&[
        campaign_yaml("campaign-a", "trigger: {rollout: 25}"),
        campaign_yaml("campaign-b", "trigger: {rollout: 25}"),
    ]);
    let pick = |id: &str| -> HashSet<String> {
        let rule = set
            .get(id)
            .and_then(|c| c.trigger.clone())
            .expect("trigger");
        subjects().filter(|s| included(&rule, s)).collect()
    };
    let a = pick("campaign-a");
    let b = pick("campaign-b");
    assert_ne!(a, b);
    // Independent 25 % picks overlap in about 6.25 % of users, not 25 %.
    let both = a.intersection(&b).count();
    assert!((400..=900).contains(&both), "overlap {both}");
}

// ---------------------------------------------------------------------------------------------
// choose
// ---------------------------------------------------------------------------------------------

fn ids(set: &CampaignSet) -> Vec<String> {
    set.iter().map(|c| c.id.clone()).collect()
}

#[test]
fn campaigns_are_ordered_by_priority_then_id() {
    let set = load(&[
        campaign_yaml("low", "priority: -5"),
        campaign_yaml("zeta", "priority: 50"),
        campaign_yaml("alpha", "priority: 50"),
        campaign_yaml("default", ""),
        campaign_yaml("top", "priority: 1000"),
    ]);
    assert_eq!(ids(&set), ["top", "alpha", "zeta", "default", "low"]);
    let choice = choose(set.iter(), &ctx(&json!({}), &NO_HISTORY), false);
    assert_eq!(choice.chosen.map(|c| c.id.clone()).as_deref(), Some("top"));
    assert_eq!(choice.verdicts.len(), 1, "stops at the winner");
}

#[test]
fn the_first_campaign_that_fires_wins() {
    let set = load(&[
        campaign_yaml("pro-only", "priority: 100\ntrigger: {claim: plan, eq: pro}"),
        campaign_yaml(
            "b-second",
            "priority: 50\ntrigger: {claim: logins_count, gte: 2}",
        ),
        campaign_yaml(
            "a-second",
            "priority: 50\ntrigger: {claim: logins_count, gte: 5}",
        ),
        campaign_yaml("fallback", "priority: 0"),
    ]);
    assert_eq!(ids(&set), ["pro-only", "a-second", "b-second", "fallback"]);

    let pick = |claims: Value| {
        let choice = choose(set.iter(), &ctx(&claims, &NO_HISTORY), false);
        let ids: Vec<String> = choice.verdicts.iter().map(|(id, _)| id.clone()).collect();
        (choice.chosen.map(|c| c.id.clone()), ids, choice.verdicts)
    };

    let (chosen, evaluated, _) = pick(json!({"plan": "pro", "logins_count": 10}));
    assert_eq!(chosen.as_deref(), Some("pro-only"));
    assert_eq!(evaluated, ["pro-only"]);

    let (chosen, evaluated, verdicts) = pick(json!({"plan": "free", "logins_count": 10}));
    assert_eq!(chosen.as_deref(), Some("a-second"), "tie broken by id");
    assert_eq!(evaluated, ["pro-only", "a-second"]);
    assert!(!verdicts[0].1.fires);
    assert_reason(&verdicts[0].1, &["`plan`", "failed"]);
    assert!(verdicts[1].1.fires);

    let (chosen, evaluated, _) = pick(json!({"plan": "free", "logins_count": 3}));
    assert_eq!(chosen.as_deref(), Some("b-second"));
    assert_eq!(evaluated, ["pro-only", "a-second", "b-second"]);

    let (chosen, evaluated, _) = pick(json!({}));
    assert_eq!(chosen.as_deref(), Some("fallback"));
    assert_eq!(evaluated.len(), 4);
}

#[test]
fn nothing_chosen_when_nothing_fires() {
    let set = load(&[
        campaign_yaml("a", "trigger: {claim: plan, eq: pro}"),
        campaign_yaml("b", "enabled: false"),
        campaign_yaml("c", "schedule: {until: \"2020-01-01T00:00:00Z\"}"),
    ]);
    let choice = choose(set.iter(), &ctx(&json!({}), &NO_HISTORY), false);
    assert!(choice.chosen.is_none());
    let got: Vec<(&str, bool)> = choice
        .verdicts
        .iter()
        .map(|(id, v)| (id.as_str(), v.fires))
        .collect();
    assert_eq!(got, [("a", false), ("b", false), ("c", false)]);
    assert_reason(&choice.verdicts[1].1, &["disabled"]);
    assert_reason(&choice.verdicts[2].1, &["schedule ended"]);

    let empty = choose(std::iter::empty(), &ctx(&json!({}), &NO_HISTORY), true);
    assert!(empty.chosen.is_none());
    assert!(empty.verdicts.is_empty());
}

#[test]
fn explain_all_collects_every_verdict_and_keeps_the_first_winner() {
    let set = load(&[
        campaign_yaml("first", "priority: 30\ntrigger: {claim: plan, eq: pro}"),
        campaign_yaml("second", "priority: 20"),
        campaign_yaml("third", "priority: 10\ntrigger: {claim: plan, eq: free}"),
        campaign_yaml("fourth", "priority: 5\nenabled: false"),
    ]);
    let claims = json!({"plan": "free"});
    let choice = choose(set.iter(), &ctx(&claims, &NO_HISTORY), true);
    assert_eq!(
        choice.chosen.map(|c| c.id.clone()).as_deref(),
        Some("second")
    );
    let got: Vec<(&str, bool)> = choice
        .verdicts
        .iter()
        .map(|(id, v)| (id.as_str(), v.fires))
        .collect();
    assert_eq!(
        got,
        [
            ("first", false),
            ("second", true),
            ("third", true),
            ("fourth", false)
        ]
    );
    assert_reason(&choice.verdicts[0].1, &["`plan`", "failed"]);
    assert_reason(&choice.verdicts[1].1, &["no trigger"]);
    assert_reason(&choice.verdicts[2].1, &["`plan`", "held"]);
    assert_eq!(choice.verdicts[3].1.reason, "the campaign is disabled");

    // Each verdict equals what evaluating that campaign alone gives.
    for (id, v) in &choice.verdicts {
        let c = set.get(id).expect("known id");
        assert_eq!(&evaluate_campaign(c, &ctx(&claims, &NO_HISTORY)), v, "{id}");
    }

    // Without explain_all the same winner, fewer verdicts.
    let quick = choose(set.iter(), &ctx(&claims, &NO_HISTORY), false);
    assert_eq!(
        quick.chosen.map(|c| c.id.clone()).as_deref(),
        Some("second")
    );
    assert_eq!(quick.verdicts.len(), 2);

    // The request path picks the same winner without the explanations.
    assert_eq!(
        first_firing(set.iter(), &ctx(&claims, &NO_HISTORY))
            .map(|c| c.id.clone())
            .as_deref(),
        Some("second")
    );
}

#[test]
fn choose_uses_history_to_move_on_to_the_next_campaign() {
    // Progressive profiling: once step one is answered, step two comes up.
    let set = load(&[
        campaign_yaml(
            "step-one",
            "priority: 20\ntrigger: {history: {answered: false}}",
        ),
        campaign_yaml(
            "step-two",
            "priority: 10\ntrigger: {all: [{history: {campaign: step-one, answered: true}}, {history: {answered: false}}]}",
        ),
    ]);
    let claims = json!({});
    let chosen = |h: &History| {
        let picked = choose(set.iter(), &ctx(&claims, h), false)
            .chosen
            .map(|c| c.id.clone());
        let fast = first_firing(set.iter(), &ctx(&claims, h)).map(|c| c.id.clone());
        assert_eq!(picked, fast, "choose() and first_firing() disagree");
        picked
    };
    assert_eq!(chosen(&NO_HISTORY).as_deref(), Some("step-one"));
    let one = history(vec![prompt("step-one", 1, PromptStatus::Completed, NOW)]);
    assert_eq!(chosen(&one).as_deref(), Some("step-two"));
    let mut both = one.clone();
    both.prompts
        .push(prompt("step-two", 1, PromptStatus::Completed, NOW));
    assert_eq!(chosen(&both), None);
}
