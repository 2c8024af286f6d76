//! Who is calling: HTTP Basic `api_key:api_secret` (an administrator of every room) or a
//! bearer join token (an administrator of its room with the `admin` grant, else a
//! participant of it).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::headers::authorization::{Basic, Bearer};
use axum_extra::headers::{Authorization, HeaderMapExt};

use super::AppState;
use super::auth::Claims;
use super::error::ApiError;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The API key and secret.
    Key,
    /// A valid token.
    Token(Claims),
}

impl Caller {
    /// Whether they may administer `room` (`None`: the server's room list).
    pub fn is_admin_of(&self, room: Option<&str>) -> bool {
        match self {
            Caller::Key => true,
            Caller::Token(claims) => {
                claims.grants.admin
                    && (claims.room.is_none() || (room.is_some() && claims.room.as_deref() == room))
            }
        }
    }

    /// Administration of `room` (401 otherwise: the credentials do not allow it).
    pub fn require_admin(&self, room: Option<&str>) -> Result<(), ApiError> {
        if self.is_admin_of(room) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(match room {
                Some(room) => format!("administering room {room:?} needs the admin grant"),
                None => "listing and creating rooms needs the admin grant".into(),
            }))
        }
    }

    /// Reading `room` (its transcript): administrators and its participants.
    pub fn require_member(&self, room: &str) -> Result<(), ApiError> {
        match self {
            Caller::Token(claims) if claims.room.as_deref() == Some(room) && claims.grants.join => {
                Ok(())
            }
            _ if self.is_admin_of(Some(room)) => Ok(()),
            _ => Err(ApiError::unauthorized(format!(
                "the credentials are not for room {room:?}"
            ))),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let credentials = &state.credentials;
        if let Some(Authorization(basic)) = parts.headers.typed_get::<Authorization<Basic>>() {
            return if credentials.matches(basic.username(), basic.password()) {
                Ok(Caller::Key)
            } else {
                Err(ApiError::unauthorized("wrong API key or secret"))
            };
        }
        if let Some(Authorization(bearer)) = parts.headers.typed_get::<Authorization<Bearer>>() {
            return credentials
                .verify(bearer.token())
                .map(Caller::Token)
                .map_err(|e| ApiError::unauthorized(e.0));
        }
        Err(ApiError::unauthorized(
            "credentials required: HTTP Basic with the API key and secret, or a bearer token",
        ))
    }
}
