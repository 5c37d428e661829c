//! The crate's error: bad security configuration, found at start-up.

/// A security setting that cannot be used. Every message names the flag
/// and, for files, the path, and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A file named by a flag could not be read.
    #[error("{flag} {path}: cannot read the file: {source}")]
    Read {
        flag: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what the flag expects.
    #[error("{flag} {path}: {reason}")]
    BadFile {
        flag: &'static str,
        path: String,
        reason: String,
    },
    /// Flags that do not fit together, or a bad value.
    #[error("{0}")]
    Config(String),
}

impl SecurityError {
    pub(crate) fn read(flag: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        SecurityError::Read {
            flag,
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn bad_file(
        flag: &'static str,
        path: &std::path::Path,
        reason: impl Into<String>,
    ) -> Self {
        SecurityError::BadFile {
            flag,
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// Reads a file named by `flag`.
pub(crate) fn read_file(
    flag: &'static str,
    path: &std::path::Path,
) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|e| SecurityError::read(flag, path, e))
}

/// Reads a one-line secret (surrounding whitespace trimmed; empty refused).
pub(crate) fn read_secret(
    flag: &'static str,
    path: &std::path::Path,
) -> Result<String, SecurityError> {
    let bytes = read_file(flag, path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| SecurityError::bad_file(flag, path, "expected UTF-8 text"))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecurityError::bad_file(flag, path, "the file is empty"));
    }
    Ok(trimmed.to_owned())
}
