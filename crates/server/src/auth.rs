//! Who is asking: every API request carries the server's token, as `Authorization: Bearer`
//! or as the session cookie the login endpoint sets, except `/api/health`. The caller is
//! attached to the request as a [`Principal`], which is what authorization will look at.

use crate::error::ApiError;
use crate::roles::{Roles, Scope};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie that carries the token for the browser.
pub const SESSION_COOKIE: &str = "flowlens_session";

/// The secret that opens the API.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    /// A new random token: 32 bytes from the operating system, base64url without padding.
    pub fn generate() -> std::io::Result<Token> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        Ok(Token(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into(),
        ))
    }

    /// A token given as text (a `--token-file`), surrounding whitespace aside.
    pub fn new(text: &str) -> Result<Token, String> {
        let text = text.trim();
        if text.len() < 16 {
            return Err("a token needs at least 16 characters".into());
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a token is printable ASCII without spaces".into());
        }
        Ok(Token(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, given: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(given.as_bytes()))
    }

    /// The token in `path`, or a new one written there (mode 0600) when the file does not
    /// exist yet.
    pub fn load_or_create(path: &Path) -> Result<Token, TokenFileError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Token::new(&text).map_err(|reason| TokenFileError {
                path: path.to_path_buf(),
                reason,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = Token::generate().map_err(|e| TokenFileError::io(path, e))?;
                write_private(path, token.as_str()).map_err(|e| TokenFileError::io(path, e))?;
                Ok(token)
            }
            Err(e) => Err(TokenFileError::io(path, e)),
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("token file {}: {reason}", path.display())]
pub struct TokenFileError {
    pub path: PathBuf,
    pub reason: String,
}

impl TokenFileError {
    fn io(path: &Path, e: std::io::Error) -> TokenFileError {
        TokenFileError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Creates `path` readable by its owner only (never replacing a file), and writes `text`.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Who made a request, attached to it as an extension for the handlers, which look at its
/// [`Scope`]. The server's token and `--no-auth` give the administrator; a roles file's
/// token gives its user's scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub how: Authenticated,
    pub scope: Scope,
}

impl Principal {
    /// The administrator, e.g. for callers inside the process.
    pub fn admin(name: &str, how: Authenticated) -> Principal {
        Principal {
            name: name.into(),
            how,
            scope: Scope::Admin,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Authenticated {
    /// `Authorization: Bearer` with the server's token.
    Bearer,
    /// The session cookie the login endpoint set.
    Cookie,
    /// The server runs with `--no-auth`.
    Disabled,
    /// A Kubernetes token the cluster vouched for (`serve --kube`), as a bearer token or
    /// the session cookie.
    Kubernetes,
}

/// How requests are authenticated.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The administrator's token. Authentication is off (`--no-auth`, loopback only) when
    /// there is neither this nor `roles`.
    pub token: Option<Token>,
    /// The users of a roles file (`--roles`), each with a token and a scope.
    pub roles: Option<Arc<Roles>>,
    /// Kubernetes tokens checked with the cluster, their users' scopes from RBAC
    /// (`serve --kube`).
    pub kube: Option<Arc<crate::kube_auth::KubeAuth>>,
    /// The cookie gets `Secure` (the server speaks TLS).
    pub secure_cookie: bool,
}

/// Paths that answer without a token.
fn is_public(path: &str) -> bool {
    matches!(path, "/api/health" | "/api/login" | "/api/logout")
        || !(path.starts_with("/api/") || path == "/metrics")
}

impl AuthConfig {
    /// Whether authentication is off (`--no-auth`): nothing to check tokens against.
    fn is_disabled(&self) -> bool {
        self.token.is_none() && self.roles.is_none() && self.kube.is_none()
    }
}

/// The token a request presents: the first bearer token, else the session cookie's.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .find_map(|value| {
            let (scheme, given) = value.to_str().ok()?.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| given.trim().to_string())
        });
    bearer.or_else(|| {
        headers.get_all(header::COOKIE).iter().find_map(|value| {
            value.to_str().ok()?.split(';').find_map(|pair| {
                let (name, given) = pair.trim().split_once('=')?;
                (name == SESSION_COOKIE && !given.is_empty()).then(|| given.to_string())
            })
        })
    })
}

/// The principal `headers` prove with a token of this server, if any.
fn principal(config: &AuthConfig, headers: &HeaderMap) -> Option<Principal> {
    if config.is_disabled() {
        return Some(Principal::admin("anonymous", Authenticated::Disabled));
    }
    for value in headers.get_all(header::AUTHORIZATION) {
        // A malformed header proves nothing, and does not hide a good cookie.
        let Some((scheme, given)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
            continue;
        };
        if scheme.eq_ignore_ascii_case("bearer")
            && let Some(who) = config.holder(given.trim(), Authenticated::Bearer)
        {
            return Some(who);
        }
    }
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((name, given)) = pair.trim().split_once('=')
                && name == SESSION_COOKIE
                && let Some(who) = config.holder(given, Authenticated::Cookie)
            {
                return Some(who);
            }
        }
    }
    None
}

impl AuthConfig {
    /// The principal whose token `given` is: the administrator's, or a roles file user's.
    fn holder(&self, given: &str, how: Authenticated) -> Option<Principal> {
        let admin = self.token.as_ref().is_some_and(|t| t.matches(given));
        let user = self.roles.as_ref().and_then(|r| r.user(given));
        if admin {
            return Some(Principal::admin("admin", how));
        }
        user.map(|u| Principal {
            name: u.name.clone(),
            how,
            scope: u.scope.clone(),
        })
    }
}

/// Lets a request through with its [`Principal`] (and, for a Kubernetes user, its
/// [`KubeIdentity`](crate::kube_auth::KubeIdentity)), or answers 401 (503 when a Kubernetes
/// token cannot be checked now).
pub async fn require(
    State(config): State<Arc<AuthConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let found = match principal(&config, request.headers()) {
        Some(who) => Ok(Some((who, None))),
        None => match (&config.kube, presented_token(request.headers())) {
            (Some(kube), Some(token)) => kube
                .principal(&token)
                .await
                .map(|(who, identity)| Some((who, Some(identity)))),
            _ => Ok(None),
        },
    };
    match found {
        Ok(Some((who, identity))) => {
            request.extensions_mut().insert(who);
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
            next.run(request).await
        }
        _ if is_public(request.uri().path()) => next.run(request).await,
        Ok(None) => with_challenge(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this API needs the server's token: Authorization: Bearer TOKEN, or open the login URL flowlens printed at start",
            )
            .into_response(),
        ),
        Err(e) => with_challenge(e.into_response()),
    }
}

/// A 401 with `WWW-Authenticate: Bearer`.
fn with_challenge(mut response: Response) -> Response {
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /api/login {"token": …}`: a right token (with `serve --kube`, also a Kubernetes
/// token the cluster accepts) gets the session cookie.
pub async fn login(State(config): State<Arc<AuthConfig>>, Json(login): Json<Login>) -> Response {
    if config.is_disabled() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let given = login.token.trim();
    if config.holder(given, Authenticated::Cookie).is_none() {
        let refusal = match &config.kube {
            Some(kube) => kube.principal(given).await.err(),
            None => Some(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "that is not a token of this server",
            )),
        };
        if let Some(e) = refusal {
            return e.into_response();
        }
    }
    // The cookie holds the token as given: only printable ASCII without separators.
    if !given
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    {
        return ApiError::bad_request("a token is printable ASCII without ; or ,").into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/{}",
        if config.secure_cookie { "; Secure" } else { "" }
    );
    session_response(cookie)
}

/// `POST /api/logout`: the session cookie is dropped.
pub async fn logout(State(config): State<Arc<AuthConfig>>) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if config.secure_cookie { "; Secure" } else { "" }
    );
    session_response(cookie)
}

fn session_response(cookie: String) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn generated_tokens_are_32_random_bytes_in_base64url() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.as_str().len(), 43);
        assert_ne!(a.as_str(), b.as_str());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(a.as_str())
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn bearer_and_cookie_prove_the_token_and_nothing_else_does() {
        let token = Token::generate().unwrap();
        let config = AuthConfig {
            token: Some(token.clone()),
            ..AuthConfig::default()
        };
        let t = token.as_str();
        let bearer = format!("Bearer {t}");
        let cookie = format!("theme=dark; {SESSION_COOKIE}={t}");
        let who = |h: &[(header::HeaderName, &str)]| principal(&config, &headers(h)).map(|p| p.how);
        assert_eq!(
            who(&[(header::AUTHORIZATION, &bearer)]),
            Some(Authenticated::Bearer)
        );
        assert_eq!(
            who(&[(header::COOKIE, &cookie)]),
            Some(Authenticated::Cookie)
        );
        assert_eq!(who(&[]), None);
        assert_eq!(
            who(&[(header::AUTHORIZATION, &format!("Bearer {t}x"))]),
            None
        );
        assert_eq!(who(&[(header::AUTHORIZATION, &format!("Basic {t}"))]), None);
        assert_eq!(who(&[(header::COOKIE, &format!("other={t}"))]), None);
        assert_eq!(
            who(&[
                (header::AUTHORIZATION, "garbage"),
                (header::COOKIE, &cookie)
            ]),
            Some(Authenticated::Cookie)
        );
        let open = AuthConfig::default();
        assert_eq!(
            principal(&open, &HeaderMap::new()).map(|p| p.how),
            Some(Authenticated::Disabled)
        );
    }

    #[test]
    fn token_files_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-token");
        let first = Token::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Token::load_or_create(&path).unwrap();
        assert_eq!(first.as_str(), again.as_str());
        std::fs::write(&path, "short").unwrap();
        assert!(Token::load_or_create(&path).is_err());
    }
}
