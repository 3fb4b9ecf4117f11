//! The exercises side of the UI's server functions (`drydock_app::api_exercises`).

use axum::http::request::Parts;
use drydock_app::api_exercises::{
    ssr::ExercisesBackend, ExerciseDetail, ExerciseSummary, Submission, SubmissionView,
};

use crate::{
    accounts::guard::{session_of, session_user, Identity},
    error::Error,
    state::AppState,
};

/// Serves the exercise server functions from the application state.
pub struct ExercisesUi {
    pub state: AppState,
}

impl ExercisesUi {
    async fn viewer(&self, req: &Parts) -> Result<Option<i64>, Error> {
        match session_of(req) {
            Ok(session) => Ok(session_user(&self.state.db, &session).await?.map(|u| u.id)),
            Err(_) => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl ExercisesBackend for ExercisesUi {
    async fn list(&self, req: &Parts) -> Result<Vec<ExerciseSummary>, String> {
        let run = async {
            let user = self.viewer(req).await?;
            self.state.grading.summaries(user).await
        };
        run.await.map_err(Error::into_ui_message)
    }

    async fn detail(&self, req: &Parts, id: &str) -> Result<Option<ExerciseDetail>, String> {
        let run = async {
            if !self.state.content.exercises.contains_key(id) {
                return Ok(None);
            }
            let user = self.viewer(req).await?;
            self.state.grading.detail(user, id).await.map(Some)
        };
        run.await.map_err(Error::into_ui_message)
    }

    async fn submit(
        &self,
        req: &Parts,
        id: &str,
        submission: Submission,
    ) -> Result<SubmissionView, String> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state
                .grading
                .submit(&caller.user, id, submission)
                .await
        };
        run.await.map_err(Error::into_ui_message)
    }
}
