//! Keeping secrets out of logs: a [`Secret`] string whose `Debug` and
//! `Display` never show it, and [`redact_url`] for connection strings.

use std::fmt;

/// A secret value (token, password, key). Formatting it prints
/// `REDACTED`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// `url` with its password (and any `password=` / `sslpassword=` query
/// value) replaced by `REDACTED`, for logs. Text that is not a URL is
/// returned as `REDACTED` when it contains `@` (it may hold credentials),
/// else unchanged.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("REDACTED"));
            }
            if u.query().is_some() {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let secret =
                            k.contains("password") || k.contains("secret") || k.contains("token");
                        (
                            k.into_owned(),
                            if secret {
                                "REDACTED".to_owned()
                            } else {
                                v.into_owned()
                            },
                        )
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) if url.contains('@') => "REDACTED".to_owned(),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        let r = redact_url("postgres://joust:hunter2@db:5432/joust?sslmode=require&password=x2");
        assert!(!r.contains("hunter2") && !r.contains("x2"), "{r}");
        assert!(
            r.contains("joust@db:5432") || r.contains("joust:REDACTED@db"),
            "{r}"
        );
        assert!(r.contains("sslmode=require"), "{r}");
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
        assert_eq!(redact_url("not a url user:pw@host"), "REDACTED");
    }

    #[test]
    fn secrets_never_format() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s} {s:?}"), "REDACTED Secret(REDACTED)");
        assert_eq!(s.expose(), "tok-123");
    }
}
