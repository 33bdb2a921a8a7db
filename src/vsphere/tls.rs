//! TLS as vSphere admins have it.
//!
//! Two things the stock rustls verifier refuses, that Go's and OpenSSL's clients (govc,
//! Telegraf, pyvmomi) accept and vSphere admins therefore rely on:
//!
//! * **`ca_file` holding the vCenter's own self-signed certificate.** A vCenter certificate
//!   made by hand or by some appliances is self-signed with `basicConstraints CA:TRUE`; webpki
//!   refuses such a leaf (`CaUsedAsEndEntity`). Like Go (a leaf that is itself in the root
//!   pool is trusted as is), a leaf that is byte-for-byte one of the `ca_file` certificates is
//!   accepted, after checking its validity period, its own signature and the host name.
//! * **`tls_thumbprint`**: pin the leaf by its fingerprint, without any CA, as govc's
//!   `--thumbprint` and vCenter's UI do (SHA-1), or as `openssl x509 -fingerprint -sha256`
//!   prints it. The host name is still checked; a mismatch names the thumbprint presented.
//!
//! Signatures of the handshake itself are always verified with the ring provider.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};

/// The handshake-signature half of a verifier, as rustls' own verifiers do it with the
/// provider's algorithms. The verifiers here differ only in how they trust the certificate.
macro_rules! provider_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, TlsError> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, TlsError> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// A pinned certificate fingerprint: SHA-1 (20 bytes) or SHA-256 (32 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Thumbprint {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

impl Thumbprint {
    /// Reads `AB:CD:…` (colons optional, any case): 20 bytes is SHA-1, 32 bytes SHA-256.
    pub fn parse(text: &str) -> Result<Thumbprint, String> {
        let hex: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
        if hex.is_empty() || hex.len() % 2 != 0 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!(
                "{text:?} is not a hex fingerprint like AB:CD:EF:… \
                 (`openssl x509 -noout -fingerprint -sha256`)"
            ));
        }
        let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        let bytes: Vec<u8> = hex
            .chunks(2)
            .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
            .collect();
        match bytes.len() {
            20 => Ok(Thumbprint::Sha1(bytes)),
            32 => Ok(Thumbprint::Sha256(bytes)),
            n => Err(format!(
                "{text:?} has {n} bytes: a thumbprint is 20 (SHA-1) or 32 (SHA-256)"
            )),
        }
    }

    /// The fingerprint of `der` with the same algorithm as `self`.
    fn of(&self, der: &[u8]) -> Thumbprint {
        match self {
            Thumbprint::Sha1(_) => Thumbprint::Sha1(
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
                    .as_ref()
                    .to_vec(),
            ),
            Thumbprint::Sha256(_) => Thumbprint::Sha256(
                ring::digest::digest(&ring::digest::SHA256, der)
                    .as_ref()
                    .to_vec(),
            ),
        }
    }
}

impl std::fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (alg, bytes) = match self {
            Thumbprint::Sha1(b) => ("SHA-1", b),
            Thumbprint::Sha256(b) => ("SHA-256", b),
        };
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "{alg} {}", hex.join(":"))
    }
}

/// The TLS configuration `ca_file` / `tls_thumbprint` ask for; `None` for the system roots.
pub(crate) fn for_options(
    opts: &super::ClientOptions,
) -> Result<Option<rustls::ClientConfig>, String> {
    let pin = opts
        .tls_thumbprint
        .as_deref()
        .map(Thumbprint::parse)
        .transpose()
        .map_err(|e| format!("tls_thumbprint {e}"))?;
    let ca = match &opts.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            Some(read_pem_certs(&pem).map_err(|e| format!("ca_file {} {e}", path.display()))?)
        }
        None => None,
    };
    if pin.is_none() && ca.is_none() {
        return Ok(None);
    }
    client_config(ca, pin).map(Some)
}

/// Reads the PEM certificates of a `ca_file`.
pub fn read_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate".into());
    }
    Ok(certs)
}

/// A rustls client configuration trusting `ca` (with vCenter's self-signed leaf accepted as
/// itself) or, with a thumbprint, exactly the certificate it pins.
pub fn client_config(
    ca: Option<Vec<CertificateDer<'static>>>,
    thumbprint: Option<Thumbprint>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (thumbprint, ca) {
        (Some(pin), _) => Arc::new(Pinned {
            pin,
            provider: provider.clone(),
        }),
        (None, Some(certs)) => {
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(certs.iter().cloned());
            let inner = if added > 0 {
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot use ca_file: {e}"))?,
                )
            } else {
                None
            };
            Arc::new(CaFile {
                inner,
                certs,
                provider: provider.clone(),
            })
        }
        (None, None) => return Err("neither ca_file nor tls_thumbprint".into()),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// Validity, own signature and host name of a certificate trusted as itself.
fn check_self_trusted(
    der: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| TlsError::General(format!("cannot parse the certificate: {e}")))?;
    let at = x509_parser::time::ASN1Time::from_timestamp(now.as_secs() as i64)
        .map_err(|e| TlsError::General(format!("bad clock: {e}")))?;
    if !cert.validity().is_valid_at(at) {
        return Err(TlsError::General(format!(
            "the certificate in ca_file is not valid now (valid {} to {})",
            cert.validity().not_before,
            cert.validity().not_after
        )));
    }
    cert.verify_signature(None)
        .map_err(|e| TlsError::General(format!("the certificate's self-signature: {e}")))?;
    verify_host(der, name)
}

fn verify_host(der: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), TlsError> {
    let parsed = ParsedCertificate::try_from(der)?;
    rustls::client::verify_server_name(&parsed, name)
}

/// `ca_file`: webpki first; a leaf that is one of the `ca_file` certificates is trusted
/// as itself (what Go and OpenSSL do with a self-signed leaf in the trust store).
#[derive(Debug)]
struct CaFile {
    /// `None` when no `ca_file` certificate can be a webpki trust anchor.
    inner: Option<Arc<WebPkiServerVerifier>>,
    certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CaFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let webpki = match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(TlsError::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        match webpki {
            Ok(v) => Ok(v),
            Err(e) if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                tracing::debug!(error = %e, "leaf is a ca_file certificate: trusted as itself");
                check_self_trusted(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    provider_signatures!();
}

/// `tls_thumbprint`: the leaf's fingerprint must match; no CA. The host name is still
/// checked; the validity period is not (the pin is the trust, as with govc).
#[derive(Debug)]
struct Pinned {
    pin: Thumbprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let presented = self.pin.of(end_entity.as_ref());
        if presented != self.pin {
            return Err(TlsError::General(format!(
                "certificate thumbprint mismatch: the server presented {presented}, \
                 tls_thumbprint is {}",
                self.pin
            )));
        }
        verify_host(end_entity, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    provider_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_in_both_forms_and_print_colon_hex() {
        let sha1 = "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:AB:CD:EF:01";
        let t = Thumbprint::parse(sha1).unwrap();
        assert!(matches!(t, Thumbprint::Sha1(ref b) if b.len() == 20));
        assert_eq!(t.to_string(), format!("SHA-1 {}", sha1.to_uppercase()));
        let sha256 = "00".repeat(32);
        assert!(matches!(
            Thumbprint::parse(&sha256).unwrap(),
            Thumbprint::Sha256(_)
        ));
        assert!(Thumbprint::parse("AB:CD").unwrap_err().contains("2 bytes"));
        assert!(Thumbprint::parse("zz").is_err());
        assert!(Thumbprint::parse("").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(read_pem_certs(b"nothing here").is_err());
    }
}
