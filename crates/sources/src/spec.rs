//! Source URLs as users write them (`--source goldmane://goldmane.calico-system:7443`):
//! parsed into what to connect to or listen on, with errors that say what was expected.
//!
//! | URL | source |
//! |---|---|
//! | `goldmane://HOST:PORT` | Goldmane client (mTLS) |
//! | `felix+unix:///PATH` | Felix collector on a unix socket |
//! | `felix://ADDR:PORT` | Felix collector on TCP (mTLS) |
//! | `hubble://HOST:PORT` | Hubble client (TLS optional) |
//! | `ipfix://ADDR:PORT`, `netflow://ADDR:PORT` | IPFIX / NetFlow v9 / v5 receiver on UDP |
//!
//! A URL may carry its own TLS files as query parameters (`?ca=PATH&cert=PATH&key=PATH`,
//! `server-name=NAME` for the name the server's certificate carries), or `tls=off` for a
//! plain connection; otherwise the command's `--ca`/`--tls-cert`/`--tls-key` apply.
//! `backfill=DURATION` (Goldmane: how far back to read first, `0` for none) and
//! `since=SECONDS` (Hubble: start with the flows of the last seconds) tune the clients.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The schemes `--source` takes, for error messages.
pub const SCHEMES: &str = "goldmane://HOST:PORT, felix+unix:///PATH, felix://ADDR:PORT, hubble://HOST:PORT, \
     ipfix://ADDR:PORT or netflow://ADDR:PORT";

/// A parsed source URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    /// The URL without its query (how the source is named in counters and the API).
    pub name: String,
    pub target: Target,
    pub tls: TlsChoice,
    /// Goldmane: seconds to backfill with `Flows.List` (`None`: the client's default).
    pub backfill_secs: Option<u64>,
    /// Hubble: start with the flows of the last this many seconds.
    pub since_secs: Option<u64>,
}

/// What a source connects to or listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Goldmane {
        address: String,
    },
    FelixUnix {
        path: PathBuf,
    },
    FelixTcp {
        listen: SocketAddr,
    },
    Hubble {
        address: String,
    },
    /// `ipfix://` and `netflow://` are the same receiver (it tells the versions apart); the
    /// scheme names the source's kind.
    Netflow {
        listen: SocketAddr,
        ipfix: bool,
    },
}

impl Target {
    /// The kind, as `/api/sources` and the metrics name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Goldmane { .. } => "goldmane",
            Target::FelixUnix { .. } | Target::FelixTcp { .. } => "felix",
            Target::Hubble { .. } => "hubble",
            Target::Netflow { ipfix: true, .. } => "ipfix",
            Target::Netflow { ipfix: false, .. } => "netflow",
        }
    }
}

/// TLS for one source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsChoice {
    /// The command's TLS options, if any.
    #[default]
    Inherit,
    /// A plain connection whatever the command's options say.
    Off,
    Files(TlsFiles),
}

/// PEM files: a CA (the server's for a client, the clients' for a server) and a
/// certificate with its key (the client's identity, or the server's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the host connected to.
    pub server_name: Option<String>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }
}

/// Why a source URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--source {url}: {reason}")]
pub struct SpecError {
    pub url: String,
    pub reason: String,
}

impl SourceSpec {
    /// Parses a `--source` URL. Never panics.
    pub fn parse(url: &str) -> Result<SourceSpec, SpecError> {
        let fail = |reason: String| SpecError {
            url: url.to_string(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            fail(format!(
                "not a source URL (SCHEME://…); expected one of {SCHEMES}"
            ))
        })?;
        let (location, query) = match rest.split_once('?') {
            Some((l, q)) => (l, Some(q)),
            None => (rest, None),
        };
        let location = location.strip_suffix('/').unwrap_or(location);
        let target = match scheme.to_ascii_lowercase().as_str() {
            "goldmane" => Target::Goldmane {
                address: host_port(location).map_err(fail)?,
            },
            "hubble" => Target::Hubble {
                address: host_port(location).map_err(fail)?,
            },
            "felix" => Target::FelixTcp {
                listen: listen_address(location).map_err(fail)?,
            },
            "felix+unix" => {
                if !location.starts_with('/') {
                    return Err(fail(
                        "expected an absolute socket path, e.g. felix+unix:///var/run/calico/flows/flows.sock"
                            .into(),
                    ));
                }
                Target::FelixUnix {
                    path: PathBuf::from(location),
                }
            }
            "ipfix" | "netflow" => Target::Netflow {
                listen: listen_address(location).map_err(fail)?,
                ipfix: scheme.eq_ignore_ascii_case("ipfix"),
            },
            other => {
                return Err(fail(format!(
                    "unknown scheme {other:?}; expected one of {SCHEMES}"
                )));
            }
        };
        let mut spec = SourceSpec {
            name: format!("{}://{}", scheme.to_ascii_lowercase(), location),
            target,
            tls: TlsChoice::Inherit,
            backfill_secs: None,
            since_secs: None,
        };
        let mut files = TlsFiles::default();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let needs_value = |what: &str| {
                if value.is_empty() {
                    Err(fail(format!("{key}= needs {what}")))
                } else {
                    Ok(value.to_string())
                }
            };
            match key {
                "ca" => files.ca = Some(needs_value("a PEM file")?.into()),
                "cert" => files.cert = Some(needs_value("a PEM file")?.into()),
                "key" => files.key = Some(needs_value("a PEM file")?.into()),
                "server-name" => files.server_name = Some(needs_value("a name")?),
                "tls" if value == "off" => spec.tls = TlsChoice::Off,
                "backfill" if matches!(spec.target, Target::Goldmane { .. }) => {
                    spec.backfill_secs = Some(seconds(value).map_err(fail)?)
                }
                "since" if matches!(spec.target, Target::Hubble { .. }) => {
                    spec.since_secs = Some(seconds(value).map_err(fail)?)
                }
                _ => {
                    return Err(fail(format!(
                        "unknown option {key:?} for a {} source; options: ca, cert, key, \
                         server-name, tls=off{}",
                        spec.target.kind(),
                        match spec.target {
                            Target::Goldmane { .. } => ", backfill=SECONDS",
                            Target::Hubble { .. } => ", since=SECONDS",
                            _ => "",
                        }
                    )));
                }
            }
        }
        if !files.is_empty() || files.server_name.is_some() {
            if spec.tls == TlsChoice::Off {
                return Err(fail("tls=off and TLS files together".into()));
            }
            spec.tls = TlsChoice::Files(files);
        }
        if matches!(
            spec.target,
            Target::Netflow { .. } | Target::FelixUnix { .. }
        ) && spec.tls != TlsChoice::Inherit
        {
            return Err(fail(format!(
                "a {} source takes no TLS options",
                spec.target.kind()
            )));
        }
        Ok(spec)
    }
}

/// `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6 address) for a client.
fn host_port(location: &str) -> Result<String, String> {
    let expected = "expected HOST:PORT, e.g. goldmane.calico-system:7443";
    let (host, port) = location
        .rsplit_once(':')
        .ok_or_else(|| format!("no port; {expected}"))?;
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Err(format!("bad host {host:?}; {expected}"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "an IPv6 address goes in brackets, e.g. [fd00::1]:4245; {expected}"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(location.to_string()),
        _ => Err(format!("bad port {port:?}; {expected}")),
    }
}

/// `ADDR:PORT` to listen on: an IP address (`0.0.0.0`, `[::]`, `127.0.0.1`) and a port (0
/// lets the system choose).
fn listen_address(location: &str) -> Result<SocketAddr, String> {
    location.parse().map_err(|_| {
        format!(
            "expected ADDR:PORT to listen on, an IP address and a port (e.g. 0.0.0.0:4739, [::]:2055); got {location:?}"
        )
    })
}

fn seconds(value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses() {
        let g = SourceSpec::parse("goldmane://goldmane.calico-system:7443").unwrap();
        assert_eq!(
            g.target,
            Target::Goldmane {
                address: "goldmane.calico-system:7443".into()
            }
        );
        assert_eq!(g.name, "goldmane://goldmane.calico-system:7443");
        let f = SourceSpec::parse("felix+unix:///var/run/calico/flows/flows.sock").unwrap();
        assert_eq!(
            f.target,
            Target::FelixUnix {
                path: "/var/run/calico/flows/flows.sock".into()
            }
        );
        let t = SourceSpec::parse("felix://0.0.0.0:7443").unwrap();
        assert_eq!(
            t.target,
            Target::FelixTcp {
                listen: "0.0.0.0:7443".parse().unwrap()
            }
        );
        let h = SourceSpec::parse("hubble://[fd00::1]:4245?tls=off&since=600").unwrap();
        assert_eq!(h.tls, TlsChoice::Off);
        assert_eq!(h.since_secs, Some(600));
        assert_eq!(h.name, "hubble://[fd00::1]:4245");
        let i = SourceSpec::parse("ipfix://127.0.0.1:0").unwrap();
        assert_eq!(i.target.kind(), "ipfix");
        let n = SourceSpec::parse("NETFLOW://[::]:2055/").unwrap();
        assert_eq!(n.target.kind(), "netflow");
        assert_eq!(n.name, "netflow://[::]:2055");
        let own =
            SourceSpec::parse("goldmane://g:7443?ca=/c.pem&cert=/a.pem&key=/k.pem&backfill=0")
                .unwrap();
        assert_eq!(own.backfill_secs, Some(0));
        assert!(matches!(own.tls, TlsChoice::Files(f) if f.key == Some("/k.pem".into())));
    }

    #[test]
    fn malformed_urls_say_what_was_expected() {
        for (url, says) in [
            ("goldmane", "not a source URL"),
            ("kafka://broker:9092", "unknown scheme"),
            ("goldmane://host", "no port"),
            ("goldmane://host:0", "bad port"),
            ("goldmane://host:99999", "bad port"),
            ("hubble://:4245", "bad host"),
            ("hubble://fd00::1:4245", "brackets"),
            ("ipfix://0.0.0.0", "ADDR:PORT"),
            ("ipfix://collector.example:4739", "ADDR:PORT"),
            ("felix+unix://relative.sock", "absolute"),
            ("ipfix://0.0.0.0:4739?ca=/x", "no TLS options"),
            ("hubble://h:4245?backfill=10", "unknown option"),
            ("goldmane://h:1?backfill=ten", "number of seconds"),
            ("goldmane://h:1?ca=", "needs a PEM file"),
            ("goldmane://h:1?tls=off&ca=/x", "tls=off and TLS files"),
        ] {
            let e = SourceSpec::parse(url).unwrap_err();
            assert!(
                e.to_string().contains(says),
                "{url}: {e} does not say {says:?}"
            );
            assert!(e.to_string().starts_with(&format!("--source {url}")));
        }
    }
}
