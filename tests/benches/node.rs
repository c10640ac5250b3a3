//! Benchmark: a node holding 10,000 drafts. Start to ready, `kp draft list`
//! latency and resident memory at idle, each against the same figure for an empty
//! node measured in the same run. Then `kp backup --with-key` of the running
//! node and `kpd restore` of it into a new directory (time and size), against
//! reading the store's files once (the floor for a copy) and against the same
//! for the empty node; the restored node is started and lists every draft.
//!
//! Run: `cargo build --release --bins && cargo bench -p kp-tests --bench node`.
//! `KP_BENCH_DRAFTS=N` changes the number of drafts.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kp_tests::bin;

#[path = "../common/populate.rs"]
mod populate;

fn init(dir: &Path) {
    let out = Command::new(bin("kpd"))
        .args([
            "init",
            "--name",
            "Bench Institute",
            "--author",
            "Bench",
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .expect("kpd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kp(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("kp"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("kp runs")
}

struct Figures {
    ready: Duration,
    /// The whole list (`--limit 0`, JSON) and the first page (as a person
    /// runs it: the table of the 100 most recent).
    list: Duration,
    page: Duration,
    rss_kib: u64,
    /// Resident memory once ready, before any listing.
    rss_ready_kib: u64,
    listed: usize,
    /// `kp backup --with-key` of the running node: its time and the file's size.
    backup: Duration,
    backup_bytes: u64,
}

/// The time to read every file under `dir` once: what any copy of the store
/// costs at least.
fn read_all(dir: &Path) -> Duration {
    fn walk(dir: &Path, total: &mut u64) {
        for e in std::fs::read_dir(dir).expect("a directory").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, total);
            } else {
                *total += std::fs::read(&p).map_or(0, |b| b.len() as u64);
            }
        }
    }
    let t = Instant::now();
    let mut total = 0;
    walk(dir, &mut total);
    assert!(total > 0);
    t.elapsed()
}

/// `kpd restore FILE` into `into`: its time.
fn restore(file: &Path, into: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(bin("kpd"))
        .arg("restore")
        .arg(file)
        .arg("--data-dir")
        .arg(into)
        .output()
        .expect("kpd runs");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The web listener on a port of the system's choosing (the default one may
/// be taken by a node already running on this machine).
fn any_web_port(dir: &Path) {
    let file = dir.join("kpd.toml");
    let toml = std::fs::read_to_string(&file).expect("kpd.toml");
    let web = toml.find("[web]").expect("a [web] section");
    let at = web + toml[web..].find("\nlisten = ").expect("its listen") + 1;
    let end = at + toml[at..].find('\n').expect("a line");
    let toml = format!("{}listen = \"127.0.0.1:0\"{}", &toml[..at], &toml[end..]);
    std::fs::write(&file, toml).expect("write kpd.toml");
}

fn measure(dir: &Path) -> Figures {
    any_web_port(dir);
    let start = Instant::now();
    let mut child: Child = Command::new(bin("kpd"))
        .arg("run")
        .arg("--data-dir")
        .arg(dir)
        .env("KP_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("kpd starts");
    let deadline = start + Duration::from_secs(60);
    while !kp(dir, &["status"]).status.success() {
        assert!(Instant::now() < deadline, "kpd did not start");
        std::thread::sleep(Duration::from_millis(2));
    }
    let ready = start.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let rss_ready = rss_kib(child.id());
    let mut times = Vec::new();
    let mut listed = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let out = kp(dir, &["--json", "draft", "list", "--limit", "0"]);
        times.push(t.elapsed());
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        listed = v["drafts"].as_array().map_or(0, Vec::len);
    }
    times.sort();
    let mut pages = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let out = kp(dir, &["draft", "list"]);
        pages.push(t.elapsed());
        assert!(out.status.success());
    }
    pages.sort();
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(child.id());
    let file = dir.with_extension("kpbackup");
    let t = Instant::now();
    let out = kp(
        dir,
        &["backup", file.to_str().expect("utf-8"), "--with-key"],
    );
    let backup = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backup_bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    Figures {
        ready,
        list: times[times.len() / 2],
        page: pages[pages.len() / 2],
        rss_kib: rss,
        rss_ready_kib: rss_ready,
        listed,
        backup,
        backup_bytes,
    }
}

fn main() {
    let drafts: usize = std::env::var("KP_BENCH_DRAFTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let empty_dir = tmp.path().join("empty");
    init(&empty_dir);
    // `KP_BENCH_KEEP=DIR` keeps the populated node in DIR and uses it again on
    // the next run (populating 100,000 drafts takes minutes).
    let kept = std::env::var_os("KP_BENCH_KEEP").map(std::path::PathBuf::from);
    let full_dir = match &kept {
        Some(dir) => dir.join(format!("full-{drafts}")),
        None => tmp.path().join("full"),
    };
    if full_dir.join("node.key").exists() {
        println!("node: {drafts} drafts kept in {}", full_dir.display());
        // The last run's backup: a backup never overwrites a file.
        let _ = std::fs::remove_file(full_dir.with_extension("kpbackup"));
    } else {
        init(&full_dir);
        let t = Instant::now();
        populate::drafts(&full_dir, drafts);
        println!(
            "node: {drafts} drafts written in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    let empty = measure(&empty_dir);
    let full = measure(&full_dir);
    assert_eq!(full.listed, drafts);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {:<28} {:>10} {:>12} {:>8}",
        "",
        "empty node",
        format!("{drafts} drafts"),
        "ratio"
    );
    println!(
        "  {:<28} {:>7.0} ms {:>9.0} ms {:>7.1}x   (aim: under 1 s)",
        "start to ready",
        ms(empty.ready),
        ms(full.ready),
        ms(full.ready) / ms(empty.ready)
    );
    println!(
        "  {:<28} {:>7.0} ms {:>9.0} ms {:>7.1}x   (aim: under 100 ms)",
        "kp draft list, a page",
        ms(empty.page),
        ms(full.page),
        ms(full.page) / ms(empty.page)
    );
    println!(
        "  {:<28} {:>7.0} ms {:>9.0} ms {:>7.1}x",
        "kp --json draft list --limit 0",
        ms(empty.list),
        ms(full.list),
        ms(full.list) / ms(empty.list)
    );
    println!(
        "  {:<28} {:>6.1} MiB {:>8.1} MiB {:>7.1}x   (aim: under 150 MiB)",
        "resident memory at idle",
        empty.rss_kib as f64 / 1024.0,
        full.rss_kib as f64 / 1024.0,
        full.rss_kib as f64 / empty.rss_kib.max(1) as f64
    );
    println!(
        "  {:<28} {:>6.1} MiB {:>8.1} MiB {:>7.1}x   ({:.2} KB a draft above the empty node)",
        "  of which once ready",
        empty.rss_ready_kib as f64 / 1024.0,
        full.rss_ready_kib as f64 / 1024.0,
        full.rss_ready_kib as f64 / empty.rss_ready_kib.max(1) as f64,
        (full.rss_ready_kib.saturating_sub(empty.rss_ready_kib)) as f64 * 1.024 / drafts as f64
    );
    println!(
        "  {:<28} {:>36.2} KB a draft above the empty node (aim: 1 KB)",
        "  idle, per draft",
        (full.rss_kib.saturating_sub(empty.rss_kib)) as f64 * 1.024 / drafts as f64
    );
    let store_bytes = kp_store::dir_size(&full_dir.join("store"));
    println!("  store on disk: {:.1} MiB", store_bytes as f64 / 1048576.0);

    // Backup and restore, against reading the store once.
    let read_empty = read_all(&empty_dir.join("store"));
    let read_full = read_all(&full_dir.join("store"));
    let restore_empty = restore(
        &empty_dir.with_extension("kpbackup"),
        &tmp.path().join("empty-restored"),
    );
    let restored_dir = tmp.path().join("full-restored");
    let restore_full = restore(&full_dir.with_extension("kpbackup"), &restored_dir);
    let restored = measure(&restored_dir);
    assert_eq!(
        restored.listed, drafts,
        "the restored node lists every draft"
    );
    println!(
        "  {:<28} {:>7.0} ms {:>9.0} ms {:>7.1}x   reading the store once: {:.0} ms ({:.1}x of it)",
        "kp backup --with-key",
        ms(empty.backup),
        ms(full.backup),
        ms(full.backup) / ms(empty.backup),
        ms(read_full),
        ms(full.backup) / ms(read_full).max(0.001)
    );
    println!(
        "  {:<28} {:>7.0} ms {:>9.0} ms {:>7.1}x",
        "kpd restore",
        ms(restore_empty),
        ms(restore_full),
        ms(restore_full) / ms(restore_empty)
    );
    println!(
        "  backup file: {:.1} KiB (empty node) / {:.1} KiB ({drafts} drafts), {:.0}% of the store on disk; \
         reading the empty store: {:.1} ms",
        empty.backup_bytes as f64 / 1024.0,
        full.backup_bytes as f64 / 1024.0,
        100.0 * full.backup_bytes as f64 / store_bytes.max(1) as f64,
        ms(read_empty)
    );
}
