//! What a model can do, from data: rules of id patterns (`models.toml`, compiled in,
//! extended by the person's own file), then per-model settings the person made.

use serde::{Deserialize, Serialize};

const BUILTIN: &str = include_str!("../models.toml");

/// What a model can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Accepts images.
    pub vision: bool,
    /// Produces reasoning (thinking).
    pub reasoning: bool,
    /// Calls tools.
    pub tools: bool,
    /// Is an embedding model.
    pub embedding: bool,
    /// Is a rerank model.
    pub rerank: bool,
    /// Context window in tokens, if known.
    pub context: Option<u32>,
}

/// Capability fields set by a rule or a person; unset fields leave the value as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverride {
    /// Accepts images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    /// Produces reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// Embedding model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<bool>,
    /// Rerank model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<bool>,
    /// Context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u32>,
}

impl CapabilityOverride {
    /// Applies the set fields to `caps`.
    pub fn apply(&self, caps: &mut Capabilities) {
        if let Some(v) = self.vision {
            caps.vision = v;
        }
        if let Some(v) = self.reasoning {
            caps.reasoning = v;
        }
        if let Some(v) = self.tools {
            caps.tools = v;
        }
        if let Some(v) = self.embedding {
            caps.embedding = v;
        }
        if let Some(v) = self.rerank {
            caps.rerank = v;
        }
        if let Some(v) = self.context {
            caps.context = Some(v);
        }
    }

    /// The fields of `other` that are set replace these.
    pub fn merge(&mut self, other: &CapabilityOverride) {
        let merge = |a: &mut Option<bool>, b: Option<bool>| {
            if b.is_some() {
                *a = b;
            }
        };
        merge(&mut self.vision, other.vision);
        merge(&mut self.reasoning, other.reasoning);
        merge(&mut self.tools, other.tools);
        merge(&mut self.embedding, other.embedding);
        merge(&mut self.rerank, other.rerank);
        if other.context.is_some() {
            self.context = other.context;
        }
    }
}

/// A rule as written in the file (fields spelled out: `deny_unknown_fields` does not
/// work through `flatten`, and a misspelt field must be an error, not ignored).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    #[serde(rename = "match")]
    pattern: String,
    vision: Option<bool>,
    reasoning: Option<bool>,
    tools: Option<bool>,
    embedding: Option<bool>,
    rerank: Option<bool>,
    context: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    pattern: String,
    set: CapabilityOverride,
}

impl From<RuleText> for Rule {
    fn from(r: RuleText) -> Self {
        Self {
            pattern: r.pattern,
            set: CapabilityOverride {
                vision: r.vision,
                reasoning: r.reasoning,
                tools: r.tools,
                embedding: r.embedding,
                rerank: r.rerank,
                context: r.context,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RuleText>,
}

/// The capability rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityRules {
    rules: Vec<Rule>,
}

/// A rules file that cannot be used; the message has the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RulesError(String);

impl CapabilityRules {
    /// The compiled-in rules.
    pub fn builtin() -> Self {
        // Shipped in the binary and parsed by a unit test: failure is a build defect.
        Self { rules: Vec::new() }
            .with_overrides(BUILTIN)
            .expect("the built-in models.toml is valid (checked by tests)")
    }

    /// These rules followed by the rules in `toml_text` (which therefore win).
    pub fn with_overrides(mut self, toml_text: &str) -> Result<Self, RulesError> {
        let file: File = toml::from_str(toml_text).map_err(|e| RulesError(e.to_string()))?;
        self.rules.extend(file.rule.into_iter().map(Rule::from));
        Ok(self)
    }

    /// What `model_id` can do.
    pub fn for_model(&self, model_id: &str) -> Capabilities {
        let id = model_id.to_ascii_lowercase();
        let tail = id.rsplit('/').next().unwrap_or(&id).to_owned();
        let mut caps = Capabilities::default();
        for rule in &self.rules {
            let p = rule.pattern.to_ascii_lowercase();
            if glob(&p, &id) || glob(&p, &tail) {
                rule.set.apply(&mut caps);
            }
        }
        caps
    }
}

/// `*` matches any run (also empty); `[abc]` matches one of those characters; anything
/// else matches itself. Patterns come from people's files, so matching must stay cheap
/// whatever they write: this is the greedy wildcard match that backtracks only to the
/// last `*`, O(pattern × text) at worst.
fn glob(pattern: &str, text: &str) -> bool {
    enum Tok {
        Star,
        One(Vec<char>),
    }
    let pat: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < pat.len() {
        let close = pat[i + 1..].iter().position(|&c| c == ']');
        match (pat[i], close) {
            ('*', _) => toks.push(Tok::Star),
            ('[', Some(n)) => {
                toks.push(Tok::One(pat[i + 1..i + 1 + n].to_vec()));
                i += n + 1;
            }
            (c, _) => toks.push(Tok::One(vec![c])),
        }
        i += 1;
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One(set)) if set.contains(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| matches!(t, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_know_the_common_models() {
        let r = CapabilityRules::builtin();
        let c = r.for_model("gpt-4o-mini");
        assert!(c.vision && c.tools && !c.reasoning);
        let c = r.for_model("o3-mini");
        assert!(c.reasoning && c.tools && !c.vision);
        assert!(r.for_model("o3").vision && !r.for_model("o1-preview").vision);
        let c = r.for_model("anthropic/claude-3.5-sonnet");
        assert!(c.vision && c.tools);
        assert!(r.for_model("claude-sonnet-4-20250514").reasoning);
        assert!(r.for_model("gemini-2.5-flash").reasoning);
        assert!(!r.for_model("deepseek-chat").vision);
        assert!(r.for_model("deepseek-reasoner").reasoning);
        assert!(r.for_model("qwen2.5-vl-72b-instruct").vision);
        assert!(r.for_model("llama3.2-vision:11b").vision);
        let e = r.for_model("text-embedding-3-small");
        assert!(e.embedding && !e.tools);
        assert!(r.for_model("nomic-embed-text").embedding);
        assert!(r.for_model("jina-reranker-v2-base-multilingual").rerank);
        assert_eq!(r.for_model("some-unknown-model"), Capabilities::default());
    }

    #[test]
    fn later_rules_and_overrides_win_field_by_field() {
        let r = CapabilityRules::builtin()
            .with_overrides("[[rule]]\nmatch = \"my-local-*\"\nvision = true\ncontext = 8192\n")
            .unwrap();
        let c = r.for_model("my-local-llava");
        assert!(c.vision);
        assert_eq!(c.context, Some(8192));
        let mut caps = r.for_model("deepseek-chat");
        CapabilityOverride {
            vision: Some(true),
            ..CapabilityOverride::default()
        }
        .apply(&mut caps);
        assert!(caps.vision && caps.tools);
    }

    #[test]
    fn bad_rule_files_say_where() {
        let err = CapabilityRules::builtin()
            .with_overrides("[[rule]]\nmatch = \"x\"\nvisoin = true\n")
            .unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob("o[134]*", "o3-mini"));
        assert!(!glob("o[134]*", "o2"));
        assert!(glob("*-vl*", "qwen2.5-vl-7b"));
        assert!(glob("gpt-4*", "gpt-4"));
        assert!(!glob("gpt-4*", "gpt-3.5"));
        assert!(glob("a*b*c", "axxbyyc") && !glob("a*b*c", "axxbyy"));
        assert!(glob("[x", "[x") && glob("", "") && !glob("", "a") && glob("**", ""));
        // A pattern written to be slow is not: this would take ages with naive
        // backtracking over every `*`.
        let long = "a".repeat(5000);
        assert!(!glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", &long));
    }
}
