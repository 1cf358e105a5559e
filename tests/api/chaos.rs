//! Chaos: `coda serve` killed with SIGKILL at random moments while jobs run and webhooks go out.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use crate::process::{serve, signal, submit_probes, Served};
use crate::receiver::{distinct_jobs, ids_by_job, Receiver};

const JOBS: usize = 20;
const KILLS: usize = 3;

async fn get_json(c: &reqwest::Client, s: &Served, path: &str) -> Value {
    c.get(format!("{}{path}", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Output files on disk per job (`blobs/objects/results/{job}/...`).
fn stored_results(data: &Path) -> HashMap<String, HashSet<String>> {
    let mut found: HashMap<String, HashSet<String>> = HashMap::new();
    let root = data.join("blobs/objects/results");
    let Ok(jobs) = std::fs::read_dir(&root) else {
        return found;
    };
    for job in jobs.flatten() {
        let names = std::fs::read_dir(job.path())
            .unwrap()
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .collect();
        found.insert(job.file_name().to_string_lossy().into_owned(), names);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_three_times_loses_no_job_and_sends_each_event_once() {
    let data = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();
    let rx = Receiver::start().await;
    let mut rng = rand::thread_rng();

    let mut s = serve(data.path());
    let hook: Value = c
        .post(format!("{}/v1/webhooks", s.base))
        .bearer_auth(&s.token)
        .json(&json!({"url": rx.url(), "events": ["job.succeeded", "job.failed"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = hook["secret"]
        .as_str()
        .expect("webhook created")
        .to_string();
    let ids = submit_probes(&c, &s, JOBS).await;
    let started = Instant::now();
    for kill in 0..KILLS {
        let pause = rng.gen_range(50..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        signal(&s.child, libc::SIGKILL);
        s.child.wait().unwrap();
        eprintln!("chaos: kill {} after {pause} ms", kill + 1);
        s = serve(data.path());
    }

    // Every job ends succeeded.
    let mut succeeded = 0;
    for id in &ids {
        let mut job = Value::Null;
        for _ in 0..600 {
            job = get_json(&c, &s, &format!("/v1/jobs/{id}")).await;
            if job["status"] == "succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["outputs"].as_array().unwrap().len(), 1, "{job}");
        succeeded += 1;
    }

    // One job.succeeded event per job, each with a single webhook-id.
    rx.wait_for(Duration::from_secs(30), "an event for every job", |r| {
        distinct_jobs(r) >= JOBS
    })
    .await;
    // Anything still in flight would show up as a second event here.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_job = ids_by_job(&rx.received(), &secret, "job.succeeded");
    let mut repeated_arrivals = 0;
    for id in &ids {
        let arrivals = &per_job[id];
        let distinct: HashSet<&String> = arrivals.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "job {id} got {} distinct events",
            distinct.len()
        );
        repeated_arrivals += arrivals.len() - 1;
    }
    assert_eq!(per_job.len(), JOBS, "events for unknown jobs");

    // The endpoint lists exactly one delivery per job, all delivered.
    let hook_id = hook["id"].as_str().unwrap();
    let mut listed = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = get_json(
            &c,
            &s,
            &format!("/v1/webhooks/{hook_id}/deliveries?limit=100{q}"),
        )
        .await;
        listed.extend(page["deliveries"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let delivered_jobs: HashSet<&str> = listed
        .iter()
        .map(|d| d["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), JOBS, "deliveries: {listed:?}");
    assert_eq!(delivered_jobs.len(), JOBS);

    // No orphan outputs: each job's folder holds exactly what its row lists.
    let on_disk = stored_results(data.path());
    for id in &ids {
        let names = on_disk.get(id).cloned().unwrap_or_default();
        assert_eq!(names, HashSet::from(["probe.json".to_string()]), "job {id}");
    }
    assert_eq!(
        on_disk.len(),
        JOBS,
        "result folders of unknown jobs: {on_disk:?}"
    );

    eprintln!(
        "chaos (local): {JOBS} jobs submitted, {KILLS} SIGKILLs, {succeeded} succeeded, 0 lost, \
         {} distinct job.succeeded events, {repeated_arrivals} repeated arrivals of an event, {:.1} s",
        per_job.len(),
        started.elapsed().as_secs_f64()
    );
}
