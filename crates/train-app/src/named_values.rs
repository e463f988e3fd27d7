//! Options whose value is one of a closed set of names: `--help` lists the names, and a wrong
//! one is refused with the type's own message, naming the flag (e.g. `--mode semi`).

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

/// A clap value parser over `names`, parsed by `parse`.
#[derive(Clone)]
pub struct NamedValues<T: 'static> {
    names: &'static [&'static str],
    parse: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send + Sync + 'static> NamedValues<T> {
    pub fn new(names: &'static [&'static str], parse: fn(&str) -> Result<T, String>) -> Self {
        Self { names, parse }
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for NamedValues<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.map_or("value".into(), |arg| {
            format!("--{}", arg.get_id()).replace('_', "-")
        });
        let text = value.to_string_lossy();
        (self.parse)(&text).map_err(|reason| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!("{flag} `{text}`: {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.names.iter().map(|name| PossibleValue::new(*name)),
        ))
    }
}
