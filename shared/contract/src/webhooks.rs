//! Webhook contracts: endpoints, deliveries (listing, due times) and job outboxes.
//!
//! Tables may hold other checks' rows (and rows of earlier runs), so listings
//! are filtered to this check's own ids. Time-dependent checks place their rows
//! in 2010, twenty years before every other check's instants, so nothing else is
//! due or older at the `now` they use, and they settle their rows at the end so
//! later runs do not see them.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use coda_core::model::{
    Delivery, DeliveryAttempt, DeliveryStatus, Job, JobStatus, JobWebhook, Owner, Timestamp,
    Webhook,
};
use coda_core::ports::{DeliveryRepo, JobRepo, WebhookRepo};
use coda_core::webhooks::WebhookEventType;

use crate::fixtures::{code, delivery, job, outbox_event, secs, t0, uid, webhook};

/// An instant long before every other check's rows: what is due or old at it belongs to this module.
fn long_ago() -> Timestamp {
    Utc.with_ymd_and_hms(2010, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
}

fn webhook_ids(v: &[Webhook]) -> Vec<String> {
    v.iter().map(|w| w.webhook_id.clone()).collect()
}

fn delivery_ids(v: &[Delivery]) -> Vec<String> {
    v.iter().map(|d| d.delivery_id.clone()).collect()
}

/// The ids of `v` that are in `own`, in `v`'s order.
fn own_ids(v: &[Delivery], own: &[&String]) -> Vec<String> {
    delivery_ids(v)
        .into_iter()
        .filter(|id| own.contains(&id))
        .collect()
}

/// Endpoints: every field round-trips, create refuses a taken id, updates are
/// conditional, delete is idempotent, and an owner's endpoints are listed oldest first.
pub async fn check_webhook_repo(repo: &dyn WebhookRepo) {
    let owner = uid("own");
    let id = uid("wh");
    let mut w = webhook(&id, &owner, t0());
    w.events = vec![
        WebhookEventType::JobSucceeded,
        WebhookEventType::JobFailed,
        WebhookEventType::JobCanceled,
        WebhookEventType::JobProgress,
    ];
    w.updated_at = t0() + secs(5);
    repo.create(&w).await.unwrap();
    assert_eq!(code(repo.create(&w).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().expect("created webhook");
    assert_eq!(read, w, "the row round-trips whole");

    let mut a = read.clone();
    a.url = "https://example.com/moved".into();
    a.events = vec![WebhookEventType::JobFailed];
    a.description = None;
    a.disabled_reason = Some("the receiver answered 410 Gone".into());
    a.updated_at = t0() + secs(60);
    let stored = repo.update(&a).await.unwrap();
    assert_eq!(stored.version, 1);
    let mut b = read.clone();
    b.secret = "whsec_other".into();
    assert_eq!(code(repo.update(&b).await), "CONFLICT", "a stale version");
    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(now, Webhook { version: 1, ..a });
    let mut c = stored.clone();
    c.disabled_reason = None;
    assert_eq!(repo.update(&c).await.unwrap().version, 2);
    assert_eq!(
        code(repo.update(&webhook(&uid("wh"), &owner, t0())).await),
        "NOT_FOUND"
    );
    assert!(repo.get(&uid("wh")).await.unwrap().is_none());

    // Listing: oldest first whatever the order of creation, and per owner.
    let (w2, w3) = (uid("wh"), uid("wh"));
    repo.create(&webhook(&w3, &owner, t0() + secs(20)))
        .await
        .unwrap();
    repo.create(&webhook(&w2, &owner, t0() + secs(10)))
        .await
        .unwrap();
    let other = uid("own");
    let theirs = uid("wh");
    repo.create(&webhook(&theirs, &other, t0() + secs(15)))
        .await
        .unwrap();
    let mine = repo.list_by_owner(&Owner(owner.clone())).await.unwrap();
    assert_eq!(webhook_ids(&mine), vec![id.clone(), w2.clone(), w3.clone()]);
    assert_eq!(mine[0].version, 2, "listed rows carry their version");
    assert!(mine.iter().all(|w| w.owner == owner));
    assert_eq!(
        webhook_ids(&repo.list_by_owner(&Owner(other)).await.unwrap()),
        vec![theirs]
    );
    assert!(repo
        .list_by_owner(&Owner(uid("own")))
        .await
        .unwrap()
        .is_empty());

    // Delete: gone from reads and listings, idempotent, and later writes find nothing.
    let before_delete = repo.get(&w2).await.unwrap().unwrap();
    repo.delete(&w2).await.unwrap();
    assert!(repo.get(&w2).await.unwrap().is_none());
    repo.delete(&w2).await.unwrap();
    repo.delete(&uid("wh")).await.unwrap();
    assert_eq!(
        webhook_ids(&repo.list_by_owner(&Owner(owner.clone())).await.unwrap()),
        vec![id.clone(), w3.clone()]
    );
    assert_eq!(
        code(repo.update(&before_delete).await),
        "NOT_FOUND",
        "a deleted row is gone, not conflicting"
    );
}

/// Deliveries: every field (attempts included) round-trips, create refuses a taken
/// id, updates are conditional, and an endpoint's deliveries come newest first in
/// pages; deliveries of other endpoints and of jobs' own webhooks stay out.
pub async fn check_delivery_repo(repo: &dyn DeliveryRepo) {
    let id = uid("dlv");
    let wh = uid("wh");
    let mut d = delivery(&id, Some(&wh), t0());
    d.attempts = vec![
        DeliveryAttempt {
            at: t0(),
            status_code: Some(503),
            latency_ms: 120,
            error: None,
        },
        DeliveryAttempt {
            at: t0() + secs(5),
            status_code: None,
            latency_ms: 15_000,
            error: Some("timed out".into()),
        },
    ];
    d.next_attempt_at = Some(t0() + secs(35));
    d.lease_until = Some(t0() + secs(65));
    d.updated_at = t0() + secs(20);
    repo.create(&d).await.unwrap();
    assert_eq!(code(repo.create(&d).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().expect("created delivery");
    assert_eq!(read, d, "the row round-trips whole");

    let mut a = read.clone();
    a.attempts.push(DeliveryAttempt {
        at: t0() + secs(40),
        status_code: Some(204),
        latency_ms: 33,
        error: None,
    });
    a.status = DeliveryStatus::Delivered;
    a.next_attempt_at = None;
    a.lease_until = None;
    a.updated_at = t0() + secs(41);
    let stored = repo.update(&a).await.unwrap();
    assert_eq!(stored.version, 1);
    let mut b = read.clone();
    b.status = DeliveryStatus::Failed;
    assert_eq!(code(repo.update(&b).await), "CONFLICT", "a stale version");
    assert_eq!(
        repo.get(&id).await.unwrap().unwrap(),
        Delivery { version: 1, ..a }
    );
    let mut c = stored.clone();
    c.updated_at = t0() + secs(50);
    assert_eq!(repo.update(&c).await.unwrap().version, 2);
    assert_eq!(
        code(repo.update(&delivery(&uid("dlv"), Some(&wh), t0())).await),
        "NOT_FOUND"
    );
    assert!(repo.get(&uid("dlv")).await.unwrap().is_none());

    // Listing by endpoint: five of `listed`'s, interleaved with another endpoint's and with job-webhook deliveries.
    let (listed, other) = (uid("wh"), uid("wh"));
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    let mut unlisted = Vec::new();
    for i in 0..5 {
        let at = t0() + secs(100 + i * 10);
        let own = uid("dlv");
        repo.create(&delivery(&own, Some(&listed), at))
            .await
            .unwrap();
        mine.push(own);
        if i % 2 == 0 {
            let id = uid("dlv");
            repo.create(&delivery(&id, Some(&other), at + secs(1)))
                .await
                .unwrap();
            theirs.push(id);
        }
        if i < 2 {
            let id = uid("dlv");
            repo.create(&delivery(&id, None, at + secs(2)))
                .await
                .unwrap();
            unlisted.push(id);
        }
    }
    // A delivered one is listed like any other: the listing is history, not a work list.
    let mut done = repo.get(&mine[1]).await.unwrap().unwrap();
    done.status = DeliveryStatus::Delivered;
    done.next_attempt_at = None;
    repo.update(&done).await.unwrap();
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = repo
            .list_by_webhook(&listed, 2, cursor.as_deref())
            .await
            .unwrap();
        assert!(
            page.items
                .iter()
                .all(|d| d.webhook_id.as_deref() == Some(listed.as_str())),
            "another endpoint's delivery leaked"
        );
        sizes.push(page.items.len());
        seen.extend(delivery_ids(&page.items));
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
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, newest_first, "newest first, each once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);

    let whole = repo.list_by_webhook(&listed, 5, None).await.unwrap();
    assert_eq!(delivery_ids(&whole.items), newest_first);
    assert!(
        whole.next_cursor.is_none(),
        "no cursor when nothing is left"
    );
    assert_eq!(
        whole.items[3].status,
        DeliveryStatus::Delivered,
        "listed rows are whole"
    );

    let their_page = repo.list_by_webhook(&other, 100, None).await.unwrap();
    assert_eq!(
        delivery_ids(&their_page.items),
        theirs.iter().rev().cloned().collect::<Vec<_>>()
    );
    let nobody = repo.list_by_webhook(&uid("wh"), 10, None).await.unwrap();
    assert!(nobody.items.is_empty() && nobody.next_cursor.is_none());
    // "job" is the target a job's own webhook derives delivery ids from; it is not an endpoint.
    let job_target = repo.list_by_webhook("job", 100, None).await.unwrap();
    for id in &unlisted {
        assert!(repo.get(id).await.unwrap().unwrap().webhook_id.is_none());
        assert!(!seen.contains(id) && !theirs.contains(id));
        assert!(
            !delivery_ids(&job_target.items).contains(id),
            "a job-webhook delivery is listed under no endpoint"
        );
    }
    assert_eq!(
        code(repo.list_by_webhook(&listed, 2, Some("garbage!")).await),
        "INVALID_CURSOR"
    );

    // Settle the pending rows so no later due-listing meets them.
    for id in mine.iter().chain(&theirs).chain(&unlisted) {
        let mut d = repo.get(id).await.unwrap().unwrap();
        if d.status == DeliveryStatus::Pending {
            d.status = DeliveryStatus::Delivered;
            d.next_attempt_at = None;
            repo.update(&d).await.unwrap();
        }
    }
}

/// `list_due` lists pending deliveries whose next attempt is at or before `now`,
/// earliest first, at most `limit`; leased ones are listed too (the sender skips them).
pub async fn check_delivery_due(repo: &dyn DeliveryRepo) {
    let base = long_ago();
    let now = base + secs(50);
    let wh = uid("wh");
    let make = |due: Option<Timestamp>, status: DeliveryStatus| {
        let mut d = delivery(&uid("dlv"), Some(&wh), base);
        d.next_attempt_at = due;
        d.status = status;
        d
    };
    let pending = DeliveryStatus::Pending;
    let b = make(Some(base + secs(10)), pending);
    let c = make(Some(base + secs(20)), pending);
    let a = make(Some(base + secs(30)), pending);
    let mut leased = make(Some(base + secs(40)), pending);
    leased.lease_until = Some(now + secs(60));
    let exact = make(Some(now), pending);
    let later = make(Some(now + secs(1)), pending);
    let never = make(None, pending);
    let delivered = make(Some(base), DeliveryStatus::Delivered);
    let failed = make(Some(base + secs(1)), DeliveryStatus::Failed);
    // Created out of order: the listing sorts by due time, not by insertion or creation.
    for d in [
        &later, &a, &delivered, &exact, &c, &never, &leased, &failed, &b,
    ] {
        repo.create(d).await.unwrap();
    }
    let own = [
        &a.delivery_id,
        &b.delivery_id,
        &c.delivery_id,
        &leased.delivery_id,
        &exact.delivery_id,
        &later.delivery_id,
        &never.delivery_id,
        &delivered.delivery_id,
        &failed.delivery_id,
    ];
    let expected: Vec<String> = [&b, &c, &a, &leased, &exact]
        .iter()
        .map(|d| d.delivery_id.clone())
        .collect();

    let due = repo.list_due(now, 1000).await.unwrap();
    assert!(
        due.iter()
            .all(|d| d.status == DeliveryStatus::Pending
                && d.next_attempt_at.is_some_and(|t| t <= now)),
        "only pending and due deliveries are listed"
    );
    assert!(
        due.windows(2)
            .all(|w| w[0].next_attempt_at <= w[1].next_attempt_at),
        "earliest first"
    );
    assert_eq!(own_ids(&due, &own), expected);
    let listed_leased = due
        .iter()
        .find(|d| d.delivery_id == leased.delivery_id)
        .unwrap();
    assert_eq!(listed_leased, &leased, "listed rows are whole");

    // The limit is honoured; what it keeps is the earliest.
    let two = repo.list_due(now, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    let kept = own_ids(&two, &own);
    assert_eq!(kept, expected[..kept.len()].to_vec());
    assert!(repo.list_due(now, 0).await.unwrap().is_empty());
    assert!(
        own_ids(&repo.list_due(base + secs(15), 1000).await.unwrap(), &own)
            == vec![b.delivery_id.clone()],
        "only what is due by then"
    );

    // Rescheduled into the future, delivered or failed: off the list.
    let mut a2 = repo.get(&a.delivery_id).await.unwrap().unwrap();
    a2.next_attempt_at = Some(base + secs(3600));
    repo.update(&a2).await.unwrap();
    let mut b2 = repo.get(&b.delivery_id).await.unwrap().unwrap();
    b2.status = DeliveryStatus::Failed;
    repo.update(&b2).await.unwrap();
    let mut c2 = repo.get(&c.delivery_id).await.unwrap().unwrap();
    c2.status = DeliveryStatus::Delivered;
    c2.next_attempt_at = None;
    repo.update(&c2).await.unwrap();
    assert_eq!(
        own_ids(&repo.list_due(now, 1000).await.unwrap(), &own),
        vec![leased.delivery_id.clone(), exact.delivery_id.clone()]
    );
    assert_eq!(
        own_ids(&repo.list_due(base + secs(7200), 1000).await.unwrap(), &own),
        vec![
            leased.delivery_id.clone(),
            exact.delivery_id.clone(),
            later.delivery_id.clone(),
            a.delivery_id.clone(),
        ],
        "a rescheduled delivery is listed again once due"
    );

    // Settle every own row so later runs' due-listings do not meet them.
    for id in own {
        let mut d = repo.get(id).await.unwrap().unwrap();
        if d.status == DeliveryStatus::Pending {
            d.status = DeliveryStatus::Delivered;
            d.next_attempt_at = None;
            repo.update(&d).await.unwrap();
        }
    }
    assert!(own_ids(&repo.list_due(base + secs(7200), 1000).await.unwrap(), &own).is_empty());
}

/// `list_with_outbox` lists exactly the jobs whose outbox is not empty, oldest
/// change first, and follows every create and update (including refused ones).
pub async fn check_job_outbox(repo: &dyn JobRepo) {
    let base = long_ago();
    let owner = uid("own");
    let listed = |v: Vec<Job>, own: &[&String]| -> Vec<String> {
        v.into_iter()
            .map(|j| j.job_id)
            .filter(|id| own.contains(&id))
            .collect()
    };

    // Created with an outbox: listed at once, whole.
    let ended = uid("job");
    let mut j = job(&ended, &owner, base);
    j.status = JobStatus::Succeeded;
    j.updated_at = base + secs(20);
    j.outbox = vec![outbox_event(base + secs(20))];
    j.webhook = Some(JobWebhook {
        url: "https://example.com/own".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    });
    repo.create(&j).await.unwrap();
    assert_eq!(repo.get(&ended).await.unwrap().unwrap(), j);

    // Created without one: not listed until an update adds one.
    let running = uid("job");
    let mut r = job(&running, &owner, base);
    r.status = JobStatus::Running;
    r.updated_at = base + secs(1);
    repo.create(&r).await.unwrap();
    let own = [&ended, &running];

    let with = repo.list_with_outbox(1000).await.unwrap();
    assert!(
        with.iter().all(|j| !j.outbox.is_empty()),
        "only jobs with events waiting"
    );
    assert_eq!(listed(with.clone(), &own), vec![ended.clone()]);
    assert_eq!(
        with.iter().find(|x| x.job_id == ended).unwrap(),
        &j,
        "listed jobs are whole"
    );

    let mut r1 = repo.get(&running).await.unwrap().unwrap();
    r1.status = JobStatus::Failed;
    r1.updated_at = base + secs(10);
    r1.outbox = vec![outbox_event(base + secs(10))];
    let r1 = repo.update(&r1).await.unwrap();
    assert_eq!(
        listed(repo.list_with_outbox(1000).await.unwrap(), &own),
        vec![running.clone(), ended.clone()],
        "oldest change first"
    );
    assert_eq!(repo.list_with_outbox(1).await.unwrap().len(), 1);
    assert!(repo.list_with_outbox(0).await.unwrap().is_empty());

    // Other writes keep the job listed, and a refused (stale) write changes nothing, outbox included.
    let mut cur = repo.get(&ended).await.unwrap().unwrap();
    cur.progress = 100;
    let cur = repo.update(&cur).await.unwrap();
    assert!(listed(repo.list_with_outbox(1000).await.unwrap(), &own).contains(&ended));
    let mut stale = j.clone();
    stale.outbox.clear();
    assert_eq!(code(repo.update(&stale).await), "CONFLICT");
    assert!(listed(repo.list_with_outbox(1000).await.unwrap(), &own).contains(&ended));

    // Emptying the outbox takes the job off the list.
    let mut drained = cur.clone();
    drained.outbox.clear();
    repo.update(&drained).await.unwrap();
    assert_eq!(
        listed(repo.list_with_outbox(1000).await.unwrap(), &own),
        vec![running.clone()]
    );
    assert!(repo.get(&ended).await.unwrap().unwrap().outbox.is_empty());

    let mut r2 = r1.clone();
    r2.outbox.clear();
    repo.update(&r2).await.unwrap();
    assert!(listed(repo.list_with_outbox(1000).await.unwrap(), &own).is_empty());
}
