//! Who is calling: the bearer token of a request checked against the
//! static tokens file and/or the JWT key, giving an [`Identity`] (subject
//! and roles) that handlers read from the request extensions.

use crate::identity::Identity;
use crate::jwt::{JwtSettings, JwtVerifier};
use crate::tokens::StaticTokens;

/// Checks bearer tokens. At least one of the two sources is set.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Option<StaticTokens>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// `None` when neither a tokens file nor a JWT key is configured
    /// (authentication off).
    pub fn load(
        tokens_file: Option<&std::path::Path>,
        jwt: &JwtSettings,
    ) -> Result<Option<Self>, crate::SecurityError> {
        let tokens = tokens_file.map(StaticTokens::load).transpose()?;
        let jwt = if jwt.enabled() {
            Some(JwtVerifier::load(jwt)?)
        } else {
            None
        };
        if tokens.is_none() && jwt.is_none() {
            return Ok(None);
        }
        Ok(Some(Self { tokens, jwt }))
    }

    pub fn from_parts(tokens: Option<StaticTokens>, jwt: Option<JwtVerifier>) -> Self {
        Self { tokens, jwt }
    }

    /// One line for the start-up log (no secret).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.tokens {
            parts.push(format!("{} static tokens", t.len()));
        }
        if let Some(j) = &self.jwt {
            parts.push(format!(
                "JWT {:?} issuer {:?} audience {:?}",
                j.algorithm(),
                j.issuer(),
                j.audience()
            ));
        }
        parts.join(" + ")
    }

    /// The identity behind an `authorization` header value.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Identity, String> {
        let Some(raw) = authorization else {
            return Err(
                "missing credentials: expected metadata `authorization: Bearer TOKEN`".into(),
            );
        };
        let text = std::str::from_utf8(raw).map_err(|_| "authorization: expected ASCII text")?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("authorization: expected `Bearer TOKEN`")?;
        if let Some(id) = self.tokens.as_ref().and_then(|t| t.lookup(token)) {
            return Ok(id.clone());
        }
        match &self.jwt {
            Some(jwt) if token.split('.').count() == 3 => jwt.verify(token),
            _ => Err("unknown token".into()),
        }
    }
}
