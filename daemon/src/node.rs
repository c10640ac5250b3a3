//! Starting and stopping a node: the data directory, its lock, first-run
//! initialisation, the local API socket, and graceful shutdown on signals.
//!
//! The data directory (mode 0700) holds:
//!
//! | path        | what                                              |
//! |-------------|---------------------------------------------------|
//! | `node.key`  | the node's Ed25519 key, PKCS#8, mode 0600          |
//! | `kpd.toml`  | settings, written out in full at init              |
//! | `store/`    | the sled store                                     |
//! | `kpd.sock`  | the local API (gRPC over a Unix socket)            |
//! | `kpd.lock`  | held while a kpd runs here; holds its pid          |

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kp_proto::local::local_server::LocalServer;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::accounts::Accounts;
use crate::api::LocalApi;
use crate::config::{self, Config, ConfigError};
use crate::peers::Peers;
use crate::service::Service;
use kp_core::identity::{IdentityError, NodeKey};
use kp_repo::{Repo, RepoConfig, RepoError};
use kp_store::{SledStore, StoreError};

/// File names inside the data directory.
pub const KEY_FILE: &str = "node.key";
/// The settings file.
pub const CONFIG_FILE: &str = "kpd.toml";
/// The lock file.
pub const LOCK_FILE: &str = "kpd.lock";
/// The store directory.
pub const STORE_DIR: &str = "store";

/// Why a node could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node's identity could not be made or read.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The settings file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The repository could not be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Another kpd runs on this data directory.
    #[error("another kpd is already running on {} (pid {pid}); stop it first, or use another --data-dir", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The pid written by the other process.
        pid: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The peer list could not be set up.
    #[error(transparent)]
    Peers(#[from] crate::peers::PeersError),
    /// The gRPC server failed.
    #[error("local API: {0}")]
    Serve(String),
    /// The accounts could not be read.
    #[error("accounts: {0}")]
    Accounts(String),
    /// The web listener could not start.
    #[error("web listener: {0}")]
    Web(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialised {
    /// The node's key.
    pub key: NodeKey,
    /// Whether it was made now (false: it existed).
    pub created: bool,
}

fn ensure_dir(dir: &Path) -> Result<(), NodeError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    // The socket and key live here: nobody else may enter.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

/// Makes a node identity and a full `kpd.toml` in `dir`. Refuses to overwrite an
/// existing identity.
pub fn init(dir: &Path, name: &str, author: &str) -> Result<NodeKey, NodeError> {
    ensure_dir(dir)?;
    let key_path = dir.join(KEY_FILE);
    let key = NodeKey::generate(&key_path)?;
    let cfg_path = dir.join(CONFIG_FILE);
    if !cfg_path.exists() {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&cfg_path)
            .map_err(io(&cfg_path))?;
        f.write_all(config::default_file(name, author).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&cfg_path))?;
    }
    Ok(key)
}

/// Loads the node in `dir`, initialising it with defaults on first run.
pub fn init_or_load(
    dir: &Path,
    config_path: Option<&Path>,
) -> Result<(Initialised, Config), NodeError> {
    let key_path = dir.join(KEY_FILE);
    let init = if key_path.exists() {
        ensure_dir(dir)?;
        Initialised {
            key: NodeKey::load(&key_path)?,
            created: false,
        }
    } else {
        let name = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "kp node".into());
        Initialised {
            key: init(dir, &name, "")?,
            created: true,
        }
    };
    let cfg_path = config_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(CONFIG_FILE));
    let cfg = Config::load(&cfg_path)?;
    Ok((init, cfg))
}

/// Holds the data directory's lock for as long as it lives.
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

/// Takes the data directory's lock, or says who holds it.
pub fn lock_dir(dir: &Path) -> Result<DirLock, NodeError> {
    let path = dir.join(LOCK_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let pid = fs::read_to_string(&path)
                .unwrap_or_default()
                .trim()
                .to_owned();
            return Err(NodeError::Locked {
                dir: dir.to_owned(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    file.set_len(0).map_err(io(&path))?;
    write!(file, "{}", std::process::id()).map_err(io(&path))?;
    Ok(DirLock { _file: file })
}

/// A node ready to serve.
#[derive(Debug)]
pub struct Node {
    /// The data directory.
    pub dir: PathBuf,
    /// Its settings.
    pub cfg: Config,
    /// Its key.
    pub key: NodeKey,
    /// Whether this start made the identity.
    pub created: bool,
    /// The documents.
    pub repo: Repo,
    _lock: DirLock,
}

impl Node {
    /// Locks `dir`, initialises it if needed, and opens the store.
    pub fn open(dir: &Path, config_path: Option<&Path>) -> Result<Self, NodeError> {
        ensure_dir(dir)?;
        let lock = lock_dir(dir)?;
        let (init, cfg) = init_or_load(dir, config_path)?;
        let store_dir = dir.join(STORE_DIR);
        let store = SledStore::open(&store_dir, cfg.store.page_cache_mib << 20)?;
        let repo = Repo::open(
            Arc::new(store),
            init.key.clone(),
            RepoConfig {
                cache_docs: cfg.store.cache_documents,
                compact_min_bytes: cfg.store.compact_min_kib << 10,
                compact_factor: cfg.store.compact_factor,
                ..RepoConfig::default()
            },
        )?;
        Ok(Self {
            dir: dir.to_owned(),
            cfg,
            key: init.key,
            created: init.created,
            repo,
            _lock: lock,
        })
    }

    /// Serves the local API until `shutdown` completes, then writes everything
    /// pending and closes the store.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let socket = self.dir.join(kp_proto::SOCKET_FILE);
        // We hold the lock, so a socket file left here is from a process that died.
        if socket.exists() {
            fs::remove_file(&socket).map_err(io(&socket))?;
        }
        let listener = UnixListener::bind(&socket).map_err(io(&socket))?;
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o600)).map_err(io(&socket))?;
        let max = self.cfg.limits.max_request_kib * 1024;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let peers = Peers::new(
            self.key.clone(),
            self.cfg.node.name.clone(),
            &self.cfg.peers.peer,
            self.repo.clone(),
            self.cfg.peers.limits(),
            stop_rx.clone(),
        )?;
        let listen = self.cfg.peers.listen.trim();
        if !listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|source| NodeError::Io {
                    path: PathBuf::from(listen),
                    source,
                })?;
            let serving = peers.clone();
            tokio::spawn(async move {
                if let Err(e) = serving.serve(listener).await {
                    tracing::error!("the partner listener stopped: {e}");
                }
            });
        }
        peers.start();
        let accounts = Arc::new(
            Accounts::open(self.repo.clone()).map_err(|e| NodeError::Accounts(e.to_string()))?,
        );
        let bound = self.bind_web().await?;
        let web_url = bound.as_ref().map(|b| b.1.url()).unwrap_or_default();
        let presence = peers.presence();
        let portal = self.bind_portal().await;
        let portal_url = match &portal {
            Ok(Some((_, url))) => Ok(url.clone()),
            Ok(None) => Ok(String::new()),
            Err(why) => Err(why.clone()),
        };
        let metrics_bound = self.bind_metrics().await;
        let metrics_url = match &metrics_bound {
            Ok(Some((_, url))) => Ok(format!("{url}/metrics")),
            Ok(None) => Ok(String::new()),
            Err(why) => Err(why.clone()),
        };
        let metrics = crate::metrics::Metrics::default();
        let service = Arc::new(Service::new(
            metrics.clone(),
            metrics_url,
            self.repo.clone(),
            peers,
            self.cfg.clone(),
            self.dir.display().to_string(),
            Arc::clone(&accounts),
            bound.as_ref().map(|b| b.1).map_err(Clone::clone),
            portal_url,
        ));
        // The portal stores its counts as it stops: awaited (for a bounded
        // time) before the repository shuts down.
        let portal_task = match portal {
            Ok(Some((listener, _))) => {
                let p = Arc::new(crate::portal::Portal::new(Arc::clone(&service)));
                Some(tokio::spawn(crate::portal::serve(
                    listener,
                    p,
                    stop_rx.clone(),
                )))
            }
            _ => None,
        };
        let web_clients = match bound {
            Ok(bound) => Some(self.serve_web(
                bound,
                accounts,
                Arc::clone(&service),
                presence,
                stop_rx.clone(),
            )),
            Err(_) => None,
        };
        if let Ok(Some((listener, _))) = metrics_bound {
            let registry = metrics.registry(Arc::clone(&service), web_clients);
            tokio::spawn(crate::metrics::serve(listener, registry, stop_rx.clone()));
        }
        let api = LocalServer::new(LocalApi::new(service))
            .max_decoding_message_size(max)
            .max_encoding_message_size(usize::MAX);
        // The standard health service and server reflection beside the API,
        // so `grpcurl -plaintext -unix kpd.sock list` and health probes work.
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<LocalServer<LocalApi>>().await;
        let reflection =
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(kp_proto::FILE_DESCRIPTOR_SET)
                .with_service_name(<LocalServer<LocalApi> as tonic::server::NamedService>::NAME)
                .with_service_name(
                    <tonic_health::pb::health_server::HealthServer<
                        tonic_health::server::HealthService,
                    > as tonic::server::NamedService>::NAME,
                )
                .build_v1()
                .map_err(|e| NodeError::Serve(format!("server reflection: {e}")))?;
        tracing::info!(node = %self.key.id(), socket = %socket.display(), web = %web_url, "ready");
        let result = tonic::transport::Server::builder()
            .add_service(api)
            .add_service(health_service)
            .add_service(reflection)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                shutdown.await;
                health.set_not_serving::<LocalServer<LocalApi>>().await;
                let _ = stop_tx.send(true);
            })
            .await;
        if let Some(task) = portal_task {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
        self.repo.shutdown();
        let _ = fs::remove_file(&socket);
        tracing::info!("stopped; everything acknowledged is on disk");
        result.map_err(|e| NodeError::Serve(e.to_string()))
    }
}

/// Where the web listener serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebAddr {
    /// The bound address.
    pub(crate) addr: std::net::SocketAddr,
    /// Over HTTPS.
    pub(crate) tls: bool,
}

impl WebAddr {
    /// The listener's base URL.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", self.addr.port())
        } else {
            self.addr.to_string()
        };
        format!("{scheme}://{host}")
    }
}

impl Node {
    /// Binds the web listener (`[web] listen`): the listener, its address
    /// and its TLS, or why there is none (the node runs on without it).
    async fn bind_web(&self) -> Result<Result<BoundWeb, String>, NodeError> {
        let w = &self.cfg.web;
        let listen = w.listen.trim();
        if listen.is_empty() {
            return Ok(Err("off: `listen` under [web] in kpd.toml is empty".into()));
        }
        let tls = if w.tls_cert.is_empty() {
            None
        } else {
            Some(
                crate::transport::web_acceptor(&w.tls_cert, &w.tls_key)
                    .map_err(|e| NodeError::Web(e.to_string()))?,
            )
        };
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            NodeError::Web(format!(
                "cannot listen on {listen}: {e}; set `listen` under [web] in kpd.toml to a free \
                 address (\"127.0.0.1:0\" picks a free port) or to \"\" for no web listener"
            ))
        });
        // The node's main work (its documents, its partners) goes on without
        // the web listener; `kp status` says why it is off.
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return Ok(Err(e.to_string()));
            }
        };
        let addr = listener
            .local_addr()
            .map_err(|e| NodeError::Web(e.to_string()))?;
        let at = WebAddr {
            addr,
            tls: tls.is_some(),
        };
        Ok(Ok((listener, at, tls)))
    }

    /// Binds the portal's listener when `[portal] listen` names one: the
    /// listener and its URL; why it could not, without stopping the node.
    async fn bind_portal(&self) -> Result<Option<(tokio::net::TcpListener, String)>, String> {
        bind_optional(&self.cfg.portal.listen, "portal").await
    }

    /// Serves the bound web listener until `stop`.
    fn serve_web(
        &self,
        (listener, at, tls): BoundWeb,
        accounts: Arc<Accounts>,
        service: Arc<Service>,
        presence: Arc<crate::web::Presence>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> crate::metrics::WebClients {
        let w = &self.cfg.web;
        let slots = Arc::new(tokio::sync::Semaphore::new(w.max_clients));
        let clients = crate::metrics::WebClients {
            slots: Arc::clone(&slots),
            max: w.max_clients,
        };
        let web = Arc::new(crate::web::Web {
            repo: self.repo.clone(),
            accounts,
            service,
            peer_id: format!("kpd-{}", self.key.id()),
            cookie: format!("kp_session_{}", self.key.id().short()),
            hosts: crate::web::hosts(at.addr, &w.hosts),
            tls: at.tls,
            max_message: w.max_message_mib << 20,
            max_per_sec: self.cfg.peers.max_frames_per_sec,
            idle: std::time::Duration::from_secs(self.cfg.peers.idle_timeout_secs),
            slots,
            key: self.key.clone(),
            presence,
            stop: stop.clone(),
        });
        tokio::spawn(crate::web::serve(listener, web, tls, stop));
        clients
    }

    /// Binds the metrics listener when `[metrics] listen` names one.
    async fn bind_metrics(&self) -> Result<Option<(tokio::net::TcpListener, String)>, String> {
        bind_optional(&self.cfg.metrics.listen, "metrics").await
    }
}

/// Binds `listen` for `what` (empty: off); its URL, or why it cannot listen.
async fn bind_optional(
    listen: &str,
    what: &str,
) -> Result<Option<(tokio::net::TcpListener, String)>, String> {
    let listen = listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            tracing::info!("the {what} listener serves http://{addr}");
            Ok(Some((l, format!("http://{addr}"))))
        }
        Err(e) => {
            let why = format!("the {what} listener cannot listen on {listen}: {e}");
            tracing::error!("{why}");
            Err(why)
        }
    }
}

/// A bound web listener, its address, and its TLS if any.
type BoundWeb = (
    tokio::net::TcpListener,
    WebAddr,
    Option<tokio_rustls::TlsAcceptor>,
);
