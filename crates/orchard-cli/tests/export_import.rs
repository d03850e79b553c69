//! `orchard export topic` and `orchard import`, against the real binary.

mod common;

use common::*;
use orchard_testkit::FakeProvider;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_exports_as_markdown_and_json_and_the_json_imports_back() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    sb.ok(&["chat", "-m", "fake:fake-small", "What is an orchard?"])
        .await;

    let md = sb.ok(&["export", "topic", "1", "--format", "md"]).await;
    assert!(md.starts_with("# What is an orchard?"), "{md}");
    assert!(md.contains("echo: What is an orchard?"), "{md}");
    assert!(md.contains("fake-small"), "the model is named: {md}");

    let json = sb
        .ok(&["export", "topic", "last", "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["format"], "orchard-topics");
    assert_eq!(v["topics"][0]["messages"].as_array().unwrap().len(), 2);

    let file = sb.data.join("export.json");
    std::fs::write(&file, &json).unwrap();
    let out = sb.ok(&["import", file.to_str().unwrap()]).await;
    assert_eq!(out, "imported 1 topic(s): 2\n");
    let again = sb.ok(&["export", "topic", "2", "--format", "md"]).await;
    assert_eq!(again, md, "the round trip keeps what the person reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatgpt_and_claude_exports_import_with_their_branches() {
    let sb = Sandbox::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../orchard-interchange/tests/fixtures");
    for (file, expected) in [
        ("chatgpt.json", "imported 2 topic(s): 1, 2\n"),
        ("claude.json", "imported 2 topic(s): 3, 4\n"),
    ] {
        let path = fixtures.join(file);
        assert_eq!(sb.ok(&["import", path.to_str().unwrap()]).await, expected);
    }
    // Branches survive: the ChatGPT fixture has an edited question, so some message
    // has a sibling.
    let mut c = sb.db().await;
    let (siblings,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM messages a JOIN messages b ON a.parent_id = b.parent_id AND a.id < b.id",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(siblings > 0, "no branch survived the import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_an_export_is_refused_and_nothing_is_imported() {
    let sb = Sandbox::new();
    let file = sb.data.join("notes.json");
    std::fs::create_dir_all(&sb.data).unwrap();
    std::fs::write(&file, r#"{"hello": "world"}"#).unwrap();
    let err = fails(&sb, &["import", file.to_str().unwrap()]).await;
    assert!(err.contains("not a ChatGPT"), "{err}");
    assert_eq!(
        sb.ok(&["topics"]).await.lines().count(),
        1,
        "only the header line"
    );
    let err = fails(&sb, &["export", "topic", "7", "--format", "md"]).await;
    assert!(err.contains('7'), "{err}");
}
