//! Mutual TLS on the controller channel (`--controller-tls-*`, `config/controller.rs`): the
//! [`ControllerTransport`] the broker injects into the metadata quorum (`cluster/quorum/
//! transport.rs`, the layer below, which never sees rustls). Both ends present this node's
//! certificate; both require the peer's to chain to the configured CA, so only nodes of the
//! cluster can open a Raft or App connection, and a socket that does not complete the
//! handshake is closed before any frame is read.
//!
//! ```text
//! connect  TCP ─ rustls client (trusts the CA only; checks the name dialled; presents ours)
//! accept   TCP ─ rustls server (ours; a client certificate from the CA required)
//! ```
//! Server names: the dialled host (a `--quorum-voters` entry's host, or an observer's
//! advertised host) must be in the certificate's subject alternative names, as Kafka's default
//! `ssl.endpoint.identification.algorithm=https` checks. The configurations are built at start
//! (files read on `main`), each handshake bounded by `QUORUM_HANDSHAKE_TIMEOUT_MS`.
//!
//! Reloaded on SIGHUP with the client listeners' certificate (the same thread, `tls.rs`'s
//! [`Reload`]): CA, certificate and key are read again and both configurations rebuilt, then
//! swapped together, so new connections (either way) use the new files while established
//! ones carry on (Raft and App connections are long-lived; they pick the new files up when
//! they next reconnect). A bad file keeps the old pair, and so does a certificate whose
//! subject or subject alternative names changed when `[tls]` does not allow it (Kafka's
//! KIP-978 checks, `certificate.rs`, as for the client listeners). A CA rotation without a
//! restart, the node's subject and names kept:
//! append the new CA to every node's CA file and SIGHUP them all, then give every node its
//! new certificate and SIGHUP, then drop the old CA and SIGHUP.
//!
//! Runs on the quorum's runtime (shard 0); the reload runs on the SIGHUP thread.
use super::certificate::ServedNames;
use super::tls::{Reload, Swap, TlsError, client_config, principal_from_certificate, served};
use crate::cluster::quorum::{ControllerTransport, Opening, Transport, connect_tcp};
use crate::cluster::stream::NodeStream;
use crate::config::ControllerTls;
use crate::limits;
use compio::io::compat::AsyncStream;
use compio::net::TcpStream;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The rustls configurations of a mutual-TLS controller channel; `Send + Sync`, built on
/// `main` (files read there) and handed to the quorum as its [`Transport`]. Clones share one
/// configuration pair, so a reload reaches every transport made from it.
#[derive(Clone)]
pub struct ControllerChannelTls {
    shared: Arc<Shared>,
}

struct Shared {
    /// The files to re-read on reload and the names they served last; `None` when built from
    /// configurations (tests).
    files: Option<(ControllerTls, ServedNames)>,
    current: Swap<Configs>,
}

/// Both sides, built from the same files and swapped together.
struct Configs {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl Configs {
    /// Both sides, and the names of the certificate they present.
    fn load(
        settings: &ControllerTls,
    ) -> Result<(Self, super::certificate::CertificateNames), TlsError> {
        let (server, names) = served(&settings.server_settings())?;
        let client = client_config(&settings.client_settings())?;
        Ok((Self { server, client }, names))
    }
}

impl fmt::Debug for ControllerChannelTls {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ControllerChannelTls(mTLS)")
    }
}

impl ControllerChannelTls {
    /// Reads the CA, certificate and key named by `settings`.
    ///
    /// # Errors
    /// An unreadable or malformed file (named in the error), a key that does not match.
    pub fn load(settings: &ControllerTls) -> Result<Self, TlsError> {
        let (configs, names) = Configs::load(settings)?;
        let served_names = ServedNames::new(names, settings.changes);
        Ok(Self::with(Some((settings.clone(), served_names)), configs))
    }

    /// From rustls configurations built elsewhere (tests build clients without an identity);
    /// there are no files, so [`Reload::reload`] keeps them.
    #[must_use]
    pub fn from_configs(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self::with(None, Configs { server, client })
    }

    fn with(files: Option<(ControllerTls, ServedNames)>, configs: Configs) -> Self {
        Self {
            shared: Arc::new(Shared {
                files,
                current: Swap::new(Arc::new(configs)),
            }),
        }
    }

    /// The quorum's transport.
    #[must_use]
    pub fn transport(&self) -> Transport {
        Arc::new(self.clone())
    }

    /// What the next handshake uses.
    fn current(&self) -> Arc<Configs> {
        self.shared.current.current()
    }
}

impl Reload for ControllerChannelTls {
    fn what(&self) -> &'static str {
        "controller channel"
    }

    /// Builds both sides from the files before swapping either: a bad file, or names that
    /// changed when that is not allowed, change nothing.
    fn reload(&self) -> Result<(), TlsError> {
        let Some((settings, served_names)) = &self.shared.files else {
            // Built from configurations: no file to read again.
            return Ok(());
        };
        let (configs, names) = Configs::load(settings)?;
        served_names.replace(names, || self.shared.current.replace(Arc::new(configs)))?;
        Ok(())
    }
}

/// `future`, or `TimedOut` after `QUORUM_HANDSHAKE_TIMEOUT_MS`.
async fn bounded<T>(future: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let timeout = Duration::from_millis(limits::QUORUM_HANDSHAKE_TIMEOUT_MS);
    compio::time::timeout(timeout, future)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

fn socket(stream: TcpStream) -> std::pin::Pin<Box<AsyncStream<TcpStream>>> {
    Box::pin(AsyncStream::with_capacity(
        limits::TLS_SOCKET_BUFFER_SIZE,
        stream,
    ))
}

pub use super::tls::server_name;

impl ControllerTransport for ControllerChannelTls {
    fn connect(&self, address: String) -> Opening {
        let config = Arc::clone(&self.current().client);
        Box::pin(async move {
            let name = server_name(&address)?;
            let stream = connect_tcp(&address).await?;
            let connector = futures_rustls::TlsConnector::from(config);
            let session = bounded(connector.connect(name, socket(stream))).await?;
            Ok(NodeStream::Secured(Box::new(session)))
        })
    }

    fn accept(&self, stream: TcpStream, peer: SocketAddr) -> Opening {
        let config = Arc::clone(&self.current().server);
        Box::pin(async move {
            let _ = stream.set_nodelay(true);
            let acceptor = futures_rustls::TlsAcceptor::from(config);
            let session = bounded(acceptor.accept(socket(stream))).await?;
            // rustls verified the chain (a certificate is required, so there is one); its
            // subject is logged to tell the nodes apart. One that does not parse is refused.
            let principal = session
                .get_ref()
                .1
                .peer_certificates()
                .and_then(<[_]>::first)
                .and_then(|certificate| principal_from_certificate(certificate));
            let Some(principal) = principal else {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "client certificate without a readable subject",
                ));
            };
            tracing::debug!(%peer, %principal, "controller peer authenticated");
            Ok(NodeStream::Secured(Box::new(session)))
        })
    }

    fn name(&self) -> &'static str {
        "mTLS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_address_dialled() {
        let name = server_name("127.0.0.1:9192").map(|name| name.to_str().into_owned());
        assert_eq!(name.ok().as_deref(), Some("127.0.0.1"));
        let name = server_name("[::1]:9192").map(|name| name.to_str().into_owned());
        assert_eq!(name.ok().as_deref(), Some("::1"));
        let name = server_name("controller-1.example:9192").map(|n| n.to_str().into_owned());
        assert_eq!(name.ok().as_deref(), Some("controller-1.example"));
        assert!(server_name("bad host:1").is_err());
    }
}
