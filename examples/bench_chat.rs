//! Chat round-trip latency for a cpu edit with the built-in planner (scripts/bench_chat.sh).
//!
//! `cargo run --release --example bench_chat -- [CHORALE] [N]`
//!
//! Starts the local server in this process on loopback (a fresh data dir, no quotas), makes a
//! session, uploads CHORALE (default: the corpus's bwv10.7.mxl) and then times N (200) calls
//! of each of these, alternating softer and louder, so the score's dynamics go back and forth:
//!
//! 1. `POST /v1/sessions/{id}/chat` "make it softer" / "make it louder": the planner, the
//!    `modify_score` edit, the session history and the reply with the score, over HTTP;
//! 2. `Chat::send` in process: the same without HTTP and JSON on the wire;
//! 3. `POST /v1/sessions/{id}/score/edits`: the edit alone over HTTP;
//! 4. `Scores::edit` in process: the edit alone, the reference for what the chat adds.
//!
//! Then the parts of a chat message besides the edit, each alone: `Sessions::recent_messages`
//! and `Scores::summary` (read side by side), `Sessions::add_message` (the user's message) and
//! `Sessions::add_messages` (the turn's records, one write).
//!
//! The data folder is a fresh temporary one (`TMPDIR` chooses where: scripts/bench_chat.sh
//! runs it on disk and on tmpfs, to show what the storage's syncs cost).
//!
//! Each mode gets its own session (so the chat's history grows only with its own turns) and
//! 10 warm-up calls that are not counted. Prints one table row per mode: p50, p99, mean, max
//! in milliseconds; the goal is a chat p50 and p99 under 5 ms (no synthesis runs here).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coda::config::Config;
use coda_core::model::Owner;
use serde_json::{json, Value};

const USER: &str = "bench";
const WARMUP: usize = 10;

fn default_chorale() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("coda-tests/music21-corpus-v1/files/bach/bwv10.7.mxl")
}

struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    Stats {
        p50: pct(0.5),
        p99: pct(0.99),
        mean: ms.iter().sum::<f64>() / ms.len() as f64,
        max: ms[ms.len() - 1],
    }
}

/// Times `n` calls of `f(i)` after the warm-up, in milliseconds.
async fn time<F, Fut>(n: usize, mut f: F) -> Vec<f64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..WARMUP {
        f(i).await;
    }
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        f(i).await;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms
}

fn message(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "make it softer"
    } else {
        "make it louder"
    }
}

fn edits(i: usize) -> Value {
    json!([{"op": "dynamics", "step": if i.is_multiple_of(2) { -1 } else { 1 }}])
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let chorale = args.next().map_or_else(default_chorale, PathBuf::from);
    let n: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    anyhow::ensure!(n > 0, "N must be at least 1");
    let bytes = std::fs::read(&chorale)
        .map_err(|e| anyhow::anyhow!("{}: {e} (run scripts/score_corpus.sh)", chorale.display()))?;

    let data = tempfile::tempdir()?;
    let mut cfg = Config::default();
    cfg.server.addr = "127.0.0.1:0".into();
    cfg.storage.data_dir = data.path().to_path_buf();
    cfg.limits.requests_per_minute = 0;
    cfg.limits.jobs_per_hour = 0;
    cfg.limits.jobs_per_hour_by_kind = String::new();
    let runners = coda::app::builtin_runners(&cfg)?;
    let app = coda::app::start(&cfg, runners).await?;
    let client = reqwest::Client::new();
    let token = app.token(USER);
    let owner = Owner(USER.into());
    let url = |path: &str| format!("{}{path}", app.base_url);
    let name = chorale
        .file_name()
        .map_or("score.mxl".into(), |n| n.to_string_lossy().into_owned());

    // A session holding the chorale as its score.
    let session = || async {
        let r = client
            .post(url("/v1/sessions"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "POST /v1/sessions: {}", r.status());
        let sid = r.json::<Value>().await?["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
        );
        let r = client
            .post(url(&format!("/v1/sessions/{sid}/files")))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == 201,
            "uploading {}: {} {}",
            chorale.display(),
            r.status(),
            r.text().await.unwrap_or_default()
        );
        Ok::<_, anyhow::Error>(sid)
    };

    // 1. The chat over HTTP; every reply is checked to be the one edit.
    let sid = session().await?;
    let chat_url = url(&format!("/v1/sessions/{sid}/chat"));
    let http_chat = time(n, |i| {
        let req = client
            .post(&chat_url)
            .bearer_auth(&token)
            .json(&json!({"message": message(i)}));
        async move {
            let r = req.send().await.expect("chat request");
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.expect("chat reply");
            assert_eq!(body["tool_calls"][0]["tool"], "modify_score", "{body}");
            assert_eq!(body["tool_calls"][0]["ok"], true, "{body}");
        }
    })
    .await;

    // What one chat message does besides the edit, timed alone on the chat's session (its
    // history now full): `Sessions::recent_messages` (the history the model sees),
    // `Scores::summary` (the planner's context; the reply's score is the edit's own answer),
    // `Sessions::add_message` (the user's message) and `Sessions::add_messages` (the turn's
    // tool record and reply, one write).
    let history_limit = cfg.chat.chat_history_limit as usize;
    let recent = time(n, |_| {
        let (sessions, owner, sid) = (&app.services.sessions, &owner, &sid);
        async move {
            sessions
                .recent_messages(owner, sid, history_limit)
                .await
                .expect("Sessions::recent_messages");
        }
    })
    .await;
    let summary = time(n, |_| {
        let (scores, owner, sid) = (&app.services.scores, &owner, &sid);
        async move {
            scores.summary(owner, sid).await.expect("Scores::summary");
        }
    })
    .await;
    let add_messages = time(n, |i| {
        let (sessions, owner, sid) = (&app.services.sessions, &owner, &sid);
        async move {
            sessions
                .add_messages(owner, sid, &[("tool", "{}"), ("assistant", message(i))])
                .await
                .expect("Sessions::add_messages");
        }
    })
    .await;
    let add_message = time(n, |i| {
        let (sessions, owner, sid) = (&app.services.sessions, &owner, &sid);
        async move {
            sessions
                .add_message(owner, sid, "user", message(i))
                .await
                .expect("Sessions::add_message");
        }
    })
    .await;

    // 2. The chat in process.
    let sid = session().await?;
    let in_process_chat = time(n, |i| {
        let (chat, owner, sid) = (&app.chat, &owner, &sid);
        async move {
            let reply = chat.send(owner, sid, message(i)).await.expect("chat");
            assert_eq!(reply.tool_calls.len(), 1);
            assert!(reply.tool_calls[0].ok, "{:?}", reply.tool_calls[0]);
        }
    })
    .await;

    // 3. The edit over HTTP.
    let sid = session().await?;
    let edits_url = url(&format!("/v1/sessions/{sid}/score/edits"));
    let http_edit = time(n, |i| {
        let req = client
            .post(&edits_url)
            .bearer_auth(&token)
            .json(&json!({"edits": edits(i)}));
        async move {
            let r = req.send().await.expect("edit request");
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        }
    })
    .await;

    // 4. Scores::edit in process.
    let sid = session().await?;
    let direct_edit = time(n, |i| {
        let (scores, owner, sid) = (&app.services.scores, &owner, &sid);
        async move {
            scores
                .edit(owner, sid, &edits(i), None)
                .await
                .expect("Scores::edit");
        }
    })
    .await;

    let parsed = coda_music::read_score(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let notes: usize = parsed
        .score
        .parts
        .iter()
        .flat_map(|p| &p.measures)
        .flat_map(|m| &m.items)
        .filter(|i| matches!(i, coda_music::Item::Note(_)))
        .count();
    println!(
        "{name}: {} parts, {notes} notes; {n} calls per mode after {WARMUP} warm-up, alternating softer/louder; {} cores",
        parsed.score.parts.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| mode | p50 ms | p99 ms | mean ms | max ms |");
    println!("|---|---|---|---|---|");
    let rows = [
        ("POST /v1/sessions/{id}/chat (HTTP)", &http_chat),
        ("Chat::send (in process)", &in_process_chat),
        ("POST /v1/sessions/{id}/score/edits (HTTP)", &http_edit),
        ("Scores::edit (in process)", &direct_edit),
        ("part of a chat: Sessions::recent_messages", &recent),
        ("part of a chat: Scores::summary", &summary),
        ("part of a chat: Sessions::add_message", &add_message),
        ("part of a chat: Sessions::add_messages (2)", &add_messages),
    ];
    for (mode, ms) in rows {
        let s = stats(ms.clone());
        println!(
            "| {mode} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.p50, s.p99, s.mean, s.max
        );
    }
    let chat = stats(http_chat);
    let edit = stats(direct_edit);
    println!();
    println!(
        "chat round trip p50 {:.2} ms, p99 {:.2} ms (goal < 5 ms: {}); the chat adds {:.2} ms at p50 over Scores::edit",
        chat.p50,
        chat.p99,
        if chat.p99 < 5.0 {
            "met"
        } else if chat.p50 < 5.0 {
            "p50 met, p99 not"
        } else {
            "not met"
        },
        chat.p50 - edit.p50
    );
    app.shutdown().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
