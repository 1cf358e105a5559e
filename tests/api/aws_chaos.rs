//! Chaos on the emulator: two `coda-worker` processes on the moto jobs queue, each
//! killed with SIGKILL in turn while probe jobs run, with the API (and its webhook
//! delivery loop) in-process as `coda serve --backend aws` runs it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use crate::helpers::{test_config, tone_wav, TestApp};
use crate::process::signal;
use crate::receiver::{distinct_jobs, ids_by_job, Receiver};

const JOBS: usize = 20;
const KILLS: usize = 3;
/// Short, so a killed worker's jobs reappear on the queue quickly.
const VISIBILITY_SECS: f64 = 2.0;
/// Worker tasks per `coda-worker` process.
const WORKERS_PER_PROCESS: &str = "2";

/// A `coda-worker` child process; killed when dropped.
struct WorkerProcess {
    child: Child,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `coda-worker` on the emulator's resources under `prefix`, its stderr to `log`.
fn start_worker(endpoint: &str, prefix: &str, log: &Path) -> WorkerProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coda-worker"));
    // Nothing from the test's own environment decides where the worker connects or how it runs.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("AWS_") || name.starts_with("CODA_") {
            cmd.env_remove(&*name);
        }
    }
    let stderr = std::fs::File::create(log).expect("worker log file");
    let child = cmd
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("CODA_AWS_PREFIX", prefix)
        .env("CODA_JOB_VISIBILITY_SECS", VISIBILITY_SECS.to_string())
        .env("CODA_RETRY_DELAY_SECS", "0.2")
        .env("CODA_WORKERS", WORKERS_PER_PROCESS)
        .env("CODA_MODELS_DIR", crate::helpers::models_dir())
        .env("CODA_MODEL_THREADS", "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("coda-worker starts");
    WorkerProcess { child }
}

/// Panics if the worker exited on its own (its stderr is printed then).
fn assert_running(w: &mut WorkerProcess) {
    let exited = w.child.try_wait().expect("try_wait");
    assert!(
        exited.is_none(),
        "a coda-worker exited on its own: {exited:?}"
    );
}

/// Prints every worker's stderr if the test fails; declared after the folder it reads.
struct LogsOnFailure(PathBuf);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut logs: Vec<_> = std::fs::read_dir(&self.0)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!("--- {} ---\n{text}", log.display());
        }
    }
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let r = app.get("alice", path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// Every key under `results/` in the bucket, grouped by job: `results/{job}/{name}`.
async fn stored_results(env: &coda_aws::testing::TestEnv) -> HashMap<String, HashSet<String>> {
    let s3 = coda_aws::S3BlobStore::new(&env.sdk_config, &env.names.bucket);
    let mut found: HashMap<String, HashSet<String>> = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .client()
            .list_objects_v2()
            .bucket(s3.bucket())
            .prefix("results/")
            .set_continuation_token(token.take())
            .send()
            .await
            .expect("list results/ on the emulator");
        for key in page.contents().iter().filter_map(|o| o.key()) {
            let rest = key.strip_prefix("results/").unwrap();
            let (job, name) = rest.split_once('/').unwrap_or(("", rest));
            found
                .entry(job.to_string())
                .or_default()
                .insert(name.to_string());
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_coda_workers_three_times_loses_no_job_and_sends_each_event_once() {
    let env = coda_aws::testing::TestEnv::new(3)
        .await
        .expect("moto emulator (scripts/emulator.sh)");
    let endpoint = coda_aws::testing::emulator()
        .unwrap()
        .endpoint()
        .to_string();
    let prefix = env.names.prefix.clone();
    let a = &env.adapters;

    // The API and webhook delivery loop in-process; the jobs run only in the worker processes.
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut cfg = test_config(data.path());
    cfg.jobs.run_workers = false;
    cfg.jobs.job_visibility_secs = VISIBILITY_SECS;
    cfg.webhooks.webhook_retry_scale = 0.001;
    let running = coda::app::start_aws(&cfg, crate::helpers::runners(), a)
        .await
        .unwrap();
    let app = TestApp {
        base: running.base_url.clone(),
        app: Some(running),
        client: reqwest::Client::new(),
        data,
    };
    let rx = Receiver::start().await;
    let r = app
        .post_json(
            "alice",
            "/v1/webhooks",
            json!({"url": rx.url(), "events": ["job.succeeded", "job.failed"]}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let hook: Value = r.json().await.unwrap();
    let secret = hook["secret"].as_str().expect("secret").to_string();
    let hook_id = hook["id"].as_str().expect("id").to_string();

    let logs = tempfile::tempdir().unwrap();
    let _print_logs = LogsOnFailure(logs.path().to_path_buf());
    let mut started_workers = 0;
    let mut new_worker = || {
        started_workers += 1;
        start_worker(
            &endpoint,
            &prefix,
            &logs.path().join(format!("worker-{started_workers}.log")),
        )
    };

    // The whole batch is queued before any worker runs, so the kills land while it is being
    // worked (submitting through moto takes seconds: workers running meanwhile would be done).
    let input = app
        .stored_input("alice", "long.wav", tone_wav(440.0, 0.5, 20.0, 44100, 2))
        .await;
    let mut ids = Vec::with_capacity(JOBS);
    for _ in 0..JOBS {
        ids.push(app.submit("alice", "probe", &input).await);
    }
    let started = Instant::now();
    let mut workers = [new_worker(), new_worker()];

    let mut rng = rand::thread_rng();
    for kill in 0..KILLS {
        let pause = rng.gen_range(100..=800);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let slot = kill % workers.len();
        assert_running(&mut workers[slot]);
        signal(&workers[slot].child, libc::SIGKILL);
        let status = workers[slot].child.wait().unwrap();
        eprintln!(
            "chaos (emulator): kill {} of worker slot {slot} after {pause} ms ({status})",
            kill + 1
        );
        workers[slot] = new_worker();
    }

    // Every job ends succeeded, with exactly its one output, complete.
    let deadline = started + Duration::from_secs(90);
    let mut succeeded = 0;
    let mut attempts = 0;
    for id in &ids {
        let job = loop {
            let job = app.job("alice", id).await;
            if job["status"] == "succeeded" || Instant::now() > deadline {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(job["status"], "succeeded", "{job}");
        let outputs = job["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 1, "{job}");
        assert_eq!(
            outputs[0]["key"].as_str(),
            Some(format!("results/{id}/probe.json").as_str()),
            "{job}"
        );
        let probe: Value = app
            .client
            .get(outputs[0]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            (probe["duration_s"].as_f64().unwrap() - 20.0).abs() < 0.001,
            "{probe}"
        );
        attempts += job["attempts"].as_u64().unwrap();
        succeeded += 1;
    }
    let all_succeeded_after = started.elapsed();

    // One job.succeeded event per job, each under a single webhook-id, correctly signed.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
    rx.wait_for(left, "an event for every job", |r| distinct_jobs(r) >= JOBS)
        .await;
    // Anything still in flight would show up as a second event here.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_job = ids_by_job(&rx.received(), &secret, "job.succeeded");
    assert_eq!(
        per_job.len(),
        JOBS,
        "events for unknown jobs: {:?}",
        per_job.keys()
    );
    let mut event_of: HashMap<&str, &str> = HashMap::new();
    let mut repeated_arrivals = 0;
    let mut repeated = vec![];
    for id in &ids {
        let arrivals = &per_job[id];
        let distinct: HashSet<&String> = arrivals.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "job {id} got distinct events {arrivals:?}"
        );
        event_of.insert(id, &arrivals[0]);
        if arrivals.len() > 1 {
            repeated_arrivals += arrivals.len() - 1;
            repeated.push(format!("{} x{} (job {id})", arrivals[0], arrivals.len()));
        }
    }
    if !repeated.is_empty() {
        eprintln!("chaos (emulator): repeated arrivals: {repeated:?}");
    }

    // The endpoint lists exactly one delivery per job, all delivered, under the ids that arrived.
    let t0 = Instant::now();
    let listed = loop {
        let mut listed: Vec<Value> = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let q = cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default();
            let page = get_json(
                &app,
                &format!("/v1/webhooks/{hook_id}/deliveries?limit=100{q}"),
            )
            .await;
            listed.extend(page["deliveries"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let settled = listed.iter().all(|d| d["status"] == "delivered");
        if settled || t0.elapsed() > Duration::from_secs(10) {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed.len(), JOBS, "deliveries: {listed:?}");
    let mut delivered_jobs = HashSet::new();
    for d in &listed {
        let job = d["job_id"].as_str().unwrap();
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["event_type"], "job.succeeded", "{d}");
        assert_eq!(d["event_id"].as_str(), event_of.get(job).copied(), "{d}");
        delivered_jobs.insert(job);
    }
    assert_eq!(delivered_jobs.len(), JOBS, "deliveries: {listed:?}");

    // No orphan results: each job's prefix holds exactly its probe, and nothing else is there.
    let in_s3 = stored_results(&env).await;
    for id in &ids {
        let names = in_s3.get(id).cloned().unwrap_or_default();
        assert_eq!(names, HashSet::from(["probe.json".to_string()]), "job {id}");
    }
    assert_eq!(
        in_s3.len(),
        JOBS,
        "results of unknown jobs: {:?}",
        in_s3
            .keys()
            .filter(|k| !ids.contains(k))
            .collect::<Vec<_>>()
    );

    // Nothing is left on the queues: redelivered messages of ended jobs are acked, none dead-lettered.
    crate::aws::wait_queues_empty(a).await;

    eprintln!(
        "chaos (emulator): {JOBS} jobs submitted, {KILLS} SIGKILLs, {succeeded} succeeded, 0 lost, \
         {} distinct job.succeeded events, {repeated_arrivals} repeated arrivals of an event, \
         {} extra attempts, all succeeded after {:.1} s, {:.1} s",
        per_job.len(),
        attempts - JOBS as u64,
        all_succeeded_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // The workers only ever died of the SIGKILLs.
    for w in &mut workers {
        assert_running(w);
    }
    drop(workers);
}
