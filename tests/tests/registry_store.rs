//! The metadata-store conformance suite: every test runs against SQLite
//! and PostgreSQL through the same domain API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use joust_registry::domain::VersionRecord;
use joust_registry::{BlobStore, Limits, Registry, RegistryError, S3Options, Status, VersionMeta};
use joust_tests::TestDatabase;

/// Keeps the backing database/dir alive for the test's duration.
#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    Db(TestDatabase),
}

/// The registry (with its trials API) on the store at `url`.
async fn registry_on(url: &str) -> anyhow::Result<Registry> {
    let (store, trials) = joust_registry::trials::store::open(url).await?;
    let blobs = BlobStore::open("memory://", &S3Options::default())?;
    Ok(Registry::new(store, blobs, Limits::default())
        .with_trials(joust_registry::trials::Trials::new(trials)))
}

async fn sqlite() -> anyhow::Result<(Registry, String, Guard)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/r.db", dir.path().display());
    Ok((registry_on(&url).await?, url, Guard::Dir(dir)))
}

async fn postgres() -> anyhow::Result<(Registry, String, Guard)> {
    let db = TestDatabase::create().await?;
    let url = db.url.clone();
    Ok((registry_on(&url).await?, url, Guard::Db(db)))
}

fn bytes_stream(b: &[u8]) -> impl futures::Stream<Item = Result<Bytes, RegistryError>> + Unpin {
    futures::stream::iter(vec![Ok(Bytes::copy_from_slice(b))])
}

async fn register(r: &Registry, model: &str, body: &[u8]) -> joust_registry::domain::VersionRecord {
    let meta = VersionMeta {
        model: model.into(),
        kind: "opaque".into(),
        ..Default::default()
    };
    r.register_version(meta, bytes_stream(body), "tester")
        .await
        .unwrap()
        .0
}

/// A model with versions 1..=n, version k holding bytes "artifact-k".
async fn model_with(r: &Registry, name: &str, n: u64) {
    r.create_model(name, "test model", "tester").await.unwrap();
    for k in 1..=n {
        register(r, name, format!("artifact-{k}").as_bytes()).await;
    }
}

async fn promote(r: &Registry, reference: &str) -> joust_registry::domain::VersionRecord {
    let v = r.get_version(reference).await.unwrap();
    if v.status == Status::Candidate {
        r.transition_with(reference, Status::Evaluated, "gates passed", true, "tester")
            .await
            .unwrap();
    }
    r.transition(reference, Status::Champion, "promote", "tester")
        .await
        .unwrap()
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (r, url, _g) = super::sqlite().await.unwrap();
                    super::$name(r, url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let (r, url, _g) = super::postgres().await.unwrap();
                    super::$name(r, url).await;
                }
            )*
        }
    };
}

conformance!(
    models_create_get_list,
    versions_number_and_resolve,
    promotion_retires_previous_champion,
    illegal_transition_names_allowed_moves,
    same_bytes_register_once,
    digest_mismatch_records_nothing,
    rollback_walks_back_promotions,
    custom_aliases,
    annotate_merges,
    events_page_and_filter,
    datasets_register_resolve_list,
    watch_resumes_from_cursor,
    bad_names_and_oversized_metadata,
    database_enforces_one_champion_and_append_only_events,
    rollback_chains_walk_back_exactly,
    rollback_never_brings_back_what_a_rollback_retired,
    rollback_to_a_named_former_champion,
    concurrent_rollbacks_serialize,
    evaluated_needs_a_recorded_evaluation_or_an_audited_override,
    lifecycle_moves_touching_an_open_trial_are_refused,
);

async fn models_create_get_list(r: Registry, _url: String) {
    r.create_model("alpha", "first", "ann").await.unwrap();
    r.create_model("beta", "", "bob").await.unwrap();
    let dup = r.create_model("alpha", "", "ann").await.unwrap_err();
    assert!(matches!(dup, RegistryError::AlreadyExists(_)), "{dup}");
    let m = r.get_model("alpha").await.unwrap();
    assert_eq!(
        (m.description.as_str(), m.created_by.as_str()),
        ("first", "ann")
    );
    assert_eq!(m.latest_version, 0);
    assert_eq!(m.champion_version, None);
    let names: Vec<_> = r
        .list_models("", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let page: Vec<_> = r
        .list_models("alpha", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(page, ["beta"]);
    let missing = r.get_model("gamma").await.unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound(_)), "{missing}");
}

async fn versions_number_and_resolve(r: Registry, _url: String) {
    model_with(&r, "m", 3).await;
    assert_eq!(r.get_version("m:2").await.unwrap().version, 2);
    assert_eq!(r.get_version("m@latest").await.unwrap().version, 3);
    // Bare name without a champion: the latest.
    assert_eq!(r.get_version("m").await.unwrap().version, 3);
    let none = r.get_version("m@champion").await.unwrap_err();
    assert!(
        matches!(none, RegistryError::NotFound(ref s) if s.contains("champion")),
        "{none}"
    );
    promote(&r, "m:1").await;
    // Bare name with a champion: the champion.
    assert_eq!(r.get_version("m").await.unwrap().version, 1);
    let v1 = r.get_version("m@champion").await.unwrap();
    assert_eq!(v1.aliases, ["champion"]);
    assert_eq!(r.get_version("m:3").await.unwrap().aliases, ["latest"]);
    let missing = r.get_version("m:9").await.unwrap_err();
    assert!(
        matches!(missing, RegistryError::NotFound(ref s) if s.contains("no version 9")),
        "{missing}"
    );
    let listed = r.list_versions("m", None, 0, 0).await.unwrap();
    assert_eq!(
        listed.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let champions = r
        .list_versions("m", Some(Status::Champion), 0, 0)
        .await
        .unwrap();
    assert_eq!(champions.len(), 1);
    let page = r.list_versions("m", None, 1, 1).await.unwrap();
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), [2]);
    assert_eq!(r.get_model("m").await.unwrap().latest_version, 3);
}

async fn promotion_retires_previous_champion(r: Registry, _url: String) {
    model_with(&r, "m", 2).await;
    promote(&r, "m:1").await;
    promote(&r, "m:2").await;
    assert_eq!(r.get_version("m:1").await.unwrap().status, Status::Retired);
    assert_eq!(r.get_version("m:2").await.unwrap().status, Status::Champion);
    let model = r.get_model("m").await.unwrap();
    assert_eq!(model.champion_version, Some(2));
    let events = r.list_events("m", 0, 0).await.unwrap();
    let retire = events
        .iter()
        .find(|e| e.version == Some(1) && e.to == "retired")
        .expect("retirement event");
    assert_eq!(
        (retire.from.as_str(), retire.actor.as_str()),
        ("champion", "tester")
    );
    assert!(retire.reason.contains("replaced by version 2"));
    // Challenger: at most one.
    model_with(&r, "c", 3).await;
    for v in ["c:1", "c:2"] {
        r.transition_with(v, Status::Evaluated, "no evaluation", true, "t")
            .await
            .unwrap();
    }
    r.transition("c:1", Status::Challenger, "", "t")
        .await
        .unwrap();
    let second = r
        .transition("c:2", Status::Challenger, "", "t")
        .await
        .unwrap_err();
    assert!(
        matches!(second, RegistryError::FailedPrecondition(ref s) if s.contains("already has a challenger")),
        "{second}"
    );
    assert_eq!(r.get_version("c@challenger").await.unwrap().version, 1);
}

async fn illegal_transition_names_allowed_moves(r: Registry, _url: String) {
    model_with(&r, "m", 1).await;
    let e = r
        .transition("m:1", Status::Champion, "", "t")
        .await
        .unwrap_err();
    match e {
        RegistryError::FailedPrecondition(msg) => {
            assert!(msg.contains("candidate → champion is not allowed"), "{msg}");
            assert!(msg.contains("evaluated, retired"), "{msg}");
        }
        other => panic!("expected FailedPrecondition, got {other}"),
    }
    // Nothing changed, nothing logged.
    assert_eq!(
        r.get_version("m:1").await.unwrap().status,
        Status::Candidate
    );
    let transitions = r.list_events("m", 0, 0).await.unwrap();
    assert!(transitions.iter().all(|e| e.kind != "transition"));
}

async fn same_bytes_register_once(r: Registry, _url: String) {
    r.create_model("m", "", "t").await.unwrap();
    let a = register(&r, "m", b"same bytes").await;
    let b = register(&r, "m", b"same bytes").await;
    assert_eq!((a.version, b.version), (1, 1));
    assert_eq!(a.sha256, b.sha256);
    let registered = r
        .list_events("m", 0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "version_registered")
        .count();
    assert_eq!(registered, 1);
    assert_eq!(r.blobs().object_count().await.unwrap(), 1);
}

async fn digest_mismatch_records_nothing(r: Registry, _url: String) {
    r.create_model("m", "", "t").await.unwrap();
    let meta = VersionMeta {
        model: "m".into(),
        kind: "isolation_forest".into(),
        sha256: "0".repeat(64),
        ..Default::default()
    };
    let e = r
        .register_version(meta, bytes_stream(b"payload"), "t")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("nothing was recorded"));
    assert_eq!(r.get_model("m").await.unwrap().latest_version, 0);
    assert_eq!(r.blobs().object_count().await.unwrap(), 0);
    // Unknown model: refused before anything is uploaded.
    let meta = VersionMeta {
        model: "nope".into(),
        kind: "opaque".into(),
        ..Default::default()
    };
    let e = r
        .register_version(meta, bytes_stream(b"x"), "t")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound(_)), "{e}");
    assert_eq!(r.blobs().object_count().await.unwrap(), 0);
}

async fn rollback_walks_back_promotions(r: Registry, _url: String) {
    model_with(&r, "m", 3).await;
    let none = r.rollback("m", "", "t").await.unwrap_err();
    assert!(
        matches!(none, RegistryError::FailedPrecondition(ref s) if s.contains("no champion")),
        "{none}"
    );
    promote(&r, "m:1").await;
    let first = r.rollback("m", "", "t").await.unwrap_err();
    assert!(
        matches!(first, RegistryError::FailedPrecondition(ref s) if s.contains("no previous champion")),
        "{first}"
    );
    promote(&r, "m:2").await;
    promote(&r, "m:3").await;
    let (retired, champion) = r.rollback("m", "v3 misbehaves", "oncall").await.unwrap();
    assert_eq!((retired.version, champion.version), (3, 2));
    assert_eq!(retired.status, Status::Retired);
    let (retired, champion) = r.rollback("m", "v2 too", "oncall").await.unwrap();
    assert_eq!((retired.version, champion.version), (2, 1));
    assert_eq!(r.get_version("m@champion").await.unwrap().version, 1);
    let rollbacks: Vec<_> = r
        .list_events("m", 0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "rollback")
        .collect();
    assert_eq!(rollbacks.len(), 4);
    assert!(rollbacks.iter().all(|e| e.actor == "oncall"));
}

async fn custom_aliases(r: Registry, _url: String) {
    model_with(&r, "m", 2).await;
    r.set_alias("m", "prod-eu", 1, "t").await.unwrap();
    assert_eq!(r.get_version("m@prod-eu").await.unwrap().version, 1);
    r.set_alias("m", "prod-eu", 2, "t").await.unwrap();
    let v2 = r.get_version("m@prod-eu").await.unwrap();
    assert_eq!(v2.version, 2);
    assert!(v2.aliases.contains(&"prod-eu".to_owned()));
    assert_eq!(r.get_model("m").await.unwrap().aliases.len(), 1);
    let reserved = r.set_alias("m", "champion", 1, "t").await.unwrap_err();
    assert!(
        matches!(reserved, RegistryError::InvalidArgument(ref s) if s.contains("reserved")),
        "{reserved}"
    );
    let missing_version = r.set_alias("m", "x", 9, "t").await.unwrap_err();
    assert!(matches!(missing_version, RegistryError::NotFound(_)));
    r.delete_alias("m", "prod-eu", "t").await.unwrap();
    let gone = r.get_version("m@prod-eu").await.unwrap_err();
    assert!(
        matches!(gone, RegistryError::NotFound(ref s) if s.contains("no alias")),
        "{gone}"
    );
    let again = r.delete_alias("m", "prod-eu", "t").await.unwrap_err();
    assert!(matches!(again, RegistryError::NotFound(_)));
}

async fn annotate_merges(r: Registry, _url: String) {
    model_with(&r, "m", 1).await;
    let mut a = BTreeMap::new();
    a.insert("dataset".to_owned(), "market@1".to_owned());
    r.annotate("m:1", a, r#"{"auc": 0.9}"#, "t").await.unwrap();
    let mut b = BTreeMap::new();
    b.insert("flow".to_owned(), "train".to_owned());
    let v = r
        .annotate("m:1", b, r#"{"rate": 0.05}"#, "t")
        .await
        .unwrap();
    assert_eq!(v.annotations.len(), 2);
    assert_eq!(v.metrics["auc"], 0.9);
    assert_eq!(v.metrics["rate"], 0.05);
    let bad = r
        .annotate("m:1", BTreeMap::new(), "[1,2]", "t")
        .await
        .unwrap_err();
    assert!(
        matches!(bad, RegistryError::InvalidArgument(ref s) if s.contains("metrics_json: expected a JSON object, got an array")),
        "{bad}"
    );
}

async fn events_page_and_filter(r: Registry, _url: String) {
    model_with(&r, "a", 3).await;
    model_with(&r, "b", 2).await;
    let all = r.list_events("", 0, 0).await.unwrap();
    assert_eq!(all.len(), 4 + 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let b_only = r.list_events("b", 0, 0).await.unwrap();
    assert!(b_only.iter().all(|e| e.model == "b"));
    assert_eq!(b_only.len(), 3);
    let page = r.list_events("", all[1].id, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [all[2].id, all[3].id]
    );
}

async fn datasets_register_resolve_list(r: Registry, _url: String) {
    use joust_registry::DatasetMeta;
    let meta = |rows| DatasetMeta {
        name: "market".into(),
        rows,
        schema: vec!["ticker".into(), "close".into()],
        ..Default::default()
    };
    let (d1, new1) = r
        .register_dataset(meta(2), bytes_stream(b"a,1\nb,2\n"), "t")
        .await
        .unwrap();
    let (d2, new2) = r
        .register_dataset(meta(3), bytes_stream(b"a,1\nb,2\nc,3\n"), "t")
        .await
        .unwrap();
    let (d1b, new3) = r
        .register_dataset(meta(2), bytes_stream(b"a,1\nb,2\n"), "t")
        .await
        .unwrap();
    assert_eq!((d1.version, d2.version, d1b.version), (1, 2, 1));
    assert_eq!((new1, new2, new3), (true, true, false));
    assert_eq!(r.get_dataset("market@latest").await.unwrap().version, 2);
    assert_eq!(r.get_dataset("market").await.unwrap().rows, 3);
    assert_eq!(
        r.get_dataset("market:1").await.unwrap().schema,
        ["ticker", "close"]
    );
    let e = r.get_dataset("market:7").await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound(_)));
    assert_eq!(r.list_datasets("", None, 0).await.unwrap().len(), 2);
    let page = r
        .list_datasets("market", Some(("market".into(), 1)), 0)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let (_, bytes) = r.dataset_bytes("market:2").await.unwrap();
    let got: Vec<Bytes> = futures::TryStreamExt::try_collect(bytes).await.unwrap();
    assert_eq!(got.concat(), b"a,1\nb,2\nc,3\n");
}

async fn watch_resumes_from_cursor(r: Registry, _url: String) {
    model_with(&r, "m", 1).await;
    let mut rx = r.watch(0, vec!["m".into()]).unwrap();
    let mut cursor = 0;
    for _ in 0..2 {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        cursor = ev.id;
    }
    drop(rx);
    // Ten events while disconnected.
    for k in 0..10 {
        let mut a = BTreeMap::new();
        a.insert(format!("k{k}"), "v".to_owned());
        r.annotate("m:1", a, "", "t").await.unwrap();
    }
    let mut rx = r.watch(cursor, vec!["m".into()]).unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(ev);
    }
    assert!(got.iter().all(|e| e.kind == "annotated"));
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(got[0].reason, "k0");
    assert_eq!(got[9].reason, "k9");
    // Nothing more until something happens; then it arrives live.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err()
    );
    r.transition_with("m:1", Status::Evaluated, "live", true, "t")
        .await
        .unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.kind.as_str(), live.to.as_str()),
        ("transition", "evaluated")
    );
}

async fn bad_names_and_oversized_metadata(r: Registry, _url: String) {
    for bad in ["", "a b", "-x", &"n".repeat(300), "a:b", "a@b", "ü"] {
        let e = r.create_model(bad, "", "t").await.unwrap_err();
        assert!(
            matches!(e, RegistryError::InvalidArgument(ref s) if s.starts_with("name:")),
            "{bad:?}: {e}"
        );
    }
    for bad in ["a::b", "", "m@", "m:0", &"m".repeat(300)] {
        let e = r.get_version(bad).await.unwrap_err();
        assert!(
            matches!(e, RegistryError::InvalidArgument(ref s) if s.starts_with("ref:")),
            "{bad:?}: {e}"
        );
    }
    r.create_model("m", "", "t").await.unwrap();
    let mut huge = BTreeMap::new();
    huge.insert("k".to_owned(), "v".repeat(10_000));
    let meta = VersionMeta {
        model: "m".into(),
        kind: "isolation_forest".into(),
        annotations: huge,
        ..Default::default()
    };
    let e = r
        .register_version(meta, bytes_stream(b"x"), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidArgument(ref s) if s.contains("annotations[k]")),
        "{e}"
    );
    let many: BTreeMap<String, String> = (0..100).map(|i| (format!("k{i}"), "v".into())).collect();
    let meta = VersionMeta {
        model: "m".into(),
        kind: "isolation_forest".into(),
        annotations: many,
        ..Default::default()
    };
    let e = r
        .register_version(meta, bytes_stream(b"x"), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidArgument(ref s) if s.contains("at most 64 entries")),
        "{e}"
    );
    let e = r
        .create_model("d", &"x".repeat(5000), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidArgument(ref s) if s.starts_with("description:")),
        "{e}"
    );
    assert_eq!(r.get_model("m").await.unwrap().latest_version, 0);
}

async fn database_enforces_one_champion_and_append_only_events(r: Registry, url: String) {
    model_with(&r, "m", 2).await;
    promote(&r, "m:1").await;
    let second_champion = "UPDATE versions SET status = 'champion' WHERE version = 2";
    let rewrite_history = "UPDATE events SET actor = 'mallory'";
    let erase_history = "DELETE FROM events";
    if url.starts_with("sqlite") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in [second_champion, rewrite_history, erase_history] {
            assert!(
                sqlx::raw_sql(sql).execute(&mut c).await.is_err(),
                "{sql} succeeded"
            );
        }
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        for sql in [second_champion, rewrite_history, erase_history] {
            assert!(
                sqlx::raw_sql(sql).execute(&mut c).await.is_err(),
                "{sql} succeeded"
            );
        }
    }
    assert_eq!(r.get_version("m@champion").await.unwrap().version, 1);
}

fn champion(rb: &(VersionRecord, VersionRecord)) -> u64 {
    rb.1.version
}

async fn rollback_chains_walk_back_exactly(r: Registry, _url: String) {
    model_with(&r, "m", 4).await;
    for v in 1..=4 {
        promote(&r, &format!("m:{v}")).await;
    }
    for expected in [3, 2, 1] {
        let rb = r.rollback("m", "walk back", "t").await.unwrap();
        assert_eq!(champion(&rb), expected);
        assert_eq!(rb.1.status, Status::Champion);
    }
    let e = r.rollback("m", "", "t").await.unwrap_err();
    assert!(
        matches!(e, RegistryError::FailedPrecondition(ref s) if s.contains("no previous champion")),
        "{e}"
    );
    assert_eq!(r.get_version("m@champion").await.unwrap().version, 1);

    model_with(&r, "three", 3).await;
    for v in 1..=3 {
        promote(&r, &format!("three:{v}")).await;
    }
    assert_eq!(champion(&r.rollback("three", "", "t").await.unwrap()), 2);
    assert_eq!(champion(&r.rollback("three", "", "t").await.unwrap()), 1);
    let e = r.rollback("three", "", "t").await.unwrap_err();
    assert!(
        matches!(e, RegistryError::FailedPrecondition(ref s) if s.contains("no previous champion")),
        "{e}"
    );
}

async fn rollback_never_brings_back_what_a_rollback_retired(r: Registry, _url: String) {
    model_with(&r, "m", 4).await;
    for v in 1..=3 {
        promote(&r, &format!("m:{v}")).await;
    }
    // 3 is retired by a rollback; 4 is promoted over 2.
    assert_eq!(champion(&r.rollback("m", "", "t").await.unwrap()), 2);
    promote(&r, "m:4").await;
    assert_eq!(champion(&r.rollback("m", "", "t").await.unwrap()), 2);
    assert_eq!(champion(&r.rollback("m", "", "t").await.unwrap()), 1);
    assert!(r.rollback("m", "", "t").await.is_err());
    assert_eq!(r.get_version("m:3").await.unwrap().status, Status::Retired);
}

async fn rollback_to_a_named_former_champion(r: Registry, _url: String) {
    model_with(&r, "m", 5).await;
    for v in 1..=4 {
        promote(&r, &format!("m:{v}")).await;
    }
    let (retired, champion) = r
        .rollback_to("m", Some(2), "v2 was fine", "oncall")
        .await
        .unwrap();
    assert_eq!((retired.version, champion.version), (4, 2));
    let events = r.list_events("m", 0, 0).await.unwrap();
    let last: Vec<_> = events
        .iter()
        .rev()
        .take(2)
        .map(|e| {
            (
                e.kind.as_str(),
                e.version,
                e.from.as_str(),
                e.to.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        last,
        [
            ("rollback", Some(2), "retired", "champion", "v2 was fine"),
            ("rollback", Some(4), "champion", "retired", "v2 was fine"),
        ]
    );
    // The chain continues from version 2's own promotion.
    assert_eq!(champion_of_rollback(&r).await, 1);
    // Refusals: the champion, a version never champion, an unknown one.
    let e = r.rollback_to("m", Some(1), "", "t").await.unwrap_err();
    assert!(
        matches!(e, RegistryError::FailedPrecondition(ref s) if s.contains("already the champion")),
        "{e}"
    );
    r.transition_with("m:5", Status::Retired, "", false, "t")
        .await
        .unwrap();
    let e = r.rollback_to("m", Some(5), "", "t").await.unwrap_err();
    assert!(
        matches!(e, RegistryError::FailedPrecondition(ref s) if s.contains("never champion")),
        "{e}"
    );
    let e = r.rollback_to("m", Some(9), "", "t").await.unwrap_err();
    assert!(
        matches!(e, RegistryError::NotFound(ref s) if s.contains("no version 9")),
        "{e}"
    );
}

async fn champion_of_rollback(r: &Registry) -> u64 {
    champion(&r.rollback("m", "", "t").await.unwrap())
}

async fn concurrent_rollbacks_serialize(r: Registry, _url: String) {
    model_with(&r, "m", 11).await;
    for v in 1..=11 {
        promote(&r, &format!("m:{v}")).await;
    }
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.rollback("m", "concurrent", "t").await })
        })
        .collect();
    let mut pairs = Vec::new();
    for t in tasks {
        let (retired, champion) = t.await.unwrap().unwrap();
        pairs.push((retired.version, champion.version));
    }
    // Ten rollbacks, serialised: each retired the champion the previous
    // one left, and together they walked 11 → 1 exactly once each.
    pairs.sort_unstable();
    assert_eq!(pairs, (1..=10).map(|k| (k + 1, k)).collect::<Vec<_>>());
    let m = r.get_model("m").await.unwrap();
    assert_eq!(m.champion_version, Some(1));
    let champions = r
        .list_versions("m", Some(Status::Champion), 0, 0)
        .await
        .unwrap();
    assert_eq!(champions.len(), 1);
}

async fn evaluated_needs_a_recorded_evaluation_or_an_audited_override(r: Registry, _url: String) {
    model_with(&r, "m", 3).await;
    let e = r
        .transition("m:1", Status::Evaluated, "trust me", "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::FailedPrecondition(ref s)
            if s.contains("no passing evaluation recorded") && s.contains("--force-evaluated")),
        "{e}"
    );
    assert_eq!(
        r.get_version("m:1").await.unwrap().status,
        Status::Candidate
    );
    // A failed evaluation does not count; a passing one does.
    let eval = |passed: &str| {
        BTreeMap::from([
            ("eval.run_id".to_owned(), "run-1".to_owned()),
            ("eval.passed".to_owned(), passed.to_owned()),
        ])
    };
    r.annotate("m:1", eval("false"), "", "t").await.unwrap();
    assert!(
        r.transition("m:1", Status::Evaluated, "", "t")
            .await
            .is_err()
    );
    r.annotate("m:1", eval("true"), "", "t").await.unwrap();
    let v = r
        .transition("m:1", Status::Evaluated, "eval run-1 passed", "t")
        .await
        .unwrap();
    assert_eq!(v.status, Status::Evaluated);
    // The override needs a reason and is written to the audit log.
    let e = r
        .transition_with("m:2", Status::Evaluated, "", true, "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidArgument(ref s) if s.starts_with("reason:")),
        "{e}"
    );
    r.transition_with("m:2", Status::Evaluated, "reviewed offline", true, "alice")
        .await
        .unwrap();
    let events = r.list_events("m", 0, 0).await.unwrap();
    let overrides: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "evaluation_overridden")
        .map(|e| (e.version, e.actor.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(overrides, [(Some(2), "alice", "reviewed offline")]);
    // The override applies only to candidate → evaluated.
    let e = r
        .transition_with("m:3", Status::Retired, "x", true, "t")
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidArgument(ref s) if s.starts_with("force_evaluated:")),
        "{e}"
    );
}

async fn lifecycle_moves_touching_an_open_trial_are_refused(r: Registry, _url: String) {
    use joust_registry::trials::{Mode, NewTrial, Outcome};
    model_with(&r, "m", 4).await;
    promote(&r, "m:1").await;
    for v in ["m:2", "m:3", "m:4"] {
        r.transition_with(v, Status::Evaluated, "no evaluation", true, "t")
            .await
            .unwrap();
    }
    promote(&r, "m:4").await;
    let trials = r.trials().unwrap();
    let trial = trials
        .start(
            NewTrial {
                model: "m".into(),
                challenger_version: 2,
                mode: Mode::Shadow,
                weight: 0.0,
                sampling: 1.0,
                sticky: false,
                gates: Default::default(),
                reason: "try v2".into(),
                plan: None,
            },
            "t",
        )
        .await
        .unwrap();
    let refused = |e: RegistryError| match e {
        RegistryError::FailedPrecondition(s) => {
            assert!(s.contains(&format!("trial {}", trial.id)), "{s}");
            assert!(
                s.contains("joust trial stop m --outcome promote|reject"),
                "{s}"
            );
        }
        other => panic!("expected FailedPrecondition, got {other}"),
    };
    let before = r.list_events("m", 0, 0).await.unwrap().len();
    // Promoting another version, retiring the champion, un-evaluating or
    // retiring the challenger, a second challenger, a rollback: refused.
    refused(
        r.transition("m:3", Status::Champion, "", "t")
            .await
            .unwrap_err(),
    );
    refused(
        r.transition("m:4", Status::Retired, "", "t")
            .await
            .unwrap_err(),
    );
    refused(
        r.transition("m:2", Status::Evaluated, "", "t")
            .await
            .unwrap_err(),
    );
    refused(
        r.transition("m:2", Status::Retired, "", "t")
            .await
            .unwrap_err(),
    );
    refused(
        r.transition("m:2", Status::Champion, "", "t")
            .await
            .unwrap_err(),
    );
    refused(
        r.transition("m:3", Status::Challenger, "", "t")
            .await
            .unwrap_err(),
    );
    refused(r.rollback("m", "", "t").await.unwrap_err());
    refused(r.rollback_to("m", Some(1), "", "t").await.unwrap_err());
    // Nothing changed, nothing logged.
    assert_eq!(r.list_events("m", 0, 0).await.unwrap().len(), before);
    assert_eq!(r.get_version("m@champion").await.unwrap().version, 4);
    assert_eq!(r.get_version("m@challenger").await.unwrap().version, 2);
    // Versions outside the trial still move.
    r.transition("m:3", Status::Retired, "not needed", "t")
        .await
        .unwrap();
    // The trial's own stop moves them; afterwards rollback works again.
    let stopped = trials
        .stop("m", Outcome::Promote, "gates held", "t")
        .await
        .unwrap();
    assert_eq!(stopped.outcome, Some(Outcome::Promote));
    assert_eq!(r.get_version("m@champion").await.unwrap().version, 2);
    let (retired, champion) = r.rollback("m", "", "t").await.unwrap();
    assert_eq!((retired.version, champion.version), (2, 4));
}
