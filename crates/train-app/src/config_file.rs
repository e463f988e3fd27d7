//! Config files: the same `#[derive(Config)]` structs as the code, in TOML or JSON, with
//! unknown keys rejected so that a typo never silently falls back to a default.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Reads `path` (`.toml`, or JSON otherwise) into `C`, refusing keys `C` does not have.
pub fn load<C: Serialize + DeserializeOwned>(path: &Path) -> Result<C> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let is_toml = path.extension().is_some_and(|ext| ext == "toml");
    parse(&text, is_toml).with_context(|| format!("invalid config file {}", path.display()))
}

/// Parses config text (TOML or JSON) into `C`, refusing unknown keys.
pub fn parse<C: Serialize + DeserializeOwned>(text: &str, is_toml: bool) -> Result<C> {
    let given: Value = if is_toml {
        let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        serde_json::to_value(table)?
    } else {
        serde_json::from_str(text).context("not valid JSON")?
    };
    let config: C = serde_json::from_value(given.clone())
        .context("a key has the wrong type or a required key is missing")?;
    let known = serde_json::to_value(&config)?;
    if let Some(key) = first_unknown_key(&given, &known, "") {
        bail!("unknown key `{key}` (not a field of this config; check its spelling)");
    }
    Ok(config)
}

/// The dotted path of the first key of `given` that is absent from `known`.
fn first_unknown_key(given: &Value, known: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(given), Value::Object(known)) = (given, known) else {
        return None;
    };
    for (key, value) in given {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => return Some(path),
            Some(known_value) => {
                if let Some(unknown) = first_unknown_key(value, known_value, &path) {
                    return Some(unknown);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use contrastive_core::loss::NtXentConfig;
    use contrastive_core::optim::{LrDecay, WarmupScheduleConfig};

    #[test]
    fn toml_and_json_give_the_same_config() {
        let from_toml: WarmupScheduleConfig = parse(
            "peak_lr = 0.5\ntotal_steps = 100\ndecay = \"Linear\"\n",
            true,
        )
        .unwrap();
        let from_json: WarmupScheduleConfig = parse(
            r#"{"peak_lr": 0.5, "total_steps": 100, "decay": "Linear"}"#,
            false,
        )
        .unwrap();
        assert_eq!(from_toml.decay, LrDecay::Linear);
        assert_eq!(from_toml.to_string(), from_json.to_string());
        assert_eq!(
            from_toml.warmup_steps, 0,
            "omitted keys take their defaults"
        );
    }

    #[test]
    fn unknown_and_mistyped_keys_are_errors() {
        let err = parse::<NtXentConfig>("temprature = 0.1", true).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown key `temprature`"),
            "{err:#}"
        );
        let err = parse::<NtXentConfig>(r#"{"temperature": "hot"}"#, false).unwrap_err();
        assert!(format!("{err:#}").contains("wrong type"), "{err:#}");
        assert!(parse::<NtXentConfig>("temperature = ", true).is_err());
    }
}
