//! The web console (`/console`): static files shipped inside the binary, so that it works with
//! no network beyond confab itself. It holds no privilege of its own: the page signs in with an
//! account's credentials and calls the public API with Basic auth, like any client (README,
//! "The console"). No handler here touches the store.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::{Code, Error};

/// One file of the console: its name under `/console/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static str,
}

/// Every file the console is made of (the folder `console/` at the top of the repository).
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        media_type: "text/html; charset=utf-8",
        bytes: include_str!("../../console/index.html"),
    },
    Asset {
        name: "style.css",
        media_type: "text/css; charset=utf-8",
        bytes: include_str!("../../console/style.css"),
    },
    Asset {
        name: "app.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/app.js"),
    },
    Asset {
        name: "api.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/api.js"),
    },
    Asset {
        name: "live.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/live.js"),
    },
    Asset {
        name: "sse.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/sse.js"),
    },
    Asset {
        name: "views.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/views.js"),
    },
    Asset {
        name: "pages.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../console/pages.js"),
    },
];

/// Only this origin: a page that loads nothing from elsewhere keeps working offline, and a
/// script injected through a rendered value (a message body, a friendly name) could not send
/// the credentials anywhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// GET /console: the page itself. Relative links in the page resolve against `/console/`.
pub async fn index() -> Redirect {
    Redirect::permanent("/console/")
}

/// GET /console/: the page.
pub async fn page() -> Response {
    serve(&ASSETS[0])
}

/// GET /console/{file}: one of the page's files; anything else is a Twilio-shaped 404.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => serve(asset),
        None => Error::with(Code::NotFound, format!("/console/{file}")).into_response(),
    }
}

fn serve(asset: &Asset) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(asset.media_type)),
        // The files change with the binary: a browser revalidates rather than keep an old
        // script beside a new server.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
    ];
    (headers, asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The budget: everything shipped in the binary, a few hundred KB at most.
    #[test]
    fn the_console_weighs_less_than_300_kb() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 300 * 1024, "the console is {total} bytes");
    }

    /// The page loads each of its scripts and styles from this list, and nothing from
    /// elsewhere: every `src`/`href`/`import` in it names a file served here.
    #[test]
    fn every_file_the_page_loads_is_served() {
        for asset in ASSETS {
            for name in referenced_files(asset.bytes) {
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} loads {name}, which is not served",
                    asset.name
                );
            }
        }
    }

    /// `./name.js` imports and `href="name"`/`src="name"` attributes of the page's files.
    fn referenced_files(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for marker in ["from \"./", "src=\"", "href=\""] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let name = rest.split('"').next().unwrap_or_default();
                if name.starts_with('#') || name.is_empty() {
                    continue;
                }
                assert!(
                    !name.contains("//"),
                    "the console must load nothing from elsewhere: {name}"
                );
                names.push(name.trim_start_matches("./").to_string());
            }
        }
        names
    }
}
