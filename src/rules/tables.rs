//! A run over two whole databases (both sources name a database, no table
//! and no query): each table of the left is paired with its namesake on the
//! right (or the table `[tables] map` names), kept or left out by patterns,
//! keyed by its catalog (primary key, else a unique index over NOT NULL
//! columns) and compared as a check of its own. Tables run in parallel
//! under one budget of sessions per database. A table on one side only, or
//! one without a key (compared by aggregates, and said so), is a result
//! too: one table never stops the run.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::check::{CheckResult, Status, aggregate_reason, evaluate, mask_aggregates};
use super::settings::{Problem, Step, check_selection};
use super::{GateRule, TableRule, TablesRule};
use crate::aggregate::{AggregateSpec, Metric};
use crate::compare::Spec;
use crate::error::{Error, Result, Side, one_line};
use crate::report::Mask;
use crate::source::Source;
use crate::source::db::DatabaseSource;
use crate::source::db::catalog::{self, TableEntry};
use crate::source::url::DatabaseUrl;

/// Both sources as databases when they name one and neither a table nor a
/// query: a run over every table.
pub fn whole_databases(
    left: &str,
    right: &str,
    left_query: Option<&str>,
    right_query: Option<&str>,
) -> Result<Option<(DatabaseUrl, DatabaseUrl)>> {
    if left_query.is_some() || right_query.is_some() {
        return Ok(None);
    }
    let l = DatabaseUrl::parse(left, Side::Left)?;
    let r = DatabaseUrl::parse(right, Side::Right)?;
    Ok(match (l, r) {
        (Some(l), Some(r)) if l.table.is_none() && r.table.is_none() => Some((l, r)),
        _ => None,
    })
}

/// `--tables 'public.*,!*.tmp_*'`: patterns to keep, and (after `!`) to
/// leave out.
pub fn parse_filter(text: &str) -> TablesRule {
    let mut rule = TablesRule::default();
    for pattern in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pattern.strip_prefix('!') {
            Some(out) => rule.exclude.push(out.trim().to_string()),
            None => rule.include.push(pattern.to_string()),
        }
    }
    rule
}

/// Checks `[tables]` and `[table.NAME]` of a rule file (or flags).
pub fn check_rules(
    tables: &TablesRule,
    table: &BTreeMap<String, TableRule>,
) -> std::result::Result<(), Problem> {
    let at = |place: Vec<Step>, message: String| Problem { place, message };
    for (list, patterns) in [("include", &tables.include), ("exclude", &tables.exclude)] {
        for p in patterns {
            glob::Pattern::new(p).map_err(|e| {
                at(
                    vec![
                        Step::Key("tables".into()),
                        Step::Key(list.into()),
                        Step::Item(p.clone()),
                    ],
                    format!("[tables] {list}: {p:?} is not a pattern: {e}"),
                )
            })?;
        }
    }
    for (name, rule) in table {
        let selection = crate::plan::Selection {
            key: rule.key.clone(),
            columns: rule.columns.include.clone(),
            exclude: rule.columns.exclude.clone(),
            map: rule.columns.map.clone(),
            rules: rule.compare.clone(),
            default_rules: BTreeMap::new(),
        };
        check_selection(&selection).map_err(|p| {
            let mut place = vec![Step::Key("table".into()), Step::Key(name.clone())];
            place.extend(p.place);
            at(place, format!("[table.{name:?}] {}", p.message))
        })?;
    }
    Ok(())
}

/// Which tables a filter keeps.
struct Filter {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl Filter {
    fn new(rule: &TablesRule) -> Result<Filter> {
        let compile = |patterns: &[String]| -> Result<Vec<glob::Pattern>> {
            patterns
                .iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map_err(|e| Error::Usage(format!("--tables: {p:?} is not a pattern: {e}")))
                })
                .collect()
        };
        Ok(Filter {
            include: compile(&rule.include)?,
            exclude: compile(&rule.exclude)?,
        })
    }

    /// A pattern with a dot matches `schema.table`, one without the name.
    fn any(patterns: &[glob::Pattern], table: &TableEntry) -> bool {
        patterns.iter().any(|p| {
            if p.as_str().contains('.') {
                p.matches(&table.qualified())
            } else {
                p.matches(&table.name)
            }
        })
    }

    /// A pair is kept when a side matches an include pattern (or there is
    /// none) and no side matches an exclude pattern.
    fn keeps(&self, pair: &TablePair) -> bool {
        let sides = || [&pair.left, &pair.right].into_iter().flatten();
        (self.include.is_empty() || sides().any(|t| Self::any(&self.include, t)))
            && !sides().any(|t| Self::any(&self.exclude, t))
    }
}

/// A table of the left and its counterpart on the right (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePair {
    pub left: Option<TableEntry>,
    pub right: Option<TableEntry>,
}

impl TablePair {
    /// `public.orders`, or `public.customers → clients` when renamed.
    pub fn name(&self) -> String {
        match (&self.left, &self.right) {
            (Some(l), Some(r)) if l.name != r.name => format!("{} → {}", l.qualified(), r.name),
            (Some(l), _) => l.qualified(),
            (None, Some(r)) => r.qualified(),
            (None, None) => String::new(),
        }
    }

    fn rows_estimate(&self) -> u64 {
        [&self.left, &self.right]
            .into_iter()
            .flatten()
            .filter_map(|t| t.rows_estimate)
            .max()
            .unwrap_or(0)
    }
}

/// Pairs tables: mapped names first, then the same `schema.table`, then the
/// same table name where it is unique on both sides (PostgreSQL's
/// `public.orders` and MySQL's `shop.orders`), then the same name in
/// another letter case where unique. The rest stand alone.
pub fn pair(
    left: Vec<TableEntry>,
    right: Vec<TableEntry>,
    map: &BTreeMap<String, String>,
) -> Result<Vec<TablePair>> {
    let mut left: Vec<Option<TableEntry>> = left.into_iter().map(Some).collect();
    let mut right: Vec<Option<TableEntry>> = right.into_iter().map(Some).collect();
    let mut pairs = Vec::new();
    let names = |t: &TableEntry, name: &str| t.qualified() == name || t.name == name;
    // Takes the one remaining table `is` accepts (none when zero or several).
    fn take_one(
        tables: &mut [Option<TableEntry>],
        is: impl Fn(&TableEntry) -> bool,
    ) -> Option<TableEntry> {
        let mut found = tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.as_ref().is_some_and(&is))
            .map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(i), None) => tables[i].take(),
            _ => None,
        }
    }
    // A mapped name must name one table: two (`orders` in two schemas)
    // would be a guess.
    let ambiguous = |tables: &[Option<TableEntry>], name: &str, side: &str| {
        let n = tables.iter().flatten().filter(|t| names(t, name)).count();
        match n {
            0 | 1 => Ok(()),
            _ => Err(Error::Usage(format!(
                "[tables] map: {name:?} names {n} tables on the {side}: write it as schema.table"
            ))),
        }
    };
    for (l, r) in map {
        ambiguous(&left, l, "left")?;
        ambiguous(&right, r, "right")?;
        let lt = take_one(&mut left, |t| names(t, l));
        let rt = take_one(&mut right, |t| names(t, r));
        if lt.is_some() || rt.is_some() {
            pairs.push(TablePair {
                left: lt,
                right: rt,
            });
        }
    }
    type Same = fn(&TableEntry, &TableEntry) -> bool;
    let rules: [Same; 3] = [
        |a, b| a.schema == b.schema && a.name == b.name,
        |a, b| a.name == b.name,
        |a, b| a.name.to_lowercase() == b.name.to_lowercase(),
    ];
    for same in rules {
        for i in 0..left.len() {
            let Some(lt) = left[i].clone() else { continue };
            // Unique on the left too: two left tables of one name wait for an exact match.
            let twins = left
                .iter()
                .flatten()
                .filter(|o| same(o, &lt) || same(&lt, o))
                .count();
            if twins > 1 {
                continue;
            }
            if let Some(rt) = take_one(&mut right, |t| same(&lt, t)) {
                left[i] = None;
                pairs.push(TablePair {
                    left: Some(lt),
                    right: Some(rt),
                });
            }
        }
    }
    pairs.extend(left.into_iter().flatten().map(|t| TablePair {
        left: Some(t),
        right: None,
    }));
    pairs.extend(right.into_iter().flatten().map(|t| TablePair {
        left: None,
        right: Some(t),
    }));
    pairs.sort_by_key(TablePair::name);
    Ok(pairs)
}

/// A run over two whole databases.
pub struct TablesRun<'a> {
    pub left: &'a DatabaseUrl,
    pub right: &'a DatabaseUrl,
    pub tables: &'a TablesRule,
    pub table: &'a BTreeMap<String, TableRule>,
    /// Each table's comparison starts from this (its key may be empty).
    pub spec: &'a Spec,
    pub gate: &'a GateRule,
    /// Recheck and young rows (`[live]`, `--recheck`, `--ignore-younger`).
    pub live: &'a super::LiveRule,
    /// Put before each table's name (`CHECK/` under `recon check`).
    pub prefix: String,
    /// What each result names as its origin (the rule file, or the URLs).
    pub file: String,
}

/// Sessions free per database, shared by the tables running at once.
struct Budget {
    state: Mutex<(usize, u64)>,
    freed: Condvar,
}

/// Lists, pairs and compares the tables; each table's outcome is a result
/// (in name order). Fails only when a database's tables cannot be listed or
/// no table is left to compare.
pub fn run(run: &TablesRun<'_>, runtime: &tokio::runtime::Handle) -> Result<Vec<CheckResult>> {
    let left = catalog::tables(run.left, Side::Left, runtime)?;
    let right = catalog::tables(run.right, Side::Right, runtime)?;
    let filter = Filter::new(run.tables)?;
    let mut pairs: Vec<TablePair> = pair(left, right, &run.tables.map)?
        .into_iter()
        .filter(|p| filter.keeps(p))
        .collect();
    if pairs.is_empty() {
        return Err(Error::Usage(format!(
            "no tables to compare in {} and {}{}",
            run.left,
            run.right,
            if run.tables.include.is_empty() && run.tables.exclude.is_empty() {
                String::new()
            } else {
                " that the table patterns keep".into()
            }
        )));
    }
    // Largest first, so that a big table does not start last and run alone.
    pairs.sort_by_key(|p| std::cmp::Reverse(p.rows_estimate()));
    let sessions = run.spec.db_threads.max(1);
    let budget = Budget {
        state: Mutex::new((sessions, pairs.iter().map(TablePair::rows_estimate).sum())),
        freed: Condvar::new(),
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(pairs.len()));
    std::thread::scope(|scope| {
        for _ in 0..sessions.min(pairs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(pair) = pairs.get(i) else { break };
                    let taken = Taken {
                        budget: &budget,
                        sessions: take_sessions(&budget, sessions, pair.rows_estimate()),
                    };
                    let result = compare_pair(run, pair, taken.sessions, runtime);
                    drop(taken);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(results)
}

/// Sessions a table holds; given back when dropped, even if the table's
/// comparison panics, so that the other tables never wait forever.
struct Taken<'a> {
    budget: &'a Budget,
    sessions: usize,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let mut state = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += self.sessions;
        self.budget.freed.notify_all();
    }
}

/// Waits for a free session, then takes the table's share of the free
/// ones: its part of the rows not yet started, at least one.
fn take_sessions(budget: &Budget, sessions: usize, rows: u64) -> usize {
    let mut state = budget.state.lock().unwrap_or_else(|e| e.into_inner());
    while state.0 == 0 {
        state = budget.freed.wait(state).unwrap_or_else(|e| e.into_inner());
    }
    let (free, remaining) = *state;
    let share = if remaining == 0 {
        1
    } else {
        ((sessions as u128 * rows as u128).div_ceil(remaining as u128)) as usize
    };
    let taken = share.clamp(1, free);
    state.0 -= taken;
    state.1 = remaining.saturating_sub(rows);
    taken
}

/// One table pair's result; errors become a result with status `error`.
fn compare_pair(
    run: &TablesRun<'_>,
    pair: &TablePair,
    sessions: usize,
    runtime: &tokio::runtime::Handle,
) -> CheckResult {
    let started = Instant::now();
    let mut result = CheckResult {
        name: format!("{}{}", run.prefix, pair.name()),
        file: run.file.clone(),
        status: Status::Pass,
        reasons: Vec::new(),
        notes: Vec::new(),
        seconds: 0.0,
        aggregates: Vec::new(),
        report: None,
    };
    match (&pair.left, &pair.right) {
        (Some(_), None) => {
            result.status = Status::Fail;
            result
                .reasons
                .push("the table is missing on the right".into());
        }
        (None, Some(_)) => {
            result.status = Status::Fail;
            result
                .reasons
                .push("the table is missing on the left".into());
        }
        (Some(l), Some(r)) => {
            if let Err(e) = compare_tables(run, l, r, sessions, runtime, &mut result) {
                result.status = Status::Error;
                result.reasons = vec![crate::source::url::redact(&one_line(e))];
            }
        }
        (None, None) => {}
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// Compares one table with its counterpart: by key when either side's
/// catalog names one (or the settings do), by aggregates otherwise.
fn compare_tables(
    run: &TablesRun<'_>,
    left: &TableEntry,
    right: &TableEntry,
    sessions: usize,
    runtime: &tokio::runtime::Handle,
    result: &mut CheckResult,
) -> Result<()> {
    let open = |url: &DatabaseUrl, table: &TableEntry, side: Side| {
        let mut url = url.clone();
        url.table = Some(table.table_param(url.engine));
        DatabaseSource::open(url, None, side, run.spec.threads, runtime.clone())
    };
    let l = open(run.left, left, Side::Left)?;
    let r = open(run.right, right, Side::Right)?;
    let names = |s: &DatabaseSource| -> Vec<String> {
        s.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    let (left_columns, right_columns) = (names(&l), names(&r));
    let rule = run
        .table
        .get(&left.qualified())
        .or_else(|| run.table.get(&left.name));
    let mut spec = table_spec(run.spec, &left_columns, &right_columns, rule);
    spec.db_threads = sessions;
    spec.progress = false;
    let key = match rule.filter(|r| !r.key.is_empty()) {
        Some(rule) => Some((rule.key.clone(), "named in its [table] section".to_string())),
        None if !run.spec.selection.key.is_empty()
            && run
                .spec
                .selection
                .key
                .iter()
                .all(|k| left_columns.contains(k)) =>
        {
            Some((run.spec.selection.key.clone(), "given".to_string()))
        }
        None => catalog_key(Some(&l), Some(&r), &spec.selection.map)?,
    };
    let Some((key, from)) = key else {
        return compare_aggregates(&l, &r, &spec, &left_columns, &right_columns, run, result);
    };
    result.notes.push(format!("key {}: {from}", key.join(", ")));
    spec.selection.key = key;
    check_selection(&spec.selection).map_err(|p| Error::Usage(p.message))?;
    // Ages are measured from this table's read, not the run's start (a long
    // run would call every row written during it young).
    let settle = run
        .live
        .settle(run.gate, chrono::Utc::now(), Some(&left_columns));
    let mut first = spec.clone();
    if settle.is_some() {
        first.max_diffs = None;
    }
    let mut report = crate::diff(&l, &r, &first)?.report;
    if let Some(settle) = settle {
        let reopen = |side: Side, query: Option<String>| -> Result<std::sync::Arc<dyn Source>> {
            let (url, table) = match side {
                Side::Left => (run.left, left),
                Side::Right => (run.right, right),
            };
            let mut url = url.clone();
            url.table = Some(table.table_param(url.engine));
            let source = DatabaseSource::open(
                url,
                query.as_deref(),
                side,
                run.spec.threads,
                runtime.clone(),
            )?;
            Ok(std::sync::Arc::new(source))
        };
        crate::compare::recheck::settle(&mut report, &spec, &settle, [&l, &r], &reopen)?;
    }
    let (status, reasons) = evaluate(run.gate, &report);
    result.status = status;
    result.reasons = reasons;
    result.report = Some(report);
    Ok(())
}

/// The key the catalogs name: the left table's primary key (else unique
/// index over NOT NULL columns), else the right's in left names; with
/// where it came from.
pub fn catalog_key(
    left: Option<&DatabaseSource>,
    right: Option<&DatabaseSource>,
    map: &BTreeMap<String, String>,
) -> Result<Option<(Vec<String>, String)>> {
    if let Some(found) = left.map(DatabaseSource::catalog_key).transpose()?.flatten() {
        return Ok(Some((
            found.columns,
            format!("the left table's {}", found.from),
        )));
    }
    let Some(found) = right
        .map(DatabaseSource::catalog_key)
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let left_name = |c: String| {
        map.iter()
            .find(|(_, right)| **right == c)
            .map_or(c.clone(), |(left, _)| left.clone())
    };
    Ok(Some((
        found.columns.into_iter().map(left_name).collect(),
        format!("the right table's {}", found.from),
    )))
}

/// A table without a key on either side: row count and per-column
/// aggregates, compared.
fn compare_aggregates(
    left: &DatabaseSource,
    right: &DatabaseSource,
    spec: &Spec,
    left_columns: &[String],
    right_columns: &[String],
    run: &TablesRun<'_>,
    result: &mut CheckResult,
) -> Result<()> {
    let selection = &spec.selection;
    let columns: Vec<String> = left_columns
        .iter()
        .filter(|c| right_columns.contains(&selection.right_name(c).to_string()))
        .filter(|c| !selection.exclude.contains(c))
        .filter(|c| selection.columns.is_empty() || selection.columns.contains(c))
        .cloned()
        .collect();
    use Metric::*;
    let aggregates = AggregateSpec {
        metrics: vec![Count, Nulls, Sum, Min, Max, CountDistinct],
        columns,
        map: selection.map.clone(),
        group_by: None,
        abs: 0.0,
        rel: 0.0,
    };
    let mut findings = crate::source::in_pool(spec.threads, || {
        crate::aggregate::compare(left, right, &aggregates)
    })?;
    mask_aggregates(
        &mut findings,
        &Mask::by_names(&spec.mask, &selection.map),
        None,
    );
    result.notes.push(
        "no primary key or unique index over NOT NULL columns on either side: compared by \
         aggregates (rows; per column NULLs, sum, min, max, distinct values)"
            .into(),
    );
    for f in findings.iter().filter(|f| !f.equal) {
        result.status = Status::Fail;
        result.reasons.push(aggregate_reason(f));
    }
    // Columns on one side only, judged as the gate judges them for keyed tables.
    let right_names: Vec<&str> = left_columns
        .iter()
        .map(|c| selection.right_name(c))
        .collect();
    for c in left_columns
        .iter()
        .filter(|c| !right_columns.contains(&selection.right_name(c).to_string()))
        .filter(|c| !selection.exclude.contains(c))
    {
        result.status = Status::Fail;
        result
            .reasons
            .push(format!("column {c} is missing on the right"));
    }
    if !run.gate.allow_added_columns {
        for c in right_columns
            .iter()
            .filter(|c| !right_names.contains(&c.as_str()))
        {
            result.status = Status::Fail;
            result
                .reasons
                .push(format!("column {c} was added on the right"));
        }
    }
    result.aggregates = findings;
    Ok(())
}

/// The comparison of one table: the run's settings where the table has
/// the columns they name (a run-wide `exclude = ["updated_at"]` applies to
/// the tables that have one), then the table's own, as given.
fn table_spec(
    template: &Spec,
    left: &[String],
    right: &[String],
    rule: Option<&TableRule>,
) -> Spec {
    let mut spec = template.clone();
    let selection = &mut spec.selection;
    let on_left = |c: &String| left.contains(c);
    selection.key.clear();
    selection.columns.retain(on_left);
    selection.exclude.retain(on_left);
    selection
        .map
        .retain(|l, r| left.contains(l) && right.contains(r));
    selection.rules.retain(|c, _| on_left(c));
    // A run-wide mask hides the column in the tables that have it.
    spec.mask.retain(|m| left.contains(m) || right.contains(m));
    let selection = &mut spec.selection;
    if let Some(rule) = rule {
        selection
            .columns
            .extend(rule.columns.include.iter().cloned());
        selection
            .exclude
            .extend(rule.columns.exclude.iter().cloned());
        selection.map.extend(rule.columns.map.clone());
        selection.rules.extend(rule.compare.clone());
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(schema: &str, name: &str) -> TableEntry {
        TableEntry {
            schema: schema.into(),
            name: name.into(),
            rows_estimate: None,
        }
    }

    #[test]
    fn tables_pair_by_map_then_schema_and_name_then_name() {
        let left = vec![
            t("public", "orders"),
            t("public", "customers"),
            t("public", "Items"),
            t("public", "only_here"),
            t("audit", "log"),
            t("public", "log"),
        ];
        let right = vec![
            t("shop", "orders"),
            t("shop", "clients"),
            t("shop", "items"),
            t("shop", "log"),
            t("shop", "extra"),
        ];
        let map = BTreeMap::from([("customers".to_string(), "clients".to_string())]);
        let pairs = pair(left, right, &map).unwrap();
        let names: Vec<String> = pairs.iter().map(TablePair::name).collect();
        assert_eq!(
            names,
            [
                "audit.log",
                "public.Items → items",
                "public.customers → clients",
                "public.log",
                "public.only_here",
                "public.orders",
                "shop.extra",
                "shop.log"
            ]
        );
        // A mapped name that names two tables is refused.
        let twice = BTreeMap::from([("log".to_string(), "log".to_string())]);
        let e = pair(vec![t("audit", "log"), t("public", "log")], vec![], &twice)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names 2 tables on the left"), "{e}");
        // Two left tables named log: neither takes the right's by name alone.
        let log = pairs.iter().find(|p| p.name() == "public.log").unwrap();
        assert!(log.right.is_none());
        let extra = pairs.iter().find(|p| p.name() == "shop.extra").unwrap();
        assert!(extra.left.is_none());
    }

    #[test]
    fn patterns_with_a_dot_match_schema_and_table_others_the_name() {
        let filter = Filter::new(&parse_filter("public.*, !*.tmp_*, !audit")).unwrap();
        let keeps = |l: Option<TableEntry>, r: Option<TableEntry>| {
            filter.keeps(&TablePair { left: l, right: r })
        };
        assert!(keeps(
            Some(t("public", "orders")),
            Some(t("shop", "orders"))
        ));
        assert!(!keeps(Some(t("public", "tmp_x")), None));
        assert!(!keeps(Some(t("public", "audit")), Some(t("shop", "audit"))));
        assert!(!keeps(Some(t("sales", "orders")), None));
        // Kept when either side matches an include pattern.
        assert!(keeps(None, Some(t("public", "new_table"))));
        let all = Filter::new(&TablesRule::default()).unwrap();
        assert!(all.keeps(&TablePair {
            left: None,
            right: Some(t("x", "y"))
        }));
    }

    #[test]
    fn sessions_go_to_tables_by_their_share_of_the_rows() {
        let budget = Budget {
            state: Mutex::new((4, 1_060_000)),
            freed: Condvar::new(),
        };
        assert_eq!(take_sessions(&budget, 4, 1_000_000), 4);
        let budget = Budget {
            state: Mutex::new((4, 40)),
            freed: Condvar::new(),
        };
        assert_eq!(take_sessions(&budget, 4, 10), 1);
        assert_eq!(take_sessions(&budget, 4, 10), 2);
        assert_eq!(*budget.state.lock().unwrap(), (1, 20));
    }
}
