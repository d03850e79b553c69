//! Which URLs a model may link to or show as an image.
//!
//! URLs are parsed with the WHATWG parser (`url`, via ammonia) so we see them as a browser
//! will: it strips leading control characters and spaces and drops tabs and newlines, which
//! is how `java\tscript:` and ` javascript:` tricks work against naive prefix checks.

use ammonia::Url;

/// The path under which the studio serves its own attachments.
pub(crate) const ATTACHMENT_PREFIX: &str = "/api/v1/attachments/";

/// A link target a person may follow: an absolute `http`, `https` or `mailto` URL, returned
/// normalised (percent-encoded) as a browser would send it.
pub(crate) fn safe_link(dest: &str) -> Option<Url> {
    let url = Url::parse(dest).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then_some(url)
}

/// An image on an outside host (`http`/`https` with a host): never loaded until clicked.
pub(crate) fn external_image(dest: &str) -> Option<Url> {
    let url = Url::parse(dest).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

/// The host (and non-default port) to name in the click-to-load placeholder.
pub(crate) fn display_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The studio's own attachment: a plain path under [`ATTACHMENT_PREFIX`], with no `.`/`..`
/// segment, percent sign or backslash that could make the browser resolve it elsewhere.
pub(crate) fn is_attachment_path(dest: &str) -> bool {
    let Some(rest) = dest.strip_prefix(ATTACHMENT_PREFIX) else {
        return false;
    };
    let path = rest.split('?').next().unwrap_or_default();
    !path.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~/?=&".contains(&b))
        && !path
            .split('/')
            .any(|seg| seg == "." || seg == ".." || seg.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_and_mail_links_are_followed() {
        for ok in [
            "https://example.com/a?b#c",
            "http://example.com",
            "mailto:a@example.com",
            "  https://example.com",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert!(safe_link(ok).is_some(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "/relative",
            "#fragment",
            "//evil.example/x",
            "",
        ] {
            assert!(safe_link(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn attachment_paths_cannot_escape_the_prefix() {
        assert!(is_attachment_path("/api/v1/attachments/abc-123"));
        assert!(is_attachment_path(
            "/api/v1/attachments/abc/thumb.png?w=200"
        ));
        for bad in [
            "/api/v1/attachments/",
            "/api/v1/attachments/../../logout",
            "/api/v1/attachments/%2e%2e/x",
            "/api/v1/attachments/a\\..\\b",
            "/api/v1/attachments//evil.example",
            "/api/v1/attachments/./x",
            "/api/v1/other",
            "https://evil.example/api/v1/attachments/x",
        ] {
            assert!(!is_attachment_path(bad), "{bad}");
        }
    }

    #[test]
    fn hosts_are_shown_as_the_browser_sees_them() {
        let url = external_image("https://Evil.Example:8443/t.png").unwrap();
        assert_eq!(display_host(&url), "evil.example:8443");
        let url = external_image("https://bücher.example/x.png").unwrap();
        assert_eq!(display_host(&url), "xn--bcher-kva.example");
        assert!(external_image("data:image/png;base64,AAAA").is_none());
    }
}
