//! Connection settings found the way each engine's own client finds them,
//! so that no password has to be typed on a command line (where `ps` shows
//! it to every user of the machine):
//! - PostgreSQL as libpq: a service (`?service=` or `PGSERVICE`) from
//!   `PGSERVICEFILE` or `~/.pg_service.conf`, then `PGHOST`, `PGPORT`,
//!   `PGUSER`, `PGDATABASE`, `PGPASSWORD`, then `PGPASSFILE` or `~/.pgpass`;
//! - MySQL/MariaDB as its clients: `[client]` (and `[client-server]`,
//!   `[client-mariadb]`) options of `~/.my.cnf`, then `MYSQL_HOST`,
//!   `MYSQL_TCP_PORT`, `MYSQL_PWD`.
//!
//! What the URL says always wins; these only fill what it leaves out.

use std::path::{Path, PathBuf};

/// Connection settings from one place; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
}

impl Settings {
    /// Fills what `self` leaves out from `other`.
    pub fn or(self, other: Settings) -> Settings {
        Settings {
            host: self.host.or(other.host),
            port: self.port.or(other.port),
            user: self.user.or(other.user),
            password: self.password.or(other.password),
            database: self.database.or(other.database),
        }
    }
}

/// How the process environment is read (a function, so tests can pass their own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values counted as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home(env: Env<'_>) -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// PostgreSQL settings below the URL: the service, then the environment.
/// The password file is consulted later, once host, port, database and
/// user are known ([`pgpass_password`]).
pub fn postgres(service: Option<&str>, env: Env<'_>) -> Result<Settings, String> {
    let from_service = match service.map(str::to_string).or_else(|| env("PGSERVICE")) {
        Some(name) => pg_service(&name, env)?,
        None => Settings::default(),
    };
    let from_env = Settings {
        host: env("PGHOST"),
        port: env("PGPORT").and_then(|p| p.parse().ok()),
        user: env("PGUSER"),
        password: env("PGPASSWORD"),
        database: env("PGDATABASE"),
    };
    Ok(from_service.or(from_env))
}

/// The section `name` of the first service file that has it.
fn pg_service(name: &str, env: Env<'_>) -> Result<Settings, String> {
    let files: Vec<PathBuf> = [
        env("PGSERVICEFILE").map(PathBuf::from),
        home(env).map(|h| h.join(".pg_service.conf")),
        env("PGSYSCONFDIR").map(|d| Path::new(&d).join("pg_service.conf")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(options) = ini_section(&text, &[name]) {
            let get = |key: &str| {
                options
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            return Ok(Settings {
                host: get("host"),
                port: get("port").and_then(|p| p.parse().ok()),
                user: get("user"),
                password: get("password"),
                database: get("dbname"),
            });
        }
    }
    Err(format!(
        "PostgreSQL service {name:?} is in no service file (PGSERVICEFILE, ~/.pg_service.conf, \
         PGSYSCONFDIR/pg_service.conf)"
    ))
}

/// What the password file says for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pgpass {
    Password(String),
    /// No file, or no line for this connection.
    Nothing,
    /// A file others can read, ignored as libpq ignores it: the note is
    /// added to a failed connection's message.
    Ignored(String),
}

/// The password `~/.pgpass` (or `PGPASSFILE`) gives for this connection:
/// the first line `host:port:database:user:password` that matches, `*`
/// matching anything, `\:` and `\\` escaped.
pub fn pgpass_password(host: &str, port: u16, database: &str, user: &str, env: Env<'_>) -> Pgpass {
    let Some(path) = env("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".pgpass")))
    else {
        return Pgpass::Nothing;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Pgpass::Nothing;
    };
    if !private(&path) {
        return Pgpass::Ignored(format!(
            "{} was not used: other users can read it (chmod 600 it, as libpq requires)",
            path.display()
        ));
    }
    pgpass_lookup(&text, host, port, database, user).map_or(Pgpass::Nothing, Pgpass::Password)
}

/// The matching line's password in a `.pgpass` text.
pub fn pgpass_lookup(
    text: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields
                .iter()
                .zip(wanted)
                .all(|(field, value)| field == "*" || field == value);
            matches.then(|| fields[4..].join(":"))
        })
}

/// A `.pgpass` line split at unescaped `:`, escapes removed.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(unix)]
fn private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn private(_: &Path) -> bool {
    true
}

/// MySQL/MariaDB settings below the URL: `~/.my.cnf`, then the environment.
pub fn mysql(env: Env<'_>) -> Settings {
    let from_file = home(env)
        .and_then(|h| std::fs::read_to_string(h.join(".my.cnf")).ok())
        .map(|text| my_cnf(&text))
        .unwrap_or_default();
    let from_env = Settings {
        host: env("MYSQL_HOST"),
        port: env("MYSQL_TCP_PORT").and_then(|p| p.parse().ok()),
        user: None,
        password: env("MYSQL_PWD"),
        database: None,
    };
    from_file.or(from_env)
}

/// The client options of a `my.cnf` text (later lines win, as for the clients).
pub fn my_cnf(text: &str) -> Settings {
    let options =
        ini_section(text, &["client", "client-server", "client-mariadb"]).unwrap_or_default();
    let get = |keys: &[&str]| {
        options
            .iter()
            .rev()
            .find(|(k, _)| keys.contains(&k.replace('_', "-").as_str()))
            .map(|(_, v)| v.clone())
    };
    Settings {
        host: get(&["host"]),
        port: get(&["port"]).and_then(|p| p.parse().ok()),
        user: get(&["user"]),
        password: get(&["password"]),
        database: get(&["database"]),
    }
}

/// `key = value` options of the sections named `names`, in file order;
/// `None` when no such section exists. Quotes around a value are removed.
fn ini_section(text: &str, names: &[&str]) -> Option<Vec<(String, String)>> {
    let mut found = false;
    let mut inside = false;
    let mut options = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = names.contains(&section.trim());
            found |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        options.push((key.trim().to_string(), unquoted.to_string()));
    }
    found.then_some(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let text = "# comment\n\
                    db.internal:5432:shop:app:first\n\
                    *:*:shop:app:second\n\
                    *:*:*:ops:has\\:colon\\\\and:more\n";
        assert_eq!(
            pgpass_lookup(text, "db.internal", 5432, "shop", "app").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(text, "other", 6543, "shop", "app").as_deref(),
            Some("second")
        );
        assert_eq!(
            pgpass_lookup(text, "h", 1, "x", "ops").as_deref(),
            Some("has:colon\\and:more")
        );
        assert_eq!(pgpass_lookup(text, "h", 1, "x", "nobody"), None);
    }

    #[test]
    fn my_cnf_client_options_are_read() {
        let text = "[mysqld]\nport = 9999\n\n[client]\nuser = app\npassword = \"p#w d\"\n\
                    port=3307\n[client-mariadb]\nhost = db.internal\n[mysql]\nuser = other\n";
        assert_eq!(
            my_cnf(text),
            Settings {
                host: Some("db.internal".into()),
                port: Some(3307),
                user: Some("app".into()),
                password: Some("p#w d".into()),
                database: None,
            }
        );
    }

    #[test]
    fn a_service_fills_what_the_url_leaves_out_and_the_environment_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.conf");
        std::fs::write(
            &file,
            "[other]\nhost=wrong\n[billing]\nhost=pg.internal\ndbname=billing\nuser=svc\n",
        )
        .unwrap();
        let file_name = file.display().to_string();
        let env = |name: &str| match name {
            "PGSERVICEFILE" => Some(file_name.clone()),
            "PGHOST" => Some("ignored-host".into()),
            "PGPORT" => Some("6543".into()),
            _ => None,
        };
        let s = postgres(Some("billing"), &env).unwrap();
        assert_eq!(s.host.as_deref(), Some("pg.internal"));
        assert_eq!(s.port, Some(6543));
        assert_eq!(
            (s.user.as_deref(), s.database.as_deref()),
            (Some("svc"), Some("billing"))
        );
        let e = postgres(Some("missing"), &env).unwrap_err();
        assert!(e.contains("\"missing\""), "{e}");
    }
}
