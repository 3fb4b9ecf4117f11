//! The accounts side of the UI's server functions (`drydock_app::api`).

use axum::http::request::Parts;
use drydock_app::api::ApiError;
use drydock_app::api::{ssr::Backend, Account, Me};

use super::{
    guard::{session_of, Admin, ClientIp, Member},
    service::{self, Registration},
};
use crate::{
    db::users::{Role, User},
    error::Error,
    state::AppState,
};

/// Serves the UI's server functions from the application state.
pub struct UiBackend {
    pub state: AppState,
}

fn me(user: &User) -> Me {
    Me {
        id: user.id,
        username: user.username.clone(),
        role: user.role.to_string(),
        created_at: user.created_at,
    }
}

fn account(user: &User) -> Account {
    Account {
        id: user.id,
        username: user.username.clone(),
        role: user.role.to_string(),
    }
}

#[async_trait::async_trait]
impl Backend for UiBackend {
    async fn me(&self, req: &Parts) -> Result<Option<Me>, ApiError> {
        let session = session_of(req).map_err(Error::into_api_error)?;
        let user = super::guard::session_user(&self.state.db, &session)
            .await
            .map_err(Error::into_api_error)?;
        Ok(user.as_ref().map(me))
    }

    async fn register(
        &self,
        req: &Parts,
        username: String,
        password: String,
        email: Option<String>,
        join_code: Option<String>,
    ) -> Result<Me, ApiError> {
        let session = session_of(req).map_err(Error::into_api_error)?;
        let ClientIp(ip) = ClientIp::of(req, &self.state.config.trusted_proxies);
        let user = service::register(
            &self.state,
            &session,
            &ip,
            Registration {
                username,
                password,
                email,
                join_code,
            },
        )
        .await
        .map_err(Error::into_api_error)?;
        Ok(me(&user))
    }

    async fn login(&self, req: &Parts, username: String, password: String) -> Result<Me, ApiError> {
        let session = session_of(req).map_err(Error::into_api_error)?;
        let ClientIp(ip) = ClientIp::of(req, &self.state.config.trusted_proxies);
        let user = service::login(&self.state, &session, &ip, &username, &password)
            .await
            .map_err(Error::into_api_error)?;
        Ok(me(&user))
    }

    async fn logout(&self, req: &Parts) -> Result<(), ApiError> {
        let session = session_of(req).map_err(Error::into_api_error)?;
        let ClientIp(ip) = ClientIp::of(req, &self.state.config.trusted_proxies);
        service::logout(&self.state, &session, &ip)
            .await
            .map_err(Error::into_api_error)
    }

    async fn change_password(
        &self,
        req: &Parts,
        current: String,
        new: String,
    ) -> Result<(), ApiError> {
        let member = Member::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        let ClientIp(ip) = ClientIp::of(req, &self.state.config.trusted_proxies);
        service::change_password(
            &self.state,
            &member.session,
            &member.user,
            &ip,
            &current,
            &new,
        )
        .await
        .map_err(Error::into_api_error)
    }

    async fn list_accounts(&self, req: &Parts) -> Result<Vec<Account>, ApiError> {
        Admin::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        let all = crate::db::users::list_registered(&self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        Ok(all.iter().map(account).collect())
    }

    async fn set_role(&self, req: &Parts, user_id: i64, role: String) -> Result<Account, ApiError> {
        let admin = Admin::from_parts(req, &self.state.db)
            .await
            .map_err(Error::into_api_error)?;
        let ClientIp(ip) = ClientIp::of(req, &self.state.config.trusted_proxies);
        let role: Role = role.parse().map_err(Error::into_api_error)?;
        let user = service::change_role(&self.state, &admin.user, &ip, user_id, role)
            .await
            .map_err(Error::into_api_error)?;
        Ok(account(&user))
    }
}
