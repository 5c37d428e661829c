//! `joust up` as a process: the built binary on free ports in a data
//! folder, with the addresses it prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `joust up` process; killed on drop if still running.
#[derive(Debug)]
pub struct UpProcess {
    pub child: Child,
    pub registry: String,
    pub node: String,
    pub router: String,
    pub dashboard: String,
    pub detect: String,
}

impl UpProcess {
    pub fn start(data_dir: &Path) -> Self {
        let bin = crate::joust_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(bin)
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--registry-listen", "127.0.0.1:0"])
            .args(["--node-listen", "127.0.0.1:0"])
            .args(["--node-metrics-listen", "off"])
            .args(["--node-http-listen", "off"])
            .args(["--router-listen", "127.0.0.1:0"])
            .args(["--router-metrics-listen", "off"])
            .args(["--router-http-listen", "off"])
            .args(["--ui-listen", "127.0.0.1:0"])
            .args(["--detect-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // `joust up` prints one line per address, then `ready`.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut registry, mut node, mut router, mut dashboard, mut detect) =
            (None, None, None, None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            let url = |prefix: &str| {
                line.strip_prefix(prefix)
                    .map(|rest| rest.split(' ').next().unwrap().to_owned())
            };
            registry = registry.or_else(|| url("joust up: registry "));
            node = node.or_else(|| url("joust up: node "));
            router = router.or_else(|| url("joust up: router "));
            dashboard = dashboard.or_else(|| url("joust up: dashboard "));
            detect = detect.or_else(|| url("joust up: detection "));
            if line.starts_with("joust up: ready") {
                break;
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            registry: registry.expect("registry address printed"),
            node: node.expect("node address printed"),
            router: router.expect("router address printed"),
            dashboard: dashboard.expect("dashboard address printed"),
            detect: detect.expect("detection address printed"),
        }
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
