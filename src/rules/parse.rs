//! Reading a rule file: TOML into [`RuleFile`], then the checks that need
//! more than one field. Every error names the file and the line.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::RuleFile;
use super::settings::{self, Problem, Step};
#[cfg(test)]
use crate::canon::Duration;
use crate::error::{Error, Result};

/// Parses and checks one rule file's text.
pub fn parse(path: &Path, text: &str) -> Result<RuleFile> {
    let at = |line: Option<usize>, message: String| Error::Rules {
        path: path.display().to_string(),
        line,
        message,
    };
    let rules: RuleFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of_offset(text, s.start));
        at(line, plain_words(&crate::error::one_line(e.message())))
    })?;
    check(&rules).map_err(|p| at(line_at(text, &p.place), p.message))?;
    Ok(rules)
}

/// Checks across fields: the settings every front end shares, then what
/// only a rule file has (sources, aggregates, the gate).
fn check(rules: &RuleFile) -> std::result::Result<(), Problem> {
    let at = |place: &[&str], message: String| Problem {
        place: place.iter().map(|k| Step::Key(k.to_string())).collect(),
        message,
    };
    // A database's tables name their own keys (primary key, unique index).
    let database = |source: &str| source.contains("://") || source.trim_start().starts_with("${");
    if rules.key.is_empty()
        && rules.aggregates.is_none()
        && !(database(&rules.left.source) && database(&rules.right.source))
    {
        return Err(at(
            &["left"],
            "a rule file needs `key = [\"col\", ...]` (before the first [table]) or an [aggregates] table".into(),
        ));
    }
    settings::check_selection(&rules.selection())?;
    super::tables::check_rules(&rules.tables, &rules.table)?;
    if let Some(a) = &rules.aggregates {
        for (name, v) in [("abs", a.abs), ("rel", a.rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(at(
                    &["aggregates", name],
                    format!("[aggregates] {name} = {v}: expected a number, 0 or more"),
                ));
            }
        }
        if a.metrics.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(at(
                &["aggregates", "metrics"],
                "[aggregates] metrics is empty".into(),
            ));
        }
    }
    for (name, side) in [("left", &rules.left), ("right", &rules.right)] {
        if side.source.trim().is_empty() {
            return Err(at(&[name, "source"], "`source` is empty".into()));
        }
        if let Some(d) = &side.delimiter {
            settings::delimiter(d).map_err(|m| at(&[name, "delimiter"], m))?;
        }
    }
    let gate = &rules.gate;
    for (name, threshold) in [
        ("max_only_left", &gate.max_only_left),
        ("max_only_right", &gate.max_only_right),
        ("max_changed", &gate.max_changed),
        ("max_diff_ratio", &gate.max_diff_ratio),
    ] {
        let Some(t) = threshold else { continue };
        let ratio = name == "max_diff_ratio";
        for value in [t.warn, t.fail].into_iter().flatten() {
            let fits = value >= 0.0 && (!ratio || value <= 1.0) && (ratio || value.fract() == 0.0);
            if !fits {
                return Err(at(
                    &["gate", name],
                    format!(
                        "{name} = {value}: expected {}",
                        if ratio {
                            "a ratio between 0 and 1"
                        } else {
                            "a whole number of rows, 0 or more"
                        }
                    ),
                ));
            }
        }
        if let (Some(w), Some(f)) = (t.warn, t.fail)
            && w > f
        {
            return Err(at(
                &["gate", name],
                format!("{name}: warn ({w}) is above fail ({f})"),
            ));
        }
    }
    Ok(())
}

/// The line of the setting at `place`, from the TOML parser's spans: the
/// deepest step found (a table key's own line when its value is a table).
fn line_at(text: &str, place: &[Step]) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut span = None;
    let mut table = Some(document.get_ref());
    let mut array = None;
    for step in place {
        match step {
            Step::Key(name) => {
                let (key, value) = table?.iter().find(|(k, _)| k.get_ref() == name)?;
                span = Some(match value.get_ref() {
                    toml::de::DeValue::Table(_) => key.span(),
                    _ => value.span(),
                });
                (table, array) = match value.get_ref() {
                    toml::de::DeValue::Table(t) => (Some(t), None),
                    toml::de::DeValue::Array(a) => (None, Some(a)),
                    _ => (None, None),
                };
            }
            Step::Item(text) => {
                let item = array?
                    .iter()
                    .find(|v| matches!(v.get_ref(), toml::de::DeValue::String(s) if s == text))?;
                span = Some(item.span());
            }
        }
    }
    span.map(|s| line_of_offset(text, s.start))
}

/// serde names Rust types in its messages; a rule file's author thinks in
/// TOML values.
fn plain_words(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, plain) in [
        ("expected usize", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list like [\"a\", \"b\"]"),
    ] {
        out = out.replace(rust, plain);
    }
    out
}

/// The 1-based line holding byte `offset`.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A gate threshold: a bare number is the fail level; a table gives either level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Threshold {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
}

impl<'de> serde::Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number (the fail level) or a table like { warn = 10, fail = 100 }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Threshold, E> {
                Ok(Threshold {
                    warn: None,
                    fail: Some(v as f64),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Threshold, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Threshold, E> {
                Ok(Threshold {
                    warn: None,
                    fail: Some(v),
                })
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Threshold, A::Error> {
                let mut out = Threshold::default();
                while let Some(key) = map.next_key::<String>()? {
                    let value: f64 = map.next_value()?;
                    match key.as_str() {
                        "warn" => out.warn = Some(value),
                        "fail" => out.fail = Some(value),
                        other => {
                            return Err(de::Error::unknown_field(other, &["warn", "fail"]));
                        }
                    }
                }
                if out.warn.is_none() && out.fail.is_none() {
                    return Err(de::Error::custom(
                        "a threshold needs `warn`, `fail` or both",
                    ));
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        match parse(Path::new("r.toml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str =
        "key = [\"id\"]\n[left]\nsource = \"a.parquet\"\n[right]\nsource = \"b.parquet\"\n";

    #[test]
    fn a_minimal_file_parses() {
        let rules = parse(Path::new("r.toml"), MINIMAL).unwrap();
        assert_eq!(rules.key, vec!["id".to_string()]);
        assert!(rules.gate.allow_type_widening);
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases = [
            // unknown key in a table
            (
                format!("{MINIMAL}[gate]\nmax_changd = 3\n"),
                7,
                "max_changd",
            ),
            // wrong type
            (
                format!("{MINIMAL}[report]\nsample = \"ten\"\n"),
                7,
                "whole number",
            ),
            // bad duration
            (
                format!("{MINIMAL}[compare.ts]\ntime = \"2 parsecs\"\n"),
                7,
                "duration",
            ),
            // negative tolerance
            (
                format!("{MINIMAL}[compare.price]\nabs = -1\n"),
                6,
                "0 or more",
            ),
            // threshold table with an unknown level
            (
                format!("{MINIMAL}[gate]\nmax_changed = {{ warm = 1 }}\n"),
                7,
                "warm",
            ),
            // ratio above 1
            (
                format!("{MINIMAL}[gate]\nmax_diff_ratio = 2\n"),
                7,
                "between 0 and 1",
            ),
            // rules on a key column
            (
                format!("{MINIMAL}[compare.id]\ntrim = true\n"),
                6,
                "key column",
            ),
            // TOML syntax
            (format!("{MINIMAL}[gate\n"), 6, ""),
            // a word inside another is not the key it names
            (
                "# the monkey keys\nname = \"monkey\"\nkey = [\" \"]\n[left]\nsource = \"a\"\n\
                 [right]\nsource = \"b\"\n"
                    .to_string(),
                3,
                "empty column name",
            ),
            // a delimiter a CSV reader cannot split on
            (
                "key = [\"id\"]\n[left]\nsource = \"a.csv\"\ndelimiter = \"§\"\n[right]\n\
                 source = \"b\"\n"
                    .to_string(),
                4,
                "one ASCII character",
            ),
            // the same name elsewhere first: the line is the setting's own
            (
                "description = \"id is the key; exclude = nothing\"\nkey = [\"id\"]\n\
                 [left]\nsource = \"a\"\n[right]\nsource = \"b\"\n[columns]\n\
                 exclude = [\n  \"note\",\n  \"id\",\n]\n"
                    .to_string(),
                10,
                "cannot be excluded",
            ),
            (
                "key = [\"id\"]\n[left]\nsource = \"a\"\ndelimiter = \";\"\n[right]\n\
                 source = \"b\"\ndelimiter = \"ab\"\n"
                    .to_string(),
                7,
                "one ASCII character",
            ),
            (
                format!("{MINIMAL}[columns.map]\na = \"x\"\nb = \"x\"\n"),
                8,
                "mapped to",
            ),
        ];
        for (text, line, word) in cases {
            let message = error_of(&text);
            assert!(
                message.starts_with(&format!("r.toml:{line}: ")),
                "{message:?} for\n{text}"
            );
            assert!(message.contains(word), "{message:?} lacks {word:?}");
            assert!(!message.contains('\n'), "{message:?}");
        }
    }

    #[test]
    fn tab_is_spelled_as_on_the_command_line() {
        for tab in ["tab", "\\\\t", "\\t"] {
            let text = format!(
                "key = [\"id\"]\n[left]\nsource = \"a.csv\"\ndelimiter = \"{tab}\"\n\
                 [right]\nsource = \"b\"\n"
            );
            let rules = parse(Path::new("r.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
            let d = rules.left.delimiter.unwrap();
            assert_eq!(super::settings::delimiter(&d), Ok(b'\t'), "{tab}");
        }
    }

    #[test]
    fn missing_sections_are_named() {
        let message = error_of("key = [\"id\"]\n[left]\nsource = \"a\"\n");
        assert!(message.contains("right"), "{message}");
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("1ms").unwrap().nanos, 1_000_000);
        assert_eq!(Duration::parse("2s").unwrap().nanos, 2_000_000_000);
        assert_eq!(Duration::parse("90us").unwrap().nanos, 90_000);
        assert!(Duration::parse("1.5s").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("99999999999d").is_err());
    }
}
