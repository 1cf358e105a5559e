//! HTTP `Range` header parsing for blob downloads.

use crate::CodaError;

/// Resolves a `Range: bytes=...` header against a blob of `size` bytes.
///
/// Returns the inclusive `(start, end)`; None means "send it all" (no header,
/// or a unit Coda does not serve).
///
/// Several ranges (`bytes=0-1,5-6`) are answered with the whole body as 200,
/// which RFC 9110 allows (a server may ignore `Range`): Coda serves no
/// `multipart/byteranges`, and the first range alone would not be what was
/// asked for. 416 only when no range of the set is satisfiable, as the RFC
/// requires; a set of more than [`MAX_RANGES`] is not looked into and is sent
/// whole too.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, CodaError> {
    let Some(h) = header else { return Ok(None) };
    let unsatisfiable = || CodaError::RangeNotSatisfiable { size };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        let specs: Vec<&str> = spec.split(',').map(str::trim).collect();
        if specs.len() > MAX_RANGES {
            return Ok(None);
        }
        return match specs.iter().any(|s| one_range(s, size).is_ok()) {
            true => Ok(None),
            false => Err(unsatisfiable()),
        };
    }
    one_range(spec, size).map(Some)
}

/// Most ranges in one header that are looked at; a longer set is served whole without parsing it.
pub const MAX_RANGES: usize = 16;

/// One `first-last`, `first-` or `-suffix` against `size` bytes.
fn one_range(spec: &str, size: u64) -> Result<(u64, u64), CodaError> {
    let unsatisfiable = || CodaError::RangeNotSatisfiable { size };
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
    Ok(range)
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
            "bytes=10-11,20-",
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

    #[test]
    fn a_set_with_a_satisfiable_range_is_served_whole() {
        for h in [
            "bytes=0-1,5-6",
            "bytes=0-5,3-8",
            "bytes=20-30,2-3",
            "bytes=-2, 0-0",
        ] {
            assert_eq!(parse_range(Some(h), 10).unwrap(), None, "{h}");
        }
        // More than the cap is not looked into.
        let many = format!("bytes={}", vec!["50-60"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(Some(&many), 10).unwrap(), None);
    }
}
