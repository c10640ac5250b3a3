//! `kp`: the researcher's and operator's command line. It parses arguments, talks
//! to the node's local API, prints, and maps failures to exit codes:
//! 0 success, 1 the node refused or failed the request, 2 bad usage,
//! 3 no node is running on the data directory.

#[macro_use]
mod output;
mod client;
mod cmd;
mod input;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kp: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kp: {e:#}");
            match e.downcast_ref::<client::Unreachable>() {
                Some(_) => ExitCode::from(3),
                None => ExitCode::FAILURE,
            }
        }
    }
}
