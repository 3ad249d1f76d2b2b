//! The relay's entry point: parses flags, sets up logging, binds, and serves until SIGINT or SIGTERM; or,
//! with the `token` subcommand, prints a join token for a protected room.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use peerlab_server::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Token { room, ttl, secret }) = cli.command {
        return print_token(&room, ttl, &secret);
    }
    let config = cli.config;
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

/// Prints a join token for `room` on stdout (alone, so scripts can capture it) and how to use it on stderr.
fn print_token(room: &str, ttl: std::time::Duration, secret: &str) -> anyhow::Result<()> {
    let room = peerlab_protocol::validate_room(room).context("not a valid room name")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let token =
        peerlab_server::credentials::mint_join_token(secret.as_bytes(), &room, now + ttl.as_secs());
    println!("{token}");
    eprintln!(
        "valid for {}s; share the room link /room/{room}?token={token}",
        ttl.as_secs()
    );
    Ok(())
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
    let listener = peerlab_server::bind(config.bind).with_context(|| {
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
