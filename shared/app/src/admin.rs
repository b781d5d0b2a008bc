//! Who may open what is not for platforms or customers: the profile view
//! now, every admin and reporting endpoint to come. A request carries
//! `Authorization: Bearer <token>`, one of `STOREFLOW_ADMIN_TOKENS`
//! (comma-separated, newest first, so a new token can be added before the
//! old one is removed). With no token configured those endpoints are off:
//! they answer 401 and the runtime says so when it starts.

/// The admin tokens. Never printed: `Debug` shows how many there are.
#[derive(Clone, Default)]
pub struct AdminTokens {
    tokens: Vec<String>,
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminTokens({} configured)", self.tokens.len())
    }
}

/// Why a request was refused (every refusal is a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("admin endpoints are off: no STOREFLOW_ADMIN_TOKENS is configured")]
    Off,
    #[error("this endpoint needs an admin credential: Authorization: Bearer <token>")]
    Missing,
    #[error("the bearer token is not an admin token")]
    Wrong,
}

/// Tokens shorter than this are refused at start: a guessable token is no
/// credential.
pub const MIN_TOKEN_LEN: usize = 16;

impl AdminTokens {
    /// From the variable's value (`None`: unset). Blank entries are
    /// skipped; a short one is an error naming its position.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for (i, t) in value.unwrap_or("").split(',').enumerate() {
            let t = t.trim();
            if t.is_empty() {
                continue;
            }
            if t.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "STOREFLOW_ADMIN_TOKENS: token {} is {} characters; use at least {MIN_TOKEN_LEN}",
                    i + 1,
                    t.len()
                ));
            }
            tokens.push(t.to_string());
        }
        Ok(AdminTokens { tokens })
    }

    pub fn is_off(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Checks an `Authorization` header's value. Every configured token is
    /// compared in full, in constant time, whatever matches: the answer's
    /// timing tells nothing about any token.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Refused> {
        if self.is_off() {
            return Err(Refused::Off);
        }
        let Some(given) = authorization.and_then(bearer) else {
            return Err(Refused::Missing);
        };
        let mut any = 0u8;
        for t in &self.tokens {
            any |= constant_time_eq(t.as_bytes(), given.as_bytes()) as u8;
        }
        if any == 1 {
            Ok(())
        } else {
            Err(Refused::Wrong)
        }
    }
}

fn bearer(h: &str) -> Option<&str> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// Equal contents, compared without an early exit (the length is not a
/// secret worth hiding: every token's is at least [`MIN_TOKEN_LEN`]).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "new-token-0123456789";
    const OLD: &str = "old-token-0123456789";

    #[test]
    fn either_rotated_token_opens_and_nothing_else_does() {
        let t = AdminTokens::parse(Some(&format!(" {NEW} , {OLD},"))).unwrap();
        assert_eq!(t.check(Some(&format!("Bearer {NEW}"))), Ok(()));
        assert_eq!(t.check(Some(&format!("bearer {OLD}"))), Ok(()));
        assert_eq!(
            t.check(Some("Bearer new-token-012345678")),
            Err(Refused::Wrong)
        );
        assert_eq!(
            t.check(Some(&format!("Basic {NEW}"))),
            Err(Refused::Missing)
        );
        assert_eq!(t.check(Some("Bearer ")), Err(Refused::Missing));
        assert_eq!(t.check(None), Err(Refused::Missing));
    }

    #[test]
    fn no_token_means_off_and_a_short_one_is_refused_at_start() {
        let off = AdminTokens::parse(None).unwrap();
        assert!(off.is_off());
        assert_eq!(off.check(Some(&format!("Bearer {NEW}"))), Err(Refused::Off));
        let e = AdminTokens::parse(Some("short")).unwrap_err();
        assert!(e.contains("token 1 is 5 characters"), "{e}");
    }

    #[test]
    fn debug_never_shows_a_token() {
        let t = AdminTokens::parse(Some(NEW)).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains(NEW), "{shown}");
        assert_eq!(shown, "AdminTokens(1 configured)");
    }
}
