//! The ingest path's input: S3 event notifications, as they arrive in SQS message bodies.

use coda_core::ports::ObjectCreated;
use coda_core::{CodaError, Result};
use serde::Deserialize;

/// The parts of an S3 notification that ingest reads.
#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    /// `s3:TestEvent` when S3 checks a new notification configuration.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

/// Size and entity tag are optional because removal events carry neither.
#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
}

fn invalid(message: String) -> CodaError {
    CodaError::bad_request("INVALID_S3_EVENT", message)
}

/// Reads the object-created records of an S3 event notification; a test event
/// (`s3:TestEvent`) and other event kinds yield nothing. Keys come back decoded.
pub fn object_created_from_s3_event(body: &str) -> Result<Vec<ObjectCreated>> {
    let n: Notification = serde_json::from_str(body)
        .map_err(|e| invalid(format!("not an S3 event notification: {e}")))?;
    let Some(records) = n.records else {
        return match n.event.as_deref() {
            Some("s3:TestEvent") => Ok(vec![]),
            _ => Err(invalid("an S3 event notification without Records".into())),
        };
    };
    records
        .into_iter()
        .filter(|r| r.event_name.starts_with("ObjectCreated:"))
        .map(|r| {
            let object = r.s3.object;
            let (Some(size), Some(etag)) = (object.size, object.etag) else {
                return Err(invalid(format!(
                    "{} record for '{}' lacks size or eTag",
                    r.event_name, object.key
                )));
            };
            Ok(ObjectCreated {
                bucket: r.s3.bucket.name,
                key: decode_key(&object.key)?,
                size,
                etag: etag.trim_matches('"').to_string(),
            })
        })
        .collect()
}

/// Decodes a key the way S3 encodes it in events (Python's `unquote_plus`):
/// `+` is a space, then `%XX` escapes are bytes of UTF-8. A `%` not followed by
/// two hex digits stays as it is, as `unquote_plus` leaves it.
fn decode_key(raw: &str) -> Result<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            ) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits make at most 255, so the narrowing is exact.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| invalid(format!("object key '{raw}' is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SQS body as real S3 sends it (trimmed of fields ingest does not read).
    fn record(key: &str, size: u64, etag: &str, name: &str) -> String {
        format!(
            r#"{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-22T10:00:00.000Z","eventName":"{name}",
            "userIdentity":{{"principalId":"AWS:AIDAEXAMPLE"}},
            "requestParameters":{{"sourceIPAddress":"127.0.0.1"}},
            "responseElements":{{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8"}},
            "s3":{{"s3SchemaVersion":"1.0","configurationId":"coda-ingest",
              "bucket":{{"name":"coda-blobs","ownerIdentity":{{"principalId":"A3NL1KOZZKExample"}},"arn":"arn:aws:s3:::coda-blobs"}},
              "object":{{"key":"{key}","size":{size},"eTag":"{etag}","sequencer":"0055AED6DCD90281E5"}}}}}}"#
        )
    }

    fn event(records: &[String]) -> String {
        format!(r#"{{"Records":[{}]}}"#, records.join(","))
    }

    #[test]
    fn decodes_keys_like_unquote_plus() {
        let body = event(&[
            // Real S3: `/` stays, a space is `+`, a literal `+` is `%2B`, Unicode is UTF-8 escapes.
            record(
                "uploads/upl_1/my+song+%2B+Caf%C3%A9+%E6%9B%B2.wav",
                1234,
                "0123456789abcdef0123456789abcdef",
                "ObjectCreated:Put",
            ),
            // moto also escapes `/` as `%2F`.
            record(
                "uploads%2Fupl_2%2Fa+b.wav",
                5,
                "\\\"abc\\\"",
                "ObjectCreated:CompleteMultipartUpload",
            ),
        ]);
        let got = object_created_from_s3_event(&body).unwrap();
        assert_eq!(
            got,
            vec![
                ObjectCreated {
                    bucket: "coda-blobs".into(),
                    key: "uploads/upl_1/my song + Café 曲.wav".into(),
                    size: 1234,
                    etag: "0123456789abcdef0123456789abcdef".into(),
                },
                ObjectCreated {
                    bucket: "coda-blobs".into(),
                    key: "uploads/upl_2/a b.wav".into(),
                    size: 5,
                    etag: "abc".into(),
                },
            ]
        );
    }

    #[test]
    fn test_events_and_other_kinds_yield_nothing() {
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T10:00:00.000Z",
            "Bucket":"coda-blobs","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
        assert!(object_created_from_s3_event(test_event).unwrap().is_empty());
        // Removal records carry neither size nor eTag.
        let removed = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},
            "object":{"key":"uploads/x","sequencer":"0A1B2C3D4E5F678901"}}}]}"#;
        assert!(object_created_from_s3_event(removed).unwrap().is_empty());
        assert!(object_created_from_s3_event(r#"{"Records":[]}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_what_is_not_an_s3_event() {
        for bad in [
            "",
            "not json",
            r#"{"bucket":"local","key":"uploads/x","size":1,"etag":"e"}"#,
            r#"{"Event":"s3:SomethingElse"}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#,
            &event(&[record("uploads/%FF", 1, "e", "ObjectCreated:Put")]),
        ] {
            assert_eq!(
                object_created_from_s3_event(bad).unwrap_err().code(),
                "INVALID_S3_EVENT",
                "{bad}"
            );
        }
    }

    #[test]
    fn leaves_stray_percent_signs() {
        assert_eq!(decode_key("100%").unwrap(), "100%");
        assert_eq!(decode_key("a%2").unwrap(), "a%2");
        assert_eq!(decode_key("a%zz+b").unwrap(), "a%zz b");
        assert_eq!(decode_key("%e6%9b%b2").unwrap(), "曲");
    }
}
