//! `kpd`: the kp node daemon. Parses arguments, sets up logging, and runs the node
//! library until a signal stops it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kp_daemon::config::LogFormat;
use kp_daemon::node::{self, Node};

/// The kp node daemon: stores the partnership's documents and serves the `kp`
/// command line on a local socket.
#[derive(Debug, Parser)]
#[command(name = "kpd", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the node (initialising it with defaults on first run).
    ///
    /// On first run this makes the node's key pair and a kpd.toml with every
    /// setting written out, and prints the node id. Stop it with Ctrl-C or
    /// SIGTERM: everything acknowledged is already on disk.
    Run {
        /// The node's data directory [default: $KP_DATA_DIR, else ./kp-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Settings file [default: DIR/kpd.toml].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Rebuild a node from a backup (`kp backup FILE --with-key`) in a new
    /// data directory; then start it with `kpd run` there. It catches up with
    /// its partners like a node that was down.
    #[command(after_help = "\
Examples:
  kpd restore node-2026-12-06.kpbackup --data-dir /var/lib/kp/node")]
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The new node's data directory: new, or empty (or holding only
        /// node.key, for a backup made without the key) [default: $KP_DATA_DIR,
        /// else ./kp-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Make a node identity and settings file, and print the node id.
    ///
    /// Refuses to overwrite an existing identity.
    Init {
        /// The institution running this node, as partners will see it.
        #[arg(long)]
        name: String,
        /// The researcher's name recorded with changes when `kp` gives none.
        #[arg(long, default_value = "")]
        author: String,
        /// The node's data directory [default: $KP_DATA_DIR, else ./kp-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The log's form is a setting: read it before anything is logged (a
    // settings file that cannot be read is reported by the node as it opens).
    let format = match &cli.command {
        Command::Run { data_dir, config } => {
            let dir = kp_proto::resolve_data_dir(data_dir.clone());
            let path = config
                .clone()
                .unwrap_or_else(|| dir.join(node::CONFIG_FILE));
            kp_daemon::config::Config::load(&path)
                .map(|c| c.log.format)
                .unwrap_or_default()
        }
        Command::Init { .. } | Command::Restore { .. } => LogFormat::Text,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => log
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            name,
            author,
            data_dir,
        } => {
            let dir = kp_proto::resolve_data_dir(data_dir);
            let key = node::init(&dir, &name, &author)?;
            println!("node id: {}", key.id());
            println!("data dir: {}", dir.display());
            println!("start it with: kpd run --data-dir {}", dir.display());
            Ok(())
        }
        Command::Restore { file, data_dir } => {
            let dir = kp_proto::resolve_data_dir(data_dir);
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let r = kp_daemon::backup::restore(&file, &dir, |done, total| {
                if terminal {
                    eprint!("\rrestoring: {done}/{total} documents");
                }
            })?;
            if terminal {
                eprintln!();
            }
            println!(
                "restored node {} ({} documents, backed up {}) into {} in {:.1} s",
                r.node_id,
                r.documents,
                kp_model::date::format_day(r.backed_up_at),
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            println!("start it with: kpd run --data-dir {}", dir.display());
            Ok(())
        }
        Command::Run { data_dir, config } => {
            let dir = kp_proto::resolve_data_dir(data_dir);
            let node = Node::open(&dir, config.as_deref())?;
            if node.created {
                println!("initialised a new node in {}", dir.display());
                println!("settings: {}", dir.join(node::CONFIG_FILE).display());
            }
            println!("node id: {}", node.key.id());
            println!("local API: {}", dir.join(kp_proto::SOCKET_FILE).display());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                // Listening before the node binds its socket: a SIGTERM the
                // moment the socket appears stops it cleanly, not by the
                // signal's default action.
                let stop = shutdown_signal();
                node.serve(stop).await
            })?;
            Ok(())
        }
    }
}

/// A future that completes on SIGINT or SIGTERM; the handlers are installed
/// when it is made (inside the runtime), not when it is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = signals else {
            tracing::error!("cannot listen for signals; stop kpd with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    }
}
