//! `coda-worker`: consumes `{CODA_AWS_PREFIX}-jobs` and runs the jobs; see `coda::worker`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match coda::config::Config::load(
        std::env::var_os("CODA_CONFIG")
            .map(std::path::PathBuf::from)
            .as_deref(),
        std::env::vars(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    coda::logging::init(config.server.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runners = match coda::app::builtin_runners(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let names = coda_aws::AwsNames::new(&config.storage.aws_prefix)?;
        let sdk = coda_aws::load_sdk_config().await;
        let aws = coda_aws::AwsAdapters::connect(&names, &sdk).await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = tokio::spawn(async move {
            coda::worker::shutdown_signal().await;
            tracing::info!(
                "stopping: running jobs get shutdown_grace_secs, then go back to the queue"
            );
            let _ = stop.send(true);
        });
        coda::worker::run(&config, &aws, runners, stopped).await;
        signal.abort();
        Ok::<_, coda_core::CodaError>(())
    });
    // Released jobs were told to stop; blocking model calls must not hold the exit past the grace.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e} (is CODA_AWS_PREFIX bootstrapped? run `coda aws bootstrap`)");
            ExitCode::FAILURE
        }
    }
}
