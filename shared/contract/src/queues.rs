//! Queue contracts, in real time: visibility expiry, redelivery, receipts,
//! long polling and dead-lettering. SQS counts visibility in whole seconds,
//! so the short timeouts here are whole seconds too.
//!
//! Each check expects the queues it is given to start empty.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coda_core::ports::{JobQueue, QueueMessage};

use crate::fixtures::code;

/// Long enough that nothing reappears during a check.
const LONG: Duration = Duration::from_secs(60);
/// Short enough to watch expire.
const SHORT: Duration = Duration::from_secs(2);
const NO_WAIT: Duration = Duration::ZERO;

/// Receives until a message with `id` arrives, or `within` passes; also returns the others received (not acked).
async fn receive_until(
    q: &dyn JobQueue,
    id: &str,
    visibility: Duration,
    within: Duration,
) -> Option<(QueueMessage, Vec<QueueMessage>)> {
    let deadline = Instant::now() + within;
    let mut others = Vec::new();
    while Instant::now() < deadline {
        let wait = deadline.saturating_duration_since(Instant::now());
        let mut found = None;
        for m in q.receive(10, visibility, wait).await.unwrap() {
            if m.message_id == id {
                found = Some(m);
            } else {
                others.push(m);
            }
        }
        if let Some(m) = found {
            return Some((m, others));
        }
    }
    None
}

/// A received message is hidden until its visibility lapses or is extended; then it returns with a
/// new receipt and a higher count. Acks are idempotent; a zero extension makes it visible at once.
pub async fn check_queue_visibility(q: &dyn JobQueue) {
    let id = q.send("hello").await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 1);

    let got = q.receive(1, SHORT, NO_WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    let first = &got[0];
    assert_eq!(
        (
            first.message_id.as_str(),
            first.body.as_str(),
            first.receive_count
        ),
        (id.as_str(), "hello", 1)
    );
    assert!(
        q.receive(1, SHORT, NO_WAIT).await.unwrap().is_empty(),
        "in flight means hidden"
    );
    assert_eq!(
        q.depth().await.unwrap(),
        1,
        "depth counts in-flight messages"
    );

    // Extending pushes the deadline past the original two seconds.
    let extended_at = Instant::now();
    q.extend(&first.receipt, Duration::from_secs(4))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        q.receive(1, SHORT, NO_WAIT).await.unwrap().is_empty(),
        "extend keeps it hidden"
    );

    // Not acked in time: delivered again with a new receipt.
    let (second, others) = receive_until(q, &id, LONG, Duration::from_secs(10))
        .await
        .expect("the message comes back once its visibility lapses");
    assert!(others.is_empty(), "only one message was sent: {others:?}");
    assert!(
        extended_at.elapsed() >= Duration::from_millis(3_500),
        "came back {:?} after a 4 s extension",
        extended_at.elapsed()
    );
    assert_eq!(second.receive_count, 2);
    assert_ne!(second.receipt, first.receipt);

    q.ack(&second.receipt).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);
    q.ack(&second.receipt).await.unwrap();
    q.ack(&first.receipt).await.unwrap();
    assert_eq!(
        code(q.extend(&second.receipt, LONG).await),
        "NOT_FOUND",
        "an acked message cannot be extended"
    );
    assert!(
        q.receive(1, LONG, NO_WAIT).await.unwrap().is_empty(),
        "acked is gone for good"
    );

    // A zero extension hands the message back at once.
    q.send("retry me").await.unwrap();
    let m = q.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
    q.extend(&m.receipt, Duration::ZERO).await.unwrap();
    let back = q.receive(1, LONG, NO_WAIT).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].message_id.as_str(), back[0].receive_count),
        (m.message_id.as_str(), 2)
    );
    q.ack(&back[0].receipt).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);
}

/// Every message sent is delivered once while in flight, batches respect `max`, and depth follows.
pub async fn check_queue_delivery(q: &dyn JobQueue) {
    let bodies: BTreeSet<String> = (0..5).map(|i| format!("m{i} ünï +/?&")).collect();
    let mut ids = BTreeSet::new();
    for b in &bodies {
        ids.insert(q.send(b).await.unwrap());
    }
    assert_eq!(ids.len(), 5, "message ids are unique");
    assert_eq!(q.depth().await.unwrap(), 5);
    assert!(q.receive(0, LONG, NO_WAIT).await.unwrap().is_empty());

    let first = q.receive(2, LONG, NO_WAIT).await.unwrap();
    assert!(
        (1..=2).contains(&first.len()),
        "got {} for max 2",
        first.len()
    );
    let mut got = first;
    for _ in 0..20 {
        if got.len() >= 5 {
            break;
        }
        got.extend(q.receive(10, LONG, NO_WAIT).await.unwrap());
    }
    let got_bodies: BTreeSet<String> = got.iter().map(|m| m.body.clone()).collect();
    let got_ids: BTreeSet<String> = got.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(got.len(), 5, "each message once: {got:?}");
    assert_eq!((got_bodies, got_ids), (bodies, ids));
    assert!(got.iter().all(|m| m.receive_count == 1));
    assert!(q.receive(10, LONG, NO_WAIT).await.unwrap().is_empty());
    assert_eq!(q.depth().await.unwrap(), 5, "in flight still counts");
    for m in &got {
        q.ack(&m.receipt).await.unwrap();
    }
    assert_eq!(q.depth().await.unwrap(), 0);
}

/// A delayed message stays hidden for its delay, then arrives once, with its first receive count.
pub async fn check_queue_delay(q: &dyn JobQueue) {
    let id = q
        .send_delayed("later", Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        q.receive(10, LONG, NO_WAIT).await.unwrap().is_empty(),
        "a delayed message is hidden at first"
    );
    let started = std::time::Instant::now();
    let mut got = vec![];
    while got.is_empty() && started.elapsed() < Duration::from_secs(10) {
        got = q
            .receive(10, LONG, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "arrived after {:?}",
        started.elapsed()
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (
            got[0].message_id.as_str(),
            got[0].body.as_str(),
            got[0].receive_count
        ),
        (id.as_str(), "later", 1)
    );
    q.ack(&got[0].receipt).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);
}

/// A message received `max_receives` times goes to `dlq` on the next receive, intact; others are unaffected.
pub async fn check_queue_dead_letter(q: &dyn JobQueue, dlq: &dyn JobQueue, max_receives: u32) {
    let visibility = Duration::from_secs(1);
    let id = q.send("poison").await.unwrap();
    let survivor = q.send("fine").await.unwrap();
    for n in 1..=max_receives {
        let (poison, others) = receive_until(q, &id, visibility, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("poison message not delivered a {n}th time"));
        assert_eq!(poison.receive_count, n);
        for m in others {
            assert_eq!(m.message_id, survivor);
            q.ack(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(dlq.depth().await.unwrap(), 0);
    // The poison message becomes visible after a second, and the next receive moves it.
    let started = Instant::now();
    let late = q.receive(10, LONG, Duration::from_secs(3)).await.unwrap();
    assert!(late.is_empty(), "dead-lettered, not delivered: {late:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the receive waited"
    );
    assert_eq!(q.depth().await.unwrap(), 0);
    assert_eq!(dlq.depth().await.unwrap(), 1);
    let dead = dlq.receive(10, LONG, Duration::from_secs(2)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].body.as_str()),
        (id.as_str(), "poison")
    );
    assert!(dead[0].receive_count >= 1);
    dlq.ack(&dead[0].receipt).await.unwrap();
    assert_eq!(dlq.depth().await.unwrap(), 0);
}

/// An empty receive waits for `wait`; a message sent meanwhile ends the wait early.
pub async fn check_queue_wait(q: Arc<dyn JobQueue>) {
    let started = Instant::now();
    assert!(q
        .receive(1, LONG, Duration::from_millis(200))
        .await
        .unwrap()
        .is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "an empty receive waits"
    );

    let sender = q.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender.send("late").await.unwrap()
    });
    let started = Instant::now();
    let got = q.receive(1, LONG, Duration::from_secs(8)).await.unwrap();
    let waited = started.elapsed();
    let id = task.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert!(
        waited < Duration::from_secs(4),
        "waited {waited:?} for a message sent after 300 ms"
    );
    q.ack(&got[0].receipt).await.unwrap();
}
