//! Who may open the console, and how a form proves it came from it.
//!
//! - **Sign-in** with the password whose argon2 hash (a PHC string, made by
//!   `storeflow hash-password`) is in `STOREFLOW_ADMIN_PASSWORD_HASH`.
//! - **The session** is a cookie the console signs (HMAC-SHA256 under a key
//!   derived from the store's link secret): `HttpOnly`, `SameSite=Strict`,
//!   `Secure` when the console is served over https, valid for
//!   [`SESSION_HOURS`]. Nothing is kept on the server, so every instance of
//!   the AWS console function accepts the same cookie.
//! - **Forms** carry a CSRF token bound to the session (an HMAC of its
//!   nonce); a POST without the session's token is refused.
//! - **Sign-in attempts** are limited per client: [`MAX_FAILURES`] failed
//!   attempts within [`FAILURE_WINDOW`] lock that client out until the
//!   window passes (and all clients together get ten times as many). The
//!   count is per process: on AWS, per function instance.
//! - **Bearer tokens** of `STOREFLOW_ADMIN_TOKENS` open every page and
//!   JSON endpoint too, for scripts (no cookie, so no CSRF token needed).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use storeflow_app::admin::AdminTokens;

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;
/// Failed sign-ins per client within the window before it is locked out.
pub const MAX_FAILURES: u32 = 5;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// The session cookie's name.
pub const COOKIE: &str = "storeflow_console";

/// The console's credentials. `Debug` shows none of them.
pub struct Auth {
    /// The argon2 hash of the password (PHC string), when sign-in is on.
    password_hash: Option<String>,
    tokens: AdminTokens,
    key: Vec<u8>,
    /// Whether cookies get `Secure` (the console is served over https).
    pub secure: bool,
    failures: Mutex<HashMap<String, (u32, Timestamp)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("password", &self.password_hash.as_ref().map(|_| "<set>"))
            .field("tokens", &self.tokens)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// A signed-in session (or a bearer token's request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's nonce; empty for a bearer token.
    nonce: String,
}

impl Session {
    pub fn is_bearer(&self) -> bool {
        self.nonce.is_empty()
    }
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Wrong,
    /// Too many failures: try again after this instant.
    Locked(Timestamp),
    /// No password hash is configured.
    Off,
}

type HmacSha256 = Hmac<Sha256>;

impl Auth {
    /// `password_hash` is `STOREFLOW_ADMIN_PASSWORD_HASH`: checked here, so a
    /// bad one stops the runtime at start naming the variable.
    pub fn new(
        password_hash: Option<&str>,
        tokens: AdminTokens,
        secret: &[u8],
        secure: bool,
    ) -> Result<Auth, String> {
        let password_hash = match password_hash.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) => {
                argon2::PasswordHash::new(h).map_err(|e| {
                    format!("STOREFLOW_ADMIN_PASSWORD_HASH: not an argon2 hash ({e}); make one with `storeflow hash-password`")
                })?;
                Some(h.to_string())
            }
            None => None,
        };
        // A key of its own, so a session cookie is never a valid link
        // signature and the other way round.
        let mut mac = HmacSha256::new_from_slice(secret).map_err(|e| e.to_string())?;
        mac.update(b"storeflow console session key");
        Ok(Auth {
            password_hash,
            tokens,
            key: mac.finalize().into_bytes().to_vec(),
            secure,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any way in is configured.
    pub fn is_on(&self) -> bool {
        self.password_hash.is_some() || !self.tokens.is_off()
    }

    pub fn password_is_set(&self) -> bool {
        self.password_hash.is_some()
    }

    fn sign(&self, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(text.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn verify(&self, text: &str, sig: &str) -> bool {
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(text.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }

    /// Checks a sign-in from `client` at `now`; a success returns the
    /// session cookie's value.
    pub fn sign_in(&self, client: &str, password: &str, now: Timestamp) -> Result<String, SignIn> {
        use argon2::PasswordVerifier;
        let Some(hash) = &self.password_hash else {
            return Err(SignIn::Off);
        };
        if let Some(until) = self.locked(client, now) {
            return Err(SignIn::Locked(until));
        }
        let parsed = argon2::PasswordHash::new(hash).map_err(|_| SignIn::Off)?;
        if argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            self.fail(client, now);
            return Err(SignIn::Wrong);
        }
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client);
        let nonce = nonce(now, client);
        let expires = now + SignedDuration::from_hours(SESSION_HOURS);
        let body = format!("{}.{nonce}", expires.as_second());
        Ok(format!("{body}.{}", self.sign(&body)))
    }

    fn locked(&self, client: &str, now: Timestamp) -> Option<Timestamp> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let over = |(n, since): &(u32, Timestamp), max: u32| {
            (*n >= max && now < *since + FAILURE_WINDOW).then_some(*since + FAILURE_WINDOW)
        };
        f.get(client)
            .and_then(|e| over(e, MAX_FAILURES))
            .or_else(|| f.get("*").and_then(|e| over(e, MAX_FAILURES * 10)))
    }

    fn fail(&self, client: &str, now: Timestamp) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for k in [client, "*"] {
            let e = f.entry(k.to_string()).or_insert((0, now));
            if now >= e.1 + FAILURE_WINDOW {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    /// The session a request carries: a bearer token of
    /// `STOREFLOW_ADMIN_TOKENS`, or a valid, unexpired session cookie.
    pub fn session(
        &self,
        authorization: Option<&str>,
        cookies: Option<&str>,
        now: Timestamp,
    ) -> Option<Session> {
        if authorization.is_some() {
            return self.tokens.check(authorization).ok().map(|()| Session {
                nonce: String::new(),
            });
        }
        let value = cookies?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)?
            .1;
        let (body, sig) = value.rsplit_once('.')?;
        if !self.verify(body, sig) {
            return None;
        }
        let (expires, nonce) = body.split_once('.')?;
        let expires = Timestamp::from_second(expires.parse().ok()?).ok()?;
        (now < expires).then(|| Session {
            nonce: nonce.to_string(),
        })
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, s: &Session) -> String {
        self.sign(&format!("csrf.{}", s.nonce))
    }

    /// Whether a form's token is the session's (a bearer token needs none).
    pub fn csrf_ok(&self, s: &Session, token: Option<&str>) -> bool {
        s.is_bearer() || token.is_some_and(|t| self.verify(&format!("csrf.{}", s.nonce), t))
    }

    /// The `Set-Cookie` value for a session cookie (or, with `None`, one
    /// that clears it).
    pub fn cookie(&self, value: Option<&str>) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        match value {
            Some(v) => format!(
                "{COOKIE}={v}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                SESSION_HOURS * 3600
            ),
            None => format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
        }
    }
}

/// A session's nonce: unguessable without the key (it is hashed with the
/// instant, the client and fresh randomness from the OS).
fn nonce(now: Timestamp, client: &str) -> String {
    use sha2::Digest;
    let mut random = [0u8; 16];
    // /dev/urandom on Linux; a failure still leaves the instant and client.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut random);
    }
    let mut h = Sha256::new();
    h.update(random);
    h.update(now.as_nanosecond().to_le_bytes());
    h.update(client.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..18])
}

/// An argon2 hash (PHC string) of `password`, for
/// `STOREFLOW_ADMIN_PASSWORD_HASH`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut bytes = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn auth() -> Auth {
        let hash = hash_password("correct horse").unwrap();
        Auth::new(Some(&hash), AdminTokens::default(), b"k", false).unwrap()
    }

    #[test]
    fn a_session_opens_until_it_expires_and_a_forged_one_never() {
        let a = auth();
        let now = ts("2026-12-01T10:00:00Z");
        let v = a.sign_in("1.2.3.4", "correct horse", now).unwrap();
        let cookie = format!("other=1; {COOKIE}={v}");
        let s = a.session(None, Some(&cookie), now).expect("signed in");
        assert!(a.csrf_ok(&s, Some(&a.csrf(&s))));
        assert!(!a.csrf_ok(&s, Some("forged")));
        assert!(!a.csrf_ok(&s, None));
        let later = now + SignedDuration::from_hours(SESSION_HOURS);
        assert!(a.session(None, Some(&cookie), later).is_none());
        // Another expiry under the same signature: refused.
        let (_, rest) = v.split_once('.').unwrap();
        let forged = format!("{COOKIE}=99999999999.{rest}");
        assert!(a.session(None, Some(&forged), now).is_none());
    }

    #[test]
    fn failed_sign_ins_lock_the_client_out_for_the_window() {
        let a = auth();
        let now = ts("2026-12-01T10:00:00Z");
        for _ in 0..MAX_FAILURES {
            assert_eq!(a.sign_in("c", "guess", now), Err(SignIn::Wrong));
        }
        // Now even the right password waits.
        assert!(matches!(
            a.sign_in("c", "correct horse", now),
            Err(SignIn::Locked(_))
        ));
        // Another client is not locked out.
        assert!(a.sign_in("d", "correct horse", now).is_ok());
        let after = now + FAILURE_WINDOW;
        assert!(a.sign_in("c", "correct horse", after).is_ok());
    }

    #[test]
    fn a_bad_hash_names_the_variable_and_debug_shows_no_secret() {
        let e = Auth::new(Some("plaintext"), AdminTokens::default(), b"k", false).unwrap_err();
        assert!(e.contains("STOREFLOW_ADMIN_PASSWORD_HASH"), "{e}");
        let a = auth();
        let shown = format!("{a:?}");
        assert!(!shown.contains("argon2"), "{shown}");
    }
}
