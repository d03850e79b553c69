//! Reranking: `POST /v1/rerank` (Jina, Voyage) and `POST /v2/rerank`
//! (Cohere), answered in the format chosen with
//! [`FakeProvider::set_rerank_format`](crate::FakeProvider::set_rerank_format)
//! (Jina unless set), with [`fake_relevance`] scores.
//!
//! Keys are read as bearer tokens and checked like every other route
//! (`require_key`, `reject_key`, `rate_limit_key`); queued errors are popped
//! (a queued answer is left for a generation). Errors have the imitated
//! provider's body shape: Cohere `{"id", "message"}`, Jina and Voyage
//! `{"detail"}`; rate limits carry `retry-after`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::embed::tokens;
use crate::errors::Rendered;
use crate::json::{J, obj};
use crate::proto::{self, Protocol};
use crate::provider::{Conn, Next, RecordedRequest, Shared, json_object};
use crate::reply::{ErrorKind, ErrorReply};

/// Which rerank API the fake imitates on its rerank paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RerankFormat {
    /// Jina AI: `top_n`; answers `{"model", "usage": {"total_tokens"},
    /// "results": [{"index", "document": {"text"}, "relevance_score"}]}`, the
    /// `document` left out when the request says `"return_documents": false`.
    #[default]
    Jina,
    /// Cohere (v2): `top_n`; answers `{"results": [{"index",
    /// "relevance_score"}], "id", "meta": {"api_version", "billed_units":
    /// {"search_units": 1}}}`.
    Cohere,
    /// Voyage AI: `top_k`; answers `{"object": "list", "data":
    /// [{"relevance_score", "index"}], "model", "usage": {"total_tokens"}}`,
    /// with `"document"` (the string) when the request says
    /// `"return_documents": true`.
    Voyage,
}

/// Most documents one request may carry (the limit Voyage documents, and
/// Cohere's recommended maximum).
const MAX_DOCUMENTS: usize = 1000;

/// Lower-case words of `text`: runs of letters and digits.
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The relevance score the fake gives `document` for `query`: the fraction
/// of the query's distinct words (runs of letters and digits, compared
/// without case) that occur in the document. 0 when the query has no words.
/// Deterministic, so tests can compute the expected ranking.
pub fn fake_relevance(query: &str, document: &str) -> f64 {
    let q = words(query);
    if q.is_empty() {
        return 0.0;
    }
    let d = words(document);
    let hits = q.iter().filter(|w| d.contains(*w)).count();
    // Word counts are far below 2^52: the conversions are exact.
    hits as f64 / q.len() as f64
}

fn rendered(status: u16, body: J) -> Rendered {
    Rendered {
        status,
        content_type: "application/json".to_owned(),
        headers: Vec::new(),
        body: body.render(),
    }
}

/// An error body in `format`'s shape.
fn error(format: RerankFormat, n: u64, status: u16, message: &str) -> Rendered {
    match format {
        RerankFormat::Cohere => rendered(status, obj! { "id": proto::uuid(n), "message": message }),
        RerankFormat::Jina | RerankFormat::Voyage => rendered(status, obj! { "detail": message }),
    }
}

/// A scripted error as the imitated provider sends it.
fn render(format: RerankFormat, n: u64, reply: &ErrorReply) -> Rendered {
    let mut out = match &reply.kind {
        None => Rendered {
            status: reply.status,
            content_type: reply.content_type.clone(),
            headers: Vec::new(),
            body: reply.body.clone(),
        },
        Some(kind) => kind_error(format, n, kind, reply.status),
    };
    out.headers.extend(reply.headers.iter().cloned());
    out
}

fn kind_error(format: RerankFormat, n: u64, kind: &ErrorKind, status: u16) -> Rendered {
    let cohere = format == RerankFormat::Cohere;
    match kind {
        ErrorKind::InvalidApiKey { .. } => {
            let message = match format {
                RerankFormat::Cohere => "invalid api token",
                RerankFormat::Voyage => "Provided API key is invalid.",
                RerankFormat::Jina => {
                    "Invalid API key, please check your API key at https://jina.ai"
                }
            };
            error(format, n, 401, message)
        }
        ErrorKind::MissingApiKey => {
            let message = if cohere {
                "no api key supplied"
            } else {
                "No API key provided. Please add an Authorization: Bearer header."
            };
            error(format, n, 401, message)
        }
        ErrorKind::ModelNotFound { model } => error(
            format,
            n,
            404,
            &format!(
                "model '{model}' not found, make sure the correct model ID was used and that you have access to the model."
            ),
        ),
        ErrorKind::ContextLengthExceeded => error(
            format,
            n,
            400,
            "too many tokens: the query is longer than the model's context length",
        ),
        ErrorKind::RateLimited { retry_after_secs } => {
            let message = if cohere {
                "You are past the per minute request limit, please wait and try again later."
            } else {
                "Rate limit exceeded. Please pace your requests."
            };
            let mut r = error(format, n, 429, message);
            r.headers
                .push(("retry-after".to_owned(), retry_after_secs.to_string()));
            r
        }
        ErrorKind::ServerError => {
            let message = if cohere {
                "internal server error, this has been reported to our developers"
            } else {
                "Internal Server Error"
            };
            error(format, n, status, message)
        }
    }
}

/// The texts of `documents`: strings, or Jina's `{"text": ...}` objects.
fn documents_of(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|d| match d {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("text").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// `POST /v1/rerank` and `POST /v2/rerank`.
pub(crate) async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let format = shared.lock().rerank_format;
    let n = conn.n;
    let r = match answer(format, n, shared, req) {
        Ok(body) => Rendered {
            status: 200,
            content_type: "application/json".to_owned(),
            headers: Vec::new(),
            body: body.render(),
        },
        Err(r) => r,
    };
    conn.respond_rendered(Protocol::OpenAi, &r).await
}

fn answer(
    format: RerankFormat,
    n: u64,
    shared: &Shared,
    req: &RecordedRequest,
) -> Result<J, Rendered> {
    let fail = |status: u16, message: &str| error(format, n, status, message);
    if req.method != "POST" {
        return Err(fail(405, "Method Not Allowed"));
    }
    if let Some(denied) = shared.key_error(Protocol::OpenAi, req) {
        return Err(render(format, n, &denied));
    }
    let Some(body) = json_object(req) else {
        return Err(fail(400, "invalid request: the body is not a JSON object"));
    };
    if let Some(queued) = shared.pop_error() {
        return Err(render(format, n, &queued));
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return Err(fail(
            400,
            "invalid request: a model parameter is required for this endpoint.",
        ));
    }
    let query = body.get("query").and_then(Value::as_str).unwrap_or("");
    if query.trim().is_empty() {
        return Err(fail(
            400,
            "invalid request: query must not be empty or be only whitespace",
        ));
    }
    let Some(documents) = documents_of(body.get("documents")) else {
        return Err(fail(
            400,
            "invalid request: documents must be a list of strings",
        ));
    };
    if documents.is_empty() {
        return Err(fail(
            400,
            "invalid request: list of documents must not be empty",
        ));
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(fail(
            400,
            &format!("invalid request: the number of documents cannot exceed {MAX_DOCUMENTS}"),
        ));
    }
    // The fake refuses the other dialect's count, so tests prove which one a
    // client sends.
    let (field, other) = match format {
        RerankFormat::Voyage => ("top_k", "top_n"),
        RerankFormat::Jina | RerankFormat::Cohere => ("top_n", "top_k"),
    };
    if body.get(other).is_some() {
        return Err(fail(
            400,
            &format!("invalid request: unknown parameter {other} (this API takes {field})"),
        ));
    }
    let top = match body.get(field) {
        None | Some(Value::Null) => documents.len(),
        Some(v) => match v.as_u64().and_then(|t| usize::try_from(t).ok()) {
            Some(t) if t >= 1 => t.min(documents.len()),
            _ => {
                return Err(fail(
                    400,
                    &format!("invalid request: {field} must be a positive integer"),
                ));
            }
        },
    };
    let mut ranked: Vec<(usize, f64)> = documents
        .iter()
        .enumerate()
        .map(|(i, d)| (i, fake_relevance(query, d)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(top);
    let total_tokens = tokens(query)
        .saturating_mul(u32::try_from(documents.len()).unwrap_or(u32::MAX))
        + documents.iter().map(|d| tokens(d)).sum::<u32>();
    let return_documents = body.get("return_documents").and_then(Value::as_bool);
    Ok(match format {
        RerankFormat::Jina => {
            let with_text = return_documents.unwrap_or(true);
            let results: Vec<J> = ranked
                .iter()
                .map(|(i, s)| {
                    if with_text {
                        obj! { "index": *i, "document": obj! { "text": &documents[*i] }, "relevance_score": *s }
                    } else {
                        obj! { "index": *i, "relevance_score": *s }
                    }
                })
                .collect();
            obj! {
                "model": model,
                "usage": obj! { "total_tokens": total_tokens },
                "results": results,
            }
        }
        RerankFormat::Cohere => {
            let results: Vec<J> = ranked
                .iter()
                .map(|(i, s)| obj! { "index": *i, "relevance_score": *s })
                .collect();
            obj! {
                "results": results,
                "id": proto::uuid(n),
                "meta": obj! {
                    "api_version": obj! { "version": "2", "is_experimental": false },
                    "billed_units": obj! { "search_units": 1u32 },
                },
            }
        }
        RerankFormat::Voyage => {
            let with_text = return_documents.unwrap_or(false);
            let data: Vec<J> = ranked
                .iter()
                .map(|(i, s)| {
                    if with_text {
                        obj! { "relevance_score": *s, "index": *i, "document": &documents[*i] }
                    } else {
                        obj! { "relevance_score": *s, "index": *i }
                    }
                })
                .collect();
            obj! {
                "object": "list",
                "data": data,
                "model": model,
                "usage": obj! { "total_tokens": total_tokens },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_is_the_share_of_query_words_in_the_document() {
        assert_eq!(
            fake_relevance("capital of France", "Paris is the capital of France."),
            1.0
        );
        assert_eq!(
            fake_relevance("capital of France", "The capital of Spain"),
            2.0 / 3.0
        );
        assert_eq!(fake_relevance("Capital", "CAPITAL letters"), 1.0);
        assert_eq!(fake_relevance("the the", "the"), 1.0);
        assert_eq!(fake_relevance("", "anything"), 0.0);
        assert_eq!(fake_relevance("zebra", ""), 0.0);
    }
}
