//! What a role's gRPC reflection lists, over both protocol versions
//! (`grpc.reflection.v1` for grpcurl and tonic, `v1alpha` for Python's
//! grpcio-reflection).

use tonic::transport::Channel;

/// The sorted service names reflection v1 lists on `channel`.
pub async fn list_v1(channel: Channel) -> anyhow::Result<Vec<String>> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await?
        .into_inner();
    let answer = stream.message().await?.and_then(|r| r.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = answer else {
        anyhow::bail!("reflection v1: no service list in {answer:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    Ok(names)
}

/// The sorted service names reflection v1alpha lists on `channel`.
pub async fn list_v1alpha(channel: Channel) -> anyhow::Result<Vec<String>> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await?
        .into_inner();
    let answer = stream.message().await?.and_then(|r| r.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = answer else {
        anyhow::bail!("reflection v1alpha: no service list in {answer:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    Ok(names)
}

/// `role_services` plus health and both reflection services, sorted: what
/// every role's reflection must list, exactly.
pub fn expected(role_services: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = role_services
        .iter()
        .chain(&[
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ])
        .map(|s| (*s).to_owned())
        .collect();
    names.sort();
    names
}
