//! Bearer tokens scoped to one district, and the extractors every district handler takes.
//!
//! A token is `rs_` + 32 bytes from the OS random generator, base64url. Only its SHA-256 is
//! stored, as `tokens/{sha256 hex}.json` = [`TokenRecord`]; the token itself is shown once to
//! whoever created it and is never stored or logged.
//!
//! [`ReadAccess`] and [`AdminAccess`] check, in this order: a known token (else 401), of the
//! district named in the path, which exists (else 404, the same answer as for a district that
//! does not exist), with the admin scope for [`AdminAccess`] (else 403).

use crate::ApiState;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use store::{ObjectStore, StoreError};

const PREFIX: &str = "rs_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything on its district, runs and admin steps included.
    Admin,
    /// Reads only: reports, changes, settings, schools, classrooms.
    ReadOnly,
}

/// What is stored for a token, under its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub district: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("district id must be 1-128 characters of letters, digits, '-', '_' or '.'")]
    InvalidDistrict,
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token for `district` (admin, or read-only) and returns it. Only its hash is kept.
pub async fn create_token(
    objects: &dyn ObjectStore,
    district: &str,
    read_only: bool,
) -> Result<String, TokenError> {
    if !valid_id(district) {
        return Err(TokenError::InvalidDistrict);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let record = TokenRecord {
        district: district.to_string(),
        scope: if read_only {
            Scope::ReadOnly
        } else {
            Scope::Admin
        },
        created_at: Utc::now(),
    };
    let body = serde_json::to_vec(&record)
        .map_err(|e| TokenError::Store(StoreError::Permanent(e.to_string())))?;
    objects.put_if_absent(&token_key(&token), body).await?;
    Ok(token)
}

/// Where a token's record is stored: `tokens/{sha256(token) as hex}.json`.
pub fn token_key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut key = String::with_capacity(7 + 64 + 5);
    key.push_str("tokens/");
    for b in digest {
        let _ = write!(key, "{b:02x}");
    }
    key.push_str(".json");
    key
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && id != "."
        && id != ".."
}

/// A request allowed to read `district`.
#[derive(Debug, Clone)]
pub struct ReadAccess {
    pub district: String,
    pub scope: Scope,
}

/// A request allowed to change `district`.
#[derive(Debug, Clone)]
pub struct AdminAccess {
    pub district: String,
}

impl FromRequestParts<ApiState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (district, scope) = authorize(parts, state).await?;
        Ok(Self { district, scope })
    }
}

impl FromRequestParts<ApiState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match authorize(parts, state).await? {
            (district, Scope::Admin) => Ok(Self { district }),
            (_, Scope::ReadOnly) => Err(ApiError::Forbidden),
        }
    }
}

async fn authorize(parts: &mut Parts, state: &ApiState) -> Result<(String, Scope), ApiError> {
    let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
    let record = match state.objects.get(&token_key(token)).await {
        Ok(bytes) => serde_json::from_slice::<TokenRecord>(&bytes)
            .map_err(|e| anyhow::anyhow!("unreadable token record: {e}"))?,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NotFound("district"))?;
    let district = params
        .iter()
        .find(|(name, _)| *name == "d")
        .map(|(_, value)| value.to_string())
        .ok_or(ApiError::NotFound("district"))?;
    if district != record.district || state.runs.get_district(&district).await?.is_none() {
        return Err(ApiError::NotFound("district"));
    }
    Ok((district, record.scope))
}

/// The token of an `Authorization: Bearer rs_...` header, if it has a plausible shape.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(PREFIX) && token.len() <= 128)
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_keys_are_hex_sha256() {
        assert_eq!(
            token_key("abc"),
            "tokens/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json"
        );
    }
}
