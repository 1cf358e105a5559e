//! The moto emulator for tests: one `moto_server` per test binary, started on
//! first use, and a fresh resource prefix per test so tests never share state.
//!
//! The server is found at `$CODA_MOTO_SERVER`, else at `<workspace>/.venv/bin/moto_server`
//! (`scripts/emulator.sh` installs it). It runs under a small `sh` wrapper that
//! holds the read end of a pipe from the test binary: when the binary exits,
//! however it exits, the pipe closes and the wrapper stops the server.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

use crate::{bootstrap, AwsAdapters, AwsNames};

/// How long a starting server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `$0` is moto_server, `$1` the port, `$2` the log file. fd 3 keeps the pipe
/// from the test binary, because a background job's standard input is /dev/null.
const WRAPPER: &str = r#"
exec 3<&0
"$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 </dev/null 3<&- &
moto=$!
trap 'kill $moto 2>/dev/null; wait $moto 2>/dev/null; rm -f "$2"' EXIT
trap 'exit 0' HUP INT TERM
( cat <&3 >/dev/null; kill $moto 2>/dev/null ) &
wait $moto
"#;

/// A running moto server.
#[derive(Debug)]
pub struct Emulator {
    endpoint: String,
    // Held, never used: dropping it (at process exit) closes the wrapper's pipe.
    _wrapper: Mutex<Child>,
}

static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();

/// The test binary's emulator, started on the first call; the error says how to install moto.
pub fn emulator() -> Result<&'static Emulator, String> {
    EMULATOR.get_or_init(start).as_ref().map_err(Clone::clone)
}

impl Emulator {
    /// The server's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for the emulator: its endpoint, us-east-1 and fake credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }
}

/// An SDK configuration for `endpoint`, built explicitly (no process-wide environment changes).
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "coda-moto",
        ))
        .load()
        .await
}

/// A prefix no other test uses: `ct-` and 16 random hex digits.
pub fn unique_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("ct-{}", &id[..16])
}

/// One test's AWS world: fresh resources under a unique prefix, bootstrapped and connected.
#[derive(Debug)]
pub struct TestEnv {
    /// The emulator's SDK configuration.
    pub sdk_config: SdkConfig,
    /// This test's resource names.
    pub names: AwsNames,
    /// The adapters over those resources.
    pub adapters: AwsAdapters,
}

impl TestEnv {
    /// Bootstraps a fresh prefix whose jobs queue dead-letters after `max_receives` receives.
    pub async fn new(max_receives: u32) -> Result<TestEnv, String> {
        let emulator = emulator()?;
        let sdk_config = emulator.sdk_config().await;
        let names = AwsNames::new(&unique_prefix()).map_err(|e| e.to_string())?;
        bootstrap(&names, &sdk_config, max_receives)
            .await
            .map_err(|e| format!("bootstrap on moto failed: {e}"))?;
        let adapters = AwsAdapters::connect(&names, &sdk_config)
            .await
            .map_err(|e| format!("connect on moto failed: {e}"))?;
        Ok(TestEnv {
            sdk_config,
            names,
            adapters,
        })
    }
}

/// Where moto_server should be.
fn moto_path() -> PathBuf {
    match std::env::var_os("CODA_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
    }
}

fn start() -> Result<Emulator, String> {
    let path = moto_path();
    if !path.is_file() {
        return Err(format!(
            "moto_server not found at {}: run scripts/emulator.sh to install the AWS emulator \
             (or set CODA_MOTO_SERVER to a moto_server executable)",
            path.display()
        ));
    }
    let mut last_error = String::new();
    // A free port can be taken between looking and binding; a couple of tries cover that.
    for _ in 0..3 {
        match start_on_free_port(&path) {
            Ok(emulator) => return Ok(emulator),
            Err(e) => last_error = e,
        }
    }
    Err(format!(
        "moto_server at {} did not start: {last_error} (scripts/emulator.sh reinstalls it)",
        path.display()
    ))
}

fn start_on_free_port(path: &Path) -> Result<Emulator, String> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log = std::env::temp_dir().join(format!("coda-moto-{}-{port}.log", std::process::id()));
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg(path)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if answers(addr) {
            return Ok(Emulator {
                endpoint: format!("http://{addr}"),
                _wrapper: Mutex::new(wrapper),
            });
        }
        let exited = matches!(wrapper.try_wait(), Ok(Some(_)));
        if exited || started.elapsed() > START_TIMEOUT {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String = tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            // Closing the pipe makes the wrapper stop the server and remove the log.
            drop(wrapper.stdin.take());
            let _ = wrapper.wait();
            return Err(format!(
                "no answer on port {port} after {:?}; its log ends: {tail}",
                started.elapsed()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether an HTTP server answers at `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut first = [0u8; 5];
    stream.write_all(request).is_ok() && stream.read_exact(&mut first).is_ok() && &first == b"HTTP/"
}
