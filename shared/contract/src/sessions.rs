//! Session items and the session service over them: messages in order, files by name, a row that stays small.

use chrono::Utc;
use coda_core::model::{ChatMessage, Owner, SessionFile};
use coda_core::ports::SessionItems;
use coda_core::services::scores::Scores;
use coda_core::services::sessions::Sessions;
use coda_core::services::{Adapters, Limits};
use coda_core::CodaError;
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
    items
        .append_messages(&a, &[message(7), message(8)])
        .await
        .unwrap();
    items.append_messages(&a, &[]).await.unwrap();
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..12 {
        let page = items.list_messages(&a, 3, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|m| m.content));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..9).map(|i| message(i).content).collect();
    assert_eq!(seen, want, "pages in append order, each message once");
    let last: Vec<String> = items
        .latest_messages(&a, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(last, want[7..].to_vec(), "the newest, oldest first");
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

/// A two-measure melody: C D E F | G A B C (4/4, C major).
const MELODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Voice</part-name></score-part></part-list>
<part id="P1">
<measure number="1"><attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>D</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>E</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>F</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note></measure>
<measure number="2">
<note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>A</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>B</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>
<note><pitch><step>C</step><octave>5</octave></pitch><duration>1</duration><type>quarter</type></note></measure>
</part></score-partwise>"#;

/// A score file makes revision 1; edits, undo and redo move through exact revisions; an edit
/// from a revision that is no longer current is `Stale` and changes nothing; every revision is
/// a blob of its own, and deleting the session's score prefix finds exactly the kept ones.
pub async fn check_score_revisions(adapters: &Adapters) {
    let sessions = Sessions::new(adapters, Limits::default());
    let scores = Scores::new(adapters);
    let owner = Owner(unique("owner"));
    let id = sessions.create(&owner).await.unwrap().session_id;
    let first = sessions
        .attach_file(
            &owner,
            &id,
            "melody.musicxml",
            MELODY.as_bytes().to_vec().into(),
        )
        .await
        .unwrap()
        .score
        .expect("a MusicXML file becomes the score");
    assert_eq!((first.rev, first.info.notes), (1, 8));
    let up = scores
        .edit(
            &owner,
            &id,
            &json!([{"op": "transpose", "interval": "M2"}]),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!((up.rev, up.info.key_signature_fifths), (2, Some(2)));
    // Another edit made from revision 1: refused, the score stays at 2.
    let late = scores
        .edit(
            &owner,
            &id,
            &json!([{"op": "octave", "part": 0, "by": 1}]),
            Some(1),
        )
        .await;
    assert!(matches!(late, Err(CodaError::Stale(_))), "{late:?}");
    assert_eq!(
        scores.state(&owner, &id, None).await.unwrap().score,
        up.score
    );
    let down = scores
        .edit(
            &owner,
            &id,
            &json!([{"op": "transpose", "interval": "-M2"}]),
            None,
        )
        .await
        .unwrap();
    assert_eq!((down.rev, down.score.clone()), (3, first.score.clone()));
    let back = scores.undo(&owner, &id, Some(3)).await.unwrap();
    assert_eq!((back.rev, back.score), (2, up.score.clone()));
    let again = scores.redo(&owner, &id, None).await.unwrap();
    assert_eq!((again.rev, again.can_redo), (3, false));
    assert!(matches!(
        scores.redo(&owner, &id, None).await,
        Err(CodaError::Conflict {
            code: "NOTHING_TO_REDO",
            ..
        })
    ));
    // An undo from a stale revision is refused too.
    assert!(matches!(
        scores.undo(&owner, &id, Some(2)).await,
        Err(CodaError::Stale(_))
    ));
    // A file that does not read is refused, and neither the file nor a revision is stored.
    let bad = sessions
        .attach_file(
            &owner,
            &id,
            "cut.musicxml",
            MELODY.as_bytes()[..300].to_vec().into(),
        )
        .await;
    assert!(
        matches!(
            &bad,
            Err(CodaError::Unprocessable {
                code: "INVALID_SCORE",
                ..
            })
        ),
        "{bad:?}"
    );
    let view = sessions.view(&owner, &id).await.unwrap();
    assert_eq!(view.files.len(), 1);
    assert_eq!(view.score_rev, Some(3));
    let kept = adapters
        .blobs
        .delete_prefix(&format!("sessions/{id}/score/"))
        .await
        .unwrap();
    assert_eq!(kept, 3, "one blob per revision, no leftovers");
}

/// Eight edits race from one revision: exactly one wins, the others are `Stale`, the winner's
/// revision is what is stored, and the losers leave no blob behind. Run against adapters that
/// serialise conditional writes (SQLite; DynamoDB does, moto does not).
pub async fn check_score_edit_race(adapters: &Adapters) {
    let sessions = Sessions::new(adapters, Limits::default());
    let scores = Scores::new(adapters);
    let owner = Owner(unique("owner"));
    let id = sessions.create(&owner).await.unwrap().session_id;
    sessions
        .attach_file(
            &owner,
            &id,
            "melody.musicxml",
            MELODY.as_bytes().to_vec().into(),
        )
        .await
        .unwrap();
    for round in 1..=3u64 {
        let mut racers = tokio::task::JoinSet::new();
        for k in 1..=8i64 {
            let scores = scores.clone();
            let (owner, id) = (owner.clone(), id.clone());
            racers.spawn(async move {
                let edit = json!([{"op": "transpose", "semitones": k}]);
                scores.edit(&owner, &id, &edit, Some(round)).await
            });
        }
        let results = racers.join_all().await;
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, CodaError::Stale(_)), "round {round}: {e:?}");
            }
        }
        let now = scores.state(&owner, &id, None).await.unwrap();
        assert_eq!((now.rev, &now.score), (round + 1, &won[0].score));
    }
    let kept = adapters
        .blobs
        .delete_prefix(&format!("sessions/{id}/score/"))
        .await
        .unwrap();
    assert_eq!(
        kept, 4,
        "the upload and three winners; no loser's blob is left"
    );
}
