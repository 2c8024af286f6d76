//! Join tokens and API credentials, as LiveKit does them: an API key and secret; the secret
//! signs JWTs (HS256) whose issuer is the key and which carry the identity, the room and what
//! the bearer may do. Room administration takes the key and secret as HTTP Basic credentials,
//! or a token with the `admin` grant.

use std::path::Path;

use anyhow::Context;
use dragoman_rtc::protocol::{ErrorCode, ProtocolError};
use dragoman_rtc::room::Identity;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// Join the token's room.
    pub join: bool,
    /// Publish audio and video there.
    pub publish: bool,
    /// Receive the others' tracks and captions.
    pub subscribe: bool,
    /// Administer the token's room (every room when the token names none).
    pub admin: bool,
}

impl Grants {
    /// A participant's usual grants: join, publish, subscribe.
    pub const PARTICIPANT: Self = Self {
        join: true,
        publish: true,
        subscribe: true,
        admin: false,
    };
}

/// A join token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The API key that issued it.
    pub iss: String,
    /// The participant's identity (stable across reconnects).
    pub sub: String,
    /// Their display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The room it is for; `None` only for admin tokens valid for every room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// What it allows.
    pub grants: Grants,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// Why a credential was refused (the message is safe to show the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The server's API key and secret; issues and checks tokens.
#[derive(Clone)]
pub struct Credentials {
    key: String,
    secret: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// The file in the data dir holding a generated key and secret.
const GENERATED_FILE: &str = "api-key.toml";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    api_key: String,
    api_secret: String,
}

pub(crate) fn now_secs() -> u64 {
    (super::rooms::now_ms() / 1000).unsigned_abs()
}

impl Credentials {
    /// Credentials from a key and secret (the secret should be long and random).
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        let secret = secret.into();
        Self {
            key: key.into(),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            secret,
        }
    }

    /// The configured key and secret; when none is configured, the ones generated in
    /// `data_dir` on an earlier start, else new ones (saved there, owner-only). The bool says
    /// whether they were generated now (the caller prints them once).
    pub fn configured_or_generated(
        key: &str,
        secret: &str,
        data_dir: &Path,
    ) -> anyhow::Result<(Self, bool)> {
        match (key.is_empty(), secret.is_empty()) {
            (false, false) => return Ok((Self::new(key, secret), false)),
            (true, true) => {}
            _ => anyhow::bail!("set both api_key and api_secret, or neither"),
        }
        let path = data_dir.join(GENERATED_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let stored: StoredKey =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            return Ok((Self::new(stored.api_key, stored.api_secret), false));
        }
        let stored = StoredKey {
            api_key: format!("API{}", random_token(12)),
            api_secret: random_token(43),
        };
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        write_private(&path, &toml::to_string(&stored)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok((Self::new(stored.api_key, stored.api_secret), true))
    }

    /// The API key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The API secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether `key` and `secret` are these (constant time).
    pub fn matches(&self, key: &str, secret: &str) -> bool {
        let key_ok = key.as_bytes().ct_eq(self.key.as_bytes());
        let secret_ok = secret.as_bytes().ct_eq(self.secret.as_bytes());
        (key_ok & secret_ok).into()
    }

    /// A signed token for `identity` in `room`, valid for `ttl_secs` from now.
    pub fn issue(
        &self,
        identity: &str,
        name: Option<String>,
        room: Option<&str>,
        grants: Grants,
        ttl_secs: u64,
    ) -> (String, Claims) {
        let now = now_secs();
        let claims = Claims {
            iss: self.key.clone(),
            sub: identity.to_string(),
            name,
            room: room.map(str::to_string),
            grants,
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
        };
        // HS256 signing of a serializable struct cannot fail.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        (token, claims)
    }

    /// The claims of a token this server signed and that is valid now.
    pub fn verify(&self, token: &str) -> Result<Claims, Refused> {
        if token.is_empty() {
            return Err(Refused("a token is required".into()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.key]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                Refused(
                    match e.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::ImmatureSignature => "the token is not valid yet",
                        ErrorKind::InvalidSignature => "the token's signature is not valid",
                        ErrorKind::InvalidIssuer => "the token was issued for another API key",
                        _ => "the token is malformed",
                    }
                    .into(),
                )
            })
    }

    /// The identity a token grants in `room` (for signaling).
    pub fn authorize_join(&self, token: &str, room: &str) -> Result<Identity, Refused> {
        let claims = self.verify(token)?;
        if claims.room.as_deref() != Some(room) {
            return Err(Refused(format!("the token is not for room {room:?}")));
        }
        if !claims.grants.join {
            return Err(Refused("the token does not grant joining".into()));
        }
        Ok(Identity {
            id: Some(claims.sub),
            name: claims.name,
            can_publish: claims.grants.publish,
            can_subscribe: claims.grants.subscribe,
        })
    }
}

impl dragoman_rtc::room::Authorize for Credentials {
    fn authorize(&self, token: &str, room: &str) -> Result<Identity, ProtocolError> {
        self.authorize_join(token, room)
            .map_err(|e| ProtocolError::new(ErrorCode::Unauthorized, e.0))
    }
}

/// `len` random characters from `[A-Za-z0-9]`.
pub(crate) fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_grants() {
        let credentials = Credentials::new("APIkey", "s3cret-s3cret-s3cret");
        let (token, claims) = credentials.issue(
            "ana",
            Some("Ana".into()),
            Some("r"),
            Grants::PARTICIPANT,
            60,
        );
        assert_eq!(credentials.verify(&token).unwrap(), claims);
        let identity = credentials.authorize_join(&token, "r").unwrap();
        assert_eq!(identity.id.as_deref(), Some("ana"));
        assert!(identity.can_publish && identity.can_subscribe);
        assert!(credentials.authorize_join(&token, "other").is_err());
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let credentials = Credentials::new("APIkey", "s3cret-s3cret-s3cret");
        let forger = Credentials::new("APIkey", "another-secret");
        let (forged, _) = forger.issue("eve", None, Some("r"), Grants::PARTICIPANT, 60);
        assert!(
            credentials
                .verify(&forged)
                .unwrap_err()
                .0
                .contains("signature")
        );
        let foreign = Credentials::new("APIother", "s3cret-s3cret-s3cret");
        let (token, _) = foreign.issue("eve", None, Some("r"), Grants::PARTICIPANT, 60);
        assert!(
            credentials
                .verify(&token)
                .unwrap_err()
                .0
                .contains("API key")
        );
        let mut claims = credentials
            .verify(
                &credentials
                    .issue("a", None, Some("r"), Grants::PARTICIPANT, 60)
                    .0,
            )
            .unwrap();
        claims.exp = now_secs() - 60;
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret-s3cret-s3cret"),
        )
        .unwrap();
        assert!(
            credentials
                .verify(&expired)
                .unwrap_err()
                .0
                .contains("expired")
        );
        assert!(credentials.verify("not.a.jwt").is_err());
        assert!(credentials.verify("").is_err());
    }

    #[test]
    fn generated_credentials_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, generated) = Credentials::configured_or_generated("", "", dir.path()).unwrap();
        assert!(generated && first.secret().len() >= 32);
        let (again, generated) = Credentials::configured_or_generated("", "", dir.path()).unwrap();
        assert!(!generated);
        assert!(again.matches(first.key(), first.secret()));
        assert!(!again.matches(first.key(), "wrong"));
        assert!(Credentials::configured_or_generated("k", "", dir.path()).is_err());
    }
}
