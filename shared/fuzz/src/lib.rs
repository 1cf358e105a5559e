//! Coda's fuzz targets. Each takes arbitrary bytes and must neither panic nor
//! answer outside the API contract (a 5xx, or an error without the envelope);
//! the score readers' targets also check their round trips (see [`scores`]).
//!
//! `fuzz/` drives them under libFuzzer (`cargo fuzz run <target>`, nightly);
//! `tests/fuzz.rs` replays the committed corpus and mutates it for a bounded
//! time on stable, as part of `cargo test`.

#![forbid(unsafe_code)]

mod harness;
pub mod mutate;
pub mod scores;

use axum::body::Body;
use axum::http::{header, Method, Request};
use coda_core::range::parse_range;
use coda_core::CodaError;

pub use harness::{check_response, Harness};
pub use scores::{midi_read, musicxml_read};

/// A fuzz target: bytes in, a panic on failure.
pub type Target = fn(&[u8]);

/// The targets, by name (as `fuzz/fuzz_targets/<name>.rs` and `corpus/<name>/`).
pub const TARGETS: [(&str, Target); 7] = [
    ("audio_decode", audio_decode),
    ("multipart_body", multipart_body),
    ("json_body", json_body),
    ("range_header", range_header),
    ("signed_url", signed_url),
    ("musicxml_read", musicxml_read),
    ("midi_read", midi_read),
];

/// Decodes the bytes as an upload would be: a clear error or audio, never a panic or an abort.
pub fn audio_decode(data: &[u8]) {
    if let Ok(audio) = coda_audio::decode(data, None) {
        assert!(
            audio.sample_rate > 0 && audio.channels > 0,
            "decoded audio without a rate or channels"
        );
        assert_eq!(
            audio.samples.len() % usize::from(audio.channels),
            0,
            "a partial frame"
        );
    }
}

/// Boundary of the multipart bodies (the corpus uses it).
pub const BOUNDARY: &str = "codafuzzboundary";

/// A multipart body posted to a session's files.
pub fn multipart_body(data: &[u8]) {
    let h = Harness::get();
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/sessions/{}/files", h.session_id))
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("a valid request");
    h.send(req);
}

/// The JSON routes; the first byte picks one, the rest is the body.
const JSON_ROUTES: [(&str, &str); 4] = [
    ("POST", "/v1/jobs"),
    ("POST", "/v1/uploads"),
    ("POST", "/v1/webhooks"),
    ("POST", "/v1/sessions"),
];

/// A JSON body posted to one of the JSON routes.
pub fn json_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let h = Harness::get();
    let (method, path) = JSON_ROUTES[usize::from(pick) % JSON_ROUTES.len()];
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a valid request");
    h.send(req);
}

/// A `Range` header: parsed against several sizes, then sent with a signed GET of a stored blob.
pub fn range_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for size in [0, 1, 2, 100, 4096, u64::MAX] {
        match parse_range(Some(&text), size) {
            Ok(Some((first, last))) => assert!(
                first <= last && last < size,
                "{text:?} on {size} bytes gave {first}-{last}"
            ),
            Ok(None) => {}
            Err(CodaError::RangeNotSatisfiable { size: s }) => assert_eq!(s, size),
            Err(e) => panic!("{text:?} on {size} bytes: unexpected error {e:?}"),
        }
    }
    let h = Harness::get();
    let Ok(value) = axum::http::HeaderValue::from_bytes(data) else {
        return;
    };
    let req = Request::builder()
        .uri(h.signed_get.as_str())
        .header(header::RANGE, value)
        .body(Body::empty())
        .expect("a valid request");
    let (status, headers, body) = h.send(req);
    if status == 206 {
        let range = headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .expect("a 206 names its range");
        let (span, total) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .expect("bytes first-last/size");
        let (first, last) = span.split_once('-').expect("first-last");
        let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
        assert_eq!(total, h.blob_len.to_string());
        assert_eq!(body.len(), last - first + 1, "{range}");
        assert_eq!(&body[..], &h.blob[first..=last], "{range}");
    }
}

/// A signed-URL request: the bytes up to the first newline are the path after
/// `/v1/objects/`, the rest the query; GET or PUT by the first byte's parity.
pub fn signed_url(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (key, query) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let key = String::from_utf8_lossy(key);
    let query = String::from_utf8_lossy(query);
    let h = Harness::get();
    let key = if key.is_empty() {
        h.blob_key.as_str().into()
    } else {
        key
    };
    // hyper refuses what is not a URI before the app sees it.
    let Ok(uri) = format!("/v1/objects/{key}?{query}").parse::<axum::http::Uri>() else {
        return;
    };
    let method = if pick % 2 == 0 {
        Method::GET
    } else {
        Method::PUT
    };
    let body = if method == Method::PUT {
        Body::from(h.blob.clone())
    } else {
        Body::empty()
    };
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .expect("a valid request");
    h.send(req);
}
