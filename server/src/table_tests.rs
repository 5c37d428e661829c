#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::{ModelKind, TrainConfig};
use ndarray::Array2;

use super::*;

fn loaded(name: &str, version: u64) -> Arc<LoadedModel> {
    let x = Array2::from_shape_fn((8, 1), |(i, _)| i as f32);
    let m = Model::train(
        &TrainConfig::new(ModelKind::Noop),
        vec!["a".into()],
        x.view(),
    )
    .unwrap();
    Arc::new(LoadedModel::new(
        name.into(),
        version,
        format!("sha{version}"),
        m,
        Duration::ZERO,
    ))
}

fn r(text: &str) -> ModelRef {
    ModelRef::parse(text).unwrap()
}

#[test]
fn first_ref_of_a_model_answers_unpinned_requests() {
    let table = ModelTable::new(vec![r("m@champion"), r("m@challenger")]);
    assert!(!table.snapshot().ready());
    table.install(&r("m@challenger"), loaded("m", 2));
    // Champion not loaded yet: the challenger is the only version.
    assert_eq!(table.snapshot().resolve("m", None).unwrap().version, 2);
    table.install(&r("m@champion"), loaded("m", 1));
    let s = table.snapshot();
    assert!(s.ready());
    assert_eq!(s.resolve("m", None).unwrap().version, 1);
    assert_eq!(s.resolve("m", Some(2)).unwrap().version, 2);
    assert_eq!(s.versions("m"), [1, 2]);
}

#[test]
fn unknown_model_and_version_are_not_found_and_list_what_is_loaded() {
    let table = ModelTable::new(vec![r("m@champion")]);
    table.install(&r("m@champion"), loaded("m", 3));
    let s = table.snapshot();
    let e = s.resolve("other", None).unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.to_string().contains("loaded: m"), "{e}");
    let e = s.resolve("m", Some(9)).unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.to_string().contains("loaded versions: 3"), "{e}");
}

#[test]
fn a_swap_drops_the_old_version_when_its_last_reader_ends() {
    let table = ModelTable::new(vec![r("m@champion")]);
    let v1 = loaded("m", 1);
    let weak = Arc::downgrade(&v1);
    table.install(&r("m@champion"), v1);
    let in_flight = table.snapshot().resolve("m", None).unwrap();
    let old = table.install(&r("m@champion"), loaded("m", 2));
    assert_eq!(old, Some(1));
    assert_eq!(table.snapshot().versions("m"), [2]);
    // The request that started on v1 still holds it.
    assert_eq!(in_flight.version, 1);
    assert!(weak.upgrade().is_some());
    drop(in_flight);
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_failed_load_keeps_the_old_version_serving() {
    let table = ModelTable::new(vec![r("m@champion")]);
    table.install(&r("m@champion"), loaded("m", 1));
    assert_eq!(table.mark_failed("m@champion", "corrupt".into()), 1);
    assert_eq!(table.mark_failed("m@champion", "corrupt".into()), 2);
    let s = table.snapshot();
    let b = s.binding("m@champion").unwrap();
    assert_eq!(
        (b.state, b.version, b.failures),
        (RefState::Failed, Some(1), 2)
    );
    assert_eq!(s.resolve("m", None).unwrap().version, 1);
    drop(s);
    table.install(&r("m@champion"), loaded("m", 1));
    let s = table.snapshot();
    let b = s.binding("m@champion").unwrap();
    assert_eq!(
        (b.state, b.failures, b.last_error.clone()),
        (RefState::Ready, 0, None)
    );
}

#[test]
fn two_refs_on_one_version_share_it_and_unfollow_collects() {
    let table = ModelTable::new(vec![r("m@champion")]);
    let v = loaded("m", 4);
    table.install(&r("m@champion"), v.clone());
    table.install(&r("m:4"), v);
    assert_eq!(table.snapshot().bindings().len(), 2);
    table.unfollow("m@champion").unwrap();
    assert_eq!(table.snapshot().versions("m"), [4]);
    table.unfollow("m:4").unwrap();
    assert!(table.snapshot().versions("m").is_empty());
    assert_eq!(
        table.unfollow("m:4").unwrap_err().code(),
        tonic::Code::NotFound
    );
}

#[test]
fn a_version_that_lost_its_ref_answers_pinned_requests_for_the_grace() {
    let table =
        ModelTable::new(vec![r("m@champion")]).with_unbound_grace(Duration::from_secs(3600));
    table.install(&r("m@champion"), loaded("m", 1));
    // The champion moves to v2: v1 keeps answering pinned requests…
    table.install(&r("m@champion"), loaded("m", 2));
    let s = table.snapshot();
    assert_eq!(s.versions("m"), [1, 2]);
    assert_eq!(s.resolve("m", None).unwrap().version, 2);
    assert_eq!(s.resolve("m", Some(1)).unwrap().version, 1);
    // …and is bound again without a reload when the ref comes back.
    let v1 = s.get("m", 1).unwrap().clone();
    table.install(&r("m@champion"), v1);
    assert_eq!(table.snapshot().resolve("m", None).unwrap().version, 1);

    // No grace: dropped at once (and by a sweep after the grace).
    let table = ModelTable::new(vec![r("m@champion")]);
    table.install(&r("m@champion"), loaded("m", 1));
    table.install(&r("m@champion"), loaded("m", 2));
    assert_eq!(table.snapshot().versions("m"), [2]);
    let table = ModelTable::new(vec![r("m@champion")]).with_unbound_grace(Duration::from_millis(1));
    table.install(&r("m@champion"), loaded("m", 1));
    table.install(&r("m@champion"), loaded("m", 2));
    std::thread::sleep(Duration::from_millis(5));
    table.sweep();
    assert_eq!(table.snapshot().versions("m"), [2]);
}
