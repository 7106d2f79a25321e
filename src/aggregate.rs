//! Aggregate checks: cheap comparisons that need no key. Each side is read
//! once (partitions in parallel) and summarised per group: row count, and per
//! column NULL count, sum, minimum, maximum and distinct count, all on the
//! canonical values (so a CSV export and its Parquet table agree). The two
//! summaries are then compared, numbers within a tolerance. Useful as a
//! first gate before a row diff, and for tables without a key.

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use arrow::row::RowConverter;
use rayon::prelude::*;
use serde_json::Value;

use crate::canon::{self, ColumnPlan};
use crate::error::{Error, Result, Side};
use crate::report::values::ValueRenderer;
use crate::source::Source;

/// A measure of one column (or of the rows, for `Count`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Count,
    Nulls,
    Sum,
    Min,
    Max,
    CountDistinct,
}

/// What to aggregate and how closely the sides must agree.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    pub metrics: Vec<Metric>,
    /// Columns by left name; the right name comes from `map`.
    pub columns: Vec<String>,
    pub map: BTreeMap<String, String>,
    /// Aggregate per value of this column (left name).
    pub group_by: Option<String>,
    /// Numbers are equal when `|l - r| <= abs + rel * |r|`.
    pub abs: f64,
    pub rel: f64,
}

/// One aggregate compared.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AggregateFinding {
    pub metric: Metric,
    /// The column (absent for the row count).
    pub column: Option<String>,
    /// The group's value (absent when not grouped).
    pub group: Option<Value>,
    pub left: Value,
    pub right: Value,
    pub equal: bool,
}

/// A sum that stays exact where the type allows.
#[derive(Debug, Clone, Copy)]
enum Sum {
    Int(i128),
    Float(f64),
    /// Unscaled decimal sum; `None` after an overflow.
    Decimal(Option<i128>, i8),
}

/// One column's running aggregates within one group.
#[derive(Debug, Clone)]
struct ColumnState {
    nulls: u64,
    sum: Option<Sum>,
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
    distinct: HashSet<u128>,
}

#[derive(Debug, Clone, Default)]
struct GroupState {
    rows: u64,
    columns: Vec<Option<ColumnState>>,
}

type Summary = BTreeMap<Vec<u8>, GroupState>;

/// Compares the aggregates of two sources.
pub fn compare(
    left: &dyn Source,
    right: &dyn Source,
    spec: &AggregateSpec,
) -> Result<Vec<AggregateFinding>> {
    let (ls, rs) = (left.schema(), right.schema());
    let blank = !left.distinguishes_empty_from_null() || !right.distinguishes_empty_from_null();
    let right_name = |name: &str| {
        spec.map
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };
    let plan_of = |name: &str| -> Result<ColumnPlan> {
        let lt = ls
            .field_with_name(name)
            .map_err(|_| Error::Schema(format!("aggregate column {name:?} is not on the left")))?;
        let rname = right_name(name);
        let rt = rs.field_with_name(&rname).map_err(|_| {
            Error::Schema(format!("aggregate column {rname:?} is not on the right"))
        })?;
        let mut plan = ColumnPlan::new(name, &rname, lt.data_type(), rt.data_type())
            .map_err(|why| Error::Schema(format!("aggregate column {name:?}: {why}")))?;
        // As in a row comparison: a CSV side cannot tell '' from NULL.
        let text = |t: &DataType| canon::family(t) == canon::Family::Text;
        if blank && (text(lt.data_type()) || text(rt.data_type())) {
            plan.empty_is_null = true;
        }
        Ok(plan)
    };
    let columns: Vec<ColumnPlan> = spec
        .columns
        .iter()
        .map(|c| plan_of(c))
        .collect::<Result<_>>()?;
    let group = spec.group_by.as_deref().map(plan_of).transpose()?;
    let (l, r) = rayon::join(
        || summarise(left, Side::Left, &columns, group.as_ref(), spec),
        || summarise(right, Side::Right, &columns, group.as_ref(), spec),
    );
    let (l, r) = (l?, r?);
    findings(&l, &r, &columns, group.as_ref(), spec)
}

/// Reads one side and aggregates it per group.
fn summarise(
    source: &dyn Source,
    side: Side,
    columns: &[ColumnPlan],
    group: Option<&ColumnPlan>,
    spec: &AggregateSpec,
) -> Result<Summary> {
    let mut names: Vec<String> = columns.iter().map(|c| c.name(side).to_string()).collect();
    if let Some(g) = group {
        names.push(g.name(side).to_string());
    }
    let group_converter = group.map(|g| canon::row_converter(&[g])).transpose()?;
    let converters: Vec<RowConverter> = columns
        .iter()
        .map(|c| canon::row_converter(&[c]))
        .collect::<Result<_>>()?;
    let partials: Vec<Summary> = source
        .scan(&names, None)?
        .into_par_iter()
        .map(|stream| {
            let mut summary = Summary::new();
            for batch in stream {
                let batch = batch?;
                let group_keys: Vec<Vec<u8>> = match (group, &group_converter) {
                    (Some(g), Some(conv)) => {
                        let arrays = g.canonicalize(&batch.columns()[columns.len()], side)?;
                        let rows = canon::encode(conv, &arrays)?;
                        (0..batch.num_rows())
                            .map(|i| rows.row(i).data().to_vec())
                            .collect()
                    }
                    _ => vec![Vec::new(); batch.num_rows()],
                };
                // Rows of each group in this batch.
                let mut members: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
                for (i, k) in group_keys.iter().enumerate() {
                    members.entry(k.as_slice()).or_default().push(i);
                }
                let canonical: Vec<Vec<ArrayRef>> = columns
                    .iter()
                    .enumerate()
                    .map(|(c, plan)| plan.canonicalize(&batch.columns()[c], side))
                    .collect::<Result<_>>()?;
                for (key, rows) in members {
                    let state = summary.entry(key.to_vec()).or_default();
                    state.rows += rows.len() as u64;
                    state.columns.resize(columns.len(), None);
                    for (c, arrays) in canonical.iter().enumerate() {
                        let column = state.columns[c].get_or_insert_with(|| ColumnState {
                            nulls: 0,
                            sum: None,
                            min: None,
                            max: None,
                            distinct: HashSet::new(),
                        });
                        accumulate(column, arrays, &converters[c], &rows, spec)?;
                    }
                }
            }
            Ok(summary)
        })
        .collect::<Result<_>>()?;
    let mut out = Summary::new();
    for part in partials {
        for (key, state) in part {
            match out.get_mut(&key) {
                None => {
                    out.insert(key, state);
                }
                Some(total) => merge(total, state),
            }
        }
    }
    Ok(out)
}

fn accumulate(
    state: &mut ColumnState,
    arrays: &[ArrayRef],
    converter: &RowConverter,
    rows: &[usize],
    spec: &AggregateSpec,
) -> Result<()> {
    let Some(values) = arrays.first() else {
        return Ok(());
    };
    let wants = |m: Metric| spec.metrics.contains(&m);
    let encoded = if wants(Metric::Min) || wants(Metric::Max) || wants(Metric::CountDistinct) {
        Some(canon::encode(converter, arrays)?)
    } else {
        None
    };
    for &i in rows {
        if values.is_null(i) && arrays.iter().skip(1).all(|a| a.is_null(i)) {
            state.nulls += 1;
            continue;
        }
        if wants(Metric::Sum) && !values.is_null(i) {
            let add = match values.data_type() {
                DataType::Int64 => Some(Sum::Int(i128::from(
                    values.as_primitive::<Int64Type>().value(i),
                ))),
                DataType::Float64 => {
                    Some(Sum::Float(values.as_primitive::<Float64Type>().value(i)))
                }
                DataType::Decimal128(_, s) => Some(Sum::Decimal(
                    Some(values.as_primitive::<Decimal128Type>().value(i)),
                    *s,
                )),
                _ => None,
            };
            if let Some(add) = add {
                state.sum = Some(match state.sum {
                    None => add,
                    Some(sum) => add_sums(sum, add),
                });
            }
        }
        if let Some(rows) = &encoded {
            let bytes = rows.row(i).data();
            if wants(Metric::Min) && state.min.as_deref().is_none_or(|m| bytes < m) {
                state.min = Some(bytes.to_vec());
            }
            if wants(Metric::Max) && state.max.as_deref().is_none_or(|m| bytes > m) {
                state.max = Some(bytes.to_vec());
            }
            if wants(Metric::CountDistinct) {
                state.distinct.insert(crate::canon::keyed::hash128(bytes));
            }
        }
    }
    Ok(())
}

fn add_sums(a: Sum, b: Sum) -> Sum {
    match (a, b) {
        (Sum::Int(x), Sum::Int(y)) => Sum::Int(x.saturating_add(y)),
        (Sum::Float(x), Sum::Float(y)) => Sum::Float(x + y),
        (Sum::Decimal(x, s), Sum::Decimal(y, _)) => {
            Sum::Decimal(x.zip(y).and_then(|(x, y)| x.checked_add(y)), s)
        }
        (a, _) => a,
    }
}

fn merge(total: &mut GroupState, part: GroupState) {
    total.rows += part.rows;
    total
        .columns
        .resize(part.columns.len().max(total.columns.len()), None);
    for (t, p) in total.columns.iter_mut().zip(part.columns) {
        let Some(p) = p else { continue };
        let Some(t) = t else {
            *t = Some(p);
            continue;
        };
        t.nulls += p.nulls;
        t.sum = match (t.sum, p.sum) {
            (Some(a), Some(b)) => Some(add_sums(a, b)),
            (a, b) => a.or(b),
        };
        if p.min
            .as_ref()
            .is_some_and(|m| t.min.as_ref().is_none_or(|tm| m < tm))
        {
            t.min = p.min;
        }
        if p.max
            .as_ref()
            .is_some_and(|m| t.max.as_ref().is_none_or(|tm| m > tm))
        {
            t.max = p.max;
        }
        t.distinct.extend(p.distinct);
    }
}

/// Decodes one encoded value of `plan`'s canonical form for display.
fn decode(plan: &ColumnPlan, converter: &RowConverter, bytes: &[u8]) -> Value {
    let parser = converter.parser();
    match converter.convert_rows([parser.parse(bytes)]) {
        Ok(arrays) => match arrays.first() {
            Some(array) => ValueRenderer::new(array).json(0),
            None => Value::Null,
        },
        Err(_) => Value::String(format!("<{}>", plan.canonical)),
    }
}

fn sum_value(sum: Option<Sum>) -> Value {
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match sum {
        None => Value::Null,
        Some(Sum::Int(x)) => {
            i64::try_from(x).map_or_else(|_| Value::String(x.to_string()), Value::from)
        }
        Some(Sum::Float(x)) => float(x),
        Some(Sum::Decimal(None, _)) => Value::String("overflow".into()),
        Some(Sum::Decimal(Some(x), s)) => float(x as f64 / 10f64.powi(i32::from(s))),
    }
}

/// Sums agree: integers and decimals exactly unless a tolerance is given;
/// floats within the tolerance, and at least to 1e-9 relative, since their
/// sum depends on the order the partitions were added in.
fn sums_agree(l: Option<Sum>, r: Option<Sum>, abs: f64, rel: f64) -> bool {
    let close = |a: f64, b: f64, rel: f64| a == b || (a - b).abs() <= abs + rel * b.abs();
    match (l, r) {
        (None, None) => true,
        (Some(Sum::Int(a)), Some(Sum::Int(b))) => a == b || close(a as f64, b as f64, rel),
        (Some(Sum::Decimal(Some(a), sa)), Some(Sum::Decimal(Some(b), sb))) if sa == sb => {
            let unit = 10f64.powi(i32::from(sa));
            a == b || close(a as f64 / unit, b as f64 / unit, rel)
        }
        (Some(Sum::Float(a)), Some(Sum::Float(b))) => close(a, b, rel.max(1e-9)),
        _ => false,
    }
}

fn findings(
    left: &Summary,
    right: &Summary,
    columns: &[ColumnPlan],
    group: Option<&ColumnPlan>,
    spec: &AggregateSpec,
) -> Result<Vec<AggregateFinding>> {
    let close = |l: f64, r: f64| (l - r).abs() <= spec.abs + spec.rel * r.abs() || l == r;
    let group_converter = group.map(|g| canon::row_converter(&[g])).transpose()?;
    let converters: Vec<RowConverter> = columns
        .iter()
        .map(|c| RowConverter::new(c.sort_fields()).map_err(Error::from))
        .collect::<Result<_>>()?;
    let mut keys: Vec<&Vec<u8>> = left.keys().chain(right.keys()).collect();
    keys.sort();
    keys.dedup();
    let empty = GroupState::default();
    let mut out = Vec::new();
    for key in keys {
        let group_value = match (group, &group_converter) {
            (Some(g), Some(conv)) => Some(decode(g, conv, key)),
            _ => None,
        };
        let (l, r) = (
            left.get(key).unwrap_or(&empty),
            right.get(key).unwrap_or(&empty),
        );
        if spec.metrics.contains(&Metric::Count) {
            out.push(AggregateFinding {
                metric: Metric::Count,
                column: None,
                group: group_value.clone(),
                left: Value::from(l.rows),
                right: Value::from(r.rows),
                equal: l.rows == r.rows,
            });
        }
        for (c, plan) in columns.iter().enumerate() {
            let lc = l.columns.get(c).and_then(Option::as_ref);
            let rc = r.columns.get(c).and_then(Option::as_ref);
            let column = Some(plan.display_name());
            let mut push = |metric: Metric, left: Value, right: Value, equal: bool| {
                out.push(AggregateFinding {
                    metric,
                    column: column.clone(),
                    group: group_value.clone(),
                    left,
                    right,
                    equal,
                })
            };
            for &metric in &spec.metrics {
                match metric {
                    Metric::Count => {}
                    Metric::Nulls => {
                        let (a, b) = (lc.map_or(0, |s| s.nulls), rc.map_or(0, |s| s.nulls));
                        push(metric, Value::from(a), Value::from(b), a == b);
                    }
                    Metric::Sum => {
                        let numeric = matches!(
                            plan.canonical,
                            DataType::Int64 | DataType::Float64 | DataType::Decimal128(..)
                        );
                        if !numeric {
                            continue;
                        }
                        let (ls, rsum) = (lc.and_then(|s| s.sum), rc.and_then(|s| s.sum));
                        let equal = sums_agree(ls, rsum, spec.abs, spec.rel);
                        let (lv, rv) = (sum_value(ls), sum_value(rsum));
                        push(metric, lv, rv, equal);
                    }
                    Metric::Min | Metric::Max => {
                        let pick = |s: Option<&ColumnState>| {
                            s.and_then(|s| {
                                if metric == Metric::Min {
                                    s.min.clone()
                                } else {
                                    s.max.clone()
                                }
                            })
                        };
                        let (a, b) = (pick(lc), pick(rc));
                        let show = |v: &Option<Vec<u8>>| {
                            v.as_ref()
                                .map_or(Value::Null, |b| decode(plan, &converters[c], b))
                        };
                        let (lv, rv) = (show(&a), show(&b));
                        let equal = a == b
                            || matches!((lv.as_f64(), rv.as_f64()), (Some(x), Some(y)) if close(x, y));
                        push(metric, lv, rv, equal);
                    }
                    Metric::CountDistinct => {
                        let (a, b) = (
                            lc.map_or(0, |s| s.distinct.len() as u64),
                            rc.map_or(0, |s| s.distinct.len() as u64),
                        );
                        push(metric, Value::from(a), Value::from(b), a == b);
                    }
                }
            }
        }
    }
    Ok(out)
}
