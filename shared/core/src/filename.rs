//! File name checks: uploads name blob keys, so names must never escape a prefix.

use crate::CodaError;

/// The longest accepted file name, in bytes.
pub const MAX_FILENAME_BYTES: usize = 200;

/// Accepts a plain file name or explains why not (400 `INVALID_FILENAME`).
///
/// Names are rejected rather than silently rewritten so a client never
/// finds its file under a name it did not choose.
pub fn check_filename(name: &str) -> Result<String, CodaError> {
    let bad = |why: &str| CodaError::BadRequest {
        code: "INVALID_FILENAME",
        message: format!("invalid filename: {why}"),
        details: serde_json::json!({ "filename": name.chars().take(MAX_FILENAME_BYTES).collect::<String>() }),
    };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    if trimmed.len() > MAX_FILENAME_BYTES {
        return Err(bad(&format!("longer than {MAX_FILENAME_BYTES} bytes")));
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err(bad("contains control characters"));
    }
    if trimmed.contains('/') || trimmed.contains('\\') {
        return Err(bad("contains a path separator"));
    }
    if trimmed == "." || trimmed == ".." || trimmed.starts_with("..") {
        return Err(bad("path traversal"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_unicode() {
        assert_eq!(
            check_filename(" song 1 (final).wav ").unwrap(),
            "song 1 (final).wav"
        );
        assert_eq!(check_filename("Café+ünï.flac").unwrap(), "Café+ünï.flac");
    }

    #[test]
    fn rejects_traversal_separators_controls_and_length() {
        for bad in [
            "../etc/passwd",
            "..",
            "a/b.wav",
            "a\\b.wav",
            "x\u{0}.wav",
            "a\nb",
            "",
            "   ",
        ] {
            let e = check_filename(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_FILENAME", "{bad:?}");
        }
        assert!(check_filename(&"a".repeat(MAX_FILENAME_BYTES + 1)).is_err());
        assert!(check_filename(&"a".repeat(MAX_FILENAME_BYTES)).is_ok());
    }
}
