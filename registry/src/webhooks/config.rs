//! Webhook configuration: the endpoints (name, URL, the event kinds each
//! wants, its signing secret) and the delivery policy (attempts, backoff,
//! timeout, concurrency), parsed from the JSON file `--webhooks FILE`
//! names and validated before the registry binds a port. Errors name the
//! field (`endpoints[1].url: …`). Secrets never appear in `Debug`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{RegistryError, Result};

use super::kinds;

/// One receiver.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Unique, `[A-Za-z0-9_.-]{1,64}`: the delivery log and metrics label.
    pub name: String,
    /// `http://` or `https://`.
    pub url: url::Url,
    /// Webhook kinds (`model_promoted`, …), audit kinds (`trial_started`,
    /// …) or `*` for every event.
    pub events: BTreeSet<String>,
    /// The HMAC-SHA256 key of `X-Joust-Signature`.
    pub secret: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &joust_security::redact_url(self.url.as_str()))
            .field("events", &self.events)
            .field("secret", &"(redacted)")
            .finish()
    }
}

impl Endpoint {
    /// True when this endpoint subscribes to an audit event of
    /// `audit_kind` whose webhook kind is `kind`.
    pub fn wants(&self, kind: &str, audit_kind: &str) -> bool {
        self.events.contains("*") || self.events.contains(kind) || self.events.contains(audit_kind)
    }
}

/// The delivery policy and the endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub endpoints: Vec<Endpoint>,
    /// Attempts before a delivery is marked `failed` (>= 1).
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each one.
    pub backoff_initial: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// Time one POST may take (connect, send, answer).
    pub timeout: Duration,
    /// Deliveries in flight at once per endpoint.
    pub concurrency: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            max_attempts: 8,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            concurrency: 4,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    endpoints: Vec<FileEndpoint>,
    max_attempts: Option<u32>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    timeout_ms: Option<u64>,
    concurrency: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoint {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    secret_env: Option<String>,
}

fn bad(field: String, message: impl std::fmt::Display) -> RegistryError {
    RegistryError::Config(format!("webhooks: {field}: {message}"))
}

impl WebhookConfig {
    /// Parses and validates the JSON text of a webhooks file. `env` looks
    /// up the variable an endpoint's `secret_env` names (the binary passes
    /// `std::env::var`; this library never reads the environment).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let file: FileConfig = serde_json::from_str(text)
            .map_err(|e| RegistryError::Config(format!("webhooks: expected a JSON object like {{\"endpoints\": [{{\"name\", \"url\", \"events\", \"secret\"}}]}}, got: {e}")))?;
        let defaults = Self::default();
        let ms = Duration::from_millis;
        let config = Self {
            max_attempts: file.max_attempts.unwrap_or(defaults.max_attempts),
            backoff_initial: file.backoff_initial_ms.map_or(defaults.backoff_initial, ms),
            backoff_max: file.backoff_max_ms.map_or(defaults.backoff_max, ms),
            timeout: file.timeout_ms.map_or(defaults.timeout, ms),
            concurrency: file.concurrency.unwrap_or(defaults.concurrency),
            endpoints: file
                .endpoints
                .into_iter()
                .enumerate()
                .map(|(i, e)| endpoint(i, e, &env))
                .collect::<Result<_>>()?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the policy and that endpoint names are unique.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(bad("max_attempts".into(), "expected at least 1, got 0"));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(bad(
                "concurrency".into(),
                format!("expected 1 to 64, got {}", self.concurrency),
            ));
        }
        if self.timeout.is_zero() {
            return Err(bad("timeout_ms".into(), "expected more than 0, got 0"));
        }
        if self.backoff_initial.is_zero() || self.backoff_max < self.backoff_initial {
            return Err(bad(
                "backoff_initial_ms".into(),
                format!(
                    "expected more than 0 and at most backoff_max_ms ({} ms), got {} ms",
                    self.backoff_max.as_millis(),
                    self.backoff_initial.as_millis()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            if !seen.insert(e.name.as_str()) {
                return Err(bad(
                    format!("endpoints[{i}].name"),
                    format!("expected a unique name, got {:?} twice", e.name),
                ));
            }
        }
        Ok(())
    }

    /// The wait before attempt `attempt + 1` after `attempt` failed ones.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

fn endpoint(i: usize, e: FileEndpoint, env: &impl Fn(&str) -> Option<String>) -> Result<Endpoint> {
    let field = |f: &str| format!("endpoints[{i}].{f}");
    let name = e.name.ok_or_else(|| bad(field("name"), "missing"))?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(bad(
            field("name"),
            format!("expected 1 to 64 of [A-Za-z0-9_.-], got {name:?}"),
        ));
    }
    let raw = e.url.ok_or_else(|| bad(field("url"), "missing"))?;
    let url = url::Url::parse(&raw).map_err(|err| {
        bad(
            field("url"),
            format!("expected an http(s) URL, got {raw:?} ({err})"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            field("url"),
            format!("expected an http:// or https:// URL with a host, got {raw:?}"),
        ));
    }
    let events = e.events.ok_or_else(|| bad(field("events"), "missing"))?;
    if events.is_empty() {
        return Err(bad(
            field("events"),
            format!(
                "expected at least one kind (or \"*\"); kinds: {}",
                kinds::ALL.join(", ")
            ),
        ));
    }
    for (j, k) in events.iter().enumerate() {
        if !kinds::is_known(k) {
            return Err(bad(
                format!("endpoints[{i}].events[{j}]"),
                format!(
                    "expected \"*\", a webhook kind ({}) or an audit kind, got {k:?}",
                    kinds::ALL.join(", ")
                ),
            ));
        }
    }
    let secret = match (e.secret, e.secret_env) {
        (Some(s), None) => s,
        (None, Some(var)) => env(&var).ok_or_else(|| {
            bad(
                field("secret_env"),
                format!("the environment variable {var:?} is not set"),
            )
        })?,
        (Some(_), Some(_)) => {
            return Err(bad(field("secret"), "give secret or secret_env, not both"));
        }
        (None, None) => return Err(bad(field("secret"), "missing (or secret_env)")),
    };
    if secret.len() < 16 {
        return Err(bad(
            field("secret"),
            format!("expected at least 16 bytes, got {}", secret.len()),
        ));
    }
    Ok(Endpoint {
        name,
        url,
        events: events.into_iter().collect(),
        secret,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebhookConfig> {
        WebhookConfig::parse(text, |v| (v == "HOOK_SECRET").then(|| "s".repeat(20)))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_endpoints_and_policy() {
        let c = parse(
            r#"{"endpoints": [
                {"name": "ops", "url": "https://hooks.example/joust", "events": ["model_promoted", "trial_started"], "secret": "0123456789abcdef"},
                {"name": "all", "url": "http://127.0.0.1:9/x", "events": ["*"], "secret_env": "HOOK_SECRET"}
            ], "max_attempts": 3, "backoff_initial_ms": 100, "timeout_ms": 2000}"#,
        )
        .unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.endpoints[1].secret, "s".repeat(20));
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert!(c.endpoints[0].wants("model_promoted", "transition"));
        assert!(!c.endpoints[0].wants("model_rolled_back", "rollback"));
        assert!(c.endpoints[1].wants("anything", "rollback"));
        assert!(!format!("{:?}", c).contains("0123456789abcdef"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = WebhookConfig {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..WebhookConfig::default()
        };
        let b: Vec<_> = (1..=4).map(|n| c.backoff(n).as_millis()).collect();
        assert_eq!(b, [100, 200, 350, 350]);
        assert_eq!(c.backoff(u32::MAX).as_millis(), 350);
    }

    #[test]
    fn bad_config_names_the_field() {
        let ok =
            r#""name": "a", "url": "http://h/", "events": ["*"], "secret": "0123456789abcdef""#;
        for (text, field) in [
            ("[]".to_owned(), "expected a JSON object"),
            (r#"{"endpoints": [{"url": "http://h/"}]}"#.to_owned(), "endpoints[0].name: missing"),
            (format!(r#"{{"endpoints": [{{{ok}}}, {{{ok}}}]}}"#), "endpoints[1].name: expected a unique name"),
            (r#"{"endpoints": [{"name": "a b", "url": "http://h/", "events": ["*"], "secret": "0123456789abcdef"}]}"#.to_owned(), "endpoints[0].name: expected 1 to 64"),
            (r#"{"endpoints": [{"name": "a", "url": "ftp://h/", "events": ["*"], "secret": "0123456789abcdef"}]}"#.to_owned(), "endpoints[0].url: expected an http:// or https://"),
            (r#"{"endpoints": [{"name": "a", "url": "http://h/", "events": ["model_promotd"], "secret": "0123456789abcdef"}]}"#.to_owned(), "endpoints[0].events[0]: expected"),
            (r#"{"endpoints": [{"name": "a", "url": "http://h/", "events": [], "secret": "0123456789abcdef"}]}"#.to_owned(), "endpoints[0].events: expected at least one"),
            (r#"{"endpoints": [{"name": "a", "url": "http://h/", "events": ["*"], "secret": "short"}]}"#.to_owned(), "endpoints[0].secret: expected at least 16 bytes, got 5"),
            (r#"{"endpoints": [{"name": "a", "url": "http://h/", "events": ["*"], "secret_env": "NOPE"}]}"#.to_owned(), "endpoints[0].secret_env: the environment variable \"NOPE\" is not set"),
            (format!(r#"{{"endpoints": [{{{ok}}}], "max_attempts": 0}}"#), "max_attempts: expected at least 1"),
            (format!(r#"{{"endpoints": [{{{ok}}}], "backoff_initial_ms": 5000, "backoff_max_ms": 10}}"#), "backoff_initial_ms: expected"),
            (format!(r#"{{"endpoints": [{{{ok}}}], "retries": 3}}"#), "unknown field `retries`"),
        ] {
            let e = err(&text);
            assert!(e.contains(field), "{text}: {e}");
            assert!(e.starts_with("configuration: webhooks"), "{e}");
        }
    }
}
