//! Orchard's knowledge-base pipeline.
//!
//! For now this holds only [`loaders`]: turning a file's bytes into text, which chat
//! attachments use today and the knowledge base (chunking, embedding, retrieval) will
//! build on. Nothing here touches the network, the database or the file system: callers
//! read the bytes and decide what to do with the text.

pub mod chunk;
pub mod fuse;
pub mod keyword;
pub mod loaders;
pub mod sitemap;
pub mod vector;
