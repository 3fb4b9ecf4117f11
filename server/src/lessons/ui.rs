//! The lessons side of the UI's server functions (`drydock_app::api_lessons`).

use axum::http::request::Parts;
use drydock_app::api_lessons::{
    ssr::LessonsBackend, AnswerResult, CatalogView, LessonView, ProgressView, SearchResult,
};

use super::service;
use crate::{
    accounts::guard::{session_of, session_user, Identity},
    error::Error,
    state::AppState,
};

/// Serves the lesson server functions from the application state.
pub struct LessonsUi {
    pub state: AppState,
}

impl LessonsUi {
    async fn viewer(&self, req: &Parts) -> Result<Option<crate::db::users::User>, Error> {
        match session_of(req) {
            Ok(session) => session_user(&self.state.db, &session).await,
            Err(_) => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl LessonsBackend for LessonsUi {
    async fn catalog(&self, req: &Parts) -> Result<CatalogView, String> {
        let user = self.viewer(req).await.map_err(Error::into_ui_message)?;
        service::catalog(&self.state.content, &self.state.db, user.as_ref())
            .await
            .map_err(Error::into_ui_message)
    }

    async fn lesson(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
    ) -> Result<Option<LessonView>, String> {
        let user = self.viewer(req).await.map_err(Error::into_ui_message)?;
        service::lesson(
            &self.state.content,
            &self.state.db,
            user.as_ref(),
            track,
            slug,
        )
        .await
        .map_err(Error::into_ui_message)
    }

    async fn answer(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
        question: &str,
        choices: Vec<usize>,
    ) -> Result<AnswerResult, String> {
        let who = Identity::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_ui_message)?;
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
        .map_err(Error::into_ui_message)
    }

    async fn set_complete(
        &self,
        req: &Parts,
        track: &str,
        slug: &str,
        complete: bool,
    ) -> Result<bool, String> {
        let who = Identity::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_ui_message)?;
        service::set_complete(
            &self.state.content,
            &self.state.db,
            &who.user,
            track,
            slug,
            complete,
        )
        .await
        .map_err(Error::into_ui_message)
    }

    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, String> {
        Ok(service::search(&self.state.content, query))
    }

    fn lesson_html(&self, track: &str, slug: &str) -> Option<String> {
        self.state
            .content
            .lesson(track, slug)
            .map(|l| l.html.clone())
    }

    async fn progress(&self, req: &Parts) -> Result<ProgressView, String> {
        let user = self.viewer(req).await.map_err(Error::into_ui_message)?;
        service::progress_of(&self.state.content, &self.state.db, user.as_ref())
            .await
            .map_err(Error::into_ui_message)
    }
}
