//! joust-refs: the naming rules and the ref grammar, in one place for the
//! registry (which resolves refs), the serving node (which follows them),
//! the router and every client. Pure: std and thiserror only, no
//! transport, no storage.
//!
//! A name (model, dataset or alias) is 1 to 128 characters from
//! `A-Z a-z 0-9 _ - .`, starting with a letter or a digit. A reference to a
//! version is one of:
//! - `name` — the champion if there is one, else the latest version;
//! - `name:N` — version N (N ≥ 1, decimal digits only);
//! - `name@alias` — `champion`, `challenger`, `latest` or a custom alias.
//!
//! The spellings of the systems joust replaces are synonyms, read as the
//! canonical form (and printed canonically): `name:vN` = `name:N`, and
//! `name:latest`, `name:champion`, `name:challenger` = `name@…`. Custom
//! aliases take `@` only.

use std::fmt;

#[cfg(test)]
mod tests;

/// Longest accepted name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// Aliases computed from status and version numbers; they cannot be set.
pub const RESERVED_ALIASES: [&str; 3] = ["champion", "challenger", "latest"];

/// Why a name or a reference was refused. Every message starts with the
/// field it is about.
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
    #[error("{field}: expected a version number ≥ 1 (decimal digits only), got {value:?}")]
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
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
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

/// Parses a version number: decimal digits only (no sign, no spaces), at
/// least 1, fitting in a `u64`. (`str::parse::<u64>` alone would take
/// `+5`.)
pub fn parse_version(field: &'static str, text: &str) -> Result<u64, NameError> {
    let bad = || NameError::BadVersion {
        field,
        value: text.to_owned(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad()),
    }
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

/// What follows `:`: a version number, or a synonym (`vN`, a reserved
/// alias).
fn after_colon(field: &'static str, text: &str) -> Result<Selector, NameError> {
    if RESERVED_ALIASES.contains(&text) {
        return Ok(Selector::Alias(text.to_owned()));
    }
    match text.strip_prefix('v') {
        Some(digits) if digits.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
            parse_version(field, digits).map(Selector::Version)
        }
        _ => parse_version(field, text).map(Selector::Version),
    }
}

impl VersionRef {
    /// Parses `name`, `name:N` or `name@alias` (and the synonyms
    /// `name:vN`, `name:latest`, `name:champion`, `name:challenger`); `field` names the request
    /// field (or flag) in the error.
    pub fn parse(field: &'static str, input: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadRef {
            field,
            value: input.to_owned(),
        };
        if input.is_empty() {
            return Err(NameError::Empty { field });
        }
        let (name, selector) = match (input.find(':'), input.find('@')) {
            (Some(_), Some(_)) => return Err(bad()),
            (Some(i), None) => (&input[..i], after_colon(field, &input[i + 1..])?),
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

    /// `Some(n)` for `name:n`: a ref that never moves.
    pub fn pinned(&self) -> Option<u64> {
        match self.selector {
            Selector::Version(n) => Some(n),
            Selector::Default | Selector::Alias(_) => None,
        }
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
