//! Security at the edge and in the handlers: which protocol a listener speaks, who a
//! connection is (its principal) and whether it has authenticated. TLS (rustls), SASL
//! (PLAIN, SCRAM), the ACL authorizer and quotas live in submodules and meet here, in
//! [`Session`], the one per-connection record every request's handler can read.
//!
//! Layer: above `cluster` (ACLs and SCRAM credentials are metadata-log state, read from the
//! published `ClusterMetadata`), below `handlers` and `net`, which consult it.
//!
//! A session is created by the connection loop when it accepts a socket on a listener, lives
//! as long as the connection, and is only touched on that connection's shard (`!Send`).
pub mod acl;
pub mod quota;

pub mod certificate;
pub mod controller;
pub mod credentials;
pub mod dial;
pub mod sasl;
pub mod scram;

// Defined with the listener syntax in `config` (the layer below, which parses
// `--listen PROTOCOL://HOST:PORT`); this is its home for every layer above.
pub use crate::config::SecurityProtocol;

use crate::protocol::ApiKey;
use sasl::SaslState;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

pub mod tls;

/// Who a connection acts as: Kafka's `KafkaPrincipal`, written `Type:name` (`User:alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// `User` for every principal this broker authenticates.
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    /// `User:ANONYMOUS`: a PLAINTEXT connection, or TLS without a client certificate.
    #[must_use]
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    /// `User:<name>`.
    #[must_use]
    pub fn user(name: &str) -> Self {
        Self {
            principal_type: "User".to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// One connection's security state. Starts as the listener decides: authenticated as
/// ANONYMOUS on PLAINTEXT and SSL (until a client certificate names someone), not
/// authenticated on SASL listeners until SaslAuthenticate succeeds.
///
/// SASL adds the exchange in progress (`sasl`) and, with `connections.max.reauth.ms`, when the
/// authentication expires (KIP-368): after that only a re-authentication (SaslHandshake then
/// SaslAuthenticate) is served, anything else closes the connection.
#[derive(Debug)]
pub struct Session {
    protocol: SecurityProtocol,
    /// The registered name of the listener the connection arrived on; `None` = the primary
    /// (`CLIENT`) listener. Metadata answers with the brokers' endpoints on this listener.
    listener: Option<Rc<str>>,
    principal: RefCell<Rc<Principal>>,
    authenticated: Cell<bool>,
    sasl: RefCell<SaslState>,
    expires_at: Cell<Option<Instant>>,
    /// After a SaslHandshake v0 the client sends bare size-prefixed SASL tokens, without
    /// Kafka's header and SaslAuthenticate framing (KIP-152's legacy path), until done.
    raw_tokens: Cell<bool>,
}

impl Session {
    /// The state of a connection just accepted on a `protocol` listener.
    #[must_use]
    pub fn new(protocol: SecurityProtocol) -> Self {
        Self {
            protocol,
            listener: None,
            principal: RefCell::new(Rc::new(Principal::anonymous())),
            authenticated: Cell::new(!protocol.uses_sasl()),
            sasl: RefCell::new(SaslState::Idle),
            expires_at: Cell::new(None),
            raw_tokens: Cell::new(false),
        }
    }

    /// The state of a connection just accepted on the listener registered as `listener`.
    #[must_use]
    pub fn on_listener(protocol: SecurityProtocol, listener: Rc<str>) -> Self {
        Self {
            listener: Some(listener),
            ..Self::new(protocol)
        }
    }

    /// The registered name of the listener the connection arrived on (`None`: the primary).
    #[must_use]
    pub fn listener_name(&self) -> Option<&str> {
        self.listener.as_deref()
    }

    /// The listener's protocol.
    #[must_use]
    pub const fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// Who the connection is now.
    #[must_use]
    pub fn principal(&self) -> Rc<Principal> {
        Rc::clone(&self.principal.borrow())
    }

    /// Whether requests other than ApiVersions and the SASL APIs may be served.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.get()
    }

    /// The connection proved it is `principal` (TLS client certificate or SASL).
    pub fn authenticate(&self, principal: Principal) {
        self.authenticate_until(principal, None);
    }

    /// As [`Self::authenticate`], valid until `expires_at` (`None`: for the connection's life).
    pub fn authenticate_until(&self, principal: Principal, expires_at: Option<Instant>) {
        *self.principal.borrow_mut() = Rc::new(principal);
        self.authenticated.set(true);
        self.expires_at.set(expires_at);
    }

    /// A re-authentication failed: nothing but SASL and ApiVersions is served from now on.
    pub fn deauthenticate(&self) {
        self.authenticated.set(!self.protocol.uses_sasl());
        self.expires_at.set(None);
        *self.sasl.borrow_mut() = SaslState::Idle;
    }

    /// When the authentication expires (KIP-368), if it does.
    #[must_use]
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at.get()
    }

    /// Takes the SASL exchange state out (leaving `Idle`); the handler puts the next one back.
    #[must_use]
    pub fn take_sasl_state(&self) -> SaslState {
        std::mem::take(&mut *self.sasl.borrow_mut())
    }

    pub fn set_sasl_state(&self, state: SaslState) {
        *self.sasl.borrow_mut() = state;
    }

    /// Whether the next frames are bare SASL tokens (a SaslHandshake v0 exchange).
    #[must_use]
    pub fn expects_raw_tokens(&self) -> bool {
        self.raw_tokens.get()
    }

    /// A SaslHandshake v0 started (`true`) or its exchange ended (`false`).
    pub fn set_raw_tokens(&self, raw: bool) {
        self.raw_tokens.set(raw);
    }

    /// The pre-authentication gate (Kafka's `SaslServerAuthenticator`): the SASL APIs are
    /// always served (a re-authentication starts with SaslHandshake), ApiVersions before
    /// authentication too, and every other API only to an authenticated session that has not
    /// expired at `now`.
    #[must_use]
    pub fn may_serve(&self, api_key: ApiKey, now: Instant) -> bool {
        match api_key {
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => true,
            ApiKey::ApiVersions if !self.is_authenticated() => true,
            _ => self.is_authenticated() && self.expires_at().is_none_or(|at| now < at),
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new(SecurityProtocol::Plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_serves_only_sasl_and_api_versions_until_authenticated_and_unexpired() {
        let session = Session::new(SecurityProtocol::SaslPlaintext);
        let now = Instant::now();
        for api_key in [
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate,
            ApiKey::ApiVersions,
        ] {
            assert!(session.may_serve(api_key, now), "{api_key:?}");
        }
        assert!(!session.may_serve(ApiKey::Metadata, now));
        let expiry = now + std::time::Duration::from_secs(1);
        session.authenticate_until(Principal::user("alice"), Some(expiry));
        assert!(session.may_serve(ApiKey::Metadata, now));
        assert!(!session.may_serve(ApiKey::Metadata, expiry));
        assert!(session.may_serve(ApiKey::SaslHandshake, expiry));
        session.deauthenticate();
        assert!(!session.may_serve(ApiKey::Produce, now));
        assert!(Session::new(SecurityProtocol::Ssl).may_serve(ApiKey::Produce, now));
    }

    #[test]
    fn sasl_listeners_start_unauthenticated() {
        assert!(Session::new(SecurityProtocol::Plaintext).is_authenticated());
        assert!(Session::new(SecurityProtocol::Ssl).is_authenticated());
        let session = Session::new(SecurityProtocol::SaslSsl);
        assert!(!session.is_authenticated());
        assert_eq!(session.principal().to_string(), "User:ANONYMOUS");
        session.authenticate(Principal::user("alice"));
        assert!(session.is_authenticated());
        assert_eq!(session.principal().to_string(), "User:alice");
    }
}
