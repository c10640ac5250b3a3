//! Messages for the plugin's author and user, returned with the report.
//!
//! In a plugin built for `wasm32` they go to the host through the contract's `log`
//! import; in a native build (`cargo test`) they are printed to standard error.
//! Use the macros: `kp_plugin_sdk::log::info!("read {} rows", n)`.

#[doc(inline)]
pub use crate::{
    __log_debug as debug, __log_error as error, __log_info as info, __log_warn as warn,
};

/// How much a log message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for the plugin's author.
    Debug,
    /// Progress worth telling the user.
    Info,
    /// Something the user should look at.
    Warn,
    /// Something went wrong.
    Error,
}

/// Sends one message to the host's log (standard error on a native build).
pub fn emit(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__bindings::kp::analysis::log as wit;
        let level = match level {
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::emit(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{level:?}] {message}");
    }
}

/// Logs at debug level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::log::emit($crate::log::Level::Debug, &::std::format!($($arg)+)) };
}

/// Logs at info level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => { $crate::log::emit($crate::log::Level::Info, &::std::format!($($arg)+)) };
}

/// Logs at warn level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::log::emit($crate::log::Level::Warn, &::std::format!($($arg)+)) };
}

/// Logs at error level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => { $crate::log::emit($crate::log::Level::Error, &::std::format!($($arg)+)) };
}
