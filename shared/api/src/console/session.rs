//! Sign-in: a district token (the API's bearer token) is exchanged for a session cookie.
//!
//! - The session id is 32 random bytes; only its SHA-256 names the stored record
//!   (`console/sessions/{hex}.json` in the object store, so sessions work the same on the
//!   Lambda and on `rostersync serve`). The record keeps the district, the scope, the token's
//!   storage key (so a token that is removed ends its sessions), the CSRF token and the expiry.
//! - The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/console`, and `Secure` when the
//!   request came over TLS (`X-Forwarded-Proto: https`, as API Gateway and proxies send).
//! - Every state-changing form carries the session's CSRF token; the sign-in form, which has no
//!   session yet, carries a one-time value that must match a pre-session cookie.

use super::html::{esc, notice, page_with};
use crate::ApiState;
use crate::auth::{Scope, TokenRecord, token_key};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use store::StoreError;

pub const COOKIE_NAME: &str = "rs_console";
const PRE_COOKIE: &str = "rs_console_signin";
/// How long a session lasts from sign-in.
pub const SESSION_HOURS: i64 = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    district: String,
    scope: Scope,
    token_key: String,
    csrf: String,
    expires_at: DateTime<Utc>,
}

/// A signed-in request: its district (the only one it can see) and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub district: String,
    pub scope: Scope,
    pub csrf: String,
    key: String,
}

impl Session {
    pub fn read_only(&self) -> bool {
        self.scope == Scope::ReadOnly
    }

    /// Checks a submitted form's CSRF field, and that the session may change things.
    pub fn check_form(&self, form: &super::Form) -> Result<(), Response> {
        let sent = form.get("csrf");
        if !constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this console. Go back, reload the page and try again.",
            ));
        }
        if self.read_only() {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "You signed in with a read-only token: it can look at everything but change nothing. Sign in with an admin token to make changes.",
            ));
        }
        Ok(())
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    page_with(
        status,
        "Not allowed",
        0,
        None,
        &format!(
            "{}<p><a href=\"/console\">Back to the console</a></p>",
            notice("error", message)
        ),
        None,
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> Result<String, anyhow::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random generator failed: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn session_key(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let mut key = String::from("console/sessions/");
    for b in digest {
        let _ = write!(key, "{b:02x}");
    }
    key.push_str(".json");
    key
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// True when the request reached us over TLS (directly or through a proxy / API Gateway).
pub fn is_tls(parts_headers: &HeaderMap, scheme: Option<&str>) -> bool {
    scheme == Some("https")
        || parts_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("https")
            })
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let v = format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Why a request has no session: the handler answers with the sign-in page.
#[derive(Debug)]
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/console/sign-in").into_response()
    }
}

impl FromRequestParts<ApiState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &ApiState) -> Result<Self, Response> {
        match load(&parts.headers, st).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(SignInFirst.into_response()),
            Err(e) => Err(super::internal(e)),
        }
    }
}

async fn load(headers: &HeaderMap, st: &ApiState) -> Result<Option<Session>, anyhow::Error> {
    let Some(id) = cookie(headers, COOKIE_NAME).filter(|v| !v.is_empty() && v.len() <= 128) else {
        return Ok(None);
    };
    let key = session_key(id);
    let record: SessionRecord = match st.objects.get(&key).await {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if record.expires_at <= Utc::now() {
        st.objects.delete(&key).await.ok();
        return Ok(None);
    }
    // The token must still exist, for the same district, and the district too.
    let token: TokenRecord = match st.objects.get(&record.token_key).await {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if token.district != record.district || st.runs.get_district(&record.district).await?.is_none()
    {
        return Ok(None);
    }
    Ok(Some(Session {
        district: record.district,
        scope: token.scope,
        csrf: record.csrf,
        key,
    }))
}

fn sign_in_form(pre: &str, error: Option<&str>) -> String {
    format!(
        "{}<p>Sign in with a district token. An administrator creates one with \
         <code>rostersync tokens create --district YOUR-DISTRICT</code>; a read-only token \
         (<code>--read-only</code>) can look but not change.</p>\
         <form method=\"post\" action=\"/console/sign-in\" class=\"card narrow\">\
         <input type=\"hidden\" name=\"pre\" value=\"{}\">\
         <div class=\"field\"><label for=\"token\">District token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required \
          aria-describedby=\"token-help\" autofocus>\
         <p class=\"help\" id=\"token-help\">Starts with <code>rs_</code>. It is exchanged for a \
         session cookie and never shown again.</p></div>\
         <button type=\"submit\">Sign in</button></form>",
        error.map(|e| notice("error", e)).unwrap_or_default(),
        esc(pre)
    )
}

fn sign_in_page(
    status: StatusCode,
    headers: &HeaderMap,
    error: Option<&str>,
) -> Result<Response, anyhow::Error> {
    let pre = random_token()?;
    let mut resp = page_with(status, "Sign in", 0, None, &sign_in_form(&pre, error), None);
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(PRE_COOKIE, &pre, 1800, is_tls(headers, None)),
    );
    Ok(resp)
}

pub async fn sign_in_get(State(st): State<ApiState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = load(&headers, &st).await {
        return Redirect::to("/console").into_response();
    }
    sign_in_page(StatusCode::OK, &headers, None).unwrap_or_else(super::internal)
}

pub async fn sign_in_post(
    State(st): State<ApiState>,
    headers: HeaderMap,
    form: super::FormBody,
) -> Response {
    let form = match form.0 {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pre_ok = cookie(&headers, PRE_COOKIE)
        .is_some_and(|c| constant_time_eq(c.as_bytes(), form.get("pre").as_bytes()));
    if !pre_ok {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            &headers,
            Some("The sign-in form expired or did not come from this console; please try again."),
        )
        .unwrap_or_else(super::internal);
    }
    let token = form.get("token").trim().to_string();
    let bad = || {
        sign_in_page(
            StatusCode::UNAUTHORIZED,
            &headers,
            Some("That token is not valid. Check it was copied whole, or create a new one."),
        )
        .unwrap_or_else(super::internal)
    };
    if !token.starts_with("rs_") || token.len() > 128 {
        return bad();
    }
    let tkey = token_key(&token);
    let record: TokenRecord = match st.objects.get(&tkey).await {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(r) => r,
            Err(e) => return super::internal(anyhow::anyhow!("unreadable token record: {e}")),
        },
        Err(StoreError::NotFound(_)) => return bad(),
        Err(e) => return super::internal(e.into()),
    };
    match st.runs.get_district(&record.district).await {
        Ok(Some(_)) => {}
        Ok(None) => return bad(),
        Err(e) => return super::internal(e.into()),
    }
    let (id, csrf) = match (random_token(), random_token()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return super::internal(e),
    };
    let session = SessionRecord {
        district: record.district.clone(),
        scope: record.scope,
        token_key: tkey,
        csrf,
        expires_at: Utc::now() + Duration::hours(SESSION_HOURS),
    };
    let body = match serde_json::to_vec(&session) {
        Ok(b) => b,
        Err(e) => return super::internal(e.into()),
    };
    if let Err(e) = st.objects.put(&session_key(&id), body).await {
        return super::internal(e.into());
    }
    tracing::info!(district = %record.district, "console sign-in");
    let secure = is_tls(&headers, None);
    let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, "/console")]).into_response();
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(COOKIE_NAME, &id, SESSION_HOURS * 3600, secure),
    );
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(PRE_COOKIE, "", 0, secure));
    resp
}

pub async fn sign_out(
    State(st): State<ApiState>,
    session: Session,
    headers: HeaderMap,
    form: super::FormBody,
) -> Response {
    let form = match form.0 {
        Ok(f) => f,
        Err(r) => return r,
    };
    // Signing out is allowed to read-only sessions too: only the CSRF token is checked.
    if !constant_time_eq(form.get("csrf").as_bytes(), session.csrf.as_bytes()) {
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired; reload the page and try again.",
        );
    }
    if let Err(e) = st.objects.delete(&session.key).await {
        return super::internal(e.into());
    }
    let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, "/console/sign-in")]).into_response();
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(COOKIE_NAME, "", 0, is_tls(&headers, None)),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; rs_console=abc; b=2"));
        assert_eq!(cookie(&h, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&h, "zzz"), None);
    }

    #[test]
    fn csrf_comparison_needs_equal_non_empty_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
