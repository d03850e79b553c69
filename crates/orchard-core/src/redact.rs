//! Hiding credentials in URL-like text before it is shown.

/// Replaces the password (or, if there is no user name, the whole user part) of
/// `scheme://user:password@host/...` with `***`. Works on text that does not parse as a
/// URL (a password may contain `/` or `@`): everything up to the *last* `@` is treated
/// as user information, so when in doubt more is hidden, never less.
pub fn userinfo(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let Some(at) = rest.rfind('@') else {
        return text.to_owned();
    };
    let (info, host) = rest.split_at(at);
    let hidden = match info.split_once(':') {
        Some((user, _)) if !user.is_empty() && !user.contains('/') => format!("{user}:***"),
        _ => "***".to_owned(),
    };
    format!("{scheme}{hidden}{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_even_when_they_break_url_syntax() {
        assert_eq!(
            userinfo("http://alice:s3cret@proxy:3128"),
            "http://alice:***@proxy:3128"
        );
        assert_eq!(
            userinfo("http://me:pa/ss@proxy:3128"),
            "http://me:***@proxy:3128"
        );
        assert_eq!(
            userinfo("http://me:p@ss@proxy:3128/x"),
            "http://me:***@proxy:3128/x"
        );
        assert_eq!(userinfo("socks5h://token@proxy"), "socks5h://***@proxy");
        assert_eq!(
            userinfo("user:pw@proxy.example:8080"),
            "user:***@proxy.example:8080"
        );
        assert_eq!(
            userinfo("https://api.example.com/v1"),
            "https://api.example.com/v1"
        );
    }
}
