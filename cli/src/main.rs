//! `kp`: the researcher's and operator's command line. It parses arguments, talks
//! to the node's local API, prints, and maps failures to exit codes:
//! 0 success, 1 the node refused or failed the request, 2 bad usage,
//! 3 no node is running on the data directory.

/// `println!` to standard output, ending the command quietly if the reader has
/// gone (see [`write_out`]).
macro_rules! outln {
    () => {
        $crate::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to standard output, ending the command quietly if the reader has gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

mod args;
mod client;
mod commands;
mod plugin;
mod render;
mod review;

use std::process::ExitCode;

use clap::Parser;

/// Writes to standard output. A reader that has gone (`kp draft log ID | head`
/// closes the pipe after ten lines) ends the command at once and quietly, with
/// success: the node has already done its part, and the output was not wanted
/// any more. Rust ignores SIGPIPE, so without this every print would panic.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("kp: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
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
    match runtime.block_on(commands::run(cli)) {
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
