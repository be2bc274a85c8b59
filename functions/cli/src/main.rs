//! `rostersync`: the command-line entry point. Parses arguments, sets up logging and the
//! embedded store, runs one command and maps the outcome to the exit codes of INTERFACES.md
//! (0 done, 1 a sync ended failed or held, 2 bad usage or bad input).

mod args;
mod bench;
mod commands;
mod output;
mod serve;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than the system allocator: a sync allocates and frees millions of small
/// strings and records, and glibc's malloc spent a quarter of a no-change run's CPU on them
/// (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let filter = if cli.verbose { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROSTERSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code_for(&e))
        }
    }
}
