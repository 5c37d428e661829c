//! Model refs and names: `joust_refs` (the one ref grammar the registry,
//! the serving node, the router and the clients share): `VersionRef::parse`,
//! `parse_version`, `validate_name` and `validate_custom_alias` on every
//! `name`, `name:N` and `name@alias` a client or a flag sends.
//!
//! Properties: no panic; a parsed ref prints back to a string that parses
//! to the same ref; its name passes the naming rule; a pinned version is
//! what `parse_version` reads from the text after the colon (after the
//! `v` of the synonym `name:vN`).

#![no_main]

use joust_refs::{VersionRef, parse_version, validate_custom_alias, validate_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = validate_name("name", &text);
    let _ = validate_custom_alias("alias", &text);
    let _ = parse_version("version", &text);
    if let Ok(r) = VersionRef::parse("ref", &text) {
        let printed = r.to_string();
        assert_eq!(
            VersionRef::parse("ref", &printed).as_ref(),
            Ok(&r),
            "{printed:?}"
        );
        assert!(validate_name("name", &r.name).is_ok(), "{text:?}");
        if let Some(v) = r.pinned() {
            // `name:N`, or its synonym `name:vN`.
            let after = text
                .split_once(':')
                .map(|(_, n)| n.strip_prefix('v').unwrap_or(n));
            assert_eq!(after.map(|n| parse_version("v", n)), Some(Ok(v)), "{text:?}");
        }
    }
});
