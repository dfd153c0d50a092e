//! SASL on the broker side: the mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the
//! per-connection exchange state, and one step of an exchange as a pure function of the token,
//! the state and the credential store. The wire messages (SaslHandshake, SaslAuthenticate)
//! are the handlers'; this module never sees a socket.
//!
//! ```text
//! SaslHandshake(mech) ─▶ Started(mech)
//!   PLAIN:  SaslAuthenticate(\0user\0password) ─▶ Authenticated | Failed
//!   SCRAM:  SaslAuthenticate(client-first) ─▶ ScramFirst ─▶ SaslAuthenticate(client-final)
//!           ─▶ Authenticated (server-final sent) | Failed
//! ```
//!
//! PLAIN checks the password against the user's SCRAM credential (re-deriving StoredKey with
//! its salt and iterations), so there is one credential store and no password is ever kept.
//! An unknown user fails as a wrong password does, with the same client-visible message.
//!
//! Runs on the connection's shard; the state lives in the connection's `Session`.
pub mod audit;
pub mod login;

use super::scram::{self, ScramError, ScramServerFirst};
use crate::cluster::metadata::{ScramCredential, ScramMechanism};
use std::fmt;

/// A SASL mechanism this broker implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
}

impl SaslMechanism {
    /// Every mechanism, in the order `--sasl-mechanisms` lists them by default.
    pub const ALL: [Self; 3] = [
        Self::Plain,
        Self::Scram(ScramMechanism::Sha256),
        Self::Scram(ScramMechanism::Sha512),
    ];

    /// The IANA name SaslHandshake carries.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Scram(mechanism) => mechanism.name(),
        }
    }

    /// Parses a mechanism name exactly (Kafka compares names case-sensitively).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a connection's SASL exchange stands.
#[derive(Debug, Clone, Default)]
pub enum SaslState {
    /// No exchange: SaslHandshake must come first.
    #[default]
    Idle,
    /// SaslHandshake chose the mechanism; its first token is next.
    Started(SaslMechanism),
    /// A SCRAM exchange sent its server-first message and awaits the client-final one.
    ScramFirst(Box<ScramServerFirst>),
}

/// What one SaslAuthenticate token leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send `token` and wait for the client's next one (SCRAM's server-first).
    Continue { token: Vec<u8> },
    /// The client is `user`; send `token` (SCRAM's server-final, empty for PLAIN).
    Authenticated { user: String, token: Vec<u8> },
}

/// Why an exchange failed: every variant is answered with SASL_AUTHENTICATION_FAILED except
/// `IllegalState` (ILLEGAL_SASL_STATE), and audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("SaslAuthenticate without a SaslHandshake first")]
    IllegalState,
    #[error("invalid SASL/PLAIN message: {reason}")]
    MalformedPlain { reason: &'static str },
    #[error("authorization id {authzid:?} differs from the user name")]
    AuthorizationId { authzid: String },
    #[error("unknown user or wrong password")]
    InvalidCredentials,
    #[error(transparent)]
    Scram(#[from] ScramError),
}

impl SaslError {
    /// The text the client sees, Kafka's: no hint whether the user exists.
    #[must_use]
    pub fn client_message(&self, mechanism: Option<SaslMechanism>) -> String {
        match (self, mechanism) {
            (Self::IllegalState, _) => {
                "Unexpected SaslAuthenticate before SaslHandshake".to_owned()
            }
            (_, Some(SaslMechanism::Plain)) => {
                "Authentication failed: Invalid username or password".to_owned()
            }
            (_, mechanism) => format!(
                "Authentication failed during authentication due to invalid credentials with \
                 SASL mechanism {}",
                mechanism.map_or("SCRAM", SaslMechanism::name)
            ),
        }
    }
}

/// Looks a user's credential up (the published metadata in the broker, a map in tests).
pub trait CredentialLookup {
    fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

/// The user an exchange names, known from its first token on (for the audit line).
#[must_use]
pub fn user_of(state: &SaslState, token: &[u8]) -> Option<String> {
    match state {
        SaslState::Idle => None,
        SaslState::Started(SaslMechanism::Plain) => {
            parse_plain(token).ok().map(|plain| plain.user.to_owned())
        }
        SaslState::Started(SaslMechanism::Scram(_)) => scram::parse_client_first(token)
            .ok()
            .map(|first| first.user),
        SaslState::ScramFirst(exchange) => Some(exchange.user().to_owned()),
    }
}

/// Runs one token through the exchange. Returns the next state with the step; on an error the
/// exchange is over (state `Idle`).
///
/// # Errors
/// See [`SaslError`].
pub fn step(
    state: SaslState,
    token: &[u8],
    credentials: &impl CredentialLookup,
) -> Result<(SaslState, Step), SaslError> {
    match state {
        SaslState::Idle => Err(SaslError::IllegalState),
        SaslState::Started(SaslMechanism::Plain) => {
            let plain = parse_plain(token)?;
            let matched = ScramMechanism::ALL.into_iter().rev().any(|mechanism| {
                credentials
                    .credential(plain.user, mechanism)
                    .is_some_and(|c| scram::password_matches(mechanism, &c, plain.password))
            });
            if !matched {
                return Err(SaslError::InvalidCredentials);
            }
            let user = plain.user.to_owned();
            let step = Step::Authenticated {
                user,
                token: Vec::new(),
            };
            Ok((SaslState::Idle, step))
        }
        SaslState::Started(SaslMechanism::Scram(mechanism)) => {
            let client = scram::parse_client_first(token)?;
            let credential = credentials
                .credential(&client.user, mechanism)
                .ok_or(SaslError::InvalidCredentials)?;
            let exchange = ScramServerFirst::new(mechanism, client, credential)?;
            let token = exchange.message().as_bytes().to_vec();
            Ok((
                SaslState::ScramFirst(Box::new(exchange)),
                Step::Continue { token },
            ))
        }
        SaslState::ScramFirst(exchange) => {
            let server_final = exchange.finish(token)?;
            let step = Step::Authenticated {
                user: exchange.user().to_owned(),
                token: server_final.into_bytes(),
            };
            Ok((SaslState::Idle, step))
        }
    }
}

/// A SASL/PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`.
struct Plain<'a> {
    user: &'a str,
    password: &'a [u8],
}

fn parse_plain(token: &[u8]) -> Result<Plain<'_>, SaslError> {
    let malformed = |reason| SaslError::MalformedPlain { reason };
    let mut parts = token.splitn(3, |&byte| byte == 0);
    let authzid = parts.next().ok_or(malformed("empty"))?;
    let user = parts.next().ok_or(malformed("expected 3 tokens"))?;
    let password = parts.next().ok_or(malformed("expected 3 tokens"))?;
    if password.contains(&0) {
        return Err(malformed("expected 3 tokens"));
    }
    let user = std::str::from_utf8(user).map_err(|_| malformed("user name is not UTF-8"))?;
    if user.is_empty() {
        return Err(malformed("user name is empty"));
    }
    if password.is_empty() {
        return Err(malformed("password is empty"));
    }
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err(SaslError::AuthorizationId {
            authzid: String::from_utf8_lossy(authzid).into_owned(),
        });
    }
    Ok(Plain { user, password })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Store(BTreeMap<(String, ScramMechanism), ScramCredential>);

    impl CredentialLookup for Store {
        fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
            self.0.get(&(user.to_owned(), mechanism)).cloned()
        }
    }

    fn store() -> Store {
        let credential = scram::derive_credential(ScramMechanism::Sha512, b"pw", b"salt", 4096);
        Store(BTreeMap::from([(
            ("alice".to_owned(), ScramMechanism::Sha512),
            credential,
        )]))
    }

    #[test]
    fn plain_checks_the_scram_credential() {
        let started = || SaslState::Started(SaslMechanism::Plain);
        let (_, outcome) = step(started(), b"\0alice\0pw", &store()).unwrap();
        assert!(matches!(outcome, Step::Authenticated { ref user, .. } if user == "alice"));
        let (_, outcome) = step(started(), b"alice\0alice\0pw", &store()).unwrap();
        assert!(matches!(outcome, Step::Authenticated { .. }));
        for bad in [
            &b"\0alice\0pw2"[..],
            b"\0bob\0pw",
            b"\0alice",
            b"\0\0pw",
            b"x\0alice\0pw",
        ] {
            assert!(step(started(), bad, &store()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scram_runs_two_steps_and_refuses_unknown_users() {
        let started = SaslState::Started(SaslMechanism::Scram(ScramMechanism::Sha512));
        let (state, first) = step(started.clone(), b"n,,n=alice,r=abc", &store()).unwrap();
        let Step::Continue { token } = first else {
            panic!("SCRAM needs a second step");
        };
        assert!(token.starts_with(b"r=abc"));
        assert!(matches!(state, SaslState::ScramFirst(_)));
        let wrong = step(state, b"c=biws,r=abc,p=AAAA", &store());
        assert!(wrong.is_err());
        let unknown = step(started, b"n,,n=bob,r=abc", &store());
        assert_eq!(unknown.unwrap_err(), SaslError::InvalidCredentials);
        assert_eq!(
            step(SaslState::Idle, b"", &store()).unwrap_err(),
            SaslError::IllegalState
        );
    }

    #[test]
    fn mechanism_names_parse_exactly() {
        for mechanism in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::parse(mechanism.name()), Some(mechanism));
        }
        assert_eq!(SaslMechanism::parse("plain"), None);
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
    }
}
