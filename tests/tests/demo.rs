//! `joust demo --json` as a user runs it: the built binary starts its own
//! embedded platform and tells the whole story; every step's visible result
//! is checked (`joust demo` against a running `joust up` is in up.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

/// Runs `joust demo ARGS…` and returns its JSON steps (one per line).
pub fn demo(args: &[&str]) -> Vec<Value> {
    let bin = joust_tests::joust_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p joust` (scripts/test does)",
        bin.display()
    );
    let out = Command::new(bin)
        .args(["demo", "--json-lines", "--traffic-secs", "2"])
        .args(args)
        .env("JOUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "joust demo failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {steps:?}"))
}

#[test]
fn demo_tells_the_whole_story() {
    let steps = demo(&["--ui-listen", "127.0.0.1:0", "--model", "demo_m"]);
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "platform",
            "ingest",
            "train_champion",
            "train_challenger",
            "evaluate",
            "evaluate",
            "promote",
            "trial_start",
            "traffic",
            "report",
            "swap",
            "rollback",
            "done"
        ]
    );
    assert_eq!(step(&steps, "platform")["embedded"], true);
    assert!(step(&steps, "ingest")["dataset"]["rows"].as_u64().unwrap() > 0);

    let champion = &step(&steps, "train_champion")["train"];
    let challenger = &step(&steps, "train_challenger")["train"];
    assert_eq!(champion["params"]["n_trees"], "100", "{champion}");
    assert_eq!(challenger["params"]["n_trees"], "200", "{challenger}");
    let v1 = champion["version"].as_u64().unwrap();
    let v2 = challenger["version"].as_u64().unwrap();
    assert_ne!(v1, v2);

    for e in steps.iter().filter(|s| s["step"] == "evaluate") {
        assert_eq!(e["evaluate"]["passed"], true, "{e}");
        assert_eq!(e["evaluate"]["status"], "evaluated", "{e}");
    }
    assert_eq!(step(&steps, "promote")["champion"].as_u64(), Some(v1));
    let trial = step(&steps, "trial_start");
    assert_eq!(trial["mode"], "shadow");
    assert_eq!(trial["challenger"].as_u64(), Some(v2));

    let traffic = step(&steps, "traffic");
    assert!(traffic["requests"].as_u64().unwrap() > 0, "{traffic}");
    assert_eq!(traffic["failed"].as_u64(), Some(0), "{traffic}");
    // Shadow mode: only the champion answers.
    let answered: Vec<&String> = traffic["versions"].as_object().unwrap().keys().collect();
    assert_eq!(answered, [&v1.to_string()], "{traffic}");

    let report = &step(&steps, "report")["report"];
    assert!(report["records"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["champion"]["version"].as_u64(), Some(v1), "{report}");
    assert_eq!(
        report["challenger"]["version"].as_u64(),
        Some(v2),
        "{report}"
    );
    assert!(
        report["champion"]["requests"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(
        report["challenger"]["requests"].as_u64().unwrap() > 0,
        "{report}"
    );

    let swap = step(&steps, "swap");
    assert_eq!(swap["outcome"], "promote");
    assert_eq!(swap["failed"].as_u64(), Some(0), "{swap}");
    assert!(swap["requests"].as_u64().unwrap() > 0, "{swap}");
    assert!(
        swap["before"][v1.to_string()].as_u64().unwrap() > 0,
        "{swap}"
    );
    assert!(
        swap["after"][v2.to_string()].as_u64().unwrap() > 0,
        "{swap}"
    );
    assert_eq!(swap["champion"].as_u64(), Some(v2));

    let rollback = step(&steps, "rollback");
    assert_eq!(rollback["retired"].as_u64(), Some(v2), "{rollback}");
    assert_eq!(rollback["champion"].as_u64(), Some(v1), "{rollback}");
    assert_eq!(rollback["router_answers"].as_u64(), Some(v1), "{rollback}");

    // The embedded platform had a dashboard, but stops with the demo (no
    // --keep): no link to a page about to go away.
    let platform = step(&steps, "platform");
    assert!(
        platform["dashboard"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{platform}"
    );
    let done = step(&steps, "done");
    assert!(done["dashboard"].is_null(), "{done}");
}
