//! `orchard serve`: health, headers, graceful shutdown.

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A minimal HTTP/1.1 GET; returns (status line, headers, body).
async fn get(addr: &str, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        body.to_owned(),
    )
}

async fn start(sb: &Sandbox) -> (tokio::process::Child, String) {
    let mut child = sb.cmd(&["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    let line = read_stdout_until(&mut child, "\n").await;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_ok_and_the_version() {
    let sb = Sandbox::new();
    let (mut child, addr) = start(&sb).await;
    let (status, headers, body) = get(&addr, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_strict_content_security_policy() {
    let sb = Sandbox::new();
    let (mut child, addr) = start(&sb).await;
    for path in ["/", "/healthz", "/no-such-page"] {
        let (_, headers, _) = get(&addr, path).await;
        assert!(
            headers.contains("content-security-policy: default-src 'self'"),
            "{path}: {headers}"
        );
        assert!(
            headers.contains("x-content-type-options: nosniff"),
            "{path}: {headers}"
        );
        assert!(
            headers.contains("referrer-policy: no-referrer"),
            "{path}: {headers}"
        );
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_shut_down_gracefully() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let sb = Sandbox::new();
        let (child, addr) = start(&sb).await;
        get(&addr, "/healthz").await;
        let leases = || std::fs::read_dir(sb.data.join("run")).unwrap().count();
        assert_eq!(leases(), 1, "the running server holds a writer lease");
        kill(Pid::from_raw(child.id().unwrap() as i32), signal).unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{signal:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("shutting down"), "{}", stderr(&out));
        assert_eq!(leases(), 0, "the lease is released on a clean exit");
        assert!(
            TcpStream::connect(&addr).await.is_err(),
            "the port is closed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_address_is_loopback_port_7878() {
    let sb = Sandbox::new();
    assert!(
        sb.ok(&["config", "show"])
            .await
            .contains("bind = \"127.0.0.1:7878\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_right_after_start_still_shuts_down_cleanly() {
    // The handlers must exist before `listening on` is printed; a signal arriving in the
    // gap used to kill the process with the default action.
    for _ in 0..5 {
        let sb = Sandbox::new();
        let (child, _) = start(&sb).await;
        kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    }
}
