#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn v(name: &str, selector: Selector) -> Result<VersionRef, &'static str> {
    Ok(VersionRef {
        name: name.to_owned(),
        selector,
    })
}

/// What kind of error a refused input gives (the variant's name).
fn kind(e: &NameError) -> &'static str {
    match e {
        NameError::Empty { .. } => "Empty",
        NameError::TooLong { .. } => "TooLong",
        NameError::BadCharacters { .. } => "BadCharacters",
        NameError::BadRef { .. } => "BadRef",
        NameError::BadVersion { .. } => "BadVersion",
        NameError::ReservedAlias { .. } => "ReservedAlias",
    }
}

#[test]
fn the_grammar_by_table() {
    let long = "a".repeat(MAX_NAME_LEN + 1);
    let longest = "a".repeat(MAX_NAME_LEN);
    let long_alias = format!("m@{long}");
    let alias = |a: &str| Selector::Alias(a.to_owned());
    let table: Vec<(&str, Result<VersionRef, &str>)> = vec![
        // The three forms.
        ("anomaly_detector", v("anomaly_detector", Selector::Default)),
        (
            "anomaly_detector:7",
            v("anomaly_detector", Selector::Version(7)),
        ),
        ("m@champion", v("m", alias("champion"))),
        ("m@challenger", v("m", alias("challenger"))),
        ("m@latest", v("m", alias("latest"))),
        ("fraud@prod_2", v("fraud", alias("prod_2"))),
        ("9lives@prod_2", v("9lives", alias("prod_2"))),
        ("a.b-c_d:1", v("a.b-c_d", Selector::Version(1))),
        ("m:007", v("m", Selector::Version(7))),
        (
            "m:18446744073709551615",
            v("m", Selector::Version(u64::MAX)),
        ),
        (&longest, v(&longest, Selector::Default)),
        // The seeds' spellings, read as the canonical forms.
        ("m:v5", v("m", Selector::Version(5))),
        ("m:v007", v("m", Selector::Version(7))),
        ("m:latest", v("m", alias("latest"))),
        ("m:champion", v("m", alias("champion"))),
        ("m:challenger", v("m", alias("challenger"))),
        ("m:v", Err("BadVersion")),
        ("m:v0", Err("BadVersion")),
        ("m:v+5", Err("BadVersion")),
        ("m:V5", Err("BadVersion")),
        ("m:prod_2", Err("BadVersion")),
        ("m:vx", Err("BadVersion")),
        // Version numbers: digits only, at least 1, fitting in u64.
        ("m:+5", Err("BadVersion")),
        ("m:-1", Err("BadVersion")),
        ("m:0", Err("BadVersion")),
        ("m:", Err("BadVersion")),
        ("m: 5", Err("BadVersion")),
        ("m:5 ", Err("BadVersion")),
        ("m:x", Err("BadVersion")),
        ("m:1.0", Err("BadVersion")),
        ("m:١", Err("BadVersion")),
        ("m:18446744073709551616", Err("BadVersion")),
        ("a::b", Err("BadVersion")),
        ("a:1:2", Err("BadVersion")),
        // Shape.
        ("", Err("Empty")),
        (":1", Err("BadRef")),
        ("@x", Err("BadRef")),
        ("a@", Err("BadRef")),
        ("a:1@x", Err("BadRef")),
        ("a@x:1", Err("BadRef")),
        // Names and aliases.
        ("a b", Err("BadCharacters")),
        ("é", Err("BadCharacters")),
        ("_a", Err("BadCharacters")),
        ("-a", Err("BadCharacters")),
        (".a", Err("BadCharacters")),
        ("_m:1", Err("BadCharacters")),
        ("m@_x", Err("BadCharacters")),
        ("m@.x", Err("BadCharacters")),
        ("m@a@b", Err("BadCharacters")),
        (&long, Err("TooLong")),
        (&long_alias, Err("TooLong")),
    ];
    for (input, want) in table {
        let got = VersionRef::parse("ref", input).map_err(|e| kind(&e));
        assert_eq!(got, want, "{input:?}");
    }
}

#[test]
fn synonyms_print_canonically() {
    for (input, printed) in [
        ("m:v5", "m:5"),
        ("m:latest", "m@latest"),
        ("m:champion", "m@champion"),
        ("m:challenger", "m@challenger"),
    ] {
        let r = VersionRef::parse("ref", input).unwrap();
        assert_eq!(r.to_string(), printed);
        assert_eq!(VersionRef::parse("ref", printed).unwrap(), r);
    }
    assert_eq!(VersionRef::parse("ref", "m:v5").unwrap().pinned(), Some(5));
    assert_eq!(
        VersionRef::parse("ref", "m:champion").unwrap().pinned(),
        None
    );
}

#[test]
fn a_signed_version_is_refused_with_a_clear_message() {
    let e = VersionRef::parse("ref", "name:+5").unwrap_err();
    assert_eq!(
        e.to_string(),
        "ref: expected a version number ≥ 1 (decimal digits only), got \"+5\""
    );
    assert!(parse_version("model_version", "+5").is_err());
    assert_eq!(parse_version("model_version", "5"), Ok(5));
}

#[test]
fn pinned_is_the_version_of_name_n_only() {
    assert_eq!(VersionRef::parse("ref", "m:3").unwrap().pinned(), Some(3));
    assert_eq!(VersionRef::parse("ref", "m").unwrap().pinned(), None);
    assert_eq!(
        VersionRef::parse("ref", "m@champion").unwrap().pinned(),
        None
    );
}

#[test]
fn error_messages_name_the_field() {
    for bad in ["", "a::b", "a:+1", "@x", "_a", "m@"] {
        let e = VersionRef::parse("models[2]", bad).unwrap_err();
        assert!(e.to_string().starts_with("models[2]:"), "{e}");
    }
    let e = validate_name("name", &"x".repeat(300)).unwrap_err();
    assert!(e.to_string().contains("at most 128"), "{e}");
}

#[test]
fn custom_aliases_exclude_reserved_and_numbers() {
    assert!(validate_custom_alias("alias", "prod").is_ok());
    for reserved in RESERVED_ALIASES {
        assert_eq!(
            validate_custom_alias("alias", reserved).map_err(|e| kind(&e)),
            Err("ReservedAlias")
        );
    }
    assert!(validate_custom_alias("alias", "42").is_err());
    assert!(validate_custom_alias("alias", "4x").is_ok());
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.-]{0,30}"
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_without_panic(text in ".{0,60}") {
        let _ = validate_name("name", &text);
        let _ = validate_custom_alias("alias", &text);
        let _ = parse_version("version", &text);
        if let Ok(r) = VersionRef::parse("ref", &text) {
            // Whatever parses prints back to a ref that parses the same,
            // and names a valid model.
            prop_assert_eq!(VersionRef::parse("ref", &r.to_string()), Ok(r.clone()));
            prop_assert!(validate_name("name", &r.name).is_ok());
        }
    }

    #[test]
    fn refs_of_the_grammar_alphabet_round_trip(text in "[a-z0-9_.:@+-]{0,12}") {
        if let Ok(r) = VersionRef::parse("ref", &text) {
            prop_assert_eq!(VersionRef::parse("ref", &r.to_string()), Ok(r));
        }
    }

    #[test]
    fn valid_refs_round_trip(name in name(), alias in name(), v in 1u64..) {
        for r in [
            VersionRef { name: name.clone(), selector: Selector::Default },
            VersionRef { name: name.clone(), selector: Selector::Version(v) },
            VersionRef { name: name.clone(), selector: Selector::Alias(alias.clone()) },
        ] {
            let text = r.to_string();
            prop_assert_eq!(VersionRef::parse("ref", &text), Ok(r));
        }
    }

    #[test]
    fn versions_are_exactly_the_positive_decimals(v in 1u64.., sign in "[+-]") {
        prop_assert_eq!(parse_version("v", &v.to_string()), Ok(v));
        let signed_number = format!("{sign}{v}");
        prop_assert!(parse_version("v", &signed_number).is_err());
        let signed = format!("m:{sign}{v}");
        prop_assert!(VersionRef::parse("ref", &signed).is_err());
    }

    #[test]
    fn names_outside_the_rule_are_refused(
        prefix in "[_.-]",
        rest in "[A-Za-z0-9_.-]{0,10}",
        bad in "[^A-Za-z0-9_.:@-]",
    ) {
        let leading = format!("{prefix}{rest}");
        let inner = format!("a{rest}{bad}");
        let in_ref = format!("a{bad}:1");
        prop_assert!(validate_name("name", &leading).is_err());
        prop_assert!(validate_name("name", &inner).is_err());
        prop_assert!(VersionRef::parse("ref", &in_ref).is_err());
    }
}
