//! WebDriver's special keys and the key sequences sent with the Actions API.

use std::fmt;

use serde_json::{Value, json};

/// A special key, as the private-use codepoint WebDriver assigns it.
///
/// Use it in text (`format!("hi{}", Key::Enter)`, or the `char` via
/// [`Key::as_char`]) for [`Element::send_keys`](super::Element::send_keys)
/// and [`Browser::send_keys_to_active`](super::Browser::send_keys_to_active),
/// or as a modifier in [`Browser::chord`](super::Browser::chord).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// Releases every held modifier in a send-keys text (`\u{E000}`).
    Null,
    /// Backspace (`\u{E003}`).
    Backspace,
    /// Tab (`\u{E004}`).
    Tab,
    /// Enter (`\u{E007}`).
    Enter,
    /// Shift (`\u{E008}`), a modifier.
    Shift,
    /// Control (`\u{E009}`), a modifier.
    Control,
    /// Alt (`\u{E00A}`), a modifier.
    Alt,
    /// Escape (`\u{E00C}`).
    Escape,
    /// Space (`\u{E00D}`).
    Space,
    /// Page Up (`\u{E00E}`).
    PageUp,
    /// Page Down (`\u{E00F}`).
    PageDown,
    /// End (`\u{E010}`).
    End,
    /// Home (`\u{E011}`).
    Home,
    /// Left arrow (`\u{E012}`).
    ArrowLeft,
    /// Up arrow (`\u{E013}`).
    ArrowUp,
    /// Right arrow (`\u{E014}`).
    ArrowRight,
    /// Down arrow (`\u{E015}`).
    ArrowDown,
    /// Delete (`\u{E017}`).
    Delete,
    /// Meta / Command (`\u{E03D}`), a modifier.
    Meta,
}

impl Key {
    /// The codepoint WebDriver uses for this key.
    pub const fn as_char(self) -> char {
        match self {
            Key::Null => '\u{E000}',
            Key::Backspace => '\u{E003}',
            Key::Tab => '\u{E004}',
            Key::Enter => '\u{E007}',
            Key::Shift => '\u{E008}',
            Key::Control => '\u{E009}',
            Key::Alt => '\u{E00A}',
            Key::Escape => '\u{E00C}',
            Key::Space => '\u{E00D}',
            Key::PageUp => '\u{E00E}',
            Key::PageDown => '\u{E00F}',
            Key::End => '\u{E010}',
            Key::Home => '\u{E011}',
            Key::ArrowLeft => '\u{E012}',
            Key::ArrowUp => '\u{E013}',
            Key::ArrowRight => '\u{E014}',
            Key::ArrowDown => '\u{E015}',
            Key::Delete => '\u{E017}',
            Key::Meta => '\u{E03D}',
        }
    }

    /// The key whose codepoint this is, if it is one of ours.
    pub fn named(c: char) -> Option<Key> {
        ALL.iter().copied().find(|k| k.as_char() == c)
    }

    /// Whether the key is a modifier (held, not typed).
    pub const fn is_modifier(self) -> bool {
        matches!(self, Key::Shift | Key::Control | Key::Alt | Key::Meta)
    }
}

/// Every [`Key`], for lookups by codepoint.
const ALL: [Key; 19] = [
    Key::Null,
    Key::Backspace,
    Key::Tab,
    Key::Enter,
    Key::Shift,
    Key::Control,
    Key::Alt,
    Key::Escape,
    Key::Space,
    Key::PageUp,
    Key::PageDown,
    Key::End,
    Key::Home,
    Key::ArrowLeft,
    Key::ArrowUp,
    Key::ArrowRight,
    Key::ArrowDown,
    Key::Delete,
    Key::Meta,
];

impl From<Key> for char {
    fn from(key: Key) -> char {
        key.as_char()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Whether a codepoint is one of WebDriver's modifier keys (left or right).
fn is_modifier_char(c: char) -> bool {
    matches!(
        c,
        '\u{E008}'..='\u{E00A}' | '\u{E03D}' | '\u{E050}'..='\u{E053}'
    )
}

fn key_action(kind: &str, c: char) -> Value {
    json!({"type": kind, "value": c.to_string()})
}

/// Key actions typing `text` as WebDriver's element send keys does: each
/// character pressed and released, modifiers toggled (held until pressed
/// again, [`Key::Null`] or the end of the text).
pub(crate) fn typing(text: &str) -> Vec<Value> {
    let mut actions = Vec::new();
    let mut held: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == Key::Null.as_char() {
            for m in held.drain(..).rev() {
                actions.push(key_action("keyUp", m));
            }
        } else if is_modifier_char(c) {
            if let Some(i) = held.iter().position(|h| *h == c) {
                held.remove(i);
                actions.push(key_action("keyUp", c));
            } else {
                held.push(c);
                actions.push(key_action("keyDown", c));
            }
        } else {
            actions.push(key_action("keyDown", c));
            actions.push(key_action("keyUp", c));
        }
    }
    for m in held.into_iter().rev() {
        actions.push(key_action("keyUp", m));
    }
    actions
}

/// Key actions for a chord: modifiers down in order, the key pressed and
/// released, modifiers up in reverse order.
pub(crate) fn chord(modifiers: &[Key], key: char) -> Vec<Value> {
    let mut actions: Vec<Value> = modifiers
        .iter()
        .map(|m| key_action("keyDown", m.as_char()))
        .collect();
    actions.push(key_action("keyDown", key));
    actions.push(key_action("keyUp", key));
    actions.extend(
        modifiers
            .iter()
            .rev()
            .map(|m| key_action("keyUp", m.as_char())),
    );
    actions
}

/// The body of `POST /session/{id}/actions` for one keyboard's actions.
pub(crate) fn keyboard_actions(actions: Vec<Value>) -> Value {
    json!({"actions": [{"type": "key", "id": "orchard-keyboard", "actions": actions}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(actions: &[Value]) -> Vec<String> {
        actions
            .iter()
            .map(|a| {
                let v = a["value"].as_str().unwrap();
                let name = match v.chars().next().unwrap() {
                    '\u{E009}' => "Ctrl".to_owned(),
                    '\u{E008}' => "Shift".to_owned(),
                    '\u{E007}' => "Enter".to_owned(),
                    _ => v.to_owned(),
                };
                format!("{}{name}", if a["type"] == "keyDown" { "+" } else { "-" })
            })
            .collect()
    }

    #[test]
    fn chord_nests_modifiers() {
        assert_eq!(
            summary(&chord(&[Key::Control, Key::Shift], 'o')),
            ["+Ctrl", "+Shift", "+o", "-o", "-Shift", "-Ctrl"]
        );
    }

    #[test]
    fn typing_holds_modifiers_until_toggled_or_end() {
        let text = format!(
            "a{}b{}c{}d{}",
            Key::Shift,
            Key::Shift,
            Key::Control,
            Key::Enter
        );
        assert_eq!(
            summary(&typing(&text)),
            [
                "+a", "-a", "+Shift", "+b", "-b", "-Shift", "+c", "-c", "+Ctrl", "+d", "-d",
                "+Enter", "-Enter", "-Ctrl"
            ]
        );
    }
}
