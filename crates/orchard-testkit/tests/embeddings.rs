//! Embeddings in every protocol that has them, and the batch limit.

mod common;

use common::{post, roundtrip};
use orchard_testkit::{Answer, ErrorReply, FakeProvider, fake_embedding};
use serde_json::{Value, json};

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let f = x.as_f64().unwrap();
            // Values are f32s printed in their shortest form.
            f.to_string().parse::<f32>().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn openai_embeddings_shape_and_determinism() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(
        p.addr(),
        &post(
            "/v1/embeddings",
            &[],
            &json!({"model": "fake-small", "input": ["alpha", "beta gamma"]}),
        ),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.text().starts_with(
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":["
    ));
    let v = resp.json();
    assert_eq!(v["model"], "fake-small");
    assert_eq!(v["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(
        floats(&v["data"][0]["embedding"]),
        fake_embedding("alpha", 8)
    );
    assert_eq!(
        floats(&v["data"][1]["embedding"]),
        fake_embedding("beta gamma", 8)
    );

    // A single string, requested dimensions, and base64.
    p.set_embedding_dims(4);
    let one = roundtrip(
        p.addr(),
        &post(
            "/v1/embeddings",
            &[],
            &json!({"model": "fake-small", "input": "alpha"}),
        ),
    )
    .await;
    assert_eq!(
        floats(&one.json()["data"][0]["embedding"]),
        fake_embedding("alpha", 4)
    );
    let dims = roundtrip(
        p.addr(),
        &post(
            "/v1/embeddings",
            &[],
            &json!({"model": "fake-small", "input": "alpha", "dimensions": 3}),
        ),
    )
    .await;
    assert_eq!(
        dims.json()["data"][0]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let b64 = roundtrip(
        p.addr(),
        &post(
            "/v1/embeddings",
            &[],
            &json!({"model": "fake-small", "input": "alpha", "encoding_format": "base64"}),
        ),
    )
    .await;
    let s = b64.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.len(), 24, "4 floats = 16 bytes = 24 base64 characters");

    // Any model name embeds; a queued error is how a test gets a 404.
    let req = post(
        "/v1/embeddings",
        &[],
        &json!({"model": "any-embedder", "input": "a"}),
    );
    assert_eq!(roundtrip(p.addr(), &req).await.status, 200);
    p.push(ErrorReply::model_not_found("any-embedder"));
    let resp = roundtrip(p.addr(), &req).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn embeddings_take_queued_errors_but_leave_answers() {
    let p = FakeProvider::start().await;
    p.push(ErrorReply::rate_limited(1));
    p.push(Answer::text(&["for the chat"]));
    let req = post(
        "/v1/embeddings",
        &[],
        &json!({"model": "fake-small", "input": "a"}),
    );
    let first = roundtrip(p.addr(), &req).await;
    assert_eq!(first.status, 429);
    let second = roundtrip(p.addr(), &req).await;
    assert_eq!(
        second.status, 200,
        "the queued answer is left for a generation"
    );
    let chat = roundtrip(
        p.addr(),
        &common::chat(&common::chat_body("fake-small", "x", false), &[]),
    )
    .await;
    assert_eq!(
        chat.json()["choices"][0]["message"]["content"],
        "for the chat"
    );
}

#[tokio::test]
async fn batch_limit_in_every_protocol() {
    let p = FakeProvider::start().await;
    p.set_max_batch(2);
    let three = ["a", "b", "c"];
    let two = ["a", "b"];

    // OpenAI
    let openai = |inputs: &[&str]| {
        post(
            "/v1/embeddings",
            &[],
            &json!({"model": "text-embedding", "input": inputs}),
        )
    };
    let resp = roundtrip(p.addr(), &openai(&three)).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert_eq!(roundtrip(p.addr(), &openai(&two)).await.status, 200);

    // Azure
    let azure = |inputs: &[&str]| {
        post(
            "/openai/deployments/text-embedding/embeddings?api-version=2024-10-21",
            &[],
            &json!({"input": inputs}),
        )
    };
    let resp = roundtrip(p.addr(), &azure(&three)).await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many inputs. The max number of inputs is 2.")
    );
    assert_eq!(roundtrip(p.addr(), &azure(&two)).await.status, 200);

    // Gemini
    let gemini = |inputs: &[&str]| {
        let requests: Vec<Value> = inputs
            .iter()
            .map(|t| json!({"model": "models/text-embedding", "content": {"parts": [{"text": t}]}}))
            .collect();
        post(
            "/v1beta/models/text-embedding:batchEmbedContents",
            &[],
            &json!({"requests": requests}),
        )
    };
    let resp = roundtrip(p.addr(), &gemini(&three)).await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["error"]["message"],
        "* BatchEmbedContentsRequest.requests: at most 2 requests can be in one batch\n"
    );
    let ok = roundtrip(p.addr(), &gemini(&two)).await;
    assert_eq!(ok.status, 200);
    let v = ok.json();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(
        floats(&v["embeddings"][1]["values"]),
        fake_embedding("b", 8)
    );
    let single = roundtrip(
        p.addr(),
        &post(
            "/v1beta/models/text-embedding:embedContent",
            &[],
            &json!({"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 5}),
        ),
    )
    .await;
    assert_eq!(
        floats(&single.json()["embedding"]["values"]),
        fake_embedding("a", 5)
    );

    // Ollama
    let ollama = |inputs: &[&str]| {
        post(
            "/api/embed",
            &[],
            &json!({"model": "text-embedding", "input": inputs}),
        )
    };
    let resp = roundtrip(p.addr(), &ollama(&three)).await;
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"].is_string());
    let ok = roundtrip(p.addr(), &ollama(&two)).await;
    let v = ok.json();
    assert_eq!(v["model"], "text-embedding");
    assert_eq!(floats(&v["embeddings"][0]), fake_embedding("a", 8));
    assert!(v["prompt_eval_count"].is_u64());

    // Every request was recorded.
    assert_eq!(p.requests().len(), 9);
}
