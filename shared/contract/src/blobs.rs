//! Blob store contracts: metadata, ranged reads, key encoding, prefix deletes, signed URLs.

use std::time::Duration;

use bytes::Bytes;
use coda_core::ports::BlobStore;

use crate::fixtures::{code, uid};

/// Put, head, get, overwrite, empty objects and delete behave alike everywhere.
pub async fn check_blob_basics(store: &dyn BlobStore) {
    let key = format!("{}/a.bin", uid("t"));
    assert!(store.head(&key).await.unwrap().is_none());
    assert_eq!(code(store.get(&key, None).await), "NOT_FOUND");
    assert_eq!(code(store.get(&key, Some((0, 1))).await), "NOT_FOUND");

    let meta = store
        .put(
            &key,
            Bytes::from_static(b"hello world"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(
        (meta.key.as_str(), meta.size, meta.content_type.as_str()),
        (key.as_str(), 11, "application/octet-stream")
    );
    assert!(!meta.etag.is_empty());
    assert_eq!(store.head(&key).await.unwrap(), Some(meta.clone()));
    let data = store.get(&key, None).await.unwrap();
    assert_eq!(
        (&data.bytes[..], data.meta.clone()),
        (&b"hello world"[..], meta.clone())
    );

    let meta2 = store
        .put(&key, Bytes::from_static(b"bye"), "text/plain")
        .await
        .unwrap();
    assert_ne!(meta2.etag, meta.etag, "overwrite changes the etag");
    assert_eq!(
        store.get(&key, None).await.unwrap().bytes,
        Bytes::from_static(b"bye")
    );
    assert_eq!(store.head(&key).await.unwrap(), Some(meta2));
    // The same bytes give the same etag.
    let again = store
        .put(&key, Bytes::from_static(b"hello world"), "x/y")
        .await
        .unwrap();
    assert_eq!(again.etag, meta.etag);

    let empty = format!("{}/empty", uid("t"));
    assert_eq!(
        store
            .put(&empty, Bytes::new(), "text/plain")
            .await
            .unwrap()
            .size,
        0
    );
    assert!(store.get(&empty, None).await.unwrap().bytes.is_empty());

    store.delete(&key).await.unwrap();
    assert!(store.head(&key).await.unwrap().is_none());
    assert_eq!(code(store.get(&key, None).await), "NOT_FOUND");
    store.delete(&key).await.unwrap();
    store.delete(&empty).await.unwrap();
}

/// Inclusive ranges return exactly their bytes with the whole blob's metadata; ranges past the end clamp,
/// ranges starting past it (or reversed) are `RANGE_NOT_SATISFIABLE`.
pub async fn check_blob_ranges(store: &dyn BlobStore) {
    let key = format!("{}/digits", uid("t"));
    store
        .put(&key, Bytes::from_static(b"0123456789"), "text/plain")
        .await
        .unwrap();
    let r = |s, e| store.get(&key, Some((s, e)));
    let d = r(0, 3).await.unwrap();
    assert_eq!((&d.bytes[..], d.meta.size), (&b"0123"[..], 10));
    assert_eq!(d.meta.content_type, "text/plain");
    assert_eq!(&r(5, 9).await.unwrap().bytes[..], b"56789");
    assert_eq!(
        &r(5, 100).await.unwrap().bytes[..],
        b"56789",
        "end clamps to the last byte"
    );
    assert_eq!(&r(9, 9).await.unwrap().bytes[..], b"9");
    assert_eq!(&r(0, 9).await.unwrap().bytes[..], b"0123456789");
    assert_eq!(code(r(10, 12).await), "RANGE_NOT_SATISFIABLE");
    assert_eq!(code(r(4, 3).await), "RANGE_NOT_SATISFIABLE");
    let err = r(10, 12).await.unwrap_err();
    assert_eq!(err.details()["size"], 10, "the error carries the size");

    // A larger binary blob: a range in the middle is exactly those bytes.
    let big_key = format!("{}/big.bin", uid("t"));
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    store
        .put(
            &big_key,
            Bytes::from(big.clone()),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let mid = store.get(&big_key, Some((123_457, 234_567))).await.unwrap();
    assert_eq!(&mid.bytes[..], &big[123_457..=234_567]);
    assert_eq!(mid.meta.size, 300_000);

    let empty = format!("{}/empty", uid("t"));
    store.put(&empty, Bytes::new(), "text/plain").await.unwrap();
    assert_eq!(
        code(store.get(&empty, Some((0, 0))).await),
        "RANGE_NOT_SATISFIABLE"
    );
    for k in [&key, &big_key, &empty] {
        store.delete(k).await.unwrap();
    }
}

/// Keys with spaces, `+`, Unicode and nested folders round-trip; unsafe keys are `INVALID_KEY`.
pub async fn check_blob_keys(store: &dyn BlobStore) {
    let base = uid("k");
    for name in [
        "with space.wav",
        "a+b.wav",
        "Café + ünï.wav",
        "日本語/曲.mid",
        "100% (live) & more=1?x#y.wav",
    ] {
        let key = format!("uploads/{base}/{name}");
        store
            .put(&key, Bytes::from(name.as_bytes().to_vec()), "audio/wav")
            .await
            .unwrap();
        assert_eq!(
            &store.get(&key, None).await.unwrap().bytes[..],
            name.as_bytes(),
            "{key}"
        );
        assert_eq!(store.head(&key).await.unwrap().unwrap().key, key);
    }
    // `+` and space are different keys.
    assert!(store
        .head(&format!("uploads/{base}/a b.wav"))
        .await
        .unwrap()
        .is_none());
    for bad in ["../x", "a//b", "/abs", "a/./b", "a/", "", "a\\b", "a\u{1}b"] {
        assert_eq!(
            code(store.put(bad, Bytes::from_static(b"x"), "text/plain").await),
            "INVALID_KEY",
            "{bad:?}"
        );
        assert_eq!(code(store.get(bad, None).await), "INVALID_KEY", "{bad:?}");
        assert_eq!(code(store.head(bad).await), "INVALID_KEY", "{bad:?}");
        assert_eq!(code(store.delete(bad).await), "INVALID_KEY", "{bad:?}");
    }
    let too_long = "k".repeat(1025);
    assert_eq!(
        code(store.put(&too_long, Bytes::new(), "text/plain").await),
        "INVALID_KEY"
    );
    assert_eq!(
        store
            .delete_prefix(&format!("uploads/{base}/"))
            .await
            .unwrap(),
        5
    );
}

/// `delete_prefix` removes exactly the keys that start with the prefix and counts them.
pub async fn check_blob_delete_prefix(store: &dyn BlobStore) {
    let base = uid("results");
    for k in ["j1/a", "j1/sub/b", "j10/c", "j2/d"] {
        store
            .put(
                &format!("{base}/{k}"),
                Bytes::from_static(b"x"),
                "text/plain",
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.delete_prefix(&format!("{base}/j1/")).await.unwrap(),
        2
    );
    assert!(store.head(&format!("{base}/j1/a")).await.unwrap().is_none());
    assert!(store
        .head(&format!("{base}/j1/sub/b"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .head(&format!("{base}/j10/c"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.delete_prefix(&format!("{base}/j1/")).await.unwrap(),
        0
    );
    // A prefix need not end at a folder boundary.
    assert_eq!(store.delete_prefix(&format!("{base}/j1")).await.unwrap(), 1);
    assert_eq!(store.delete_prefix(&format!("{base}/")).await.unwrap(), 1);
    assert_eq!(code(store.delete_prefix("../").await), "INVALID_KEY");

    // More keys than one listing page of some stores holds.
    let many = uid("many");
    for i in 0..30 {
        store
            .put(
                &format!("{many}/{i:03}"),
                Bytes::from_static(b"x"),
                "text/plain",
            )
            .await
            .unwrap();
    }
    assert_eq!(store.delete_prefix(&format!("{many}/")).await.unwrap(), 30);
    assert!(store.head(&format!("{many}/000")).await.unwrap().is_none());
}

/// Signed URLs are absolute, name the key percent-encoded, differ for PUT and GET, and refuse unsafe keys.
pub async fn check_blob_presign_urls(store: &dyn BlobStore) {
    let key = "uploads/x/Café + ünï.wav";
    let encoded = "/uploads/x/Caf%C3%A9%20%2B%20%C3%BCn%C3%AF.wav";
    let ttl = Duration::from_secs(900);
    let signed = store.presign_put(key, "audio/wav", ttl).await.unwrap();
    assert!(
        signed
            .headers
            .iter()
            .any(|(k, v)| k == "if-none-match" && v == "*"),
        "only the first PUT may land: {:?}",
        signed.headers
    );
    let put = signed.url;
    let get = store.presign_get(key, ttl).await.unwrap();
    for url in [&put, &get] {
        assert!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{url}"
        );
        let (path, query) = url.split_once('?').expect("a signed query string");
        assert!(path.ends_with(encoded), "{path}");
        assert!(!query.is_empty());
    }
    assert_ne!(put, get, "a PUT URL does not serve GETs");
    assert_eq!(
        code(store.presign_put("../x", "a/b", ttl).await),
        "INVALID_KEY"
    );
    assert_eq!(code(store.presign_get("a//b", ttl).await), "INVALID_KEY");
}

/// A create-only write refuses a taken key and leaves it as it was; of eight at once exactly one wins.
pub async fn check_blob_put_new(store: &dyn BlobStore) {
    let ct = "application/octet-stream";
    let key = format!("{}/once.bin", uid("t"));
    let first = store
        .put_new(&key, Bytes::from_static(b"first"), ct)
        .await
        .unwrap();
    assert_eq!(first.size, 5);
    assert_eq!(
        code(store.put_new(&key, Bytes::from_static(b"second"), ct).await),
        "ALREADY_EXISTS"
    );
    assert_eq!(&store.get(&key, None).await.unwrap().bytes[..], b"first");

    let race = format!("{}/race.bin", uid("t"));
    let put = |i: u8| store.put_new(&race, Bytes::from(vec![i; 16]), ct);
    let r = tokio::join!(
        put(0),
        put(1),
        put(2),
        put(3),
        put(4),
        put(5),
        put(6),
        put(7)
    );
    let results = [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7];
    let winners: Vec<u8> = (0..8u8)
        .filter(|&i| results[usize::from(i)].is_ok())
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create-only write wins: {winners:?}"
    );
    for r in results.into_iter().filter(|r| r.is_err()) {
        assert_eq!(code(r), "ALREADY_EXISTS");
    }
    let stored = store.get(&race, None).await.unwrap().bytes;
    assert_eq!(
        &stored[..],
        &[winners[0]; 16][..],
        "the winner's bytes stay"
    );
    store.delete(&key).await.unwrap();
    store.delete(&race).await.unwrap();
}
