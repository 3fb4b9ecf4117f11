//! The labs side of the UI's server functions (`drydock_app::api_labs`).

use axum::http::request::Parts;
use drydock_app::api::ApiError;
use drydock_app::api_labs::{
    ssr::LabsBackend, LabDetail, LabSessionView, LabsOverview, StartResult,
};

use super::service::StartOutcome;
use crate::{
    accounts::guard::{Identity, Viewer},
    db::labs::LabStatus,
    error::Error,
    state::AppState,
};

/// Serves the lab server functions from the application state.
pub struct LabsUi {
    pub state: AppState,
}

impl LabsUi {
    async fn caller(&self, req: &Parts) -> Result<i64, ApiError> {
        Identity::from_parts(req, &self.state.db)
            .await
            .map(|i| i.user.id)
            .map_err(Error::into_api_error)
    }

    async fn views(&self, user_id: Option<i64>) -> Result<Vec<LabSessionView>, Error> {
        match user_id {
            Some(user_id) => self.state.labs.views_of(user_id).await,
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl LabsBackend for LabsUi {
    async fn overview(&self, req: &Parts) -> Result<LabsOverview, ApiError> {
        let run = async {
            let user = Viewer::from_parts(req, &self.state.db).await?.id();
            Ok::<_, Error>(LabsOverview {
                labs: self
                    .state
                    .content
                    .labs
                    .values()
                    .map(|l| self.state.labs.summary(l))
                    .collect(),
                sessions: self.views(user).await?,
            })
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn detail(&self, req: &Parts, lab: &str) -> Result<Option<LabDetail>, ApiError> {
        let run = async {
            let Some(def) = self.state.content.labs.get(lab) else {
                return Ok(None);
            };
            let user = Viewer::from_parts(req, &self.state.db).await?.id();
            let sessions = self.views(user).await?;
            let active = |v: &&LabSessionView| v.status != LabStatus::Ended.as_str();
            Ok::<_, Error>(Some(LabDetail {
                lab: self.state.labs.summary(def),
                session: sessions
                    .iter()
                    .filter(active)
                    .find(|v| v.lab == lab)
                    .cloned(),
                other: sessions
                    .iter()
                    .filter(active)
                    .find(|v| v.lab != lab)
                    .cloned(),
            }))
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn start(&self, req: &Parts, lab: &str, replace: bool) -> Result<StartResult, ApiError> {
        let user = self.caller(req).await?;
        let run = async {
            Ok::<_, Error>(match self.state.labs.request(user, lab, replace).await? {
                StartOutcome::Started(v) | StartOutcome::AlreadyRunning(v) => {
                    StartResult::Running(v)
                }
                StartOutcome::Queued(v) => StartResult::Queued(v),
                StartOutcome::Busy(other) => StartResult::Busy { running: other },
            })
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn session(&self, req: &Parts, id: &str) -> Result<LabSessionView, ApiError> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.session(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn stop(&self, req: &Parts, id: &str) -> Result<(), ApiError> {
        let user = self.caller(req).await?;
        self.state
            .labs
            .stop(user, id)
            .await
            .map_err(Error::into_api_error)
    }

    async fn reset(&self, req: &Parts, id: &str) -> Result<LabSessionView, ApiError> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.reset(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_api_error)
    }

    async fn extend(&self, req: &Parts, id: &str) -> Result<LabSessionView, ApiError> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.extend(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_api_error)
    }
}
