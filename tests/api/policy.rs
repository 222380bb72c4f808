//! Policy rules over Zaqar's defaults (`[oslo_policy] policy_file`), enforced per action
//! with the request's roles (trusted as sent here, in noauth mode; Keystone's in keystone
//! mode). Denied: Zaqar's 403.

use reqwest::Method;
use serde_json::json;

use crate::common::{Api, TestServer};

const RULES: &str = r#"
"messages:create": "role:producer or rule:context_is_admin"
"queues:delete": "!"
"pools:get_all": "role:operator"
"#;

fn with_roles<'a>(
    api: &'a Api,
    roles: &str,
) -> impl Fn(Method, &str) -> reqwest::RequestBuilder + 'a {
    let roles = roles.to_owned();
    move |method, path| api.request(method, path).header("X-Roles", roles.clone())
}

#[tokio::test]
async fn a_policy_file_allows_and_denies_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, RULES).unwrap();
    let path = file.display().to_string();
    let s = TestServer::start_with(move |c| {
        c.oslo_policy.policy_file = path;
        c.server.admin_mode = true;
        c.pooling.enabled = true;
    });
    let api = s.api();
    let member = with_roles(&api, "member");
    let producer = with_roles(&api, "Producer, member");
    let post = |rb: reqwest::RequestBuilder| rb.json(&json!({"messages": [{"body": 1}]}));

    let r = api
        .send(post(member(Method::POST, "/v2/queues/q/messages")))
        .await;
    r.assert_error(403, "Not authorized");
    assert_eq!(
        r.json["description"],
        "You are not authorized to complete this action."
    );
    assert_eq!(
        api.send(post(producer(Method::POST, "/v2/queues/q/messages")))
            .await
            .status,
        201
    );
    // Rules the file does not name keep Zaqar's defaults.
    assert_eq!(
        api.send(member(Method::GET, "/v2/queues/q/messages?echo=true"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.send(member(Method::GET, "/v2/flavors")).await.status,
        200
    );
    let admin = with_roles(&api, "admin");
    assert_eq!(api.send(admin(Method::GET, "/v2/health")).await.status, 200);
    api.send(member(Method::GET, "/v2/health"))
        .await
        .assert_error(403, "Not authorized");
    // "!" denies everyone, the admin too; a file can open the admin API to another role.
    api.send(admin(Method::DELETE, "/v2/queues/q"))
        .await
        .assert_error(403, "Not authorized");
    assert_eq!(
        api.send(with_roles(&api, "operator")(Method::GET, "/v2/pools"))
            .await
            .status,
        200
    );
    api.send(admin(Method::GET, "/v2/pools"))
        .await
        .assert_error(403, "Not authorized");

    // Zaqar checks its headers first: a bad queue name is its 400, not a 403.
    let r = api
        .send(post(member(Method::POST, "/v2/queues/bad%20name/messages")))
        .await;
    r.assert_error(400, "Invalid queue identification");
}

#[test]
fn a_rule_that_does_not_parse_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, "\"claims:create\": \"role:a or (role:b\"\n").unwrap();
    let mut conf = zaqar::Config::default();
    conf.oslo_policy.policy_file = file.display().to_string();
    let err = conf.validate().unwrap_err().to_string();
    assert!(err.contains("oslo_policy.policy_file"), "{err}");
    assert!(err.contains("claims:create"), "{err}");
    conf.oslo_policy.policy_file = dir.path().join("missing.yaml").display().to_string();
    assert!(
        conf.validate().is_err(),
        "a policy file that is named must exist"
    );
}
