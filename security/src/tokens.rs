//! Static bearer tokens from a file, for small installs. Tokens are kept
//! only as SHA-256 digests, so a lookup does not compare secret bytes and
//! a memory dump does not show them.
//!
//! Formats (chosen by the first non-blank character):
//!
//! ```text
//! # TOKEN                              SUBJECT    ROLES
//! 8f2c0c1e5b9d4a7f9e3b2a1c6d5e4f3a     ci-bot     operator
//! 5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d     grafana    reader
//! 0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b     router-1   reader,operator
//! ```
//!
//! or JSON: `[{"token": "…", "subject": "ci-bot", "roles": ["operator"]}]`.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{SecurityError, read_file};
use crate::identity::Identity;
use crate::roles::{Role, parse_roles};

/// Shortest token accepted: guessing must be out of reach.
pub const MIN_TOKEN_LEN: usize = 16;

const FLAG: &str = "--auth-tokens-file";

/// The tokens of a `--auth-tokens-file`.
#[derive(Clone, Default)]
pub struct StaticTokens {
    by_digest: HashMap<[u8; 32], Identity>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTokens")
            .field("tokens", &self.by_digest.len())
            .finish()
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    token: String,
    subject: String,
    roles: Vec<String>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl StaticTokens {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self, SecurityError> {
        let bytes = read_file(FLAG, path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| SecurityError::bad_file(FLAG, path, "expected UTF-8 text"))?;
        Self::parse(&text).map_err(|reason| SecurityError::bad_file(FLAG, path, reason))
    }

    /// Parses the text of a tokens file; the error says where and what.
    pub fn parse(text: &str) -> Result<Self, String> {
        let entries = if text.trim_start().starts_with('[') {
            let list: Vec<JsonEntry> = serde_json::from_str(text).map_err(|e| {
                format!("expected a JSON array of {{\"token\", \"subject\", \"roles\"}}: {e}")
            })?;
            list.into_iter()
                .enumerate()
                .map(|(i, e)| {
                    let roles = parse_roles(&e.roles.join(","))
                        .map_err(|r| format!("entry {}: roles: {r}", i + 1))?;
                    Ok((format!("entry {}", i + 1), e.token, e.subject, roles))
                })
                .collect::<Result<Vec<_>, String>>()?
        } else {
            let mut entries = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [token, subject, roles] = fields[..] else {
                    return Err(format!(
                        "line {}: expected `TOKEN SUBJECT ROLE[,ROLE]`, got {} fields",
                        n + 1,
                        fields.len()
                    ));
                };
                let roles = parse_roles(roles).map_err(|r| format!("line {}: {r}", n + 1))?;
                entries.push((
                    format!("line {}", n + 1),
                    token.to_owned(),
                    subject.to_owned(),
                    roles,
                ));
            }
            entries
        };
        let mut by_digest = HashMap::new();
        for (at, token, subject, roles) in entries {
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(format!(
                    "{at}: token too short: expected at least {MIN_TOKEN_LEN} characters"
                ));
            }
            if subject.is_empty() || subject.len() > 256 {
                return Err(format!("{at}: subject: expected 1 to 256 characters"));
            }
            let identity = Identity::new(subject, roles);
            if by_digest.insert(digest(&token), identity).is_some() {
                return Err(format!("{at}: the same token appears twice"));
            }
        }
        if by_digest.is_empty() {
            return Err("no token in the file".to_owned());
        }
        Ok(Self { by_digest })
    }

    /// The identity of `token`, if it is one of the file's.
    pub fn lookup(&self, token: &str) -> Option<&Identity> {
        self.by_digest.get(&digest(token))
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// Roles handed out by this file (for the start-up summary).
    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self
            .by_digest
            .values()
            .flat_map(|i| i.roles.iter().copied())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_json() {
        let t = StaticTokens::parse(
            "# comment\n\naaaaaaaaaaaaaaaa alice reader\nbbbbbbbbbbbbbbbb bob operator,reader\n",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        let bob = t.lookup("bbbbbbbbbbbbbbbb").unwrap();
        assert_eq!(bob.subject, "bob");
        assert_eq!(bob.roles, vec![Role::Operator, Role::Reader]);
        assert!(t.lookup("cccccccccccccccc").is_none());

        let j = StaticTokens::parse(
            r#"[{"token": "aaaaaaaaaaaaaaaa", "subject": "ci", "roles": ["admin"]}]"#,
        )
        .unwrap();
        assert_eq!(
            j.lookup("aaaaaaaaaaaaaaaa").unwrap().roles,
            vec![Role::Admin]
        );
    }

    #[test]
    fn bad_files_say_where() {
        let e = StaticTokens::parse("aaaaaaaaaaaaaaaa alice\n")
            .err()
            .unwrap();
        assert!(
            e.contains("line 1") && e.contains("TOKEN SUBJECT ROLE"),
            "{e}"
        );
        let e = StaticTokens::parse("short alice reader\n").err().unwrap();
        assert!(e.contains("too short"), "{e}");
        let e = StaticTokens::parse("aaaaaaaaaaaaaaaa alice root\n")
            .err()
            .unwrap();
        assert!(e.contains("line 1") && e.contains("root"), "{e}");
        let e = StaticTokens::parse("aaaaaaaaaaaaaaaa a reader\naaaaaaaaaaaaaaaa b reader\n")
            .err()
            .unwrap();
        assert!(e.contains("line 2") && e.contains("twice"), "{e}");
        assert!(StaticTokens::parse("# nothing\n").is_err());
    }
}
