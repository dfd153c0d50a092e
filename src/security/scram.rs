//! SCRAM (RFC 5802, with SHA-256/512 as RFC 7677 and Kafka's KIP-84): deriving a credential
//! from a password, the server side of one exchange, and the client side a broker uses to log
//! in to another broker (`dial.rs`).
//!
//! ```text
//! client-first  n,,n=USER,r=CNONCE                        (gs2 header "n,," or "n,a=USER,")
//! server-first  r=CNONCE+SNONCE,s=base64(SALT),i=ITERATIONS
//! client-final  c=base64(gs2 header),r=CNONCE+SNONCE,p=base64(ClientProof)
//! server-final  v=base64(ServerSignature)
//!
//! SaltedPassword = Hi(password, salt, i)      (PBKDF2 with HMAC-H)
//! ClientKey = HMAC(SaltedPassword, "Client Key")   StoredKey = H(ClientKey)
//! ServerKey = HMAC(SaltedPassword, "Server Key")
//! AuthMessage = client-first-bare "," server-first "," client-final-without-proof
//! ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```
//!
//! The server checks a proof by recovering ClientKey and comparing `H(ClientKey)` with the
//! stored key in constant time (`subtle`), so neither the password nor ClientKey is ever
//! stored, and the comparison leaks no prefix length. The hash, HMAC and PBKDF2 are RustCrypto's.
//!
//! Pure code (no I/O); runs on the connection's shard, called by the SaslAuthenticate handler.
use crate::cluster::metadata::{ScramCredential, ScramMechanism};
use crate::limits::{SCRAM_NONCE_SIZE, SCRAM_SALT_SIZE};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Why a SCRAM exchange fails. Every variant answers SASL_AUTHENTICATION_FAILED; the
/// messages go to the audit log, the client gets Kafka's generic text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {reason}")]
    Malformed { reason: &'static str },
    #[error("SCRAM extensions are not supported (delegation tokens)")]
    UnsupportedExtension,
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("authorization id {authzid:?} differs from the user name")]
    AuthorizationId { authzid: String },
    #[error("unknown user")]
    UnknownUser,
    #[error("nonce mismatch")]
    NonceMismatch,
    #[error("invalid proof (wrong password)")]
    InvalidProof,
    #[error("the OS random source failed")]
    Random,
}

/// Derives the credential for `password` with `salt` and `iterations` (RFC 5802 §3).
///
/// # Panics
/// When `iterations` is not positive (callers validate against `limits` first).
#[must_use]
pub fn derive_credential(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: i32,
) -> ScramCredential {
    let rounds = u32::try_from(iterations).ok().filter(|&n| n > 0);
    let rounds = rounds.unwrap_or_else(|| panic!("iterations {iterations} must be positive"));
    let salted = salted_password(mechanism, password, salt, rounds);
    credential_from_salted_password(mechanism, &salted, salt, iterations)
}

/// The credential of a salted password (`Hi(password, salt, iterations)`), as
/// AlterUserScramCredentials carries it: the keys derive from it alone.
#[must_use]
pub fn credential_from_salted_password(
    mechanism: ScramMechanism,
    salted_password: &[u8],
    salt: &[u8],
    iterations: i32,
) -> ScramCredential {
    let client_key = hmac(mechanism, salted_password, b"Client Key");
    let credential = ScramCredential {
        salt: salt.to_vec(),
        iterations,
        stored_key: hash(mechanism, &client_key),
        server_key: hmac(mechanism, salted_password, b"Server Key"),
    };
    assert_eq!(credential.stored_key.len(), mechanism.key_size());
    assert_eq!(credential.server_key.len(), mechanism.key_size());
    credential
}

/// A credential for `password` with a fresh random salt.
///
/// # Errors
/// `Random` when the OS random source fails.
pub fn new_credential(
    mechanism: ScramMechanism,
    password: &[u8],
    iterations: i32,
) -> Result<ScramCredential, ScramError> {
    let mut salt = [0_u8; SCRAM_SALT_SIZE];
    getrandom::getrandom(&mut salt).map_err(|_| ScramError::Random)?;
    Ok(derive_credential(mechanism, password, &salt, iterations))
}

/// Whether `password` is the one `credential` was derived from (SASL/PLAIN checked against
/// the SCRAM store): re-derives StoredKey with the credential's salt and iterations and
/// compares in constant time.
#[must_use]
pub fn password_matches(
    mechanism: ScramMechanism,
    credential: &ScramCredential,
    password: &[u8],
) -> bool {
    let Ok(rounds) = u32::try_from(credential.iterations) else {
        return false;
    };
    if rounds == 0 {
        return false;
    }
    let salted = salted_password(mechanism, password, &credential.salt, rounds);
    let client_key = hmac(mechanism, &salted, b"Client Key");
    let stored_key = hash(mechanism, &client_key);
    bool::from(stored_key.ct_eq(&credential.stored_key))
}

/// The server's half of one SCRAM exchange, between its two messages.
#[derive(Debug, Clone)]
pub struct ScramServerFirst {
    mechanism: ScramMechanism,
    user: String,
    credential: ScramCredential,
    client_first_bare: String,
    server_first: String,
    /// Client and server nonce together, as the client must echo it.
    nonce: String,
}

/// The parts of a client-first message the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The user name, `=2C`/`=3D` decoded (RFC 5802 §5.1).
    pub user: String,
    pub client_nonce: String,
    /// `n=…,r=…[,ext]`: part of the AuthMessage.
    pub bare: String,
}

/// Parses a client-first message. Kafka accepts only the `n` gs2 flag (no channel binding)
/// and an authorization id equal to the user, if any; SCRAM extensions (`tokenauth`) are
/// refused because delegation tokens are not supported.
///
/// # Errors
/// `Malformed`, `ChannelBinding`, `AuthorizationId`, `UnsupportedExtension`.
pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, ScramError> {
    let text = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
    let (flag, rest) = text.split_once(',').ok_or(malformed("no gs2 header"))?;
    if flag != "n" {
        return Err(ScramError::ChannelBinding);
    }
    let (authzid, bare) = rest.split_once(',').ok_or(malformed("no gs2 header"))?;
    let mut attributes = bare.split(',');
    let user = attributes
        .next()
        .and_then(|part| part.strip_prefix("n="))
        .ok_or(malformed("no user name"))?;
    let user = decode_saslname(user)?;
    let client_nonce = attributes
        .next()
        .and_then(|part| part.strip_prefix("r="))
        .filter(|nonce| is_printable_nonce(nonce))
        .ok_or(malformed("no client nonce"))?;
    if attributes.next().is_some() {
        return Err(ScramError::UnsupportedExtension);
    }
    if !authzid.is_empty()
        && authzid.strip_prefix("a=").map(decode_saslname) != Some(Ok(user.clone()))
    {
        return Err(ScramError::AuthorizationId {
            authzid: authzid.to_owned(),
        });
    }
    Ok(ClientFirst {
        user,
        client_nonce: client_nonce.to_owned(),
        bare: bare.to_owned(),
    })
}

impl ScramServerFirst {
    /// Answers `client` for `credential` with a fresh random server nonce.
    ///
    /// # Errors
    /// `Random` when the OS random source fails.
    pub fn new(
        mechanism: ScramMechanism,
        client: ClientFirst,
        credential: ScramCredential,
    ) -> Result<Self, ScramError> {
        let mut random = [0_u8; SCRAM_NONCE_SIZE];
        getrandom::getrandom(&mut random).map_err(|_| ScramError::Random)?;
        // base64 has ',' nowhere in its alphabet, so the nonce stays one attribute.
        Ok(Self::with_server_nonce(
            mechanism,
            client,
            credential,
            &BASE64.encode(random),
        ))
    }

    /// As [`Self::new`] with a given server nonce (test vectors).
    ///
    /// # Panics
    /// When `server_nonce` holds a ',' or non-printable character (a programmer error).
    #[must_use]
    pub fn with_server_nonce(
        mechanism: ScramMechanism,
        client: ClientFirst,
        credential: ScramCredential,
        server_nonce: &str,
    ) -> Self {
        assert!(is_printable_nonce(server_nonce), "bad server nonce");
        let nonce = format!("{}{server_nonce}", client.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        Self {
            mechanism,
            user: client.user,
            credential,
            client_first_bare: client.bare,
            server_first,
            nonce,
        }
    }

    /// The server-first message to send.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.server_first
    }

    /// The user this exchange authenticates.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    #[must_use]
    pub const fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Checks the client-final message; on success returns the server-final message.
    ///
    /// # Errors
    /// `Malformed`, `ChannelBinding`, `NonceMismatch`, `InvalidProof`.
    pub fn finish(&self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| malformed("not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes.next().and_then(|part| part.strip_prefix("c="));
        // "biws" is base64("n,,"); an authzid makes it base64("n,a=USER,").
        let binding = binding.ok_or(malformed("no channel binding"))?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| malformed("binding not base64"))?;
        if !binding.starts_with(b"n,") {
            return Err(ScramError::ChannelBinding);
        }
        let nonce = attributes.next().and_then(|part| part.strip_prefix("r="));
        if nonce.map(str::as_bytes) != Some(self.nonce.as_bytes()) {
            return Err(ScramError::NonceMismatch);
        }
        if attributes.next().is_some() {
            return Err(ScramError::UnsupportedExtension);
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("proof not base64"))?;
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        self.verify_proof(&proof, auth_message.as_bytes())?;
        let signature = hmac(
            self.mechanism,
            &self.credential.server_key,
            auth_message.as_bytes(),
        );
        Ok(format!("v={}", BASE64.encode(signature)))
    }

    fn verify_proof(&self, proof: &[u8], auth_message: &[u8]) -> Result<(), ScramError> {
        let size = self.mechanism.key_size();
        if proof.len() != size {
            return Err(ScramError::InvalidProof);
        }
        let signature = hmac(self.mechanism, &self.credential.stored_key, auth_message);
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        assert_eq!(client_key.len(), size);
        let stored_key = hash(self.mechanism, &client_key);
        if bool::from(stored_key.ct_eq(&self.credential.stored_key)) {
            Ok(())
        } else {
            Err(ScramError::InvalidProof)
        }
    }
}

/// The client's half of one exchange (a broker logging in to another broker's inter-broker
/// listener): client-first, then client-final from the server-first, then the server-final
/// checked against the expected ServerSignature.
#[derive(Debug, Clone)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: Vec<u8>,
    client_first_bare: String,
    nonce: String,
}

impl ScramClient {
    /// Starts an exchange for `user` with a fresh random client nonce; returns the client-first
    /// message to send.
    ///
    /// # Errors
    /// `Random` when the OS random source fails.
    pub fn start(
        mechanism: ScramMechanism,
        user: &str,
        password: &[u8],
    ) -> Result<(Self, String), ScramError> {
        let mut random = [0_u8; SCRAM_NONCE_SIZE];
        getrandom::getrandom(&mut random).map_err(|_| ScramError::Random)?;
        let name = user.replace('=', "=3D").replace(',', "=2C");
        let nonce = BASE64.encode(random);
        let client_first_bare = format!("n={name},r={nonce}");
        let first = format!("n,,{client_first_bare}");
        let client = Self {
            mechanism,
            password: password.to_vec(),
            client_first_bare,
            nonce,
        };
        Ok((client, first))
    }

    /// The client-final message for `server_first`, and the server-final message to expect.
    ///
    /// # Errors
    /// `Malformed` (no nonce, salt or iteration count, or too many iterations), `NonceMismatch`
    /// (the server's nonce does not extend ours).
    pub fn finish(&self, server_first: &[u8]) -> Result<(String, String), ScramError> {
        let text = std::str::from_utf8(server_first).map_err(|_| malformed("not UTF-8"))?;
        let mut attributes = text.split(',');
        let mut next = |prefix: &str| attributes.next().and_then(|a| a.strip_prefix(prefix));
        let nonce = next("r=").ok_or(malformed("no nonce"))?;
        let salt = next("s=").ok_or(malformed("no salt"))?;
        let rounds = next("i=").and_then(|i| i.parse::<u32>().ok());
        let rounds = rounds
            .filter(|&i| i > 0 && i <= crate::limits::SCRAM_ITERATIONS_MAX.unsigned_abs())
            .ok_or(malformed("bad iteration count"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| malformed("salt not base64"))?;
        let salted = salted_password(self.mechanism, &self.password, &salt, rounds);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_key = hmac(self.mechanism, &salted, b"Client Key");
        let stored_key = hash(self.mechanism, &client_key);
        let signature = hmac(self.mechanism, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(self.mechanism, &salted, b"Server Key");
        let server_signature = hmac(self.mechanism, &server_key, auth_message.as_bytes());
        Ok((
            format!("{without_proof},p={}", BASE64.encode(proof)),
            format!("v={}", BASE64.encode(server_signature)),
        ))
    }
}

const fn malformed(reason: &'static str) -> ScramError {
    ScramError::Malformed { reason }
}

/// RFC 5802's `saslname`: `=2C` is ',', `=3D` is '=', any other '=' is an error.
fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut decoded = String::with_capacity(name.len());
    let mut rest = name;
    // Bounded: each iteration consumes at least one byte of `rest`.
    while let Some(index) = rest.find('=') {
        decoded.push_str(rest.get(..index).unwrap_or_default());
        let escape = rest.get(index..index + 3);
        match escape {
            Some("=2C") => decoded.push(','),
            Some("=3D") => decoded.push('='),
            _ => return Err(malformed("bad '=' escape in user name")),
        }
        rest = rest.get(index + 3..).unwrap_or_default();
    }
    decoded.push_str(rest);
    if decoded.is_empty() {
        return Err(malformed("empty user name"));
    }
    Ok(decoded)
}

/// RFC 5802's `printable`: ASCII 0x21..=0x7e except ','.
fn is_printable_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `Hi(password, salt, rounds)`: PBKDF2 with HMAC-H (what AlterUserScramCredentials carries).
#[must_use]
pub fn salted_password(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
) -> Vec<u8> {
    let mut out = vec![0_u8; mechanism.key_size()];
    match mechanism {
        ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out),
        ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, &mut out),
    }
    out
}

fn hmac(mechanism: ScramMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
        ScramMechanism::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
    }
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length (RFC 2104 hashes long ones), so this cannot fail.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of every length");
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hash(mechanism: ScramMechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
        ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// RFC 7677 §3: user "user", password "pencil".
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc7677_exchange(password: &[u8]) -> ScramServerFirst {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = derive_credential(ScramMechanism::Sha256, password, &salt, 4096);
        let client = parse_client_first(CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(client.user, "user");
        ScramServerFirst::with_server_nonce(
            ScramMechanism::Sha256,
            client,
            credential,
            SERVER_NONCE,
        )
    }

    #[test]
    fn rfc7677_sha256_vector() {
        let exchange = rfc7677_exchange(b"pencil");
        assert_eq!(exchange.message(), SERVER_FIRST);
        assert_eq!(
            exchange.finish(CLIENT_FINAL.as_bytes()).unwrap(),
            SERVER_FINAL
        );
    }

    #[test]
    fn rfc7677_proof_fails_for_another_password() {
        let exchange = rfc7677_exchange(b"pencil2");
        assert_eq!(
            exchange.finish(CLIENT_FINAL.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn a_changed_nonce_or_proof_bit_is_refused() {
        let exchange = rfc7677_exchange(b"pencil");
        let other_nonce = CLIENT_FINAL.replace("k0,p=", "k1,p=");
        assert_eq!(
            exchange.finish(other_nonce.as_bytes()),
            Err(ScramError::NonceMismatch)
        );
        let other_proof = CLIENT_FINAL.replace("p=dHz", "p=dHy");
        assert_eq!(
            exchange.finish(other_proof.as_bytes()),
            Err(ScramError::InvalidProof)
        );
        let short = CLIENT_FINAL.replace("AndVQ=", "");
        assert!(exchange.finish(short.as_bytes()).is_err());
    }

    #[test]
    fn plain_passwords_check_against_the_scram_credential() {
        for mechanism in ScramMechanism::ALL {
            let credential = derive_credential(mechanism, b"s3cret", b"salt", 4096);
            assert!(password_matches(mechanism, &credential, b"s3cret"));
            assert!(!password_matches(mechanism, &credential, b"s3cres"));
            assert!(!password_matches(mechanism, &credential, b""));
        }
    }

    /// The broker's client half against the server half: the right password logs in and
    /// the server-final message is the one the client expects; a wrong one is refused; a
    /// server nonce that does not extend the client's is refused by the client.
    #[test]
    fn the_client_half_logs_in_to_the_server_half() {
        for mechanism in ScramMechanism::ALL {
            let credential = derive_credential(mechanism, b"pw", b"salty", 4096);
            for (password, accepted) in [(&b"pw"[..], true), (b"pW", false)] {
                let (client, first) = ScramClient::start(mechanism, "a,b=c", password).unwrap();
                let parsed = parse_client_first(first.as_bytes()).unwrap();
                assert_eq!(parsed.user, "a,b=c");
                let server = ScramServerFirst::new(mechanism, parsed, credential.clone()).unwrap();
                let (last, expected) = client.finish(server.message().as_bytes()).unwrap();
                let answer = server.finish(last.as_bytes());
                assert_eq!(answer.as_ref().ok(), accepted.then_some(&expected));
            }
            let (client, _) = ScramClient::start(mechanism, "u", b"pw").unwrap();
            let foreign = b"r=someone-else,s=c2FsdA==,i=4096";
            assert!(matches!(
                client.finish(foreign),
                Err(ScramError::NonceMismatch)
            ));
        }
    }

    #[test]
    fn client_first_parsing_follows_rfc5802() {
        let parsed = parse_client_first(b"n,a=a=2Cb,n=a=2Cb,r=abc").unwrap();
        assert_eq!(parsed.user, "a,b");
        assert_eq!(parsed.bare, "n=a=2Cb,r=abc");
        assert_eq!(
            parse_client_first(b"y,,n=u,r=abc"),
            Err(ScramError::ChannelBinding)
        );
        assert_eq!(
            parse_client_first(b"n,,n=u,r=abc,tokenauth=true"),
            Err(ScramError::UnsupportedExtension)
        );
        assert!(matches!(
            parse_client_first(b"n,a=other,n=u,r=abc"),
            Err(ScramError::AuthorizationId { .. })
        ));
        for bad in [
            &b""[..],
            b"n,,",
            b"n,,n=,r=x",
            b"n,,n=u=41,r=x",
            b"n,,n=u,r=",
            b"\xff",
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_fresh_credential_has_random_salt_and_full_keys() {
        let one = new_credential(ScramMechanism::Sha512, b"pw", 4096).unwrap();
        let two = new_credential(ScramMechanism::Sha512, b"pw", 4096).unwrap();
        assert_ne!(one.salt, two.salt);
        assert_eq!(one.stored_key.len(), 64);
        assert!(password_matches(ScramMechanism::Sha512, &two, b"pw"));
    }
}
