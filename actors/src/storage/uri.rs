//! Backend URIs as they may be shown: every credential masked.

/// The URI with every credential replaced by `***`: the password of the userinfo (even
/// one holding unencoded `/`, `?` or `#`, which URL parsers refuse), and the values of query
/// parameters that carry secrets (`password=`, `token=`, ...). This is the one masking
/// function: whatever shows a backend URI (pool listings, error bodies, logs) goes through
/// it. It errs towards masking too much.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    // The userinfo ends at the last `@` of the authority; a password with an unencoded `?`
    // or `#` puts that `@` after the apparent query start, so look further there.
    let at = rest[..query_at]
        .rfind('@')
        .or_else(|| rest.rfind('@').filter(|&i| rest[..i].contains(':')));
    let (userinfo, after) = match at {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _password)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    let (base, query) = match after.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (after, None),
    };
    out.push_str(base);
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if secret_parameter(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    out
}

/// Query parameters of backend URIs whose value is a credential (libpq's `password`,
/// `sslpassword`; MongoDB's `authMechanismProperties`, which may hold a session token; and
/// anything named like a password, secret, token or key).
fn secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "authmechanismproperties",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let cases = [
            (
                "postgres://zaqar:s3cret@db:5432/zaqar",
                "postgres://zaqar:***@db:5432/zaqar",
            ),
            ("sqlite://./data/zaqar.db", "sqlite://./data/zaqar.db"),
            ("sqlite://./a@b.db", "sqlite://./a@b.db"),
            ("redis://:s3cret@host/0", "redis://:***@host/0"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://user@host/0", "redis://user@host/0"),
            (
                "postgres://h/db?user=u&password=s3cret",
                "postgres://h/db?user=u&password=***",
            ),
            (
                "postgres://h/db?sslpassword=s3cret&sslmode=require",
                "postgres://h/db?sslpassword=***&sslmode=require",
            ),
            ("postgres://u:s3/cr/et@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3?cr#et@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3@cret@h/db", "postgres://u:***@h/db"),
            (
                "mongodb://u:s3cret@h1:27017,h2:27017/zaqar?authSource=admin&replicaSet=rs",
                "mongodb://u:***@h1:27017,h2:27017/zaqar?authSource=admin&replicaSet=rs",
            ),
            (
                "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cret",
                "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=***",
            ),
            ("rediss://h/0?token=s3cret#x", "rediss://h/0?token=***#x"),
        ];
        for (uri, masked) in cases {
            assert_eq!(redact_uri(uri), masked, "{uri}");
            assert!(!redact_uri(uri).contains("s3"), "{uri}");
        }
    }
}
