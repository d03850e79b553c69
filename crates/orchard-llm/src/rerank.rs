//! Reranking: scoring documents against a query with a cross-encoder model, through the
//! `POST {base}/rerank` JSON API that Jina, Cohere and Voyage (and many compatible
//! gateways) share, with one difference in each direction:
//!
//! - request: `{"model", "query", "documents": [strings], "top_n"}`; Voyage names the
//!   count `top_k` ([`RerankDialect::Voyage`]);
//! - answer: Jina and Cohere list `results: [{"index", "relevance_score"}]` (Jina adds
//!   the `document`, and `usage.total_tokens`; Cohere adds `meta.billed_units`);
//!   Voyage lists `data: [{"relevance_score", "index"}]` with `usage.total_tokens`.
//!   Either list is read, whatever the dialect.
//!
//! Errors are the providers' usual JSON bodies (Cohere `{"message"}`, Jina and Voyage
//! `{"detail"}`) and are sorted into the same [`ProviderError`] kinds as every other call:
//! 401 a bad key, 429 a rate limit with its `Retry-After`, 5xx a server error.

use async_trait::async_trait;
use orchard_core::base_url::endpoint;
use orchard_core::egress::Purpose;
use orchard_net::{HttpClient, Url};
use serde::Serialize;
use serde_json::Value;

use crate::transport::{Auth, Transport, protocol_error};
use crate::{ProviderEndpoint, ProviderError, ProviderErrorKind};

/// How errors name a rerank answer.
const RERANKING: &str = "the rerank answer";

/// One document's relevance to the query.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedDocument {
    /// The document's position in the list sent.
    pub index: usize,
    /// The provider's relevance score (higher is more relevant; Jina, Cohere and Voyage
    /// give values between 0 and 1, but only the order is comparable across models).
    pub relevance_score: f64,
}

/// The answer to one rerank request.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Reranking {
    /// The documents ranked, most relevant first (ties in input order); all of them, or
    /// the `top_n` asked for.
    pub results: Vec<RankedDocument>,
    /// Tokens billed, if the provider says (Jina, Voyage: `usage.total_tokens`).
    pub total_tokens: Option<u64>,
    /// Search units billed, if the provider says (Cohere: `meta.billed_units`).
    pub search_units: Option<u64>,
}

/// A provider that can rerank documents against a query.
#[async_trait]
pub trait RerankProvider: Send + Sync {
    /// The provider's name in Orchard, for messages.
    fn name(&self) -> &str;

    /// Ranks `documents` by relevance to `query` with `model`, returning at most `top_n`
    /// results (all when `None`). No documents (or `top_n` of 0) is an empty answer,
    /// without a request.
    async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
        top_n: Option<usize>,
    ) -> Result<Reranking, ProviderError>;
}

/// Which variant of the rerank API an endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RerankDialect {
    /// Jina, Cohere and most compatible servers: `top_n`, answers in `results`.
    Standard,
    /// Voyage AI (also served by MongoDB Atlas as `ai.mongodb.com`): `top_k`, answers
    /// in `data`.
    Voyage,
}

impl RerankDialect {
    /// The dialect of a base URL, by its host: Voyage's hosts (`*.voyageai.com`,
    /// `ai.mongodb.com`) speak [`RerankDialect::Voyage`], every other host
    /// [`RerankDialect::Standard`].
    pub fn for_url(base_url: &Url) -> RerankDialect {
        let host = base_url
            .host_str()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host == "voyageai.com" || host.ends_with(".voyageai.com") || host == "ai.mongodb.com" {
            RerankDialect::Voyage
        } else {
            RerankDialect::Standard
        }
    }
}

/// The request body, with fields in a fixed order so tests can compare bytes.
#[derive(Serialize)]
struct WireRerank<'a> {
    model: &'a str,
    query: &'a str,
    documents: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    top_n: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
}

/// The JSON body sent for one rerank request.
pub(crate) fn request_body(
    dialect: RerankDialect,
    model: &str,
    query: &str,
    documents: &[String],
    top_n: Option<usize>,
) -> Vec<u8> {
    let (top_n, top_k) = match dialect {
        RerankDialect::Standard => (top_n, None),
        RerankDialect::Voyage => (None, top_n),
    };
    let body = WireRerank {
        model,
        query,
        documents,
        top_n,
        top_k,
    };
    // Strings and numbers only: serializing cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Reads a rerank answer for `count` documents: `results` or `data`, each entry's
/// `index` and `relevance_score`, checked (an index out of range, twice, or a score that
/// is not a finite number is the provider's error), sorted best first and cut to
/// `top_n`.
pub(crate) fn parse_answer(
    provider: &str,
    model: &str,
    v: &Value,
    count: usize,
    top_n: Option<usize>,
) -> Result<Reranking, ProviderError> {
    let bad = |detail: String| protocol_error(provider, Some(model), detail);
    let list = v
        .get("results")
        .or_else(|| v.get("data"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(format!(
                "{RERANKING} has no \"results\" (or \"data\") array"
            ))
        })?;
    let mut seen = vec![false; count];
    let mut results = Vec::with_capacity(list.len());
    for item in list {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| bad(format!("{RERANKING} has an entry without an index")))?;
        if index >= count {
            return Err(bad(format!(
                "{RERANKING} ranks document {index}, but only {count} were sent"
            )));
        }
        if std::mem::replace(&mut seen[index], true) {
            return Err(bad(format!("{RERANKING} ranks document {index} twice")));
        }
        let relevance_score = item
            .get("relevance_score")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite())
            .ok_or_else(|| {
                bad(format!(
                    "{RERANKING} has no relevance score for document {index}"
                ))
            })?;
        results.push(RankedDocument {
            index,
            relevance_score,
        });
    }
    results.sort_by(|a, b| {
        b.relevance_score
            .total_cmp(&a.relevance_score)
            .then(a.index.cmp(&b.index))
    });
    if let Some(n) = top_n {
        results.truncate(n);
    }
    Ok(Reranking {
        results,
        total_tokens: v.pointer("/usage/total_tokens").and_then(Value::as_u64),
        search_units: v
            .pointer("/meta/billed_units/search_units")
            .and_then(Value::as_u64),
    })
}

/// The rerank adapter: `POST {base}/rerank` with a bearer key.
pub(crate) struct RerankAdapter {
    t: Transport,
    dialect: RerankDialect,
}

impl RerankAdapter {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient, dialect: RerankDialect) -> Self {
        Self {
            t: Transport::new(ep, http, Auth::Bearer),
            dialect,
        }
    }
}

#[async_trait]
impl RerankProvider for RerankAdapter {
    fn name(&self) -> &str {
        &self.t.ep.name
    }

    async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
        top_n: Option<usize>,
    ) -> Result<Reranking, ProviderError> {
        if documents.is_empty() || top_n == Some(0) {
            return Ok(Reranking::default());
        }
        let url = endpoint(&self.t.ep.base_url, "rerank");
        let path = url.path().to_owned();
        let body = request_body(self.dialect, model, query, documents, top_n);
        let purpose = Purpose::rerank(&self.t.ep.name);
        let v = self
            .t
            .post_json(url, purpose, model, body, RERANKING)
            .await
            .map_err(|e| no_rerank_endpoint(e, &path))?;
        parse_answer(&self.t.ep.name, model, &v, documents.len(), top_n)
    }
}

/// A 404 for the endpoint itself (not for the model) means the provider does not offer
/// reranking there; say so rather than "no chat endpoint".
fn no_rerank_endpoint(mut e: ProviderError, path: &str) -> ProviderError {
    if e.kind == ProviderErrorKind::WrongEndpoint {
        let said = e
            .message
            .take()
            .map(|m| format!(" (it said: {m})"))
            .unwrap_or_default();
        e.kind = ProviderErrorKind::BadRequest;
        e.message = Some(format!(
            "there is no rerank endpoint at {path}{said}; not every provider offers reranking (Jina, Cohere and Voyage do), or the base URL is wrong"
        ));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs() -> Vec<String> {
        [
            "Carson City is the capital of Nevada.",
            "Washington, D.C. is the capital of the United States.",
            "Capital punishment",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn body(dialect: RerankDialect, top_n: Option<usize>) -> String {
        String::from_utf8(request_body(
            dialect,
            "rerank-v3.5",
            "What is the capital of the United States?",
            &docs(),
            top_n,
        ))
        .unwrap()
    }

    #[test]
    fn jina_and_cohere_requests_carry_top_n() {
        assert_eq!(
            body(RerankDialect::Standard, Some(2)),
            r#"{"model":"rerank-v3.5","query":"What is the capital of the United States?","documents":["Carson City is the capital of Nevada.","Washington, D.C. is the capital of the United States.","Capital punishment"],"top_n":2}"#
        );
        assert_eq!(
            body(RerankDialect::Standard, None),
            r#"{"model":"rerank-v3.5","query":"What is the capital of the United States?","documents":["Carson City is the capital of Nevada.","Washington, D.C. is the capital of the United States.","Capital punishment"]}"#
        );
    }

    #[test]
    fn voyage_requests_carry_top_k() {
        assert_eq!(
            body(RerankDialect::Voyage, Some(2)),
            r#"{"model":"rerank-v3.5","query":"What is the capital of the United States?","documents":["Carson City is the capital of Nevada.","Washington, D.C. is the capital of the United States.","Capital punishment"],"top_k":2}"#
        );
        assert!(!body(RerankDialect::Voyage, None).contains("top_"));
    }

    #[test]
    fn the_dialect_follows_the_host() {
        let d = |u: &str| RerankDialect::for_url(&Url::parse(u).unwrap());
        assert_eq!(d("https://api.voyageai.com/v1"), RerankDialect::Voyage);
        assert_eq!(d("https://ai.mongodb.com/v1"), RerankDialect::Voyage);
        assert_eq!(d("https://api.jina.ai/v1"), RerankDialect::Standard);
        assert_eq!(d("https://api.cohere.com/v2"), RerankDialect::Standard);
        assert_eq!(d("https://notvoyageai.com/v1"), RerankDialect::Standard);
        assert_eq!(d("http://127.0.0.1:8080/v1"), RerankDialect::Standard);
    }

    fn parse(v: Value, count: usize, top_n: Option<usize>) -> Result<Reranking, ProviderError> {
        parse_answer("p", "m", &v, count, top_n)
    }

    fn ranks(r: &Reranking) -> Vec<(usize, f64)> {
        r.results
            .iter()
            .map(|d| (d.index, d.relevance_score))
            .collect()
    }

    #[test]
    fn cohere_answers_are_read() {
        // The example answer of Cohere's v2 rerank reference.
        let v = json!({
            "results": [
                {"index": 3, "relevance_score": 0.999071},
                {"index": 4, "relevance_score": 0.7867867},
                {"index": 0, "relevance_score": 0.32713068}
            ],
            "id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
            "meta": {"api_version": {"version": "2", "is_experimental": false}, "billed_units": {"search_units": 1}}
        });
        let r = parse(v, 5, Some(3)).unwrap();
        assert_eq!(ranks(&r), [(3, 0.999071), (4, 0.7867867), (0, 0.32713068)]);
        assert_eq!((r.total_tokens, r.search_units), (None, Some(1)));
    }

    #[test]
    fn jina_answers_with_documents_are_read() {
        let v = json!({
            "model": "jina-reranker-v2-base-multilingual",
            "usage": {"total_tokens": 815},
            "results": [
                {"index": 0, "document": {"text": "Organic skincare"}, "relevance_score": 0.87831425},
                {"index": 2, "document": {"text": "Bio-Hautpflege"}, "relevance_score": 0.7624676}
            ]
        });
        let r = parse(v, 3, Some(2)).unwrap();
        assert_eq!(ranks(&r), [(0, 0.878_314_25), (2, 0.762_467_6)]);
        assert_eq!((r.total_tokens, r.search_units), (Some(815), None));
    }

    #[test]
    fn voyage_answers_are_read_and_sorted() {
        // Sorted here even if a server lists them in input order.
        let v = json!({
            "object": "list",
            "data": [
                {"relevance_score": 0.4375, "index": 0},
                {"relevance_score": 0.5, "index": 1},
                {"relevance_score": 0.5, "index": 2}
            ],
            "model": "rerank-2",
            "usage": {"total_tokens": 26}
        });
        let r = parse(v, 3, None).unwrap();
        assert_eq!(ranks(&r), [(1, 0.5), (2, 0.5), (0, 0.4375)]);
        assert_eq!(r.total_tokens, Some(26));
        // More than asked for is cut to what was asked.
        let v = json!({"data": [{"index": 0, "relevance_score": 0.1}, {"index": 1, "relevance_score": 0.9}]});
        assert_eq!(ranks(&parse(v, 2, Some(1)).unwrap()), [(1, 0.9)]);
    }

    #[test]
    fn answers_that_do_not_fit_the_request_are_protocol_errors() {
        for (v, want) in [
            (
                json!({"object": "list"}),
                "has no \"results\" (or \"data\") array",
            ),
            (
                json!({"results": [{"relevance_score": 0.1}]}),
                "an entry without an index",
            ),
            (
                json!({"results": [{"index": 3, "relevance_score": 0.1}]}),
                "ranks document 3, but only 2 were sent",
            ),
            (
                json!({"results": [{"index": 1, "relevance_score": 0.1}, {"index": 1, "relevance_score": 0.2}]}),
                "ranks document 1 twice",
            ),
            (
                json!({"results": [{"index": 0, "relevance_score": "high"}]}),
                "no relevance score for document 0",
            ),
        ] {
            let e = parse(v, 2, None).unwrap_err();
            assert_eq!(e.kind, ProviderErrorKind::Protocol);
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg}");
            assert!(
                msg.starts_with("p sent a response Orchard cannot read"),
                "{msg}"
            );
        }
    }
}
