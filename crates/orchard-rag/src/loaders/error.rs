//! Why a file could not be read, in words a person can act on.

use super::READABLE;

/// Why [`load`](super::load) could not turn a file into text.
///
/// Every variant names the file, so a message about one of several attachments says
/// which one it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file is larger than [`Limits::max_bytes`](super::Limits::max_bytes).
    #[error(
        "{name} is {}; the limit is {}{}",
        human_size(*size),
        human_size(*limit),
        setting_hint(*setting)
    )]
    TooLarge {
        /// The file name as given.
        name: String,
        /// The file's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
        /// The setting that changes the limit, named in the message when present; the
        /// loader does not know it, so callers fill it in with
        /// [`LoadError::with_setting`].
        setting: Option<&'static str>,
    },
    /// The file has no bytes, or a text file has only whitespace.
    #[error("{name} is empty; there is no text to include")]
    Empty {
        /// The file name as given.
        name: String,
    },
    /// The bytes are not text and match no format Orchard knows.
    #[error("{name} looks like a binary file, not text; Orchard can read {READABLE}")]
    Binary {
        /// The file name as given.
        name: String,
    },
    /// A format Orchard recognises but cannot read (an image, an archive, a Word file...).
    #[error("{name} is {format}; Orchard can read {READABLE}")]
    Unsupported {
        /// The file name as given.
        name: String,
        /// What the file is, with its article ("a PNG image", "a Word document (DOCX)").
        format: &'static str,
    },
    /// The PDF needs a password to open.
    #[error("{name}: the PDF is encrypted; remove the password and try again")]
    PdfEncrypted {
        /// The file name as given.
        name: String,
    },
    /// The PDF's pages have no text, only images: most likely a scan.
    #[error("{name} has no text layer — this PDF looks scanned; OCR is not available")]
    PdfNoText {
        /// The file name as given.
        name: String,
    },
    /// The PDF is damaged or not a PDF at all.
    #[error("{name} could not be read as a PDF: {reason}")]
    PdfCorrupt {
        /// The file name as given.
        name: String,
        /// What went wrong, in plain words.
        reason: String,
    },
    /// A file of another format (a Word document, ...) is damaged, is not what its name
    /// says, or unpacks to more than Orchard will read.
    #[error("{name} could not be read as {format}: {reason}")]
    Corrupt {
        /// The file name as given.
        name: String,
        /// What it was read as, with its article ("a Word document (DOCX)").
        format: &'static str,
        /// What went wrong, in plain words.
        reason: String,
    },
    /// A file other than a PDF needs a password to open.
    #[error("{name} is encrypted; remove the password and try again")]
    Encrypted {
        /// The file name as given.
        name: String,
        /// What the file is, with its article ("a Word document (DOCX)").
        format: &'static str,
    },
    /// A data file (JSON) does not parse; says where, so the file can be fixed.
    #[error("{name} is not valid {format}: {reason} at line {line}, column {column}")]
    Syntax {
        /// The file name as given.
        name: String,
        /// The format, without an article ("JSON").
        format: &'static str,
        /// The line of the first error, starting at 1.
        line: usize,
        /// The column of the first error (in characters), starting at 1.
        column: usize,
        /// What is wrong there, in plain words.
        reason: String,
    },
}

impl LoadError {
    /// Names the setting that changes the size limit, so [`LoadError::TooLarge`] says
    /// "(set NAME to change it)"; other errors are returned unchanged.
    #[must_use]
    pub fn with_setting(mut self, name: &'static str) -> Self {
        if let LoadError::TooLarge { setting, .. } = &mut self {
            *setting = Some(name);
        }
        self
    }
}

fn setting_hint(setting: Option<&'static str>) -> String {
    setting.map_or_else(String::new, |name| format!(" (set {name} to change it)"))
}

/// A size for people: `512 bytes`, `1.5 KB`, `20 MB`, `2.1 GB` (multiples of 1024, as
/// the rest of Orchard counts them).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return if bytes == 1 {
            "1 byte".to_owned()
        } else {
            format!("{bytes} bytes")
        };
    }
    // Precision lost above 2^53 bytes does not show in one decimal.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    let rounded = format!("{value:.1}");
    let rounded = rounded.strip_suffix(".0").unwrap_or(&rounded);
    format!("{rounded} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(20 * 1024 * 1024), "20 MB");
        assert_eq!(human_size(2_254_857_830), "2.1 GB");
        assert_eq!(human_size(u64::MAX), "16777216 TB");
    }

    #[test]
    fn too_large_names_the_setting_when_given() {
        let err = LoadError::TooLarge {
            name: "big.log".into(),
            size: 2_254_857_830,
            limit: 20 * 1024 * 1024,
            setting: None,
        };
        assert_eq!(err.to_string(), "big.log is 2.1 GB; the limit is 20 MB");
        let err = err.with_setting("attachments.max_bytes");
        assert_eq!(
            err.to_string(),
            "big.log is 2.1 GB; the limit is 20 MB (set attachments.max_bytes to change it)"
        );
    }

    #[test]
    fn with_setting_leaves_other_errors_alone() {
        let err = LoadError::Empty { name: "a".into() };
        assert_eq!(err.clone().with_setting("x"), err);
    }
}
