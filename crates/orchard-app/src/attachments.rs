//! Files attached to messages, kept in `DATA_DIR/attachments/` by content hash (the
//! database holds only a reference), so a conversation does not bloat the database and
//! the same image attached twice is stored once.

use std::io::Read;
use std::path::{Path, PathBuf};

use orchard_core::message::{Block, BlockKind};
use orchard_llm::Part;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{App, AppError};

/// Largest image accepted (providers refuse far smaller ones; this only bounds memory).
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

/// An image to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInput {
    /// What the person called it (for messages).
    pub name: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl ImageInput {
    /// Reads an image file, refusing one over [`MAX_IMAGE_BYTES`] without reading past
    /// the limit (a path such as `/dev/zero` must not fill memory).
    pub fn read(path: &Path) -> Result<Self, AppError> {
        let name = path.display().to_string();
        let cannot = |e: std::io::Error| AppError::invalid(format!("cannot read {name}: {e}"));
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut data = Vec::new();
        file.take(MAX_IMAGE_BYTES as u64 + 1)
            .read_to_end(&mut data)
            .map_err(cannot)?;
        if data.len() > MAX_IMAGE_BYTES {
            return Err(too_large(&name));
        }
        Ok(Self { name, data })
    }
}

fn too_large(name: &str) -> AppError {
    AppError::invalid(format!(
        "{name} is larger than {} MB, the most Orchard sends",
        MAX_IMAGE_BYTES / (1024 * 1024)
    ))
}

/// The image type, from the file's first bytes (never from its name).
pub fn sniff_image(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn attachment_path(data_dir: &Path, sha: &str) -> PathBuf {
    data_dir.join("attachments").join(&sha[..2]).join(sha)
}

impl App {
    /// The blocks for a message's attachments: images checked and stored, files' text
    /// extracted. Hashing, writing and parsing (a PDF can take a while) run on a
    /// blocking thread, never on the runtime's workers; a message without attachments
    /// costs nothing.
    pub(crate) async fn attachment_blocks(
        &self,
        images: &[ImageInput],
        files: &[FileInput],
    ) -> Result<Vec<Block>, AppError> {
        if images.is_empty() && files.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.config().data_dir.clone();
        let (images, files) = (images.to_vec(), files.to_vec());
        tokio::task::spawn_blocking(move || {
            let mut blocks = Vec::with_capacity(images.len() + files.len());
            for image in &images {
                blocks.push(save_image(&dir, image)?);
            }
            for file in &files {
                blocks.push(file_block(file)?);
            }
            Ok(blocks)
        })
        .await
        .map_err(|e| AppError::new("internal", format!("attachments could not be read: {e}")))?
    }
}

/// Checks an image and stores it under `data_dir`; returns the block that refers to it.
fn save_image(data_dir: &Path, image: &ImageInput) -> Result<Block, AppError> {
    if image.data.len() > MAX_IMAGE_BYTES {
        return Err(too_large(&image.name));
    }
    let media_type = sniff_image(&image.data).ok_or_else(|| {
        AppError::invalid(format!(
            "{} is not a PNG, JPEG, GIF or WebP image",
            image.name
        ))
    })?;
    let sha = hex::encode(Sha256::digest(&image.data));
    let path = attachment_path(data_dir, &sha);
    if !path.exists() {
        let dir = path.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(dir).map_err(|e| {
            AppError::new(
                "attachment_failed",
                format!("cannot store {}: {e}", image.name),
            )
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &image.data)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                AppError::new(
                    "attachment_failed",
                    format!("cannot store {}: {e}", image.name),
                )
            })?;
    }
    Ok(Block {
        kind: BlockKind::Image,
        content: format!("{} ({} bytes)", image.name, image.data.len()),
        data: Some(
            json!({"media_type": media_type, "sha256": sha, "bytes": image.data.len()}).to_string(),
        ),
    })
}

impl App {
    /// The image an image block refers to, ready to send.
    pub(crate) fn load_image(&self, block: &Block) -> Result<Part, AppError> {
        let missing = || {
            AppError::new(
                "attachment_missing",
                format!(
                    "the image '{}' of this conversation is missing from the attachments folder",
                    block.content
                ),
            )
        };
        let data: serde_json::Value = block
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or_else(missing)?;
        let sha = data["sha256"]
            .as_str()
            .filter(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(missing)?;
        let bytes =
            std::fs::read(attachment_path(&self.config().data_dir, sha)).map_err(|_| missing())?;
        Ok(Part::Image {
            media_type: data["media_type"]
                .as_str()
                .unwrap_or("image/png")
                .to_owned(),
            data: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_types_come_from_the_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"%PDF-1.7"), None);
    }
}

/// A file whose text goes with a message (text, Markdown, code, PDF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInput {
    /// Its name (the extension helps tell its kind).
    pub name: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Extracts a file's text and returns the block that carries it. The text is kept in
/// the message (not the file), since it is what the model was sent.
fn file_block(file: &FileInput) -> Result<Block, AppError> {
    let limits = orchard_rag::loaders::Limits::default();
    let loaded = orchard_rag::loaders::load(&file.name, &file.data, &limits)
        .map_err(|e| AppError::invalid(format!("{}: {e}", file.name)))?;
    let text = orchard_rag::loaders::as_attachment_text(&file.name, &loaded);
    Ok(Block {
        kind: BlockKind::File,
        content: format!("{} ({} bytes)", file.name, file.data.len()),
        data: Some(json!({"name": file.name, "bytes": file.data.len(), "text": text}).to_string()),
    })
}

/// The text a file block sends to the model.
pub(crate) fn file_text(block: &Block) -> String {
    block
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d["text"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("[file '{}': its text is not available]", block.content))
}
