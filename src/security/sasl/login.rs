//! The client's side of a SASL login, without I/O: the tokens a client sends for PLAIN and
//! SCRAM and the check of the server's last one. A broker dialling another broker
//! (`security/dial.rs`, async) and the admin CLI's blocking client (`client/security.rs`) each
//! carry the tokens in SaslAuthenticate requests their own way.
//!
//! ```text
//! PLAIN:  first = \0user\0password            server answers empty       → done
//! SCRAM:  first = client-first   server-first → client-final
//!                                server-final → checked against the ServerSignature → done
//! ```
//!
//! Runs on whichever thread owns the connection (a fetcher's shard, the CLI's main thread).
use super::SaslMechanism;
use crate::security::scram::{ScramClient, ScramError};

/// Most SaslAuthenticate rounds a login takes (SCRAM's two; PLAIN's one).
pub const LOGIN_ROUNDS_MAX: usize = 2;

/// Where a login stands between two server tokens.
#[derive(Debug)]
pub struct Login {
    state: State,
}

#[derive(Debug)]
enum State {
    /// PLAIN's one token is sent; the server's (empty) answer ends it.
    PlainSent,
    /// SCRAM's client-first is sent; the server-first is next.
    ScramFirstSent(ScramClient),
    /// SCRAM's client-final is sent; the server-final must equal `expected`.
    ScramFinalSent {
        expected: String,
    },
    Done,
}

impl Login {
    /// Starts a login as `user`; returns it and the first token to send.
    ///
    /// # Errors
    /// `Random` when the OS random source fails (SCRAM's nonce).
    pub fn start(
        mechanism: SaslMechanism,
        user: &str,
        password: &[u8],
    ) -> Result<(Self, Vec<u8>), ScramError> {
        match mechanism {
            SaslMechanism::Plain => {
                let token = [b"\0", user.as_bytes(), b"\0", password].concat();
                let login = Self {
                    state: State::PlainSent,
                };
                Ok((login, token))
            }
            SaslMechanism::Scram(scram) => {
                let (client, first) = ScramClient::start(scram, user, password)?;
                let login = Self {
                    state: State::ScramFirstSent(client),
                };
                Ok((login, first.into_bytes()))
            }
        }
    }

    /// Takes the server's answer to the last token: the next token to send, or `None` when
    /// the login is complete (the server proved it knows the credential, for SCRAM).
    ///
    /// # Errors
    /// A malformed server-first, a nonce that does not extend ours, a server-final that is
    /// not the expected signature (`InvalidProof`: the server does not hold our credential),
    /// or a token after the login ended.
    pub fn next(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, ScramError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let (state, token) = match state {
            State::PlainSent => (State::Done, None),
            State::ScramFirstSent(client) => {
                let (last, expected) = client.finish(server_token)?;
                (State::ScramFinalSent { expected }, Some(last.into_bytes()))
            }
            State::ScramFinalSent { expected } => {
                if server_token != expected.as_bytes() {
                    return Err(ScramError::InvalidProof);
                }
                (State::Done, None)
            }
            State::Done => {
                return Err(ScramError::Malformed {
                    reason: "a token after the login ended",
                });
            }
        };
        self.state = state;
        Ok(token)
    }

    /// Whether the login completed.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::metadata::ScramMechanism;
    use crate::security::scram::{ScramServerFirst, new_credential, parse_client_first};

    #[test]
    fn plain_is_one_token_and_an_empty_answer() {
        let (mut login, token) = Login::start(SaslMechanism::Plain, "alice", b"pw").unwrap();
        assert_eq!(token, b"\0alice\0pw");
        assert!(!login.is_done());
        assert_eq!(login.next(b"").unwrap(), None);
        assert!(login.is_done());
        assert!(login.next(b"").is_err());
    }

    #[test]
    fn scram_against_the_brokers_own_server_side_and_a_forged_signature() {
        let mechanism = ScramMechanism::Sha256;
        let credential = new_credential(mechanism, b"secret", 4096).unwrap();
        for forged in [false, true] {
            let (mut login, first) =
                Login::start(SaslMechanism::Scram(mechanism), "alice", b"secret").unwrap();
            let client_first = parse_client_first(&first).unwrap();
            let server =
                ScramServerFirst::new(mechanism, client_first, credential.clone()).unwrap();
            let last = login.next(server.message().as_bytes()).unwrap().unwrap();
            let server_final = server.finish(&last).unwrap();
            if forged {
                let wrong = server_final.replace("v=", "v=A");
                assert!(matches!(
                    login.next(wrong.as_bytes()),
                    Err(ScramError::InvalidProof)
                ));
            } else {
                assert_eq!(login.next(server_final.as_bytes()).unwrap(), None);
                assert!(login.is_done());
            }
        }
    }
}
