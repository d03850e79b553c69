//! Reading API keys from stdin, an environment variable, or a hidden prompt: never from
//! argv, which every user of the machine can read with `ps`.

use std::io::{IsTerminal, Read};

use orchard_app::AppError;
use orchard_core::secret::ApiKey;

use crate::args::KeyArgs;

/// The keys given, in order. `prompt_for` names the provider for an interactive prompt
/// (used only when stdin is a terminal and no other source was given).
pub fn read_keys(args: &KeyArgs, prompt_for: Option<&str>) -> Result<Vec<ApiKey>, AppError> {
    if args.key_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| AppError::invalid(format!("cannot read keys from standard input: {e}")))?;
        let mut keys = Vec::new();
        for (n, line) in input.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let key = ApiKey::parse(line)
                .map_err(|e| AppError::invalid(format!("line {} of standard input: {e}", n + 1)))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(AppError::invalid(
                "--key-stdin was given but standard input held no key",
            ));
        }
        return Ok(keys);
    }
    if let Some(var) = &args.key_env {
        if !is_env_name(var) {
            return Err(AppError::invalid(
                "--key-env takes the name of an environment variable (letters, digits and _), not the key itself",
            ));
        }
        // A mixed-case "name" may be a key pasted in the wrong place: name only the
        // conventional upper-case ones.
        let shown = if var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            var.as_str()
        } else {
            "named by --key-env"
        };
        let value = std::env::var(var).map_err(|_| {
            AppError::invalid(format!("the environment variable {shown} is not set"))
        })?;
        let key = ApiKey::parse(&value)
            .map_err(|e| AppError::invalid(format!("the environment variable {shown}: {e}")))?;
        return Ok(vec![key]);
    }
    match prompt_for {
        Some(name) if std::io::stdin().is_terminal() => {
            let typed = rpassword::prompt_password(format!(
                "API key for {name} (input hidden, empty for none): "
            ))
            .map_err(|e| AppError::invalid(format!("cannot read the key: {e}")))?;
            if typed.trim().is_empty() {
                return Ok(Vec::new());
            }
            Ok(vec![
                ApiKey::parse(&typed).map_err(|e| AppError::invalid(e.to_string()))?,
            ])
        }
        _ => Ok(Vec::new()),
    }
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}
