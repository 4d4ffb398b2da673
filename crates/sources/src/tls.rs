//! TLS settings for the gRPC sources, from PEM files or bytes. TLS itself is rustls (with
//! the `ring` provider) inside tonic.

use crate::SourceError;
use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// How a client checks the server and proves who it is.
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    /// CA certificates (PEM) the server's certificate must chain to. Without them the
    /// system's roots are not consulted either: set this for any TLS connection.
    pub ca_pem: Option<Vec<u8>>,
    /// The client's certificate chain and private key (PEM), for mTLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate must carry, when it differs from the host
    /// connected to.
    pub server_name: Option<String>,
}

impl ClientTls {
    /// Reads the CA, and the client certificate and key when both are given.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<ClientTls, SourceError> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            (None, None) => None,
            _ => {
                return Err(SourceError::Tls(
                    "a client certificate needs its key, and a key its certificate".into(),
                ));
            }
        };
        Ok(ClientTls {
            ca_pem: ca.map(read).transpose()?,
            identity,
            server_name: None,
        })
    }

    pub(crate) fn config(&self, host: &str) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new()
            .domain_name(self.server_name.clone().unwrap_or_else(|| host.to_string()));
        if let Some(ca) = &self.ca_pem {
            config = config.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

/// A server's certificate, and the CA its clients' certificates must chain to (mTLS).
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// With a CA, clients must present a certificate it signed; without, any client may
    /// connect.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl ServerTls {
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, SourceError> {
        Ok(ServerTls {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: client_ca.map(read).transpose()?,
        })
    }

    pub(crate) fn config(&self) -> ServerTlsConfig {
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem));
        if let Some(ca) = &self.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        config
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path)
        .map_err(|e| SourceError::Tls(format!("cannot read {}: {e}", path.display())))
}
