//! The benchmark binary's smoke run (`bench --quick`): it starts both servers, drives every
//! workload, and writes a JSON report whose cells all succeeded and carry their figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn the_quick_bench_run_measures_every_workload_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let run = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--quick")
        .arg("--settle")
        .arg("0")
        .arg("--out")
        .arg(&out)
        .arg("--themes")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/themes"))
        .env_remove("BENCH_PERF")
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("Targets"), "{stdout}");

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let cells = results["cells"].as_array().expect("cells");
    for workload in ["bare", "prompt", "post", "trip"] {
        assert!(
            cells.iter().any(|c| c["workload"] == workload),
            "no {workload} cell"
        );
    }
    for c in cells {
        assert_eq!(c["errors"], 0, "{c}");
        assert!(c["ops"].as_u64().unwrap() > 0, "{c}");
        assert!(
            c["p99_ms"].as_f64().unwrap() >= c["p50_ms"].as_f64().unwrap(),
            "{c}"
        );
        let server = c["server_cpu_us_per_op"].as_f64().expect("server CPU");
        let generator = c["generator_cpu_us_per_op"]
            .as_f64()
            .expect("generator CPU");
        let normalized = c["cpu_vs_generator"].as_f64().expect("the normalized CPU");
        assert!(
            (normalized - server / generator).abs() < 1e-9 * normalized.max(1.0),
            "{c}"
        );
        if c["workload"] != "bare" {
            assert!(c["vs_bare"]["ops_per_sec"].as_f64().unwrap() > 0.0, "{c}");
        }
    }
}
