//! Knowledge-base ingestion in the background.
//!
//! Adding documents returns at once; reading and embedding them runs in a task. At most
//! one task works on a base at a time: a request that queues more documents while one
//! runs only asks it to go round once more, and the running task picks them up
//! ([`orchard_app::App::kb_ingest`] takes every unfinished document of the base, so a
//! run started after the queueing sees them all).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use orchard_core::KnowledgeBaseId;
use orchard_core::knowledge::DocStatus;

use crate::AppState;

/// The bases being ingested; the flag asks the running task for another round.
#[derive(Default)]
pub(crate) struct Ingestion {
    running: Mutex<HashMap<KnowledgeBaseId, bool>>,
}

impl Ingestion {
    /// Claims `kb`: `true` if no task works on it (the caller must start one), else
    /// asks the running task for one more round.
    fn claim(&self, kb: KnowledgeBaseId) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.get_mut(&kb) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                running.insert(kb, false);
                true
            }
        }
    }

    /// After a round: `true` if another was asked for meanwhile; else releases `kb`.
    fn again(&self, kb: KnowledgeBaseId) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.get_mut(&kb) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                running.remove(&kb);
                false
            }
        }
    }

    fn release(&self, kb: KnowledgeBaseId) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&kb);
    }

    /// Whether a task works on `kb` now.
    #[cfg(test)]
    fn is_running(&self, kb: KnowledgeBaseId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&kb)
    }
}

/// Releases the base if the task ends without doing so (a panic), so the base is not
/// stuck as "running" for the rest of the process.
struct Claim<'a> {
    ingestion: &'a Ingestion,
    kb: KnowledgeBaseId,
    done: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.ingestion.release(self.kb);
        }
    }
}

impl AppState {
    /// Reads and embeds the unfinished documents of `kb` in the background.
    pub(crate) fn ingest(&self, kb: KnowledgeBaseId) {
        if !self.ingestion.claim(kb) {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let mut claim = Claim {
                ingestion: &state.ingestion,
                kb,
                done: false,
            };
            loop {
                match state.app().kb_ingest(Some(kb)).await {
                    Ok(report) => tracing::debug!(kb = %kb, ?report, "ingested"),
                    Err(e) => {
                        tracing::warn!(kb = %kb, code = e.code, error = %e.message, "ingestion stopped")
                    }
                }
                if !claim.ingestion.again(kb) {
                    claim.done = true;
                    break;
                }
            }
        });
    }

    /// Starts ingestion for every base with documents a previous run left unfinished.
    pub(crate) async fn resume_ingestion(&self) {
        let app = self.app();
        let unfinished = app
            .store()
            .documents_in(
                app.user(),
                &[DocStatus::Queued, DocStatus::Parsing, DocStatus::Embedding],
            )
            .await;
        match unfinished {
            Ok(docs) => {
                let mut bases: Vec<KnowledgeBaseId> = docs.iter().map(|d| d.kb_id).collect();
                bases.sort_unstable();
                bases.dedup();
                for kb in bases {
                    self.ingest(kb);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot resume knowledge-base ingestion"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_per_base_and_a_second_request_asks_for_another_round() {
        let ing = Ingestion::default();
        let (a, b) = (KnowledgeBaseId::new(1), KnowledgeBaseId::new(2));
        assert!(ing.claim(a), "the first request starts a task");
        assert!(ing.claim(b), "another base has its own task");
        assert!(
            !ing.claim(a),
            "a second request does not start another task"
        );
        assert!(!ing.claim(a));
        // The running task goes round once more (however many asked), then stops.
        assert!(ing.again(a));
        assert!(ing.is_running(a));
        assert!(!ing.again(a));
        assert!(!ing.is_running(a));
        assert!(
            ing.claim(a),
            "after it stopped, a request starts a new task"
        );
    }
}
