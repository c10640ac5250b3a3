//! Benchmark: the web workspace in a real browser (Debian's headless
//! Chromium) against two release `kpd` nodes: keystroke to visible through
//! one node and through two partners, against the floor measured in the same
//! run (a presence message over the same sockets and relay); the time to an
//! editable page for a 1 MB draft, against a one-line draft; and what the page
//! downloads. The measuring is in `tests/js/bench/workspace.mjs`.
//!
//! Run: `cargo build --release --bins && cargo bench -p kp-tests --bench workspace`
//! (after `npm ci` in `tests/js`). `KP_BENCH_KEYS=N` sets the keystrokes (200).

use std::process::Command;

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used here.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The binaries beside this benchmark (target/release): `kp_tests::bin`
    // says how to build them when they are missing.
    let release = kp_tests::bin("kpd")
        .parent()
        .expect("in a directory")
        .to_path_buf();
    kp_tests::bin("kp");
    let status = Command::new("node")
        .arg("bench/workspace.mjs")
        .env("KP_BIN_DIR", &release)
        .current_dir(root.join("js"))
        .status()
        .expect("node runs (and `npm ci` was run in tests/js)");
    assert!(status.success(), "the workspace benchmark failed");
}
