//! Reading a rule file: TOML into [`RuleFile`], then the checks that need
//! more than one field. Every error names the file and the line.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{ColumnRule, RuleFile};
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
    check(&rules).map_err(|(needle, message)| at(find_line(text, &needle), message))?;
    Ok(rules)
}

/// Checks across fields; on failure, a text to find the line by and the message.
fn check(rules: &RuleFile) -> std::result::Result<(), (String, String)> {
    if rules.key.iter().any(|k| k.trim().is_empty()) {
        return Err(("key".into(), "`key` holds an empty column name".into()));
    }
    if rules.key.is_empty() && rules.aggregates.is_none() {
        return Err((
            "[left]".into(),
            "a rule file needs `key = [\"col\", ...]` (before the first [table]) or an [aggregates] table".into(),
        ));
    }
    if let Some(a) = &rules.aggregates {
        for (name, v) in [("abs", a.abs), ("rel", a.rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err((
                    "[aggregates]".into(),
                    format!("[aggregates] {name} = {v}: expected a number, 0 or more"),
                ));
            }
        }
        if a.metrics.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(("metrics".into(), "[aggregates] metrics is empty".into()));
        }
    }
    for side in [&rules.left, &rules.right] {
        if side.source.trim().is_empty() {
            return Err(("source".into(), "`source` is empty".into()));
        }
        // One byte: a CSV reader splits on bytes, so `§` would become 0xC2.
        if let Some(d) = &side.delimiter
            && d != "\\t"
            && !(d.len() == 1 && d.is_ascii())
        {
            return Err((
                "delimiter".into(),
                format!("delimiter {d:?} must be one ASCII character (or \"\\t\")"),
            ));
        }
    }
    let columns = &rules.columns;
    for key in &rules.key {
        if columns.exclude.contains(key) {
            return Err((
                format!("\"{key}\""),
                format!("key column {key:?} cannot be excluded"),
            ));
        }
        if rules.compare.contains_key(key) {
            return Err((
                format!("compare.{key}"),
                format!("key column {key:?} cannot have comparison rules (keys match exactly)"),
            ));
        }
    }
    if let Some(both) = columns.include.iter().find(|c| columns.exclude.contains(c)) {
        return Err((
            format!("\"{both}\""),
            format!("column {both:?} is both included and excluded"),
        ));
    }
    let mut targets: Vec<&String> = columns.map.values().collect();
    targets.sort();
    if let Some(twice) = targets.windows(2).find(|w| w[0] == w[1]) {
        return Err((
            format!("\"{}\"", twice[0]),
            format!("two columns are mapped to {:?}", twice[0]),
        ));
    }
    let named = rules
        .compare
        .iter()
        .map(|(name, rule)| (format!("compare.{name}"), rule));
    let typed = rules
        .defaults
        .iter()
        .map(|(class, rule)| (format!("defaults.{}", class_name(*class)), rule));
    for (place, rule) in named.chain(typed) {
        check_column_rule(rule).map_err(|m| (place.clone(), format!("[{place}]: {m}")))?;
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
                return Err((
                    name.into(),
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
            return Err((
                name.into(),
                format!("{name}: warn ({w}) is above fail ({f})"),
            ));
        }
    }
    Ok(())
}

fn class_name(class: super::TypeClass) -> &'static str {
    use super::TypeClass::*;
    match class {
        Int => "int",
        Float => "float",
        Decimal => "decimal",
        Text => "text",
        Timestamp => "timestamp",
        Date => "date",
    }
}

/// Values that make sense alone; whether they fit the column's type is
/// checked when the data's schema is known.
fn check_column_rule(rule: &ColumnRule) -> std::result::Result<(), String> {
    for (name, value) in [("abs", rule.abs), ("rel", rule.rel)] {
        if let Some(v) = value
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(format!("{name} = {v}: expected a number, 0 or more"));
        }
    }
    if let Some(d) = rule.digits
        && !(1..=17).contains(&d)
    {
        return Err(format!("digits = {d}: expected 1 to 17 significant digits"));
    }
    let numeric = rule.abs.is_some() || rule.rel.is_some() || rule.digits.is_some();
    let textual =
        rule.trim.is_some() || rule.case_insensitive.is_some() || rule.null_equals_empty.is_some();
    if numeric && rule.time.is_some() {
        return Err("a numeric tolerance and a time tolerance cannot both apply".into());
    }
    if textual && (numeric || rule.time.is_some()) {
        return Err("text rules (trim, case_insensitive, null_equals_empty) and numeric or time tolerances cannot both apply".into());
    }
    Ok(())
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

/// The first line that mentions `needle` as a whole word outside a comment
/// (`key` is not found in `monkey`, nor `compare.a` in `compare.ab`).
fn find_line(text: &str, needle: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    text.lines()
        .position(|line| {
            let code = line.split('#').next().unwrap_or("");
            code.match_indices(needle).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + needle.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
        .map(|i| i + 1)
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
