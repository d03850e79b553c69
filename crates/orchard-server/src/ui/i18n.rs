//! Every string of the web UI in English, 简体中文 and Nederlands.
//!
//! Each language is a value of one struct, so a string missing from a language is a
//! compile error, not a blank on a page.

use serde::Serialize;

/// A language of the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
    /// Dutch.
    Nl,
}

impl Lang {
    /// All languages, for the settings page.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Zh, Lang::Nl];

    /// A code (`en`, `zh`, `zh-CN`, `nl-BE`, …).
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            "nl" => Some(Lang::Nl),
            _ => None,
        }
    }

    /// The best match for an `Accept-Language` header (by its q-values), else English.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let code = it.next().unwrap_or("");
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(code)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The code used in `lang` attributes and settings.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
            Lang::Nl => "nl",
        }
    }

    /// The language's own name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "简体中文",
            Lang::Nl => "Nederlands",
        }
    }

    /// The strings.
    pub fn s(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
            Lang::Nl => &NL,
        }
    }
}

macro_rules! strings {
    ($($field:ident),* $(,)?) => {
        /// The interface's strings in one language.
        #[derive(Debug, Serialize)]
        #[allow(missing_docs)]
        pub struct Strings { $(pub $field: &'static str),* }
    };
}

strings!(
    skip_to_composer,
    new_topic,
    search,
    search_placeholder,
    no_results,
    assistants,
    no_assistant,
    topics,
    no_topics,
    pinned,
    settings,
    rename,
    pin,
    unpin,
    move_to_folder,
    edit_tags,
    delete,
    delete_topic_confirm,
    delete_message_confirm,
    export_md,
    export_json,
    clear_context,
    context_cleared,
    load_older,
    message,
    message_placeholder,
    attach,
    send,
    stop,
    models,
    choose_models,
    no_models,
    you,
    system,
    thinking,
    thought_for,
    regenerate,
    edit,
    save,
    cancel,
    copy,
    copied,
    retry,
    previous_version,
    next_version,
    versions,
    tokens,
    first_token,
    tokens_per_second,
    status_pending,
    status_streaming,
    status_cancelled,
    status_interrupted,
    status_error,
    empty_chat,
    settings_general,
    settings_providers,
    settings_assistants,
    back_to_chat,
    theme,
    theme_system,
    theme_light,
    theme_dark,
    language,
    language_auto,
    import_title,
    import_help,
    import_button,
    imported,
    providers,
    add_provider,
    from_catalogue,
    custom_provider,
    name,
    protocol,
    base_url,
    api_key,
    add_key,
    keys,
    check_keys,
    key_ok,
    key_failed,
    fetch_models,
    enabled,
    privacy_policy,
    docs,
    remove,
    no_providers,
    new_assistant,
    emoji,
    system_prompt,
    default_model,
    temperature,
    top_p,
    max_tokens,
    context_count,
    context_count_help,
    send_this,
    folder_prompt,
    tags_prompt,
    rename_prompt,
    attachment_image,
    attachment_file,
    error_generic,
);

/// English.
pub static EN: Strings = Strings {
    skip_to_composer: "Skip to the message box",
    new_topic: "New topic",
    search: "Search",
    search_placeholder: "Search all topics (Ctrl+K)",
    no_results: "No messages match.",
    assistants: "Assistants",
    no_assistant: "No assistant",
    topics: "Topics",
    no_topics: "No topics yet. Write a message to start one.",
    pinned: "Pinned",
    settings: "Settings",
    rename: "Rename",
    pin: "Pin",
    unpin: "Unpin",
    move_to_folder: "Move to folder",
    edit_tags: "Tags",
    delete: "Delete",
    delete_topic_confirm: "Delete this topic and all its messages?",
    delete_message_confirm: "Delete this message and everything after it in this branch?",
    export_md: "Export as Markdown",
    export_json: "Export as JSON",
    clear_context: "Clear context",
    context_cleared: "Context cleared: earlier messages are not sent to the model",
    load_older: "Load older messages",
    message: "Message",
    message_placeholder: "Write a message. Enter sends, Shift+Enter starts a new line.",
    attach: "Attach files",
    send: "Send",
    stop: "Stop",
    models: "Models",
    choose_models: "Choose one or more models",
    no_models: "No models yet: add a provider in Settings.",
    you: "You",
    system: "System prompt",
    thinking: "Thinking",
    thought_for: "Thought for",
    regenerate: "Regenerate",
    edit: "Edit and resend",
    save: "Save and send",
    cancel: "Cancel",
    copy: "Copy as Markdown",
    copied: "Copied",
    retry: "Retry",
    previous_version: "Previous version",
    next_version: "Next version",
    versions: "Versions",
    tokens: "tokens",
    first_token: "first token",
    tokens_per_second: "tokens/s",
    status_pending: "Waiting for the model…",
    status_streaming: "Answering…",
    status_cancelled: "Stopped",
    status_interrupted: "Interrupted: Orchard stopped while this was being written",
    status_error: "Failed",
    empty_chat: "Ask anything. Pick one model, or several to compare their answers side by side.",
    settings_general: "General",
    settings_providers: "Providers",
    settings_assistants: "Assistants",
    back_to_chat: "Back to chat",
    theme: "Theme",
    theme_system: "Follow the system",
    theme_light: "Light",
    theme_dark: "Dark",
    language: "Language",
    language_auto: "From the browser",
    import_title: "Import conversations",
    import_help: "A ChatGPT conversations.json, a Claude export (conversations.json) or an Orchard JSON export. Branches are kept.",
    import_button: "Import",
    imported: "Imported topics:",
    providers: "Providers",
    add_provider: "Add provider",
    from_catalogue: "From the catalogue",
    custom_provider: "Custom (OpenAI-compatible or another protocol)",
    name: "Name",
    protocol: "Protocol",
    base_url: "Base URL",
    api_key: "API key",
    add_key: "Add key",
    keys: "Keys",
    check_keys: "Check keys",
    key_ok: "works",
    key_failed: "failed",
    fetch_models: "Fetch models",
    enabled: "Enabled",
    privacy_policy: "Privacy policy",
    docs: "Documentation",
    remove: "Remove",
    no_providers: "No providers yet. Add one to start chatting; your keys stay on this machine and go only to that provider.",
    new_assistant: "New assistant",
    emoji: "Emoji",
    system_prompt: "System prompt",
    default_model: "Default model",
    temperature: "Temperature",
    top_p: "Top P",
    max_tokens: "Max tokens",
    context_count: "Context messages",
    context_count_help: "How many earlier messages are sent with each question",
    send_this: "Send this setting",
    folder_prompt: "Folder name (empty for none):",
    tags_prompt: "Tags, separated by commas:",
    rename_prompt: "New title:",
    attachment_image: "Image",
    attachment_file: "File",
    error_generic: "Something went wrong",
};

/// 简体中文.
pub static ZH: Strings = Strings {
    skip_to_composer: "跳到输入框",
    new_topic: "新话题",
    search: "搜索",
    search_placeholder: "搜索所有话题 (Ctrl+K)",
    no_results: "没有匹配的消息。",
    assistants: "助手",
    no_assistant: "不使用助手",
    topics: "话题",
    no_topics: "还没有话题。发送一条消息即可开始。",
    pinned: "已置顶",
    settings: "设置",
    rename: "重命名",
    pin: "置顶",
    unpin: "取消置顶",
    move_to_folder: "移动到文件夹",
    edit_tags: "标签",
    delete: "删除",
    delete_topic_confirm: "删除此话题及其所有消息？",
    delete_message_confirm: "删除这条消息以及此分支中其后的所有内容？",
    export_md: "导出为 Markdown",
    export_json: "导出为 JSON",
    clear_context: "清除上下文",
    context_cleared: "上下文已清除：之前的消息不会发送给模型",
    load_older: "加载更早的消息",
    message: "消息",
    message_placeholder: "输入消息。Enter 发送，Shift+Enter 换行。",
    attach: "添加附件",
    send: "发送",
    stop: "停止",
    models: "模型",
    choose_models: "选择一个或多个模型",
    no_models: "还没有模型：请在设置中添加服务商。",
    you: "你",
    system: "系统提示词",
    thinking: "思考过程",
    thought_for: "思考用时",
    regenerate: "重新生成",
    edit: "编辑并重新发送",
    save: "保存并发送",
    cancel: "取消",
    copy: "复制为 Markdown",
    copied: "已复制",
    retry: "重试",
    previous_version: "上一个版本",
    next_version: "下一个版本",
    versions: "版本",
    tokens: "tokens",
    first_token: "首字延迟",
    tokens_per_second: "tokens/秒",
    status_pending: "等待模型回应…",
    status_streaming: "正在回答…",
    status_cancelled: "已停止",
    status_interrupted: "已中断：写入时 Orchard 停止了",
    status_error: "失败",
    empty_chat: "随便问。选择一个模型，或选择多个模型并排比较回答。",
    settings_general: "常规",
    settings_providers: "服务商",
    settings_assistants: "助手",
    back_to_chat: "返回聊天",
    theme: "主题",
    theme_system: "跟随系统",
    theme_light: "浅色",
    theme_dark: "深色",
    language: "语言",
    language_auto: "跟随浏览器",
    import_title: "导入对话",
    import_help: "ChatGPT 的 conversations.json、Claude 导出文件 (conversations.json) 或 Orchard 的 JSON 导出。分支会被保留。",
    import_button: "导入",
    imported: "已导入的话题：",
    providers: "服务商",
    add_provider: "添加服务商",
    from_catalogue: "从目录中选择",
    custom_provider: "自定义（兼容 OpenAI 或其他协议）",
    name: "名称",
    protocol: "协议",
    base_url: "接口地址",
    api_key: "API 密钥",
    add_key: "添加密钥",
    keys: "密钥",
    check_keys: "检查密钥",
    key_ok: "可用",
    key_failed: "失败",
    fetch_models: "获取模型列表",
    enabled: "启用",
    privacy_policy: "隐私政策",
    docs: "文档",
    remove: "移除",
    no_providers: "还没有服务商。添加一个即可开始聊天；密钥只保存在本机，只发送给该服务商。",
    new_assistant: "新建助手",
    emoji: "表情",
    system_prompt: "系统提示词",
    default_model: "默认模型",
    temperature: "温度",
    top_p: "Top P",
    max_tokens: "最大 tokens",
    context_count: "上下文消息数",
    context_count_help: "每次提问时一并发送的历史消息条数",
    send_this: "发送此参数",
    folder_prompt: "文件夹名称（留空表示不放入文件夹）：",
    tags_prompt: "标签，用逗号分隔：",
    rename_prompt: "新标题：",
    attachment_image: "图片",
    attachment_file: "文件",
    error_generic: "出错了",
};

/// Nederlands.
pub static NL: Strings = Strings {
    skip_to_composer: "Naar het berichtvak",
    new_topic: "Nieuw onderwerp",
    search: "Zoeken",
    search_placeholder: "Zoek in alle onderwerpen (Ctrl+K)",
    no_results: "Geen berichten gevonden.",
    assistants: "Assistenten",
    no_assistant: "Geen assistent",
    topics: "Onderwerpen",
    no_topics: "Nog geen onderwerpen. Schrijf een bericht om er een te beginnen.",
    pinned: "Vastgezet",
    settings: "Instellingen",
    rename: "Hernoemen",
    pin: "Vastzetten",
    unpin: "Losmaken",
    move_to_folder: "Naar map verplaatsen",
    edit_tags: "Labels",
    delete: "Verwijderen",
    delete_topic_confirm: "Dit onderwerp en al zijn berichten verwijderen?",
    delete_message_confirm: "Dit bericht en alles wat erna komt in deze tak verwijderen?",
    export_md: "Exporteren als Markdown",
    export_json: "Exporteren als JSON",
    clear_context: "Context wissen",
    context_cleared: "Context gewist: eerdere berichten worden niet naar het model gestuurd",
    load_older: "Oudere berichten laden",
    message: "Bericht",
    message_placeholder: "Schrijf een bericht. Enter verstuurt, Shift+Enter begint een nieuwe regel.",
    attach: "Bestanden bijvoegen",
    send: "Versturen",
    stop: "Stoppen",
    models: "Modellen",
    choose_models: "Kies een of meer modellen",
    no_models: "Nog geen modellen: voeg een aanbieder toe bij Instellingen.",
    you: "Jij",
    system: "Systeemprompt",
    thinking: "Denkproces",
    thought_for: "Nagedacht gedurende",
    regenerate: "Opnieuw genereren",
    edit: "Bewerken en opnieuw versturen",
    save: "Opslaan en versturen",
    cancel: "Annuleren",
    copy: "Kopiëren als Markdown",
    copied: "Gekopieerd",
    retry: "Opnieuw proberen",
    previous_version: "Vorige versie",
    next_version: "Volgende versie",
    versions: "Versies",
    tokens: "tokens",
    first_token: "eerste token",
    tokens_per_second: "tokens/s",
    status_pending: "Wachten op het model…",
    status_streaming: "Bezig met antwoorden…",
    status_cancelled: "Gestopt",
    status_interrupted: "Onderbroken: Orchard stopte terwijl dit werd geschreven",
    status_error: "Mislukt",
    empty_chat: "Vraag wat je wilt. Kies één model, of meerdere om hun antwoorden naast elkaar te vergelijken.",
    settings_general: "Algemeen",
    settings_providers: "Aanbieders",
    settings_assistants: "Assistenten",
    back_to_chat: "Terug naar de chat",
    theme: "Thema",
    theme_system: "Systeem volgen",
    theme_light: "Licht",
    theme_dark: "Donker",
    language: "Taal",
    language_auto: "Van de browser",
    import_title: "Gesprekken importeren",
    import_help: "Een ChatGPT conversations.json, een Claude-export (conversations.json) of een Orchard JSON-export. Vertakkingen blijven behouden.",
    import_button: "Importeren",
    imported: "Geïmporteerde onderwerpen:",
    providers: "Aanbieders",
    add_provider: "Aanbieder toevoegen",
    from_catalogue: "Uit de catalogus",
    custom_provider: "Eigen (OpenAI-compatibel of een ander protocol)",
    name: "Naam",
    protocol: "Protocol",
    base_url: "Basis-URL",
    api_key: "API-sleutel",
    add_key: "Sleutel toevoegen",
    keys: "Sleutels",
    check_keys: "Sleutels controleren",
    key_ok: "werkt",
    key_failed: "mislukt",
    fetch_models: "Modellen ophalen",
    enabled: "Ingeschakeld",
    privacy_policy: "Privacybeleid",
    docs: "Documentatie",
    remove: "Verwijderen",
    no_providers: "Nog geen aanbieders. Voeg er een toe om te chatten; je sleutels blijven op deze computer en gaan alleen naar die aanbieder.",
    new_assistant: "Nieuwe assistent",
    emoji: "Emoji",
    system_prompt: "Systeemprompt",
    default_model: "Standaardmodel",
    temperature: "Temperatuur",
    top_p: "Top P",
    max_tokens: "Max. tokens",
    context_count: "Contextberichten",
    context_count_help: "Hoeveel eerdere berichten met elke vraag worden meegestuurd",
    send_this: "Deze instelling meesturen",
    folder_prompt: "Mapnaam (leeg voor geen map):",
    tags_prompt: "Labels, gescheiden door komma's:",
    rename_prompt: "Nieuwe titel:",
    attachment_image: "Afbeelding",
    attachment_file: "Bestand",
    error_generic: "Er ging iets mis",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, nl;q=0.7, en;q=0.5"),
            Lang::Nl
        );
        assert_eq!(Lang::from_accept_language("fr, de"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn every_language_has_every_string_filled_in() {
        for lang in Lang::ALL {
            let v = serde_json::to_value(lang.s()).unwrap();
            for (k, s) in v.as_object().unwrap() {
                assert!(
                    !s.as_str().unwrap().trim().is_empty(),
                    "{lang:?}.{k} is empty"
                );
            }
        }
        // Translations are translations: most strings differ from English.
        let en = serde_json::to_value(&EN).unwrap();
        for other in [&ZH, &NL] {
            let o = serde_json::to_value(other).unwrap();
            let same = en
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| o[k.as_str()] == **v)
                .count();
            assert!(same < 10, "{same} strings are untranslated");
        }
    }
}
