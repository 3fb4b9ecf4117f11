//! The lessons side of the UI's server functions (`drydock_app::api_lessons`).

use axum::http::request::Parts;
use drydock_app::api::ApiError;
use drydock_app::api_lessons::{
    ssr::LessonsBackend, AnswerResult, CatalogView, LessonView, ProgressView, SearchResult,
};

use super::service;
use crate::{
    accounts::guard::{Identity, Viewer},
    error::Error,
    state::AppState,
};

/// Serves the lesson server functions from the application state.
pub struct LessonsUi {
    pub state: AppState,
}

#[async_trait::async_trait]
impl LessonsBackend for LessonsUi {
    async fn catalog(&self, req: &Parts) -> Result<CatalogView, ApiError> {
        let user = Viewer::from_parts(req, &self.state.db)
            .await
            .map(|v| v.0)
            .map_err(Error::into_api_error)?;
        service::catalog(&self.state.content, &self.state.db, user.as_ref())
            .await
            .map_err(Error::into_api_error)
    }

    async fn lesson(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
    ) -> Result<Option<LessonView>, ApiError> {
        let user = Viewer::from_parts(req, &self.state.db)
            .await
            .map(|v| v.0)
            .map_err(Error::into_api_error)?;
        service::lesson(
            &self.state.content,
            &self.state.db,
            user.as_ref(),
            track,
            slug,
        )
        .await
        .map_err(Error::into_api_error)
    }

    async fn answer(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
        question: &str,
        choices: Vec<usize>,
    ) -> Result<AnswerResult, ApiError> {
        let who = Identity::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        service::answer(
            &self.state.content,
            &self.state.db,
            &who.user,
            track,
            slug,
            question,
            choices,
        )
        .await
        .map_err(Error::into_api_error)
    }

    async fn set_complete(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
        complete: bool,
    ) -> Result<bool, ApiError> {
        let who = Identity::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        service::set_complete(
            &self.state.content,
            &self.state.db,
            &who.user,
            track,
            slug,
            complete,
        )
        .await
        .map_err(Error::into_api_error)
    }

    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ApiError> {
        Ok(service::search(&self.state.content, query))
    }

    async fn progress(&self, req: &Parts) -> Result<ProgressView, ApiError> {
        let user = Viewer::from_parts(req, &self.state.db)
            .await
            .map(|v| v.0)
            .map_err(Error::into_api_error)?;
        service::progress_of(&self.state.content, &self.state.db, user.as_ref())
            .await
            .map_err(Error::into_api_error)
    }
}
