//! Builds the web UI (`ui/`, Vite) into `$OUT_DIR/ui`, which the binary embeds, so that
//! building `flowlens` is all it takes to get the UI.
//!
//! `npm install` runs when `ui/node_modules` is missing or older than the lock file (it
//! follows the lock; `npm ci` refuses locks written with `omit-lockfile-registry-resolved`,
//! which leaves out other platforms' optional packages). Setting
//! `FLOWLENS_UI_DIST=DIR` embeds an already built UI instead (for machines without Node).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let ui = manifest_dir.join("../../ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("ui");
    println!("cargo:rerun-if-env-changed=FLOWLENS_UI_DIST");
    for path in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "public",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(path).display());
    }

    if let Some(dist) = std::env::var_os("FLOWLENS_UI_DIST") {
        copy_dir(Path::new(&dist), &out);
        return;
    }
    let node_modules = ui.join("node_modules");
    let lock = ui.join("package-lock.json");
    if !node_modules.exists() || modified(&lock) > modified(&node_modules) {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&ui));
    }
    // `vite build` only transpiles; type errors are the test suite's job (`npm run typecheck`).
    run(Command::new("npx")
        .args([
            "vite",
            "build",
            "--logLevel",
            "warn",
            "--emptyOutDir",
            "--outDir",
        ])
        .arg(&out)
        .current_dir(&ui));
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} ({e}); the web UI needs Node.js and npm (or set FLOWLENS_UI_DIST to a built UI)",
            cmd.get_program()
        )
    });
    assert!(status.success(), "{cmd:?} failed with {status}");
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
