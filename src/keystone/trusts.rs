//! Keystone trusts for `trust+http(s)://` subscriptions, as Zaqar's `create_trust_id`
//! (`zaqar/common/auth.py`) makes them: from the subscribing user to the `[trustee]` user,
//! impersonating, for the user's roles on its project, expiring with the subscription. The
//! user's own token creates the trust; deleting it takes the user's token too, or the
//! service user's when the deleting user is not the trustor.
//!
//! Trust ids are handles to a credential: they go to Keystone and into the subscription, not
//! into spans or logs.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::{Identity, Keystone, KeystoneError};
use crate::conf::TrusteeConf;

/// The user trusts are made to, and its id once a login has told it.
pub(super) struct Trustee {
    conf: TrusteeConf,
    user_id: OnceCell<String>,
}

impl Trustee {
    pub(super) fn new(conf: &TrusteeConf) -> Self {
        Self {
            conf: conf.clone(),
            user_id: OnceCell::new(),
        }
    }

    /// keystoneauth's password plugin body: a user by id or by name in its domain, scoped
    /// to a project when one is configured, unscoped otherwise.
    fn login_body(&self) -> Value {
        let c = &self.conf;
        let domain = |id: &str, name: &str| {
            if id.is_empty() {
                json!({ "name": name })
            } else {
                json!({ "id": id })
            }
        };
        let user = if c.user_id.is_empty() {
            json!({
                "name": c.username,
                "domain": domain(&c.user_domain_id, &c.user_domain_name),
                "password": c.password.0,
            })
        } else {
            json!({ "id": c.user_id, "password": c.password.0 })
        };
        let mut auth = json!({
            "identity": {"methods": ["password"], "password": {"user": user}},
        });
        let project = if !c.project_id.is_empty() {
            Some(json!({ "id": c.project_id }))
        } else if !c.project_name.is_empty() {
            Some(json!({
                "name": c.project_name,
                "domain": domain(&c.project_domain_id, &c.project_domain_name),
            }))
        } else {
            None
        };
        if let Some(project) = project {
            auth["scope"] = json!({ "project": project });
        }
        json!({ "auth": auth })
    }
}

/// Why a trust could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No `[trustee]`: this server makes no trusts.
    #[error("trust subscriptions need a [trustee] user in the server's configuration")]
    Disabled,
    /// Keystone answered, and said no (its own words, which the user may read).
    #[error("Keystone refused: {message}")]
    Refused { status: u16, message: String },
    #[error(transparent)]
    Unavailable(#[from] KeystoneError),
}

#[derive(Deserialize)]
struct TrustBody {
    trust: TrustId,
}

#[derive(Deserialize)]
struct TrustId {
    id: String,
}

/// Keystone's error body, `{"error": {"message": ...}}`.
async fn refusal(answer: reqwest::Response) -> TrustError {
    let status = answer.status().as_u16();
    let message = answer
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("status {status}"));
    TrustError::Refused { status, message }
}

/// `expires_at` as keystoneclient writes it (microseconds, UTC); `None` past year 9999.
fn expiry(after: Duration) -> Option<String> {
    let at = OffsetDateTime::now_utc().checked_add(after.try_into().ok()?)?;
    (at.year() <= 9999).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        )
    })
}

impl Keystone {
    /// Whether `[trustee]` is configured.
    pub fn makes_trusts(&self) -> bool {
        self.trustee.is_some()
    }

    /// The trustee's user id, from one login (which also proves its password).
    async fn trustee_id(&self, http: &reqwest::Client) -> Result<String, TrustError> {
        let trustee = self.trustee.as_ref().ok_or(TrustError::Disabled)?;
        let id = trustee
            .user_id
            .get_or_try_init(|| async {
                let c = &trustee.conf;
                let name = if c.user_id.is_empty() {
                    &c.username
                } else {
                    &c.user_id
                };
                let (_, token) = self
                    .login(
                        http,
                        &c.auth_url,
                        &trustee.login_body(),
                        "the trustee",
                        name,
                    )
                    .await?;
                Ok::<_, KeystoneError>(token.user.id)
            })
            .await?;
        Ok(id.clone())
    }

    /// Makes a trust from `trustor` (whose token `user_token` is) to the trustee, for its
    /// roles on its project, expiring `expires_in` from now; its id.
    pub async fn create_trust(
        &self,
        http: &reqwest::Client,
        user_token: &str,
        trustor: &Identity,
        expires_in: Option<Duration>,
    ) -> Result<String, TrustError> {
        let trustee = self.trustee_id(http).await?;
        let (_, endpoint) = self.service_token(http).await?;
        let roles: Vec<Value> = trustor.roles.iter().map(|r| json!({ "name": r })).collect();
        let body = json!({"trust": {
            "trustor_user_id": trustor.user_id,
            "trustee_user_id": trustee,
            "project_id": trustor.project_id,
            "impersonation": true,
            "roles": roles,
            "expires_at": expires_in.and_then(expiry),
        }});
        let url = format!("{endpoint}/OS-TRUST/trusts");
        let answer = self
            .send("POST", &url, || {
                http.post(&url)
                    .header("X-Auth-Token", user_token)
                    .json(&body)
            })
            .await?;
        if answer.status().as_u16() != 201 {
            return Err(refusal(answer).await);
        }
        let made: TrustBody = answer
            .json()
            .await
            .map_err(|e| KeystoneError(format!("trust creation answer: {e}")))?;
        Ok(made.trust.id)
    }

    /// Deletes the trust `id` (gone already is done): with `user_token` when that user
    /// may (the trustor), else with the service user's token.
    pub async fn delete_trust(
        &self,
        http: &reqwest::Client,
        user_token: &str,
        id: &str,
    ) -> Result<(), TrustError> {
        let (service, endpoint) = self.service_token(http).await?;
        let url = format!("{endpoint}/OS-TRUST/trusts/{id}");
        let shown = format!("{endpoint}/OS-TRUST/trusts/{{trust_id}}");
        if !user_token.is_empty() {
            let answer = self
                .send("DELETE", &shown, || {
                    http.delete(&url).header("X-Auth-Token", user_token)
                })
                .await?;
            match answer.status().as_u16() {
                204 | 404 => return Ok(()),
                // Not the trustor (or its token has just expired): the service user's turn.
                401 | 403 => {}
                _ => return Err(refusal(answer).await),
            }
        }
        let answer = self
            .send("DELETE", &shown, || {
                http.delete(&url).header("X-Auth-Token", &service)
            })
            .await?;
        match answer.status().as_u16() {
            204 | 404 => Ok(()),
            _ => Err(refusal(answer).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trustee_logs_in_by_id_or_by_name_in_its_domain() {
        let mut conf = TrusteeConf {
            username: "zaqar".into(),
            user_domain_id: "default".into(),
            password: crate::conf::Secret("pw".into()),
            ..Default::default()
        };
        let body = Trustee::new(&conf).login_body();
        assert_eq!(
            body["auth"]["identity"]["password"]["user"],
            json!({"name": "zaqar", "domain": {"id": "default"}, "password": "pw"})
        );
        assert!(body["auth"].get("scope").is_none(), "unscoped: {body}");
        conf.user_id = "u1".into();
        conf.project_name = "service".into();
        conf.project_domain_name = "Default".into();
        let body = Trustee::new(&conf).login_body();
        assert_eq!(
            body["auth"]["identity"]["password"]["user"],
            json!({"id": "u1", "password": "pw"})
        );
        assert_eq!(
            body["auth"]["scope"],
            json!({"project": {"name": "service", "domain": {"name": "Default"}}})
        );
    }

    #[test]
    fn expiry_is_written_as_keystoneclient_writes_it() {
        let at = expiry(Duration::from_secs(60)).unwrap();
        assert_eq!(at.len(), "2026-12-01T21:00:00.000000Z".len(), "{at}");
        assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
        assert_eq!(expiry(Duration::from_secs(400 * 365 * 86_400 * 25)), None);
    }
}
