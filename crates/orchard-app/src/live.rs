//! Answers that outlive the page that asked for them.
//!
//! In the studio, generation runs on the server, not in the request that started it:
//! [`Studio::start`] spawns one task per reply and registers it, so a page can close,
//! reload or open in a second tab and [`Studio::subscribe`] to the same answer again,
//! and [`Studio::stop`] works from any of them. Subscribers watch a snapshot (the text
//! so far), not a queue of deltas, so a late subscriber starts from everything received
//! and a slow one skips intermediate states instead of buffering them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use orchard_core::MessageId;
use orchard_core::message::{MessageStatus, Timings, Usage};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::{Asked, ReplyObserver};
use crate::{App, AppError};

/// The state of an answer being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveState {
    /// Answer text so far.
    pub text: String,
    /// Reasoning so far.
    pub thinking: String,
    /// `Pending` or `Streaming` while it runs; the final status once it ends.
    pub status: MessageStatus,
    /// Why it failed, for `Error`.
    pub error: Option<String>,
    /// Token counts, once known.
    pub usage: Usage,
    /// Durations, once known.
    pub timings: Timings,
}

impl LiveState {
    fn new() -> Self {
        Self {
            text: String::new(),
            thinking: String::new(),
            status: MessageStatus::Pending,
            error: None,
            usage: Usage::default(),
            timings: Timings::default(),
        }
    }
}

struct Live {
    state: watch::Sender<LiveState>,
    cancel: CancellationToken,
}

/// The studio's answers in progress, shared by every page and tab.
pub struct Studio {
    app: Arc<App>,
    live: Mutex<HashMap<MessageId, Arc<Live>>>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Studio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Studio")
            .field("answering", &self.answering())
            .finish_non_exhaustive()
    }
}

struct Forward<'a>(&'a watch::Sender<LiveState>);

impl ReplyObserver for Forward<'_> {
    fn on_text(&mut self, delta: &str) {
        self.0.send_modify(|s| {
            s.status = MessageStatus::Streaming;
            s.text.push_str(delta);
        });
    }

    fn on_thinking(&mut self, delta: &str) {
        self.0.send_modify(|s| {
            s.status = MessageStatus::Streaming;
            s.thinking.push_str(delta);
        });
    }
}

impl Studio {
    /// A studio over `app`.
    pub fn new(app: Arc<App>) -> Arc<Self> {
        Arc::new(Self {
            app,
            live: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
        })
    }

    /// The application.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Arc<Live>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many answers are being written now.
    pub fn answering(&self) -> usize {
        self.live().len()
    }

    /// Answers every pending reply of `asked` in the background. Each reply can be
    /// subscribed to as soon as this returns.
    pub fn start(self: &Arc<Self>, asked: Asked) {
        for pending in asked.replies {
            let id = pending.reply;
            let (state, _) = watch::channel(LiveState::new());
            let live = Arc::new(Live {
                state,
                cancel: CancellationToken::new(),
            });
            self.live().insert(id, live.clone());
            let studio = self.clone();
            self.tasks.spawn(async move {
                let mut forward = Forward(&live.state);
                let result = studio.app.answer(pending, &mut forward, &live.cancel).await;
                live.state.send_modify(|s| match result {
                    Ok(outcome) => {
                        s.status = outcome.status;
                        s.error = outcome.error.map(|e| e.message);
                        s.usage = outcome.usage;
                        s.timings = outcome.timings;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, reply = %id, "an answer could not be saved");
                        s.status = MessageStatus::Error;
                        s.error = Some(e.message);
                    }
                });
                // The final state is in the store now; later subscribers read it there.
                studio.live().remove(&id);
            });
        }
    }

    /// Watches an answer being written; `None` if it is not being written (it ended,
    /// or never ran here): read it from the store instead.
    pub fn subscribe(&self, reply: MessageId) -> Option<watch::Receiver<LiveState>> {
        self.live().get(&reply).map(|l| l.state.subscribe())
    }

    /// Stops an answer; returns whether it was running. The text so far is kept and
    /// the reply is stored as `cancelled`.
    pub fn stop(&self, reply: MessageId) -> bool {
        match self.live().get(&reply) {
            Some(l) => {
                l.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every answer being written (each is stored as `cancelled`).
    pub fn stop_all(&self) {
        for l in self.live().values() {
            l.cancel.cancel();
        }
    }

    /// Stops every answer and waits (up to `patience`) until each is stored, so a
    /// server that shuts down leaves no reply open.
    pub async fn shutdown(&self, patience: Duration) -> Result<(), AppError> {
        self.stop_all();
        self.tasks.close();
        tokio::time::timeout(patience, self.tasks.wait())
            .await
            .map_err(|_| {
                AppError::new(
                    "shutdown_slow",
                    "some answers were still being saved at shutdown; the next start marks them interrupted",
                )
            })
    }
}
