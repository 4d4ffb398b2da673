//! `flowlens demo` and `flowlens serve`: the API and web UI over a store, fed live by a
//! scenario (demo) or over data already ingested (serve).

use super::{now, runtime};
use crate::cli::{DemoArgs, ListenOptions, ServeArgs};
use anyhow::{Context, Result};
use flowlens_ingest::{IngestLoop, IngestOptions, StoreSink};
use flowlens_server::{
    AllowedHosts, AppState, AuthConfig, ScenarioControl, ScenarioInfo, ServerOptions, StepFuture,
    StepInfo, StepOutcome, Token,
};
use flowlens_sim::{
    AppliedStep, InstallStep, LiveOptions, LiveScenario, ScenarioHandle, Simulation,
};
use flowlens_store::Store;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn demo(args: DemoArgs) -> Result<ExitCode> {
    let scenario = super::scenario::load(&args.scenario)?;
    // Without --data the data lives as long as the demo.
    let temp = match &args.data {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("flowlens-demo-")
                .tempdir()?,
        ),
    };
    let dir = args.data.clone().unwrap_or_else(|| {
        temp.as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default()
    });
    let location = match super::StoreLocation::of_store(&args.store, &args.memory)? {
        Some(location) => location,
        None => super::StoreLocation::Directory(dir.clone(), args.memory.bytes()),
    };
    runtime()?.block_on(async move {
        let opened = super::open_location(&location).await?;
        let maintenance = opened.spawn_maintenance(args.retention.policy());
        let store: Arc<dyn Store> = opened.shared();
        let newest = store.time_bounds().await?.map(|(_, max)| max);
        let start = now() - args.backfill.as_secs() as i64;
        let simulation = Simulation::new(scenario, args.seed, start);
        let state = AppState::new(store.clone(), simulation.inventory(), newest);
        let name = simulation.scenario().name().to_string();
        // A step's inventory becomes the server's (with the policies saved in the UI) and
        // attributes the scenario's traffic from the step on.
        let install: InstallStep = {
            let state = state.clone();
            Box::new(move |step: &AppliedStep| {
                let world = state.install(state.with_edits(step.inventory.clone()));
                world.engine.clone()
            })
        };
        let options = LiveOptions {
            speed: args.speed,
            backfill: args.backfill,
            ..LiveOptions::default()
        };
        let (source, scenario) = LiveScenario::new(simulation, options, install);
        let sink = StoreSink::new(store.clone(), tokio::runtime::Handle::current())
            .observed_by(state.live_observer());
        let stored = sink.stored_rows();
        let mut ingest =
            IngestLoop::new(state.world().engine.clone(), sink, IngestOptions::default());
        ingest.add_source(source);
        let task = ingest.spawn().context("starting the scenario feed")?;
        state.attach_ingest(task.handle().clone());
        let scenario = Arc::new(DemoScenario { scenario, stored });
        state.set_scenario(scenario.clone());
        eprintln!(
            "Scenario {name}: {} of history, then live at {}× real time; flow logs in {}",
            humantime::format_duration(args.backfill),
            args.speed,
            opened.describe()
        );
        run_server(&state, &args.listen, &dir).await?;
        eprintln!("Stopping the scenario and storing what is in flight…");
        scenario.scenario.stop();
        if let Err(e) = tokio::task::block_in_place(|| task.join()) {
            eprintln!("warning: the scenario feed stopped with an error: {e}");
        }
        if let Some(maintenance) = maintenance {
            maintenance.abort();
        }
        store.flush().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    drop(temp);
    Ok(ExitCode::SUCCESS)
}

/// The simulator's live scenario behind the server's scenario API.
struct DemoScenario {
    scenario: ScenarioHandle,
    /// Flow logs the demo's ingest loop has stored.
    stored: Arc<AtomicU64>,
}

impl ScenarioControl for DemoScenario {
    fn info(&self) -> ScenarioInfo {
        let s = self.scenario.status();
        ScenarioInfo {
            name: s.name,
            description: s.description,
            steps: s
                .steps
                .into_iter()
                .map(|step| StepInfo {
                    name: step.name,
                    description: step.description,
                    at: step.at,
                    applied: step.applied,
                    applied_at: step.applied_at,
                })
                .collect(),
            speed: s.speed,
            seed: s.seed,
            records: s.records,
            flow_logs: self.stored.load(Ordering::Relaxed),
            time: s.time,
        }
    }

    fn apply_step<'a>(&'a self, name: &'a str) -> StepFuture<'a> {
        let answer = self.scenario.apply_step(name);
        Box::pin(async move {
            let applied = tokio::task::spawn_blocking(move || answer.recv())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|_| "the scenario feed has stopped".to_string())??;
            Ok(StepOutcome {
                applied: applied.name,
                time: applied.time,
                warnings: applied.warnings,
            })
        })
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let inventory = if args.snapshot.is_empty() {
        Arc::new(flowlens_model::Inventory::new())
    } else {
        Arc::new(crate::snapshot::load(&args.snapshot, &args.options)?.inventory)
    };
    let sources = super::sources::live_sources(&args.sources)?;
    if !sources.is_empty() && args.snapshot.is_empty() && !args.cluster.kube {
        eprintln!(
            "warning: without --snapshot or --kube, raw records (Hubble, IPFIX, NetFlow) have no cluster endpoints to be attributed to and are not logged"
        );
    }
    runtime()?.block_on(async move {
        let cluster = if args.cluster.kube {
            Some(super::cluster::connect(&args.cluster, &args.options).await?)
        } else {
            None
        };
        let location = match super::StoreLocation::of_store(&args.store, &args.memory)? {
            Some(location) => location,
            None => super::StoreLocation::Directory(args.data.clone(), args.memory.bytes()),
        };
        let opened = super::open_location(&location).await?;
        let maintenance = opened.spawn_maintenance(args.retention.policy());
        let store: Arc<dyn Store> = opened.shared();
        let newest = store.time_bounds().await?.map(|(_, max)| max);
        let state = AppState::new(store.clone(), inventory, newest);
        let following = cluster.as_ref().map(|link| {
            super::cluster::check_access_in_background(link.clone());
            state.connect_cluster(link.clone())
        });
        // Live sources feed the store through one ingest loop while the server runs; with a
        // cluster, from its first complete listing on (before it nothing can be attributed).
        let feed: Arc<std::sync::Mutex<Option<flowlens_ingest::IngestTask>>> = Arc::default();
        let starter = (!sources.is_empty()).then(|| {
            let state = state.clone();
            let store = store.clone();
            let feed = feed.clone();
            let options = IngestOptions {
                aggregation: args.aggregation.config(),
                ..IngestOptions::default()
            };
            let cluster = cluster.clone();
            tokio::spawn(async move {
                if let Some(link) = &cluster {
                    link.ready().await;
                    eprintln!("cluster listed: attributing flows from the sources");
                }
                let sink = StoreSink::new(store, tokio::runtime::Handle::current())
                    .observed_by(state.live_observer());
                let mut ingest = IngestLoop::new(state.world().engine.clone(), sink, options);
                for source in sources {
                    ingest.add_source(source);
                }
                match ingest.spawn() {
                    Ok(task) => {
                        state.attach_ingest(task.handle().clone());
                        *feed.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
                    }
                    Err(e) => eprintln!("error: cannot start the live sources: {e}"),
                }
            })
        });
        run_server(&state, &args.listen, &args.data).await?;
        if let Some(starter) = starter {
            starter.abort();
        }
        let task = feed.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            eprintln!("Stopping the sources and storing what is in flight…");
            task.handle().stop();
            match tokio::task::block_in_place(|| task.join()) {
                Ok(summary) => {
                    for failure in summary.failures {
                        eprintln!("warning: {} stopped: {}", failure.source, failure.error);
                    }
                }
                Err(e) => eprintln!("warning: the live sources stopped with an error: {e}"),
            }
        }
        if let Some(following) = following {
            following.abort();
        }
        if let Some(maintenance) = maintenance {
            maintenance.abort();
        }
        store.flush().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The API token: from --token-file, or `api-token` in the data directory (created on first
/// start); none with --no-auth.
fn api_token(listen: &ListenOptions, data: &std::path::Path) -> Result<Option<Token>> {
    if listen.no_auth {
        return Ok(None);
    }
    let token = match &listen.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            Token::new(&text).map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?
        }
        None => Token::load_or_create(&data.join(TOKEN_FILE))?,
    };
    Ok(Some(token))
}

/// The token's file in the data directory.
const TOKEN_FILE: &str = "api-token";

/// Refuses to expose the API beyond this machine without TLS and authentication, unless
/// --insecure says that is meant.
fn check_exposure(listen: &ListenOptions, tls: bool) -> Result<()> {
    if listen.bind.is_loopback() || listen.insecure {
        return Ok(());
    }
    if listen.no_auth {
        anyhow::bail!(
            "--no-auth on {} would give anyone who reaches it every flow and the policies; keep --no-auth to loopback (--bind 127.0.0.1) or add --insecure",
            listen.bind
        );
    }
    if !tls {
        anyhow::bail!(
            "listening on {} without TLS sends the token and every flow in clear text; give --http-tls-cert and --http-tls-key, or add --insecure (e.g. behind a proxy that terminates TLS)",
            listen.bind
        );
    }
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, printing the URL once listening.
async fn run_server(
    state: &AppState,
    listen: &ListenOptions,
    data: &std::path::Path,
) -> Result<()> {
    // A bad certificate or key is an error now, naming the file, not at the first handshake.
    let https = match (&listen.http_tls_cert, &listen.http_tls_key) {
        (Some(cert), Some(key)) => Some(
            flowlens_server::Https::load(cert, key)
                .context("cannot serve HTTPS (--http-tls-cert, --http-tls-key)")?,
        ),
        _ => None,
    };
    check_exposure(listen, https.is_some())?;
    let roles = match &listen.roles {
        Some(path) => Some(std::sync::Arc::new(flowlens_server::Roles::load(path)?)),
        None => None,
    };
    let token = if roles.is_some() {
        None
    } else {
        api_token(listen, data)?
    };
    state.set_audit_log(&data.join(flowlens_server::AUDIT_FILE));
    state.set_max_live_streams(listen.max_live_streams);
    let addr = std::net::SocketAddr::new(listen.bind, listen.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}; is another flowlens running? (--port picks another port)")
    })?;
    let local = listener.local_addr()?;
    // With a cluster, its users' Kubernetes tokens open the API too (unless --no-auth).
    let kube = state
        .cluster()
        .and_then(|link| link.reviewer())
        .filter(|_| !listen.no_auth)
        .map(|reviewer| {
            std::sync::Arc::new(flowlens_server::KubeAuth::new(
                reviewer.clone(),
                state.clone(),
            ))
        });
    let options = ServerOptions {
        ui_dir: listen.ui_dir.clone(),
        auth: AuthConfig {
            token: token.clone(),
            roles: roles.clone(),
            kube: kube.clone(),
            secure_cookie: https.is_some(),
        },
        hosts: AllowedHosts::new(Some(local.ip()), &listen.allowed_host),
        https: https.is_some(),
    };
    let router = flowlens_server::router(state.clone(), &options);
    let scheme = if https.is_some() { "https" } else { "http" };
    // The token goes in the fragment, which the browser never sends: the UI reads it once,
    // trades it for a cookie and removes it from the address bar.
    match (&token, &roles) {
        (_, Some(roles)) => println!(
            "Flowlens is running at {scheme}://{local}/  (Ctrl-C to stop; {} user(s) from {}: open {scheme}://{local}/#token=TOKEN with a user's token)",
            roles.users.len(),
            listen
                .roles
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        ),
        (Some(token), None) => println!(
            "Flowlens is running at {scheme}://{local}/#token={}  (Ctrl-C to stop)",
            token.as_str()
        ),
        (None, None) => println!(
            "Flowlens is running at {scheme}://{local}/  (Ctrl-C to stop; no authentication)"
        ),
    }
    if kube.is_some() {
        println!(
            "Kubernetes users sign in with their bearer token (TokenReview); what they see and change follows their RBAC (see docs/security.md)"
        );
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    let shutdown = {
        let state = state.clone();
        async move {
            super::sources::stop_signal().await;
            state.shut_down();
        }
    };
    match https {
        Some(https) => {
            let listener = flowlens_server::TlsListener::new(listener, &https)?;
            state.attach_https(listener.stats());
            flowlens_server::serve_tls(listener, router, shutdown).await?
        }
        None => flowlens_server::serve(listener, router, shutdown).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(bind: &str) -> ListenOptions {
        ListenOptions {
            port: 0,
            bind: bind.parse().unwrap(),
            ui_dir: None,
            token_file: None,
            roles: None,
            no_auth: false,
            insecure: false,
            allowed_host: Vec::new(),
            http_tls_cert: None,
            http_tls_key: None,
            max_live_streams: flowlens_server::DEFAULT_MAX_LIVE_STREAMS,
        }
    }

    #[test]
    fn beyond_loopback_tls_and_authentication_are_enough() {
        assert!(check_exposure(&listen("127.0.0.1"), false).is_ok());
        assert!(check_exposure(&listen("::1"), false).is_ok());
        let wide = listen("0.0.0.0");
        let err = check_exposure(&wide, false).unwrap_err().to_string();
        assert!(err.contains("without TLS"), "{err}");
        assert!(check_exposure(&wide, true).is_ok());
        let open = ListenOptions {
            no_auth: true,
            ..listen("10.0.0.5")
        };
        let err = check_exposure(&open, true).unwrap_err().to_string();
        assert!(err.contains("--no-auth"), "{err}");
        let meant = ListenOptions {
            insecure: true,
            ..listen("0.0.0.0")
        };
        assert!(check_exposure(&meant, false).is_ok());
    }
}
