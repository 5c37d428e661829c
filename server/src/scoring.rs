//! Where a batch is scored: small batches inline on the request's task
//! (microseconds), large ones on the blocking pool under a concurrency cap
//! that answers RESOURCE_EXHAUSTED when every slot is taken.

use std::sync::Arc;

use joust_models::onnx::OutputTensor;
use joust_models::{Model, ModelError, Prediction};
use ndarray::{Array2, ArrayView2};
use tokio::sync::Semaphore;

use crate::error::ServeError;
use crate::table::LoadedModel;

#[derive(Debug, Clone)]
pub struct Scorer {
    inline_rows: usize,
    limit: usize,
    slots: Arc<Semaphore>,
}

impl Scorer {
    pub fn new(inline_rows: usize, max_blocking_batches: usize) -> Self {
        Self {
            inline_rows,
            limit: max_blocking_batches,
            slots: Arc::new(Semaphore::new(max_blocking_batches)),
        }
    }

    /// Scores `x` (already checked against the schema) with `model`.
    #[tracing::instrument(
        name = "score",
        skip_all,
        fields(model = %model.name, version = model.version, rows = x.nrows())
    )]
    pub async fn predict(
        &self,
        model: Arc<LoadedModel>,
        x: Array2<f32>,
    ) -> Result<Prediction, ServeError> {
        self.run(model, x, |m, x| m.predict(x)).await
    }

    /// `predict`, plus an onnx model's graph outputs by name (none for
    /// other kinds).
    pub async fn predict_with_outputs(
        &self,
        model: Arc<LoadedModel>,
        x: Array2<f32>,
    ) -> Result<(Prediction, Vec<OutputTensor>), ServeError> {
        self.run(model, x, |m, x| m.predict_with_outputs(x)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        model: Arc<LoadedModel>,
        x: Array2<f32>,
        f: fn(&Model, ArrayView2<'_, f32>) -> Result<T, ModelError>,
    ) -> Result<T, ServeError> {
        if x.nrows() <= self.inline_rows {
            return Ok(f(&model.model, x.view())?);
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ServeError::Busy { limit: self.limit })?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&model.model, x.view())
        })
        .await
        .map_err(|e| ServeError::Internal(format!("scoring task: {e}")))?
        .map_err(ServeError::from)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use joust_models::{ModelKind, TrainConfig};

    use super::*;

    fn loaded() -> Arc<LoadedModel> {
        let x = Array2::from_shape_fn((16, 1), |(i, _)| i as f32);
        let m = Model::train(
            &TrainConfig::new(ModelKind::Noop),
            vec!["a".into()],
            x.view(),
        )
        .unwrap();
        Arc::new(LoadedModel::new(
            "m".into(),
            1,
            String::new(),
            m,
            Duration::ZERO,
        ))
    }

    #[tokio::test]
    async fn inline_and_pooled_give_one_score_per_row() {
        let s = Scorer::new(2, 1);
        let p = s.predict(loaded(), Array2::zeros((2, 1))).await.unwrap();
        assert_eq!(p.scores.len(), 2);
        let p = s.predict(loaded(), Array2::zeros((50, 1))).await.unwrap();
        assert_eq!(p.scores.len(), 50);
    }

    #[tokio::test]
    async fn a_full_pool_answers_resource_exhausted() {
        let s = Scorer::new(0, 1);
        let _held = s.slots.clone().try_acquire_owned().unwrap();
        let err = s
            .predict(loaded(), Array2::zeros((1, 1)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    }
}
