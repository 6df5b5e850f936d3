//! The web console's files, served from the binary (the pages themselves are tested in a real
//! browser: tests/console).

use crate::common::account;

/// The page and its scripts load without credentials (the page asks for them), each with its
/// media type and a policy that lets it load nothing from elsewhere; another name is a
/// Twilio-shaped 404.
#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let client = account().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(format!("{}/console", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/console/");
    for (path, media_type, marker) in [
        (
            "/console/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"app.js\">",
        ),
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "import",
        ),
        ("/console/style.css", "text/css; charset=utf-8", ":root"),
    ] {
        let res = http
            .get(format!("{}{path}", client.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], media_type, "{path}");
        let policy = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{path}: {policy}");
        assert!(res.text().await.unwrap().contains(marker), "{path}");
    }
    let res = http
        .get(format!("{}/console/secrets.txt", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 20404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/console/secrets.txt")
    );
}
