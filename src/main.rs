use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use confab::server::{self, Cli, Command};

/// mimalloc instead of glibc's malloc: a request allocates on one thread what another frees
/// (the writer, the reply), and a list page allocates a `String` per column of every row.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure to start (or to run a command) is one line on stderr that names what it is about,
/// and exit status 1: no backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> ExitCode {
    let flush_logs_on_exit = confab::logging::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let outcome = runtime.block_on(run(cli));
    drop(flush_logs_on_exit);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // `{:#}`: the error and its causes on one line, never the backtrace.
    eprintln!("confab: {e:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(opts)) => serve(*opts).await,
        Some(Command::CreateAccount(opts)) => {
            let store = server::open_store(&opts.db, opts.create).await?;
            let account = confab::domain::accounts::create(&store, opts.friendly_name).await?;
            print_json(&account)?;
            Ok(())
        }
        Some(Command::CreateKey(opts)) => {
            let store = server::open_store(&opts.db, false).await?;
            let key = confab::domain::accounts::create_api_key(
                &store,
                opts.account_sid,
                opts.friendly_name,
            )
            .await?;
            print_json(&key)?;
            Ok(())
        }
    }
}

async fn serve(opts: server::ServeOpts) -> anyhow::Result<()> {
    let listener = server::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let state = server::prepare(&opts).await?;
    let store = state.store.clone();
    // Every connection is a descriptor: take all the system allows (once confab is sure to
    // start, so that a refusal to start is the one line on stderr).
    match confab::edge::raise_open_file_limit() {
        Ok((soft, hard)) => tracing::info!(
            soft,
            hard,
            connection_cap = opts.limits.connection_cap(),
            "open-file limit"
        ),
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open-file limit"),
    }
    // A reader that closed stdout after the first line (a script waiting for the address) must
    // not stop the server: the banner is best effort.
    let _ = writeln!(std::io::stdout().lock(), "{}", server::banner(&opts, addr));
    confab::app::serve(listener, state, shutdown_signal()).await?;
    if let Err(e) = tokio::task::spawn_blocking(move || store.close()).await? {
        // Nothing is lost: the WAL is replayed at the next start.
        tracing::warn!(error = %e, "could not empty the WAL on the way out");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the server then finishes the requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A command's answer on stdout; a closed stdout (`| head`) is an error, not a panic.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(out.flush()?)
}
