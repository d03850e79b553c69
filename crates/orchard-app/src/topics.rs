//! Reading conversations.

use orchard_core::TopicId;
use orchard_core::message::{Message, Topic, TopicSummary};

use crate::{App, AppError};

impl App {
    /// All topics, pinned first, then most recent first.
    pub async fn topics(&self) -> Result<Vec<TopicSummary>, AppError> {
        Ok(self.store().topics(self.user()).await?)
    }

    /// A topic and its current branch, first message first.
    pub async fn conversation(&self, id: TopicId) -> Result<(Topic, Vec<Message>), AppError> {
        let topic = self.store().topic(self.user(), id).await?;
        let messages = self.store().branch(self.user(), id).await?;
        Ok((topic, messages))
    }
}
