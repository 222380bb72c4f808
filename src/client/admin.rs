//! The admin API: pools and flavors.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{paging, Client, Page, Result};

/// A storage pool (admin).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub name: String,
    pub uri: String,
    pub weight: u32,
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub options: Option<Value>,
}

/// A flavor (admin).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flavor {
    pub name: String,
    pub pool_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capabilities: Option<Vec<String>>,
}

impl Client {
    pub async fn create_pool(
        &self,
        name: &str,
        uri: &str,
        weight: u32,
        flavor: Option<&str>,
        options: Option<&Value>,
    ) -> Result<()> {
        let mut body = json!({"uri": uri, "weight": weight});
        if let Some(f) = flavor {
            body["flavor"] = f.into();
        }
        if let Some(o) = options {
            body["options"] = o.clone();
        }
        self.call(Method::PUT, &format!("/v2/pools/{name}"), Some(&body))
            .await
            .map(|_| ())
    }

    pub async fn get_pool(&self, name: &str) -> Result<Pool> {
        let r = self
            .call(
                Method::GET,
                &format!("/v2/pools/{name}?detailed=true"),
                None,
            )
            .await?;
        self.json(r).await
    }

    pub async fn list_pools(&self, marker: Option<&str>, limit: Option<u32>) -> Result<Page<Pool>> {
        let r = self.list_admin("/v2/pools", marker, limit).await?;
        let items: Vec<Pool> =
            serde_json::from_value(r["pools"].clone()).map_err(|e| self.protocol(e))?;
        let next = items.last().map(|p| p.name.clone());
        Ok(Page { items, next })
    }

    /// Changes the fields given in `patch` (`weight`, `uri`, `flavor`, `options`).
    pub async fn update_pool(&self, name: &str, patch: &Value) -> Result<Pool> {
        let r = self
            .call(Method::PATCH, &format!("/v2/pools/{name}"), Some(patch))
            .await?;
        self.json(r).await
    }

    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v2/pools/{name}"), None)
            .await
            .map(|_| ())
    }

    pub async fn create_flavor(&self, name: &str, pools: &[String]) -> Result<()> {
        let body = json!({ "pool_list": pools, "capabilities": {} });
        self.call(Method::PUT, &format!("/v2/flavors/{name}"), Some(&body))
            .await
            .map(|_| ())
    }

    pub async fn get_flavor(&self, name: &str) -> Result<Flavor> {
        let r = self
            .call(Method::GET, &format!("/v2/flavors/{name}"), None)
            .await?;
        self.json(r).await
    }

    pub async fn list_flavors(
        &self,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Flavor>> {
        let r = self.list_admin("/v2/flavors", marker, limit).await?;
        let items: Vec<Flavor> =
            serde_json::from_value(r["flavors"].clone()).map_err(|e| self.protocol(e))?;
        let next = items.last().map(|f| f.name.clone());
        Ok(Page { items, next })
    }

    /// Replaces the flavor's pools.
    pub async fn update_flavor(&self, name: &str, pools: &[String]) -> Result<Flavor> {
        let body = json!({ "pool_list": pools });
        let r = self
            .call(Method::PATCH, &format!("/v2/flavors/{name}"), Some(&body))
            .await?;
        self.json(r).await
    }

    pub async fn delete_flavor(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v2/flavors/{name}"), None)
            .await
            .map(|_| ())
    }

    async fn list_admin(
        &self,
        path: &str,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let mut query = paging(marker, limit);
        query.push(("detailed", "true".to_owned()));
        let r = self
            .send(self.request(Method::GET, path).query(&query))
            .await?;
        self.json(r).await
    }
}
