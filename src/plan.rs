//! The comparison plan: which columns are keys, which are compared, how each
//! pair of column types is compared, and what the schemas disagree on. It is
//! computed once from the two schemas, before any data is read.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Schema};

use crate::canon::{ColumnPlan, Family, family};
use crate::canon::{ColumnRule, TypeClass};
use crate::error::{Error, Result, Side};

/// What the user asked to compare.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// Key columns, in order (one or more).
    pub key: Vec<String>,
    /// Compare only these columns (besides the key); all common columns when empty.
    pub columns: Vec<String>,
    /// Never compare these columns.
    pub exclude: Vec<String>,
    /// Left name → right name, for columns named differently on the two sides.
    pub map: BTreeMap<String, String>,
    /// Comparison rules per compared column (left name).
    pub rules: BTreeMap<String, ColumnRule>,
    /// Comparison rules for every column of a kind, under a column's own.
    pub default_rules: BTreeMap<TypeClass, ColumnRule>,
}

impl Selection {
    /// The right side's name of a left column.
    pub fn right_name<'a>(&'a self, left: &'a str) -> &'a str {
        self.map.get(left).map_or(left, String::as_str)
    }
}

/// A column found on one side only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OneSidedColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A compared column whose type differs between the sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TypeDifference {
    pub name: String,
    pub left: String,
    pub right: String,
    /// The type both sides are compared as.
    pub compared_as: String,
    /// The right type holds every value of the left type (INT to BIGINT,
    /// FLOAT to DOUBLE, a decimal gaining digits, a finer timestamp unit).
    pub widening: bool,
}

/// A compared column whose NOT NULL constraint differs between the sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NullabilityChange {
    pub name: String,
    pub left_nullable: bool,
    pub right_nullable: bool,
}

/// The plan for one comparison.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    pub keys: Vec<ColumnPlan>,
    pub values: Vec<ColumnPlan>,
    pub left_only: Vec<OneSidedColumn>,
    pub right_only: Vec<OneSidedColumn>,
    pub type_differences: Vec<TypeDifference>,
    /// Compared columns NOT NULL on one side and nullable on the other
    /// (only where both formats can say NOT NULL).
    pub nullability_changes: Vec<NullabilityChange>,
    /// How the comparison was adapted to the sources, for the report.
    pub notes: Vec<String>,
}

/// What a source's format can represent.
#[derive(Debug, Clone, Copy)]
pub struct SideTraits {
    pub distinguishes_empty_from_null: bool,
    pub declares_nullability: bool,
}

impl SideTraits {
    /// What `source`'s format can represent.
    pub fn of(source: &dyn crate::source::Source) -> Self {
        SideTraits {
            distinguishes_empty_from_null: source.distinguishes_empty_from_null(),
            declares_nullability: source.declares_nullability(),
        }
    }
}

impl Default for SideTraits {
    fn default() -> Self {
        SideTraits {
            distinguishes_empty_from_null: true,
            declares_nullability: true,
        }
    }
}

impl ComparePlan {
    pub fn new(left: &Schema, right: &Schema, selection: &Selection) -> Result<Self> {
        Self::with_traits(left, right, selection, [SideTraits::default(); 2])
    }

    pub fn with_traits(
        left: &Schema,
        right: &Schema,
        selection: &Selection,
        traits: [SideTraits; 2],
    ) -> Result<Self> {
        // Names as typed in a comma-separated list may carry spaces.
        let trimmed = |names: &[String]| -> Vec<String> {
            names.iter().map(|n| n.trim().to_string()).collect()
        };
        let selection = &Selection {
            key: trimmed(&selection.key),
            columns: trimmed(&selection.columns),
            exclude: trimmed(&selection.exclude),
            map: selection
                .map
                .iter()
                .map(|(l, r)| (l.trim().to_string(), r.trim().to_string()))
                .collect(),
            rules: selection.rules.clone(),
            default_rules: selection.default_rules.clone(),
        };
        // One right column answers to one left column, whether the map came
        // from flags or a rule file.
        let mut targets: Vec<&String> = selection.map.values().collect();
        targets.sort();
        if let Some(twice) = targets.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Schema(format!(
                "map: two columns are mapped to {:?}",
                twice[0]
            )));
        }
        for (l, r) in &selection.map {
            if left.field_with_name(l).is_err() {
                return Err(Error::Schema(format!(
                    "map {l}={r}: no column {l:?} on the left (columns: {})",
                    column_list(left)
                )));
            }
            if right.field_with_name(r).is_err() {
                return Err(Error::Schema(format!(
                    "map {l}={r}: no column {r:?} on the right (columns: {})",
                    column_list(right)
                )));
            }
        }
        if selection.key.is_empty() || selection.key.iter().any(String::is_empty) {
            return Err(Error::Usage(
                "at least one key column is needed (--key COL[,COL...])".into(),
            ));
        }
        if let Some(twice) = selection
            .key
            .iter()
            .enumerate()
            .find(|(i, k)| selection.key[..*i].contains(k))
        {
            return Err(Error::Key(format!("column {:?} is named twice", twice.1)));
        }
        let lookup = |schema: &Schema, name: &str, side: &str| -> Result<DataType> {
            schema
                .field_with_name(name)
                .map(|f| f.data_type().clone())
                .map_err(|_| {
                    Error::Key(format!(
                        "unknown key column {name:?} on the {side} side (columns: {})",
                        column_list(schema)
                    ))
                })
        };
        let mut keys = Vec::new();
        for name in &selection.key {
            let right_name = selection.right_name(name);
            let lt = lookup(left, name, "left")?;
            let rt = lookup(right, right_name, "right")?;
            let plan = ColumnPlan::new(name, right_name, &lt, &rt)
                .map_err(|why| Error::Key(format!("{name}: {why}")))?;
            let float = |t: &DataType| {
                matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
            };
            // Integers above 2^53 would merge as float keys: refuse rather than invent duplicates.
            let lossy = float(&plan.canonical) && !(float(&lt) && float(&rt));
            if plan.parses_text() || !orderable(&plan.canonical) || lossy {
                return Err(Error::Key(format!(
                    "{name}: key types {lt} and {rt} cannot be compared as keys"
                )));
            }
            keys.push(plan);
        }

        let named = selection.columns.iter().map(|c| ("--columns", c));
        for (option, name) in named.chain(selection.exclude.iter().map(|c| ("--exclude", c))) {
            if left.field_with_name(name).is_err() && right.field_with_name(name).is_err() {
                return Err(Error::Schema(format!(
                    "{option}: unknown column {name:?} (left columns: {}; right columns: {})",
                    column_list(left),
                    column_list(right)
                )));
            }
        }
        let chosen = |name: &str| {
            !selection.key.iter().any(|k| k == name)
                && !selection.exclude.iter().any(|e| e == name)
                && (selection.columns.is_empty() || selection.columns.iter().any(|c| c == name))
        };

        let mut values = Vec::new();
        let mut type_differences = Vec::new();
        let mut nullability_changes = Vec::new();
        let mut left_only = Vec::new();
        for field in left.fields().iter().filter(|f| chosen(f.name())) {
            let Ok(right_field) = right.field_with_name(selection.right_name(field.name())) else {
                left_only.push(one_sided(field.name(), field.data_type()));
                continue;
            };
            let plan = ColumnPlan::new(
                field.name(),
                right_field.name(),
                field.data_type(),
                right_field.data_type(),
            )
            .map_err(|why| {
                Error::Schema(format!(
                    "column {:?}: {why}; leave it out with --exclude {}",
                    field.name(),
                    field.name()
                ))
            })?;
            if logical_type(field.data_type()) != logical_type(right_field.data_type()) {
                type_differences.push(TypeDifference {
                    name: field.name().clone(),
                    left: field.data_type().to_string(),
                    right: right_field.data_type().to_string(),
                    compared_as: plan.canonical.to_string(),
                    widening: widens(field.data_type(), right_field.data_type()),
                });
            }
            if traits.iter().all(|t| t.declares_nullability)
                && field.is_nullable() != right_field.is_nullable()
            {
                nullability_changes.push(NullabilityChange {
                    name: plan.display_name(),
                    left_nullable: field.is_nullable(),
                    right_nullable: right_field.is_nullable(),
                });
            }
            values.push(plan);
        }
        let mut notes = Vec::new();
        if traits.iter().any(|t| !t.distinguishes_empty_from_null) {
            let mut blanked = Vec::new();
            for plan in &mut values {
                if family(&plan.left_type) == Family::Text
                    || family(&plan.right_type) == Family::Text
                {
                    plan.empty_is_null = true;
                    blanked.push(plan.display_name());
                }
            }
            if !blanked.is_empty() {
                notes.push(format!(
                    "{}: a CSV side cannot tell an empty string from NULL, so both compare as NULL",
                    blanked.join(", ")
                ));
            }
        }
        // A right column is matched by the left column mapped to it, or of
        // its own name when that left column is not mapped elsewhere.
        let matched_on_right = |name: &str| {
            selection.map.values().any(|r| r == name)
                || (left.field_with_name(name).is_ok() && !selection.map.contains_key(name))
        };
        apply_rules(&mut values, selection, left, right)?;
        let right_only = right
            .fields()
            .iter()
            .filter(|f| chosen(f.name()) && !matched_on_right(f.name()))
            .map(|f| one_sided(f.name(), f.data_type()))
            .collect();
        Ok(ComparePlan {
            keys,
            values,
            left_only,
            right_only,
            type_differences,
            nullability_changes,
            notes,
        })
    }

    /// Key columns then compared columns, in scan order.
    pub fn columns(&self) -> Vec<&ColumnPlan> {
        self.keys.iter().chain(&self.values).collect()
    }

    /// One side's names of [`Self::columns`], in that order: what a scan of
    /// that side asks for.
    pub fn column_names(&self, side: Side) -> Vec<String> {
        self.columns()
            .iter()
            .map(|c| c.name(side).to_string())
            .collect()
    }

    pub fn key_columns(&self) -> Vec<&ColumnPlan> {
        self.keys.iter().collect()
    }

    /// True when a column is missing on one side. Type differences alone do
    /// not fail the verdict: values are compared by their canonical form, so
    /// a CSV's inferred types cannot fail a comparison with its Parquet copy.
    pub fn schema_differs(&self) -> bool {
        !self.left_only.is_empty() || !self.right_only.is_empty()
    }
}

/// Gives each compared column its own rules over the default of its kind;
/// rules for a column that is not compared, or that do not fit its type,
/// are errors.
fn apply_rules(
    values: &mut [ColumnPlan],
    selection: &Selection,
    left: &Schema,
    right: &Schema,
) -> Result<()> {
    for name in selection.rules.keys() {
        if values.iter().any(|v| &v.left_name == name) {
            continue;
        }
        let why = if selection.key.contains(name) {
            "it is a key column (keys match exactly)".to_string()
        } else if left.field_with_name(name).is_ok() || right.field_with_name(name).is_ok() {
            "it is not compared (excluded, or on one side only)".to_string()
        } else {
            format!("no such column (left columns: {})", column_list(left))
        };
        return Err(Error::Schema(format!("rules for column {name:?}: {why}")));
    }
    for plan in values.iter_mut() {
        let class = plan.type_class();
        let default = class.and_then(|c| selection.default_rules.get(&c));
        let own = selection.rules.get(&plan.left_name);
        let rule = match (own, default) {
            (Some(own), Some(default)) => own.over(default),
            (Some(rule), None) | (None, Some(rule)) => rule.clone(),
            (None, None) => continue,
        };
        plan.apply_rule(&rule).map_err(|why| {
            Error::Schema(format!("rules for column {}: {why}", plan.display_name()))
        })?;
    }
    Ok(())
}

/// Every value of `from` is a value of `to`.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let signed = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    let unsigned = |t: &DataType| match t {
        UInt8 => Some(8),
        UInt16 => Some(16),
        UInt32 => Some(32),
        UInt64 => Some(64),
        _ => None,
    };
    let float = |t: &DataType| match t {
        Float16 => Some(11),
        Float32 => Some(24),
        Float64 => Some(53),
        _ => None,
    };
    let decimal = |t: &DataType| match t {
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => {
            Some((i16::from(*p) - i16::from(*s), i16::from(*s)))
        }
        _ => None,
    };
    let unit_rank = |u: &arrow::datatypes::TimeUnit| *u as u8;
    match (from, to) {
        (a, b) if signed(a).is_some() && signed(b).is_some() => signed(a) <= signed(b),
        (a, b) if unsigned(a).is_some() && unsigned(b).is_some() => unsigned(a) <= unsigned(b),
        (a, b) if unsigned(a).is_some() && signed(b).is_some() => unsigned(a) < signed(b),
        (a, b) if float(a).is_some() && float(b).is_some() => float(a) <= float(b),
        // Integers a float holds exactly.
        (a, b) if float(b).is_some() => signed(a)
            .or(unsigned(a))
            .is_some_and(|bits| Some(bits) < float(b)),
        (a, b) if decimal(a).is_some() && decimal(b).is_some() => {
            let ((wa, sa), (wb, sb)) = (
                decimal(a).unwrap_or_default(),
                decimal(b).unwrap_or_default(),
            );
            wa <= wb && sa <= sb
        }
        // Integers into a decimal with room for their digits.
        (a, b) if decimal(b).is_some() => {
            let digits = match signed(a).or(unsigned(a)) {
                Some(8) => 3,
                Some(16) => 5,
                Some(32) => 10,
                Some(64) => 20,
                _ => return false,
            };
            decimal(b).is_some_and(|(whole, _)| whole >= digits)
        }
        (Timestamp(ua, za), Timestamp(ub, zb)) => za == zb && unit_rank(ua) <= unit_rank(ub),
        (Date32, Date64) => true,
        _ => false,
    }
}

/// A type without its physical layout: Utf8, LargeUtf8 and Utf8View are all
/// text (Parquet readers pick one or the other), dictionaries are their values.
fn logical_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => logical_type(v),
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

fn one_sided(name: &str, t: &DataType) -> OneSidedColumn {
    OneSidedColumn {
        name: name.to_string(),
        data_type: t.to_string(),
    }
}

fn column_list(schema: &Schema) -> String {
    if schema.fields().is_empty() {
        return "none: is the source empty?".into();
    }
    // A name that would break the list or the line (a comma, a newline, a
    // control character; found by fuzzing CSV headers) is shown quoted.
    let shown = |name: &str| {
        if name.is_empty() || name.chars().any(|c| c.is_control() || c == ',' || c == '"') {
            format!("{name:?}")
        } else {
            name.to_string()
        }
    };
    schema
        .fields()
        .iter()
        .map(|f| shown(f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Key types must have an order that a range filter in the source agrees with.
fn orderable(t: &DataType) -> bool {
    family(t) != Family::Other
}
