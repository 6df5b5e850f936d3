//! Twilio's list envelope and keyset pagination.
//!
//! A page token is `PA<key>` ("the page after the row with this sort key") or `PB<key>` ("the
//! page before it"), where the key is the row's position in the list's order, never an offset:
//! a page deep in a million rows costs what the first one costs.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// `PageSize`, `Page` and `PageToken`, as every list endpoint takes them.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    #[serde(rename = "PageSize")]
    pub page_size: Option<String>,
    #[serde(rename = "Page")]
    pub page: Option<String>,
    #[serde(rename = "PageToken")]
    pub page_token: Option<String>,
}

/// Where a page starts, in the list's own order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The rows that follow this key.
    After(Vec<i64>),
    /// The rows that precede this key.
    Before(Vec<i64>),
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub size: usize,
    pub page: u64,
    pub cursor: Option<Cursor>,
    token: Option<String>,
}

/// Default and maximum `PageSize` of one list endpoint (the spec gives them per endpoint).
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default: usize,
    pub max: usize,
}

pub const LIMITS_100: PageLimits = PageLimits {
    default: 50,
    max: 100,
};
pub const LIMITS_50: PageLimits = PageLimits {
    default: 50,
    max: 50,
};
pub const LIMITS_5: PageLimits = PageLimits { default: 5, max: 5 };

impl PageParams {
    /// Validates the parameters. A `PageSize` over the maximum is clamped to it and echoed in
    /// `meta.page_size` (BEHAVIOR.md 4); below 1 or not a number is refused.
    pub fn validate(&self, limits: PageLimits) -> ApiResult<PageRequest> {
        let size = match &self.page_size {
            None => limits.default,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(limits.max),
                _ => {
                    return Err(ApiError::invalid(
                        "PageSize",
                        "must be a whole number of at least 1",
                    ));
                }
            },
        };
        let page = match &self.page {
            None => 0,
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| ApiError::invalid("Page", "must be a whole number"))?,
        };
        let cursor = self
            .page_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(decode_token)
            .transpose()?;
        Ok(PageRequest {
            size,
            page,
            cursor,
            token: self.page_token.clone().filter(|t| !t.is_empty()),
        })
    }
}

fn decode_token(token: &str) -> ApiResult<Cursor> {
    let (direction, key) = token
        .split_at_checked(2)
        .ok_or_else(ApiError::invalid_page_token)?;
    let parts: Result<Vec<i64>, _> = key.split('_').map(str::parse::<i64>).collect();
    let parts = parts.map_err(|_| ApiError::invalid_page_token())?;
    match direction {
        "PA" => Ok(Cursor::After(parts)),
        "PB" => Ok(Cursor::Before(parts)),
        _ => Err(ApiError::invalid_page_token()),
    }
}

fn encode_key(key: &[i64]) -> String {
    key.iter().map(i64::to_string).collect::<Vec<_>>().join("_")
}

/// One page of rows as the store found them, with each row's sort key.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub first_key: Option<Vec<i64>>,
    pub last_key: Option<Vec<i64>>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with one row of look-ahead (`size + 1` rows asked for),
    /// already put back in the list's order. `key` gives a row's sort key.
    pub fn from_lookahead(
        mut rows: Vec<T>,
        req: &PageRequest,
        key: impl Fn(&T) -> Vec<i64>,
    ) -> Self {
        let extra = rows.len() > req.size;
        let (has_next, has_previous) = match req.cursor {
            Some(Cursor::Before(_)) => {
                if extra {
                    rows.remove(0);
                }
                (true, extra)
            }
            Some(Cursor::After(_)) => {
                rows.truncate(req.size);
                (extra, true)
            }
            None => {
                rows.truncate(req.size);
                (extra, false)
            }
        };
        Page {
            first_key: rows.first().map(&key),
            last_key: rows.last().map(&key),
            rows,
            has_next,
            has_previous,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            first_key: self.first_key,
            last_key: self.last_key,
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }
}

/// Renders `{"<key>": [...], "meta": {...}}`. `list_url` is the absolute URL of the list;
/// `filters` are the request's own filter parameters, echoed first in every page URL.
pub fn render(
    key: &str,
    page: Page<Value>,
    req: &PageRequest,
    list_url: &str,
    filters: &[(&str, String)],
) -> Value {
    let url_for = |page_no: u64, token: Option<String>| {
        let mut query: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        query.push(("PageSize".into(), req.size.to_string()));
        query.push(("Page".into(), page_no.to_string()));
        if let Some(token) = token {
            query.push(("PageToken".into(), token));
        }
        let query = serde_html_form::to_string(&query).unwrap_or_default();
        format!("{list_url}?{query}")
    };
    let next = (page.has_next)
        .then(|| {
            page.last_key
                .as_ref()
                .map(|k| url_for(req.page + 1, Some(format!("PA{}", encode_key(k)))))
        })
        .flatten();
    let previous = (page.has_previous)
        .then(|| {
            page.first_key.as_ref().map(|k| {
                url_for(
                    req.page.saturating_sub(1),
                    Some(format!("PB{}", encode_key(k))),
                )
            })
        })
        .flatten();
    let meta = json!({
        "page": req.page,
        "page_size": req.size,
        "first_page_url": url_for(0, None),
        "previous_page_url": previous,
        "url": url_for(req.page, req.token.clone()),
        "next_page_url": next,
        "key": key,
    });
    // The rows move into the envelope: `json!` would deep-copy the whole page (the benchmark's
    // profile showed the copy and its drop at a fifth of a list request).
    let mut envelope = serde_json::Map::new();
    envelope.insert(key.to_string(), Value::Array(page.rows));
    envelope.insert("meta".to_string(), meta);
    Value::Object(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(size: Option<&str>, token: Option<&str>) -> PageParams {
        PageParams {
            page_size: size.map(Into::into),
            page: None,
            page_token: token.map(Into::into),
        }
    }

    #[test]
    fn page_size_defaults_and_clamps() {
        assert_eq!(params(None, None).validate(LIMITS_100).unwrap().size, 50);
        assert_eq!(
            params(Some("1000"), None)
                .validate(LIMITS_100)
                .unwrap()
                .size,
            100
        );
        assert_eq!(
            params(Some("1000"), None).validate(LIMITS_50).unwrap().size,
            50
        );
        assert_eq!(
            params(Some("0"), None)
                .validate(LIMITS_100)
                .unwrap_err()
                .code,
            20001
        );
        assert_eq!(
            params(Some("x"), None)
                .validate(LIMITS_100)
                .unwrap_err()
                .code,
            20001
        );
    }

    #[test]
    fn tokens_decode_or_fail_with_21481() {
        let req = params(None, Some("PA12_34")).validate(LIMITS_100).unwrap();
        assert_eq!(req.cursor, Some(Cursor::After(vec![12, 34])));
        let req = params(None, Some("PB7")).validate(LIMITS_100).unwrap();
        assert_eq!(req.cursor, Some(Cursor::Before(vec![7])));
        for bad in ["PX1", "P", "PAabc", "PA"] {
            assert_eq!(
                params(None, Some(bad))
                    .validate(LIMITS_100)
                    .unwrap_err()
                    .code,
                21481,
                "{bad}"
            );
        }
    }

    #[test]
    fn lookahead_row_decides_next_and_previous() {
        let first = params(Some("2"), None).validate(LIMITS_100).unwrap();
        let page = Page::from_lookahead(vec![1, 2, 3], &first, |n| vec![*n]);
        assert_eq!(
            (page.rows.clone(), page.has_next, page.has_previous),
            (vec![1, 2], true, false)
        );
        let before = params(Some("2"), Some("PB9")).validate(LIMITS_100).unwrap();
        let page = Page::from_lookahead(vec![6, 7, 8], &before, |n| vec![*n]);
        assert_eq!(
            (page.rows.clone(), page.has_next, page.has_previous),
            (vec![7, 8], true, true)
        );
    }
}
