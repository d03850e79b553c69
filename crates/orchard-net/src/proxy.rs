//! Which requests go through which proxy.
//!
//! The decision is ours, not reqwest's: reqwest is told to ignore the environment and to
//! ask [`ProxySettings::proxy_for`] for every URL. That keeps one source of truth, lets
//! the ledger and error messages say "via proxy …", and makes the rules testable.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use url::Url;

/// A proxy URL (`http://`, `https://`, `socks5://` or `socks5h://`). Its `Display` and
/// `Debug` hide any password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

/// A proxy setting that is not a usable proxy URL. Never echoes a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proxy '{shown}': {reason}")]
pub struct ProxyUrlError {
    /// The value, with any password hidden.
    pub shown: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for ProxyUrl {
    type Err = ProxyUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // `host:port` without a scheme is common in HTTP_PROXY; curl treats it as http.
        let with_scheme = if s.contains("://") {
            s.to_owned()
        } else {
            format!("http://{s}")
        };
        let url = Url::parse(&with_scheme).map_err(|_| ProxyUrlError {
            shown: redact(s),
            reason: "not a URL (expected e.g. http://proxy.example:3128 or socks5h://127.0.0.1:1080)",
        })?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(ProxyUrlError {
                shown: redact(s),
                reason: "the scheme must be http, https, socks5 or socks5h",
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ProxyUrlError {
                shown: redact(s),
                reason: "no host",
            });
        }
        Ok(Self(url))
    }
}

impl ProxyUrl {
    /// The URL including credentials, for handing to the connector only.
    pub(crate) fn as_url(&self) -> &Url {
        &self.0
    }

    /// `host:port` of the proxy, for the ledger and for messages.
    pub fn authority(&self) -> String {
        let port = self
            .0
            .port_or_known_default()
            .unwrap_or(match self.0.scheme() {
                "socks5" | "socks5h" => 1080,
                _ => 80,
            });
        format!("{}:{port}", self.0.host_str().unwrap_or(""))
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(self.0.as_str()))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

fn redact(s: &str) -> String {
    orchard_core::redact::userinfo(s)
}

/// Hosts that bypass the proxy, in the usual `NO_PROXY` syntax: comma-separated host
/// names (matching the host and its subdomains; a leading `.` or `*.` is allowed), IP
/// addresses, CIDR ranges, or `*` for everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    domains: Vec<String>,
    nets: Vec<IpNet>,
}

impl NoProxy {
    /// Parses a `NO_PROXY` value. Unparseable entries are kept as domain names, as
    /// other tools do.
    pub fn parse(s: &str) -> Self {
        let mut np = NoProxy::default();
        for raw in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if raw == "*" {
                np.all = true;
            } else if let Ok(net) = raw.parse::<IpNet>() {
                np.nets.push(net);
            } else if let Ok(ip) = raw.trim_matches(['[', ']']).parse::<IpAddr>() {
                np.nets.push(IpNet::from(ip));
            } else {
                let host = raw.split(':').next().unwrap_or(raw);
                let d = host
                    .trim_start_matches("*.")
                    .trim_start_matches('.')
                    .to_ascii_lowercase();
                if !d.is_empty() {
                    np.domains.push(d);
                }
            }
        }
        np
    }

    /// Whether `host` (a name or an IP literal) bypasses the proxy.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.nets.iter().any(|n| n.contains(&ip));
        }
        self.domains
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }

    /// The value in `NO_PROXY` syntax, for `config show`.
    pub fn to_config_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.all {
            parts.push("*".into());
        }
        parts.extend(self.domains.iter().cloned());
        parts.extend(self.nets.iter().map(ToString::to_string));
        parts.join(",")
    }
}

/// Proxy rules for outbound requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy for `http://` URLs.
    pub http: Option<ProxyUrl>,
    /// Proxy for `https://` URLs.
    pub https: Option<ProxyUrl>,
    /// Hosts that go direct.
    pub no_proxy: NoProxy,
}

impl ProxySettings {
    /// The proxy for `url`, or `None` to connect directly. Loopback hosts always go
    /// direct: a local model server (LM Studio, Ollama) must never be sent through a
    /// corporate proxy.
    pub fn proxy_for(&self, url: &Url) -> Option<&ProxyUrl> {
        let host = url.host_str()?;
        if is_loopback(host) || self.no_proxy.matches(host) {
            return None;
        }
        match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_matches(['[', ']']);
    h.eq_ignore_ascii_case("localhost")
        || h.to_ascii_lowercase().ends_with(".localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn no_proxy_matches_domains_suffixes_ips_and_cidrs() {
        let np = NoProxy::parse(
            "example.com, .internal.test,*.corp.example, 10.0.0.0/8, 192.168.1.5, ::1, host.with:8080",
        );
        assert!(np.matches("example.com"));
        assert!(np.matches("api.example.com"));
        assert!(!np.matches("notexample.com"));
        assert!(np.matches("svc.internal.test"));
        assert!(np.matches("corp.example"));
        assert!(np.matches("10.20.30.40"));
        assert!(!np.matches("11.0.0.1"));
        assert!(np.matches("192.168.1.5"));
        assert!(np.matches("[::1]"));
        assert!(np.matches("host.with"));
        assert!(NoProxy::parse("*").matches("anything.example"));
        assert!(!NoProxy::parse("").matches("anything.example"));
    }

    #[test]
    fn proxy_choice_follows_scheme_no_proxy_and_loopback() {
        let p = ProxySettings {
            http: Some("http://proxy.example:3128".parse().unwrap()),
            https: Some("socks5h://127.0.0.1:1080".parse().unwrap()),
            no_proxy: NoProxy::parse("direct.example"),
        };
        assert_eq!(
            p.proxy_for(&url("http://api.example/v1"))
                .unwrap()
                .authority(),
            "proxy.example:3128"
        );
        assert_eq!(
            p.proxy_for(&url("https://api.example/v1"))
                .unwrap()
                .authority(),
            "127.0.0.1:1080"
        );
        assert!(p.proxy_for(&url("https://direct.example/v1")).is_none());
        assert!(p.proxy_for(&url("http://127.0.0.1:1234/v1")).is_none());
        assert!(p.proxy_for(&url("http://localhost:11434")).is_none());
        assert!(p.proxy_for(&url("http://[::1]:8080")).is_none());
    }

    #[test]
    fn proxy_urls_hide_passwords_everywhere() {
        let p: ProxyUrl = "http://alice:s3cret@proxy.example:3128".parse().unwrap();
        assert_eq!(p.to_string(), "http://alice:***@proxy.example:3128/");
        let err = "http://me:pa/ss@proxy:3128"
            .parse::<ProxyUrl>()
            .map(|p| p.to_string())
            .unwrap_or_else(|e| e.to_string());
        assert!(!err.contains("pa/ss"), "{err}");
        assert!(!format!("{p:?}").contains("s3cret"));
        let err = "ftp://bob:hunter2@x".parse::<ProxyUrl>().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let bare: ProxyUrl = "proxy.example:8080".parse().unwrap();
        assert_eq!(bare.authority(), "proxy.example:8080");
    }
}
