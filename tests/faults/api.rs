//! A small HTTP client for confab's API: Basic auth, form bodies, JSON answers.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// One account's credentials on one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub sid: String,
    pub token: String,
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn str(&self, key: &str) -> anyhow::Result<String> {
        self.body[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no string {key:?} in {}", self.body))
    }
}

impl Api {
    pub fn new(base: &str, sid: &str, token: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            base: base.to_string(),
            sid: sid.to_string(),
            token: token.to_string(),
        }
    }

    /// The same account on another server (after a restart: a new port, a new pool).
    pub fn on(&self, base: &str) -> Api {
        Api::new(base, &self.sid, &self.token)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> reqwest::Result<Answer> {
        let res = req.basic_auth(&self.sid, Some(&self.token)).send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    /// POSTs a form; an error when no answer came (the server went away).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Result<Answer> {
        self.post_with_headers(path, form, &[]).await
    }

    pub async fn post_with_headers(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Result<Answer> {
        let mut req = self.http.post(self.url(path)).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<Answer> {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Result<Answer> {
        self.send(self.http.delete(self.url(path))).await
    }

    /// A POST that must succeed (setup, not the writes under test).
    pub async fn must_post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let answer = self
            .post(path, form)
            .await
            .with_context(|| format!("POST {path}"))?;
        if !answer.ok() {
            bail!("POST {path}: {} {}", answer.status, answer.body);
        }
        Ok(answer.body)
    }

    /// A GET that must succeed.
    pub async fn must_get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self
            .get(path)
            .await
            .with_context(|| format!("GET {path}"))?;
        if !answer.ok() {
            bail!("GET {path}: {} {}", answer.status, answer.body);
        }
        Ok(answer.body)
    }

    /// Every item of a list, following `meta.next_page_url` to the end.
    pub async fn collect(&self, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(url) = next {
            let page = self.must_get(&url).await?;
            let Some(found) = page[key].as_array() else {
                bail!("GET {url}: no {key:?} list in {page}");
            };
            items.extend(found.iter().cloned());
            next = page["meta"]["next_page_url"].as_str().map(str::to_string);
        }
        Ok(items)
    }

    /// A new account (with its own default service), created by this (operator) client.
    pub async fn new_account(&self, name: &str) -> anyhow::Result<Api> {
        let created = self
            .must_post("/confab/Accounts", &[("FriendlyName", name)])
            .await?;
        let sid = created["account_sid"].as_str().context("account_sid")?;
        let token = created["auth_token"].as_str().context("auth_token")?;
        Ok(Api::new(&self.base, sid, token))
    }
}
