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
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// A listener's security protocol, as Kafka names it; defined in `config` (the layer that
/// parses listeners), re-exported here where the rest of security reads it.
pub use crate::config::SecurityProtocol;

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
#[derive(Debug)]
pub struct Session {
    protocol: SecurityProtocol,
    /// The registered name of the listener the connection arrived on; `None` = the primary
    /// (`CLIENT`) listener. Metadata answers with the brokers' endpoints on this listener.
    listener: Option<Rc<str>>,
    principal: RefCell<Rc<Principal>>,
    authenticated: Cell<bool>,
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
        *self.principal.borrow_mut() = Rc::new(principal);
        self.authenticated.set(true);
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
    fn protocols_round_trip_their_kafka_names() {
        for name in ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
            let protocol = SecurityProtocol::parse(name).map(SecurityProtocol::name);
            assert_eq!(protocol, Some(name));
        }
        assert_eq!(
            SecurityProtocol::parse("sasl_ssl"),
            Some(SecurityProtocol::SaslSsl)
        );
        assert_eq!(SecurityProtocol::parse("TLS"), None);
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
