//! Helpers shared by the adapter tests.

#![allow(dead_code)] // Each test file uses its own subset.

use std::sync::Arc;

use futures_util::StreamExt;
use orchard_core::egress::{BoxFuture, EgressEntry, EgressError, EgressSink, EgressTicket};
use orchard_llm::{ChatEvent, ChatProvider, ChatRequest, ProviderError};
use orchard_net::{HttpClient, NetConfig};

/// A ledger that records nothing: these tests are about the wire, not the ledger
/// (which has its own tests in `orchard-net`).
struct NullLedger;

impl EgressSink for NullLedger {
    fn begin<'a>(&'a self, _: &'a EgressEntry) -> BoxFuture<'a, Result<EgressTicket, EgressError>> {
        Box::pin(async { Ok(EgressTicket(0)) })
    }

    fn finish(&self, _: EgressTicket, _: EgressEntry) {}
}

/// The shared HTTP client with `cfg`.
pub fn http(cfg: NetConfig) -> HttpClient {
    HttpClient::new(cfg, Arc::new(NullLedger)).unwrap()
}

/// Collects a whole answer: (events, the error that ended it, if any).
pub async fn collect(
    p: &dyn ChatProvider,
    req: &ChatRequest,
) -> (Vec<ChatEvent>, Option<ProviderError>) {
    let mut stream = match p.chat(req).await {
        Ok(s) => s,
        Err(e) => return (vec![], Some(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

/// All answer text in `events`.
pub fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// All thinking in `events`.
pub fn thinking_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ThinkingDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The last finish reason in `events`.
pub fn finish_of(events: &[ChatEvent]) -> Option<&str> {
    events.iter().rev().find_map(|e| match e {
        ChatEvent::Finish(r) => Some(r.as_str()),
        _ => None,
    })
}
