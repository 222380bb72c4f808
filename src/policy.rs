//! Access rules, as oslo.policy reads and checks them for Zaqar: each API operation has a
//! rule (`queues:create`, `pools:get_all`, ...), Zaqar's defaults (`zaqar/common/policies`)
//! unless `[oslo_policy] policy_file` overrides them.
//!
//! The rule language is the part of oslo.policy's that Zaqar's defaults and common
//! deployments use: `role:NAME`, `rule:NAME`, `KEY:VALUE` (a credential compared with a
//! literal, or with `%(KEY)s` of the target), `@` (always), `!` (never), `and`, `or`, `not`,
//! parentheses; an empty rule always passes. A rule that does not parse stops startup,
//! naming the rule.
//!
//! As Zaqar's `acl.enforce` does, a rule is checked against the request's credentials
//! (roles, project and user from the identity headers) and an empty target, so a
//! `project_id:%(project_id)s` check never passes there either.

use std::collections::HashMap;

/// The credentials a rule is checked against.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    pub roles: Vec<String>,
    /// Other credentials by name (`project_id`, `user_id`, `is_admin`, ...), as oslo.context
    /// writes them (`True`/`False` for booleans).
    pub values: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Always,
    Never,
    Not(Box<Rule>),
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Role(String),
    Named(String),
    Generic { key: String, value: String },
}

/// Why a rule could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy rule {name:?} does not parse: {why}")]
    Parse { name: String, why: String },
    #[error("policy file {path}: {why}")]
    File { path: String, why: String },
}

/// Zaqar 23's default rules (`zaqar/common/policies/*.py`).
const DEFAULTS: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    (
        "admin_or_owner",
        "is_admin:True or project_id:%(project_id)s",
    ),
    ("queues:get_all", ""),
    ("queues:create", ""),
    ("queues:get", ""),
    ("queues:delete", ""),
    ("queues:update", ""),
    ("queues:stats", ""),
    ("queues:share", ""),
    ("queues:purge", ""),
    ("messages:get_all", ""),
    ("messages:create", ""),
    ("messages:get", ""),
    ("messages:delete", ""),
    ("messages:delete_all", ""),
    ("claims:create", ""),
    ("claims:get", ""),
    ("claims:delete", ""),
    ("claims:update", ""),
    ("subscription:get_all", ""),
    ("subscription:create", ""),
    ("subscription:get", ""),
    ("subscription:delete", ""),
    ("subscription:update", ""),
    ("subscription:confirm", ""),
    ("pools:get_all", "role:admin"),
    ("pools:create", "role:admin"),
    ("pools:get", "role:admin"),
    ("pools:delete", "role:admin"),
    ("pools:update", "role:admin"),
    ("flavors:get_all", ""),
    ("flavors:create", "role:admin"),
    ("flavors:get", ""),
    ("flavors:delete", "role:admin"),
    ("flavors:update", "role:admin"),
    ("ping:get", ""),
    ("health:get", "role:admin"),
];

/// How deep `rule:` references may nest (a cycle is a rule that never passes).
const MAX_DEPTH: usize = 16;

/// The rules in force.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Rule>,
}

impl Policy {
    /// Zaqar's defaults.
    pub fn defaults() -> Self {
        let rules = DEFAULTS
            .iter()
            .map(|(name, text)| {
                (
                    (*name).to_owned(),
                    parse(text).expect("default rules parse"),
                )
            })
            .collect();
        Self { rules }
    }

    /// Zaqar's defaults, with the rules of `text` (oslo.policy's YAML, or JSON) over them.
    pub fn with_overrides(text: &str, path: &str) -> Result<Self, PolicyError> {
        let file = |why: String| PolicyError::File {
            path: path.to_owned(),
            why,
        };
        let overrides: HashMap<String, serde_yaml_ng::Value> = if text.trim().is_empty() {
            HashMap::new()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| file(e.to_string()))?
        };
        let mut policy = Self::defaults();
        for (name, value) in overrides {
            let text = match value {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Null => String::new(),
                other => {
                    return Err(PolicyError::Parse {
                        name,
                        why: format!("a rule is a string, not {other:?}"),
                    })
                }
            };
            let rule = parse(&text).map_err(|why| PolicyError::Parse {
                name: name.clone(),
                why,
            })?;
            policy.rules.insert(name, rule);
        }
        Ok(policy)
    }

    /// Reads `[oslo_policy] policy_file`; empty: the defaults.
    pub fn load(path: &str) -> Result<Self, PolicyError> {
        if path.is_empty() {
            return Ok(Self::defaults());
        }
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        Self::with_overrides(&text, path)
    }

    /// Whether the credentials `creds` gives may do `action`; an action without a rule is
    /// refused (oslo.policy raises for a rule it does not know). `creds` is called only for
    /// a rule that reads them: most of Zaqar's defaults are open, and every request asks.
    pub fn allows(&self, action: &str, creds: impl FnOnce() -> Creds) -> bool {
        match self.rules.get(action) {
            None | Some(Rule::Never) => false,
            Some(Rule::Always) => true,
            Some(rule) => self.check(rule, &creds(), 0),
        }
    }

    fn check(&self, rule: &Rule, creds: &Creds, depth: usize) -> bool {
        match rule {
            Rule::Always => true,
            Rule::Never => false,
            Rule::Not(r) => !self.check(r, creds, depth),
            Rule::And(rs) => rs.iter().all(|r| self.check(r, creds, depth)),
            Rule::Or(rs) => rs.iter().any(|r| self.check(r, creds, depth)),
            Rule::Role(role) => creds.roles.iter().any(|r| r.eq_ignore_ascii_case(role)),
            Rule::Named(name) => {
                depth < MAX_DEPTH
                    && self
                        .rules
                        .get(name)
                        .is_some_and(|r| self.check(r, creds, depth + 1))
            }
            Rule::Generic { key, value } => {
                // The target is empty, as Zaqar passes it: a `%(...)s` value never matches.
                if value.contains("%(") {
                    return false;
                }
                creds.values.get(key).is_some_and(|v| v == value)
            }
        }
    }
}

/// The tokens of a rule: parentheses apart, words split at white space.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut word = word;
        while let Some(rest) = word.strip_prefix('(') {
            out.push("(".to_owned());
            word = rest;
        }
        let mut closing = 0;
        while let Some(rest) = word.strip_suffix(')') {
            closing += 1;
            word = rest;
        }
        if !word.is_empty() {
            out.push(word.to_owned());
        }
        out.extend(std::iter::repeat_n(")".to_owned(), closing));
    }
    out
}

fn parse(text: &str) -> Result<Rule, String> {
    let tokens = tokens(text);
    if tokens.is_empty() {
        return Ok(Rule::Always);
    }
    let mut at = 0;
    let rule = or_expr(&tokens, &mut at)?;
    if at != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[at]));
    }
    Ok(rule)
}

fn is_word(token: &str, word: &str) -> bool {
    token.eq_ignore_ascii_case(word)
}

fn or_expr(t: &[String], at: &mut usize) -> Result<Rule, String> {
    joined(t, at, "or", and_expr, Rule::Or)
}

fn and_expr(t: &[String], at: &mut usize) -> Result<Rule, String> {
    joined(t, at, "and", not_expr, Rule::And)
}

/// `operand (word operand)*`: one operand as itself, more joined by `join`.
fn joined(
    t: &[String],
    at: &mut usize,
    word: &str,
    operand: fn(&[String], &mut usize) -> Result<Rule, String>,
    join: fn(Vec<Rule>) -> Rule,
) -> Result<Rule, String> {
    let mut items = vec![operand(t, at)?];
    while *at < t.len() && is_word(&t[*at], word) {
        *at += 1;
        items.push(operand(t, at)?);
    }
    Ok(if items.len() == 1 {
        items.remove(0)
    } else {
        join(items)
    })
}

fn not_expr(t: &[String], at: &mut usize) -> Result<Rule, String> {
    if *at < t.len() && is_word(&t[*at], "not") {
        *at += 1;
        return Ok(Rule::Not(Box::new(not_expr(t, at)?)));
    }
    atom(t, at)
}

fn atom(t: &[String], at: &mut usize) -> Result<Rule, String> {
    let Some(token) = t.get(*at) else {
        return Err("the rule ends where a check should be".into());
    };
    *at += 1;
    match token.as_str() {
        "(" => {
            let inner = or_expr(t, at)?;
            if t.get(*at).map(String::as_str) != Some(")") {
                return Err("a parenthesis is not closed".into());
            }
            *at += 1;
            Ok(inner)
        }
        ")" => Err("a parenthesis closes what was not opened".into()),
        "@" => Ok(Rule::Always),
        "!" => Ok(Rule::Never),
        word if ["and", "or", "not"].iter().any(|w| is_word(word, w)) => {
            Err(format!("{word:?} where a check should be"))
        }
        check => {
            let Some((kind, value)) = check.split_once(':') else {
                return Err(format!("{check:?} is not a check (KIND:VALUE)"));
            };
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(value)
                .to_owned();
            match kind {
                "role" => Ok(Rule::Role(value)),
                "rule" => Ok(Rule::Named(value)),
                "http" | "https" => Err(format!("{kind}: checks are not supported")),
                "" => Err(format!("{check:?} has no kind")),
                key => Ok(Rule::Generic {
                    key: key.to_owned(),
                    value,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn can(p: &Policy, action: &str, creds: &Creds) -> bool {
        p.allows(action, || creds.clone())
    }

    fn creds(roles: &[&str], values: &[(&str, &str)]) -> Creds {
        Creds {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn zaqars_defaults() {
        let p = Policy::defaults();
        let member = creds(&["member"], &[("project_id", "p"), ("is_admin", "False")]);
        let admin = creds(&["Admin"], &[("project_id", "p")]);
        assert!(can(&p, "queues:create", &member));
        assert!(can(&p, "flavors:get_all", &member));
        assert!(!can(&p, "pools:get_all", &member));
        assert!(!can(&p, "flavors:create", &member));
        assert!(!can(&p, "health:get", &member));
        assert!(
            can(&p, "pools:get_all", &admin),
            "roles compare without case"
        );
        assert!(!can(&p, "no:such:action", &admin));
    }

    #[test]
    fn the_rule_language() {
        let file = r#"
"messages:create": "role:producer or (role:admin and not role:reader)"
"messages:get_all": "rule:readers"
"readers": "role:consumer or rule:context_is_admin"
"queues:delete": "!"
"queues:get": "@"
"claims:create": "user_id:alice and is_admin:False"
"queues:stats": "project_id:%(project_id)s"
"queues:purge": "not (role:a or role:b)"
"#;
        let p = Policy::with_overrides(file, "policy.yaml").unwrap();
        let producer = creds(&["producer"], &[]);
        let admin_reader = creds(&["admin", "reader"], &[]);
        assert!(can(&p, "messages:create", &producer));
        assert!(!can(&p, "messages:create", &admin_reader));
        assert!(can(&p, "messages:create", &creds(&["admin"], &[])));
        assert!(can(&p, "messages:get_all", &creds(&["consumer"], &[])));
        assert!(can(&p, "messages:get_all", &creds(&["admin"], &[])));
        assert!(!can(&p, "messages:get_all", &producer));
        assert!(!can(&p, "queues:delete", &creds(&["admin"], &[])));
        assert!(can(&p, "queues:get", &producer));
        let alice = creds(&[], &[("user_id", "alice"), ("is_admin", "False")]);
        assert!(can(&p, "claims:create", &alice));
        assert!(!can(
            &p,
            "claims:create",
            &creds(&[], &[("user_id", "bob")])
        ));
        let owner = creds(&[], &[("project_id", "p")]);
        assert!(
            !can(&p, "queues:stats", &owner),
            "the target is empty, as Zaqar's"
        );
        assert!(can(&p, "queues:purge", &producer));
        assert!(!can(&p, "queues:purge", &creds(&["b"], &[])));
        assert!(can(&p, "queues:create", &producer), "defaults stay");
    }

    #[test]
    fn a_rule_that_does_not_parse_is_named() {
        for (rule, why) in [
            ("role:a or", "ends"),
            ("(role:a", "not closed"),
            ("role:a)", "unexpected"),
            ("admin", "not a check"),
            ("http:http://x", "not supported"),
            ("and role:a", "where a check should be"),
        ] {
            let file = format!("\"queues:get\": \"{rule}\"\n");
            let err = Policy::with_overrides(&file, "p.yaml").unwrap_err();
            let PolicyError::Parse { name, why: text } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(name, "queues:get");
            assert!(text.contains(why), "{rule}: {text}");
        }
        assert!(matches!(
            Policy::with_overrides("[1, 2", "p.yaml"),
            Err(PolicyError::File { .. })
        ));
        let cyclic = Policy::with_overrides("\"a\": \"rule:b\"\n\"b\": \"rule:a\"\n", "p").unwrap();
        assert!(!can(&cyclic, "a", &Creds::default()));
    }
}
