//! Knowledge bases through the studio's JSON API, over real HTTP on loopback, against a
//! real SQLite file and the fake provider: documents read in the background with live
//! status, the search test, embedder changes that say what they cost, passages for
//! citations, and the bases assistants answer from.

mod common;

use base64::Engine;
use common::{Studio, Tab, eventually};
use serde_json::{Value, json};

fn id(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an id: {v}"))
}

const GUIDE: &str = "# Orchard guide\n\n## Pruning\n\nPrune apple trees in late winter, before the buds open.\n\n## Watering\n\nYoung trees need water every week in summer.\n";

/// A file as the studio uploads it.
fn file(name: &str, bytes: &[u8]) -> Value {
    json!({"name": name, "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

/// Bytes that are not text, whatever their name says.
fn binary() -> Vec<u8> {
    let mut b = b"orchard-blob\x00\x00\x01\x02".to_vec();
    b.extend((0..2048u32).map(|i| (i % 7) as u8));
    b
}

async fn create(tab: &Tab, body: Value) -> Value {
    let r = tab.post("/api/v1/kb", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn documents(tab: &Tab, kb: i64) -> Vec<Value> {
    let r = tab.get(&format!("/api/v1/kb/{kb}/documents")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().clone()
}

fn is_final(d: &Value) -> bool {
    d["status"] == "ready" || d["status"] == "failed"
}

/// Polls the documents endpoint until every document of `kb` is ready or failed.
async fn settled(tab: &Tab, kb: i64, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} document(s) of base {kb} to be ready or failed"),
        || {
            let tab = tab.clone();
            async move {
                let docs = documents(&tab, kb).await;
                (docs.len() == n && docs.iter().all(is_final)).then_some(docs)
            }
        },
    )
    .await
}

fn named<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document {name} in {docs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_read_in_the_background_a_binary_file_fails_with_its_reason_and_retry_reads_it_again()
 {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let kb = create(&tab, json!({"name": "garden"})).await;
    let kb_id = id(&kb["id"]);
    assert_eq!(kb["embedder"], "none");
    assert_eq!(kb["sends_text_away"], false);

    let r = tab
        .post(
            &format!("/api/v1/kb/{kb_id}/documents"),
            &json!({"files": [file("guide.md", GUIDE.as_bytes()), file("blob.txt", &binary())]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let added = r.json();
    assert_eq!(added["documents"].as_array().unwrap().len(), 2, "{added}");
    assert!(
        added["documents"][0]["html"]
            .as_str()
            .is_some_and(|h| h.contains("<tr")),
        "the studio gets each new document's table row: {added}"
    );

    let docs = settled(&tab, kb_id, 2).await;
    let good = named(&docs, "guide.md");
    assert_eq!(good["status"], "ready", "{good}");
    assert!(good["chunks"].as_u64().unwrap() >= 1, "{good}");
    let bad = named(&docs, "blob.txt");
    assert_eq!(bad["status"], "failed", "{bad}");
    assert_eq!(bad["chunks"], 0);
    let reason = bad["error"].as_str().unwrap_or_default();
    assert!(reason.contains("binary"), "the reason says why: {reason}");

    let listed = tab.get("/api/v1/kb").await.json();
    assert_eq!(listed[0]["counts"]["ready"], 1, "{listed}");
    assert_eq!(listed[0]["counts"]["failed"], 1, "{listed}");
    assert_eq!(listed[0]["documents"], 2, "{listed}");

    // Retry queues it again and it is read again (and fails again: the bytes are the same).
    let bad_id = id(&bad["id"]);
    let r = tab
        .post(&format!("/api/v1/kb/documents/{bad_id}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let retried = r.json();
    assert_ne!(retried["status"], "failed", "retry queues it: {retried}");
    assert!(retried["html"].as_str().is_some(), "{retried}");
    let docs = settled(&tab, kb_id, 2).await;
    let again = named(&docs, "blob.txt");
    assert_eq!(again["status"], "failed", "{again}");
    assert!(
        again["updated_at"].as_i64() >= bad["updated_at"].as_i64(),
        "{again}"
    );

    // The search test shows what was found and why.
    let r = tab
        .get(&format!(
            "/api/v1/kb/{kb_id}/search?q=prune%20apple%20trees&top=3"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let found = r.json();
    assert_eq!(found["mode"], "keyword", "{found}");
    let hit = &found["hits"][0];
    assert!(
        hit["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("late winter"),
        "{found}"
    );
    assert_eq!(hit["keyword"]["rank"], 1, "{found}");
    assert!(hit["keyword"]["bm25"].as_f64().unwrap() > 0.0, "{found}");
    assert!(
        hit["vector"].is_null(),
        "no embedder, no vector rank: {found}"
    );
    assert_eq!(
        hit["passage"]["location"]["heading_path"],
        json!(["Orchard guide", "Pruning"])
    );
    let label = hit["label"].as_str().unwrap();
    assert!(
        label.contains("guide.md") || label.contains("Orchard guide"),
        "{label}"
    );
    assert!(label.contains("Pruning"), "{label}");

    // The passage in its document: the text of its range, with what surrounds it.
    let chunk = id(&hit["passage"]["id"]);
    assert_eq!(hit["url"], format!("/kb/passage/{chunk}"));
    let r = tab.get(&format!("/api/v1/kb/passages/{chunk}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    let (start, end) = (p["start"].as_u64().unwrap(), p["end"].as_u64().unwrap());
    assert!(start < end, "{p}");
    assert_eq!(p["kb_id"], kb_id);
    assert_eq!(p["document"]["name"], "guide.md");
    let text = p["text"].as_str().unwrap();
    assert!(text.contains("late winter"), "{p}");
    assert_eq!(text.len() as u64, end - start, "the text is the range: {p}");
    let whole = format!(
        "{}{}{}",
        p["before"].as_str().unwrap(),
        text,
        p["after"].as_str().unwrap()
    );
    assert!(
        whole.contains("Young trees need water"),
        "the document around it: {p}"
    );
    assert_eq!(p["before"].as_str().unwrap().len() as u64, start, "{p}");

    // A note is read at once; removing a document removes its passages.
    let r = tab
        .post(
            &format!("/api/v1/kb/{kb_id}/documents"),
            &json!({"note": "Quince jelly\n\nQuinces ripen in October."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let note = &r.json()["documents"][0];
    assert_eq!(note["status"], "ready", "{note}");
    assert_eq!(note["name"], "Quince jelly");
    let q = tab
        .get(&format!("/api/v1/kb/{kb_id}/search?q=quinces"))
        .await
        .json();
    assert_eq!(q["hits"].as_array().unwrap().len(), 1, "{q}");
    let r = tab
        .raw(
            "DELETE",
            &format!("/api/v1/kb/documents/{}", id(&note["id"])),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = tab
        .get(&format!("/api/v1/kb/{kb_id}/search?q=quinces"))
        .await
        .json();
    assert_eq!(q["hits"], json!([]), "{q}");
    assert_eq!(documents(&tab, kb_id).await.len(), 2);

    // Reindex reads every document again.
    let r = tab
        .post(&format!("/api/v1/kb/{kb_id}/reindex"), &json!({}))
        .await;
    assert_eq!(r.json()["queued"], 2, "{}", r.body);
    let docs = settled(&tab, kb_id, 2).await;
    assert_eq!(named(&docs, "guide.md")["status"], "ready");
    studio.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_embedder_says_what_it_costs_first_and_embeds_again_when_confirmed() {
    let studio = Studio::start().await;
    studio
        .fake
        .set_models(&["fake-small", "fake-large", "text-embedding-3-small"]);
    studio.app.fetch_models("fake").await.unwrap();
    let tab = studio.tab().await;
    let embedders = tab.get("/api/v1/embedders").await.json();
    let offered: Vec<&str> = embedders["provider"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        offered,
        ["fake:text-embedding-3-small"],
        "only embedding models are offered: {embedders}"
    );

    let kb_id = id(&create(&tab, json!({"name": "notes"})).await["id"]);
    tab.post(
        &format!("/api/v1/kb/{kb_id}/documents"),
        &json!({"files": [file("guide.md", GUIDE.as_bytes())]}),
    )
    .await;
    let docs = settled(&tab, kb_id, 1).await;
    let chunks = docs[0]["chunks"].as_u64().unwrap();
    assert!(chunks >= 1);

    // Without confirmation: the cost, and nothing changed.
    let change = json!({"embedder": "fake:text-embedding-3-small"});
    let r = tab
        .json("PATCH", &format!("/api/v1/kb/{kb_id}"), &change)
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "embedder_change_cost"),
        "{}",
        r.body
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!("{chunks} passage(s)")) && message.contains("tokens"),
        "the message says how many passages and tokens: {message}"
    );
    assert!(
        message.contains("sent to fake"),
        "the message says the text leaves the machine: {message}"
    );
    let kb = tab.get(&format!("/api/v1/kb/{kb_id}")).await.json();
    assert_eq!(kb["embedder"], "none", "{kb}");
    assert!(
        !studio
            .fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/embeddings")),
        "nothing was embedded before confirming"
    );

    // Confirmed: the documents are embedded again, in the background.
    let mut confirmed = change.clone();
    confirmed["confirm"] = json!(true);
    let r = tab
        .json("PATCH", &format!("/api/v1/kb/{kb_id}"), &confirmed)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["embedder"], "fake:text-embedding-3-small");
    assert_eq!(r.json()["sends_text_away"], true);
    let docs = eventually("the document embedded with the new embedder", || {
        let tab = tab.clone();
        async move {
            let docs = documents(&tab, kb_id).await;
            (docs[0]["status"] == "ready" && docs[0]["embedded"] == docs[0]["chunks"])
                .then_some(docs)
        }
    })
    .await;
    assert_eq!(docs[0]["embedded"].as_u64(), Some(chunks), "{docs:?}");
    assert!(
        studio
            .fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/embeddings")),
        "the passages went to the provider's embeddings API"
    );

    // Search now uses both retrievers and says so.
    let found = tab
        .get(&format!("/api/v1/kb/{kb_id}/search?q=pruning"))
        .await
        .json();
    assert_eq!(found["mode"], "hybrid", "{found}");
    assert!(
        found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["vector"]["rank"].as_u64().is_some() && h["vector"]["cosine"].is_number()),
        "{found}"
    );
    studio.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_stream_follows_a_document_to_ready() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let kb_id = id(&create(&tab, json!({"name": "live"})).await["id"]);
    let other = id(&create(&tab, json!({"name": "elsewhere"})).await["id"]);
    let mut events = tab.stream(&format!("/api/v1/kb/events?kb={kb_id}")).await;
    let (name, _) = events.next().await.expect("an event");
    assert_eq!(name, "ready", "the stream says it is subscribed first");

    tab.post(
        &format!("/api/v1/kb/{other}/documents"),
        &json!({"note": "Somewhere else entirely."}),
    )
    .await;
    let r = tab
        .post(
            &format!("/api/v1/kb/{kb_id}/documents"),
            &json!({"files": [file("guide.md", GUIDE.as_bytes())]}),
        )
        .await;
    let doc = id(&r.json()["documents"][0]["id"]);
    let mut seen = Vec::new();
    loop {
        let (name, data) = events.next().await.expect("the stream ended");
        assert_eq!(name, "document", "{data}");
        assert_eq!(data["kb_id"], kb_id, "only this base's documents: {data}");
        if data["id"] == doc {
            seen.push(data["status"].as_str().unwrap().to_owned());
            if data["status"] == "ready" {
                let html = data["html"].as_str().unwrap();
                assert!(
                    html.contains("data-status=\"ready\"") && html.contains("guide.md"),
                    "the event carries the row: {html}"
                );
                break;
            }
        }
    }
    assert!(
        seen.iter().any(|s| s == "parsing"),
        "the document is seen being read before it is ready: {seen:?}"
    );
    studio.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assistants_answer_from_their_bases_and_answers_list_their_sources() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let kb_id = id(&create(&tab, json!({"name": "garden"})).await["id"]);
    let r = tab
        .post(
            &format!("/api/v1/kb/{kb_id}/documents"),
            &json!({"files": [file("guide.md", GUIDE.as_bytes())]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    settled(&tab, kb_id, 1).await;

    let a = tab
        .post("/api/v1/assistants", &json!({"name": "Gardener"}))
        .await
        .json();
    let a_id = id(&a["id"]);
    let path = format!("/api/v1/assistants/{a_id}/knowledge");
    assert_eq!(tab.get(&path).await.json(), json!({"knowledge": []}));
    let r = tab
        .json("PUT", &path, &json!({"knowledge": [kb_id, kb_id]}))
        .await;
    assert_eq!(r.json(), json!({"knowledge": [kb_id]}), "{}", r.body);
    // An unknown base is refused and nothing changes.
    let r = tab
        .json("PUT", &path, &json!({"knowledge": [999_999]}))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    assert_eq!(tab.get(&path).await.json(), json!({"knowledge": [kb_id]}));

    // The assistant's base: the passage goes to the model, the answer lists its source.
    let started = tab
        .chat(json!({"text": "When should apple trees be pruned?", "models": ["fake:fake-small"], "assistant_id": a_id}))
        .await;
    let (_, done) = tab.finish(&started).await;
    let html = done["html"].as_str().unwrap();
    assert!(
        html.contains("class=\"sources\"") && html.contains("href=\"/kb/passage/"),
        "the answer lists its sources: {html}"
    );
    assert!(html.contains("[1] "), "{html}");
    let sent = studio
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/chat/completions"))
        .expect("a chat request");
    assert!(
        String::from_utf8_lossy(&sent.body).contains("late winter"),
        "the passage was sent with the question"
    );

    // A base picked for one message, without an assistant.
    let started = tab
        .chat(json!({"text": "How often do young trees need water?", "models": ["fake:fake-small"], "knowledge": [kb_id]}))
        .await;
    let (_, done) = tab.finish(&started).await;
    assert!(
        done["html"].as_str().unwrap().contains("class=\"sources\""),
        "{done}"
    );
    studio.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_bases_live_rows_and_a_highlighted_passage_with_text_escaped() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let kb_id = id(&create(&tab, json!({"name": "garden <b>"})).await["id"]);
    let r = tab
        .post(
            &format!("/api/v1/kb/{kb_id}/documents"),
            &json!({"files": [file("tricky.txt", b"A passage with <script>alert(1)</script> in it.")]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let docs = settled(&tab, kb_id, 1).await;
    let doc = &docs[0];
    assert_eq!(doc["status"], "ready", "{doc}");

    let list = tab.get("/kb").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("garden &lt;b&gt;") && list.body.contains(&format!("/kb/{kb_id}")),
        "{}",
        list.body
    );
    assert!(list.body.contains("keyword search only"), "{}", list.body);

    let page = tab.get(&format!("/kb/{kb_id}")).await;
    assert!(
        page.body.contains(&format!(
            "id=\"doc{}\" data-doc=\"{}\" data-status=\"ready\"",
            doc["id"], doc["id"]
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"kb-search\""), "the search test");
    assert!(page.body.contains("id=\"kb-files\""), "the file input");

    let hit = tab
        .get(&format!("/api/v1/kb/{kb_id}/search?q=passage"))
        .await
        .json();
    let chunk = id(&hit["hits"][0]["passage"]["id"]);
    let passage = tab.get(&format!("/kb/passage/{chunk}")).await;
    assert_eq!(passage.status, 200, "{}", passage.body);
    let body = &passage.body;
    assert!(body.contains("<mark id=\"passage\""), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>alert"),
        "document text is escaped: {body}"
    );
    assert!(
        body.contains(&format!("href=\"/kb/{kb_id}\"")),
        "a link back"
    );
    // The chat page offers the base in the composer, the sidebar links the bases.
    let chat = tab.get("/").await;
    assert!(
        chat.body.contains("id=\"kb-picker\"")
            && chat
                .body
                .contains(&format!("name=\"kb\" value=\"{kb_id}\""))
            && chat.body.contains("href=\"/kb\""),
        "{}",
        chat.body
    );
    studio.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_refusals_use_the_one_error_format_and_changes_need_the_csrf_token() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let mut forged = tab.clone();
    forged.csrf = None;
    let r = forged.post("/api/v1/kb", &json!({"name": "sneaky"})).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "csrf_failed"),
        "{}",
        r.body
    );
    assert_eq!(tab.get("/api/v1/kb").await.json(), json!([]));

    let kb_id = id(&create(&tab, json!({"name": "garden"})).await["id"]);
    for (method, path, body) in [
        (
            "POST",
            format!("/api/v1/kb/{kb_id}/documents"),
            json!({"note": "x"}),
        ),
        ("DELETE", format!("/api/v1/kb/{kb_id}"), json!({})),
        (
            "PATCH",
            format!("/api/v1/kb/{kb_id}"),
            json!({"name": "renamed"}),
        ),
        ("POST", format!("/api/v1/kb/{kb_id}/reindex"), json!({})),
    ] {
        let r = forged.json(method, &path, &body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "csrf_failed"),
            "{method} {path}: {}",
            r.body
        );
    }
    assert_eq!(documents(&tab, kb_id).await, Vec::<Value>::new());

    let cases = [
        (
            "POST",
            "/api/v1/kb".to_owned(),
            json!({"name": "  "}),
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/kb".to_owned(),
            json!({"name": "garden"}),
            409,
            "conflict",
        ),
        (
            "POST",
            "/api/v1/kb".to_owned(),
            json!({"name": "x", "embedder": "nonsense"}),
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/kb".to_owned(),
            json!({"name": "x", "embedder": "nobody:model"}),
            404,
            "unknown_provider",
        ),
        (
            "POST",
            "/api/v1/kb".to_owned(),
            json!({"name": "x", "chunk_size": 10, "chunk_overlap": 20}),
            400,
            "invalid_input",
        ),
        (
            "GET",
            "/api/v1/kb/999999".to_owned(),
            json!({}),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/api/v1/kb/{kb_id}/search"),
            json!({}),
            400,
            "invalid_input",
        ),
        (
            "GET",
            format!("/api/v1/kb/{kb_id}/search?q=x&mode=psychic"),
            json!({}),
            400,
            "invalid_input",
        ),
        (
            "GET",
            "/api/v1/kb/passages/999999".to_owned(),
            json!({}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("/api/v1/kb/{kb_id}/documents"),
            json!({}),
            400,
            "invalid_input",
        ),
        (
            "POST",
            format!("/api/v1/kb/{kb_id}/documents"),
            json!({"files": [{"name": "a.md", "data": "%%%"}]}),
            400,
            "invalid_input",
        ),
        (
            "POST",
            format!("/api/v1/kb/{kb_id}/documents"),
            json!({"urls": ["/etc/passwd"]}),
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/kb/documents/999999/retry".to_owned(),
            json!({}),
            404,
            "not_found",
        ),
        (
            "DELETE",
            "/api/v1/kb/documents/999999".to_owned(),
            json!({}),
            404,
            "not_found",
        ),
        (
            "PATCH",
            format!("/api/v1/kb/{kb_id}"),
            json!({"embedder": "nobody:model"}),
            404,
            "unknown_provider",
        ),
        (
            "GET",
            "/api/v1/kb/events?kb=999999".to_owned(),
            json!({}),
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = if method == "GET" {
            tab.get(&path).await
        } else {
            tab.json(method, &path, &body).await
        };
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{method} {path} {body}: {}",
            r.body
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            r.body
        );
    }
    // Nothing was stored by the refused requests.
    assert_eq!(documents(&tab, kb_id).await, Vec::<Value>::new());
    assert_eq!(
        tab.get("/api/v1/kb").await.json().as_array().unwrap().len(),
        1
    );
    studio.stop().await;
}

/// The real all-MiniLM-L6-v2 files, which `./scripts/test` fetches.
fn minilm() -> std::path::PathBuf {
    std::env::var_os("ORCHARD_TEST_MINILM")
        .expect("ORCHARD_TEST_MINILM is not set: run the tests with ./scripts/test, which fetches all-MiniLM-L6-v2")
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_embedder_is_offered_keeps_text_on_this_machine_and_finds_by_meaning() {
    let studio = Studio::start().await;
    studio
        .app
        .add_local_model(&minilm(), Some("minilm"))
        .await
        .unwrap();
    let tab = studio.tab().await;
    let embedders = tab.get("/api/v1/embedders").await.json();
    assert_eq!(embedders["local"][0]["id"], "local:minilm", "{embedders}");
    assert_eq!(embedders["local"][0]["dims"], 384, "{embedders}");
    let form = tab.get("/kb").await.body;
    assert!(
        form.contains("value=\"local:minilm\"")
            && form.contains("Local model minilm — nothing leaves this machine"),
        "the create form offers the local model and says what it means: {form}"
    );

    // A base without an embedder; switching to the local one says nothing leaves.
    let kb_id = id(&create(&tab, json!({"name": "pets"})).await["id"]);
    tab.post(
        &format!("/api/v1/kb/{kb_id}/documents"),
        &json!({"note": "Pets\n\nThe cat sat on the warm windowsill all afternoon."}),
    )
    .await;
    let r = tab
        .json(
            "PATCH",
            &format!("/api/v1/kb/{kb_id}"),
            &json!({"embedder": "local:minilm"}),
        )
        .await;
    assert_eq!(r.code(), "embedder_change_cost", "{}", r.body);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("1 passage(s)") && message.contains("Nothing leaves this machine."),
        "{message}"
    );
    let r = tab
        .json(
            "PATCH",
            &format!("/api/v1/kb/{kb_id}"),
            &json!({"embedder": "local:minilm", "confirm": true}),
        )
        .await;
    assert_eq!(r.json()["sends_text_away"], false, "{}", r.body);
    eventually("the note embedded by the local model", || {
        let tab = tab.clone();
        async move {
            let docs = documents(&tab, kb_id).await;
            (docs[0]["status"] == "ready" && docs[0]["embedded"] == 1).then_some(())
        }
    })
    .await;
    let page = tab.get(&format!("/kb/{kb_id}")).await.body;
    assert!(
        page.contains("nothing leaves this machine"),
        "the base's page says so: {page}"
    );

    // The search test by vectors alone: no word of the query is in the passage.
    let found = tab
        .get(&format!(
            "/api/v1/kb/{kb_id}/search?q=kitten%20resting%20by%20the%20sunny%20glass&mode=vector"
        ))
        .await
        .json();
    assert_eq!(found["mode"], "vector", "{found}");
    let hit = &found["hits"][0];
    assert_eq!(hit["vector"]["rank"], 1, "{found}");
    assert!(hit["vector"]["cosine"].as_f64().unwrap() > 0.2, "{found}");
    assert!(hit["keyword"].is_null(), "{found}");
    studio.stop().await;
}
