//! Table contracts: conditional writes, expiry, pagination, contended updates.

use std::sync::Arc;

use coda_core::model::{JobStatus, Owner, Session, UploadState};
use coda_core::ports::{JobRepo, SessionRepo, UploadRepo};
use coda_core::services::jobs::update_job;

use crate::fixtures::{code, job, secs, session, t0, uid, upload};

/// Create refuses a taken id; update is conditional on `version` (CONFLICT / NOT_FOUND); delete is idempotent.
pub async fn check_session_conditional_writes(repo: &dyn SessionRepo) {
    let id = uid("ses");
    let s = session(&id, t0() + secs(60));
    repo.create(&s).await.unwrap();
    assert_eq!(code(repo.create(&s).await), "ALREADY_EXISTS");

    let read = repo.get(&id).await.unwrap().expect("created session");
    assert_eq!(read, s, "the row round-trips whole");

    let mut first = read.clone();
    first.current_audio = Some("a.wav".into());
    let stored = repo.update(&first).await.unwrap();
    assert_eq!(stored.version, 1);
    let mut second = read.clone();
    second.current_audio = Some("b.wav".into());
    assert_eq!(code(repo.update(&second).await), "CONFLICT");

    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.current_audio.as_deref()),
        (1, Some("a.wav"))
    );

    assert_eq!(
        code(repo.update(&session(&uid("ses"), t0())).await),
        "NOT_FOUND"
    );

    repo.delete(&id).await.unwrap();
    assert!(repo.get(&id).await.unwrap().is_none());
    repo.delete(&id).await.unwrap();
    assert_eq!(
        code(repo.update(&now).await),
        "NOT_FOUND",
        "a deleted row is gone, not conflicting"
    );
}

/// Sessions carry their expiry; `list_expired` lists those at or before `now`, honours `limit`, and follows updates.
pub async fn check_session_expiry(repo: &dyn SessionRepo) {
    let now = t0() + secs(1000);
    let past = uid("ses");
    let exact = uid("ses");
    let future = uid("ses");
    repo.create(&session(&past, now - secs(10))).await.unwrap();
    repo.create(&session(&exact, now)).await.unwrap();
    repo.create(&session(&future, now + secs(1))).await.unwrap();
    assert_eq!(
        repo.get(&future).await.unwrap().unwrap().expires_at,
        now + secs(1),
        "expiry round-trips to the second"
    );

    let ids = |v: Vec<Session>| v.into_iter().map(|s| s.session_id).collect::<Vec<_>>();
    let expired = ids(repo.list_expired(now, 100).await.unwrap());
    assert!(
        expired.contains(&past) && expired.contains(&exact),
        "{expired:?}"
    );
    assert!(!expired.contains(&future));
    assert_eq!(repo.list_expired(now, 1).await.unwrap().len(), 1);
    assert!(repo.list_expired(now, 0).await.unwrap().is_empty());

    // An expired session is still readable by id: the service, not the table, hides it.
    assert!(repo.get(&past).await.unwrap().is_some());

    // Extending a session takes it off the list.
    let mut s = repo.get(&past).await.unwrap().unwrap();
    s.expires_at = now + secs(3600);
    repo.update(&s).await.unwrap();
    let expired = ids(repo.list_expired(now, 100).await.unwrap());
    assert!(!expired.contains(&past));
    assert!(ids(repo.list_expired(now + secs(1), 100).await.unwrap()).contains(&future));

    // A deleted session is no longer listed.
    repo.delete(&exact).await.unwrap();
    assert!(!ids(repo.list_expired(now, 100).await.unwrap()).contains(&exact));
}

/// Uploads: create refuses a taken id, the row (expiry included) round-trips, updates are conditional.
pub async fn check_upload_conditional_writes(repo: &dyn UploadRepo) {
    let id = uid("upl");
    let u = upload(&id);
    repo.create(&u).await.unwrap();
    assert_eq!(code(repo.create(&u).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(read, u);

    let mut a = read.clone();
    a.state = UploadState::Received;
    a.etag = Some("e1".into());
    assert_eq!(repo.update(&a).await.unwrap().version, 1);
    assert_eq!(code(repo.update(&read).await), "CONFLICT");
    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.state, now.etag.as_deref(), now.expires_at),
        (1, UploadState::Received, Some("e1"), u.expires_at)
    );
    assert_eq!(code(repo.update(&upload(&uid("upl"))).await), "NOT_FOUND");
    assert!(repo.get(&uid("upl")).await.unwrap().is_none());
}

/// Jobs: create refuses a taken id; updates are conditional and return the stored copy.
pub async fn check_job_conditional_writes(repo: &dyn JobRepo) {
    let id = uid("job");
    let j = job(&id, &uid("own"), t0());
    repo.create(&j).await.unwrap();
    assert_eq!(code(repo.create(&j).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(read, j);

    let mut a = read.clone();
    a.status = JobStatus::Running;
    let stored = repo.update(&a).await.unwrap();
    assert_eq!((stored.version, stored.status), (1, JobStatus::Running));
    let mut b = read.clone();
    b.status = JobStatus::Canceled;
    assert_eq!(code(repo.update(&b).await), "CONFLICT");

    // A write based on the returned copy succeeds: its version is the stored one.
    let mut c = stored.clone();
    c.progress = 50;
    assert_eq!(repo.update(&c).await.unwrap().version, 2);
    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.status, now.progress),
        (2, JobStatus::Running, 50)
    );

    assert_eq!(
        code(repo.update(&job(&uid("job"), "x", t0())).await),
        "NOT_FOUND"
    );
    assert!(repo.get(&uid("job")).await.unwrap().is_none());
}

/// An owner's jobs come newest first in pages joined by URL-safe cursors; bad cursors are `INVALID_CURSOR`.
pub async fn check_job_pagination(repo: &dyn JobRepo) {
    let (a, b) = (uid("own"), uid("own"));
    let mut a_ids = Vec::new();
    for i in 0..25 {
        let id = uid("job");
        repo.create(&job(&id, &a, t0() + secs(i * 10)))
            .await
            .unwrap();
        a_ids.push(id);
        if i % 3 == 0 {
            repo.create(&job(&uid("job"), &b, t0() + secs(i * 10 + 5)))
                .await
                .unwrap();
        }
    }
    // Two jobs created in the same instant still have a stable order (by id, descending).
    let base = uid("job");
    let (tie_1, tie_2) = (format!("{base}_1"), format!("{base}_2"));
    let tie_at = t0() + secs(1_000_000);
    repo.create(&job(&tie_1, &a, tie_at)).await.unwrap();
    repo.create(&job(&tie_2, &a, tie_at)).await.unwrap();
    let mut newest_first = vec![tie_2.clone(), tie_1.clone()];
    newest_first.extend(a_ids.iter().rev().cloned());

    let owner = Owner(a.clone());
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = repo
            .list_by_owner(&owner, 10, cursor.as_deref())
            .await
            .unwrap();
        assert!(
            page.items.iter().all(|j| j.owner == a),
            "another owner's job leaked"
        );
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|j| j.job_id));
        match page.next_cursor {
            Some(c) => {
                assert!(
                    c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "not URL-safe: {c}"
                );
                cursor = Some(c);
            }
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, vec![10, 10, 7]);
    assert_eq!(seen, newest_first);

    let exact = repo.list_by_owner(&owner, 27, None).await.unwrap();
    assert_eq!(exact.items.len(), 27);
    assert!(
        exact.next_cursor.is_none(),
        "no cursor when nothing is left"
    );
    let zero = repo.list_by_owner(&owner, 0, None).await.unwrap();
    assert_eq!(zero.items.len(), 1, "a zero limit still reads one row");
    assert!(zero.next_cursor.is_some());

    let nobody = repo
        .list_by_owner(&Owner(uid("own")), 10, None)
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.next_cursor.is_none());

    let b_jobs = repo.list_by_owner(&Owner(b), 100, None).await.unwrap();
    assert_eq!(b_jobs.items.len(), 9);

    for bad in ["garbage!", "AAAA", "eyJ4IjoxfQ", "e30"] {
        assert_eq!(
            code(repo.list_by_owner(&owner, 10, Some(bad)).await),
            "INVALID_CURSOR",
            "{bad}"
        );
    }
}

/// Eight writers incrementing one job through `update_job` lose no update.
pub async fn check_job_concurrent_updates(repo: Arc<dyn JobRepo>) {
    let id = uid("job");
    repo.create(&job(&id, "owner-c", t0())).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (repo, id) = (repo.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                update_job(repo.as_ref(), &id, |j| {
                    j.attempts += 1;
                    Ok(true)
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let j = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(j.attempts, 160);
    assert_eq!(j.version, 160);
}
