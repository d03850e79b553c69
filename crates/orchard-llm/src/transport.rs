//! What every adapter does the same way: put the key in the one header its protocol
//! uses, send through the shared client, and turn a failed response into a
//! [`ProviderError`].

use orchard_core::egress::Purpose;
use orchard_net::header::{ACCEPT, HeaderName, HeaderValue};
use orchard_net::{HttpClient, Method, NetError, RequestBuilder, Response, Url};
use serde_json::Value;

use crate::error::{HttpFailure, from_http, retry_after};
use crate::stream::Ctx;
use crate::{ChatRequest, ProviderEndpoint, ProviderError, RemoteModel};

/// How a paginated model list asks for its next page.
pub(crate) struct Paging {
    /// Query parameter for the page size (a thousand is asked for).
    pub size: &'static str,
    /// Query parameter that carries the cursor.
    pub cursor: &'static str,
    /// The next page's cursor in an answer, if there is a next page.
    pub next: fn(&Value) -> Option<String>,
}

/// Most pages of a model list read (20 000 models at a thousand a page).
const MAX_PAGES: usize = 20;

/// Largest non-streamed body accepted (an answer, a model list, embeddings).
pub(crate) const MAX_BODY: u64 = 64 * 1024 * 1024;
/// How errors name an embedding answer.
pub(crate) const EMBEDDINGS: &str = "the embedding answer";
/// Largest error body read.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// How a protocol carries the key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI and most others).
    Bearer,
    /// The key alone in a named header (`x-api-key`, `x-goog-api-key`, `api-key`).
    Header(&'static str),
}

/// An endpoint plus the client, for one adapter.
pub(crate) struct Transport {
    pub ep: ProviderEndpoint,
    pub http: HttpClient,
    pub auth: Auth,
    /// Headers every request of the protocol carries (Anthropic's version).
    pub fixed: &'static [(&'static str, &'static str)],
}

impl Transport {
    pub fn new(ep: ProviderEndpoint, http: HttpClient, auth: Auth) -> Self {
        Self {
            ep,
            http,
            auth,
            fixed: &[],
        }
    }

    /// A request to `url` for `purpose`, accepting `accept`.
    pub fn request(
        &self,
        method: Method,
        url: Url,
        purpose: Purpose,
        accept: &'static str,
    ) -> RequestBuilder {
        self.fixed.iter().fold(
            self.http
                .request(method, url, purpose)
                .header(ACCEPT, HeaderValue::from_static(accept)),
            |rb, (name, value)| {
                rb.header(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            },
        )
    }

    /// What a decoder needs to describe errors in answers from `model`.
    pub fn ctx(&self, model: &str) -> Ctx {
        Ctx {
            provider: self.ep.name.clone(),
            model: model.to_owned(),
            key: self.ep.key.clone(),
        }
    }

    /// POSTs a generation request with `body`, asking for `stream_type` (SSE or NDJSON)
    /// when `req` streams and for JSON otherwise.
    pub async fn generate(
        &self,
        url: Url,
        req: &ChatRequest,
        stream_type: &'static str,
        body: Vec<u8>,
    ) -> Result<Response, ProviderError> {
        let accept = if req.stream {
            stream_type
        } else {
            "application/json"
        };
        let rb = self
            .request(Method::POST, url, Purpose::chat(&self.ep.name), accept)
            .json_body(body);
        self.send(rb, Some(&req.model)).await
    }

    /// GETs `url` for `purpose` and reads the answer (`what`, for errors) as JSON.
    pub async fn get_json(
        &self,
        url: Url,
        purpose: Purpose,
        what: &str,
    ) -> Result<Value, ProviderError> {
        let rb = self.request(Method::GET, url, purpose, "application/json");
        let resp = self.send(rb, None).await?;
        self.read_json(resp, None, what).await
    }

    /// POSTs an embedding request for `model` and reads the answer as JSON.
    pub async fn embed(&self, url: Url, model: &str, body: &Value) -> Result<Value, ProviderError> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.post_json(
            url,
            Purpose::embeddings(&self.ep.name),
            model,
            body,
            EMBEDDINGS,
        )
        .await
    }

    /// POSTs the JSON `body` of a request for `model` and reads the answer (`what`, for
    /// errors) as JSON.
    pub async fn post_json(
        &self,
        url: Url,
        purpose: Purpose,
        model: &str,
        body: Vec<u8>,
        what: &str,
    ) -> Result<Value, ProviderError> {
        let rb = self
            .request(Method::POST, url, purpose, "application/json")
            .json_body(body);
        let resp = self.send(rb, Some(model)).await?;
        self.read_json(resp, Some(model), what).await
    }

    /// The whole body of `resp` as JSON; `what` names it in the error otherwise.
    pub async fn read_json(
        &self,
        resp: Response,
        model: Option<&str>,
        what: &str,
    ) -> Result<Value, ProviderError> {
        let body = self.body(resp, model).await?;
        serde_json::from_slice(&body)
            .map_err(|e| self.protocol_error(model, format!("{what} is not JSON ({e})")))
    }

    /// The model list at `url`: the array `list` of each answer, read by `item`,
    /// following pages if `paging` says how; sorted by id.
    pub async fn model_list(
        &self,
        url: Url,
        list: &str,
        paging: Option<Paging>,
        item: impl Fn(&Value) -> Option<RemoteModel>,
    ) -> Result<Vec<RemoteModel>, ProviderError> {
        const WHAT: &str = "the model list";
        let mut models = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut page = url.clone();
            if let Some(p) = &paging {
                page.query_pairs_mut().append_pair(p.size, "1000");
                if let Some(c) = &cursor {
                    page.query_pairs_mut().append_pair(p.cursor, c);
                }
            }
            let v = self
                .get_json(page, Purpose::models(&self.ep.name), WHAT)
                .await?;
            models.extend(self.array(&v, list, None, WHAT)?.iter().filter_map(&item));
            cursor = paging.as_ref().and_then(|p| (p.next)(&v));
            if cursor.is_none() {
                break;
            }
        }
        models.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(models)
    }

    /// The array at `key` of `v` (`what`, for errors), or an error that says it is
    /// missing.
    pub fn array<'v>(
        &self,
        v: &'v Value,
        key: &str,
        model: Option<&str>,
        what: &str,
    ) -> Result<&'v Vec<Value>, ProviderError> {
        v.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| self.protocol_error(model, format!("{what} has no \"{key}\" array")))
    }

    /// Adds the key (marked sensitive: it is the only place the key ever goes), sends,
    /// and returns a successful response or the provider's error.
    pub async fn send(
        &self,
        rb: RequestBuilder,
        model: Option<&str>,
    ) -> Result<Response, ProviderError> {
        let rb = match (&self.ep.key, self.auth) {
            (Some(key), Auth::Bearer) => rb
                .secret_header(
                    orchard_net::header::AUTHORIZATION,
                    &format!("Bearer {}", key.expose()),
                )
                .map_err(|e| self.net_error(model, e))?,
            (Some(key), Auth::Header(name)) => rb
                .secret_header(HeaderName::from_static(name), key.expose())
                .map_err(|e| self.net_error(model, e))?,
            (None, _) => rb,
        };
        let resp = rb.send().await.map_err(|e| self.net_error(model, e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.failure(resp, model).await)
        }
    }

    /// A whole body, bounded.
    pub async fn body(
        &self,
        resp: Response,
        model: Option<&str>,
    ) -> Result<bytes::Bytes, ProviderError> {
        resp.bytes(MAX_BODY)
            .await
            .map_err(|e| self.net_error(model, e))
    }

    /// A network failure, as a provider error.
    pub fn net_error(&self, model: Option<&str>, e: NetError) -> ProviderError {
        ProviderError {
            model: model.map(str::to_owned),
            ..ProviderError::from_net(&self.ep.name, e)
        }
    }

    /// Something that is not the protocol's documented format.
    pub fn protocol_error(&self, model: Option<&str>, detail: String) -> ProviderError {
        protocol_error(&self.ep.name, model, detail)
    }

    async fn failure(&self, resp: Response, model: Option<&str>) -> ProviderError {
        let status = resp.status().as_u16();
        // Read the headers before the body consumes the response.
        let (content_type, request_id, location, retry) = {
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry = retry_after(
                header("retry-after-ms").as_deref(),
                header("retry-after").as_deref(),
            );
            let request_id = header("x-request-id").or_else(|| header("request-id"));
            (
                header("content-type").unwrap_or_default(),
                request_id,
                header("location"),
                retry,
            )
        };
        let body = resp.bytes(MAX_ERROR_BODY).await.unwrap_or_default();
        from_http(
            &self.ep.name,
            model,
            HttpFailure {
                status,
                content_type: &content_type,
                body: &body,
                request_id,
                retry_after: retry,
                location,
            },
            self.ep.key.as_ref(),
        )
    }
}

/// A protocol violation by `provider`.
pub(crate) fn protocol_error(provider: &str, model: Option<&str>, detail: String) -> ProviderError {
    ProviderError {
        model: model.map(str::to_owned),
        message: Some(detail),
        ..ProviderError::new(crate::ProviderErrorKind::Protocol, provider)
    }
}
