//! The one place comparison settings are checked and built, whether they
//! come from command-line flags or a rule file: delimiters, column
//! selection, per-column rules (tolerances) and the [`Spec`]. A problem is
//! reported with where it sits in a rule file ([`Place`]), so a file's error
//! names its line, and a flag's error just the problem.

use std::collections::BTreeMap;

use super::{ColumnRule, RuleFile, TypeClass};
use crate::compare::Spec;
use crate::plan::Selection;

/// Where in a rule file a setting lives: table keys, then (optionally) an
/// array element by its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Item(String),
}

pub type Place = Vec<Step>;

/// A setting that cannot be used: where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub place: Place,
    pub message: String,
}

fn problem(place: &[&str], message: String) -> Problem {
    Problem {
        place: place.iter().map(|k| Step::Key(k.to_string())).collect(),
        message,
    }
}

/// A CSV field delimiter: one ASCII character, or tab written as `tab`,
/// `\t` or a tab character. One byte, because a CSV reader splits on bytes
/// (`§` would become 0xC2).
pub fn delimiter(text: &str) -> Result<u8, String> {
    match text {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        d if d.len() == 1 && d.is_ascii() => Ok(d.as_bytes()[0]),
        d => Err(format!(
            "delimiter {d:?} must be one ASCII character (or tab: \"\\t\" or \"tab\")"
        )),
    }
}

/// Checks a selection: key columns, included, excluded and mapped columns,
/// and every column rule (tolerances, normalisers).
pub fn check_selection(selection: &Selection) -> Result<(), Problem> {
    if selection.key.iter().any(|k| k.trim().is_empty()) {
        return Err(problem(
            &["key"],
            "the key holds an empty column name".into(),
        ));
    }
    let in_list = |list: &str, item: &str, message: String| Problem {
        place: vec![
            Step::Key("columns".into()),
            Step::Key(list.into()),
            Step::Item(item.into()),
        ],
        message,
    };
    for key in &selection.key {
        if selection.exclude.contains(key) {
            return Err(in_list(
                "exclude",
                key,
                format!("key column {key:?} cannot be excluded"),
            ));
        }
        if selection.rules.contains_key(key) {
            return Err(problem(
                &["compare", key],
                format!("key column {key:?} cannot have comparison rules (keys match exactly)"),
            ));
        }
    }
    if let Some(both) = selection
        .columns
        .iter()
        .find(|c| selection.exclude.contains(c))
    {
        return Err(in_list(
            "exclude",
            both,
            format!("column {both:?} is both included and excluded"),
        ));
    }
    check_map(&selection.map)?;
    for (name, rule) in &selection.rules {
        check_column_rule(rule)
            .map_err(|m| problem(&["compare", name], format!("column {name}: {m}")))?;
    }
    for (class, rule) in &selection.default_rules {
        let class = class_name(*class);
        check_column_rule(rule)
            .map_err(|m| problem(&["defaults", class], format!("{class} columns: {m}")))?;
    }
    Ok(())
}

fn check_map(map: &BTreeMap<String, String>) -> Result<(), Problem> {
    let mut targets: Vec<(&String, &String)> = map.iter().map(|(l, r)| (r, l)).collect();
    targets.sort();
    match targets.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(w) => Err(problem(
            &["columns", "map", w[1].1],
            format!("two columns are mapped to {:?}", w[0].0),
        )),
        None => Ok(()),
    }
}

fn class_name(class: TypeClass) -> &'static str {
    match class {
        TypeClass::Int => "int",
        TypeClass::Float => "float",
        TypeClass::Decimal => "decimal",
        TypeClass::Text => "text",
        TypeClass::Timestamp => "timestamp",
        TypeClass::Date => "date",
    }
}

/// Values that make sense alone; whether they fit the column's type is
/// checked when the data's schema is known.
pub fn check_column_rule(rule: &ColumnRule) -> Result<(), String> {
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

impl RuleFile {
    /// The comparison a rule file asks for; flags may then change it, and
    /// [`check_selection`] checks the result either way.
    pub fn spec(&self, threads: usize) -> Spec {
        let default = Spec::default();
        Spec {
            selection: self.selection(),
            max_diffs: self.report.sample,
            threads,
            mask: self.report.mask.clone(),
            db_threads: self
                .database
                .threads
                .map_or(default.db_threads, |n| n.get()),
            pushdown: self.database.pushdown.unwrap_or(default.pushdown),
            join_in_database: self.database.join.unwrap_or(default.join_in_database),
            max_load: self.database.max_load,
            ..default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_one_ascii_byte_or_tab_in_any_spelling() {
        for tab in ["tab", "\\t", "\t"] {
            assert_eq!(delimiter(tab), Ok(b'\t'));
        }
        assert_eq!(delimiter(";"), Ok(b';'));
        for bad in ["§", "ab", "", "é"] {
            assert!(delimiter(bad).is_err(), "{bad:?}");
        }
    }
}
