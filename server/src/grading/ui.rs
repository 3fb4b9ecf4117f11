//! The exercises side of the UI's server functions (`drydock_app::api_exercises`).

use axum::http::request::Parts;
use drydock_app::api::ApiError;
use drydock_app::api_exercises::{
    ssr::ExercisesBackend, ExerciseDetail, ExerciseSummary, Submission, SubmissionView,
};

use crate::{
    accounts::guard::{Identity, Viewer},
    error::Error,
    state::AppState,
};

/// Serves the exercise server functions from the application state.
pub struct ExercisesUi {
    pub state: AppState,
}

#[async_trait::async_trait]
impl ExercisesBackend for ExercisesUi {
    async fn list(&self, req: &Parts) -> Result<Vec<ExerciseSummary>, ApiError> {
        let run = async {
            let user = Viewer::from_parts(req, &self.state.db).await?.id();
            self.state.grading.summaries(user).await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn detail(&self, req: &Parts, id: &str) -> Result<Option<ExerciseDetail>, ApiError> {
        let run = async {
            if !self.state.content.exercises.contains_key(id) {
                return Ok(None);
            }
            let user = Viewer::from_parts(req, &self.state.db).await?.id();
            self.state.grading.detail(user, id).await.map(Some)
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn submit(
        &self,
        req: &Parts,
        id: &str,
        submission: Submission,
    ) -> Result<SubmissionView, ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state
                .grading
                .submit(&caller.user, id, submission)
                .await
        };
        run.await.map_err(Error::into_api_error)
    }
}
