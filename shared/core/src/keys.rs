//! Blob-key rules shared by every blob store, so a key that works locally
//! works on S3 and one refused in one place is refused everywhere.

use crate::{CodaError, Result};

/// The longest key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

fn invalid_key(key: &str, why: &str) -> CodaError {
    CodaError::BadRequest {
        code: "INVALID_KEY",
        message: format!("invalid object key: {why}"),
        details: serde_json::json!({ "key": key }),
    }
}

/// Refuses keys a file system would read as paths (`..`, empty segments) and control characters.
pub fn validate_key(key: &str) -> Result<()> {
    check_chars(key)?;
    if key.starts_with('/') {
        return Err(invalid_key(key, "it starts with '/'"));
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(invalid_key(key, "it has an empty, '.' or '..' segment"));
    }
    Ok(())
}

/// Like `validate_key`, but the last segment may be partial or empty (`results/job_1/`).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    check_chars(prefix)?;
    if prefix.starts_with('/') {
        return Err(invalid_key(prefix, "it starts with '/'"));
    }
    let (dirs, last) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    if (!dirs.is_empty()
        && dirs
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".."))
        || last == ".."
    {
        return Err(invalid_key(prefix, "it has an empty, '.' or '..' segment"));
    }
    Ok(())
}

fn check_chars(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid_key(key, "it is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid_key(key, "it is longer than 1024 bytes"));
    }
    if key.contains('\\') {
        return Err(invalid_key(key, "it contains a backslash"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid_key(key, "it contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_keys_and_prefixes() {
        for ok in [
            "a",
            "a/b.wav",
            "uploads/x/Café + ünï.wav",
            "x/.hidden",
            "a..b",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(1025);
        for bad in [
            "", "/a", "a//b", "a/", "../x", "a/./b", "a/..", "a\\b", "a\u{0}b", "a\nb", &long,
        ] {
            assert_eq!(
                validate_key(bad).unwrap_err().code(),
                "INVALID_KEY",
                "{bad:?}"
            );
        }
        for ok in ["results/job_1/", "uploads/ab", "a"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/", "a//", "../", "a/..", "x/../y/", ".."] {
            assert_eq!(
                validate_prefix(bad).unwrap_err().code(),
                "INVALID_KEY",
                "{bad:?}"
            );
        }
    }
}
