//! The base-URL rule for OpenAI-compatible providers.
//!
//! People paste base URLs in every form: `https://api.deepseek.com`,
//! `https://api.groq.com/openai/v1`, `https://open.bigmodel.cn/api/paas/v4`. The rule:
//!
//! * if the path already ends in a version segment (`v1`, `v4`, `v1beta`, …) it is kept;
//! * otherwise `/v1` is appended;
//! * a trailing `#` means "use exactly this", for gateways with unusual paths.
//!
//! Endpoint paths (`chat/completions`, `models`) are then appended to the result.
//!
//! That is the rule for OpenAI-style APIs; [`resolve_for`] applies each protocol's own
//! version segment (Gemini's `v1beta`), or none (Ollama, Azure).

use url::Url;

use crate::provider::Protocol;

/// Why a base URL was refused. Messages never echo userinfo (it could hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not parseable as a URL at all.
    #[error("'{0}' is not a valid URL (expected something like https://api.example.com/v1)")]
    Invalid(String),
    /// Only `http` and `https` are spoken.
    #[error("the base URL must start with http:// or https://, not {0}://")]
    Scheme(String),
    /// A query parameter that looks like a credential (`?key=…`, `?api_key=…`) would be
    /// stored and shown in plain text.
    #[error(
        "the base URL carries a credential in its query string ('{0}'); remove it and give the key with --key-stdin so it is stored encrypted"
    )]
    CredentialInQuery(String),
    /// `https://user:pass@host` would store a credential in plain text.
    #[error(
        "the base URL contains a user name or password; remove it and give the key with \
         --key-stdin so it is stored encrypted"
    )]
    Credentials,
}

/// Validates `raw` and applies the rule in the module docs. The result has no trailing
/// slash.
pub fn resolve_api_base(raw: &str) -> Result<Url, BaseUrlError> {
    resolve_with(raw, Some("v1"))
}

/// [`resolve_api_base`] with `protocol`'s version segment.
pub fn resolve_for(protocol: Protocol, raw: &str) -> Result<Url, BaseUrlError> {
    let mut url = resolve_with(raw, protocol.version_segment())?;
    if protocol == Protocol::Azure {
        // People paste the resource URL with or without Azure's /openai prefix, or the
        // v1 API's /openai/v1; Orchard builds the paths below the resource itself.
        let trimmed = url.path().trim_end_matches('/');
        let path = trimmed
            .strip_suffix("/openai/v1")
            .unwrap_or(trimmed)
            .trim_end_matches("/openai")
            .to_owned();
        url.set_path(&path);
    }
    Ok(url)
}

fn resolve_with(raw: &str, version: Option<&str>) -> Result<Url, BaseUrlError> {
    let raw = raw.trim();
    let (raw, verbatim) = match raw.strip_suffix('#') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let mut url =
        Url::parse(raw).map_err(|_| BaseUrlError::Invalid(crate::redact::userinfo(raw)))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(BaseUrlError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::Credentials);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BaseUrlError::Invalid(raw.to_owned()));
    }
    if let Some((name, _)) = url.query_pairs().find(|(name, _)| is_credential_name(name)) {
        return Err(BaseUrlError::CredentialInQuery(name.into_owned()));
    }
    url.set_fragment(None);
    let trimmed = url.path().trim_end_matches('/').to_owned();
    let last = trimmed.rsplit('/').next().unwrap_or("");
    let path = match version {
        Some(v) if !verbatim && !is_version_segment(last) => format!("{trimmed}/{v}"),
        _ => trimmed,
    };
    url.set_path(&path);
    Ok(url)
}

/// Whether requests to `url` would cross a network unencrypted (`http://` to a host
/// other than this machine).
pub fn is_plaintext_remote(url: &Url) -> bool {
    let local = match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    url.scheme() == "http" && !local
}

/// `base` + `/` + `path`, keeping any query string of `base`.
pub fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

/// Query parameter names that carry credentials (compared without `-`/`_`, any case).
fn is_credential_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        n.as_str(),
        "key"
            | "apikey"
            | "token"
            | "accesstoken"
            | "authtoken"
            | "auth"
            | "secret"
            | "password"
            | "pass"
            | "sig"
            | "signature"
            | "xapikey"
            | "code"
    )
}

/// `v` followed by digits and then optionally letters and digits: `v1`, `v4`, `v1beta`.
fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> String {
        resolve_api_base(s).unwrap().to_string()
    }

    #[test]
    fn appends_v1_unless_a_version_segment_ends_the_path() {
        assert_eq!(
            base("https://api.deepseek.com"),
            "https://api.deepseek.com/v1"
        );
        assert_eq!(
            base("https://api.deepseek.com/"),
            "https://api.deepseek.com/v1"
        );
        assert_eq!(
            base("https://api.groq.com/openai/v1"),
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(
            base("https://api.groq.com/openai/v1/"),
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(
            base("https://open.bigmodel.cn/api/paas/v4"),
            "https://open.bigmodel.cn/api/paas/v4"
        );
        assert_eq!(
            base("https://generativelanguage.googleapis.com/v1beta"),
            "https://generativelanguage.googleapis.com/v1beta"
        );
        assert_eq!(base("http://127.0.0.1:1234"), "http://127.0.0.1:1234/v1");
        assert_eq!(
            base("https://gw.example.com/openai"),
            "https://gw.example.com/openai/v1"
        );
        // "version" and "v" alone are not version segments.
        assert_eq!(
            base("https://x.example/version"),
            "https://x.example/version/v1"
        );
        assert_eq!(base("https://x.example/v"), "https://x.example/v/v1");
    }

    #[test]
    fn plaintext_remote_means_http_beyond_this_machine() {
        let r = |s: &str| is_plaintext_remote(&resolve_api_base(s).unwrap());
        assert!(r("http://192.168.1.20:8000"));
        assert!(r("http://gpu-box.lan"));
        assert!(!r("http://127.0.0.1:1234"));
        assert!(!r("http://localhost:11434"));
        assert!(!r("http://[::1]:8080"));
        assert!(!r("https://api.example.com"));
    }

    #[test]
    fn each_protocol_gets_its_own_version_segment() {
        let r = |p, s: &str| resolve_for(p, s).unwrap().to_string();
        assert_eq!(
            r(Protocol::Anthropic, "https://api.anthropic.com"),
            "https://api.anthropic.com/v1"
        );
        assert_eq!(
            r(
                Protocol::Gemini,
                "https://generativelanguage.googleapis.com"
            ),
            "https://generativelanguage.googleapis.com/v1beta"
        );
        assert_eq!(
            r(Protocol::Gemini, "https://gw.example/v1"),
            "https://gw.example/v1"
        );
        assert_eq!(
            r(Protocol::Ollama, "http://127.0.0.1:11434/"),
            "http://127.0.0.1:11434/"
        );
        assert_eq!(
            r(Protocol::Azure, "https://res.openai.azure.com/openai/"),
            "https://res.openai.azure.com/"
        );
        assert_eq!(
            r(Protocol::Azure, "https://res.openai.azure.com/openai/v1"),
            "https://res.openai.azure.com/"
        );
        assert_eq!(
            r(
                Protocol::Azure,
                "https://res.openai.azure.com?api-version=2024-10-21"
            ),
            "https://res.openai.azure.com/?api-version=2024-10-21"
        );
    }

    #[test]
    fn trailing_hash_means_verbatim() {
        assert_eq!(
            base("https://gw.example.com/custom/path#"),
            "https://gw.example.com/custom/path"
        );
        assert_eq!(base("https://gw.example.com/#"), "https://gw.example.com/");
    }

    #[test]
    fn endpoints_append_and_keep_the_query() {
        let b = resolve_api_base("https://api.example.com").unwrap();
        assert_eq!(
            endpoint(&b, "chat/completions").as_str(),
            "https://api.example.com/v1/chat/completions"
        );
        let q =
            resolve_api_base("https://az.example.com/openai/v1?api-version=2024-10-21").unwrap();
        assert_eq!(
            endpoint(&q, "/models").as_str(),
            "https://az.example.com/openai/v1/models?api-version=2024-10-21"
        );
    }

    #[test]
    fn refuses_bad_urls_without_echoing_credentials() {
        assert!(matches!(
            resolve_api_base("not a url"),
            Err(BaseUrlError::Invalid(_))
        ));
        assert_eq!(
            resolve_api_base("ftp://x.example").unwrap_err(),
            BaseUrlError::Scheme("ftp".into())
        );
        let err = resolve_api_base("https://x.example/v1?key=AIzaSECRET").unwrap_err();
        assert_eq!(err, BaseUrlError::CredentialInQuery("key".into()));
        assert!(!err.to_string().contains("AIzaSECRET"));
        assert!(resolve_api_base("https://x.example/v1?api-key=1").is_err());
        assert!(resolve_api_base("https://az.example/openai/v1?api-version=2024-10-21").is_ok());
        let err = resolve_api_base("https://me:hunter2@x.example/v1").unwrap_err();
        assert_eq!(err, BaseUrlError::Credentials);
        assert!(!err.to_string().contains("hunter2"));
    }
}
