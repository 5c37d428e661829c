//! Issue 21: Watch fan-out at scale. One `joust registry` process
//! (`$JOUST_BIN`) on a throwaway PostgreSQL database holds M models × 2
//! versions (v1 champion, v2 evaluated; created over its RPCs); this
//! process opens S `Registry.Watch` streams (from the log's current end,
//! about 100 streams per HTTP/2 connection), then promotes v2 of every
//! model (`Transition` → champion, 8 in flight) and waits until every
//! stream has received every event the promotion wrote.
//!
//! `scale [--smoke] [--models M] [--subscribers S] [--concurrency C]`
//! (default 1,000 × 1,000; `--smoke` or `JOUST_BENCH_SMOKE=1`: 20 × 20).
//!
//! Measured: the promotion's wall time, the time from its start until
//! every stream has seen every event (and the tail after the last
//! `Transition` answered), and from the registry's `/metrics` before and
//! after: event-log reads (`joust_registry_store_duration_seconds_count
//! {op="list_events"}`, which every registry version exports, and
//! `joust_registry_watch_store_reads_total` by reader where it exists),
//! events sent, and the registry process's CPU time (`/proc/PID/stat`)
//! per event. Also the router's route-table lookup (the only per-request
//! step whose input grows with the number of models) with 1 and with M
//! routes, and the cost of applying one model's change to a table of M
//! routes (clone-on-write). Prints JSON on stdout, progress on stderr;
//! `/proc/loadavg` before and after. Running it with `JOUST_BIN` set to an
//! older `joust` measures that version's registry the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_router::{Route, RouteTable};
use joust_tests::TestDatabase;
use joust_tests::node::{FIXTURE_FEATURES, RegistryOps, artifact};
use joust_tests::topology::Role;
use tonic::transport::Channel;

const STREAMS_PER_CONNECTION: usize = 100;
const SEEN_TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    models: usize,
    subscribers: usize,
    concurrency: usize,
}

fn args() -> anyhow::Result<Args> {
    let smoke = joust_bench::smoke();
    let mut out = Args {
        models: if smoke { 20 } else { 1000 },
        subscribers: if smoke { 20 } else { 1000 },
        concurrency: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            Ok(it
                .next()
                .with_context(|| format!("{name} needs N"))?
                .parse()?)
        };
        match a.as_str() {
            "--smoke" => {
                out.models = 20;
                out.subscribers = 20;
            }
            "--models" => out.models = num("--models")?,
            "--subscribers" => out.subscribers = num("--subscribers")?,
            "--concurrency" => out.concurrency = num("--concurrency")?,
            other => bail!(
                "scale: unknown argument {other} (expected --smoke, --models M, \
                 --subscribers S, --concurrency C)"
            ),
        }
    }
    anyhow::ensure!(
        out.models > 0 && out.subscribers > 0 && out.concurrency > 0,
        "--models, --subscribers and --concurrency must be at least 1"
    );
    Ok(out)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').context("/proc/PID/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).context("utime")?.parse::<f64>()? + f.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sum of the series `name…{…labels…}` in an exposition.
fn series(body: &str, name: &str, labels: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    /// Event-log reads of every kind, less those of `ListEvents` calls
    /// (this bench's own, to find the log's end).
    list_events: f64,
    feed_reads: f64,
    subscriber_reads: f64,
    sent: f64,
    subscribers: f64,
}

async fn counts(metrics: std::net::SocketAddr) -> anyhow::Result<Counts> {
    let text = joust_tests::scrape_metrics(metrics).await?;
    let reads = "joust_registry_watch_store_reads_total";
    Ok(Counts {
        list_events: series(
            &text,
            "joust_registry_store_duration_seconds_count",
            r#"op="list_events""#,
        ) - series(
            &text,
            "joust_registry_grpc_requests_total",
            r#"method="ListEvents""#,
        ),
        feed_reads: series(&text, reads, r#"reader="feed""#),
        subscriber_reads: series(&text, reads, r#"reader="subscriber""#),
        sent: series(&text, "joust_registry_watch_events_sent_total", ""),
        subscribers: series(&text, "joust_registry_watch_subscribers ", ""),
    })
}

/// The id of the newest event (0: none), paging `ListEvents` from `after`.
async fn head(channel: &Channel, mut after: u64) -> anyhow::Result<(u64, u64)> {
    let mut client = pb::registry_client::RegistryClient::new(channel.clone());
    let mut n = 0;
    loop {
        let page = client
            .list_events(pb::ListEventsRequest {
                model: String::new(),
                after_id: after,
                page_size: 1000,
            })
            .await?
            .into_inner();
        n += page.events.len() as u64;
        if let Some(last) = page.events.last() {
            after = last.id;
        }
        if page.next_after_id == 0 || page.events.is_empty() {
            return Ok((after, n));
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

fn model_name(i: usize) -> String {
    format!("s{i:05}")
}

#[derive(Default)]
struct Seen {
    events: AtomicU64,
    /// Nanoseconds since the bench's epoch at the last event.
    last_at: AtomicU64,
}

/// ns per lookup of one model in a table of `n` routes.
fn lookup_ns(n: usize) -> f64 {
    let routes = (0..n)
        .map(|i| {
            (
                model_name(i),
                Route {
                    champion_version: 1,
                    trial: None,
                },
            )
        })
        .collect();
    let table = RouteTable::new(routes);
    let names: Vec<String> = (0..n.min(64)).map(model_name).collect();
    let rounds = 200_000;
    let started = Instant::now();
    let mut found = 0u64;
    for i in 0..rounds {
        if table.route(&names[i % names.len()]).is_some() {
            found += 1;
        }
    }
    let ns = started.elapsed().as_nanos() as f64 / rounds as f64;
    std::hint::black_box(found);
    ns
}

/// µs to apply one model's change to a table of `n` routes.
fn set_us(n: usize) -> f64 {
    let routes = (0..n)
        .map(|i| {
            (
                model_name(i),
                Route {
                    champion_version: 1,
                    trial: None,
                },
            )
        })
        .collect();
    let table = RouteTable::new(routes);
    let rounds = 2_000;
    let started = Instant::now();
    for i in 0..rounds {
        table.set(
            &model_name(i % n),
            Some(Route {
                champion_version: 2 + i as u64,
                trial: None,
            }),
        );
    }
    started.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let load_before = loadavg();
    let db = TestDatabase::create().await?;
    let dir = tempfile::Builder::new().prefix("joust-scale-").tempdir()?;
    let blobs = format!("file://{}/blobs", dir.path().display());
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let strings = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let registry = Role::start(
        "registry",
        strings(&[
            "registry",
            "--database-url",
            &db.url,
            "--blobs",
            &blobs,
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--metrics-listen",
            &metrics.to_string(),
        ]),
        "joust registry listening on",
        dir.path().join("registry.log"),
    )
    .await?;
    let pid = registry.process.as_ref().context("registry process")?.pid();
    let channel = Channel::from_shared(registry.url.clone())?
        .connect()
        .await?;

    // --- Set-up: M models, v1 champion, v2 evaluated ------------------------
    eprintln!(
        "scale: creating {} models × 2 versions ({} in flight)",
        args.models, args.concurrency
    );
    let setup_started = Instant::now();
    let v1 = Arc::new(artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1));
    let v2 = Arc::new(artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 2));
    let ops = Arc::new(RegistryOps::new(&registry.url));
    futures::stream::iter(0..args.models)
        .map(|i| {
            let (ops, v1, v2) = (ops.clone(), v1.clone(), v2.clone());
            async move {
                let m = model_name(i);
                ops.register(&m, "isolation_forest", v1.to_vec()).await?;
                ops.promote(&format!("{m}:1")).await?;
                ops.register(&m, "isolation_forest", v2.to_vec()).await?;
                ops.force_evaluated(&format!("{m}:2")).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    let setup_s = setup_started.elapsed().as_secs_f64();
    let (start_id, setup_events) = head(&channel, 0).await?;
    eprintln!("scale: set-up took {setup_s:.1} s, {setup_events} events");

    // --- S Watch streams from the log's end ---------------------------------
    let epoch = Instant::now();
    let connections = args.subscribers.div_ceil(STREAMS_PER_CONNECTION);
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(
            Channel::from_shared(registry.url.clone())?
                .connect()
                .await?,
        );
    }
    let seen: Arc<Vec<Seen>> = Arc::new((0..args.subscribers).map(|_| Seen::default()).collect());
    let mut tasks = Vec::new();
    for i in 0..args.subscribers {
        let mut client =
            pb::registry_client::RegistryClient::new(channels[i % connections].clone());
        let mut stream = client
            .watch(pb::WatchRequest {
                after_id: start_id,
                models: vec![],
            })
            .await?
            .into_inner();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(_event)) = stream.message().await {
                let s = &seen[i];
                s.last_at
                    .store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                s.events.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let open_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = counts(metrics).await?;
        if c.subscribers as usize >= args.subscribers {
            break;
        }
        anyhow::ensure!(
            Instant::now() < open_deadline,
            "only {} of {} Watch streams open",
            c.subscribers,
            args.subscribers
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let any start-up read settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = counts(metrics).await?;
    let cpu_before = cpu_seconds(pid)?;

    // --- The bulk promotion ---------------------------------------------------
    eprintln!(
        "scale: {} streams open; promoting v2 of every model",
        args.subscribers
    );
    let started = Instant::now();
    let started_ns = epoch.elapsed().as_nanos() as u64;
    futures::stream::iter(0..args.models)
        .map(|i| {
            let ops = ops.clone();
            async move {
                ops.transition(&format!("{}:2", model_name(i)), pb::VersionStatus::Champion)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    let promote_s = started.elapsed().as_secs_f64();
    let (end_id, events) = head(&channel, start_id).await?;
    anyhow::ensure!(events > 0, "the promotion wrote no event");
    loop {
        let behind = seen
            .iter()
            .filter(|s| s.events.load(Ordering::Relaxed) < events)
            .count();
        if behind == 0 {
            break;
        }
        if started.elapsed() > SEEN_TIMEOUT {
            bail!(
                "{behind} of {} streams did not see all {events} events",
                args.subscribers
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_seen_ns = seen
        .iter()
        .map(|s| s.last_at.load(Ordering::Relaxed))
        .max()
        .unwrap_or(started_ns);
    let all_seen_s = (all_seen_ns.saturating_sub(started_ns)) as f64 / 1e9;
    let cpu = cpu_seconds(pid)? - cpu_before;
    // The safety poll (every 2 s) may add a read after the last event.
    let after = counts(metrics).await?;
    let over = seen
        .iter()
        .filter(|s| s.events.load(Ordering::Relaxed) != events)
        .count();
    anyhow::ensure!(
        over == 0,
        "{over} streams saw more events than were written"
    );

    let reads = after.list_events - before.list_events;
    let feed_reads = after.feed_reads - before.feed_reads;
    let subscriber_reads = after.subscriber_reads - before.subscriber_reads;
    let sent = after.sent - before.sent;
    eprintln!(
        "scale: {events} events to {} streams: all seen {all_seen_s:.2} s after the start \
         (promotion {promote_s:.2} s); {reads} event-log reads ({:.3} per event)",
        args.subscribers,
        reads / events as f64
    );

    // --- A router's reads: every route vs one model's -----------------------
    let secure = joust_security::ClientSecurity::default().connect_lazy(&registry.url)?;
    let mut full_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let routes = joust_router::follower::read_routes(&secure).await?;
        full_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(routes.len() == args.models, "{} routes read", routes.len());
    }
    let mut one_ms = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        let route =
            joust_router::follower::read_route(&secure, &model_name(i % args.models)).await?;
        one_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            route.is_some_and(|r| r.champion_version == 2),
            "route of model {i}"
        );
    }
    let (full_ms, one_ms) = (median(full_ms), median(one_ms));

    // --- The router's table: lookup with 1 and M routes ---------------------
    let lookup_1 = lookup_ns(1);
    let lookup_m = lookup_ns(args.models);
    let set_m = set_us(args.models);
    let load_after = loadavg();
    for t in tasks {
        t.abort();
    }
    drop(registry);

    let out = serde_json::json!({
        "bench": "scale",
        "profile": std::env::var("JOUST_BENCH_PROFILE").unwrap_or_default(),
        "joust_bin": joust_tests::joust_bin().display().to_string(),
        "models": args.models,
        "versions_per_model": 2,
        "subscribers": args.subscribers,
        "connections": connections,
        "concurrency": args.concurrency,
        "setup_s": setup_s,
        "setup_events": setup_events,
        "first_event_id": start_id + 1,
        "last_event_id": end_id,
        "events": events,
        "promotion_s": promote_s,
        "all_seen_s": all_seen_s,
        "tail_after_last_transition_s": (all_seen_s - promote_s).max(0.0),
        "event_log_reads": reads,
        "event_log_reads_per_event": reads / events as f64,
        "watch_feed_reads": feed_reads,
        "watch_subscriber_reads": subscriber_reads,
        "events_sent": sent,
        "events_expected": events * args.subscribers as u64,
        "registry_cpu_s": cpu,
        "registry_cpu_us_per_event": cpu * 1e6 / events as f64,
        "registry_cpu_us_per_event_per_subscriber": cpu * 1e6 / (events as f64 * args.subscribers as f64),
        "router_full_read_ms_median": full_ms,
        "router_one_model_read_ms_median": one_ms,
        "router_lookup_ns_1_route": lookup_1,
        "router_lookup_ns_m_routes": lookup_m,
        "router_set_us_m_routes": set_m,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
