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

impl App {
    /// A topic's current branch as Markdown.
    pub async fn export_markdown(&self, id: TopicId) -> Result<String, AppError> {
        let (topic, branch) = self.conversation(id).await?;
        Ok(orchard_interchange::export_markdown(&topic, &branch))
    }

    /// Topics with every branch, as Orchard's JSON export (which [`App::import`] reads).
    pub async fn export_json(&self, ids: &[TopicId]) -> Result<String, AppError> {
        let mut archives = Vec::with_capacity(ids.len());
        for id in ids {
            let topic = self.store().topic(self.user(), *id).await?;
            let messages = self.store().topic_messages(self.user(), *id).await?;
            archives.push(orchard_interchange::archive(&topic, &messages));
        }
        Ok(orchard_interchange::export_json(&archives))
    }

    /// Imports a ChatGPT `conversations.json`, a Claude export or an Orchard JSON export:
    /// every topic in it, or (on any error) none.
    pub async fn import(&self, bytes: &[u8]) -> Result<Vec<TopicId>, AppError> {
        let archives = orchard_interchange::import(bytes)
            .map_err(|e| AppError::new("import_invalid", e.to_string()))?;
        if archives.is_empty() {
            return Err(AppError::new(
                "import_invalid",
                "the file holds no conversations",
            ));
        }
        Ok(self.store().import_topics(self.user(), &archives).await?)
    }
}
