//! Naming rules and reference parsing (pure).
//!
//! A name (model, dataset or alias) is 1 to 128 characters from
//! `A-Z a-z 0-9 _ - .`, starting with a letter or a digit. A reference to a
//! version is one of:
//! - `name` — the champion if there is one, else the latest version;
//! - `name:N` — version N (N ≥ 1);
//! - `name@alias` — `champion`, `challenger`, `latest` or a custom alias.

use std::fmt;

/// Longest accepted name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// Aliases computed from status and version numbers; they cannot be set.
pub const RESERVED_ALIASES: [&str; 3] = ["champion", "challenger", "latest"];

/// Why a name or a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{field}: expected a name, got an empty string")]
    Empty { field: &'static str },
    #[error("{field}: expected at most {MAX_NAME_LEN} characters, got {len}")]
    TooLong { field: &'static str, len: usize },
    #[error(
        "{field}: expected letters, digits, '_', '-' or '.' starting with a letter or digit, got {value:?}"
    )]
    BadCharacters { field: &'static str, value: String },
    #[error("{field}: expected `name`, `name:N` or `name@alias`, got {value:?}")]
    BadRef { field: &'static str, value: String },
    #[error("{field}: expected a version number ≥ 1, got {value:?}")]
    BadVersion { field: &'static str, value: String },
    #[error("{field}: {value:?} is reserved (champion, challenger and latest are computed)")]
    ReservedAlias { field: &'static str, value: String },
}

/// Checks a name against the naming rule; `field` names the request field
/// in the error.
pub fn validate_name(field: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { field });
    }
    let len = value.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong { field, len });
    }
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !first_ok || !rest_ok {
        return Err(NameError::BadCharacters {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Checks a custom alias: a valid name that is not reserved and not all
/// digits (so it cannot be confused with a version number).
pub fn validate_custom_alias(field: &'static str, value: &str) -> Result<(), NameError> {
    validate_name(field, value)?;
    if RESERVED_ALIASES.contains(&value) {
        return Err(NameError::ReservedAlias {
            field,
            value: value.to_owned(),
        });
    }
    if value.chars().all(|c| c.is_ascii_digit()) {
        return Err(NameError::BadCharacters {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// What a reference points at, within one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Bare name: the champion, else the latest version.
    Default,
    Version(u64),
    Alias(String),
}

/// A parsed reference to a model version (or dataset version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub name: String,
    pub selector: Selector,
}

impl VersionRef {
    /// Parses `name`, `name:N` or `name@alias`.
    pub fn parse(field: &'static str, input: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadRef {
            field,
            value: input.to_owned(),
        };
        if input.is_empty() {
            return Err(NameError::Empty { field });
        }
        let colon = input.find(':');
        let at = input.find('@');
        let (name, selector) = match (colon, at) {
            (Some(_), Some(_)) => return Err(bad()),
            (Some(i), None) => {
                let (name, rest) = (&input[..i], &input[i + 1..]);
                let n: u64 = rest.parse().map_err(|_| NameError::BadVersion {
                    field,
                    value: rest.to_owned(),
                })?;
                if n == 0 {
                    return Err(NameError::BadVersion {
                        field,
                        value: rest.to_owned(),
                    });
                }
                (name, Selector::Version(n))
            }
            (None, Some(i)) => {
                let (name, alias) = (&input[..i], &input[i + 1..]);
                if alias.is_empty() {
                    return Err(bad());
                }
                validate_name(field, alias)?;
                (name, Selector::Alias(alias.to_owned()))
            }
            (None, None) => (input, Selector::Default),
        };
        if name.is_empty() {
            return Err(bad());
        }
        validate_name(field, name)?;
        Ok(Self {
            name: name.to_owned(),
            selector,
        })
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Default => write!(f, "{}", self.name),
            Selector::Version(n) => write!(f, "{}:{n}", self.name),
            Selector::Alias(a) => write!(f, "{}@{a}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let r = VersionRef::parse("ref", "anomaly_detector").unwrap();
        assert_eq!(r.selector, Selector::Default);
        let r = VersionRef::parse("ref", "anomaly_detector:7").unwrap();
        assert_eq!(r.selector, Selector::Version(7));
        let r = VersionRef::parse("ref", "m@champion").unwrap();
        assert_eq!(r.selector, Selector::Alias("champion".into()));
        assert_eq!(r.to_string(), "m@champion");
    }

    #[test]
    fn refuses_malformed_refs() {
        let long = "a".repeat(300);
        for bad in [
            "", "a::b", "a:", ":1", "@x", "a@", "a:0", "a:-1", "a:1@x", "a b", "é", "_a", &long,
        ] {
            assert!(VersionRef::parse("ref", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_messages_name_the_field() {
        let e = VersionRef::parse("ref", "a::b").unwrap_err();
        assert!(e.to_string().starts_with("ref:"), "{e}");
        let e = validate_name("name", &"x".repeat(300)).unwrap_err();
        assert!(e.to_string().contains("at most 128"), "{e}");
    }

    fn name() -> impl proptest::strategy::Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9_.-]{0,30}"
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in ".{0,60}") {
            let _ = validate_name("name", &text);
            let _ = validate_custom_alias("alias", &text);
            if let Ok(r) = VersionRef::parse("ref", &text) {
                // Whatever parses prints back to a ref that parses the same.
                proptest::prop_assert_eq!(VersionRef::parse("ref", &r.to_string()), Ok(r));
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
                proptest::prop_assert_eq!(VersionRef::parse("ref", &text), Ok(r));
            }
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
            proptest::prop_assert!(validate_name("name", &leading).is_err());
            proptest::prop_assert!(validate_name("name", &inner).is_err());
            proptest::prop_assert!(VersionRef::parse("ref", &in_ref).is_err());
        }
    }

    #[test]
    fn custom_aliases_exclude_reserved_and_numbers() {
        assert!(validate_custom_alias("alias", "prod").is_ok());
        assert!(validate_custom_alias("alias", "champion").is_err());
        assert!(validate_custom_alias("alias", "42").is_err());
    }
}
