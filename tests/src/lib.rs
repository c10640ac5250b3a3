//! Harness for end-to-end tests: real `kpd` processes on temporary data
//! directories, driven through the real `kp` binary.
//!
//! The binaries are taken from the same target directory as the test executable;
//! `cargo build --workspace --bins` (run by `scripts/test`) puts them there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary next to the running test executable.
/// Runs `cmd`, asserts it succeeded (its standard error says why not), and
/// returns what it printed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which scripts/test runs)",
        path.display()
    );
    path
}

/// How long a node may take to answer after starting.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A kpd process on its own temporary data directory.
#[derive(Debug)]
pub struct Kpd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra environment for `kp` (for example EDITOR).
    pub env: Vec<(String, String)>,
}

impl Kpd {
    /// A node initialised with `kpd init` (named "Test Institute", default author
    /// "Tester"), not yet running.
    pub fn init() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("node");
        let out = Command::new(bin("kpd"))
            .args([
                "init",
                "--name",
                "Test Institute",
                "--author",
                "Tester",
                "--data-dir",
            ])
            .arg(&data)
            .output()
            .expect("kpd runs");
        assert!(
            out.status.success(),
            "kpd init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n = Self {
            dir,
            child: None,
            env: Vec::new(),
        };
        // Never the default port: tests run side by side.
        n.set_in("web", &[("listen", "\"127.0.0.1:0\"")]);
        n
    }

    /// An initialised node, started and answering.
    pub fn started() -> Self {
        let mut n = Self::init();
        n.start();
        n
    }

    /// An initialised node with settings of `kpd.toml` changed first (as
    /// [`Kpd::set`]), started and answering.
    pub fn started_with(settings: &[(&str, &str)]) -> Self {
        let mut n = Self::init();
        n.set(settings);
        n.start();
        n
    }

    /// An initialised node that accepts partner nodes on an ephemeral loopback
    /// port, started and answering.
    pub fn listening() -> Self {
        Self::listening_with(&[])
    }

    /// [`Kpd::listening`] with settings of `kpd.toml` changed first: each
    /// `(key, value)` replaces the line `key = ...` (the key must be there).
    pub fn listening_with(settings: &[(&str, &str)]) -> Self {
        let mut n = Self::init();
        n.set(&[("listen", "\"127.0.0.1:0\"")]);
        n.set(settings);
        n.start();
        n
    }

    /// Changes settings in `kpd.toml` (read at the next start): each `(key,
    /// value)` replaces the line `key = ...`, which must be there.
    pub fn set(&self, settings: &[(&str, &str)]) {
        let path = self.data_dir().join("kpd.toml");
        let text = std::fs::read_to_string(&path).expect("kpd.toml");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (key, value) in settings {
            let line = lines
                .iter_mut()
                .find(|l| l.split('=').next().map(str::trim) == Some(*key))
                .unwrap_or_else(|| panic!("kpd.toml has no `{key}` setting"));
            *line = format!("{key} = {value}");
        }
        std::fs::write(&path, lines.join("\n") + "\n").expect("kpd.toml");
    }

    /// Changes settings of section `[section]` in `kpd.toml`, as [`Kpd::set`].
    pub fn set_in(&self, section: &str, settings: &[(&str, &str)]) {
        let path = self.data_dir().join("kpd.toml");
        let text = std::fs::read_to_string(&path).expect("kpd.toml");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let start = lines
            .iter()
            .position(|l| l.trim() == format!("[{section}]"))
            .unwrap_or_else(|| panic!("kpd.toml has no [{section}]"));
        for (key, value) in settings {
            let line = lines[start..]
                .iter_mut()
                .find(|l| l.split('=').next().map(str::trim) == Some(*key))
                .unwrap_or_else(|| panic!("kpd.toml's [{section}] has no `{key}` setting"));
            *line = format!("{key} = {value}");
        }
        std::fs::write(&path, lines.join("\n") + "\n").expect("kpd.toml");
    }

    /// The base URL of the node's web listener.
    pub fn web_url(&self) -> String {
        self.json(&["status"])["web_url"]
            .as_str()
            .expect("web url")
            .to_owned()
    }

    /// The node's id and the address partners reach it on.
    pub fn identity(&self) -> (String, String) {
        let s = self.json(&["status"]);
        (
            s["node_id"].as_str().expect("node id").to_owned(),
            s["peer_address"].as_str().expect("peer address").to_owned(),
        )
    }

    /// Polls `kp peer list` until `check` holds for peer `id`, or fails after
    /// `timeout` with the last listing.
    pub fn wait_peer(
        &self,
        id: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let list = self.json(&["peer", "list"]);
            let peer = list["peers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["node_id"] == id).cloned())
                .unwrap_or(serde_json::Value::Null);
            if check(&peer) {
                return peer;
            }
            assert!(
                Instant::now() < deadline,
                "peer {id} did not reach the expected state: {peer}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Links this listening node to `to`: this one dials, `to` accepts. The
    /// accepting side pins first, so the first dial succeeds (a refused dial
    /// backs off). Waits up to `timeout` for the connection.
    pub fn link(&self, to: &Kpd, timeout: Duration) {
        let (my_id, _) = self.identity();
        let (to_id, to_addr) = to.identity();
        to.ok(&["peer", "add", &my_id]);
        self.ok(&["peer", "add", &to_id, &to_addr]);
        self.wait_peer(&to_id, timeout, |p| p["connected"] == true);
    }

    /// Puts the node's store on `fs` (before its first start): the store's
    /// directory becomes a link to the mount.
    pub fn store_on(&self, fs: &FaultFs) {
        let store = self.data_dir().join("store");
        assert!(
            !store.exists(),
            "the node has a store already; put it on the file system before it starts"
        );
        std::os::unix::fs::symlink(fs.path(), &store).expect("a link to the mount");
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("node")
    }

    /// A scratch directory beside the node, for test files.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Spawns `kpd run` without waiting for it; its log (warnings and worse) goes
    /// to [`Kpd::log`].
    pub fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("a log file");
        Command::new(bin("kpd"))
            .arg("run")
            .arg("--data-dir")
            .arg(self.data_dir())
            .env(
                "KP_LOG",
                std::env::var("KP_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kpd starts")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("kpd.log")
    }

    /// What the node has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Polls the node's log until `check` holds, or fails after `timeout` with
    /// the log.
    pub fn wait_log(&self, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if check(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the log did not say what was expected: {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a command line as a node prints it (`kp peer add ID ADDRESS`),
    /// split at spaces, against this node; asserts success, returns standard
    /// output.
    pub fn run_line(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"kp"), "not a kp command: {line}");
        self.ok(&words[1..])
    }

    /// Starts the node and waits (bounded) until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node already running");
        let mut child = self.spawn();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("kpd exited during start ({status}): {}", self.log());
            }
            if self.kp(&["status"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kpd did not answer within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the node with SIGKILL (no chance to flush) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the node with SIGTERM and waits for it (bounded); returns whether it
    /// exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `kp` command aimed at this node.
    pub fn kp_command(&self) -> Command {
        let mut cmd = Command::new(bin("kp"));
        cmd.arg("--data-dir").arg(self.data_dir());
        cmd.env_remove("KP_AUTHOR").env_remove("KP_DATA_DIR");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `kp ARGS` against this node.
    pub fn kp(&self, args: &[&str]) -> Output {
        self.kp_command().args(args).output().expect("kp runs")
    }

    /// Runs `kp ARGS`, asserts success, returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kp(args);
        assert!(
            out.status.success(),
            "kp {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("kp prints UTF-8")
    }

    /// Runs `kp --json ARGS` and parses the output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("kp --json prints JSON")
    }

    /// Runs `kp ARGS`, asserts it fails with exit code `code`, returns stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.kp(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "kp {args:?} should fail with {code}; stdout: {} stderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        );
        err
    }

    /// Revises a draft the way a researcher does outside kp: `kp draft show ID
    /// -o FILE`, `from` replaced by `to` in the file, then `kp --author AUTHOR
    /// draft edit ID --file FILE`; returns what kp said.
    pub fn revise(&self, author: &str, id: &str, from: &str, to: &str) -> String {
        let path = self.scratch().join(format!("revise-{author}.md"));
        let file = path.to_str().expect("a UTF-8 path");
        self.ok(&["draft", "show", id, "-o", file]);
        let text = std::fs::read_to_string(&path).expect("the text kp wrote");
        assert!(text.contains(from), "the draft has no `{from}`: {text}");
        std::fs::write(&path, text.replace(from, to)).expect("the revised text");
        self.ok(&["--author", author, "draft", "edit", id, "--file", file])
    }

    /// Polls `kp --json ARGS` until `check` holds for what it prints, and
    /// returns that; fails after `timeout` with `what`, the last output and
    /// the node's log.
    pub fn wait_json(
        &self,
        args: &[&str],
        what: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        loop {
            let out = self.kp(&all);
            let last = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_str(&last).expect("JSON");
                if check(&v) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still not so after {timeout:?}; last: {last} {}\nthe node's log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kpd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A small deterministic random source for tests (xorshift), seeded explicitly so
/// a failing run can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The seed for randomised tests: `$KP_TEST_SEED`, else the clock (printed so the
/// run can be repeated).
pub fn seed() -> u64 {
    let seed = std::env::var("KP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("seed: {seed} (rerun with KP_TEST_SEED={seed})");
    seed
}

/// The wasm component of the workspace crate `package` (an analysis plugin),
/// built with `cargo build --profile plugin --target wasm32-wasip2` the first
/// time a test process asks for it, into `$CARGO_TARGET_DIR` (or `target/`).
pub fn plugin_wasm(package: &str) -> PathBuf {
    kp_plugin_sdk::testing::build_component(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        package,
    )
}

/// A `kp-faultfs` file system mounted on a temporary directory: kept in
/// memory on the disk twin, whose power can be cut (see that binary's text).
/// Unmounted when dropped.
#[derive(Debug)]
pub struct FaultFs {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl FaultFs {
    /// Mounts a new, empty file system. It needs `/dev/fuse` and root (or
    /// `fusermount3`, from Debian's `fuse3`); where the machine has neither,
    /// the test fails and says so.
    pub fn mount() -> Self {
        assert!(
            Path::new("/dev/fuse").exists(),
            "the power-cut tests mount a FUSE file system: this machine has no /dev/fuse \
             (load the fuse module, or give the container the device)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("a mount point");
        let mut child = Command::new(bin("kp-faultfs"))
            .arg(&mnt)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kp-faultfs starts");
        // It says "mounted" once the mount is in place, or exits saying why not.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        if !line.starts_with("mounted") {
            let out = child.wait_with_output().expect("kp-faultfs exits");
            panic!(
                "kp-faultfs could not mount: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self {
            dir,
            child: Some(child),
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn power(&self, command: &str) {
        std::fs::write(self.path().join(".power"), command)
            .unwrap_or_else(|e| panic!("kp-faultfs refused `{command}`: {e}"));
    }

    /// Cuts the power and brings it back: the disk keeps what was synced
    /// and what `seed` chooses of the rest. The processes using it must be
    /// gone (reaped) first.
    pub fn cut(&self, seed: u64) {
        self.power(&format!("cut {seed}"));
    }

    /// Lets the power go at the `n`-th write, sync, rename or unlink from now.
    pub fn fail_after(&self, n: u64) {
        self.power(&format!("fail-after {n}"));
    }

    /// Whether the power has gone (after [`FaultFs::fail_after`]).
    pub fn is_off(&self) -> bool {
        std::fs::read_to_string(self.path().join(".power")).is_ok_and(|s| s.starts_with("off"))
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing its standard input unmounts it.
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = Command::new("umount").arg("-l").arg(self.path()).status();
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
