//! Session items and the session service over them: messages in order, files by name, a row that stays small.

use chrono::Utc;
use coda_core::model::{ChatMessage, Owner, SessionFile};
use coda_core::ports::SessionItems;
use coda_core::services::sessions::Sessions;
use coda_core::services::{Adapters, Limits};
use serde_json::json;

use crate::fixtures::uid as unique;

fn message(i: usize) -> ChatMessage {
    ChatMessage {
        role: if i.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        }
        .into(),
        content: format!("turn {i}: make it softer ✓"),
        at: Utc::now(),
    }
}

fn file(name: &str, bytes: u64) -> SessionFile {
    SessionFile {
        name: name.into(),
        key: format!("sessions/s/files/{name}"),
        content_type: "audio/wav".into(),
        bytes,
        added_at: Utc::now(),
    }
}

/// Messages list in append order across pages and from the end; files replace by name; sessions never mix.
pub async fn check_session_items(items: &dyn SessionItems) {
    let (a, b) = (unique("ses"), unique("ses"));
    for i in 0..7 {
        items.append_message(&a, &message(i)).await.unwrap();
    }
    items.append_message(&b, &message(100)).await.unwrap();
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let page = items.list_messages(&a, 3, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|m| m.content));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..7).map(|i| message(i).content).collect();
    assert_eq!(seen, want, "pages in append order, each message once");
    let last: Vec<String> = items
        .latest_messages(&a, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(last, want[5..].to_vec(), "the newest, oldest first");
    assert_eq!(items.latest_messages(&b, 10).await.unwrap().len(), 1);
    assert!(items
        .list_messages(&unique("ses"), 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(items
        .list_messages(&a, 10, Some("not a cursor"))
        .await
        .is_err());

    items.put_file(&a, &file("b.wav", 1)).await.unwrap();
    items.put_file(&a, &file("a.wav", 2)).await.unwrap();
    items.put_file(&a, &file("b.wav", 3)).await.unwrap();
    let files = items.list_files(&a).await.unwrap();
    let got: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.bytes)).collect();
    assert_eq!(
        got,
        [("a.wav", 2), ("b.wav", 3)],
        "by name, the later record wins"
    );
    assert!(items.list_files(&b).await.unwrap().is_empty());

    items.delete_all(&a).await.unwrap();
    assert!(items.list_files(&a).await.unwrap().is_empty());
    assert!(items.latest_messages(&a, 10).await.unwrap().is_empty());
    assert_eq!(
        items.latest_messages(&b, 10).await.unwrap().len(),
        1,
        "others stay"
    );
    items.delete_all(&b).await.unwrap();
}

/// 500 messages and 50 score revisions leave the row under 10 KB; attaching files while the score changes never conflicts.
pub async fn check_session_scales(adapters: &Adapters) {
    let (repo, blobs) = (adapters.sessions.clone(), adapters.blobs.clone());
    let service = Sessions::new(adapters, Limits::default());
    let owner = Owner(unique("owner"));
    let s = service.create(&owner).await.unwrap();
    let id = s.session_id.clone();
    for i in 0..500 {
        service
            .add_message(&owner, &id, "user", &message(i).content)
            .await
            .unwrap();
    }
    // A score of some size: each revision is a blob, never the row.
    let notes: Vec<_> = (0..200)
        .map(|n| json!({"pitch": 60 + n % 12, "dur": 1}))
        .collect();
    let attach = async {
        for i in 0..10 {
            let wav = [b"RIFF\x24\x00\x00\x00WAVEfmt ".as_slice(), &[0u8; 32]].concat();
            service
                .attach_file(&owner, &id, &format!("take{i}.wav"), wav.into())
                .await
                .unwrap();
        }
    };
    let edit = async {
        for rev in 1..=50u64 {
            let got = service
                .put_score(&owner, &id, &json!({"rev": rev, "notes": notes}))
                .await
                .unwrap();
            assert_eq!(got, rev);
        }
    };
    tokio::join!(attach, edit);

    let row = repo.get(&id).await.unwrap().unwrap();
    let size = serde_json::to_vec(&row).unwrap().len();
    assert!(size < 10_000, "the session row is {size} bytes");
    assert_eq!((row.score_rev, row.score_head), (Some(50), 50));

    let view = service.view(&owner, &id).await.unwrap();
    assert_eq!(
        view.history.len(),
        coda_core::services::sessions::VIEW_MESSAGES
    );
    assert_eq!(view.history.last().unwrap().content, message(499).content);
    assert_eq!(view.files.len(), 10);
    assert_eq!(view.current_score.unwrap()["rev"], 50);
    assert_eq!(view.score_rev, Some(50));
    let first = service.score(&owner, &id, Some(1)).await.unwrap();
    assert_eq!((first.rev, first.score["rev"].clone()), (1, json!(1)));
    assert!(service.score(&owner, &id, Some(51)).await.is_err());
    let mut all = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = service
            .messages(&owner, &id, Some(200), cursor.as_deref())
            .await
            .unwrap();
        all += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, 500);
    // Another owner sees none of it.
    assert!(service.view(&Owner(unique("other")), &id).await.is_err());

    service.delete(&owner, &id).await.unwrap();
    assert!(repo.get(&id).await.unwrap().is_none());
    assert!(blobs
        .head(&row.score_key(1).unwrap())
        .await
        .unwrap()
        .is_none());
}
