//! `orchard kb …` and `orchard embedder …`.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use orchard_app::knowledge::{KbEvent, KbSettings};
use orchard_app::{App, AppError};
use orchard_core::knowledge::{DocStatus, Document, EmbedderSpec, KnowledgeBase, RerankSpec};

use crate::args::{EmbedderCommand, KbCommand};
use crate::output;

/// The public hub `orchard embedder pull` downloads from.
const DEFAULT_HUB: &str = "https://huggingface.co";

pub async fn kb(app: &App, cmd: KbCommand) -> Result<ExitCode, AppError> {
    match cmd {
        KbCommand::Create {
            name,
            embedder,
            chunk_size,
            overlap,
            rerank,
        } => {
            let settings = KbSettings {
                name,
                embedder: EmbedderSpec::parse(&embedder).map_err(AppError::invalid)?,
                chunk_size,
                chunk_overlap: overlap,
                rerank: rerank.as_deref().map(parse_rerank).transpose()?,
            };
            let kb = app.kb_create(&settings).await?;
            println!(
                "created knowledge base '{}' ({})",
                kb.name,
                describe_embedder(&kb.embedder)
            );
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Add { name, sources } => {
            let kb = app.kb_named(&name).await?;
            let added = app.kb_add(kb.id, &sources).await?;
            for (path, why) in &added.skipped {
                eprintln!("skipped {path}: {why}");
            }
            println!("queued {} document(s) in '{}'", added.queued.len(), kb.name);
            ingest(app, Some(&kb), added.queued.len() as u64).await
        }
        KbCommand::Note { name, text } => {
            let kb = app.kb_named(&name).await?;
            let doc = app.kb_note(kb.id, &text.join(" ")).await?;
            let code = ingest(app, Some(&kb), 1).await?;
            let doc = app.store().document(app.user(), doc.id).await?;
            println!("note {} is {}", doc.id, doc.status);
            Ok(code)
        }
        KbCommand::List => {
            let mut rows = Vec::new();
            for kb in app.kb_list().await? {
                let docs = app.kb_documents(kb.id).await?;
                let count = |s: DocStatus| docs.iter().filter(|d| d.status == s).count();
                rows.push(vec![
                    kb.id.to_string(),
                    kb.name.clone(),
                    kb.embedder.to_string(),
                    docs.len().to_string(),
                    count(DocStatus::Ready).to_string(),
                    count(DocStatus::Failed).to_string(),
                    docs.iter().map(|d| d.chunks).sum::<u64>().to_string(),
                ]);
            }
            print!(
                "{}",
                output::table(
                    &[
                        "ID", "NAME", "EMBEDDER", "DOCS", "READY", "FAILED", "PASSAGES"
                    ],
                    &rows
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Status { name } => {
            let kb = app.kb_named(&name).await?;
            let docs = app.kb_documents(kb.id).await?;
            println!(
                "{} — {} · passages of {} tokens, overlap {}{}",
                kb.name,
                describe_embedder(&kb.embedder),
                kb.chunk_size,
                kb.chunk_overlap,
                kb.rerank
                    .as_ref()
                    .map(|r| format!(" · rerank {}:{}", r.provider, r.model))
                    .unwrap_or_default()
            );
            print!("{}", status_table(&kb, &docs));
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Search {
            name,
            query,
            top,
            json,
        } => {
            let kb = app.kb_named(&name).await?;
            let found = app.kb_search(kb.id, &query.join(" "), top).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&found).unwrap_or_default()
                );
                return Ok(ExitCode::SUCCESS);
            }
            for note in &found.notes {
                eprintln!("note: {note}");
            }
            if found.hits.is_empty() {
                println!("nothing found");
            }
            for (i, hit) in found.hits.iter().enumerate() {
                let p = &hit.passage;
                let mut why = Vec::new();
                if let Some((rank, score)) = hit.keyword {
                    why.push(format!("keyword #{rank} (bm25 {score:.2})"));
                }
                if let Some((rank, sim)) = hit.vector {
                    why.push(format!("vector #{rank} (cosine {sim:.3})"));
                }
                if let Some(r) = hit.rerank {
                    why.push(format!("rerank {r:.3}"));
                }
                println!(
                    "[{}] score {:.4} · {} · {}",
                    i + 1,
                    hit.score,
                    why.join(", "),
                    location(p)
                );
                let text: String = p.text.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = text.chars().take(300).collect();
                println!(
                    "    {}{}",
                    output::for_terminal(&short),
                    if text.chars().count() > 300 {
                        "…"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Remove { name, doc } => {
            let kb = app.kb_named(&name).await?;
            let removed = app.kb_remove(kb.id, &doc).await?;
            println!("removed {} ({} passages)", removed.source, removed.chunks);
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Reindex { name } => {
            let kb = app.kb_named(&name).await?;
            let n = app.kb_reindex(kb.id).await?;
            println!("reading {n} document(s) again");
            ingest(app, Some(&kb), n).await
        }
        KbCommand::Retry { name, doc } => {
            let kb = app.kb_named(&name).await?;
            let docs = app.kb_documents(kb.id).await?;
            let chosen: Vec<&Document> = match &doc {
                Some(d) => docs
                    .iter()
                    .filter(|x| x.id.to_string() == *d || x.source == *d)
                    .collect(),
                None => docs
                    .iter()
                    .filter(|x| x.status == DocStatus::Failed)
                    .collect(),
            };
            if chosen.is_empty() {
                println!("nothing to retry");
                return Ok(ExitCode::SUCCESS);
            }
            for d in &chosen {
                app.kb_retry(d.id).await?;
            }
            ingest(app, Some(&kb), chosen.len() as u64).await
        }
        KbCommand::Resume { name } => {
            let kb = match name {
                Some(n) => Some(app.kb_named(&n).await?),
                None => None,
            };
            let pending = app
                .store()
                .documents_in(
                    app.user(),
                    &[DocStatus::Queued, DocStatus::Parsing, DocStatus::Embedding],
                )
                .await?
                .into_iter()
                .filter(|d| kb.as_ref().is_none_or(|k| k.id == d.kb_id))
                .count();
            ingest(app, kb.as_ref(), pending as u64).await
        }
        KbCommand::Embedder {
            name,
            embedder,
            yes,
        } => {
            let kb = app.kb_named(&name).await?;
            let spec = EmbedderSpec::parse(&embedder).map_err(AppError::invalid)?;
            if spec == kb.embedder {
                println!("'{}' already uses {}", kb.name, describe_embedder(&spec));
                return Ok(ExitCode::SUCCESS);
            }
            let cost = app.kb_embedder_change(kb.id, &spec).await?;
            println!(
                "changing '{}' from {} to {} embeds {} passage(s) again, about {} tokens{}",
                kb.name,
                describe_embedder(&kb.embedder),
                describe_embedder(&spec),
                cost.chunks,
                cost.tokens,
                if cost.sends_text_away {
                    "; their text is sent to that provider, which may charge for it"
                } else {
                    ""
                }
            );
            if !yes {
                println!("run again with --yes to do it");
                return Ok(ExitCode::SUCCESS);
            }
            let mut settings = settings_of(&kb);
            settings.embedder = spec;
            let kb = app.kb_update(kb.id, &settings).await?;
            let n = app.kb_documents(kb.id).await?.len() as u64;
            ingest(app, Some(&kb), n).await
        }
        KbCommand::Delete { name, yes } => {
            let kb = app.kb_named(&name).await?;
            if !yes {
                return Err(AppError::invalid(format!(
                    "deleting '{}' removes its documents and passages (not your files); add --yes to confirm",
                    kb.name
                )));
            }
            app.kb_delete(kb.id).await?;
            println!("deleted '{}'", kb.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn embedder(app: &App, cmd: EmbedderCommand) -> Result<ExitCode, AppError> {
    match cmd {
        EmbedderCommand::List => {
            let rows: Vec<Vec<String>> = app
                .local_models()?
                .into_iter()
                .map(|m| {
                    vec![
                        m.name,
                        m.dims.to_string(),
                        m.max_tokens.to_string(),
                        format!("{:.1} MB", m.bytes as f64 / 1e6),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(&["NAME", "DIMENSIONS", "MAX TOKENS", "SIZE"], &rows)
            );
            Ok(ExitCode::SUCCESS)
        }
        EmbedderCommand::Add { dir, name } => {
            let m = app.add_local_model(&dir, name.as_deref()).await?;
            println!(
                "added local model '{}' ({} dimensions); use it with --embedder local:{}",
                m.name, m.dims, m.name
            );
            Ok(ExitCode::SUCCESS)
        }
        EmbedderCommand::Pull {
            model_id,
            name,
            hub,
        } => {
            let hub = hub
                .or_else(|| std::env::var("ORCHARD_HF_ENDPOINT").ok())
                .unwrap_or_else(|| DEFAULT_HUB.to_owned());
            let mut progress = |file: &str, bytes: u64| {
                eprintln!("downloaded {file} ({:.1} MB)", bytes as f64 / 1e6);
            };
            let m = app
                .pull_local_model(&hub, &model_id, name.as_deref(), &mut progress)
                .await?;
            println!(
                "added local model '{}' ({} dimensions); use it with --embedder local:{}",
                m.name, m.dims, m.name
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Works through the queue with a progress bar (on a terminal), then lists failures.
/// Exits 1 when a document failed, so scripts notice; the others are done either way.
async fn ingest(app: &App, kb: Option<&KnowledgeBase>, total: u64) -> Result<ExitCode, AppError> {
    let bar = if std::io::stderr().is_terminal() && total > 0 {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} documents · {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let report = match &bar {
        // Listening costs a query per document; only a visible bar is worth it.
        None => app.kb_ingest(kb.map(|k| k.id)).await?,
        Some(bar) => {
            let mut events = app.kb_subscribe();
            let run = app.kb_ingest(kb.map(|k| k.id));
            tokio::pin!(run);
            loop {
                tokio::select! {
                    report = &mut run => break report?,
                    Ok(event) = events.recv() => match event {
                        KbEvent::Document { document } => {
                            if matches!(document.status, DocStatus::Ready | DocStatus::Failed) {
                                bar.inc(1);
                            }
                            bar.set_message(format!("{} {}", document.status, short(&document.source)));
                        }
                        KbEvent::Embedded { done, total, .. } => {
                            bar.set_message(format!("embedding {done}/{total} passages"));
                        }
                    },
                }
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "{} ready, {} failed, {} passage(s) embedded",
        report.ready, report.failed, report.embedded
    );
    if report.failed > 0 {
        let failed: Vec<Document> = match kb {
            Some(k) => app.kb_documents(k.id).await?,
            None => {
                let mut all = Vec::new();
                for k in app.kb_list().await? {
                    all.extend(app.kb_documents(k.id).await?);
                }
                all
            }
        }
        .into_iter()
        .filter(|d| d.status == DocStatus::Failed)
        .collect();
        for d in failed {
            eprintln!(
                "failed: {} — {}",
                d.source,
                d.error.as_deref().unwrap_or("no reason recorded")
            );
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn status_table(kb: &KnowledgeBase, docs: &[Document]) -> String {
    let embedding = kb.embedder != EmbedderSpec::None;
    let rows: Vec<Vec<String>> = docs
        .iter()
        .map(|d| {
            let mut status = d.status.to_string();
            if let Some(e) = &d.error {
                status = format!("{status}: {e}");
            }
            vec![
                d.id.to_string(),
                d.kind.clone().unwrap_or_else(|| "-".into()),
                d.chunks.to_string(),
                if embedding {
                    format!("{}/{}", d.embedded, d.chunks)
                } else {
                    "-".into()
                },
                short(&d.source),
                status,
            ]
        })
        .collect();
    output::table(
        &["ID", "KIND", "PASSAGES", "EMBEDDED", "SOURCE", "STATUS"],
        &rows,
    )
}

fn location(p: &orchard_core::knowledge::Passage) -> String {
    let mut out = short(&p.source);
    if let Some(page) = p.location.page {
        out.push_str(&format!(" p.{page}"));
    }
    if !p.location.heading_path.is_empty() {
        out.push_str(&format!(" § {}", p.location.heading_path.join(" › ")));
    }
    out.push_str(&format!(" [{}..{}]", p.location.start, p.location.end));
    out
}

fn short(source: &str) -> String {
    let n = source.chars().count();
    if n <= 70 {
        source.to_owned()
    } else {
        let tail: String = source.chars().skip(n - 69).collect();
        format!("…{tail}")
    }
}

fn describe_embedder(spec: &EmbedderSpec) -> String {
    match spec {
        EmbedderSpec::None => "keyword search only (no embedder)".into(),
        EmbedderSpec::Local { model } => {
            format!("local model {model} (nothing leaves this machine)")
        }
        EmbedderSpec::Provider { provider, model } => {
            format!("{provider}:{model} (passages are sent to {provider})")
        }
    }
}

fn parse_rerank(s: &str) -> Result<RerankSpec, AppError> {
    match s.split_once(':') {
        Some((p, m)) if !p.trim().is_empty() && !m.trim().is_empty() => Ok(RerankSpec {
            provider: p.trim().into(),
            model: m.trim().into(),
        }),
        _ => Err(AppError::invalid(format!(
            "'{s}' is not PROVIDER:MODEL (for example jina:jina-reranker-v2-base-multilingual)"
        ))),
    }
}

fn settings_of(kb: &KnowledgeBase) -> KbSettings {
    KbSettings {
        name: kb.name.clone(),
        embedder: kb.embedder.clone(),
        chunk_size: kb.chunk_size,
        chunk_overlap: kb.chunk_overlap,
        rerank: kb.rerank.clone(),
    }
}
