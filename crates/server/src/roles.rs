//! Who may see and change what: a user's [`Scope`] (administrator, or read/write per tier
//! and per namespace), and the standalone roles file (`--roles`) that gives users their
//! tokens and scopes. Other ways to authenticate (Kubernetes `TokenReview`, OIDC) produce
//! the same [`Scope`] for the [`Principal`](crate::Principal) they attach.

use crate::auth::Token;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a user may do with a tier or a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Access to named things (tiers, or namespaces), with `*` standing for every one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Grants {
    /// Access to every tier or namespace (`*`).
    pub all: Option<Access>,
    pub named: BTreeMap<String, Access>,
}

impl Grants {
    pub fn access(&self, name: &str) -> Option<Access> {
        self.all.max(self.named.get(name).copied())
    }

    pub fn can_read(&self, name: &str) -> bool {
        self.access(name).is_some()
    }

    pub fn can_write(&self, name: &str) -> bool {
        self.access(name) == Some(Access::Write)
    }

    /// The names readable when not all are: `None` means every name.
    pub fn readable(&self) -> Option<BTreeSet<String>> {
        match self.all {
            Some(_) => None,
            None => Some(self.named.keys().cloned().collect()),
        }
    }
}

/// What a principal may see and change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Scope {
    /// Everything, including the admin-only routes (sources, metrics, scenario steps,
    /// explain).
    Admin,
    /// Policies in the tiers given, namespaced ones only in the namespaces given; flows with
    /// at least one end in a readable namespace, the other end hidden unless readable too.
    Scoped { tiers: Grants, namespaces: Grants },
}

impl Scope {
    pub fn is_admin(&self) -> bool {
        matches!(self, Scope::Admin)
    }

    /// Whether flows with an end in `namespace` (`None`: an end outside every namespace,
    /// a host or a network) are visible.
    pub fn sees_namespace(&self, namespace: Option<&str>) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Scoped { namespaces, .. } => {
                namespaces.all.is_some() || namespace.is_some_and(|ns| namespaces.can_read(ns))
            }
        }
    }

    /// The readable namespaces, or `None` when every flow is visible.
    pub fn namespace_limit(&self) -> Option<BTreeSet<String>> {
        match self {
            Scope::Admin => None,
            Scope::Scoped { namespaces, .. } => namespaces.readable(),
        }
    }

    /// Whether a policy of `tier` in `namespace` (`None`: a global policy) may be read.
    /// Global policies need the tier only.
    pub fn can_read_policy(&self, tier: &str, namespace: Option<&str>) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Scoped { tiers, namespaces } => {
                tiers.can_read(tier) && namespace.is_none_or(|ns| namespaces.can_read(ns))
            }
        }
    }

    /// Why a policy of `tier` in `namespace` may not be written, if it may not. A global
    /// policy selects endpoints in every namespace, so writing one needs write access to
    /// all of them (`*: write`).
    pub fn write_denied(&self, tier: &str, namespace: Option<&str>) -> Option<String> {
        let Scope::Scoped { tiers, namespaces } = self else {
            return None;
        };
        if !tiers.can_write(tier) {
            return Some(format!("no write access to tier {tier:?}"));
        }
        match namespace {
            Some(ns) if !namespaces.can_write(ns) => {
                Some(format!("no write access to namespace {ns:?}"))
            }
            None if namespaces.all != Some(Access::Write) => Some(format!(
                "a global policy in tier {tier:?} applies to every namespace; it needs write access to all namespaces (\"*\": write)"
            )),
            _ => None,
        }
    }

    pub fn can_read_tier(&self, tier: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Scoped { tiers, .. } => tiers.can_read(tier),
        }
    }
}

/// A user of the roles file.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub token: Token,
    pub scope: Scope,
}

/// The users of a roles file.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    pub users: Vec<User>,
}

/// A roles file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct RolesError {
    pub file: PathBuf,
    pub problems: Vec<RolesProblem>,
}

/// One problem in a roles file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolesProblem {
    pub line: Option<usize>,
    /// The field's path, e.g. `users[1].tiers.default`.
    pub field: String,
    pub message: String,
}

impl RolesError {
    fn render(&self) -> String {
        let file = self.file.display();
        self.problems
            .iter()
            .map(|p| {
                let at = p.line.map_or(String::new(), |l| format!(":{l}"));
                let field = if p.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}:", p.field)
                };
                format!("roles file {file}{at}:{field} {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    users: Vec<Spanned<RawUser>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    tiers: Option<BTreeMap<String, Spanned<String>>>,
    namespaces: Option<BTreeMap<String, Spanned<String>>>,
}

fn line_of<T>(s: &Spanned<T>) -> Option<usize> {
    let line = s.referenced.line();
    (line > 0).then_some(line as usize)
}

impl Roles {
    /// Reads the roles file at `path`; token files named in it are read relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Roles, RolesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RolesError {
            file: path.to_path_buf(),
            problems: vec![RolesProblem {
                line: None,
                field: String::new(),
                message: format!("cannot read it: {e}"),
            }],
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Roles::parse(&text, dir).map_err(|problems| RolesError {
            file: path.to_path_buf(),
            problems,
        })
    }

    /// Parses a roles file's text; `dir` is where relative token files are.
    pub fn parse(text: &str, dir: &Path) -> Result<Roles, Vec<RolesProblem>> {
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        options.strict_booleans = true;
        options.alias_limits.max_total_replayed_events = 10_000;
        let raw: RawRoles = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let text = e.to_string();
            // serde-saphyr ends its message with " at line L, column C".
            let (message, line) = match text.rfind(" at line ") {
                Some(i) => {
                    let line = text[i + 9..]
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|n| n.parse().ok());
                    (text[..i].to_string(), line)
                }
                None => (text, None),
            };
            vec![RolesProblem {
                line,
                field: String::new(),
                message: format!("invalid YAML: {message}"),
            }]
        })?;
        let mut problems = Vec::new();
        let mut users = Vec::new();
        let mut names = BTreeSet::new();
        for (i, spanned) in raw.users.iter().enumerate() {
            let line = line_of(spanned);
            let at = |field: &str| format!("users[{i}].{field}");
            let mut problem = |line: Option<usize>, field: String, message: String| {
                problems.push(RolesProblem {
                    line,
                    field,
                    message,
                })
            };
            let user = &spanned.value;
            let name = match &user.name {
                Some(n) if !n.value.trim().is_empty() => {
                    if !names.insert(n.value.clone()) {
                        problem(
                            line_of(n),
                            at("name"),
                            format!("{:?} is given to two users", n.value),
                        );
                    }
                    n.value.clone()
                }
                Some(n) => {
                    problem(line_of(n), at("name"), "must not be empty".into());
                    continue;
                }
                None => {
                    problem(line, at("name"), "every user needs a name".into());
                    continue;
                }
            };
            let token = match (&user.token, &user.token_file) {
                (Some(t), None) => Token::new(&t.value)
                    .map_err(|e| problem(line_of(t), at("token"), e))
                    .ok(),
                (None, Some(f)) => {
                    let file = dir.join(&f.value);
                    match std::fs::read_to_string(&file) {
                        Ok(text) => Token::new(&text)
                            .map_err(|e| {
                                problem(line_of(f), at("token_file"), format!("{}: {e}", f.value))
                            })
                            .ok(),
                        Err(e) => {
                            problem(
                                line_of(f),
                                at("token_file"),
                                format!("cannot read {}: {e}", f.value),
                            );
                            None
                        }
                    }
                }
                (Some(t), Some(_)) => {
                    problem(
                        line_of(t),
                        at("token"),
                        "give token or token_file, not both".into(),
                    );
                    None
                }
                (None, None) => {
                    problem(
                        line,
                        format!("users[{i}]"),
                        format!("user {name:?} needs a token or a token_file"),
                    );
                    None
                }
            };
            let scope = match &user.role {
                Some(role) if role.value == "admin" => {
                    if user.tiers.is_some() || user.namespaces.is_some() {
                        problem(
                            line_of(role),
                            at("role"),
                            "an admin sees and changes everything; drop tiers and namespaces, or the role".into(),
                        );
                    }
                    Some(Scope::Admin)
                }
                Some(role) => {
                    problem(
                        line_of(role),
                        at("role"),
                        format!(
                            "{:?} is not a role: the only role is admin (or give tiers and namespaces)",
                            role.value
                        ),
                    );
                    None
                }
                None if user.tiers.is_none() && user.namespaces.is_none() => {
                    problem(
                        line,
                        format!("users[{i}]"),
                        format!(
                            "user {name:?} needs role: admin, or tiers and namespaces it may read or write"
                        ),
                    );
                    None
                }
                None => {
                    let tiers = grants(user.tiers.as_ref(), &at("tiers"), &mut problem);
                    let namespaces =
                        grants(user.namespaces.as_ref(), &at("namespaces"), &mut problem);
                    Some(Scope::Scoped { tiers, namespaces })
                }
            };
            if let (Some(token), Some(scope)) = (token, scope) {
                users.push(User { name, token, scope });
            }
        }
        if raw.users.is_empty() {
            problems.push(RolesProblem {
                line: None,
                field: "users".into(),
                message: "lists nobody: give at least one user".into(),
            });
        }
        for (i, a) in users.iter().enumerate() {
            if let Some(b) = users[i + 1..]
                .iter()
                .find(|b| b.token.matches(a.token.as_str()))
            {
                problems.push(RolesProblem {
                    line: None,
                    field: "users".into(),
                    message: format!(
                        "users {:?} and {:?} have the same token; a token names one user",
                        a.name, b.name
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(Roles { users })
        } else {
            Err(problems)
        }
    }

    /// The user whose token `given` is. Every user's token is compared, in constant time
    /// each, so the time taken does not tell which one (or whether one) matched.
    pub fn user(&self, given: &str) -> Option<&User> {
        let mut found = None;
        for user in &self.users {
            if user.token.matches(given) && found.is_none() {
                found = Some(user);
            }
        }
        found
    }
}

fn grants(
    raw: Option<&BTreeMap<String, Spanned<String>>>,
    field: &str,
    problem: &mut impl FnMut(Option<usize>, String, String),
) -> Grants {
    let mut grants = Grants::default();
    for (name, access) in raw.into_iter().flatten() {
        let value = match access.value.as_str() {
            "read" => Access::Read,
            "write" => Access::Write,
            other => {
                problem(
                    line_of(access),
                    format!("{field}.{name}"),
                    format!("{other:?}: expected read or write"),
                );
                continue;
            }
        };
        if name == "*" {
            grants.all = Some(value);
        } else if name.trim().is_empty() {
            problem(
                line_of(access),
                field.to_string(),
                "an empty name; use \"*\" for all".into(),
            );
        } else {
            grants.named.insert(name.clone(), value);
        }
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Roles, Vec<RolesProblem>> {
        Roles::parse(text, Path::new("/nonexistent"))
    }

    #[test]
    fn users_get_admin_or_scoped_roles() {
        let roles = parse(
            "users:\n  - name: root\n    token: root-token-0123456789\n    role: admin\n  - name: shop\n    token: shop-token-0123456789\n    tiers:\n      default: write\n      security: read\n    namespaces:\n      shop: write\n      payments: read\n",
        )
        .unwrap();
        assert_eq!(roles.users.len(), 2);
        assert_eq!(
            roles.user("root-token-0123456789").unwrap().scope,
            Scope::Admin
        );
        let shop = &roles.user("shop-token-0123456789").unwrap().scope;
        assert!(shop.can_read_policy("security", Some("payments")));
        assert!(!shop.can_read_policy("platform", Some("shop")));
        assert!(!shop.can_read_policy("default", Some("other")));
        assert_eq!(shop.write_denied("default", Some("shop")), None);
        assert!(
            shop.write_denied("default", Some("payments"))
                .unwrap()
                .contains("\"payments\"")
        );
        assert!(
            shop.write_denied("security", Some("shop"))
                .unwrap()
                .contains("tier \"security\"")
        );
        assert!(
            shop.write_denied("default", None)
                .unwrap()
                .contains("global")
        );
        assert!(shop.sees_namespace(Some("payments")));
        assert!(!shop.sees_namespace(Some("other")));
        assert!(!shop.sees_namespace(None));
        assert!(roles.user("nobody-0123456789").is_none());
    }

    #[test]
    fn star_grants_everything_of_its_kind() {
        let roles = parse(
            "users:\n  - name: sec\n    token: sec-token-0123456789\n    tiers: {security: write}\n    namespaces: {\"*\": write}\n",
        )
        .unwrap();
        let s = &roles.users[0].scope;
        assert!(s.sees_namespace(None));
        assert_eq!(s.namespace_limit(), None);
        assert_eq!(s.write_denied("security", None), None);
        assert!(s.write_denied("default", Some("x")).is_some());
    }

    #[test]
    fn mistakes_are_reported_with_line_and_field() {
        let e = parse(
            "users:\n  - name: a\n    token: a-token-0123456789\n    tiers:\n      default: wrte\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            vec![RolesProblem {
                line: Some(5),
                field: "users[0].tiers.default".into(),
                message: "\"wrte\": expected read or write".into()
            }]
        );
        let e = parse("users:\n  - name: a\n    tokn: x\n").unwrap_err();
        assert_eq!(e[0].line, Some(3), "{e:?}");
        assert!(e[0].message.contains("tokn"), "{e:?}");
        let e = parse("users:\n  - name: a\n    token: short\n    role: admin\n").unwrap_err();
        assert_eq!(
            (e[0].line, e[0].field.as_str()),
            (Some(3), "users[0].token")
        );
        let e = parse("users:\n  - name: a\n    role: admin\n").unwrap_err();
        assert!(e[0].message.contains("needs a token"), "{e:?}");
        let e = parse("users:\n  - name: a\n    token: a-token-0123456789\n    role: root\n")
            .unwrap_err();
        assert!(e[0].message.contains("not a role"), "{e:?}");
        let e = parse("users:\n  - name: a\n    token: same-token-0123456789\n    role: admin\n  - name: b\n    token: same-token-0123456789\n    role: admin\n").unwrap_err();
        assert!(e[0].message.contains("same token"), "{e:?}");
        let e = parse("users: []\n").unwrap_err();
        assert!(e[0].message.contains("nobody"), "{e:?}");
    }

    #[test]
    fn token_files_are_read_beside_the_roles_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.token"), "file-token-0123456789\n").unwrap();
        let path = dir.path().join("roles.yaml");
        std::fs::write(
            &path,
            "users:\n  - name: a\n    token_file: a.token\n    role: admin\n  - name: b\n    token_file: missing.token\n    role: admin\n",
        )
        .unwrap();
        let e = Roles::load(&path).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("roles.yaml:6: users[1].token_file: cannot read missing.token"),
            "{text}"
        );
        std::fs::remove_file(dir.path().join("a.token")).unwrap();
        std::fs::write(
            &path,
            "users:\n  - name: a\n    token_file: b.token\n    role: admin\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.token"), "file-token-0123456789\n").unwrap();
        let roles = Roles::load(&path).unwrap();
        assert!(roles.user("file-token-0123456789").is_some());
    }
}
