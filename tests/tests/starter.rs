//! A plugin author's first steps, as `plugins/README.md` writes them, taken
//! outside this repository: `kp plugin new`, `cargo test`, the component's
//! build and `kp plugin run` on the starter's CSV file.

use std::process::Command;

use kp_tests::bin;

#[test]
fn a_new_plugin_follows_the_readmes_steps_outside_the_repository() {
    let readme = include_str!("../../plugins/README.md");
    let steps = readme
        .split("## 2. A plugin in five minutes")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the README's first steps");
    assert!(steps.contains("kp plugin new"), "{steps}");
    // A directory of the system's, far from this workspace and its Cargo.toml.
    let dir = tempfile::tempdir().expect("a directory");
    let kp = bin("kp");
    let path = format!(
        "{}:{}",
        kp.parent().expect("kp's directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", steps])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("bash runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{steps}\n{stdout}\n{stderr}");
    // The starter's report on its own data.csv: five rows, one empty cell.
    assert!(stdout.contains("5 rows in 3 columns."), "{stdout}");
    assert!(stdout.contains("fewer than 10 rows"), "{stdout}");
    assert!(stderr.contains("row-count 0.1.0: fuel used"), "{stderr}");
    // Written again over it: refused, nothing changed.
    let again = Command::new(&kp)
        .args(["plugin", "new", "row-count"])
        .current_dir(dir.path())
        .output()
        .expect("kp runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"));
    let bad = Command::new(&kp)
        .args(["plugin", "new", "Row_Count"])
        .current_dir(dir.path())
        .output()
        .expect("kp runs");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a plugin name"));
}
