//! OpenAI Chat Completions wire shapes, serialized with field order as
//! OpenAI sends them (derived structs, not `serde_json::Value` maps).
//! The other protocols build their shapes with [`crate::json::J`].

use serde::Serialize;

/// `system_fingerprint` sent on every completion.
pub(crate) const SYSTEM_FINGERPRINT: &str = "fp_f4ke5e7c91";
/// `created` of every listed model.
const MODEL_CREATED: u64 = 1_686_935_002;

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// `{"error":{"message","type","param","code"}}`.
pub(crate) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> String {
    to_json(&ErrorEnvelope {
        error: ErrorObject {
            message,
            kind,
            param,
            code,
        },
    })
}

/// Masks a key the way OpenAI's 401 message does: the first 8 characters,
/// one `*` per hidden character, the last 4 (`sk-abcde*******wxyz`).
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let n = chars.len();
    if n <= 12 {
        // Too short to show anything without giving most of it away.
        let shown: String = chars.iter().take(n / 4).collect();
        return format!("{shown}{}", "*".repeat(n - n / 4));
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - 12))
}

/// Token counts.
#[derive(Serialize, Clone, Copy)]
pub(crate) struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn new((prompt, completion): (u32, u32)) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

/// `delta` of a streamed choice; absent fields are omitted.
#[derive(Serialize, Default)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    /// `Some(None)` serializes as `"content": null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

/// One entry of `delta.tool_calls`: the first for a call carries `id`,
/// `type` and `function.name`; later ones only argument pieces.
#[derive(Serialize)]
pub(crate) struct ToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

/// `function` of a tool-call delta.
#[derive(Serialize)]
pub(crate) struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// A complete tool call of a non-streamed message.
#[derive(Serialize)]
pub(crate) struct ToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function<'a>,
}

/// `function` of a complete tool call.
#[derive(Serialize)]
pub(crate) struct Function<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Present only when the request asked for `include_usage`; then
    /// `Some(None)` (null) on every chunk but the usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

/// Identity of one completion, shared by all its chunks.
pub(crate) struct Completion<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub include_usage: bool,
}

impl Completion<'_> {
    fn chunk(&self, choices: Vec<ChunkChoice<'_>>, usage: Option<Usage>) -> String {
        to_json(&Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage: self.include_usage.then_some(usage),
        })
    }

    /// A chunk with one choice carrying `delta` (and `finish_reason`).
    pub fn delta_chunk(&self, delta: Delta<'_>, finish_reason: Option<&str>) -> String {
        self.chunk(
            vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            None,
        )
    }

    /// The final usage chunk: `"choices": []` and the usage object.
    pub fn usage_chunk(&self, usage: Usage) -> String {
        self.chunk(Vec::new(), Some(usage))
    }

    /// The whole non-streamed `chat.completion` object. `content` `None`
    /// is sent as `null` (a message with only tool calls).
    pub fn completion_json(
        &self,
        content: Option<&str>,
        reasoning: Option<&str>,
        tool_calls: Option<Vec<ToolCall<'_>>>,
        finish_reason: &str,
        usage: Usage,
    ) -> String {
        to_json(&CompletionObject {
            id: self.id,
            object: "chat.completion",
            created: self.created,
            model: self.model,
            choices: vec![CompletionChoice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content,
                    reasoning_content: reasoning,
                    tool_calls,
                    refusal: None,
                },
                logprobs: None,
                finish_reason,
            }],
            usage,
            system_fingerprint: SYSTEM_FINGERPRINT,
        })
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct CompletionObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<CompletionChoice<'a>>,
    usage: Usage,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

fn model_object(id: &str) -> ModelObject<'_> {
    ModelObject {
        id,
        object: "model",
        created: MODEL_CREATED,
        owned_by: "system",
    }
}

/// `GET /v1/models` body.
pub(crate) fn model_list(ids: &[String]) -> String {
    to_json(&ModelList {
        object: "list",
        data: ids.iter().map(|id| model_object(id)).collect(),
    })
}

/// `GET /v1/models/{id}` body.
pub(crate) fn model(id: &str) -> String {
    to_json(&model_object(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_openai() {
        let key = "sk-abcdefghijklmnopqrstuvwxyz";
        assert_eq!(
            mask_key(key),
            format!("sk-abcde{}wxyz", "*".repeat(key.len() - 12))
        );
        assert_eq!(mask_key("short"), "s****");
        assert!(!mask_key("sk-123456789").contains("56789"));
    }

    #[test]
    fn error_body_shape() {
        assert_eq!(
            error_body("m", "invalid_request_error", None, Some("c")),
            r#"{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"c"}}"#
        );
    }

    #[test]
    fn chunk_field_order() {
        let c = Completion {
            id: "chatcmpl-x",
            created: 7,
            model: "m",
            include_usage: false,
        };
        let delta = Delta {
            role: Some("assistant"),
            content: Some(Some("")),
            reasoning_content: None,
            tool_calls: None,
        };
        assert_eq!(
            c.delta_chunk(delta, None),
            r#"{"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"m","system_fingerprint":"fp_f4ke5e7c91","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#
        );
    }
}
