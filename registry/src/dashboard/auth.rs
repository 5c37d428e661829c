//! The dashboard's door when authentication is on (the registry's
//! `--auth-tokens-file` / `--jwt-*`): every page and API answer needs a
//! token whose roles grant `reader`, the same tokens and JWTs the gRPC
//! services accept.
//!
//! Scripts send `Authorization: Bearer TOKEN`. Browsers sign in once at
//! `/login` (a form posting the token); the answer sets the token in an
//! `HttpOnly`, `SameSite=Strict` cookie (`joust_token`) that later requests
//! carry. With authentication off the door is open, like the gRPC side.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use joust_security::{Authenticator, Role};
use serde::Deserialize;

use super::html;

/// Name of the cookie holding a signed-in browser's token.
pub const COOKIE: &str = "joust_token";

/// The authenticator the dashboard checks against (`None`: open).
pub type Door = Option<Arc<Authenticator>>;

/// The bearer credentials of a request: its `Authorization` header, else
/// its `joust_token` cookie.
fn credentials(headers: &HeaderMap) -> Option<Vec<u8>> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        return Some(v.as_bytes().to_vec());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, token)| format!("Bearer {token}").into_bytes())
}

/// Admits a request whose token grants `reader`; `/login` is always open.
pub async fn require_reader(State(door): State<Door>, request: Request, next: Next) -> Response {
    let Some(auth) = door else {
        return next.run(request).await;
    };
    if request.uri().path() == "/login" {
        return next.run(request).await;
    }
    let api = request.uri().path().starts_with("/api/");
    let refused = |status: StatusCode, message: String| -> Response {
        if api {
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
        } else {
            (status, login_page(Some(&message))).into_response()
        }
    };
    match admit_reader(&auth, credentials(request.headers()).as_deref()) {
        Ok(()) => next.run(request).await,
        Err((status, message)) => refused(status, message),
    }
}

/// Checks `authorization` (`Bearer TOKEN`): 401 without a valid token, 403
/// when its roles do not grant `reader`.
fn admit_reader(
    auth: &Authenticator,
    authorization: Option<&[u8]>,
) -> Result<(), (StatusCode, String)> {
    let identity = auth
        .authenticate(authorization)
        .map_err(|message| (StatusCode::UNAUTHORIZED, message))?;
    if identity.has(Role::Reader) {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            format!(
                "the dashboard needs role reader; {:?} has {}",
                identity.subject,
                identity.roles_text()
            ),
        ))
    }
}

fn login_page(error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!(r#"<p class="bad">{}</p>"#, html::esc(e)))
        .unwrap_or_default();
    html::page(
        "Sign in",
        None,
        &format!(
            r#"<h1>Sign in</h1>{error}
<p>Authentication is on: the dashboard needs a token (static token or JWT) with role <code>reader</code>.</p>
<form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="off"></label> <button type="submit">Sign in</button></form>"#
        ),
    )
}

/// `GET /login`: the sign-in form.
pub async fn login_form(State(door): State<Door>) -> Response {
    if door.is_none() {
        return login_page(Some(
            "authentication is off on this registry: nothing to sign in to",
        ))
        .into_response();
    }
    login_page(None).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: checks the token (it must grant `reader`), then sets the
/// cookie and sends the browser to the models page.
pub async fn login(State(door): State<Door>, Form(form): Form<LoginForm>) -> Response {
    let Some(auth) = door else {
        return (StatusCode::OK, login_page(Some("authentication is off"))).into_response();
    };
    let token = form.token.trim();
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
    {
        return (
            StatusCode::BAD_REQUEST,
            login_page(Some(
                "token: expected printable ASCII without ; , \" or \\ (send other tokens in an Authorization header)",
            )),
        )
            .into_response();
    }
    match admit_reader(&auth, Some(format!("Bearer {token}").as_bytes())) {
        Err((status, message)) => (status, login_page(Some(&message))).into_response(),
        Ok(()) => {
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            match HeaderValue::from_str(&cookie) {
                Ok(value) => (
                    StatusCode::SEE_OTHER,
                    [
                        (header::SET_COOKIE, value),
                        (header::LOCATION, HeaderValue::from_static("/")),
                    ],
                )
                    .into_response(),
                Err(_) => (
                    StatusCode::BAD_REQUEST,
                    login_page(Some(
                        "token: not usable in a cookie; send it in an Authorization header",
                    )),
                )
                    .into_response(),
            }
        }
    }
}
