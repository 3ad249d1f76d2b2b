//! Optional TLS (rustls), so `https://` and `wss://` work without a proxy in front of the relay.
//!
//! This module loads the certificate and key into a rustls configuration. The handshakes themselves run in
//! the accept loop, each on its connection's own task and bounded by [`HANDSHAKE_TIMEOUT`], so a client
//! that stalls its handshake never holds up anyone else's accept; the TLS stream then belongs to the
//! connection's [`super::Outbox`] like a TCP socket, and its WebSocket frames go through the same codec.
//! It knows nothing of HTTP or the protocol.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate or key could not be used, with what to check.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {source}; give a PEM file with --tls-cert")]
    Cert {
        path: String,
        source: tokio_rustls::rustls::pki_types::pem::Error,
    },
    #[error(
        "{0} holds no certificate; give a PEM file that starts with -----BEGIN CERTIFICATE-----"
    )]
    NoCert(String),
    #[error("cannot read the private key {path}: {source}; give a PEM (PKCS#8, PKCS#1 or SEC1) key with --tls-key")]
    Key {
        path: String,
        source: tokio_rustls::rustls::pki_types::pem::Error,
    },
    #[error("the certificate and key do not fit together: {0}")]
    Mismatch(tokio_rustls::rustls::Error),
}

/// Loads a PEM certificate chain and private key into a rustls server configuration (HTTP/1.1 only, which
/// WebSocket upgrades need).
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|source| TlsError::Cert {
            path: cert.display().to_string(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.display().to_string(),
        source,
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
