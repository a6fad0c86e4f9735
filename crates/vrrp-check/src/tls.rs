//! SSL_GET's TLS client (rustls with the ring provider): like keepalived, the server is not
//! verified unless `ca` is given, and then only its chain, not its name (OpenSSL's
//! SSL_VERIFY_PEER without a host check).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use vrrp_lb::check::TlsClient;

use crate::net::io_reason;
use crate::{SetupError, Stage};

/// The client context shared by every SSL_GET probe.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The context of the `SSL { }` block (or of none).
    pub(crate) fn new(c: Option<&TlsClient>) -> Result<Tls, SetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algs = provider.signature_verification_algorithms;
        let chain = match c.and_then(|c| c.ca.as_deref()) {
            None => None,
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in certs(ca, "ca")? {
                    roots.add(cert).map_err(|e| tls_file("ca", ca, e))?;
                }
                let v =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| tls_file("ca", ca, e))?;
                Some(v)
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { chain, algs }));
        let config = match c {
            Some(TlsClient {
                password: Some(_), ..
            }) => return Err(SetupError::Unsupported("an SSL key with a password")),
            Some(TlsClient {
                certificate: Some(cert),
                key,
                ..
            }) => {
                let key_path = key.as_deref().unwrap_or(cert);
                let key = PrivateKeyDer::from_pem_file(key_path)
                    .map_err(|e| tls_file("key", key_path, e))?;
                builder
                    .with_client_auth_cert(certs(cert, "certificate")?, key)
                    .map_err(|e| SetupError::Tls(e.to_string()))?
            }
            Some(TlsClient {
                certificate: None,
                key: Some(_),
                ..
            }) => return Err(SetupError::Tls("a key without a certificate".into())),
            _ => builder.with_no_client_auth(),
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake over `tcp`; SNI is sent only with a name.
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        sni: Option<&str>,
        ip: IpAddr,
        stage: &Stage,
    ) -> Result<TlsStream<TcpStream>, String> {
        stage.set("during the TLS handshake");
        // rustls sends no SNI for an address, which is keepalived's behaviour without one.
        let name = match sni {
            Some(n) => ServerName::try_from(n.to_string())
                .map_err(|_| format!("invalid SNI name {n:?}"))?,
            None => ServerName::IpAddress(ip.into()),
        };
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {}", io_reason(&e)))
    }
}

fn tls_file(what: &'static str, path: &Path, e: impl std::fmt::Display) -> SetupError {
    SetupError::TlsFile {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_file(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_file(what, path, e))?;
    if certs.is_empty() {
        return Err(tls_file(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// Accepts any server (no `ca`) or any server whose chain leads to the `ca`, whatever its
/// name; handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
