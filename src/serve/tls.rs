//! HTTPS for `sealer serve`: a rustls server configuration (ring, TLS 1.2
//! and 1.3, ALPN `http/1.1`) from a PEM certificate chain and a PEM private
//! key (PKCS#8, PKCS#1 or SEC1), as docker-registry's `http.tls` takes them.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{invalid, Result};

/// The server configuration of `cert` and `key`.
pub fn config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect())
        .map_err(|e| invalid(format!("--tls-cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "--tls-cert {}: no PEM certificate in it",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(format!("--tls-key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| invalid(format!("--tls-cert {} and --tls-key: {e}", cert.display())))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
