//! What a database holds, from its catalog: its tables (for a run over a
//! whole database) and each table's key (its primary key, or else a unique
//! index over NOT NULL columns), so that `--key` can be left out.

use super::{DatabaseSource, Session, TextRows, scrub, sqlite};
use crate::error::{Error, Result, Side};
use crate::source::url::{DatabaseUrl, Engine};

use super::Dialect;

/// One table of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// PostgreSQL's schema; MySQL's database; SQLite's `main`.
    pub schema: String,
    pub name: String,
    /// The catalog's estimate (statistics), for scheduling only.
    pub rows_estimate: Option<u64>,
}

impl TableEntry {
    /// `schema.name`, as patterns with a dot match it.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The name `?table=` takes on this engine.
    pub fn table_param(&self, engine: Engine) -> String {
        match engine {
            Engine::Postgres => self.qualified(),
            _ => self.name.clone(),
        }
    }
}

/// A key found in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFound {
    pub columns: Vec<String>,
    /// `primary key` or `unique index NAME`.
    pub from: String,
}

/// Runs a catalog query on a server or SQLite file.
fn catalog_rows(
    url: &DatabaseUrl,
    runtime: &tokio::runtime::Handle,
    sql: &str,
) -> std::result::Result<TextRows, String> {
    match url.engine {
        Engine::Sqlite => sqlite::text_rows(url, sql),
        _ => runtime.block_on(async {
            let mut session = Session::connect(url).await?;
            session.text_rows(sql).await
        }),
    }
}

/// The base tables of the database a URL names (views, system schemas and
/// PostgreSQL partitions, read through their parent, left out).
pub fn tables(
    url: &DatabaseUrl,
    side: Side,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<TableEntry>> {
    // `?schema=NAME` keeps one PostgreSQL schema (staging against production
    // in one database).
    let schema = match (url.engine, url.params.get("schema")) {
        (Engine::Postgres, Some(name)) => format!(
            " AND n.nspname = {}",
            Dialect::new(Engine::Postgres).string(name)
        ),
        _ => String::new(),
    };
    let sql = match url.engine {
        Engine::Postgres => &format!(
            "SELECT n.nspname, c.relname, GREATEST(c.reltuples, 0)::bigint::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'{schema} \
             ORDER BY 1, 2"
        ),
        Engine::MySql => &"SELECT TABLE_SCHEMA, TABLE_NAME, CAST(TABLE_ROWS AS CHAR) \
             FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() \
               AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
             ORDER BY TABLE_NAME"
            .to_string(),
        Engine::Sqlite => &"SELECT 'main', name, NULL FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            .to_string(),
    };
    let rows = catalog_rows(url, runtime, sql).map_err(|m| Error::Source {
        side,
        source_name: url.to_string(),
        message: format!("cannot list its tables: {}", scrub(&m, url)),
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut row = row.into_iter();
            let schema = row.next().flatten()?;
            let name = row.next().flatten()?;
            let rows_estimate = row.next().flatten().and_then(|n| n.parse().ok());
            Some(TableEntry {
                schema,
                name,
                rows_estimate,
            })
        })
        .collect())
}

/// One column of a unique index, as the catalog queries return it:
/// index name, is primary, column (None for an expression), NOT NULL.
struct IndexColumn {
    index: String,
    primary: bool,
    column: Option<String>,
    not_null: bool,
}

/// The key among `parts` (in index order): the primary key, else the
/// unique index over NOT NULL columns with the fewest columns (then by name).
fn choose_key(parts: Vec<IndexColumn>) -> Option<KeyFound> {
    let mut indexes: Vec<(String, bool, Vec<Option<String>>, bool)> = Vec::new();
    for p in parts {
        match indexes.iter_mut().find(|(name, ..)| *name == p.index) {
            Some((_, _, columns, not_null)) => {
                columns.push(p.column);
                *not_null &= p.not_null;
            }
            None => indexes.push((p.index, p.primary, vec![p.column], p.not_null)),
        }
    }
    indexes
        .into_iter()
        .filter(|(_, primary, columns, not_null)| {
            (*primary || *not_null) && columns.iter().all(Option::is_some)
        })
        .min_by(|a, b| (!a.1, a.2.len(), &a.0).cmp(&(!b.1, b.2.len(), &b.0)))
        .map(|(name, primary, columns, _)| KeyFound {
            columns: columns.into_iter().flatten().collect(),
            from: if primary {
                "primary key".to_string()
            } else {
                format!("unique index {name}")
            },
        })
}

impl DatabaseSource {
    /// The table's key from its catalog: its primary key, or else a unique
    /// index whose columns are all NOT NULL. `None` for a query, or a table
    /// with neither.
    pub fn catalog_key(&self) -> Result<Option<KeyFound>> {
        let Some(table) = self.table() else {
            return Ok(None);
        };
        let sql = key_sql(self.engine(), table);
        let rows = catalog_rows(&self.url, &self.runtime, &sql)
            .map_err(|m| self.error(format!("cannot read the table's keys: {m}")))?;
        let yes = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|v| matches!(v, "t" | "true" | "1" | "YES" | "PRI"))
        };
        let parts = rows
            .into_iter()
            .filter_map(|row| {
                let [index, primary, column, not_null]: [Option<String>; 4] =
                    row.try_into().ok()?;
                Some(IndexColumn {
                    index: index?,
                    primary: yes(&primary),
                    column,
                    not_null: yes(&not_null),
                })
            })
            .collect();
        Ok(choose_key(parts))
    }
}

/// The catalog query listing a table's unique indexes, one row per key
/// column in index order: index, is primary, column (NULL for an
/// expression), NOT NULL.
fn key_sql(engine: Engine, table: &str) -> String {
    let d = Dialect::new(engine);
    match engine {
        Engine::Postgres => format!(
            "SELECT ic.relname, i.indisprimary::text, a.attname, a.attnotnull::text \
             FROM pg_index i \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = to_regclass({}) AND i.indisunique AND i.indisvalid \
               AND i.indpred IS NULL AND k.ord <= i.indnkeyatts \
             ORDER BY ic.relname, k.ord",
            d.string(&d.table(table))
        ),
        Engine::MySql => format!(
            "SELECT s.INDEX_NAME, CASE WHEN s.INDEX_NAME = 'PRIMARY' THEN '1' ELSE '0' END, \
                   c.COLUMN_NAME, CASE WHEN c.IS_NULLABLE = 'NO' THEN '1' ELSE '0' END \
                 FROM information_schema.STATISTICS s \
                 LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
                   AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
                 WHERE {} AND s.NON_UNIQUE = 0 \
                 ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX",
            d.schema_table_is(table, "s.")
        ),
        Engine::Sqlite => {
            let t = d.string(table);
            // The primary key (pk > 0, in key order), then unique indexes
            // without a WHERE clause; an expression's column name is NULL.
            format!(
                "SELECT name, primary_key, column_name, not_null FROM ( \
                   SELECT 'PRIMARY' AS name, '1' AS primary_key, name AS column_name, \
                     '1' AS not_null, pk AS position FROM pragma_table_info({t}) WHERE pk > 0 \
                   UNION ALL \
                   SELECT l.name, '0', i.name, \
                     (SELECT CAST(c.\"notnull\" AS TEXT) FROM pragma_table_info({t}) c \
                      WHERE c.name = i.name), i.seqno \
                   FROM pragma_index_list({t}) l, pragma_index_info(l.name) i \
                   WHERE l.\"unique\" = 1 AND l.partial = 0 AND l.origin <> 'pk') \
                 ORDER BY name, position"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: &str, primary: bool, column: Option<&str>, not_null: bool) -> IndexColumn {
        IndexColumn {
            index: index.into(),
            primary,
            column: column.map(String::from),
            not_null,
        }
    }

    #[test]
    fn the_primary_key_wins_then_the_narrowest_not_null_unique_index() {
        let found = choose_key(vec![
            part("u_email", false, Some("email"), true),
            part("pk", true, Some("a"), true),
            part("pk", true, Some("b"), true),
        ])
        .unwrap();
        assert_eq!(found.columns, ["a", "b"]);
        assert_eq!(found.from, "primary key");

        let found = choose_key(vec![
            part("u_wide", false, Some("x"), true),
            part("u_wide", false, Some("y"), true),
            part("u_nullable", false, Some("z"), false),
            part("u_expr", false, None, true),
            part("u_code", false, Some("code"), true),
        ])
        .unwrap();
        assert_eq!(found.columns, ["code"]);
        assert_eq!(found.from, "unique index u_code");

        // A nullable column or an expression makes an index no key.
        assert_eq!(
            choose_key(vec![
                part("u_a", false, Some("a"), true),
                part("u_a", false, Some("b"), false),
                part("u_e", false, None, true),
            ]),
            None
        );
    }
}
