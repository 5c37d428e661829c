//! Register-time artifact checks, on SQLite and PostgreSQL through the
//! domain API: a version's bytes must hold what its declared kind says
//! (unknown kinds refused, listing the known ones; `opaque` stored
//! unchecked), and a refused registration records nothing — no version,
//! no event, no blob.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use joust_models::ModelKind;
use joust_registry::{BlobStore, Limits, Registry, RegistryError, S3Options, VersionMeta};
use joust_tests::TestDatabase;
use joust_tests::node::artifact;

async fn sqlite() -> (Registry, Option<TestDatabase>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/r.db", dir.path().display());
    let store = joust_registry::store::open(&url).await.unwrap();
    let blobs = BlobStore::open("memory://", &S3Options::default()).unwrap();
    (Registry::new(store, blobs, Limits::default()), None, dir)
}

async fn postgres() -> (Registry, Option<TestDatabase>, tempfile::TempDir) {
    let db = TestDatabase::create().await.unwrap();
    let store = joust_registry::store::open(&db.url).await.unwrap();
    let blobs = BlobStore::open("memory://", &S3Options::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    (
        Registry::new(store, blobs, Limits::default()),
        Some(db),
        dir,
    )
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { let (r, _db, _dir) = super::sqlite().await; super::$name(r).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { let (r, _db, _dir) = super::postgres().await; super::$name(r).await } )* }
    };
}

both!(
    unknown_kinds_are_refused_listing_the_known_ones,
    bytes_that_do_not_decode_as_their_kind_record_nothing,
    a_valid_artifact_and_opaque_bytes_are_recorded,
);

async fn register(r: &Registry, kind: &str, body: Vec<u8>) -> Result<u64, RegistryError> {
    let meta = VersionMeta {
        model: "m".into(),
        kind: kind.into(),
        ..Default::default()
    };
    let body = futures::stream::iter(vec![Ok::<_, RegistryError>(Bytes::from(body))]);
    r.register_version(meta, body, "t")
        .await
        .map(|(v, _)| v.version)
}

/// (latest version, events of `m`, blobs stored).
async fn recorded(r: &Registry) -> (u64, usize, usize) {
    (
        r.get_model("m").await.unwrap().latest_version,
        r.list_events("m", 0, 0).await.unwrap().len(),
        r.blobs().object_count().await.unwrap(),
    )
}

fn invalid(e: RegistryError) -> String {
    match e {
        RegistryError::InvalidArgument(m) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

async fn unknown_kinds_are_refused_listing_the_known_ones(r: Registry) {
    r.create_model("m", "", "t").await.unwrap();
    let before = recorded(&r).await;
    let good = artifact(ModelKind::Noop, 3, 1);
    for kind in ["no_such_kind", "", "Noop"] {
        let msg = invalid(register(&r, kind, good.clone()).await.unwrap_err());
        assert_eq!(
            msg,
            format!(
                "metadata.kind: expected one of isolation_forest, one_class_svm, gaussian_mixture, noop, onnx, opaque, got `{kind}`"
            )
        );
    }
    assert_eq!(recorded(&r).await, before);
}

async fn bytes_that_do_not_decode_as_their_kind_record_nothing(r: Registry) {
    r.create_model("m", "", "t").await.unwrap();
    let before = recorded(&r).await;
    let random: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let msg = invalid(register(&r, "isolation_forest", random).await.unwrap_err());
    assert!(
        msg.starts_with(
            "chunk: expected an artifact of kind isolation_forest: not a joust model artifact"
        ) && msg.ends_with("nothing was recorded"),
        "{msg}"
    );
    // A valid artifact declared as another kind.
    let msg = invalid(
        register(&r, "isolation_forest", artifact(ModelKind::Noop, 3, 1))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("declared isolation_forest, but the artifact holds a model of kind noop"),
        "{msg}"
    );
    // A valid artifact with one flipped byte (checksum).
    let mut flipped = artifact(ModelKind::IsolationForest, 3, 1);
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let msg = invalid(register(&r, "isolation_forest", flipped).await.unwrap_err());
    assert!(msg.contains("checksum mismatch"), "{msg}");
    // No version row, no event, and no blob (checked before writing).
    assert_eq!(recorded(&r).await, before);
}

async fn a_valid_artifact_and_opaque_bytes_are_recorded(r: Registry) {
    r.create_model("m", "", "t").await.unwrap();
    let v1 = register(
        &r,
        "isolation_forest",
        artifact(ModelKind::IsolationForest, 3, 1),
    )
    .await
    .unwrap();
    let v2 = register(&r, "opaque", b"a report, never served".to_vec())
        .await
        .unwrap();
    assert_eq!((v1, v2), (1, 2));
    assert_eq!(r.get_version("m:1").await.unwrap().kind, "isolation_forest");
    assert_eq!(r.get_version("m:2").await.unwrap().kind, "opaque");
    assert_eq!(recorded(&r).await.2, 2);
}
