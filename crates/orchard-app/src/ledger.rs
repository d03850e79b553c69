//! Writes the egress ledger to the store without putting database I/O on the request
//! path: the HTTP client hands entries to a channel (from any thread, even from `Drop`),
//! and one task appends them in batches. [`LedgerWriter::flush`] waits until every
//! entry handed over so far is on disk; the app calls it before exiting.

use std::sync::Arc;

use orchard_core::egress::{EgressEntry, EgressSink};
use orchard_store::Store;
use tokio::sync::{mpsc, oneshot};

enum Msg {
    Entry(EgressEntry),
    Flush(oneshot::Sender<()>),
}

/// The sink given to the HTTP client.
#[derive(Clone)]
pub struct LedgerWriter {
    tx: mpsc::UnboundedSender<Msg>,
}

impl EgressSink for LedgerWriter {
    fn record(&self, entry: EgressEntry) {
        // Fails only after shutdown, when nothing is sent any more either.
        let _ = self.tx.send(Msg::Entry(entry));
    }
}

impl LedgerWriter {
    /// Starts the writing task.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
                    match msg {
                        Msg::Entry(e) => batch.push(e),
                        Msg::Flush(done) => waiters.push(done),
                    }
                }
                if !batch.is_empty() {
                    if let Err(e) = store.append_egress(&batch).await {
                        tracing::warn!(error = %e, lost = batch.len(), "could not record outbound requests in the egress ledger");
                    }
                    batch.clear();
                }
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        });
        Self { tx }
    }

    /// Waits until every entry recorded so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}
