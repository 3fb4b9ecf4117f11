//! The labs side of the UI's server functions (`drydock_app::api_labs`).

use axum::http::request::Parts;
use drydock_app::api_labs::{
    ssr::LabsBackend, LabDetail, LabSessionView, LabsOverview, StartResult,
};

use super::service::Admission;
use crate::{
    accounts::guard::{session_of, session_user, Identity},
    db::labs::LabStatus,
    error::Error,
    state::AppState,
};

/// Serves the lab server functions from the application state.
pub struct LabsUi {
    pub state: AppState,
}

impl LabsUi {
    async fn caller(&self, req: &Parts) -> Result<i64, String> {
        Identity::from_parts(req, &self.state.db)
            .await
            .map(|i| i.user.id)
            .map_err(Error::into_ui_message)
    }

    async fn viewer(&self, req: &Parts) -> Result<Option<i64>, Error> {
        match session_of(req) {
            Ok(session) => Ok(session_user(&self.state.db, &session).await?.map(|u| u.id)),
            Err(_) => Ok(None),
        }
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
    async fn overview(&self, req: &Parts) -> Result<LabsOverview, String> {
        let run = async {
            let user = self.viewer(req).await?;
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
        run.await.map_err(Error::into_ui_message)
    }

    async fn detail(&self, req: &Parts, lab: &str) -> Result<Option<LabDetail>, String> {
        let run = async {
            let Some(def) = self.state.content.labs.get(lab) else {
                return Ok(None);
            };
            let user = self.viewer(req).await?;
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
        run.await.map_err(Error::into_ui_message)
    }

    async fn start(&self, req: &Parts, lab: &str, replace: bool) -> Result<StartResult, String> {
        let user = self.caller(req).await?;
        let run = async {
            Ok::<_, Error>(match self.state.labs.start(user, lab, replace).await? {
                Admission::Started(s) | Admission::Existing(s) if s.status != LabStatus::Queued => {
                    StartResult::Running(self.state.labs.view(&s).await?)
                }
                Admission::Started(s) | Admission::Existing(s) | Admission::Queued(s) => {
                    StartResult::Queued(self.state.labs.view(&s).await?)
                }
                Admission::Busy(other) => StartResult::Busy {
                    running: self.state.labs.view(&other).await?,
                },
            })
        };
        run.await.map_err(Error::into_ui_message)
    }

    async fn session(&self, req: &Parts, id: &str) -> Result<LabSessionView, String> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.session(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_ui_message)
    }

    async fn stop(&self, req: &Parts, id: &str) -> Result<(), String> {
        let user = self.caller(req).await?;
        self.state
            .labs
            .stop(user, id)
            .await
            .map_err(Error::into_ui_message)
    }

    async fn reset(&self, req: &Parts, id: &str) -> Result<LabSessionView, String> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.reset(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_ui_message)
    }

    async fn extend(&self, req: &Parts, id: &str) -> Result<LabSessionView, String> {
        let user = self.caller(req).await?;
        let run = async {
            let s = self.state.labs.extend(user, id).await?;
            self.state.labs.view(&s).await
        };
        run.await.map_err(Error::into_ui_message)
    }
}
