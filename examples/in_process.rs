//! confab started inside your own program: an in-memory store on an ephemeral port, as a test
//! suite would start it, then a conversation and a message created over HTTP as any Twilio
//! client would, and a graceful stop.
//!
//! ```sh
//! cargo run --example in_process
//! ```
//!
//! The same `confab::server::run_with_listener` starts the server in confab's own tests
//! (`tests/api/common.rs`). Point an official Twilio SDK at the printed base URL instead of
//! reqwest to test code that uses one.

use confab::server::{DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, ServeOpts};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // What `confab --db :memory:` would take on the command line. The operator account is
    // created at start with these credentials.
    let opts = ServeOpts::new(":memory:");

    // Bind first, so the port is known before the server runs; port 0 lets the OS pick one.
    let listener = TcpListener::bind(opts.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);

    // The server runs until `stop` fires, then finishes the requests in flight.
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        confab::server::run_with_listener(&opts, listener, async {
            let _ = stopped.await;
        })
        .await
    });

    // Twilio's wire format: Basic auth, form-encoded bodies, JSON answers.
    let http = reqwest::Client::new();
    let post = async |path: &str, form: &[(&str, &str)]| -> anyhow::Result<Value> {
        let answer = http
            .post(format!("{base}{path}"))
            .basic_auth(DEV_ACCOUNT_SID, Some(DEV_AUTH_TOKEN))
            .form(form)
            .send()
            .await?
            .error_for_status()?;
        Ok(answer.json().await?)
    };

    let conversation = post("/v1/Conversations", &[("FriendlyName", "support")]).await?;
    let sid = conversation["sid"].as_str().unwrap_or_default();
    println!("conversation {sid}: {}", conversation["friendly_name"]);

    let messages = format!("/v1/Conversations/{sid}/Messages");
    let message = post(&messages, &[("Author", "alice"), ("Body", "hello")]).await?;
    println!(
        "message {} (index {}): {}",
        message["sid"].as_str().unwrap_or_default(),
        message["index"],
        message["body"]
    );

    // Stop the server and wait for it to let go of its store.
    let _ = stop.send(());
    server.await??;
    Ok(())
}
