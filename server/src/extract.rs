//! Extractors shared by every JSON route, so each kind of input is accepted
//! (and refused) one way.

use axum::{
    extract::{FromRequest, Request},
    http::StatusCode,
    Json,
};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A type a JSON route takes as its body, with an example learners and
/// scripts see when they send something else.
pub trait RequestBody: DeserializeOwned {
    /// A valid body, e.g. `{"lab": "<lab id>"}`.
    const EXAMPLE: &'static str;
}

/// The JSON body of an API request. A body that is not JSON of the right
/// shape, or is too large, is a 400 in the API's error format (never
/// axum's plain-text rejection).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: RequestBody,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(body)) => Ok(ApiJson(body)),
            Err(e) if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => Err(Error::NotJson),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Error::BadRequest(
                "The request body is larger than this route accepts.".into(),
            )),
            Err(e) => Err(Error::BadRequest(format!(
                "Send a JSON body like {}: {}",
                T::EXAMPLE,
                e.body_text()
            ))),
        }
    }
}
