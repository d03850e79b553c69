//! What the benches share: running the release `orchard` binary in a data directory,
//! finding the address `serve` listens on, stopping it, and reading /proc.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The binary under measurement.
pub const BIN: &str = env!("CARGO_BIN_EXE_orchard");

/// `orchard ARGS` with `data` as its data directory and home, and nothing else from
/// the environment.
pub fn orchard(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("HOME", data)
        .env("ORCHARD_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// Starts `serve` from `cmd` on a free port; returns it and the address it printed.
pub fn spawn_serve(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_owned();
    (child, addr)
}

/// Stops a process with SIGTERM (graceful) and waits for it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A field of /proc/PID/status, in KiB (or a plain count).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
