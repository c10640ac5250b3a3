//! Builds the web workspace (`web/`) and embeds it in kpd.
//!
//! The page's JavaScript dependencies are pinned by `web/package-lock.json`;
//! `npm ci` installs them under this build's output directory (never in the
//! source tree), and esbuild (itself pinned there) bundles them with
//! `web/src`. Nothing is fetched at run time, and no built file is committed.
//! A machine without Node.js and npm still builds kpd: its page then says
//! how to get the workspace, and cargo prints a warning.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../web");
    for p in [
        "src",
        "static",
        "build.mjs",
        "package.json",
        "package-lock.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("web");
    let dist = out.join("dist");
    if let Err(why) = build(&web, &out, &dist) {
        println!(
            "cargo:warning=the web workspace was not built ({why}); kpd serves a page that says so. \
             Install Node.js (18 or newer) and npm, then build again."
        );
        placeholder(&web, &dist, &why);
    }
    embed(&dist, &out.join("assets.rs"));
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what} could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn build(web: &Path, out: &Path, dist: &Path) -> Result<(), String> {
    let npm = out.join("npm");
    fs::create_dir_all(&npm).map_err(|e| e.to_string())?;
    let lock = fs::read(web.join("package-lock.json")).map_err(|e| e.to_string())?;
    let stamp = npm.join("installed-lock.json");
    if fs::read(&stamp).ok().as_deref() != Some(&lock[..]) {
        for f in ["package.json", "package-lock.json"] {
            fs::copy(web.join(f), npm.join(f)).map_err(|e| format!("{f}: {e}"))?;
        }
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .args(["--loglevel=error"])
                .current_dir(&npm),
            "npm ci",
        )?;
        fs::write(&stamp, &lock).map_err(|e| e.to_string())?;
    }
    let _ = fs::remove_dir_all(dist);
    run(
        Command::new("node")
            .arg(web.join("build.mjs"))
            .arg(npm.join("node_modules"))
            .arg(dist),
        "bundling the page",
    )
}

fn placeholder(web: &Path, dist: &Path, why: &str) {
    let _ = fs::remove_dir_all(dist);
    fs::create_dir_all(dist).expect("the build's output directory is writable");
    for f in ["index.html", "style.css"] {
        fs::copy(web.join("static").join(f), dist.join(f)).expect("web/static is in the source");
    }
    let message = format!(
        "This node was built without its web workspace ({why}). Its operator installs \
         Node.js and npm and builds kpd again."
    );
    let js = format!(
        "document.getElementById(\"app\").textContent = {};\n",
        serde_json_string(&message)
    );
    fs::write(dist.join("app.js"), js).expect("the build's output directory is writable");
}

/// A JavaScript string literal.
fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The gzip form of a file, when that is smaller by a tenth or more.
fn gzipped(file: &Path, raw: &[u8]) -> Option<PathBuf> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(raw).ok()?;
    let packed = z.finish().ok()?;
    if packed.len() * 10 > raw.len() * 9 {
        return None;
    }
    let to = file.with_extension(format!(
        "{}.gz",
        file.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    fs::write(&to, packed).ok()?;
    Some(to)
}

/// Writes `ASSETS`: every file of `dist`, by name, with its media type and
/// its gzip form when that is worth sending.
fn embed(dist: &Path, to: &Path) {
    let mut names: Vec<String> = fs::read_dir(dist)
        .expect("the page was built or a placeholder written")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| e.path().extension().is_none_or(|x| x != "gz"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut src = String::from(
        "/// The web workspace's files: name, media type, contents, gzipped contents.\n",
    );
    src.push_str("/// And each one's entity tag (its length and CRC-32), for browsers' caches.\n");
    src.push_str("pub(crate) static ASSETS: &[File] = &[\n");
    for n in names {
        let kind = match n.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("wasm") => "application/wasm",
            Some("txt") => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        let file = dist.join(&n);
        let bytes = fs::read(&file).expect("a built file");
        let gz = match gzipped(&file, &bytes) {
            Some(g) => format!("Some(include_bytes!({:?}))", g.display().to_string()),
            None => "None".into(),
        };
        let mut crc = flate2::Crc::new();
        crc.update(&bytes);
        let tag = format!("\"{:x}-{:08x}\"", bytes.len(), crc.sum());
        src.push_str(&format!(
            "    ({n:?}, {kind:?}, include_bytes!({:?}), {gz}, {tag:?}),\n",
            file.display().to_string()
        ));
    }
    src.push_str("];\n");
    fs::write(to, src).expect("the build's output directory is writable");
}
