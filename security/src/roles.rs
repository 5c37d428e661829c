//! Roles and the one table that says which role every RPC of every joust
//! service needs, by gRPC path (`/package.Service/Method`). A method that
//! is not in the table needs `admin`: deny by default.

use std::fmt;
use std::str::FromStr;

/// What a token may do. `admin` may do everything; `operator` may also
/// do what `reader` may; `predictor` only inference (and the metadata
/// every authenticated caller may read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Get, list, watch, download, reports.
    Reader,
    /// Inference: OIP `ModelInfer`, `joust.v1.Inference/Predict`.
    Predictor,
    /// Changes: register, train, transitions, aliases, trials, reload,
    /// ingest and detection runs.
    Operator,
    /// Everything, including detection rules, workers and purges.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reader, Role::Predictor, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Predictor => "predictor",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// True when a holder of `self` may call a method that needs `needed`.
    pub fn grants(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Admin, _) => true,
            (Role::Operator, Role::Operator | Role::Reader) => true,
            (held, needed) => held == needed,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "reader" => Ok(Role::Reader),
            "predictor" => Ok(Role::Predictor),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "expected a role (reader, predictor, operator or admin), got {other:?}"
            )),
        }
    }
}

/// What calling a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health and reflection: open unless `--auth-protect-health`.
    Probe,
    /// Any authenticated caller, whatever its roles (server and model
    /// metadata of the inference protocol).
    Authenticated,
    /// A caller holding a role that grants this one.
    Role(Role),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Probe => f.write_str("open (health, reflection)"),
            Access::Authenticated => f.write_str("any authenticated caller"),
            Access::Role(r) => write!(f, "role {r}"),
        }
    }
}

use Access::{Authenticated, Probe};
const READER: Access = Access::Role(Role::Reader);
const PREDICTOR: Access = Access::Role(Role::Predictor);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every RPC of every joust service and what it takes. SECURITY.md prints
/// the same table; a unit test checks that every method of every service
/// in the proto descriptor set is listed here.
pub const METHODS: &[(&str, Access)] = &[
    // joust.v1.Registry (registry)
    ("/joust.v1.Registry/CreateModel", OPERATOR),
    ("/joust.v1.Registry/ListModels", READER),
    ("/joust.v1.Registry/GetModel", READER),
    ("/joust.v1.Registry/RegisterVersion", OPERATOR),
    ("/joust.v1.Registry/GetVersion", READER),
    ("/joust.v1.Registry/ListVersions", READER),
    ("/joust.v1.Registry/DownloadArtifact", READER),
    ("/joust.v1.Registry/Transition", OPERATOR),
    ("/joust.v1.Registry/SetAlias", OPERATOR),
    ("/joust.v1.Registry/DeleteAlias", OPERATOR),
    ("/joust.v1.Registry/Annotate", OPERATOR),
    ("/joust.v1.Registry/Rollback", OPERATOR),
    ("/joust.v1.Registry/ReportRolloutBlocked", OPERATOR),
    ("/joust.v1.Registry/ListEvents", READER),
    ("/joust.v1.Registry/Watch", READER),
    ("/joust.v1.Registry/RegisterDataset", OPERATOR),
    ("/joust.v1.Registry/GetDataset", READER),
    ("/joust.v1.Registry/ListDatasets", READER),
    ("/joust.v1.Registry/DownloadDataset", READER),
    ("/joust.v1.Registry/ListWebhookDeliveries", READER),
    // joust.v1.Trials (registry)
    ("/joust.v1.Trials/StartTrial", OPERATOR),
    ("/joust.v1.Trials/UpdateTrial", OPERATOR),
    ("/joust.v1.Trials/StopTrial", OPERATOR),
    ("/joust.v1.Trials/GetTrial", READER),
    ("/joust.v1.Trials/ListTrials", READER),
    // Written by routers: their token needs `operator`.
    ("/joust.v1.Trials/RecordComparisons", OPERATOR),
    ("/joust.v1.Trials/GetTrialReport", READER),
    // Approving a plan's step is an operator's decision, like StopTrial.
    ("/joust.v1.Trials/ApproveTrial", OPERATOR),
    ("/joust.v1.Trials/DenyTrial", OPERATOR),
    // inference.GRPCInferenceService (nodes, router)
    ("/inference.GRPCInferenceService/ServerLive", Authenticated),
    ("/inference.GRPCInferenceService/ServerReady", Authenticated),
    ("/inference.GRPCInferenceService/ModelReady", Authenticated),
    (
        "/inference.GRPCInferenceService/ServerMetadata",
        Authenticated,
    ),
    (
        "/inference.GRPCInferenceService/ModelMetadata",
        Authenticated,
    ),
    ("/inference.GRPCInferenceService/ModelInfer", PREDICTOR),
    // joust.v1.Inference (nodes, router)
    ("/joust.v1.Inference/Predict", PREDICTOR),
    // joust.v1.ServingAdmin (nodes)
    ("/joust.v1.ServingAdmin/Reload", OPERATOR),
    ("/joust.v1.ServingAdmin/Unload", OPERATOR),
    ("/joust.v1.ServingAdmin/ListLoaded", READER),
    ("/joust.v1.ServingAdmin/WatchServingState", READER),
    // joust.v1.RouterAdmin (router)
    ("/joust.v1.RouterAdmin/ListRoutes", READER),
    ("/joust.v1.RouterAdmin/GetStats", READER),
    ("/joust.v1.RouterAdmin/ListNodeStates", READER),
    // joust.v1.Detection (detection service)
    ("/joust.v1.Detection/IngestCsv", OPERATOR),
    ("/joust.v1.Detection/IngestSynthetic", OPERATOR),
    ("/joust.v1.Detection/Detect", OPERATOR),
    ("/joust.v1.Detection/ListAnomalies", READER),
    ("/joust.v1.Detection/GetRun", READER),
    ("/joust.v1.Detection/ListRuns", READER),
    ("/joust.v1.Detection/Verify", OPERATOR),
    ("/joust.v1.Detection/Stats", READER),
    ("/joust.v1.Detection/PurgeRuns", ADMIN),
    ("/joust.v1.Detection/ListNotifications", READER),
    // Detection rules and whitelists, evidence: reading is `reader`,
    // editing the rules is `admin`.
    ("/joust.v1.Detection/ListRules", READER),
    ("/joust.v1.Detection/SetRule", ADMIN),
    ("/joust.v1.Detection/DeleteRule", ADMIN),
    ("/joust.v1.Detection/ListWhitelist", READER),
    ("/joust.v1.Detection/AddWhitelist", ADMIN),
    ("/joust.v1.Detection/RemoveWhitelist", ADMIN),
    ("/joust.v1.Detection/GetEvidence", READER),
    // Backfill jobs: a backfill is `operator`; workers are `admin`.
    ("/joust.v1.Detection/Backfill", OPERATOR),
    ("/joust.v1.Detection/GetJob", READER),
    ("/joust.v1.Detection/ListJobs", READER),
    ("/joust.v1.Detection/StartWorkers", ADMIN),
    ("/joust.v1.Detection/StopWorkers", ADMIN),
    ("/joust.v1.Detection/WorkerStatus", READER),
    // Health and reflection (every role)
    ("/grpc.health.v1.Health/Check", Probe),
    ("/grpc.health.v1.Health/Watch", Probe),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Probe,
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Probe,
    ),
];

/// What calling `path` takes; `admin` for a path not in [`METHODS`].
pub fn access(path: &str) -> Access {
    METHODS
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(ADMIN, |(_, a)| *a)
}

/// Parses `reader,operator` (commas or spaces).
pub fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let roles: Vec<Role> = text
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if roles.is_empty() {
        return Err("expected at least one role (reader, predictor, operator or admin)".into());
    }
    Ok(roles)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn every_method_of_every_service_is_in_the_table() {
        let set = prost_types::FileDescriptorSet::decode(joust_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut missing = Vec::new();
        let mut count = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    count += 1;
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    if !METHODS.iter().any(|(p, _)| *p == path) {
                        missing.push(path);
                    }
                }
            }
        }
        assert!(count > 30, "descriptor set has only {count} methods");
        assert!(
            missing.is_empty(),
            "RPCs without an entry in security/src/roles.rs METHODS (they need admin until listed): {missing:?}"
        );
    }

    #[test]
    fn unknown_methods_need_admin() {
        assert_eq!(access("/joust.v1.Detection/SetRules"), ADMIN);
        assert_eq!(access("/joust.v1.Detection/SetRule"), ADMIN);
        assert_eq!(access("/joust.v1.Detection/ListRules"), READER);
        assert_eq!(access("/x.Y/Z"), ADMIN);
        assert_eq!(access("/grpc.health.v1.Health/Check"), Probe);
    }

    #[test]
    fn role_grants() {
        assert!(Role::Admin.grants(Role::Predictor));
        assert!(Role::Operator.grants(Role::Reader));
        assert!(!Role::Operator.grants(Role::Predictor));
        assert!(!Role::Operator.grants(Role::Admin));
        assert!(!Role::Reader.grants(Role::Operator));
        assert!(!Role::Predictor.grants(Role::Reader));
        assert!(Role::Predictor.grants(Role::Predictor));
    }

    #[test]
    fn parses_role_lists() {
        assert_eq!(
            parse_roles("reader,operator").unwrap(),
            vec![Role::Reader, Role::Operator]
        );
        assert!(parse_roles("reader,root").unwrap_err().contains("\"root\""));
        assert!(parse_roles("").is_err());
    }
}
