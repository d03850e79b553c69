//! The rerank adapter against the fake provider over loopback: the exact request each
//! dialect sends, reading each provider's answer, and the errors.

mod common;

use common::http;
use std::sync::Arc;
use std::time::Duration;

use orchard_core::base_url::resolve_api_base;
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::secret::ApiKey;
use orchard_llm::{
    ProviderEndpoint, ProviderErrorKind, RankedDocument, RerankDialect, RerankProvider,
    connect_reranker, connect_reranker_as,
};
use orchard_net::NetConfig;
use orchard_testkit::{ErrorReply, FakeProvider, RerankFormat, fake_relevance};

const KEY: &str = "jina_0123456789abcdefghijklmnopqrstuv";

fn endpoint(base: &str, protocol: Protocol) -> ProviderEndpoint {
    ProviderEndpoint {
        name: "reranker".into(),
        protocol,
        base_url: resolve_api_base(base).unwrap(),
        key: Some(ApiKey::parse(KEY).unwrap()),
        quirks: Quirks::default(),
    }
}

fn reranker(fake: &FakeProvider, dialect: RerankDialect) -> Arc<dyn RerankProvider> {
    connect_reranker_as(
        endpoint(&fake.base_url(), Protocol::OpenAi),
        http(NetConfig::default()),
        dialect,
    )
}

const QUERY: &str = "capital of France";

fn documents() -> Vec<String> {
    [
        "Berlin is the capital of Germany.",
        "Paris is the capital of France.",
        "Bananas are yellow.",
        "France borders Spain.",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The ranking the fake gives, best first, ties in input order.
fn expected(top: usize) -> Vec<RankedDocument> {
    let mut all: Vec<RankedDocument> = documents()
        .iter()
        .enumerate()
        .map(|(index, d)| RankedDocument {
            index,
            relevance_score: fake_relevance(QUERY, d),
        })
        .collect();
    all.sort_by(|a, b| {
        b.relevance_score
            .total_cmp(&a.relevance_score)
            .then(a.index.cmp(&b.index))
    });
    all.truncate(top);
    all
}

#[tokio::test]
async fn jina_style_rerank_end_to_end() {
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    let r = reranker(&fake, RerankDialect::Standard);
    assert_eq!(r.name(), "reranker");
    let got = r
        .rerank(
            "jina-reranker-v2-base-multilingual",
            QUERY,
            &documents(),
            Some(3),
        )
        .await
        .unwrap();
    assert_eq!(got.results, expected(3));
    assert_eq!(got.results[0].index, 1);
    assert_eq!(got.total_tokens, Some(5 * 4 + 9 + 8 + 5 + 6));
    assert_eq!(got.search_units, None);

    let sent = fake.wait_for_request(1).await;
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/rerank")
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(sent.body).unwrap(),
        r#"{"model":"jina-reranker-v2-base-multilingual","query":"capital of France","documents":["Berlin is the capital of Germany.","Paris is the capital of France.","Bananas are yellow.","France borders Spain."],"top_n":3}"#
    );
}

#[tokio::test]
async fn cohere_answers_are_read_with_their_billed_units() {
    let fake = FakeProvider::start().await;
    fake.set_rerank_format(RerankFormat::Cohere);
    let r = reranker(&fake, RerankDialect::Standard);
    let got = r
        .rerank("rerank-v3.5", QUERY, &documents(), None)
        .await
        .unwrap();
    assert_eq!(got.results, expected(4));
    assert_eq!((got.total_tokens, got.search_units), (None, Some(1)));
    let sent = fake.wait_for_request(1).await.json();
    assert!(
        sent.get("top_n").is_none() && sent.get("top_k").is_none(),
        "{sent}"
    );
}

#[tokio::test]
async fn voyage_requests_send_top_k_and_answers_in_data_are_read() {
    let fake = FakeProvider::start().await;
    fake.set_rerank_format(RerankFormat::Voyage);
    let got = reranker(&fake, RerankDialect::Voyage)
        .rerank("rerank-2.5", QUERY, &documents(), Some(2))
        .await
        .unwrap();
    assert_eq!(got.results, expected(2));
    assert_eq!(
        String::from_utf8(fake.wait_for_request(1).await.body).unwrap(),
        r#"{"model":"rerank-2.5","query":"capital of France","documents":["Berlin is the capital of Germany.","Paris is the capital of France.","Bananas are yellow.","France borders Spain."],"top_k":2}"#
    );
    // The fake imitating Voyage refuses `top_n`, so the dialect matters.
    let err = reranker(&fake, RerankDialect::Standard)
        .rerank("rerank-2.5", QUERY, &documents(), Some(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::BadRequest);
    assert!(err.to_string().contains("unknown parameter top_n"), "{err}");
}

#[tokio::test]
async fn nothing_to_rank_sends_nothing() {
    let fake = FakeProvider::start().await;
    let r = reranker(&fake, RerankDialect::Standard);
    assert!(
        r.rerank("m", QUERY, &[], Some(3))
            .await
            .unwrap()
            .results
            .is_empty()
    );
    assert!(
        r.rerank("m", QUERY, &documents(), Some(0))
            .await
            .unwrap()
            .results
            .is_empty()
    );
    assert!(fake.requests().is_empty());
}

const BAD_KEY: &str = "jina_9876543210zyxwvutsrqponmlkjihgfe";

#[tokio::test]
async fn errors_are_sorted_into_the_usual_kinds() {
    let fake = FakeProvider::start().await;
    fake.reject_key(BAD_KEY);
    for format in [
        RerankFormat::Jina,
        RerankFormat::Cohere,
        RerankFormat::Voyage,
    ] {
        fake.set_rerank_format(format);
        let dialect = if format == RerankFormat::Voyage {
            RerankDialect::Voyage
        } else {
            RerankDialect::Standard
        };
        let r = reranker(&fake, dialect);
        let docs = documents();

        let bad = connect_reranker_as(
            ProviderEndpoint {
                key: Some(ApiKey::parse(BAD_KEY).unwrap()),
                ..endpoint(&fake.base_url(), Protocol::OpenAi)
            },
            http(NetConfig::default()),
            dialect,
        );
        let err = bad.rerank("m", QUERY, &docs, None).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::BadKey, "{format:?}: {err}");
        assert_eq!(err.status, Some(401));
        let msg = err.to_string();
        assert!(
            msg.starts_with("reranker rejected the API key jina_…hgfe (401)"),
            "{msg}"
        );
        assert!(!msg.contains(BAD_KEY), "{msg}");

        fake.push(ErrorReply::rate_limited(9));
        let err = r.rerank("m", QUERY, &docs, None).await.unwrap_err();
        assert_eq!(
            err.kind,
            ProviderErrorKind::RateLimited,
            "{format:?}: {err}"
        );
        assert_eq!(err.retry_after, Some(Duration::from_secs(9)));

        for status in [500, 502, 503] {
            fake.push(ErrorReply::server_error(status));
            let err = r.rerank("m", QUERY, &docs, None).await.unwrap_err();
            assert_eq!(
                err.kind,
                ProviderErrorKind::Server,
                "{format:?} {status}: {err}"
            );
            assert_eq!(err.status, Some(status));
        }

        fake.push(ErrorReply::model_not_found("rerank-nope"));
        let err = r
            .rerank("rerank-nope", QUERY, &docs, None)
            .await
            .unwrap_err();
        assert_eq!(
            err.kind,
            ProviderErrorKind::UnknownModel,
            "{format:?}: {err}"
        );
    }
}

#[tokio::test]
async fn a_provider_without_a_rerank_endpoint_is_named_as_such() {
    let fake = FakeProvider::start().await;
    // The fake answers OpenAI's 404 for paths it does not serve, as OpenAI does.
    let r = connect_reranker_as(
        endpoint(&format!("{}/v9", fake.root_url()), Protocol::OpenAi),
        http(NetConfig::default()),
        RerankDialect::Standard,
    );
    let err = r.rerank("m", QUERY, &documents(), None).await.unwrap_err();
    assert_eq!(err.status, Some(404));
    let msg = err.to_string();
    assert!(
        msg.contains("there is no rerank endpoint at /v9/rerank")
            && msg.contains("not every provider offers reranking"),
        "{msg}"
    );
}

#[tokio::test]
async fn only_openai_compatible_endpoints_get_a_reranker() {
    let fake = FakeProvider::start().await;
    let client = http(NetConfig::default());
    for protocol in [
        Protocol::OpenAiResponses,
        Protocol::Azure,
        Protocol::Anthropic,
        Protocol::Gemini,
        Protocol::Ollama,
    ] {
        assert!(
            connect_reranker(endpoint(&fake.root_url(), protocol), client.clone()).is_none(),
            "{protocol:?}"
        );
    }
    let r = connect_reranker(endpoint(&fake.base_url(), Protocol::OpenAi), client).unwrap();
    let got = r.rerank("m", QUERY, &documents(), Some(1)).await.unwrap();
    assert_eq!(got.results, expected(1));
}
