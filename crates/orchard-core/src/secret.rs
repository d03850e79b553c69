//! API keys as a type that cannot leak by accident.
//!
//! [`ApiKey`] has no `Display`, its `Debug` shows only the mask, its memory is zeroed
//! on drop, and the only way to the plaintext is the explicit [`ApiKey::expose`], which
//! is called in exactly two places: the vault (to encrypt it) and the provider adapter
//! (to put it in the one header the provider expects).

use std::fmt;

use zeroize::Zeroizing;

/// Longest key accepted. Real keys are well under 300 characters; the bound keeps a
/// pasted file or a whole `.env` from being stored as a "key".
pub const MAX_KEY_LEN: usize = 4096;

/// Why a string was refused as an API key. Messages never include the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing but whitespace was given.
    #[error("the API key is empty")]
    Empty,
    /// Whitespace or a line break inside the key: almost always a paste accident.
    #[error(
        "the API key contains a space or line break inside it; paste it again as one line \
         (to add several keys, give one key per line)"
    )]
    InnerWhitespace,
    /// A control character other than whitespace.
    #[error("the API key contains a control character; paste it again")]
    ControlChar,
    /// Longer than [`MAX_KEY_LEN`].
    #[error("the API key is longer than {MAX_KEY_LEN} characters; is this really a key?")]
    TooLong,
}

/// A provider API key. See the module docs for the guarantees.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Accepts a key as pasted: surrounding whitespace (including the newline a
    /// terminal or `echo` adds) is trimmed; whitespace or control characters inside
    /// are refused.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Empty);
        }
        if trimmed.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(KeyError::InnerWhitespace);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(KeyError::ControlChar);
        }
        Ok(Self(Zeroizing::new(trimmed.to_owned())))
    }

    /// The plaintext key. Call only where the key must leave this type: encryption in
    /// the vault, and the authentication header of the provider it belongs to.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A form safe to show anywhere, such as `sk-…7f3a`: the vendor prefix (if any)
    /// and the last four characters. Short keys show less, so that a mask never
    /// reveals a large share of a key.
    pub fn mask(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.mask())
    }
}

/// An API key as the vault sealed it (AEAD nonce and ciphertext with tag). Storage
/// only ever sees this form.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// AEAD nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey({} bytes)", self.ciphertext.len())
    }
}

fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let n = chars.len();
    if n < 10 {
        return "…".to_owned();
    }
    if n < 16 {
        let tail: String = chars[n - 2..].iter().collect();
        return format!("…{tail}");
    }
    // A vendor prefix is a short alphanumeric run followed by '-' or '_' ("sk-", "gsk_").
    let prefix_len = chars
        .iter()
        .take(5)
        .position(|c| *c == '-' || *c == '_')
        .filter(|&i| i > 0 && chars[..i].iter().all(char::is_ascii_alphanumeric))
        .map_or(0, |i| i + 1);
    let prefix: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_refuses_inner_whitespace() {
        let k = ApiKey::parse("  sk-abcdefghijklmnop7f3a\n").unwrap();
        assert_eq!(k.expose(), "sk-abcdefghijklmnop7f3a");
        assert_eq!(ApiKey::parse(" \n\t").unwrap_err(), KeyError::Empty);
        assert_eq!(
            ApiKey::parse("sk-abc\ndef").unwrap_err(),
            KeyError::InnerWhitespace
        );
        assert_eq!(
            ApiKey::parse("sk-abc def").unwrap_err(),
            KeyError::InnerWhitespace
        );
        assert_eq!(
            ApiKey::parse("sk-abc\u{7}def").unwrap_err(),
            KeyError::ControlChar
        );
        assert_eq!(
            ApiKey::parse(&"a".repeat(MAX_KEY_LEN + 1)).unwrap_err(),
            KeyError::TooLong
        );
    }

    #[test]
    fn masks_show_prefix_and_last_four_only() {
        let mask_of = |s: &str| ApiKey::parse(s).unwrap().mask();
        assert_eq!(
            mask_of("sk-proj-abcdefghijklmnopqrstuvwxyz7f3a"),
            "sk-…7f3a"
        );
        assert_eq!(mask_of("gsk_abcdefghijklmnopqrst1234"), "gsk_…1234");
        assert_eq!(mask_of("AIzaSyabcdefghijklmnopqrstuv9876"), "…9876");
        assert_eq!(mask_of("abcdefghijkl"), "…kl");
        assert_eq!(mask_of("short"), "…");
    }

    #[test]
    fn p_l2_debug_output_never_contains_the_key() {
        let secret = "sk-verysecretvalue0000000000001234";
        let k = ApiKey::parse(secret).unwrap();
        let shown = format!("{k:?} {:?}", Some(k.clone()));
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(shown.contains("sk-…1234"));
    }

    #[test]
    fn key_errors_never_echo_the_key() {
        for bad in ["sk-secret part", "sk-secret\npart", "sk-secret\u{1}part"] {
            let msg = ApiKey::parse(bad).unwrap_err().to_string();
            assert!(!msg.contains("secret"), "{msg}");
        }
    }
}
