//! Nothing committed is ever lost: real processes, real signals, a real database file.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orchard_testkit::{Answer, FakeProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_question_is_committed_before_the_provider_is_called() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    // The provider never answers, so anything in the database was written before the call.
    fake.push(Answer::text(&["never"]).first_byte_delay(Duration::from_secs(60)));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "a question worth keeping"])
        .spawn()
        .unwrap();
    fake.wait_for_request(1).await;
    let mut db = sb.db().await;
    let (role, text): (String, String) = sqlx::query_as(
        "SELECT m.role, b.content FROM messages m JOIN message_blocks b ON b.message_id = m.id WHERE m.role = 'user'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(
        (role.as_str(), text.as_str()),
        ("user", "a question worth keeping")
    );
    let pending: String =
        sqlx::query_scalar("SELECT status FROM messages WHERE role = 'assistant'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(
        pending, "pending",
        "the reply row exists before the request leaves"
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_answer_keeps_the_text_and_the_next_start_marks_it_interrupted() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["partial ", "answer ", "never ", "finished"]).hang_after(2));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "tell me a long story"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut child, "partial answer ").await;
    // The reply is persisted while it streams (the provider is still holding the stream).
    sb.wait_reply_text("partial answer ").await;
    assert_eq!(sb.last_reply().await.0, "streaming");

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    // The request that carried the conversation is in the ledger although its process
    // never saw it end (rows are written before a request leaves).
    let mut db = sb.db().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT purpose, outcome FROM egress_log ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(rows, vec![("chat:fake".to_owned(), "in-flight".to_owned())]);
    assert_eq!(
        sb.last_reply().await,
        ("streaming".to_owned(), "partial answer ".to_owned()),
        "nobody recovered it yet"
    );

    // The next start of any command recovers it.
    let show = sb.ok(&["show", "1"]).await;
    assert!(show.contains("partial answer"), "{show}");
    assert!(
        show.contains("[interrupted: Orchard stopped before the answer was complete]"),
        "{show}"
    );
    assert_eq!(
        sb.last_reply().await,
        ("interrupted".to_owned(), "partial answer ".to_owned())
    );
    // And the conversation continues from it.
    let out = sb.ok(&["chat", "--topic", "1", "go on"]).await;
    assert_eq!(out, "echo: go on\n");
    let sent = fake.requests().pop().unwrap().json();
    assert_eq!(sent["messages"][1]["content"], "partial answer ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_being_written_by_a_live_process_is_not_marked_interrupted() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["still ", "going ", "strong"]).hang_after(1));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut child, "still ").await;
    sb.wait_reply_text("still ").await;
    // Another Orchard process starts while the first is mid-answer.
    sb.ok(&["topics"]).await;
    assert_eq!(sb.last_reply().await.0, "streaming");
    fake.release();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sb.last_reply().await,
        ("done".to_owned(), "still going strong".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_partial_reply_as_cancelled_and_closes_the_stream() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["half ", "an ", "answer"]).hang_after(2));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut child, "half an ").await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = stderr(&out);
    assert!(
        err.contains("stopped; the partial answer is kept (the conversation is saved as topic 1)"),
        "{err}"
    );
    assert_eq!(
        sb.last_reply().await,
        ("cancelled".to_owned(), "half an ".to_owned())
    );
    // Closing the connection is how the provider learns to stop generating.
    fake.wait_stream_closed(1).await;
    let show = sb.ok(&["show", "1"]).await;
    assert!(
        show.contains("[stopped by you before the answer was complete]"),
        "{show}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_also_cancels_cleanly() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["a ", "b"]).hang_after(1));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut child, "a ").await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(
        sb.last_reply().await,
        ("cancelled".to_owned(), "a ".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_answer_keeps_the_text_and_reports_the_error() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["kept ", "text ", "lost"]).cut_after(2));
    let out = sb.run(&["chat", "-m", "fake:fake-small", "q"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "kept text \n");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("the connection to fake was cut before the answer was complete"),
        "{err}"
    );
    assert!(err.contains("saved as topic 1"), "{err}");
    assert_eq!(
        sb.last_reply().await,
        ("error".to_owned(), "kept text ".to_owned())
    );
    let show = sb.ok(&["show", "1"]).await;
    assert!(
        show.contains("[error: the connection to fake was cut"),
        "{show}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_before_the_first_byte_cancels_at_once() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["too late"]).first_byte_delay(Duration::from_secs(120)));
    let child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .spawn()
        .unwrap();
    fake.wait_for_request(1).await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    // Bounded well below the provider's delay: the wait for the first byte is cancelled.
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("Ctrl-C must not wait for the provider")
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(
        sb.last_reply().await,
        ("cancelled".to_owned(), String::new())
    );
    assert!(sb.ok(&["show", "1"]).await.contains("## You\n\nq"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_mid_answer_loses_nothing() {
    let mut sb = Sandbox::new();
    sb.env("ORCHARD_BUSY_TIMEOUT", "200ms");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["one ", "two ", "three"]).hang_after(1));
    let mut child = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut child, "one ").await;
    sb.wait_reply_text("one ").await;
    // Another program takes the write lock while the answer is still arriving.
    let mut holder = sb.db().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    fake.release();
    read_stderr_until(&mut child, "could not save the answer yet; retrying").await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sb.last_reply().await,
        ("done".to_owned(), "one two three".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_studio_recovers_a_cli_answer_killed_while_it_runs() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let mut serve = sb.cmd(&["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    read_stdout_until(&mut serve, "listening on").await;
    fake.push(Answer::text(&["half ", "way"]).hang_after(1));
    let mut chat = sb
        .cmd(&["chat", "-m", "fake:fake-small", "q"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read_stdout_until(&mut chat, "half ").await;
    sb.wait_reply_text("half ").await;
    kill(Pid::from_raw(chat.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    chat.wait().await.unwrap();
    // No new process starts: the running studio notices by itself.
    assert_eq!(wait_reply_status(&sb, "interrupted").await.1, "half ");
    kill(Pid::from_raw(serve.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    assert!(serve.wait().await.unwrap().success());
}
