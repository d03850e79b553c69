//! The egress ledger's writer.
//!
//! A request's row is written before the request leaves (`begin`, awaited: a request
//! that cannot be recorded is not sent). How it ended (`finish`) is handed to a channel
//! and written in batches by one task, so the end of a request costs no database I/O on
//! its path and can be reported from `Drop`. [`LedgerWriter::flush`] waits until every
//! end handed over so far is stored; the app calls it before exiting.

use std::sync::Arc;
use std::time::Duration;

use orchard_core::egress::{BoxFuture, EgressEntry, EgressError, EgressSink, EgressTicket};
use orchard_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

enum Msg {
    Finish(i64, EgressEntry),
    Flush(oneshot::Sender<()>),
}

/// The sink given to the HTTP client.
#[derive(Clone)]
pub struct LedgerWriter {
    store: Arc<dyn Store>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl EgressSink for LedgerWriter {
    fn begin<'a>(
        &'a self,
        entry: &'a EgressEntry,
    ) -> BoxFuture<'a, Result<EgressTicket, EgressError>> {
        Box::pin(async move {
            self.store
                .begin_egress(entry)
                .await
                .map(EgressTicket)
                .map_err(|e| EgressError(e.to_string()))
        })
    }

    fn finish(&self, ticket: EgressTicket, entry: EgressEntry) {
        // Fails only after shutdown, when nothing is sent any more either.
        let _ = self.tx.send(Msg::Finish(ticket.0, entry));
    }
}

/// How long to keep trying while the database refuses (locked by another process).
const PATIENCE: Duration = Duration::from_secs(30);

async fn write_patiently(store: &dyn Store, batch: &[(i64, EgressEntry)]) {
    let give_up = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(50);
    loop {
        match store.finish_egress(batch).await {
            Ok(()) => return,
            Err(e) if Instant::now() < give_up => {
                tracing::debug!(error = %e, "could not record how outbound requests ended yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                // The rows exist (written before sending); only their ends are missing.
                tracing::warn!(error = %e, requests = batch.len(), "could not record how outbound requests ended");
                return;
            }
        }
    }
}

impl LedgerWriter {
    /// Starts the task that records how requests ended.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let writer_store = store.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
                    match msg {
                        Msg::Finish(id, e) => batch.push((id, e)),
                        Msg::Flush(done) => waiters.push(done),
                    }
                }
                if !batch.is_empty() {
                    write_patiently(writer_store.as_ref(), &batch).await;
                    batch.clear();
                }
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        });
        Self { store, tx }
    }

    /// Waits until every request end recorded so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}
