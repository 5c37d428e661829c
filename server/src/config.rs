//! Node configuration (a plain struct; the CLI builds it from flags) and
//! the parsing of the refs a node follows.

use std::time::Duration;

use crate::error::ServeError;

/// Everything a serving node needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The registry's gRPC URL, e.g. `http://127.0.0.1:7070`.
    pub registry_url: String,
    /// Refs to follow (`name@champion`, `name@challenger`, `name:7`,
    /// `name`). The first ref of a model answers requests that do not pin
    /// a version.
    pub models: Vec<String>,
    /// Follow every model in the registry: `name@champion` and
    /// `name@challenger` of each model that has one, discovered from
    /// `ListModels` at start, on every Watch event and at each reconcile.
    pub follow_all: bool,
    /// Full re-resolution of every ref, besides Watch.
    pub reconcile_interval: Duration,
    /// How long a version keeps answering requests pinned to it after its
    /// last ref moved away (a router that has not seen the move yet still
    /// pins it). Zero: dropped at once. `joust serve` and `joust up`
    /// default to 30 s (`--unbound-grace`).
    pub unbound_grace: Duration,
    /// First retry delay after a failed load or a lost Watch stream;
    /// doubled on each failure up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Most rows accepted in one request.
    pub max_rows: usize,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// Batches of at most this many rows are scored on the request's task;
    /// larger ones go to the blocking pool.
    pub inline_rows: usize,
    /// Large batches scored at once on the blocking pool; one more answers
    /// RESOURCE_EXHAUSTED.
    pub max_blocking_batches: usize,
    /// Name reported by ServerMetadata.
    pub server_name: String,
    /// TLS, authentication, roles and limits of the gRPC listener.
    pub security: joust_security::ServerSecurity,
    /// TLS and token of the calls to the registry.
    pub client: joust_security::ClientSecurity,
    /// On shutdown, how long in-flight requests may take to finish; then
    /// connections still open (idle clients that never go away would
    /// otherwise hold the drain forever) are closed.
    pub drain_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            registry_url: "http://127.0.0.1:7070".to_owned(),
            models: Vec::new(),
            follow_all: false,
            reconcile_interval: Duration::from_secs(30),
            unbound_grace: Duration::from_secs(30),
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            max_rows: 10_000,
            max_message_bytes: 16 << 20,
            inline_rows: 64,
            max_blocking_batches: 4,
            server_name: "joust".to_owned(),
            security: joust_security::ServerSecurity::default(),
            client: joust_security::ClientSecurity::default(),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

impl NodeConfig {
    /// Checks the values before any port is bound.
    pub fn validate(&self) -> Result<(), ServeError> {
        if !(self.registry_url.starts_with("http://") || self.registry_url.starts_with("https://"))
        {
            return Err(ServeError::Config(format!(
                "registry: expected an http:// or https:// URL, got {:?}",
                self.registry_url
            )));
        }
        for r in &self.models {
            ModelRef::parse(r)?;
        }
        let positive = [
            ("max_rows", self.max_rows),
            ("max_message_bytes", self.max_message_bytes),
            ("max_blocking_batches", self.max_blocking_batches),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ServeError::Config(format!(
                "{name}: expected at least 1, got 0"
            )));
        }
        if self.reconcile_interval.is_zero() || self.retry_initial.is_zero() {
            return Err(ServeError::Config(
                "reconcile_interval and retry_initial: expected more than 0".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A followed ref: the model name and the text the registry resolves,
/// parsed by the one ref grammar (`joust-refs`) the registry also uses, so
/// a ref the registry would refuse is refused here, at start-up or in
/// `Reload`, instead of being retried forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// As given, e.g. `fraud@champion`.
    pub text: String,
    /// The model name, e.g. `fraud`.
    pub model: String,
    /// `Some(n)` for `name:n`: the ref never moves.
    pub pinned: Option<u64>,
}

/// Longest model name or alias, in characters (as in the registry).
pub const MAX_NAME_LEN: usize = joust_refs::MAX_NAME_LEN;

impl ModelRef {
    /// Parses `name`, `name:N` or `name@alias`.
    pub fn parse(text: &str) -> Result<ModelRef, ServeError> {
        let parsed = joust_refs::VersionRef::parse("ref", text)?;
        Ok(ModelRef {
            // Canonical: the synonyms `m:champion`, `m:v5` follow (and
            // report) as `m@champion`, `m:5`.
            text: parsed.to_string(),
            pinned: parsed.pinned(),
            model: parsed.name,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_refs() {
        let r = ModelRef::parse("fraud@champion").unwrap();
        assert_eq!((r.model.as_str(), r.pinned), ("fraud", None));
        let r = ModelRef::parse("fraud:7").unwrap();
        assert_eq!((r.model.as_str(), r.pinned), ("fraud", Some(7)));
        assert_eq!(ModelRef::parse("fraud").unwrap().model, "fraud");
        let r = ModelRef::parse("fraud:champion").unwrap();
        assert_eq!((r.text.as_str(), r.pinned), ("fraud@champion", None));
        let r = ModelRef::parse("fraud:v7").unwrap();
        assert_eq!((r.text.as_str(), r.pinned), ("fraud:7", Some(7)));
        for bad in ["", "a:0", "a:x", "a@", "@b", "a:1@b", "a b", "a:+5"] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
    }

    // Found by the ref_parse fuzz target: the node took refs the registry
    // refuses (a name starting with `_`, `-` or `.`, or longer than 128
    // characters) and would have retried them forever.
    #[test]
    fn refuses_refs_the_registry_refuses() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        let long_alias = format!("m@{long}");
        for bad in ["_a", "-a", ".a", "m@_x", "m@.x", "_m:1", &long, &long_alias] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
        let longest = "a".repeat(MAX_NAME_LEN);
        assert_eq!(ModelRef::parse(&longest).unwrap().model, longest);
        assert!(ModelRef::parse("9lives@prod_2").is_ok());
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9_.-]{0,20}"
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in ".{0,40}") {
            let _ = ModelRef::parse(&text);
        }

        #[test]
        fn valid_refs_parse_to_their_parts(model in name(), alias in name(), v in 1u64..) {
            let bare = ModelRef::parse(&model).unwrap();
            prop_assert_eq!((bare.model.as_str(), bare.pinned), (model.as_str(), None));
            let (pinned_text, aliased_text) = (format!("{model}:{v}"), format!("{model}@{alias}"));
            let pinned = ModelRef::parse(&pinned_text).unwrap();
            prop_assert_eq!((pinned.model.as_str(), pinned.pinned), (model.as_str(), Some(v)));
            let aliased = ModelRef::parse(&aliased_text).unwrap();
            prop_assert_eq!((aliased.model.as_str(), aliased.pinned), (model.as_str(), None));
            prop_assert_eq!(aliased.text, aliased_text);
        }
    }

    // `str::parse::<u64>` takes a sign: `name:+5` was followed as version 5.
    #[test]
    fn a_signed_version_is_refused_naming_the_ref() {
        let e = ModelRef::parse("fraud:+5").unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.to_string()
                .contains("expected a version number ≥ 1 (decimal digits only), got \"+5\""),
            "{e}"
        );
    }

    #[test]
    fn default_config_is_valid_and_zero_limits_are_not() {
        NodeConfig::default().validate().unwrap();
        let c = NodeConfig {
            max_rows: 0,
            ..NodeConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("max_rows"));
    }
}
