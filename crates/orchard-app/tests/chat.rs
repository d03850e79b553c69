//! The chat use case in-process, against a real database file and the fake provider.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orchard_app::App;
use orchard_app::chat::{ChatInput, ReplyObserver, TopicChoice};
use orchard_app::config::{self, Flags};
use orchard_app::providers::AddProvider;
use orchard_core::message::MessageStatus;
use orchard_testkit::{Answer, FakeProvider};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Forward(mpsc::UnboundedSender<String>);

impl ReplyObserver for Forward {
    fn on_text(&mut self, delta: &str) {
        let _ = self.0.send(delta.to_owned());
    }
    fn on_thinking(&mut self, _: &str) {}
}

/// An app in a fresh data directory with the fake provider added as `fake`.
async fn app_with_fake() -> (tempfile::TempDir, Arc<App>, FakeProvider) {
    let dir = tempfile::tempdir().unwrap();
    let flags = Flags {
        data_dir: Some(dir.path().to_path_buf()),
        ..Flags::default()
    };
    let cfg = config::load(&flags, &BTreeMap::<String, String>::new()).unwrap();
    let app = Arc::new(App::open(cfg).await.unwrap());
    let fake = FakeProvider::start().await;
    app.add_provider(AddProvider {
        name: "fake".into(),
        base_url: Some(fake.base_url()),
        ..AddProvider::default()
    })
    .await
    .unwrap();
    (dir, app, fake)
}

fn ask(topic: TopicChoice, text: &str) -> ChatInput {
    ChatInput {
        model: Some("fake:fake-small".parse().unwrap()),
        topic,
        system: None,
        text: text.into(),
        stream: true,
        images: Vec::new(),
        thinking_budget: None,
        knowledge: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_whose_caller_goes_away_is_closed_as_interrupted_with_its_text() {
    let (_dir, app, fake) = app_with_fake().await;
    fake.push(Answer::text(&["kept ", "never sent"]).hang_after(1));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            app.chat(
                ask(TopicChoice::New, "hello"),
                &mut Forward(tx),
                &CancellationToken::new(),
            )
            .await
        }
    });
    assert_eq!(rx.recv().await.as_deref(), Some("kept "));
    // The caller goes away (a browser tab closed, a server request dropped).
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The connection to the provider is closed...
    fake.wait_stream_closed(1).await;
    // ...and the reply is closed with what arrived, by a task (Drop cannot wait).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let (_, messages) = app.conversation("1".parse().unwrap()).await.unwrap();
        let reply = messages.last().unwrap().clone();
        if !reply.status.is_open() {
            break reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply stayed {:?}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(reply.status, MessageStatus::Interrupted);
    assert_eq!(reply.text(), "kept ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chats_in_one_topic_each_answer_their_own_question() {
    let (_dir, app, fake) = app_with_fake().await;
    let first = app
        .chat(
            ask(TopicChoice::New, "opening"),
            &mut Forward(mpsc::unbounded_channel().0),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    // Two questions on the same topic at once.
    let ask = |text: &'static str| {
        let app = app.clone();
        async move {
            app.chat(
                ask(TopicChoice::Continue(first.topic), text),
                &mut Forward(mpsc::unbounded_channel().0),
                &CancellationToken::new(),
            )
            .await
            .unwrap()
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(ask("question A")),
        tokio::spawn(ask("question B"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.status, b.status),
        (MessageStatus::Done, MessageStatus::Done)
    );
    // Each request ends with its own question, whatever the other chat did to the
    // topic's current leaf meanwhile (which two simultaneous questions should share as
    // context is the "two tabs" question of the web studio, not settled here).
    let lasts: Vec<String> = fake
        .requests()
        .iter()
        .skip(1)
        .map(|r| {
            r.json()["messages"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = lasts.clone();
    sorted.sort();
    assert_eq!(sorted, ["question A", "question B"], "{lasts:?}");
    // And each stored answer hangs under its own question.
    for outcome in [&a, &b] {
        let reply = app
            .store()
            .message(app.user(), outcome.reply)
            .await
            .unwrap();
        assert_eq!(reply.parent_id, Some(outcome.question));
    }
}
