//! The relay's entry point: parses flags, sets up logging, binds, and serves until SIGINT or SIGTERM.

use anyhow::Context;
use clap::Parser;
use peerlab_server::Config;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let runtime = if config.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if config.threads > 1 {
            builder.worker_threads(config.threads);
        }
        builder
    }
    .enable_all()
    .build()
    .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another relay running there? choose another with --bind",
                config.bind
            )
        })?;
    let local = listener.local_addr()?;
    tracing::info!(
        "peerlab relay listening on http://{local} (app from {}, WebSocket at ws://{local}/ws)",
        config.dist.display()
    );
    peerlab_server::run(listener, config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
