//! Config files: the same `#[derive(Config)]` structs as the code, in TOML or JSON. A file
//! gives only the keys it changes — the rest come from the defaults — and an unknown key is
//! an error, so that a typo never silently falls back to a default.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Reads `path` (`.toml`, or JSON otherwise) over `defaults`, refusing keys `C` does not have.
pub fn load<C: Serialize + DeserializeOwned>(path: &Path, defaults: &C) -> Result<C> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let is_toml = path.extension().is_some_and(|ext| ext == "toml");
    parse(&text, is_toml, defaults)
        .with_context(|| format!("invalid config file {}", path.display()))
}

/// Parses config text (TOML or JSON) over `defaults`, refusing unknown keys.
pub fn parse<C: Serialize + DeserializeOwned>(
    text: &str,
    is_toml: bool,
    defaults: &C,
) -> Result<C> {
    let given: Value = if is_toml {
        let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        serde_json::to_value(table)?
    } else {
        serde_json::from_str(text).context("not valid JSON")?
    };
    over(given, defaults)
}

/// Applies `--set KEY=VALUE` assignments, in order, over `config`. `KEY` is a dotted path
/// (`model.temperature`); `VALUE` is read as TOML (`0.2`, `true`, `[0.6, 1.0]`, `"Adam"`), or
/// as text when it is not TOML (`Adam`).
pub fn set<C: Serialize + DeserializeOwned>(config: C, assignments: &[String]) -> Result<C> {
    assignments.iter().try_fold(config, |config, assignment| {
        let Some((key, text)) = assignment.split_once('=') else {
            bail!("--set {assignment}: expected KEY=VALUE, e.g. model.temperature=0.2");
        };
        let value = toml_value(text.trim());
        let given = key
            .trim()
            .rsplit('.')
            .fold(value, |inner, part| serde_json::json!({ part: inner }));
        over(given, &config).with_context(|| format!("--set {assignment}"))
    })
}

/// `text` as a TOML value, or as a string when it is not one.
fn toml_value(text: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .and_then(|value| serde_json::to_value(value).ok())
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// `config` as TOML that [`load`] reads back into the same config. Keys whose value is `None`
/// are left out: TOML has no null, and every optional key of our configs defaults to `None`.
pub fn to_toml<C: Serialize>(config: &C) -> Result<String> {
    toml::to_string(config).context("the config cannot be written as TOML")
}

/// `given` (a partial config) over `defaults`, refusing keys `C` does not have and naming the
/// first key of a wrong type.
fn over<C: Serialize + DeserializeOwned>(given: Value, defaults: &C) -> Result<C> {
    let defaults = serde_json::to_value(defaults)?;
    if let Some(key) = first_unknown_key(&given, &defaults, "") {
        bail!("unknown key `{key}` (not a field of this config; check its spelling)");
    }
    let mut merged = defaults.clone();
    merge(&mut merged, given.clone());
    serde_json::from_value(merged).map_err(|error| {
        match first_mistyped_key::<C>(&given, &defaults, &[]) {
            Some(key) => anyhow::anyhow!("`{key}` has the wrong type or value: {error}"),
            None => anyhow::anyhow!("a key has the wrong type or value: {error}"),
        }
    })
}

/// The dotted path of the first leaf of `given` that alone, over `defaults`, fails to parse.
fn first_mistyped_key<C: DeserializeOwned>(
    given: &Value,
    defaults: &Value,
    prefix: &[String],
) -> Option<String> {
    let Value::Object(fields) = given else {
        return None;
    };
    fields.iter().find_map(|(key, value)| {
        let path: Vec<String> = prefix.iter().cloned().chain([key.clone()]).collect();
        if value.is_object() {
            return first_mistyped_key::<C>(value, defaults, &path);
        }
        // `defaults` with only this leaf replaced.
        let leaf = path.iter().rev().fold(
            value.clone(),
            |inner, key| serde_json::json!({ key: inner }),
        );
        let mut single = defaults.clone();
        merge(&mut single, leaf);
        serde_json::from_value::<C>(single)
            .is_err()
            .then(|| path.join("."))
    })
}

/// Overwrites `base` with `update`, recursing into objects present in both.
fn merge(base: &mut Value, update: Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// The dotted path of the first value that differs between two configs, if any.
pub fn first_difference<C: Serialize>(a: &C, b: &C) -> Result<Option<String>> {
    fn walk(a: &Value, b: &Value, prefix: &str) -> Option<String> {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => a
                .iter()
                .find_map(|(key, value)| {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    match b.get(key) {
                        Some(other) => walk(value, other, &path),
                        None => Some(path),
                    }
                })
                .or_else(|| {
                    b.keys()
                        .find(|k| !a.contains_key(*k))
                        .map(|k| format!("{prefix}{}{k}", if prefix.is_empty() { "" } else { "." }))
                }),
            _ if a == b => None,
            _ => Some(prefix.to_string()),
        }
    }
    Ok(walk(
        &serde_json::to_value(a)?,
        &serde_json::to_value(b)?,
        "",
    ))
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
        let defaults = WarmupScheduleConfig::new(1.0, 1);
        let toml_text = "peak_lr = 0.5\ntotal_steps = 100\ndecay = \"Linear\"\n";
        let from_toml: WarmupScheduleConfig = parse(toml_text, true, &defaults).unwrap();
        let json_text = r#"{"peak_lr": 0.5, "total_steps": 100, "decay": "Linear"}"#;
        let from_json: WarmupScheduleConfig = parse(json_text, false, &defaults).unwrap();
        assert_eq!(from_toml.decay, LrDecay::Linear);
        assert_eq!(from_toml.to_string(), from_json.to_string());
        assert_eq!(
            from_toml.warmup_steps, 0,
            "omitted keys take their defaults"
        );
    }

    #[test]
    fn first_difference_names_the_dotted_key() {
        let a = WarmupScheduleConfig::new(0.5, 100);
        assert_eq!(first_difference(&a, &a.clone()).unwrap(), None);
        let b = a.clone().with_warmup_steps(3);
        assert_eq!(
            first_difference(&a, &b).unwrap().as_deref(),
            Some("warmup_steps")
        );
    }

    #[test]
    fn unknown_and_mistyped_keys_are_errors() {
        let defaults = NtXentConfig::new();
        let err = parse("temprature = 0.1", true, &defaults).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown key `temprature`"),
            "{err:#}"
        );
        let err = parse(r#"{"temperature": "hot"}"#, false, &defaults).unwrap_err();
        assert!(
            format!("{err:#}").contains("`temperature` has the wrong type"),
            "{err:#}"
        );
        assert!(parse("temperature = ", true, &defaults).is_err());
        let nested = simclr::SimclrConfig::new();
        let err = parse("[model]\ntemperature = \"hot\"", true, &nested).unwrap_err();
        assert!(
            format!("{err:#}").contains("`model.temperature` has the wrong type"),
            "{err:#}"
        );
        let changed = parse(r#"{"temperature": 0.2}"#, false, &defaults).unwrap();
        assert_eq!(changed.temperature, 0.2);
    }

    #[test]
    fn set_reaches_nested_keys_with_typed_values() {
        let assignments = [
            "model.temperature=0.2",
            "augment.crop_scale = [0.3, 1.0]",
            "optimizer=Adam",
            "model.head_hidden_dim=64",
            "model.encoder.width_multiplier=0.25",
        ]
        .map(String::from);
        let config = set(simclr::SimclrConfig::new(), &assignments).unwrap();
        assert_eq!(config.model.temperature, 0.2);
        assert_eq!(config.augment.crop_scale, [0.3, 1.0]);
        assert_eq!(config.optimizer, simclr::OptimizerKind::Adam);
        assert_eq!(config.model.head_hidden_dim, Some(64));
        assert_eq!(config.model.encoder.width_multiplier, 0.25);
        assert_eq!(
            first_difference(
                &config.model.encoder,
                &simclr::SimclrConfig::new().model.encoder
            )
            .unwrap()
            .as_deref(),
            Some("width_multiplier"),
            "nothing else changed"
        );
    }

    #[test]
    fn set_names_the_key_it_cannot_set() {
        let config = simclr::SimclrConfig::new();
        for (assignment, expect) in [
            ("model.temprature=0.2", "unknown key `model.temprature`"),
            (
                "model.temperature=hot",
                "`model.temperature` has the wrong type",
            ),
            ("epochs", "expected KEY=VALUE"),
        ] {
            let err = set(config.clone(), &[assignment.to_string()]).unwrap_err();
            let message = format!("{err:#}");
            assert!(
                message.contains(expect) && message.contains(assignment),
                "{assignment}: {message}"
            );
        }
    }

    #[test]
    fn toml_output_reads_back_as_the_same_config() {
        let defaults = simclr::SimclrConfig::new();
        let mut config = defaults.clone();
        config.model.head_hidden_dim = Some(256);
        config.model.temperature = 0.2;
        config.augment.crop_scale = [0.6, 1.0];
        config.optimizer = simclr::OptimizerKind::Adam;
        let text = to_toml(&config).unwrap();
        let back: simclr::SimclrConfig = parse(&text, true, &defaults).unwrap();
        assert_eq!(first_difference(&config, &back).unwrap(), None, "{text}");
        let plain: simclr::SimclrConfig =
            parse(&to_toml(&defaults).unwrap(), true, &defaults).unwrap();
        assert_eq!(first_difference(&defaults, &plain).unwrap(), None);
    }
}
