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

fn phases(table: &ModelTable) -> Vec<String> {
    crate::serving_state::versions(&table.snapshot())
        .iter()
        .map(|v| {
            format!(
                "{}:{} {} [{}]{}",
                v.model,
                v.version,
                v.phase.as_str(),
                v.refs.join(","),
                if v.reason.is_empty() {
                    String::new()
                } else {
                    format!(" {}", v.reason)
                }
            )
        })
        .collect()
}

#[test]
fn the_serving_state_follows_loading_ready_refused_and_draining() {
    let table =
        ModelTable::new(vec![r("m@champion")]).with_unbound_grace(Duration::from_secs(3600));
    let generation = || table.serving_state().current().generation;
    let g0 = generation();
    table.begin_load(&r("m@champion"), 1);
    assert_eq!(phases(&table), ["m:1 loading [m@champion]"]);
    table.install(&r("m@champion"), loaded("m", 1));
    assert_eq!(phases(&table), ["m:1 ready [m@champion]"]);
    assert_eq!(generation(), g0 + 2);

    // A refused v2: v1 keeps serving; a retry of v2 stays refused.
    table.begin_load(&r("m@champion"), 2);
    table.refuse(&r("m@champion"), 2, "corrupt".into());
    let expected = ["m:1 ready [m@champion]", "m:2 refused [m@champion] corrupt"];
    assert_eq!(phases(&table), expected);
    let g = generation();
    table.begin_load(&r("m@champion"), 2);
    table.refuse(&r("m@champion"), 2, "corrupt".into());
    assert_eq!(phases(&table), expected);
    assert_eq!(generation(), g, "no change, no new generation");
    assert!(table.snapshot().ready());

    // v3 loads: the refusal of v2 is forgotten, v1 drains.
    table.begin_load(&r("m@champion"), 3);
    table.install(&r("m@champion"), loaded("m", 3));
    assert_eq!(
        phases(&table),
        ["m:1 draining []", "m:3 ready [m@champion]"]
    );
    assert!(table.next_expiry().is_some());
}

#[test]
fn unfollowed_refs_leave_no_trace_and_a_transient_failure_is_not_a_refusal() {
    let table = ModelTable::new(vec![r("m@champion")]);
    // Not followed: a Reload of a new ref is recorded only once it loads.
    table.begin_load(&r("m:7"), 7);
    table.refuse(&r("m:7"), 7, "corrupt".into());
    assert!(phases(&table).is_empty());
    table.begin_load(&r("m@champion"), 1);
    assert_eq!(
        table.abandon_load(&r("m@champion"), 1, "unreachable".into()),
        1
    );
    assert!(phases(&table).is_empty());
    assert_eq!(
        table.snapshot().binding("m@champion").unwrap().state,
        RefState::Failed
    );
    assert!(!table.snapshot().ready());
}

#[test]
fn readiness_waits_for_champions_not_for_an_absent_challenger() {
    let table = ModelTable::new(vec![r("m@champion"), r("m@challenger")]);
    assert!(!table.snapshot().ready());
    table.mark_absent(&r("m@challenger"));
    assert!(!table.snapshot().ready());
    // Unpinned requests while the champion loads: UNAVAILABLE, not
    // NOT_FOUND, so a router tries another node.
    let e = table.snapshot().resolve("m", None).unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    assert!(e.to_string().contains("m@champion loading"), "{e}");
    table.install(&r("m@champion"), loaded("m", 1));
    assert!(table.snapshot().ready());
    // A challenger whose alias goes is unbound and (no grace) dropped.
    table.install(&r("m@challenger"), loaded("m", 2));
    table.mark_absent(&r("m@challenger"));
    let s = table.snapshot();
    assert_eq!(s.versions("m"), [1]);
    assert_eq!(s.binding("m@challenger").unwrap().state, RefState::Absent);
    assert!(s.ready());
    // A champion refused with nothing loaded is a settled verdict: it
    // does not hold the node's readiness (its other models serve).
    let table = ModelTable::new(vec![r("m@champion"), r("n@champion")]);
    table.install(&r("n@champion"), loaded("n", 1));
    table.refuse(&r("m@champion"), 1, "corrupt".into());
    assert!(table.snapshot().ready());
}
