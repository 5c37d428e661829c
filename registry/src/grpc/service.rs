//! `joust.v1.Registry` over tonic: convert, delegate, convert back.

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use joust_proto::v1 as pb;
use joust_proto::v1::registry_server::Registry as RegistryApi;
use tonic::{Request, Response, Status, Streaming};

use super::actor_of;
use super::convert::{dataset_token, status_from_pb, version_token};
use crate::error::RegistryError;
use crate::registry::Registry;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Largest chunk sent on a download stream.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct RegistryService {
    registry: Registry,
}

impl RegistryService {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

/// Splits the uploaded messages after the first into a byte stream; a
/// second metadata message or an empty part is refused.
fn chunks<T, F>(
    stream: Streaming<T>,
    part: F,
) -> impl Stream<Item = Result<Bytes, RegistryError>> + Unpin
where
    T: Send + 'static,
    F: Fn(T) -> Option<Result<Vec<u8>, &'static str>> + Send + 'static,
{
    stream.map(move |msg| match msg {
        Ok(m) => match part(m) {
            Some(Ok(b)) => Ok(Bytes::from(b)),
            Some(Err(what)) => Err(RegistryError::InvalidArgument(format!(
                "{what}: expected only in the first message, then chunks"
            ))),
            None => Err(RegistryError::InvalidArgument(
                "part: expected a chunk, got an empty message".to_owned(),
            )),
        },
        Err(status) => Err(RegistryError::InvalidArgument(format!(
            "upload stream failed before it completed: {}",
            status.message()
        ))),
    })
}

/// Re-chunks a blob stream into messages of at most [`CHUNK`] bytes.
fn rechunk<T, F>(
    first: T,
    bytes: futures::stream::BoxStream<'static, Result<Bytes, RegistryError>>,
    wrap: F,
) -> BoxStream<T>
where
    T: Send + 'static,
    F: Fn(Bytes) -> T + Send + Sync + 'static,
{
    let body = bytes.flat_map(move |r| {
        let items: Vec<Result<T, Status>> = match r {
            Ok(b) => {
                let mut out = Vec::new();
                let mut b = b;
                while b.len() > CHUNK {
                    out.push(Ok(wrap(b.split_to(CHUNK))));
                }
                if !b.is_empty() {
                    out.push(Ok(wrap(b)));
                }
                out
            }
            Err(e) => vec![Err(Status::from(e))],
        };
        futures::stream::iter(items)
    });
    Box::pin(futures::stream::once(async move { Ok(first) }).chain(body))
}

#[tonic::async_trait]
impl RegistryApi for RegistryService {
    async fn create_model(
        &self,
        request: Request<pb::CreateModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let actor = actor_of(&request);
        let pb::CreateModelRequest { name, description } = request.into_inner();
        let m = self
            .registry
            .create_model(&name, &description, &actor)
            .await?;
        Ok(Response::new(m.into()))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let pb::ListModelsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let page = self.registry.page(page_size);
        let models = self.registry.list_models(&page_token, page).await?;
        let next_page_token = if models.len() == page as usize {
            models.last().map(|m| m.name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListModelsResponse {
            models: models.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let pb::GetModelRequest { name } = request.into_inner();
        Ok(Response::new(self.registry.get_model(&name).await?.into()))
    }

    async fn register_version(
        &self,
        request: Request<Streaming<pb::RegisterVersionRequest>>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        use pb::register_version_request::Part;
        let actor = actor_of(&request);
        let mut stream = request.into_inner();
        let meta = match stream.message().await? {
            Some(pb::RegisterVersionRequest {
                part: Some(Part::Metadata(m)),
            }) => m,
            _ => {
                return Err(Status::invalid_argument(
                    "metadata: expected the first message to carry the version metadata",
                ));
            }
        };
        let body = chunks(stream, |m: pb::RegisterVersionRequest| match m.part {
            Some(Part::Chunk(b)) => Some(Ok(b)),
            Some(Part::Metadata(_)) => Some(Err("metadata")),
            None => None,
        });
        let (v, _created) = self
            .registry
            .register_version(meta.into(), body, &actor)
            .await?;
        Ok(Response::new(v.into()))
    }

    async fn get_version(
        &self,
        request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let pb::GetVersionRequest { r#ref } = request.into_inner();
        Ok(Response::new(
            self.registry.get_version(&r#ref).await?.into(),
        ))
    }

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        let pb::ListVersionsRequest {
            model,
            status,
            page_size,
            page_token,
        } = request.into_inner();
        let status = status_from_pb("status", status)?;
        let after = version_token(&page_token)?;
        let page = self.registry.page(page_size);
        let versions = self
            .registry
            .list_versions(&model, status, after, page)
            .await?;
        let next_page_token = if versions.len() == page as usize {
            versions
                .last()
                .map(|v| v.version.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListVersionsResponse {
            versions: versions.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    type DownloadArtifactStream = BoxStream<pb::DownloadArtifactResponse>;

    async fn download_artifact(
        &self,
        request: Request<pb::DownloadArtifactRequest>,
    ) -> Result<Response<Self::DownloadArtifactStream>, Status> {
        use pb::download_artifact_response::Part;
        let pb::DownloadArtifactRequest { r#ref } = request.into_inner();
        let (v, bytes) = self.registry.artifact(&r#ref).await?;
        let first = pb::DownloadArtifactResponse {
            part: Some(Part::Version(v.into())),
        };
        Ok(Response::new(rechunk(first, bytes, |b| {
            pb::DownloadArtifactResponse {
                part: Some(Part::Chunk(b.to_vec())),
            }
        })))
    }

    async fn transition(
        &self,
        request: Request<pb::TransitionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let actor = actor_of(&request);
        let pb::TransitionRequest {
            r#ref,
            to,
            reason,
            force_evaluated,
        } = request.into_inner();
        let to = status_from_pb("to", to)?.ok_or_else(|| {
            Status::invalid_argument(
                "to: expected a target status (candidate, evaluated, challenger, champion or retired)",
            )
        })?;
        let v = self
            .registry
            .transition_with(&r#ref, to, &reason, force_evaluated, &actor)
            .await?;
        Ok(Response::new(v.into()))
    }

    async fn set_alias(
        &self,
        request: Request<pb::SetAliasRequest>,
    ) -> Result<Response<pb::Alias>, Status> {
        let actor = actor_of(&request);
        let pb::SetAliasRequest {
            model,
            alias,
            version,
        } = request.into_inner();
        let a = self
            .registry
            .set_alias(&model, &alias, version, &actor)
            .await?;
        Ok(Response::new(a.into()))
    }

    async fn delete_alias(
        &self,
        request: Request<pb::DeleteAliasRequest>,
    ) -> Result<Response<pb::DeleteAliasResponse>, Status> {
        let actor = actor_of(&request);
        let pb::DeleteAliasRequest { model, alias } = request.into_inner();
        self.registry.delete_alias(&model, &alias, &actor).await?;
        Ok(Response::new(pb::DeleteAliasResponse {}))
    }

    async fn annotate(
        &self,
        request: Request<pb::AnnotateRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let actor = actor_of(&request);
        let pb::AnnotateRequest {
            r#ref,
            annotations,
            metrics_json,
        } = request.into_inner();
        let v = self
            .registry
            .annotate(
                &r#ref,
                annotations.into_iter().collect(),
                &metrics_json,
                &actor,
            )
            .await?;
        Ok(Response::new(v.into()))
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        let actor = actor_of(&request);
        let pb::RollbackRequest {
            model,
            reason,
            to_version,
        } = request.into_inner();
        let to = (to_version != 0).then_some(to_version);
        let (retired, champion) = self
            .registry
            .rollback_to(&model, to, &reason, &actor)
            .await?;
        Ok(Response::new(pb::RollbackResponse {
            retired: Some(retired.into()),
            champion: Some(champion.into()),
        }))
    }

    async fn report_rollout_blocked(
        &self,
        request: Request<pb::ReportRolloutBlockedRequest>,
    ) -> Result<Response<pb::ReportRolloutBlockedResponse>, Status> {
        let actor = actor_of(&request);
        let pb::ReportRolloutBlockedRequest {
            model,
            version,
            reasons,
        } = request.into_inner();
        let reasons: Vec<(String, String)> = reasons
            .into_iter()
            .map(|pb::RolloutNodeReason { node, reason }| (node, reason))
            .collect();
        let (recorded, rolled_back, champion) = self
            .registry
            .report_rollout_blocked(&model, version, &reasons, &actor)
            .await?;
        Ok(Response::new(pb::ReportRolloutBlockedResponse {
            recorded,
            rolled_back,
            champion_version: champion.unwrap_or(0),
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let pb::ListEventsRequest {
            model,
            after_id,
            page_size,
        } = request.into_inner();
        let page = self.registry.page(page_size);
        let events = self.registry.list_events(&model, after_id, page).await?;
        let next_after_id = if events.len() == page as usize {
            events.last().map(|e| e.id).unwrap_or(0)
        } else {
            0
        };
        Ok(Response::new(pb::ListEventsResponse {
            events: events.into_iter().map(Into::into).collect(),
            next_after_id,
        }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let pb::ListWebhookDeliveriesRequest {
            endpoint,
            status,
            before_id,
            page_size,
        } = request.into_inner();
        let webhooks = self.registry.webhooks().ok_or_else(|| {
            RegistryError::FailedPrecondition(
                "webhooks: this registry runs without --webhooks, so it keeps no delivery log"
                    .to_owned(),
            )
        })?;
        let status = match status.as_str() {
            "" => None,
            s => Some(crate::webhooks::DeliveryStatus::parse(s).ok_or_else(|| {
                RegistryError::InvalidArgument(format!(
                    "status: expected pending, delivered or failed (or empty), got {s:?}"
                ))
            })?),
        };
        let page = self.registry.page(page_size);
        let filter = crate::webhooks::DeliveryFilter {
            endpoint: (!endpoint.is_empty()).then_some(endpoint),
            status,
            before_id: i64::try_from(before_id).unwrap_or(i64::MAX),
            limit: page,
        };
        let rows = webhooks.store().list(&filter).await?;
        let next_before_id = if rows.len() == page as usize {
            rows.last().map_or(0, |r| u64::try_from(r.id).unwrap_or(0))
        } else {
            0
        };
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: rows
                .into_iter()
                .map(super::convert::webhook_delivery)
                .collect(),
            next_before_id,
        }))
    }

    type WatchStream = BoxStream<pb::Event>;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let pb::WatchRequest { after_id, models } = request.into_inner();
        let rx = self.registry.watch(after_id, models)?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|r| r.map(pb::Event::from).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn register_dataset(
        &self,
        request: Request<Streaming<pb::RegisterDatasetRequest>>,
    ) -> Result<Response<pb::Dataset>, Status> {
        use pb::register_dataset_request::Part;
        let actor = actor_of(&request);
        let mut stream = request.into_inner();
        let meta = match stream.message().await? {
            Some(pb::RegisterDatasetRequest {
                part: Some(Part::Metadata(m)),
            }) => m,
            _ => {
                return Err(Status::invalid_argument(
                    "metadata: expected the first message to carry the dataset metadata",
                ));
            }
        };
        let body = chunks(stream, |m: pb::RegisterDatasetRequest| match m.part {
            Some(Part::Chunk(b)) => Some(Ok(b)),
            Some(Part::Metadata(_)) => Some(Err("metadata")),
            None => None,
        });
        let (d, _created) = self
            .registry
            .register_dataset(meta.into(), body, &actor)
            .await?;
        Ok(Response::new(d.into()))
    }

    async fn get_dataset(
        &self,
        request: Request<pb::GetDatasetRequest>,
    ) -> Result<Response<pb::Dataset>, Status> {
        let pb::GetDatasetRequest { r#ref } = request.into_inner();
        Ok(Response::new(
            self.registry.get_dataset(&r#ref).await?.into(),
        ))
    }

    async fn list_datasets(
        &self,
        request: Request<pb::ListDatasetsRequest>,
    ) -> Result<Response<pb::ListDatasetsResponse>, Status> {
        let pb::ListDatasetsRequest {
            name,
            page_size,
            page_token,
        } = request.into_inner();
        let after = dataset_token(&page_token)?;
        let page = self.registry.page(page_size);
        let datasets = self.registry.list_datasets(&name, after, page).await?;
        let next_page_token = if datasets.len() == page as usize {
            datasets
                .last()
                .map(|d| format!("{}:{}", d.name, d.version))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListDatasetsResponse {
            datasets: datasets.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    type DownloadDatasetStream = BoxStream<pb::DownloadDatasetResponse>;

    async fn download_dataset(
        &self,
        request: Request<pb::DownloadDatasetRequest>,
    ) -> Result<Response<Self::DownloadDatasetStream>, Status> {
        use pb::download_dataset_response::Part;
        let pb::DownloadDatasetRequest { r#ref } = request.into_inner();
        let (d, bytes) = self.registry.dataset_bytes(&r#ref).await?;
        let first = pb::DownloadDatasetResponse {
            part: Some(Part::Dataset(d.into())),
        };
        Ok(Response::new(rechunk(first, bytes, |b| {
            pb::DownloadDatasetResponse {
                part: Some(Part::Chunk(b.to_vec())),
            }
        })))
    }
}
