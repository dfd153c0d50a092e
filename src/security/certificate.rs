//! What a served certificate names, its subject and subject alternative names, and the check
//! a SIGHUP reload makes on them: Kafka's KIP-978 rule (`SslFactory.CertificateEntries`),
//! which refuses by default a new keystore whose certificate claims another identity.
//!
//! The rule, as Kafka applies it to a keystore's key entry (the leaf certificate; the rest of
//! the chain is not compared):
//! - subject: refused when the distinguished name differs, unless `ssl.allow.dn.changes`.
//!   Compared in canonical form, as `X500Principal.equals` does: per attribute, text values
//!   with surrounding whitespace trimmed, inner runs of whitespace as one space, case folded,
//!   whatever the string type; values that are not text as bytes; attributes of one RDN in
//!   any order. A reissue with a new key, serial, validity or issuer is the same subject.
//! - subject alternative names: a set (order and repeats do not matter); refused when a name
//!   of the current certificate is missing from the new one, unless `ssl.allow.san.changes`.
//!   Adding names is accepted (Kafka's `containsAll`). Names compare by type and exact value.
//!
//! Not here: reading the PEM files and swapping the rustls configuration (`tls.rs`,
//! `controller.rs`), which call [`ServedNames::replace`] before they swap.
//!
//! Runs on `main` at start and on the SIGHUP thread; [`ServedNames`] is `Send + Sync`.
use crate::config::CertificateChanges;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;

/// Why a reload was refused by the KIP-978 checks (the old certificate stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamesChanged {
    #[error(
        "certificate subject changed from {current} to {next} \
         (refused unless --ssl-allow-dn-changes, Kafka's ssl.allow.dn.changes)"
    )]
    Subject { current: String, next: String },
    #[error(
        "certificate subject alternative names dropped: {dropped} (new set: {next}) \
         (refused unless --ssl-allow-san-changes, Kafka's ssl.allow.san.changes)"
    )]
    AltNames { dropped: String, next: String },
}

/// The leaf certificate could not be read as X.509 (so its names cannot be compared).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the leaf certificate does not parse as X.509: {reason}")]
pub struct Unparsable {
    pub reason: String,
}

/// One attribute value of a distinguished name, in the form compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// A text string type, canonical (trimmed, inner whitespace as one space, lower case).
    Text(String),
    /// Any other type: its tag and content bytes.
    Raw(u32, Vec<u8>),
}

/// One subject alternative name, by type; ordered so that a set of them prints stably.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum AltName {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
    DirectoryName(String),
    RegisteredId(String),
    /// otherName, X.400, EDI party, an address that is not 4 or 16 bytes, a name that does
    /// not decode: the `GeneralName` tag number and its bytes.
    Other(u32, Vec<u8>),
}

impl fmt::Display for AltName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => write!(formatter, "DNS:{name}"),
            Self::Ip(address) => write!(formatter, "IP:{address}"),
            Self::Email(address) => write!(formatter, "email:{address}"),
            Self::Uri(uri) => write!(formatter, "URI:{uri}"),
            Self::DirectoryName(name) => write!(formatter, "DirName:{name}"),
            Self::RegisteredId(oid) => write!(formatter, "RID:{oid}"),
            Self::Other(tag, bytes) => write!(formatter, "[{tag}]:{}", super::tls::hex(bytes)),
        }
    }
}

/// The names of a certificate that KIP-978 compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateNames {
    /// RFC 2253, for the log (`CN=localhost,O=Example`).
    subject: String,
    /// Canonical: one entry per RDN in certificate order, its attributes sorted.
    subject_canonical: Vec<Vec<(String, Value)>>,
    alt_names: BTreeSet<AltName>,
}

impl CertificateNames {
    /// The names of the DER certificate `der`.
    ///
    /// # Errors
    /// `der` is not an X.509 certificate, or its subjectAltName extension is malformed.
    pub fn of(der: &[u8]) -> Result<Self, Unparsable> {
        let unparsable = |reason: String| Unparsable { reason };
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|error| unparsable(error.to_string()))?;
        let extension = certificate
            .subject_alternative_name()
            .map_err(|error| unparsable(error.to_string()))?;
        let alt_names = extension
            .map(|extension| extension.value.general_names.iter().map(alt_name).collect())
            .unwrap_or_default();
        let subject = certificate.subject();
        Ok(Self {
            subject: super::tls::rfc2253(subject),
            subject_canonical: canonical(subject),
            alt_names,
        })
    }

    /// Whether `next` may replace `self` under `allowed`, Kafka's order: subject, then SANs.
    ///
    /// # Errors
    /// The change `allowed` does not permit, naming both sides.
    pub fn check_replacement(
        &self,
        next: &Self,
        allowed: CertificateChanges,
    ) -> Result<(), NamesChanged> {
        if !allowed.dn_allowed && self.subject_canonical != next.subject_canonical {
            return Err(NamesChanged::Subject {
                current: self.subject.clone(),
                next: next.subject.clone(),
            });
        }
        let dropped: Vec<String> = self
            .alt_names
            .difference(&next.alt_names)
            .map(AltName::to_string)
            .collect();
        if !allowed.san_allowed && !dropped.is_empty() {
            return Err(NamesChanged::AltNames {
                dropped: dropped.join(", "),
                next: list(&next.alt_names),
            });
        }
        Ok(())
    }

    /// The subject in RFC 2253 form.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

fn list(names: &BTreeSet<AltName>) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(AltName::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn canonical(name: &X509Name<'_>) -> Vec<Vec<(String, Value)>> {
    name.iter()
        .map(|rdn| {
            let mut attributes: Vec<(String, Value)> = rdn
                .iter()
                .map(|attribute| {
                    let value = match attribute.as_str() {
                        Ok(text) => Value::Text(canonical_text(text)),
                        Err(_) => {
                            let any = attribute.attr_value();
                            Value::Raw(any.tag().0, any.data.to_vec())
                        }
                    };
                    (attribute.attr_type().to_id_string(), value)
                })
                .collect();
            attributes.sort();
            attributes
        })
        .collect()
}

/// Trimmed, inner whitespace runs as one space, lower case (`X500Principal`'s canonical
/// form, less its Unicode normalisation).
fn canonical_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn alt_name(name: &GeneralName<'_>) -> AltName {
    match name {
        GeneralName::DNSName(name) => AltName::Dns((*name).to_owned()),
        GeneralName::RFC822Name(address) => AltName::Email((*address).to_owned()),
        GeneralName::URI(uri) => AltName::Uri((*uri).to_owned()),
        GeneralName::DirectoryName(name) => AltName::DirectoryName(super::tls::rfc2253(name)),
        GeneralName::RegisteredID(oid) => AltName::RegisteredId(oid.to_id_string()),
        GeneralName::IPAddress(bytes) => ip_address(bytes),
        GeneralName::OtherName(oid, bytes) => {
            let mut encoded = oid.as_bytes().to_vec();
            encoded.extend_from_slice(bytes);
            AltName::Other(0, encoded)
        }
        GeneralName::X400Address(any) => AltName::Other(3, any.data.to_vec()),
        GeneralName::EDIPartyName(any) => AltName::Other(5, any.data.to_vec()),
        GeneralName::Invalid(tag, bytes) => AltName::Other(tag.0, bytes.to_vec()),
    }
}

fn ip_address(bytes: &[u8]) -> AltName {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        return AltName::Ip(IpAddr::from(octets));
    }
    if let Ok(octets) = <[u8; 16]>::try_from(bytes) {
        return AltName::Ip(IpAddr::from(octets));
    }
    AltName::Other(7, bytes.to_vec())
}

/// The names of the certificate a TLS configuration serves, and what a reload may change in
/// them. Only the SIGHUP thread replaces them (the lock is never contended on a shard).
#[derive(Debug)]
pub struct ServedNames {
    allowed: CertificateChanges,
    current: Mutex<CertificateNames>,
}

impl ServedNames {
    #[must_use]
    pub fn new(first: CertificateNames, allowed: CertificateChanges) -> Self {
        Self {
            allowed,
            current: Mutex::new(first),
        }
    }

    /// Checks `next` against the names served now; when accepted, runs `swap` (which puts
    /// the new configuration in place) and records `next` as served. Held locked throughout,
    /// so two reloads cannot both check against the same old names.
    ///
    /// # Errors
    /// The change the policy refuses; `swap` has not run and nothing changed.
    pub fn replace(&self, next: CertificateNames, swap: impl FnOnce()) -> Result<(), NamesChanged> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.check_replacement(&next, self.allowed)?;
        swap();
        *current = next;
        Ok(())
    }

    /// The subject served now (RFC 2253).
    #[must_use]
    pub fn subject(&self) -> String {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.subject().to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    /// A certificate for `common_name` (and `organization`) naming `sans`, with a fresh key
    /// and serial each time: what a reissue looks like.
    fn issue(common_name: &str, organization: &str, sans: &[&str]) -> CertificateNames {
        let names: Vec<String> = sans.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let certificate = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        CertificateNames::of(certificate.der()).unwrap()
    }

    const REFUSED: CertificateChanges = CertificateChanges {
        dn_allowed: false,
        san_allowed: false,
    };

    #[test]
    fn a_reissue_with_a_new_key_and_serial_is_accepted() {
        let current = issue("broker1", "Example", &["broker1.example", "127.0.0.1"]);
        // SANs in another order, the subject in another case and spacing: the same names.
        let next = issue(" BROKER1 ", "example", &["127.0.0.1", "broker1.example"]);
        assert_eq!(current.check_replacement(&next, REFUSED), Ok(()));
        assert_eq!(current.subject(), "CN=broker1,O=Example");
    }

    #[test]
    fn a_new_common_name_is_refused_and_named() {
        let current = issue("broker1", "Example", &["broker1.example"]);
        let next = issue("broker2", "Example", &["broker1.example"]);
        assert_eq!(
            current.check_replacement(&next, REFUSED),
            Err(NamesChanged::Subject {
                current: "CN=broker1,O=Example".to_owned(),
                next: "CN=broker2,O=Example".to_owned(),
            })
        );
        let inner_space = issue("broker 1", "Example", &["broker1.example"]);
        assert!(current.check_replacement(&inner_space, REFUSED).is_err());
    }

    /// Kafka refuses a new keystore whose SANs do not contain all the current ones; a name
    /// added to them is accepted (`SslFactoryTest.testDynamicUpdateCompatibility`).
    #[test]
    fn a_dropped_alt_name_is_refused_and_an_added_one_accepted() {
        let current = issue("broker1", "Example", &["broker1.example", "127.0.0.1"]);
        let dropped = issue("broker1", "Example", &["broker1.example"]);
        let error = current.check_replacement(&dropped, REFUSED).unwrap_err();
        assert_eq!(
            error,
            NamesChanged::AltNames {
                dropped: "IP:127.0.0.1".to_owned(),
                next: "DNS:broker1.example".to_owned(),
            }
        );
        assert!(error.to_string().contains("--ssl-allow-san-changes"));
        let replaced = issue("broker1", "Example", &["broker2.example", "127.0.0.1"]);
        assert!(current.check_replacement(&replaced, REFUSED).is_err());
        let added = issue(
            "broker1",
            "Example",
            &["broker1.example", "127.0.0.1", "::1"],
        );
        assert_eq!(current.check_replacement(&added, REFUSED), Ok(()));
        // The other way round, the added name is dropped.
        assert!(added.check_replacement(&current, REFUSED).is_err());
    }

    #[test]
    fn each_flag_allows_its_own_change_only() {
        let current = issue("broker1", "Example", &["broker1.example"]);
        let renamed = issue("broker2", "Example", &["broker1.example"]);
        let moved = issue("broker1", "Example", &["broker2.example"]);
        let both = issue("broker2", "Example", &["broker2.example"]);
        let dn = CertificateChanges {
            dn_allowed: true,
            san_allowed: false,
        };
        let san = CertificateChanges {
            dn_allowed: false,
            san_allowed: true,
        };
        let all = CertificateChanges {
            dn_allowed: true,
            san_allowed: true,
        };
        assert_eq!(current.check_replacement(&renamed, dn), Ok(()));
        assert!(current.check_replacement(&renamed, san).is_err());
        assert_eq!(current.check_replacement(&moved, san), Ok(()));
        assert!(current.check_replacement(&moved, dn).is_err());
        assert!(matches!(
            current.check_replacement(&both, dn),
            Err(NamesChanged::AltNames { .. })
        ));
        assert_eq!(current.check_replacement(&both, all), Ok(()));
    }

    #[test]
    fn other_alt_name_types_compare_by_type_and_value() {
        let with = |san: SanType| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.subject_alt_names = vec![san];
            let certificate = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
            CertificateNames::of(certificate.der()).unwrap()
        };
        let email = with(SanType::Rfc822Name("ops@example".try_into().unwrap()));
        let uri = with(SanType::URI("spiffe://example/broker".try_into().unwrap()));
        let ipv6 = with(SanType::IpAddress("::1".parse().unwrap()));
        assert_eq!(email.check_replacement(&email.clone(), REFUSED), Ok(()));
        let error = email.check_replacement(&uri, REFUSED).unwrap_err();
        assert!(error.to_string().contains("email:ops@example"), "{error}");
        assert!(uri.check_replacement(&ipv6, REFUSED).is_err());
        assert!(
            ipv6.check_replacement(&uri, REFUSED)
                .unwrap_err()
                .to_string()
                .contains("IP:::1")
        );
    }

    #[test]
    fn served_names_swap_only_what_passes() {
        let served = ServedNames::new(issue("broker1", "Example", &["a.example"]), REFUSED);
        let mut swapped = 0;
        let refused = served.replace(issue("broker2", "Example", &["a.example"]), || {
            swapped += 1;
        });
        assert!(refused.is_err());
        assert_eq!(swapped, 0);
        assert_eq!(served.subject(), "CN=broker1,O=Example");
        let accepted = served.replace(
            issue("broker1", "Example", &["a.example", "b.example"]),
            || {
                swapped += 1;
            },
        );
        assert_eq!(accepted, Ok(()));
        assert_eq!(swapped, 1);
        // The names served now are the new ones: dropping b.example is refused from here on.
        let dropped = served.replace(issue("broker1", "Example", &["a.example"]), || {
            swapped += 1;
        });
        assert!(dropped.is_err());
        assert_eq!(swapped, 1);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(CertificateNames::of(b"not a certificate").is_err());
    }
}
