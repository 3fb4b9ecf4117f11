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

/// Whether `origin` (lower-case `scheme://host[:port]`) is this site: the
/// configured public URL when there is one; otherwise (a loopback-only
/// server, see [`crate::config::Config::check`]) a loopback name of the
/// address the server is bound to. The request's own `Host` header is never
/// trusted: a DNS-rebinding page controls it.
fn is_same_site(origin: &str, bound: std::net::SocketAddr, public_url: Option<&str>) -> bool {
    if let Some(public) = public_url {
        return origin_of(public).is_some_and(|p| p == origin);
    }
    let port = bound.port();
    let mut names = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    names.push(match bound.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        ip => format!("{ip}:{port}"),
    });
    names
        .iter()
        .any(|n| origin == format!("http://{n}") || origin == format!("https://{n}"))
}

/// The one same-origin rule: a request whose `Origin` (or, without one,
/// `Referer`) names another site is cross-site. Requests with neither come
/// from non-browser clients, which cannot carry a victim's cookies.
pub fn is_cross_site(headers: &axum::http::HeaderMap, state: &AppState) -> Option<String> {
    let claimed = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null").to_string())
        .or_else(|| {
            headers
                .get(header::REFERER)
                .map(|v| origin_of(v.to_str().unwrap_or("")).unwrap_or_else(|| "null".into()))
        })?;
    let origin = claimed.to_ascii_lowercase();
    let same = origin != "null"
        && is_same_site(
            &origin,
            state.leptos_options.site_addr,
            state.config.public_url.as_deref(),
        );
    (!same).then_some(origin)
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
    if let Some(origin) = is_cross_site(req.headers(), &state) {
        tracing::warn!(%origin, path = %req.uri().path(), "refused a cross-site request");
        return Error::CrossSiteRequest.into_response();
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
        let bound: std::net::SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert!(is_same_site("http://127.0.0.1:3000", bound, None));
        assert!(is_same_site("http://localhost:3000", bound, None));
        assert!(!is_same_site("http://127.0.0.1:3001", bound, None));
        assert!(!is_same_site("https://evil.example", bound, None));
        // A rebinding page's own host name is not this site, whatever Host says.
        assert!(!is_same_site("http://evil.example:3000", bound, None));
        assert!(is_same_site(
            "https://drydock.example",
            bound,
            Some("https://drydock.example/")
        ));
        assert!(!is_same_site(
            "http://127.0.0.1:3000",
            bound,
            Some("https://drydock.example/")
        ));
    }
}
