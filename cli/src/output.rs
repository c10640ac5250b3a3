//! Standard output: every command prints through [`emit`], for people or as
//! JSON (`--json`), and every line goes through [`write_out`].

/// `println!` to standard output, ending the command quietly if the reader has
/// gone (see [`write_out`]).
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to standard output, ending the command quietly if the reader has gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// Prints a command's result: `value` as pretty JSON with `--json` (`json`),
/// else what `human` prints of it (tables and text; messages beside the result
/// go to standard error).
pub(crate) fn emit<T: serde::Serialize + ?Sized>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    } else {
        human(value)
    }
}

/// A JSON value made only if it is printed: for [`emit`], where making it
/// costs (a whole dataset's rows) and people are shown something else.
pub(crate) struct Deferred<F>(pub(crate) F);

impl<F: Fn() -> serde_json::Value> serde::Serialize for Deferred<F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.0)().serialize(serializer)
    }
}

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
