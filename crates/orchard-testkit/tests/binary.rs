//! The `orchard-fake-provider` binary: prints its address, serves a script,
//! takes the key from an environment variable.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request on a fresh connection, `connection: close`, whole response.
fn get(addr: &str, raw_head: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{raw_head}connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn binary_serves_script_with_key_from_env() {
    let dir = std::env::temp_dir().join(format!("orchard-testkit-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.json");
    std::fs::write(&script, r#"[{"answer": {"content": ["scr", "ipted"]}}]"#).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_orchard-fake-provider"))
        .args([
            "--port",
            "0",
            "--key-env",
            "FAKE_KEY_FOR_TEST",
            "--models",
            "m1,m2",
            "--script",
        ])
        .arg(&script)
        .env("FAKE_KEY_FOR_TEST", "sk-bin-test")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn orchard-fake-provider");
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("listening on http://")
        .and_then(|r| r.strip_suffix("/v1\n"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(url.starts_with("127.0.0.1:"), "{url}");

    let models = get(
        url,
        "GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-bin-test\r\n",
        "",
    );
    assert!(models.starts_with("HTTP/1.1 200 OK\r\n"), "{models}");
    assert!(models.contains(r#""data":[{"id":"m1","#), "{models}");

    let unauthorized = get(url, "GET /v1/models HTTP/1.1\r\nhost: x\r\n", "");
    assert!(unauthorized.starts_with("HTTP/1.1 401 "), "{unauthorized}");

    let chat = get(
        url,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-bin-test\r\n",
        r#"{"model":"m1","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(chat.contains(r#""content":"scripted""#), "{chat}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_refuses_unset_key_env() {
    let out = Command::new(env!("CARGO_BIN_EXE_orchard-fake-provider"))
        .args(["--key-env", "ORCHARD_TESTKIT_SURELY_UNSET_VAR"])
        .env_remove("ORCHARD_TESTKIT_SURELY_UNSET_VAR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ORCHARD_TESTKIT_SURELY_UNSET_VAR"));
}
