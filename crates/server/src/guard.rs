//! Protections for a server a browser talks to: the Host header must name this server (a
//! page cannot reach it by DNS rebinding), a request that changes something must come from
//! this server's own pages (no cross-site request forgery), and every response tells the
//! browser to run only this server's scripts and never frame it.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The host names (without port) requests may be addressed to.
#[derive(Clone, Debug)]
pub struct AllowedHosts(Vec<String>);

impl Default for AllowedHosts {
    fn default() -> Self {
        AllowedHosts::new(None, &[])
    }
}

impl AllowedHosts {
    /// localhost, 127.0.0.1 and ::1, the address the server is bound to (unless it is the
    /// unspecified one), and `extra` names (`--allowed-host`).
    pub fn new(bound: Option<IpAddr>, extra: &[String]) -> AllowedHosts {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        if let Some(ip) = bound.filter(|ip| !ip.is_unspecified()) {
            names.push(ip.to_string());
        }
        names.extend(extra.iter().map(|h| host_name(h).to_ascii_lowercase()));
        names.sort();
        names.dedup();
        AllowedHosts(names)
    }

    /// An IP address is always allowed: DNS rebinding needs a name, and a page whose origin
    /// is this server's address is this server's own.
    pub fn allows(&self, authority: &str) -> bool {
        let name = host_name(authority).to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok() || self.0.contains(&name)
    }
}

/// The host of `HOST[:PORT]`, `[V6]:PORT` or `V6`, without brackets and port.
fn host_name(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

/// The authority a request is addressed to: the Host header (HTTP/1.1) or the URI's
/// (HTTP/2 `:authority`).
fn authority(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

/// 421 for a Host this server does not answer to; 403 for a cross-origin request that
/// would change something.
pub async fn check(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(host) = authority(&request) else {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "the request names no host");
    };
    if !hosts.allows(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this server does not answer to the host {:?}; start it with --allowed-host {} to allow that name",
                host_name(&host),
                host_name(&host)
            ),
        );
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Err(why) = same_origin(&request, &host) {
        return refuse(StatusCode::FORBIDDEN, &why);
    }
    let mut response = next.run(request).await;
    secure_headers(response.headers_mut());
    response
}

/// A request that changes something must come from this server's pages. Browsers send
/// `Origin` with every such request (and `Sec-Fetch-Site`); clients other than browsers
/// send neither, and are held off by the token.
fn same_origin(request: &Request, host: &str) -> Result<(), String> {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(format!("a {site} request may not change anything here"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null");
    let of_origin = origin
        .split_once("://")
        .map(|(_, authority)| authority.trim_end_matches('/'));
    match of_origin {
        Some(authority) if authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(format!(
            "a request from {origin:?} may not change anything here (cross-origin)"
        )),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = ApiError::new(status, message).into_response();
    secure_headers(response.headers_mut());
    response
}

/// Scripts, styles and everything else only from this server; no framing, no sniffing, no
/// referrer. Styles may be inline attributes (the UI positions elements with them), scripts
/// never.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Browsers that saw this over HTTPS use HTTPS only for this name for a year.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// `Strict-Transport-Security` on every response of an HTTPS server, except to `localhost`:
/// a browser would pin every port of the machine's own name to HTTPS, other local servers'
/// included. (Browsers ignore it for IP addresses.)
pub async fn strict_transport(request: Request, next: Next) -> Response {
    let local = authority(&request).is_some_and(|a| {
        let name = host_name(&a).to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost")
    });
    let mut response = next.run(request).await;
    if !local {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_read_from_every_authority_form() {
        assert_eq!(host_name("localhost:8080"), "localhost");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("::1"), "::1");
        assert_eq!(host_name("10.0.0.5"), "10.0.0.5");
        let hosts = AllowedHosts::new(
            Some("10.0.0.5".parse().unwrap()),
            &["flowlens.example.com".into()],
        );
        for ok in [
            "localhost:1",
            "127.0.0.1:80",
            "[::1]:9",
            "10.0.0.5:8080",
            "FLOWLENS.example.com",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "localhost.evil.example",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        // Addresses are not names a page can rebind.
        assert!(AllowedHosts::default().allows("10.1.2.3:8080"));
    }
}
