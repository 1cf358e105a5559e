//! HTTP `Range` header parsing for blob downloads.

use crate::CodaError;

/// Resolves a `Range: bytes=...` header against a blob of `size` bytes.
///
/// Returns the inclusive `(start, end)`; None means "send it all" (no header,
/// or a unit Coda does not serve). Multiple ranges are served as the first one
/// would not be what the client asked for, so they are refused with 416.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, CodaError> {
    let Some(h) = header else { return Ok(None) };
    let unsatisfiable = || CodaError::RangeNotSatisfiable { size };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Err(unsatisfiable());
    }
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| unsatisfiable())?;
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| unsatisfiable())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| unsatisfiable())?
        };
        if start >= size || end < start {
            return Err(unsatisfiable());
        }
        (start, end.min(size - 1))
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_range(None, 10).unwrap(), None);
        assert_eq!(parse_range(Some("bytes=0-3"), 10).unwrap(), Some((0, 3)));
        assert_eq!(parse_range(Some("bytes=5-"), 10).unwrap(), Some((5, 9)));
        assert_eq!(parse_range(Some("bytes=-4"), 10).unwrap(), Some((6, 9)));
        assert_eq!(parse_range(Some("bytes=-40"), 10).unwrap(), Some((0, 9)));
        assert_eq!(parse_range(Some("bytes=8-100"), 10).unwrap(), Some((8, 9)));
        assert_eq!(parse_range(Some("items=1-2"), 10).unwrap(), None);
    }

    #[test]
    fn unsatisfiable() {
        for h in [
            "bytes=10-",
            "bytes=5-2",
            "bytes=-0",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "bytes=",
            "bytes=x",
        ] {
            assert_eq!(
                parse_range(Some(h), 10).unwrap_err().code(),
                "RANGE_NOT_SATISFIABLE",
                "{h}"
            );
        }
        assert!(parse_range(Some("bytes=0-"), 0).is_err());
    }
}
