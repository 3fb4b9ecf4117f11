//! Port previews of labs with Docker: the browser's request written as
//! plain HTTP/1.0 for the relay inside the learner's container, and the
//! container's answer turned back into a response the browser can only use
//! in a sandbox (an opaque origin: no Drydock cookies, no Drydock pages).

use axum::{
    body::Body,
    http::{request::Parts, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};

use crate::error::{Error, Result};

/// Request headers passed on to the learner's server; nothing else (no
/// cookies, no credentials of Drydock's).
const PASSED_ON: &[&str] = &[
    "accept",
    "accept-language",
    "content-type",
    "user-agent",
    "if-none-match",
    "if-modified-since",
];

/// Answer headers passed back to the browser.
const PASSED_BACK: &[&str] = &[
    "content-type",
    "cache-control",
    "etag",
    "last-modified",
    "location",
    "content-language",
];

/// `parts` and `body` as one HTTP/1.0 request for `/rest` on `port`; the
/// connection closes after the answer, which ends the relay.
pub fn request(parts: &Parts, rest: &str, port: u16, body: &[u8]) -> Result<Vec<u8>> {
    if !matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    ) {
        return Err(Error::BadRequest(
            "Previews pass on GET, HEAD, POST, PUT, PATCH and DELETE.".into(),
        ));
    }
    let mut target = format!("/{rest}");
    if let Some(query) = parts.uri.query() {
        target.push('?');
        target.push_str(query);
    }
    if target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(Error::BadRequest(
            "That preview address has characters HTTP cannot carry.".into(),
        ));
    }
    let mut head = format!(
        "{} {target} HTTP/1.0\r\nHost: localhost:{port}\r\nConnection: close\r\n",
        parts.method
    );
    for name in PASSED_ON {
        if let Some(value) = parts.headers.get(*name).and_then(|v| v.to_str().ok()) {
            if !value.bytes().any(|b| b.is_ascii_control()) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
    }
    if !body.is_empty() || parts.method == Method::POST || parts.method == Method::PUT {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    Ok(raw)
}

/// The container's raw answer as the browser gets it.
pub fn response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let Some((head_end, body_start)) = split else {
        let text = if raw.is_empty() {
            "The server in the container closed the connection without answering. Is it listening on that port?"
        } else {
            "The server in the container did not answer with HTTP."
        };
        return (StatusCode::BAD_GATEWAY, text).into_response();
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::from(raw[body_start..].to_vec()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if let (Some(known), Ok(value)) = (
            PASSED_BACK.iter().find(|k| **k == name),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(*known, value);
        }
    }
    // Whatever the page is, it runs in a sandbox with an origin of its own.
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox allow-scripts allow-forms allow-popups allow-modals"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "x-drydock-preview",
        HeaderValue::from_static("relayed through the Docker API"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = axum::http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_request_carries_no_cookie_and_closes() {
        let p = parts(
            "GET",
            "/labs/s/preview/web/8080/a/b?x=1",
            &[
                ("cookie", "drydock_session=secret"),
                ("accept", "text/html"),
            ],
        );
        let raw = String::from_utf8(request(&p, "a/b", 8080, b"").unwrap()).unwrap();
        assert!(
            raw.starts_with(
                "GET /a/b?x=1 HTTP/1.0\r\nHost: localhost:8080\r\nConnection: close\r\n"
            ),
            "{raw}"
        );
        assert!(raw.contains("accept: text/html\r\n"));
        assert!(!raw.to_lowercase().contains("secret"), "{raw}");
        assert!(request(&parts("CONNECT", "/x", &[]), "", 1, b"").is_err());
    }

    #[test]
    fn the_answer_is_sandboxed_and_broken_ones_are_explained() {
        let ok = response(
            b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=b\r\n\r\nhello",
        );
        assert_eq!(ok.status(), 201);
        assert_eq!(ok.headers()["content-type"], "text/plain");
        assert!(ok.headers().get("set-cookie").is_none());
        assert!(ok.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox"));
        assert_eq!(response(b"").status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response(b"garbage").status(), StatusCode::BAD_GATEWAY);
    }
}
