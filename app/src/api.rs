//! What the UI asks of the server, as Leptos server functions. Their bodies
//! run only on the server, where they call the [`ssr::Backend`] the server
//! crate provides; the UI never touches the database or Docker itself.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in identity as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    /// `guest`, `learner`, `instructor` or `admin`.
    pub role: String,
    pub created_at: i64,
}

impl Me {
    pub fn is_guest(&self) -> bool {
        self.role == "guest"
    }
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// A registered account in the admin's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub role: String,
}

/// The sentence to show for a failed server function.
pub fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => {
            format!("Could not reach the server ({other}). Check your connection and try again.")
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the contract.
    use std::sync::Arc;

    use super::{Account, Me};

    /// Implemented by the server crate and provided as context.
    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn me(&self, req: &http::request::Parts) -> Result<Option<Me>, String>;
        async fn register(
            &self,
            req: &http::request::Parts,
            username: String,
            password: String,
            email: Option<String>,
            join_code: Option<String>,
        ) -> Result<Me, String>;
        async fn login(
            &self,
            req: &http::request::Parts,
            username: String,
            password: String,
        ) -> Result<Me, String>;
        async fn logout(&self, req: &http::request::Parts) -> Result<(), String>;
        async fn change_password(
            &self,
            req: &http::request::Parts,
            current: String,
            new: String,
        ) -> Result<(), String>;
        async fn list_accounts(&self, req: &http::request::Parts) -> Result<Vec<Account>, String>;
        async fn set_role(
            &self,
            req: &http::request::Parts,
            user_id: i64,
            role: String,
        ) -> Result<Account, String>;
    }

    /// The backend and the current request, or a server error.
    pub fn context(
    ) -> Result<(Arc<dyn Backend>, http::request::Parts), leptos::prelude::ServerFnError> {
        use leptos::prelude::*;
        let backend = use_context::<Arc<dyn Backend>>()
            .ok_or_else(|| ServerFnError::new("the server did not provide its backend"))?;
        let parts = use_context::<http::request::Parts>()
            .ok_or_else(|| ServerFnError::new("no request in context"))?;
        Ok((backend, parts))
    }
}

/// Who is signed in (a guest identity counts), if anyone.
#[server]
pub async fn get_me() -> Result<Option<Me>, ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend.me(&req).await.map_err(ServerFnError::new)
}

/// Creates an account (claiming the guest's progress) and signs in.
#[server]
pub async fn register(
    username: String,
    password: String,
    email: Option<String>,
    /// A workshop's join code: a class sharing one address may register.
    join_code: Option<String>,
) -> Result<Me, ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend
        .register(&req, username, password, email, join_code)
        .await
        .map_err(ServerFnError::new)
}

/// Signs in.
#[server]
pub async fn login(username: String, password: String) -> Result<Me, ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend
        .login(&req, username, password)
        .await
        .map_err(ServerFnError::new)
}

/// Signs out.
#[server]
pub async fn logout() -> Result<(), ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend.logout(&req).await.map_err(ServerFnError::new)
}

/// Changes the signed-in user's password.
#[server]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend
        .change_password(&req, current_password, new_password)
        .await
        .map_err(ServerFnError::new)
}

/// Every registered account (admins only).
#[server]
pub async fn list_accounts() -> Result<Vec<Account>, ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend
        .list_accounts(&req)
        .await
        .map_err(ServerFnError::new)
}

/// Gives an account another role (admins only).
#[server]
pub async fn set_role(user_id: i64, role: String) -> Result<Account, ServerFnError> {
    let (backend, req) = ssr::context()?;
    backend
        .set_role(&req, user_id, role)
        .await
        .map_err(ServerFnError::new)
}
