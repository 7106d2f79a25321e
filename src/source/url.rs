//! Database sources named by URL: `postgres://user@host:5432/db?table=orders`,
//! `mysql://...`, `sqlite:///path/file.db?table=t`. What the URL leaves out
//! (host, port, user, database, password) is found as the engine's own
//! clients find it (`credentials`: environment, service and password files,
//! `~/.my.cnf`); wherever a URL is shown (describe, errors, reports) it is
//! shown redacted.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::percent_decode_str;

use super::credentials;
use crate::error::{Error, Result, Side};

/// A database engine recon can read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MySql,
    Sqlite,
}

impl Engine {
    fn from_scheme(scheme: &str) -> Option<Engine> {
        match scheme {
            "postgres" | "postgresql" => Some(Engine::Postgres),
            "mysql" | "mariadb" => Some(Engine::MySql),
            "sqlite" => Some(Engine::Sqlite),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::MySql => 3306,
            Engine::Sqlite => 0,
        }
    }
}

/// A parsed database URL. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq)]
pub struct DatabaseUrl {
    pub engine: Engine,
    pub user: Option<String>,
    password: Option<String>,
    pub host: String,
    pub port: u16,
    /// The database (PostgreSQL, MySQL) or the file path (SQLite).
    pub database: String,
    /// `?table=`: the table compared (a query may stand in for it).
    pub table: Option<String>,
    /// Other query parameters (`sslmode`, ...), passed on to the driver.
    pub params: BTreeMap<String, String>,
    /// Why a password file was not used, for a failed connection's message.
    pub credentials_note: Option<String>,
}

impl DatabaseUrl {
    /// Parses `text` when it is a database URL; `None` for anything else
    /// (a file, a glob), so file sources are unaffected.
    pub fn parse(text: &str, side: Side) -> Result<Option<DatabaseUrl>> {
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(None);
        };
        let Some(engine) = Engine::from_scheme(&scheme.to_ascii_lowercase()) else {
            return Ok(None);
        };
        let fail = |message: String| Error::Source {
            side,
            source_name: redact(text),
            message,
        };
        let url = ::url::Url::parse(text).map_err(|e| fail(format!("not a valid URL: {e}")))?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let params: BTreeMap<String, String> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut params = params;
        let table = params.remove("table");
        let given = |s: String| Some(s).filter(|s| !s.is_empty());
        let env: credentials::Env<'_> = &credentials::process_env;
        // What the URL leaves out comes from where the engine's own clients look.
        let found = match engine {
            Engine::Postgres => {
                credentials::postgres(params.remove("service").as_deref(), env).map_err(fail)?
            }
            Engine::MySql => credentials::mysql(env),
            Engine::Sqlite => credentials::Settings::default(),
        };
        let user = given(decode(url.username()))
            .or(found.user)
            .or_else(|| (engine != Engine::Sqlite).then(|| env("USER")).flatten());
        let (host, port, database) = if engine == Engine::Sqlite {
            // sqlite:///abs/path.db or sqlite://relative/path.db
            let path = format!("{}{}", url.host_str().unwrap_or(""), decode(url.path()));
            if path.is_empty() || path == "/" {
                return Err(fail(
                    "expected a file path, as in sqlite:///data/app.db?table=t".into(),
                ));
            }
            (String::new(), 0, path)
        } else {
            let (host_variable, config) = match engine {
                Engine::Postgres => ("PGHOST", "a service"),
                _ => ("MYSQL_HOST", "~/.my.cnf"),
            };
            let host = url
                .host_str()
                .map(str::to_string)
                .and_then(given)
                .or(found.host)
                .ok_or_else(|| {
                    fail(format!(
                        "no host (expected scheme://user@host:port/database, or {host_variable} \
                         or {config} to name it)"
                    ))
                })?;
            let database = given(decode(url.path().trim_start_matches('/')))
                .or(found.database)
                // libpq's default database is the user's name.
                .or_else(|| user.clone().filter(|_| engine == Engine::Postgres))
                .ok_or_else(|| {
                    fail("no database name (expected scheme://user@host:port/database)".into())
                })?;
            let port = url.port().or(found.port).unwrap_or(engine.default_port());
            (host, port, database)
        };
        let mut password = url.password().map(decode).or(found.password);
        let mut credentials_note = None;
        if let (None, Engine::Postgres, Some(user)) = (&password, engine, &user) {
            match credentials::pgpass_password(&host, port, &database, user, env) {
                credentials::Pgpass::Password(p) => password = Some(p),
                credentials::Pgpass::Ignored(note) => credentials_note = Some(note),
                credentials::Pgpass::Nothing => {}
            }
        }
        Ok(Some(DatabaseUrl {
            engine,
            user,
            password,
            host,
            port,
            database,
            table,
            params,
            credentials_note,
        }))
    }

    /// The password, for the driver only.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL as shown to people: a password, if any, as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.engine {
            Engine::Postgres => "postgres",
            Engine::MySql => "mysql",
            Engine::Sqlite => "sqlite",
        };
        if self.engine == Engine::Sqlite {
            write!(f, "sqlite://{}", self.database)?;
        } else {
            write!(f, "{scheme}://")?;
            if let Some(user) = &self.user {
                write!(f, "{user}")?;
                if self.password.is_some() {
                    write!(f, ":***")?;
                }
                write!(f, "@")?;
            }
            write!(f, "{}:{}/{}", self.host, self.port, self.database)?;
        }
        if let Some(table) = &self.table {
            write!(f, "?table={table}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `text` with the password of every URL in it replaced by `***`, whether
/// or not the URL parses. The user-info of a URL runs from its `://` to
/// the last `@` before the next URL or line end, so a password holding an
/// unencoded `/`, `#`, `?`, `@`, `:` or space is hidden whole; the user
/// name (up to the first `:`) is kept.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // This URL's reach: up to the next URL or the end of the line.
        let reach = next_url(tail).map_or(tail.len(), |next| {
            tail[..next].rfind([' ', '\t']).unwrap_or(next)
        });
        let reach = tail[..reach].find(['\n', '\r']).unwrap_or(reach);
        match tail[..reach].rfind('@') {
            Some(at_sign) => {
                let user_info = &tail[..at_sign];
                match user_info.find(':') {
                    Some(colon) => {
                        out.push_str(&user_info[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(user_info),
                }
                rest = &tail[at_sign..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Where the next URL of a message starts: a `scheme://` whose scheme
/// follows white space. A `://` inside a password (`u:sqlite:///x@h`,
/// `u:p(ftp://x@h`) starts nothing: when in doubt the reach runs on, and
/// more is hidden rather than less.
fn next_url(text: &str) -> Option<usize> {
    let scheme_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-');
    text.match_indices("://").find_map(|(at, _)| {
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| scheme_char(c))
            .last()
            .map(|(i, _)| i)?;
        let before = text[..start].chars().next_back()?;
        before.is_whitespace().then_some(start)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DatabaseUrl {
        DatabaseUrl::parse(text, Side::Left).unwrap().unwrap()
    }

    #[test]
    fn urls_parse_and_never_show_their_password() {
        let u = parse("postgres://app:s3cr%40t@db.internal:6543/shop?table=orders&sslmode=require");
        assert_eq!(u.engine, Engine::Postgres);
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password(), Some("s3cr@t"));
        assert_eq!(
            (u.host.as_str(), u.port, u.database.as_str()),
            ("db.internal", 6543, "shop")
        );
        assert_eq!(u.table.as_deref(), Some("orders"));
        assert_eq!(u.params.get("sslmode").map(String::as_str), Some("require"));
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(
            shown.contains("app:***@db.internal:6543/shop?table=orders"),
            "{shown}"
        );

        let m = parse("mysql://root@127.0.0.1/test?table=t");
        assert_eq!((m.engine, m.port), (Engine::MySql, 3306));
        assert_eq!(m.to_string(), "mysql://root@127.0.0.1:3306/test?table=t");

        let s = parse("sqlite:///var/data/app.db?table=t");
        assert_eq!(
            (s.engine, s.database.as_str()),
            (Engine::Sqlite, "/var/data/app.db")
        );
    }

    #[test]
    fn files_are_not_urls_and_bad_urls_are_errors_without_secrets() {
        for text in [
            "data/*.parquet",
            "csv:export.txt",
            "s3x://bucket/key",
            "/tmp/a.parquet",
        ] {
            assert!(
                DatabaseUrl::parse(text, Side::Left).unwrap().is_none(),
                "{text}"
            );
        }
        let e = DatabaseUrl::parse("postgres://u:hunter2@/db", Side::Left)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = DatabaseUrl::parse("mysql://u:hunter2@host", Side::Left)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && e.contains("database"), "{e}");
    }

    #[test]
    fn redact_hides_passwords_anywhere_in_a_message() {
        assert_eq!(
            redact("cannot reach postgres://u:pw@h:5432/db and mysql://r:x@h/d?table=t"),
            "cannot reach postgres://u:***@h:5432/db and mysql://r:***@h/d?table=t"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("no url here: a:b@c"), "no url here: a:b@c");
    }

    #[test]
    fn passwords_with_unencoded_special_characters_are_hidden_whole() {
        for password in ["se/cr#et", "p?w", "a@b", "x:y", "sp ace", "q/#?@:z", "pw\\"] {
            for text in [
                format!("not a valid URL: postgres://u:{password}@127.0.0.1/db?table=t"),
                format!("left postgres://u:{password}@h/db vs right mysql://r:{password}@h/d"),
                format!("mysql://u:{password}@h/d\nnext line mentions user@example"),
            ] {
                let shown = redact(&text);
                assert!(!shown.contains(password), "{password:?} shown in {shown:?}");
                assert!(shown.contains("u:***@"), "{shown}");
            }
        }
        // A password holding `://` (found by fuzzing): not a second URL.
        for password in [
            "sqlite:///var/data/app.d",
            "a://b",
            "x:y://z@w",
            "s[qliste:///var/datb?tab",
            "p(ftp://x",
        ] {
            let shown = redact(&format!(
                "failed: postgres://user:{password}@host/db?table=t (left)"
            ));
            assert!(!shown.contains(password), "{password:?} shown in {shown:?}");
            assert!(shown.contains("user:***@host/db"), "{shown}");
        }
        // The rest of the message stays readable.
        assert_eq!(
            redact("bad postgres://u:se/cr#et@127.0.0.1/db?table=t (left)"),
            "bad postgres://u:***@127.0.0.1/db?table=t (left)"
        );
        assert_eq!(
            redact("a postgres://u:p@h/x vs b mysql://v:q@k/y"),
            "a postgres://u:***@h/x vs b mysql://v:***@k/y"
        );
    }
}
