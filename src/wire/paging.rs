//! Twilio's list envelope and keyset pagination.
//!
//! A page token is `PA<key>` ("the page after the row with this sort key") or `PB<key>` ("the
//! page before it"), where the key is the row's position in the list's order, never an offset:
//! a page deep in a million rows costs what the first one costs.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Code, Error, Result};
use crate::wire::form::keep_empty;
use crate::wire::json::WriteJson;

/// `PageSize`, `Page` and `PageToken`, as every list endpoint takes them. Each is kept when
/// sent empty (`keep_empty`), so that `PageSize=` is refused alike by every list: read directly
/// a plain `Option` takes an empty value for none, while flattened into a list's filters it
/// stays empty, and lists answered 200 or 400 by how their query struct was built.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    #[serde(rename = "PageSize", default, deserialize_with = "keep_empty")]
    pub page_size: Option<String>,
    #[serde(rename = "Page", default, deserialize_with = "keep_empty")]
    pub page: Option<String>,
    #[serde(rename = "PageToken", default, deserialize_with = "keep_empty")]
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
    /// `meta.page_size` (twilio-behavior.md 4); below 1 or not a number is refused.
    pub fn validate(&self, limits: PageLimits) -> Result<PageRequest> {
        let size = match &self.page_size {
            None => limits.default,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(limits.max),
                _ => {
                    return Err(Error::invalid(
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
                .map_err(|_| Error::invalid("Page", "must be a whole number"))?,
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

/// A `PageToken` (`PA<key>` or `PB<key>`, the key's numbers joined by `_`) as a cursor;
/// anything else is `InvalidPageToken`.
pub fn decode_token(token: &str) -> Result<Cursor> {
    let (direction, key) = token
        .split_at_checked(2)
        .ok_or_else(|| Error::new(Code::InvalidPageToken))?;
    // A key has a few numbers (the longest sort key has two): more names no row.
    if key.split('_').nth(MAX_KEY_PARTS).is_some() {
        return Err(Error::new(Code::InvalidPageToken));
    }
    // Each number as confab spells it (no sign but `-`, no leading zero): a token is the
    // spelling of one key, never one of several.
    let number = |part: &str| {
        part.parse::<i64>()
            .ok()
            .filter(|n| n.to_string() == part)
            .ok_or_else(|| Error::new(Code::InvalidPageToken))
    };
    let parts = key.split('_').map(number).collect::<Result<Vec<i64>>>()?;
    match direction {
        "PA" => Ok(Cursor::After(parts)),
        "PB" => Ok(Cursor::Before(parts)),
        _ => Err(Error::new(Code::InvalidPageToken)),
    }
}

/// The most numbers a page token's key may hold.
const MAX_KEY_PARTS: usize = 8;

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

    /// Builds a page from rows read with one row of look-ahead, in the order the query read
    /// them: a page before a `PB` token is read backwards, and is put back in the list's order
    /// here.
    pub fn from_read(mut rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> Vec<i64>) -> Self {
        if matches!(req.cursor, Some(Cursor::Before(_))) {
            rows.reverse();
        }
        Self::from_lookahead(rows, req, key)
    }

    /// The same page over borrowed rows, so that each row can render as a view that borrows it.
    pub fn as_ref(&self) -> Page<&T> {
        Page {
            rows: self.rows.iter().collect(),
            first_key: self.first_key.clone(),
            last_key: self.last_key.clone(),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            rows: self.rows.into_iter().map(f).collect::<Result<_, _>>()?,
            first_key: self.first_key,
            last_key: self.last_key,
            has_next: self.has_next,
            has_previous: self.has_previous,
        })
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

/// A rendered list page: `{"<key>": [rows...], "meta": {...}}`. The rows are serialized as they
/// are (borrowed views or `Value`s) straight into the body; the key is the list's own name, so
/// the map is written by hand.
#[derive(Debug)]
pub struct ListPage<T> {
    key: &'static str,
    rows: Vec<T>,
    meta: Meta,
}

/// `meta`, with Twilio's field names.
#[derive(Debug, Serialize)]
struct Meta {
    page: u64,
    page_size: usize,
    first_page_url: String,
    previous_page_url: Option<String>,
    url: String,
    next_page_url: Option<String>,
    key: &'static str,
}

impl<T: Serialize> Serialize for ListPage<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(self.key, &self.rows)?;
        map.serialize_entry("meta", &self.meta)?;
        map.end()
    }
}

/// The same bytes as serializing the page, each row writing itself.
impl<T: WriteJson> WriteJson for ListPage<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
        out.push(b'{');
        sonic_rs::to_writer(&mut *out, self.key)?;
        out.extend_from_slice(b":[");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            row.write_json(out)?;
        }
        out.extend_from_slice(b"],\"meta\":");
        sonic_rs::to_writer(&mut *out, &self.meta)?;
        out.push(b'}');
        Ok(())
    }
}

/// Renders `{"<key>": [...], "meta": {...}}`. `list_url` is the absolute URL of the list;
/// `filters` are the request's own filter parameters, echoed first in every page URL.
pub fn render<T>(
    key: &'static str,
    page: Page<T>,
    req: &PageRequest,
    list_url: &str,
    filters: &[(&str, String)],
) -> ListPage<T> {
    let url_for = |page_no: u64, token: Option<String>| {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("PageSize", req.size.to_string()));
        query.push(("Page", page_no.to_string()));
        if let Some(token) = token {
            query.push(("PageToken", token));
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
    let meta = Meta {
        page: req.page,
        page_size: req.size,
        first_page_url: url_for(0, None),
        previous_page_url: previous,
        url: url_for(req.page, req.token.clone()),
        next_page_url: next,
        key,
    };
    ListPage {
        key,
        rows: page.rows,
        meta,
    }
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
            Code::InvalidParameter
        );
        assert_eq!(
            params(Some("x"), None)
                .validate(LIMITS_100)
                .unwrap_err()
                .code,
            Code::InvalidParameter
        );
    }

    #[test]
    fn tokens_decode_or_fail_with_21481() {
        let req = params(None, Some("PA12_34")).validate(LIMITS_100).unwrap();
        assert_eq!(req.cursor, Some(Cursor::After(vec![12, 34])));
        let req = params(None, Some("PB7")).validate(LIMITS_100).unwrap();
        assert_eq!(req.cursor, Some(Cursor::Before(vec![7])));
        assert_eq!(
            decode_token("PA1_2_3_4_5_6_7_8"),
            Ok(Cursor::After((1..=8).collect()))
        );
        for bad in [
            "PX1",
            "P",
            "PAabc",
            "PA",
            "PA1_2_3_4_5_6_7_8_9",
            "PA1__2",
            "PA+1",
            "PA01",
            "PA-0",
            "PA9223372036854775808",
            "Pé1",
        ] {
            assert_eq!(
                params(None, Some(bad))
                    .validate(LIMITS_100)
                    .unwrap_err()
                    .code,
                Code::InvalidPageToken,
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

    #[test]
    fn envelope_names_the_list_and_links_the_pages() {
        let req = params(Some("1"), None).validate(LIMITS_100).unwrap();
        let page = Page::from_lookahead(vec![1, 2], &req, |n| vec![*n, 7]);
        let filters = [("State", "active".to_string())];
        let body = render("things", page, &req, "http://h/v1/Things", &filters);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "things": [1],
                "meta": {
                    "page": 0,
                    "page_size": 1,
                    "first_page_url": "http://h/v1/Things?State=active&PageSize=1&Page=0",
                    "previous_page_url": null,
                    "url": "http://h/v1/Things?State=active&PageSize=1&Page=0",
                    "next_page_url":
                        "http://h/v1/Things?State=active&PageSize=1&Page=1&PageToken=PA1_7",
                    "key": "things",
                },
            })
        );
    }

    /// Numbers stand for rows here: they write themselves through serde.
    impl WriteJson for i64 {
        fn write_json(&self, out: &mut Vec<u8>) -> sonic_rs::Result<()> {
            sonic_rs::to_writer(out, self)
        }
    }

    #[test]
    fn a_page_whose_rows_write_themselves_is_the_serialized_page() {
        use crate::wire::json::{to_bytes, written_by};
        let req = params(Some("2"), None).validate(LIMITS_100).unwrap();
        for rows in [vec![], vec![1], vec![1, 2, 3]] {
            let page = Page::from_lookahead(rows, &req, |n: &i64| vec![*n]);
            let body = render("things", page, &req, "http://h/v1/Things", &[]);
            assert_eq!(
                written_by(|out| body.write_json(out)).unwrap(),
                to_bytes(&body).unwrap()
            );
        }
    }
}
