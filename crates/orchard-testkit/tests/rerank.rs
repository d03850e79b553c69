//! The fake provider's rerank route, checked with a raw TCP client: each
//! imitated API's exact answer shape, its error bodies, and the error
//! injection the other routes have.

mod common;

use common::{request, roundtrip};
use orchard_testkit::{ErrorReply, FakeProvider, RerankFormat, fake_relevance};
use serde_json::{Value, json};

fn rerank(path: &str, body: &Value, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", path, &all, &body.to_string())
}

fn capitals(extra: Value) -> Value {
    let mut body = json!({
        "model": "rerank-x",
        "query": "capital of France",
        "documents": [
            "Berlin is the capital of Germany.",
            "Paris is the capital of France.",
            "Bananas are yellow.",
        ],
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body
}

#[tokio::test]
async fn jina_answers_list_results_with_their_documents() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(
        p.addr(),
        &rerank("/v1/rerank", &capitals(json!({"top_n": 2})), &[]),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let two_thirds = fake_relevance("capital of France", "Berlin is the capital of Germany.");
    assert_eq!(two_thirds, 2.0 / 3.0);
    // Tokens: 5 for the query (17 characters) for each of 3 documents, plus 9 + 8 + 5.
    assert_eq!(
        String::from_utf8(resp.body).unwrap(),
        format!(
            "{{\"model\":\"rerank-x\",\"usage\":{{\"total_tokens\":37}},\"results\":[\
             {{\"index\":1,\"document\":{{\"text\":\"Paris is the capital of France.\"}},\"relevance_score\":1.0}},\
             {{\"index\":0,\"document\":{{\"text\":\"Berlin is the capital of Germany.\"}},\"relevance_score\":{two_thirds}}}]}}"
        )
    );
    let without = roundtrip(
        p.addr(),
        &rerank(
            "/v1/rerank",
            &capitals(json!({"return_documents": false})),
            &[],
        ),
    )
    .await
    .json();
    assert_eq!(
        without["results"],
        json!([
            {"index": 1, "relevance_score": 1.0},
            {"index": 0, "relevance_score": two_thirds},
            {"index": 2, "relevance_score": 0.0},
        ])
    );
}

#[tokio::test]
async fn cohere_answers_carry_an_id_and_billed_units() {
    let p = FakeProvider::start().await;
    p.set_rerank_format(RerankFormat::Cohere);
    let v = roundtrip(
        p.addr(),
        &rerank("/v2/rerank", &capitals(json!({"top_n": 1})), &[]),
    )
    .await
    .json();
    assert_eq!(v["results"], json!([{"index": 1, "relevance_score": 1.0}]));
    assert_eq!(v["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        v["meta"],
        json!({"api_version": {"version": "2", "is_experimental": false}, "billed_units": {"search_units": 1}})
    );
    let keys: Vec<_> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3);
}

#[tokio::test]
async fn voyage_answers_list_data_and_take_top_k() {
    let p = FakeProvider::start().await;
    p.set_rerank_format(RerankFormat::Voyage);
    let resp = roundtrip(
        p.addr(),
        &rerank("/v1/rerank", &capitals(json!({"top_k": 1})), &[]),
    )
    .await;
    assert_eq!(
        String::from_utf8(resp.body).unwrap(),
        r#"{"object":"list","data":[{"relevance_score":1.0,"index":1}],"model":"rerank-x","usage":{"total_tokens":37}}"#
    );
    let with_docs = roundtrip(
        p.addr(),
        &rerank(
            "/v1/rerank",
            &capitals(json!({"top_k": 1, "return_documents": true})),
            &[],
        ),
    )
    .await
    .json();
    assert_eq!(
        with_docs["data"][0]["document"],
        "Paris is the capital of France."
    );
    // The other dialect's parameter is refused, in Voyage's error shape.
    let wrong = roundtrip(
        p.addr(),
        &rerank("/v1/rerank", &capitals(json!({"top_n": 1})), &[]),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.json()["detail"]
            .as_str()
            .unwrap()
            .contains("unknown parameter top_n"),
        "{:?}",
        wrong.json()
    );
}

#[tokio::test]
async fn invalid_requests_get_400s_in_the_providers_shape() {
    let p = FakeProvider::start().await;
    p.set_rerank_format(RerankFormat::Cohere);
    for (body, want) in [
        (
            json!({"model": "m", "query": "q", "documents": []}),
            "list of documents must not be empty",
        ),
        (
            json!({"model": "m", "query": "  ", "documents": ["a"]}),
            "query must not be empty",
        ),
        (
            json!({"query": "q", "documents": ["a"]}),
            "a model parameter is required",
        ),
        (
            json!({"model": "m", "query": "q", "documents": [1]}),
            "documents must be a list of strings",
        ),
        (
            json!({"model": "m", "query": "q", "documents": ["a"], "top_n": 0}),
            "top_n must be a positive integer",
        ),
        (
            json!({"model": "m", "query": "q", "documents": ["a"], "top_k": 1}),
            "unknown parameter top_k",
        ),
    ] {
        let resp = roundtrip(p.addr(), &rerank("/v2/rerank", &body, &[])).await;
        assert_eq!(resp.status, 400, "{body}");
        let v = resp.json();
        assert!(v["message"].as_str().unwrap().contains(want), "{v}");
        assert!(v["id"].is_string());
    }
    let get = roundtrip(p.addr(), &request("GET", "/v1/rerank", &[], "")).await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn key_checks_and_queued_errors_work_as_on_other_routes() {
    let p = FakeProvider::start().await;
    p.accept_keys(&["jina_good", "jina_busy"]);
    p.rate_limit_key("jina_busy", 7);
    let body = capitals(json!({}));

    let missing = roundtrip(p.addr(), &rerank("/v1/rerank", &body, &[])).await;
    assert_eq!(missing.status, 401);
    assert!(missing.json()["detail"].is_string());

    let wrong = roundtrip(
        p.addr(),
        &rerank("/v1/rerank", &body, &[("authorization", "Bearer nope")]),
    )
    .await;
    assert_eq!(wrong.status, 401);

    let busy = roundtrip(
        p.addr(),
        &rerank(
            "/v1/rerank",
            &body,
            &[("authorization", "Bearer jina_busy")],
        ),
    )
    .await;
    assert_eq!(busy.status, 429);
    assert_eq!(busy.header("retry-after"), Some("7"));

    let good = [("authorization", "Bearer jina_good")];
    p.push(ErrorReply::server_error(503));
    let down = roundtrip(p.addr(), &rerank("/v1/rerank", &body, &good)).await;
    assert_eq!(down.status, 503);
    assert_eq!(down.json(), json!({"detail": "Internal Server Error"}));
    p.push(ErrorReply::custom(418, r#"{"detail":"teapot"}"#).header("x-extra", "1"));
    let custom = roundtrip(p.addr(), &rerank("/v1/rerank", &body, &good)).await;
    assert_eq!((custom.status, custom.header("x-extra")), (418, Some("1")));
    p.push(ErrorReply::model_not_found("rerank-x"));
    let unknown = roundtrip(p.addr(), &rerank("/v1/rerank", &body, &good)).await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.json()["detail"]
            .as_str()
            .unwrap()
            .contains("model 'rerank-x' not found")
    );

    let ok = roundtrip(p.addr(), &rerank("/v1/rerank", &body, &good)).await;
    assert_eq!(ok.status, 200);
    let recorded = p.requests().last().unwrap().clone();
    assert_eq!(recorded.path, "/v1/rerank");
    assert_eq!(recorded.json(), body);
}
