//! The serving view (issue 19 item 7) in the production topology: a
//! registry on PostgreSQL, two nodes, two routers as processes, and a
//! second `joust registry` process on the same database serving the
//! dashboard with `--ui-routers` pointing at both routers and at one
//! address nobody listens on. `/api/serving`, `/serving` and `joust status
//! --json` show the same thing: per model the champion, what each router
//! answers with, which node holds which version in which phase — and a
//! corrupt champion as refused on every node with the reason, blocked,
//! while the routers keep answering with the previous one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use joust_client::pb;
use joust_tests::topology::{MODEL, Role, Topology};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// An address that refuses connections (bound, then closed).
fn dead_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr.to_string()
}

/// The dashboard URL a registry process logged (`dashboard listening
/// ui_addr=ADDR`; a log file gets no colour codes).
async fn dashboard_url(role: &Role) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(&role.log).unwrap_or_default();
        if let Some(addr) = log
            .lines()
            .filter(|l| l.contains("dashboard listening"))
            .find_map(|l| l.split("ui_addr=").nth(1))
        {
            let addr = addr.split_whitespace().next().unwrap_or_default();
            return format!("http://{addr}");
        }
        assert!(Instant::now() < deadline, "no dashboard line in {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn serving(base: &str) -> Value {
    let (status, body) = get(&format!("{base}/api/serving")).await;
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == MODEL)
        .cloned()
        .unwrap_or_else(|| panic!("no model {MODEL} in {all}"))
}

/// Polls `/api/serving` until `ok` holds for the model's view.
async fn serving_until(base: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = serving(base).await;
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each reachable router's node entries: (node, version, phase).
fn node_phases(router: &Value) -> Vec<(String, u64, String)> {
    let mut out: Vec<_> = router["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_owned(),
                n["version"].as_u64().unwrap(),
                n["phase"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_serving_page_shows_routers_nodes_and_a_blocked_rollout() {
    let t = Topology::start().await.unwrap();
    let dead = dead_address();
    let mut routers = t.router_urls();
    routers.push(dead.clone());
    let blobs = format!("file://{}/blobs", t.dir.path().display());
    let ui = Role::start(
        "dashboard registry",
        strings(&[
            "registry",
            "--database-url",
            &t.db.url,
            "--blobs",
            &blobs,
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "127.0.0.1:0",
            "--ui-routers",
            &routers.join(","),
        ]),
        "joust registry listening on",
        t.dir.path().join("dashboard-registry.log"),
    )
    .await
    .unwrap();
    let base = dashboard_url(&ui).await;
    let mut nodes: Vec<String> = t.nodes.iter().map(|n| n.addr.to_string()).collect();
    nodes.sort();

    // v1 champion: both routers answer with it, every node holds it ready.
    let v = serving_until(&base, "v1 ready on every node of both routers", |v| {
        v["routers"].as_array().unwrap().iter().take(2).all(|r| {
            r["answering_champion"] == 1
                && node_phases(r)
                    == nodes
                        .iter()
                        .map(|n| (n.clone(), 1, "ready".to_owned()))
                        .collect::<Vec<_>>()
        })
    })
    .await;
    assert_eq!(v["champion"], 1, "{v:#}");
    let listed: Vec<&str> = v["routers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["router"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        routers.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let down = &v["routers"][2];
    assert!(
        down["error"].as_str().is_some_and(|e| !e.is_empty()),
        "an unreachable router says why: {down:#}"
    );
    for r in v["routers"].as_array().unwrap().iter().take(2) {
        for n in r["nodes"].as_array().unwrap() {
            assert_eq!(n["stream"], "reporting", "{n:#}");
            assert!(
                n["refs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == &format!("{MODEL}@champion")),
                "{n:#}"
            );
        }
    }
    // The page shows the same: each node's version ready, both routers
    // answering v1, the dead one unreachable.
    let (status, html) = get(&format!("{base}/serving")).await;
    assert_eq!(status, 200);
    for n in &nodes {
        assert!(
            html.contains(&format!("data-node=\"{n}\" data-version=\"1\"")),
            "{n} missing from {html}"
        );
    }
    assert_eq!(html.matches("data-phase=\"ready\"").count(), 4, "{html}");
    for r in t.router_urls() {
        assert!(
            html.contains(&format!(
                "data-router=\"{r}\" data-answering-champion=\"1\""
            )),
            "{r} missing from {html}"
        );
    }
    assert!(html.contains("unreachable"), "{html}");
    assert!(
        html.contains("href=\"/serving\""),
        "navigation links the page"
    );

    // A champion whose blob rots after registration: every node refuses it
    // with the reason, the routers keep answering v1 and hold v2 blocked.
    let v2 = t.register_evaluated().await.unwrap();
    let sha = t
        .ops
        .client
        .raw()
        .get_version(pb::GetVersionRequest {
            r#ref: format!("{MODEL}:{v2}"),
        })
        .await
        .unwrap()
        .into_inner()
        .sha256;
    let blob = t.dir.path().join("blobs").join("sha256").join(&sha);
    std::fs::write(&blob, b"not an artifact").unwrap();
    t.promote(v2).await.unwrap();
    let v = serving_until(&base, "v2 refused everywhere and blocked", |v| {
        v["champion"] == v2
            && v["routers"].as_array().unwrap().iter().take(2).all(|r| {
                r["answering_champion"] == 1
                    && r["registry_champion"] == v2
                    && r["blocked"].is_string()
                    && r["nodes"].as_array().unwrap().iter().any(|n| {
                        n["version"] == v2
                            && n["phase"] == "refused"
                            && n["reason"].as_str().is_some_and(|s| !s.is_empty())
                    })
            })
    })
    .await;
    let (_, html) = get(&format!("{base}/serving")).await;
    assert!(html.contains("data-phase=\"refused\""), "{html}");
    assert!(html.contains("blocked:"), "{html}");
    assert!(html.contains("not ready on enough nodes"), "{html}");

    // `joust status --json` prints the same view from the same routers.
    let out = std::process::Command::new(joust_tests::joust_bin())
        .args(["status", "--json", "--registry", &t.registry.url])
        .args(["--routers", &routers.join(",")])
        .arg(MODEL)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli = &cli[0];
    assert_eq!(cli["champion"], v["champion"]);
    for i in 0..2 {
        assert_eq!(
            cli["routers"][i]["answering_champion"],
            v["routers"][i]["answering_champion"]
        );
        assert_eq!(
            node_phases(&cli["routers"][i])
                .into_iter()
                .map(|(n, v, _)| (n, v))
                .collect::<Vec<_>>(),
            node_phases(&v["routers"][i])
                .into_iter()
                .map(|(n, v, _)| (n, v))
                .collect::<Vec<_>>()
        );
    }
    drop(ui);
}
