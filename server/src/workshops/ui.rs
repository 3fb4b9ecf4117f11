//! The workshops side of the UI's server functions (`drydock_app::api_workshops`).

use axum::http::request::Parts;
use drydock_app::api::ApiError;
use drydock_app::api_workshops::{
    ssr::WorkshopsBackend, NewWorkshop, Progress, WorkshopSummary, WorkshopView,
};

use crate::{
    accounts::guard::{Identity, Instructor, Member},
    error::Error,
    state::AppState,
};

/// Serves the workshop server functions from the application state.
pub struct WorkshopsUi {
    pub state: AppState,
}

#[async_trait::async_trait]
impl WorkshopsBackend for WorkshopsUi {
    async fn list(&self, req: &Parts) -> Result<Vec<WorkshopSummary>, ApiError> {
        let run = async {
            match Identity::from_parts(req, &self.state.db).await {
                Ok(caller) => self.state.workshops.list(&caller.user).await,
                Err(_) => Ok(Vec::new()),
            }
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn view(&self, req: &Parts, id: &str) -> Result<Option<WorkshopView>, ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            match self.state.workshops.view(&caller.user, id).await {
                Ok(view) => Ok(Some(view)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn create(&self, req: &Parts, new: NewWorkshop) -> Result<WorkshopSummary, ApiError> {
        let run = async {
            let caller = Instructor::from_parts(req, &self.state.db).await?;
            let w = self.state.workshops.create(&caller.user, new).await?;
            self.state
                .workshops
                .summary(
                    &w,
                    crate::db::workshops::MemberRole::Instructor,
                    crate::db::workshops::MemberStatus::Active,
                )
                .await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn join(&self, req: &Parts, code: &str) -> Result<WorkshopSummary, ApiError> {
        let run = async {
            let caller = Member::from_parts(req, &self.state.db).await?;
            self.state.workshops.join(&caller.user, code).await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn progress(&self, req: &Parts, id: &str) -> Result<Progress, ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state.workshops.as_instructor(&caller.user, id).await?;
            self.state.workshops.progress(id).await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn announce(&self, req: &Parts, id: &str, body: &str) -> Result<(), ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state
                .workshops
                .announce(&caller.user, id, body)
                .await
                .map(|_| ())
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn roster_action(
        &self,
        req: &Parts,
        id: &str,
        user_id: i64,
        action: &str,
    ) -> Result<(), ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state
                .workshops
                .roster_action(&caller.user, id, user_id, action.parse()?)
                .await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn end(&self, req: &Parts, id: &str) -> Result<(), ApiError> {
        let run = async {
            let caller = Identity::from_parts(req, &self.state.db).await?;
            self.state.workshops.end(&caller.user, id).await.map(|_| ())
        };
        run.await.map_err(Error::into_api_error)
    }
}
