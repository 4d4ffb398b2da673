//! Domain names a traffic entry may send to, mapped to fixed addresses.
//!
//! A simulator cannot resolve names (and must not: runs have to be reproducible), so a
//! destination such as `api.twilio.com` is mapped to a fixed list of addresses. A scenario's
//! own `hosts:` map comes first; this built-in table covers the services the built-in
//! scenarios call. The addresses are plausible stand-ins taken from each provider's published
//! ranges, not a promise of what the name resolves to today.

use std::net::IpAddr;

/// The built-in table: name, addresses.
pub const BUILTIN_HOSTS: &[(&str, &[&str])] = &[
    // Inside the ranges of the storefront's `twilio` network set (54.172.60.0/23,
    // 34.203.250.0/23), as the lab's microservice2 → Twilio traffic is.
    (
        "api.twilio.com",
        &[
            "54.172.60.15",
            "54.172.60.201",
            "54.172.61.14",
            "34.203.250.68",
            "34.203.251.132",
        ],
    ),
    (
        "api.stripe.com",
        &["54.187.174.169", "54.187.205.235", "54.187.216.72"],
    ),
    ("hooks.slack.com", &["34.226.36.52", "52.5.91.14"]),
    ("smtp.sendgrid.net", &["167.89.115.18", "167.89.118.52"]),
    (
        "github.com",
        &["140.82.112.3", "140.82.112.4", "140.82.114.4"],
    ),
    (
        "registry-1.docker.io",
        &["54.198.86.24", "52.1.184.176", "3.216.34.172"],
    ),
    ("pypi.org", &["151.101.0.223", "151.101.64.223"]),
];

/// The built-in addresses of `name`, if it is in the table.
pub fn builtin(name: &str) -> Option<Vec<IpAddr>> {
    BUILTIN_HOSTS
        .iter()
        .find(|(host, _)| *host == name)
        .map(|(_, ips)| ips.iter().filter_map(|ip| ip.parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_address_parses() {
        for (host, ips) in super::BUILTIN_HOSTS {
            assert_eq!(
                super::builtin(host).map(|v| v.len()),
                Some(ips.len()),
                "{host}"
            );
        }
        assert!(super::builtin("example.invalid").is_none());
    }
}
