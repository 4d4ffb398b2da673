//! Where a ClickHouse store lives and how to log in:
//! `clickhouse://[user[:password]@]host[:port]/database`, the password also from
//! [`PASSWORD_ENV`] or a file. Credentials never print: `Debug`, `Display` and the store's
//! error messages show the address with the password masked.

use flowlens_store::{Result, StoreError};
use std::path::Path;

/// The scheme of a store address.
pub const SCHEME: &str = "clickhouse";
/// ClickHouse's HTTP port.
pub const DEFAULT_PORT: u16 = 8123;
/// The database when the address names none.
pub const DEFAULT_DATABASE: &str = "flowlens";
/// The password, when the address holds none.
pub const PASSWORD_ENV: &str = "FLOWLENS_CLICKHOUSE_PASSWORD";
/// A file holding the password (its first line), when neither the address nor
/// [`PASSWORD_ENV`] does.
pub const PASSWORD_FILE_ENV: &str = "FLOWLENS_CLICKHOUSE_PASSWORD_FILE";

const MASK: &str = "***";

/// A ClickHouse server, database and login.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// As the address wrote it (an IPv6 address in brackets).
    host: String,
    port: u16,
    database: String,
    user: Option<String>,
    password: Option<String>,
}

fn bad(text: &str, why: &str) -> StoreError {
    StoreError::Backend(format!(
        "store address {:?}: {why}; write clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE",
        mask_userinfo(text)
    ))
}

/// `text` with whatever stands between `://` and the last `@` of the authority replaced,
/// for messages about an address that did not parse.
fn mask_userinfo(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{MASK}{}", &rest[at..]),
        None => text.to_string(),
    }
}

impl ClickHouseConfig {
    /// Whether `text` is a ClickHouse store address rather than a directory.
    pub fn is_address(text: &str) -> bool {
        text.starts_with("clickhouse://")
    }

    /// Parses `clickhouse://[user[:password]@]host[:port]/database`. The user and password
    /// may be percent-encoded; the port defaults to [`DEFAULT_PORT`], the database to
    /// [`DEFAULT_DATABASE`]. Database names are letters, digits and `_`.
    pub fn parse(text: &str) -> Result<ClickHouseConfig> {
        let url = url::Url::parse(text).map_err(|e| bad(text, &e.to_string()))?;
        if url.scheme() != SCHEME {
            return Err(bad(text, "the scheme must be clickhouse://"));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(host) if !host.to_string().is_empty() => host.to_string(),
            _ => return Err(bad(text, "no host")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(text, "options after ? or # are not taken"));
        }
        let database = url.path().trim_start_matches('/');
        let database = if database.is_empty() {
            DEFAULT_DATABASE.to_string()
        } else {
            database.to_string()
        };
        check_database_name(&database).map_err(|why| bad(text, &why))?;
        let decode = |part: &str| -> Result<String> {
            url::form_urlencoded::parse(format!("x={part}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| bad(text, "cannot decode the user or password"))
        };
        // `form_urlencoded` reads `+` as a space; the user info of a URL does not.
        let decode = |part: &str| decode(&part.replace('+', "%2B"));
        let user = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        Ok(ClickHouseConfig {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            database,
            user,
            password,
        })
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<String>) -> ClickHouseConfig {
        self.password = Some(password.into());
        self
    }

    /// Reads the password from the first line of `path`.
    pub fn with_password_file(self, path: &Path) -> Result<ClickHouseConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::Io {
            context: "reading the ClickHouse password file",
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(self.with_password(text.lines().next().unwrap_or_default()))
    }

    /// Takes the password from [`PASSWORD_ENV`], or else from the file [`PASSWORD_FILE_ENV`]
    /// names, when the address held none.
    pub fn with_password_from_env(self) -> Result<ClickHouseConfig> {
        if self.password.is_some() {
            return Ok(self);
        }
        if let Ok(password) = std::env::var(PASSWORD_ENV) {
            return Ok(self.with_password(password));
        }
        match std::env::var_os(PASSWORD_FILE_ENV) {
            Some(path) => self.with_password_file(Path::new(&path)),
            None => Ok(self),
        }
    }

    /// The server's HTTP endpoint, without credentials.
    pub fn http_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The same server and login with another database.
    pub fn with_database(mut self, database: &str) -> Result<ClickHouseConfig> {
        check_database_name(database).map_err(|why| bad(&self.to_string(), &why))?;
        self.database = database.to_string();
        Ok(self)
    }

    /// `text` with the password (as written and percent-encoded) masked: for messages that
    /// may quote a request or a server's answer.
    pub fn redact(&self, text: &str) -> String {
        let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) else {
            return text.to_string();
        };
        let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
        text.replace(password, MASK).replace(&encoded, MASK)
    }
}

fn check_database_name(name: &str) -> std::result::Result<(), String> {
    if !name.is_empty()
        && name.len() <= 200
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
    {
        Ok(())
    } else {
        Err(format!(
            "database {name:?}: use letters, digits and _, not starting with a digit"
        ))
    }
}

/// The address, with the password masked.
impl std::fmt::Display for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}://")?;
        if let Some(user) = &self.user {
            let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
            write!(f, "{user}")?;
            if self.password.is_some() {
                write!(f, ":{MASK}")?;
            }
            write!(f, "@")?;
        } else if self.password.is_some() {
            write!(f, ":{MASK}@")?;
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.database)
    }
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClickHouseConfig")
            .field(&self.to_string())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        let c = ClickHouseConfig::parse("clickhouse://ch.example:9123/flows_1").unwrap();
        assert_eq!(c.http_url(), "http://ch.example:9123");
        assert_eq!(
            (c.database(), c.user(), c.password()),
            ("flows_1", None, None)
        );
        let c = ClickHouseConfig::parse("clickhouse://10.0.0.1").unwrap();
        assert_eq!(c.http_url(), "http://10.0.0.1:8123");
        assert_eq!(c.database(), DEFAULT_DATABASE);
        let c = ClickHouseConfig::parse("clickhouse://[::1]:8123/").unwrap();
        assert_eq!(c.http_url(), "http://[::1]:8123");
        let c = ClickHouseConfig::parse("clickhouse://ana:p%40ss%2Bw:rd+x@h/db").unwrap();
        assert_eq!(c.user(), Some("ana"));
        assert_eq!(c.password(), Some("p@ss+w:rd+x"));
        assert!(ClickHouseConfig::is_address("clickhouse://h/db"));
        assert!(!ClickHouseConfig::is_address("/var/lib/flowlens"));
    }

    #[test]
    fn bad_addresses_explain_without_the_password() {
        for text in [
            "http://h:8123/db",
            "clickhouse:///db",
            "clickhouse://u:secret@h/db?x=1",
            "clickhouse://u:secret@h/bad-name",
            "clickhouse://u:secret@h/1db",
            "clickhouse://u:secret@h:99999/db",
        ] {
            let e = ClickHouseConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains("clickhouse://[USER"), "{text}: {e}");
            assert!(!e.contains("secret"), "{text}: {e}");
        }
    }

    #[test]
    fn the_password_never_prints() {
        let c = ClickHouseConfig::parse("clickhouse://ana:s3cr%2Ft@h:8123/db").unwrap();
        assert_eq!(c.password(), Some("s3cr/t"));
        for shown in [c.to_string(), format!("{c:?}"), format!("{c:#?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("ana:***@h:8123/db"), "{shown}");
        }
        assert_eq!(
            c.redact("login s3cr/t failed, s3cr%2Ft too"),
            "login *** failed, *** too"
        );
        let anonymous = ClickHouseConfig::parse("clickhouse://h/db")
            .unwrap()
            .with_password("pw");
        assert_eq!(anonymous.to_string(), "clickhouse://:***@h:8123/db");
    }

    #[test]
    fn the_password_comes_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\nignored\n").unwrap();
        let c = ClickHouseConfig::parse("clickhouse://u@h/db")
            .unwrap()
            .with_password_file(&path)
            .unwrap();
        assert_eq!(c.password(), Some("from-file"));
        let missing = ClickHouseConfig::parse("clickhouse://u@h/db")
            .unwrap()
            .with_password_file(&dir.path().join("nope"));
        assert!(missing.is_err());
    }
}
