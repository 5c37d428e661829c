//! Model refs and names: the registry's `VersionRef::parse`,
//! `validate_name` and `validate_custom_alias` (every `name`, `name:N`
//! and `name@alias` a client sends), and the serving node's
//! `ModelRef::parse` (its `--model` flags and `Reload` requests).
//!
//! Properties: no panic; a parsed ref prints back to a string that parses
//! to the same ref; and the node accepts exactly the refs the registry
//! accepts, naming the same model and pinned version (a ref the node took
//! but the registry refused would leave the node retrying forever).

#![no_main]

use libfuzzer_sys::fuzz_target;

// The registry's naming rules are pure (std and thiserror only). They are
// included by path so this fuzz build does not compile the registry's
// database and object-store stack.
#[allow(dead_code, clippy::all)]
#[path = "../../registry/src/names.rs"]
mod names;

use names::{Selector, VersionRef, validate_custom_alias, validate_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = validate_name("name", &text);
    let _ = validate_custom_alias("alias", &text);
    let registry = VersionRef::parse("ref", &text);
    if let Ok(r) = &registry {
        let printed = r.to_string();
        assert_eq!(
            VersionRef::parse("ref", &printed).as_ref(),
            Ok(r),
            "{printed:?}"
        );
        assert!(validate_name("name", &r.name).is_ok());
    }
    let node = joust_server::ModelRef::parse(&text);
    match (&registry, &node) {
        (Ok(r), Ok(n)) => {
            assert_eq!(r.name, n.model, "{text:?}");
            let pinned = match r.selector {
                Selector::Version(v) => Some(v),
                _ => None,
            };
            assert_eq!(pinned, n.pinned, "{text:?}");
        }
        (Err(_), Err(_)) => {}
        (r, n) => panic!("registry and node disagree on {text:?}: registry {r:?}, node {n:?}"),
    }
});
