//! `--source URL` for `ingest` and `serve`: the live sources, configured and bound before
//! anything runs, so that a malformed URL, a missing certificate or a port in use is an
//! error at the start.

use crate::cli::SourceOptions;
use anyhow::{Context, Result};
use flowlens_sources::{LiveSource, SourceSpec, TlsFiles};

/// The sources `options` name, each listener bound. Prints where listeners listen (with
/// the port the system chose for port 0) on standard error.
pub fn live_sources(options: &SourceOptions) -> Result<Vec<LiveSource>> {
    let tls = TlsFiles {
        ca: options.ca.clone(),
        cert: options.tls_cert.clone(),
        key: options.tls_key.clone(),
        server_name: None,
    };
    let mut sources = Vec::with_capacity(options.source.len());
    for url in &options.source {
        let spec = SourceSpec::parse(url)?;
        let name = spec.name.clone();
        let source = LiveSource::new(spec, &tls).with_context(|| format!("--source {name}"))?;
        if source.local_addr().is_some() {
            eprintln!("listening on {}", source.bound_name());
        } else {
            eprintln!("reading from {}", source.bound_name());
        }
        sources.push(source);
    }
    Ok(sources)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
