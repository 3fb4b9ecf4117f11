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

/// What a server function answers when it fails: the stable code of the
/// JSON API's `error` field (`unauthorized`, `conflict`, `rate_limited` …,
/// or `unreachable` when the server could not be reached) and a sentence
/// that tells the user what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl leptos::server_fn::error::FromServerFnError for ApiError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(err: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        ApiError::new(
            "unreachable",
            format!("Could not reach the server ({err}). Check your connection and try again."),
        )
    }
}

/// The sentence to show for a failed server function.
pub fn error_text(err: &ApiError) -> String {
    err.message.clone()
}

/// The backend of type `B` the server provided, and the current request.
#[cfg(feature = "ssr")]
pub fn backend<B: ?Sized + Send + Sync + 'static>(
) -> Result<(std::sync::Arc<B>, http::request::Parts), ApiError> {
    let internal =
        |what: &str| ApiError::new("internal", format!("The server is missing its {what}."));
    let backend = use_context::<std::sync::Arc<B>>().ok_or_else(|| internal("backend"))?;
    let parts = use_context::<http::request::Parts>().ok_or_else(|| internal("request"))?;
    Ok((backend, parts))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the contract.

    use super::{Account, ApiError, Me};

    /// Implemented by the server crate and provided as context.
    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn me(&self, req: &http::request::Parts) -> Result<Option<Me>, ApiError>;
        async fn register(
            &self,
            req: &http::request::Parts,
            username: String,
            password: String,
            email: Option<String>,
            join_code: Option<String>,
        ) -> Result<Me, ApiError>;
        async fn login(
            &self,
            req: &http::request::Parts,
            username: String,
            password: String,
        ) -> Result<Me, ApiError>;
        async fn logout(&self, req: &http::request::Parts) -> Result<(), ApiError>;
        async fn change_password(
            &self,
            req: &http::request::Parts,
            current: String,
            new: String,
        ) -> Result<(), ApiError>;
        async fn list_accounts(&self, req: &http::request::Parts)
            -> Result<Vec<Account>, ApiError>;
        async fn set_role(
            &self,
            req: &http::request::Parts,
            user_id: i64,
            role: String,
        ) -> Result<Account, ApiError>;
    }
}

/// Who is signed in (a guest identity counts), if anyone.
#[server]
pub async fn get_me() -> Result<Option<Me>, ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend.me(&req).await
}

/// Creates an account (claiming the guest's progress) and signs in.
#[server]
pub async fn register(
    username: String,
    password: String,
    email: Option<String>,
    /// A workshop's join code: a class sharing one address may register.
    join_code: Option<String>,
) -> Result<Me, ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend
        .register(&req, username, password, email, join_code)
        .await
}

/// Signs in.
#[server]
pub async fn login(username: String, password: String) -> Result<Me, ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend.login(&req, username, password).await
}

/// Signs out.
#[server]
pub async fn logout() -> Result<(), ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend.logout(&req).await
}

/// Changes the signed-in user's password.
#[server]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend
        .change_password(&req, current_password, new_password)
        .await
}

/// Every registered account (admins only).
#[server]
pub async fn list_accounts() -> Result<Vec<Account>, ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend.list_accounts(&req).await
}

/// Gives an account another role (admins only).
#[server]
pub async fn set_role(user_id: i64, role: String) -> Result<Account, ApiError> {
    let (backend, req) = crate::api::backend::<dyn ssr::Backend>()?;
    backend.set_role(&req, user_id, role).await
}
