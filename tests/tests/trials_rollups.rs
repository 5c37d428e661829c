//! Reports from rollups through the real registry (SQLite and PostgreSQL,
//! records over gRPC): the report read from per-minute rollups equals the
//! report from the raw records on the fixture record set
//! (registry/tests/fixtures/trial_records.json) within the bounds of
//! `rollup_check`; retention deletes the raw records and the report is
//! unchanged (and so is the time series in whole minutes, read from the
//! minute rollups); compaction into per-period totals changes nothing, and
//! records arriving late for compacted minutes count; two registry
//! replicas ingesting into one PostgreSQL database while one compacts
//! give one merged report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_client::pb;
use joust_models::ModelKind;
use joust_proto::v1::trials_client::TrialsClient;
use joust_registry::trials::RecordsPurged;
use joust_registry::trials::partitions::{DEFAULT_PARTITION, partition_name};
use joust_registry::trials::rollup_check::{differences, series_differences};
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, artifact};
use serde_json::Value;
use tonic::transport::Channel;

fn trials(url: &str) -> TrialsClient<Channel> {
    TrialsClient::new(Channel::from_shared(url.to_owned()).unwrap().connect_lazy())
}

fn arm(v: &Value, version: u64) -> Option<pb::TrialArmResult> {
    if v.is_null() {
        return None;
    }
    Some(pb::TrialArmResult {
        version,
        scores: v["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect(),
        labels: v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_bool().unwrap())
            .collect(),
        latency_us: v["latency_us"].as_u64().unwrap(),
        status_code: i32::try_from(v["status_code"].as_i64().unwrap()).unwrap(),
    })
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The fixture records `range` for `trial`, 7 s apart ending now (so they
/// span many minutes).
fn fixture(trial: u64, range: std::ops::Range<usize>) -> Vec<pb::ComparisonRecord> {
    let raw: Value = serde_json::from_str(include_str!(
        "../../registry/tests/fixtures/trial_records.json"
    ))
    .unwrap();
    let all = raw.as_array().unwrap();
    // One base time per test process: a record built twice (a resend) is
    // the same record, time included, as a router's resends are.
    static BASE: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    let now = *BASE.get_or_init(chrono::Utc::now);
    range
        .map(|i| {
            let r = &all[i];
            let back = chrono::TimeDelta::seconds(7 * (all.len() - i) as i64);
            pb::ComparisonRecord {
                record_id: format!("t{trial}-{}", r["record_id"].as_str().unwrap()),
                trial_id: trial,
                request_id: format!("q{i}"),
                time: Some(ts(now - back)),
                routing_key_hash: 0,
                served: match r["served"].as_str().unwrap() {
                    "challenger" => pb::TrialArm::Challenger,
                    _ => pb::TrialArm::Champion,
                } as i32,
                champion: arm(&r["champion"], 1),
                challenger: arm(&r["challenger"], 2),
            }
        })
        .collect()
}

async fn send(url: &str, records: Vec<pb::ComparisonRecord>) {
    let n = records.len() as u64;
    let r = trials(url)
        .record_comparisons(futures::stream::iter(vec![pb::RecordComparisonsRequest {
            records,
            dropped: vec![],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, n, "{:?}", r.refusals);
}

/// A model with versions 1 (champion) and 2 and a shadow trial; its id.
async fn trial(reg: &TestRegistry, name: &str) -> u64 {
    let ops = RegistryOps::new(&reg.url);
    for seed in 1..=2 {
        ops.register(name, "noop", artifact(ModelKind::Noop, 3, seed))
            .await
            .unwrap();
    }
    ops.promote(&format!("{name}:1")).await.unwrap();
    ops.force_evaluated(&format!("{name}:2")).await.unwrap();
    trials(&reg.url)
        .start_trial(pb::StartTrialRequest {
            model: name.into(),
            challenger_version: 2,
            mode: pb::TrialMode::Shadow as i32,
            weight: 0.25,
            sampling: 1.0,
            sticky: false,
            gates: Some(pb::TrialGates {
                min_samples: 100,
                max_error_rate: Some(0.2),
                max_anomaly_rate_delta: Some(0.2),
                max_p99_latency_ratio: Some(100.0),
                max_psi: Some(0.25),
                ..Default::default()
            }),
            reason: "rollups test".into(),
            plan: None,
        })
        .await
        .unwrap()
        .into_inner()
        .id
}

/// Half the fixture in shadow, a switch to split 0.25, the other half.
async fn ingest(reg: &TestRegistry, name: &str) -> u64 {
    let id = trial(reg, name).await;
    send(&reg.url, fixture(id, 0..300)).await;
    trials(&reg.url)
        .update_trial(pb::UpdateTrialRequest {
            model: name.into(),
            mode: pb::TrialMode::Split as i32,
            weight: Some(0.25),
            sampling: None,
            gates: None,
            reason: "rollups test".into(),
        })
        .await
        .unwrap();
    // A retried batch is folded once.
    send(&reg.url, fixture(id, 300..600)).await;
    let r = trials(&reg.url)
        .record_comparisons(futures::stream::iter(vec![pb::RecordComparisonsRequest {
            records: fixture(id, 500..600),
            dropped: vec![],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.duplicates), (0, 100));
    id
}

async fn rollups_equal_records_and_survive_retention(reg: TestRegistry) {
    let id = ingest(&reg, "fixture").await;
    let (_, registry) = reg.replica().await.unwrap();
    let t = registry.trials().unwrap();
    let (_, raw) = t.report_from_records(id, "").await.unwrap();
    let (_, rolled) = t.report(id, "").await.unwrap();
    assert_eq!(raw.records, 600);
    assert_eq!(raw.periods.len(), 2);
    let diff = differences(&raw, &rolled);
    assert!(diff.is_empty(), "{diff:#?}");
    println!(
        "verdict {:?}; psi raw {:?} rollups {:?}",
        rolled.verdict, raw.comparison.psi, rolled.comparison.psi
    );

    // Compaction: the minutes that ended merge into one row per period;
    // the report does not change.
    let merged = t.compact_rollups(chrono::Utc::now()).await.unwrap();
    assert!(merged > 10, "{merged} minute rows merged");
    let (_, compacted) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &compacted);
    assert!(diff.is_empty(), "after compaction: {diff:#?}");
    assert_eq!(t.compact_rollups(chrono::Utc::now()).await.unwrap(), 0);
    // Records that arrive late, for minutes already compacted, count.
    let late: Vec<_> = fixture(id, 0..50)
        .into_iter()
        .map(|mut r| {
            r.record_id = format!("late-{}", r.record_id);
            r
        })
        .collect();
    send(&reg.url, late).await;
    let (_, raw) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(raw.records, 650);
    let (_, rolled) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &rolled);
    assert!(diff.is_empty(), "late records: {diff:#?}");
    t.compact_rollups(chrono::Utc::now()).await.unwrap();
    let (_, rolled) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &rolled);
    assert!(diff.is_empty(), "late records compacted again: {diff:#?}");

    // The time series in whole minutes reads the minute rollups and agrees
    // with the one from the records, bucket by bucket.
    for bucket in [60, 300, 3600] {
        let (_, raw) = t
            .time_series_from_records(id, "", Some(bucket))
            .await
            .unwrap();
        let (_, rolled) = t.time_series(id, "", Some(bucket)).await.unwrap();
        assert!(raw.points.len() > 1 || bucket == 3600, "{bucket}s: {raw:?}");
        let diff = series_differences(&raw, &rolled);
        assert!(diff.is_empty(), "series of {bucket}s: {diff:#?}");
    }

    // Retention: every raw record of the trial is older than tomorrow.
    // PostgreSQL drops the day partitions (today's among them); SQLite
    // deletes the rows.
    let purged = t
        .delete_records_before(chrono::Utc::now() + chrono::TimeDelta::days(1))
        .await
        .unwrap();
    if is_postgres(&reg) {
        let today = partition_name(chrono::Utc::now().date_naive());
        assert!(purged.partitions.contains(&today), "{purged:?}");
        assert_eq!(purged.records, 0, "{purged:?}");
    } else {
        assert_eq!(
            purged,
            RecordsPurged {
                partitions: vec![],
                records: 650
            }
        );
    }
    let (_, gone) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(gone.records, 0);
    let (_, after) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &after);
    assert!(diff.is_empty(), "after retention: {diff:#?}");
    let (_, series) = t.time_series(id, "", Some(300)).await.unwrap();
    let total: u64 = series.points.iter().map(|p| p.records).sum();
    assert_eq!(total, 650, "the series outlives the raw records");
    // Over gRPC too.
    let r = trials(&reg.url)
        .get_trial_report(pb::GetTrialReportRequest {
            id,
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.records, 650);
}

#[tokio::test]
async fn rollups_on_sqlite() {
    rollups_equal_records_and_survive_retention(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn rollups_on_postgres() {
    rollups_equal_records_and_survive_retention(TestRegistry::postgres().await.unwrap()).await;
}

/// Two replicas on one PostgreSQL database ingest alternating records of
/// one trial at once; their rollup rows merge into one report.
#[tokio::test]
async fn two_replicas_merge_into_one_report() {
    let a = TestRegistry::postgres().await.unwrap();
    let id = trial(&a, "replicas").await;
    let (listener, registry) = a.replica().await.unwrap();
    let b_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let b = tokio::spawn(joust_registry::run(
        listener,
        registry.clone(),
        joust_runtime::RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let all = fixture(id, 0..600);
    let (even, odd): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, pb::ComparisonRecord)>| -> Vec<Vec<pb::ComparisonRecord>> {
        let v: Vec<_> = v.into_iter().map(|(_, r)| r).collect();
        v.chunks(25).map(<[_]>::to_vec).collect()
    };
    let (ea, ob) = (strip(even), strip(odd));
    let a_url = a.url.clone();
    let passes = std::sync::atomic::AtomicU64::new(0);
    let to_a = async {
        let half = ea.len() / 2;
        for (k, c) in ea.into_iter().enumerate() {
            send(&a_url, c).await;
            // Halfway, until two more compaction passes have run: the
            // rest of the records arrive after them.
            if k == half {
                let seen = passes.load(std::sync::atomic::Ordering::Relaxed);
                while passes.load(std::sync::atomic::Ordering::Relaxed) < seen + 2 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        }
    };
    let to_b = async {
        for c in ob {
            send(&b_url, c).await;
        }
    };
    // Meanwhile replica b compacts again and again (the records' minutes
    // end up to 70 minutes ago: many arrive after their minute was
    // compacted, at both replicas).
    let t = registry.trials().unwrap();
    let ingesting = std::sync::atomic::AtomicBool::new(true);
    let compacting = async {
        let mut merged = 0;
        while ingesting.load(std::sync::atomic::Ordering::Relaxed) {
            merged += t.compact_rollups(chrono::Utc::now()).await.unwrap();
            passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        merged
    };
    let both = async {
        tokio::join!(to_a, to_b);
        ingesting.store(false, std::sync::atomic::Ordering::Relaxed);
    };
    let (merged, ()) = tokio::join!(compacting, both);
    // (The registries' own compaction task may have merged some first.)
    println!("{merged} minute rows merged by the test's passes");
    let (_, raw) = t.report_from_records(id, "").await.unwrap();
    let (_, rolled) = t.report(id, "").await.unwrap();
    assert_eq!(rolled.records, 600);
    let diff = differences(&raw, &rolled);
    assert!(diff.is_empty(), "{diff:#?}");
    let _ = stop.send(());
    b.await.unwrap().unwrap();
}

/// Runs `statements` on the registry's database (either backend).
fn is_postgres(reg: &TestRegistry) -> bool {
    reg.config.database_url.starts_with("postgres")
}

/// Raw records stored in table `table` (PostgreSQL).
async fn count_in(reg: &TestRegistry, table: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&reg.config.database_url)
        .await
        .unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// The day partitions of `trial_records` (PostgreSQL).
async fn partitions(reg: &TestRegistry) -> Vec<String> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&reg.config.database_url)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'trial_records'::regclass ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

/// PostgreSQL keeps raw records in day partitions: the coming days exist,
/// records land in their day (or the default partition when no day covers
/// them, carved out into their day when it is created), a record resent
/// is stored once, and retention drops whole days older than the cutoff
/// and deletes the rest row by row; the report from rollups stays the same.
#[tokio::test]
async fn postgres_partitions_by_day_and_drops_whole_days() {
    let reg = TestRegistry::postgres().await.unwrap();
    let id = trial(&reg, "days").await;
    let (_, registry) = reg.replica().await.unwrap();
    let t = registry.trials().unwrap();
    let now = chrono::Utc::now();
    let day = |d: i64| (now + chrono::TimeDelta::days(d)).date_naive();
    t.ensure_record_partitions(now).await.unwrap();
    let have = partitions(&reg).await;
    for d in -1..=2 {
        assert!(have.contains(&partition_name(day(d))), "day {d}: {have:?}");
    }
    assert_eq!(
        t.ensure_record_partitions(now).await.unwrap(),
        0,
        "idempotent"
    );

    // 100 records ten days old, 100 three days old, 100 of now.
    let mut records = fixture(id, 0..300);
    for (i, r) in records.iter_mut().enumerate() {
        let back = match i / 100 {
            0 => chrono::TimeDelta::days(10),
            1 => chrono::TimeDelta::days(3),
            _ => continue,
        };
        r.time = Some(ts(now - back + chrono::TimeDelta::seconds(i as i64 % 100)));
    }
    let fresh: Vec<_> = records[200..].to_vec();
    send(&reg.url, records).await;
    assert_eq!(
        count_in(&reg, DEFAULT_PARTITION).await,
        200,
        "no day covers them"
    );
    // Creating the days around ten days ago carves their records out.
    assert!(
        t.ensure_record_partitions(now - chrono::TimeDelta::days(10))
            .await
            .unwrap()
            >= 1
    );
    assert_eq!(count_in(&reg, &partition_name(day(-10))).await, 100);
    assert_eq!(count_in(&reg, DEFAULT_PARTITION).await, 100);
    // Resent: stored once.
    let r = trials(&reg.url)
        .record_comparisons(futures::stream::iter(vec![pb::RecordComparisonsRequest {
            records: fresh,
            dropped: vec![],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.duplicates), (0, 100), "{:?}", r.refusals);
    let (_, raw) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(raw.records, 300);
    let (_, rolled) = t.report(id, "").await.unwrap();
    assert!(differences(&raw, &rolled).is_empty());

    // Seven days' retention: the days ten days ago go whole.
    let purged = t
        .delete_records_before(now - chrono::TimeDelta::days(7))
        .await
        .unwrap();
    assert!(
        purged.partitions.contains(&partition_name(day(-10))),
        "{purged:?}"
    );
    assert_eq!(purged.records, 0, "{purged:?}");
    assert!(!partitions(&reg).await.contains(&partition_name(day(-10))));
    let (_, left) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(left.records, 200);
    // Two days': the three-day-old records, in the default partition, go
    // row by row; today's stay.
    let purged = t
        .delete_records_before(now - chrono::TimeDelta::days(2))
        .await
        .unwrap();
    assert_eq!(
        purged,
        RecordsPurged {
            partitions: vec![],
            records: 100
        }
    );
    let (_, left) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(left.records, 100);
    let (_, after) = t.report(id, "").await.unwrap();
    let diff = differences(&rolled, &after);
    assert!(
        diff.is_empty(),
        "the report outlives its records: {diff:#?}"
    );
}

async fn sql(reg: &TestRegistry, statements: &[String]) {
    use sqlx::Connection;
    let url = &reg.config.database_url;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

/// A trial from before rollups existed (its first records never folded,
/// later ones folded since the migration) is reported from its raw records
/// and keeps them; once stopped, the backfill rebuilds its rollups from
/// the records, the report from rollups equals the raw one, and retention
/// then applies to it with the report unchanged.
async fn backfill_of_a_trial_from_before_rollups(reg: TestRegistry) {
    let id = trial(&reg, "old").await;
    send(&reg.url, fixture(id, 0..300)).await;
    // As before migration 0006: no rollups for those records, and the
    // trial older than the first one reported from rollups.
    sql(
        &reg,
        &[
            format!("UPDATE trial_rollups_from SET first_trial_id = {}", id + 1),
            format!("DELETE FROM trial_rollup_totals WHERE trial_id = {id}"),
            format!("DELETE FROM trial_rollups WHERE trial_id = {id}"),
        ],
    )
    .await;
    send(&reg.url, fixture(id, 300..600)).await;
    let (_, registry) = reg.replica().await.unwrap();
    let t = registry.trials().unwrap();
    let (_, raw) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(raw.records, 600);
    let (_, before) = t.report(id, "").await.unwrap();
    assert!(differences(&raw, &before).is_empty(), "read from records");
    let tomorrow = chrono::Utc::now() + chrono::TimeDelta::days(1);
    // Retention keeps every record of a trial reported from its records:
    // no row deleted, and no day partition holding them dropped.
    let purged = t.delete_records_before(tomorrow).await.unwrap();
    assert_eq!(purged.records, 0, "{purged:?}");
    let today = partition_name(chrono::Utc::now().date_naive());
    assert!(!purged.partitions.contains(&today), "{purged:?}");
    let (_, kept) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(kept.records, 600);
    assert_eq!(t.backfill_rollups().await.unwrap(), None, "open: not due");

    trials(&reg.url)
        .stop_trial(pb::StopTrialRequest {
            model: "old".into(),
            outcome: pb::TrialOutcome::Abort as i32,
            reason: "backfill test".into(),
        })
        .await
        .unwrap();
    assert_eq!(t.backfill_rollups().await.unwrap(), Some((id, 600)));
    assert_eq!(t.backfill_rollups().await.unwrap(), None, "once");
    let (_, rolled) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &rolled);
    assert!(diff.is_empty(), "backfilled: {diff:#?}");
    t.compact_rollups(chrono::Utc::now()).await.unwrap();
    let purged = t.delete_records_before(tomorrow).await.unwrap();
    if is_postgres(&reg) {
        assert!(purged.partitions.contains(&today), "{purged:?}");
    } else {
        assert_eq!(
            purged,
            RecordsPurged {
                partitions: vec![],
                records: 600
            }
        );
    }
    let (_, gone) = t.report_from_records(id, "").await.unwrap();
    assert_eq!(gone.records, 0);
    let (_, after) = t.report(id, "").await.unwrap();
    let diff = differences(&raw, &after);
    assert!(
        diff.is_empty(),
        "backfilled, compacted, records gone: {diff:#?}"
    );
}

#[tokio::test]
async fn backfill_on_sqlite() {
    backfill_of_a_trial_from_before_rollups(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn backfill_on_postgres() {
    backfill_of_a_trial_from_before_rollups(TestRegistry::postgres().await.unwrap()).await;
}
