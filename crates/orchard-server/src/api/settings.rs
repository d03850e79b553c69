//! Providers, keys, models, assistants, folders and the person's settings.

use axum::Json;
use axum::extract::{Path, State};
use orchard_app::providers::{AddProvider, ProviderView};
use orchard_core::assistant::{Assistant, AssistantFields};
use orchard_core::catalogue::CatalogueEntry;
use orchard_core::message::Folder;
use orchard_core::provider::{KeyInfo, Model, Protocol, Provider};
use orchard_core::secret::ApiKey;
use orchard_core::{AssistantId, FolderId};
use serde::{Deserialize, Serialize};

use super::{DONE, Done};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, Prefs};

pub(crate) async fn catalogue(State(s): State<AppState>) -> Json<Vec<CatalogueEntry>> {
    Json(s.app().catalogue().entries().to_vec())
}

/// A provider as the API shows it: never a key, only masks.
#[derive(Serialize)]
pub(crate) struct ProviderOut {
    #[serde(flatten)]
    provider: Provider,
    keys: Vec<KeyInfo>,
    model_count: usize,
    privacy_url: Option<String>,
    docs_url: Option<String>,
    key_required: bool,
}

impl From<ProviderView> for ProviderOut {
    fn from(v: ProviderView) -> Self {
        Self {
            privacy_url: v.privacy_url().map(str::to_owned),
            docs_url: v
                .catalogue
                .as_ref()
                .map(|c| c.docs_url.clone())
                .filter(|u| !u.is_empty()),
            key_required: v.catalogue.as_ref().is_some_and(|c| c.key_required),
            provider: v.provider,
            keys: v.keys,
            model_count: v.model_count,
        }
    }
}

pub(crate) async fn providers(State(s): State<AppState>) -> ApiResult<Json<Vec<ProviderOut>>> {
    let list = s.app().list_providers().await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
pub(crate) struct AddProviderIn {
    name: String,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    keys: Vec<String>,
}

fn parse_key(raw: &str) -> ApiResult<ApiKey> {
    ApiKey::parse(raw).map_err(|e| ApiError::invalid(e.to_string()))
}

pub(crate) async fn add_provider(
    State(s): State<AppState>,
    Json(input): Json<AddProviderIn>,
) -> ApiResult<Json<ProviderOut>> {
    let protocol = match input.protocol.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(
            p.parse::<Protocol>()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
        ),
        None => None,
    };
    let keys = input
        .keys
        .iter()
        .filter(|k| !k.trim().is_empty())
        .map(|k| parse_key(k))
        .collect::<ApiResult<Vec<_>>>()?;
    let view = s
        .app()
        .add_provider(AddProvider {
            name: input.name,
            protocol,
            base_url: input.base_url.filter(|u| !u.trim().is_empty()),
            keys,
        })
        .await?;
    Ok(Json(view.into()))
}

pub(crate) async fn remove_provider(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Done>> {
    s.app().remove_provider(&name).await?;
    Ok(Json(DONE))
}

#[derive(Deserialize)]
pub(crate) struct KeyIn {
    key: String,
}

pub(crate) async fn add_key(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(input): Json<KeyIn>,
) -> ApiResult<Json<ProviderOut>> {
    let key = parse_key(&input.key)?;
    Ok(Json(s.app().add_keys(&name, &[key]).await?.into()))
}

pub(crate) async fn remove_key(
    State(s): State<AppState>,
    Path((name, mask)): Path<(String, String)>,
) -> ApiResult<Json<Done>> {
    s.app().remove_key(&name, &mask).await?;
    Ok(Json(DONE))
}

/// One key's check.
#[derive(Serialize)]
pub(crate) struct KeyCheckOut {
    mask: Option<String>,
    ok: bool,
    models: Option<usize>,
    reason: Option<String>,
}

pub(crate) async fn check_keys(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<KeyCheckOut>>> {
    let checks = s.app().check_keys(&name).await?;
    Ok(Json(
        checks
            .into_iter()
            .map(|c| KeyCheckOut {
                mask: c.mask,
                ok: c.result.is_ok(),
                models: c.result.as_ref().ok().copied(),
                reason: c.result.err(),
            })
            .collect(),
    ))
}

pub(crate) async fn provider_models(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Model>>> {
    let p = s.app().provider_named(&name).await?;
    Ok(Json(s.app().store().models(s.app().user(), p.id).await?))
}

pub(crate) async fn fetch_models(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Model>>> {
    Ok(Json(s.app().fetch_models(&name).await?))
}

#[derive(Deserialize)]
pub(crate) struct ModelIn {
    enabled: bool,
}

pub(crate) async fn set_model(
    State(s): State<AppState>,
    Path((name, model)): Path<(String, String)>,
    Json(input): Json<ModelIn>,
) -> ApiResult<Json<Done>> {
    let p = s.app().provider_named(&name).await?;
    s.app()
        .store()
        .set_model_enabled(s.app().user(), p.id, &model, input.enabled)
        .await?;
    Ok(Json(DONE))
}

/// A model that can be picked: `provider:model`.
#[derive(Serialize)]
pub(crate) struct Pickable {
    /// `provider:model`, as `models` in a send.
    pub id: String,
    /// Provider name.
    pub provider: String,
    /// Provider row.
    pub provider_id: orchard_core::ProviderId,
    /// Model id.
    pub model: String,
    /// Accepts images.
    pub vision: bool,
}

/// Every enabled model of every provider, for the model picker.
pub(crate) async fn pickable(s: &AppState) -> ApiResult<Vec<Pickable>> {
    let app = s.app();
    let mut out = Vec::new();
    for p in app.store().providers(app.user()).await? {
        for m in app.store().models(app.user(), p.id).await? {
            if !m.enabled {
                continue;
            }
            let vision = app.model_capabilities(&m).vision;
            out.push(Pickable {
                id: format!("{}:{}", p.name, m.model_id),
                provider: p.name.clone(),
                provider_id: p.id,
                model: m.model_id,
                vision,
            });
        }
    }
    Ok(out)
}

pub(crate) async fn enabled_models(State(s): State<AppState>) -> ApiResult<Json<Vec<Pickable>>> {
    Ok(Json(pickable(&s).await?))
}

pub(crate) async fn assistants(State(s): State<AppState>) -> ApiResult<Json<Vec<Assistant>>> {
    Ok(Json(s.app().store().assistants(s.app().user()).await?))
}

fn checked(fields: AssistantFields) -> ApiResult<AssistantFields> {
    fields.validate().map_err(ApiError::invalid)?;
    Ok(fields)
}

pub(crate) async fn create_assistant(
    State(s): State<AppState>,
    Json(fields): Json<AssistantFields>,
) -> ApiResult<Json<Assistant>> {
    let fields = checked(fields)?;
    Ok(Json(
        s.app()
            .store()
            .create_assistant(s.app().user(), &fields)
            .await?,
    ))
}

pub(crate) async fn assistant(
    State(s): State<AppState>,
    Path(id): Path<AssistantId>,
) -> ApiResult<Json<Assistant>> {
    Ok(Json(s.app().store().assistant(s.app().user(), id).await?))
}

pub(crate) async fn update_assistant(
    State(s): State<AppState>,
    Path(id): Path<AssistantId>,
    Json(fields): Json<AssistantFields>,
) -> ApiResult<Json<Assistant>> {
    let fields = checked(fields)?;
    Ok(Json(
        s.app()
            .store()
            .update_assistant(s.app().user(), id, &fields)
            .await?,
    ))
}

pub(crate) async fn delete_assistant(
    State(s): State<AppState>,
    Path(id): Path<AssistantId>,
) -> ApiResult<Json<Done>> {
    s.app().store().delete_assistant(s.app().user(), id).await?;
    Ok(Json(DONE))
}

pub(crate) async fn folders(State(s): State<AppState>) -> ApiResult<Json<Vec<Folder>>> {
    Ok(Json(s.app().store().folders(s.app().user()).await?))
}

#[derive(Deserialize)]
pub(crate) struct NameIn {
    name: String,
}

fn name_of(input: &NameIn) -> ApiResult<&str> {
    let n = input.name.trim();
    if n.is_empty() {
        return Err(ApiError::invalid("the name is empty"));
    }
    Ok(n)
}

pub(crate) async fn create_folder(
    State(s): State<AppState>,
    Json(input): Json<NameIn>,
) -> ApiResult<Json<Folder>> {
    let name = name_of(&input)?;
    Ok(Json(
        s.app().store().create_folder(s.app().user(), name).await?,
    ))
}

pub(crate) async fn rename_folder(
    State(s): State<AppState>,
    Path(id): Path<FolderId>,
    Json(input): Json<NameIn>,
) -> ApiResult<Json<Done>> {
    let name = name_of(&input)?;
    s.app()
        .store()
        .rename_folder(s.app().user(), id, name)
        .await?;
    Ok(Json(DONE))
}

pub(crate) async fn delete_folder(
    State(s): State<AppState>,
    Path(id): Path<FolderId>,
) -> ApiResult<Json<Done>> {
    s.app().store().delete_folder(s.app().user(), id).await?;
    Ok(Json(DONE))
}

pub(crate) async fn get_settings(State(s): State<AppState>) -> ApiResult<Json<Prefs>> {
    Ok(Json(Prefs::load(&s, None).await?))
}

#[derive(Deserialize)]
pub(crate) struct PrefsIn {
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

pub(crate) async fn put_settings(
    State(s): State<AppState>,
    Json(input): Json<PrefsIn>,
) -> ApiResult<Json<Prefs>> {
    if let Some(theme) = &input.theme {
        if !["light", "dark", "system"].contains(&theme.as_str()) {
            return Err(ApiError::invalid(format!(
                "theme must be light, dark or system, not '{theme}'"
            )));
        }
        s.app()
            .store()
            .set_setting(s.app().user(), Prefs::THEME, theme)
            .await?;
    }
    if let Some(lang) = &input.language {
        if lang != "auto" && crate::ui::i18n::Lang::parse(lang).is_none() {
            return Err(ApiError::invalid(format!(
                "language must be auto, en, zh or nl, not '{lang}'"
            )));
        }
        s.app()
            .store()
            .set_setting(s.app().user(), Prefs::LANGUAGE, lang)
            .await?;
    }
    Ok(Json(Prefs::load(&s, None).await?))
}
