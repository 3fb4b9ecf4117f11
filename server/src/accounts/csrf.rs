//! Cross-site request refusal: a state-changing request that a browser
//! labels with another site's `Origin` (or `Referer`) is refused before any
//! handler runs. Together with `SameSite=Lax` session cookies this covers
//! forms, server functions and the JSON API. Requests with neither header
//! come from non-browser clients (scripts, curl), which cannot carry a
//! victim's cookies, so they pass.

use axum::{
    extract::{Request, State},
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::Error, state::AppState};

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

/// Whether `origin` is this site: the configured public URL, or the host the
/// request was sent to.
fn is_same_site(origin: &str, host: Option<&str>, public_url: Option<&str>) -> bool {
    if public_url
        .and_then(origin_of)
        .is_some_and(|public| public == origin)
    {
        return true;
    }
    let Some(host) = host.map(str::to_ascii_lowercase) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The middleware.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let claimed = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null").to_string())
        .or_else(|| {
            headers
                .get(header::REFERER)
                .map(|v| origin_of(v.to_str().unwrap_or("")).unwrap_or_else(|| "null".into()))
        });
    if let Some(origin) = claimed {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin = origin.to_ascii_lowercase();
        if origin == "null" || !is_same_site(&origin, host, state.config.public_url.as_deref()) {
            tracing::warn!(%origin, path = %req.uri().path(), "refused a cross-site request");
            return Error::CrossSiteRequest.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://Example.org:8443/a?b").as_deref(),
            Some("https://example.org:8443")
        );
        assert!(is_same_site(
            "http://127.0.0.1:3000",
            Some("127.0.0.1:3000"),
            None
        ));
        assert!(!is_same_site(
            "http://127.0.0.1:3001",
            Some("127.0.0.1:3000"),
            None
        ));
        assert!(!is_same_site(
            "https://evil.example",
            Some("127.0.0.1:3000"),
            None
        ));
        assert!(is_same_site(
            "https://drydock.example",
            Some("internal:3000"),
            Some("https://drydock.example/")
        ));
        assert!(!is_same_site("http://x", None, None));
    }
}
