//! The node's operations, as the local API offers them: names resolved to ids,
//! inputs checked against limits, authors and institutions filled in, and the
//! model applied through the repository. Everything here is synchronous; the gRPC
//! layer runs it on blocking threads.

pub(crate) mod audience;
pub(crate) mod backup;
pub(crate) mod events;
pub(crate) mod verify;
pub(crate) mod workflow;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use kp_proto::local as pb;

use std::sync::Arc;

use crate::accounts::{AccountError, Accounts};
use crate::config::Config;
use crate::node::WebAddr;
use crate::peers::{PeerError, PeerInfo, Peers, Source};
use crate::plugins::{PluginError, Plugins};
use kp_core::identity::NodeId;
use kp_core::ids::{DocId, parse_actor};
use kp_model::dataset::{self, Cell};
use kp_model::draft::{self, Actor};
use kp_model::space::{self, Member};
use kp_model::{DocKind, HunkTag, ModelError};
use kp_repo::{ChangeNote, DocMeta, Repo, RepoError, heads_hex, now_secs};

/// Bodies of at most this many drafts are kept (`Service::bodies`)…
const MAX_BODIES: usize = 32;
/// …and at most this many bytes of them.
const MAX_BODY_BYTES: usize = 64 << 20;

/// The node's operations.
#[derive(Debug)]
pub(crate) struct Service {
    repo: Repo,
    peers: Peers,
    cfg: Config,
    node: NodeId,
    data_dir: String,
    started: Instant,
    plugins: Plugins,
    accounts: Arc<Accounts>,
    /// The web listener, or why there is none.
    web: std::result::Result<WebAddr, String>,
    /// The portal's URL (empty: off), or why it is not serving.
    portal: std::result::Result<String, String>,
    /// What is counted as it happens.
    metrics: crate::metrics::Metrics,
    /// The metrics' URL (empty: off), or why they are not served.
    metrics_url: std::result::Result<String, String>,
    /// Drafts' bodies as last shown or written, by the heads they are the
    /// body at: `kp draft edit` compares the text it is sent with the body as
    /// it reads now, and reading a long body out of automerge costs about
    /// 30 ns a character (120 ms for 4 MB, most of a one-word edit).
    bodies: kp_repo::memo::ByHeads<str>,
}

/// The node's state as the metrics read it.
#[derive(Debug)]
pub(crate) struct MetricsState {
    /// Documents by kind.
    pub(crate) documents: BTreeMap<String, u64>,
    pub(crate) store_bytes: u64,
    pub(crate) rounds: kp_repo::Rounds,
    pub(crate) peers: Vec<PeerInfo>,
    /// Connections and sessions refused, by reason.
    pub(crate) refusals: Vec<(&'static str, u64)>,
    pub(crate) web_sessions: u64,
    /// Unix seconds.
    pub(crate) now: i64,
}

/// What a request to the node can fail with: the error of the local API,
/// mapped to a gRPC status in one place ([`crate::api::status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// The request was refused by the document model; nothing changed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The repository failed, or refused (no such document, one that exists).
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A plugin could not be installed or run.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A partner could not be added or removed.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// An account could not be made, found or changed.
    #[error(transparent)]
    Account(#[from] AccountError),
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn not_found(msg: String) -> ApiError {
    ApiError::Model(ModelError::NotFound(msg))
}

pub(crate) fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::Model(ModelError::invalid(msg))
}

impl Service {
    /// A service over `repo`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        metrics: crate::metrics::Metrics,
        metrics_url: std::result::Result<String, String>,
        repo: Repo,
        peers: Peers,
        cfg: Config,
        data_dir: String,
        accounts: Arc<Accounts>,
        web: std::result::Result<WebAddr, String>,
        portal: std::result::Result<String, String>,
    ) -> Self {
        let plugins = Plugins::new(
            repo.clone(),
            std::path::PathBuf::from(&data_dir),
            cfg.plugins.clone(),
        );
        Self {
            plugins,
            node: repo.node(),
            repo,
            peers,
            cfg,
            data_dir,
            started: Instant::now(),
            accounts,
            web,
            portal,
            metrics,
            metrics_url,
            bodies: kp_repo::memo::ByHeads::new(MAX_BODIES, MAX_BODY_BYTES),
        }
    }

    /// What the metrics read at each scrape.
    pub(crate) fn metrics_state(&self) -> MetricsState {
        let mut documents: BTreeMap<String, u64> = [
            DocKind::Space,
            DocKind::Draft,
            DocKind::Dataset,
            DocKind::Analysis,
            DocKind::Review,
            DocKind::Event,
        ]
        .iter()
        .map(|k| (k.as_str().to_owned(), 0))
        .collect();
        self.repo.visit(|_, m| {
            *documents.entry(m.kind.as_str().to_owned()).or_default() += 1;
        });
        MetricsState {
            documents,
            store_bytes: self.repo.stored_bytes(),
            rounds: self.repo.rounds(),
            peers: self.peers.list(),
            refusals: self.peers.refusals(),
            web_sessions: self.accounts.list().iter().map(|a| a.sessions as u64).sum(),
            now: now_secs(),
        }
    }

    /// Whether the node reads its store (the web listener's `/health`).
    pub(crate) fn health(&self) -> std::result::Result<(), String> {
        self.repo
            .get_meta(b"health")
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The `[portal]` settings.
    pub(crate) fn portal_config(&self) -> &crate::config::PortalSection {
        &self.cfg.portal
    }

    /// The institution running this node (`[node] name`).
    pub(crate) fn node_name(&self) -> &str {
        &self.cfg.node.name
    }

    fn author<'a>(&'a self, requested: &'a str) -> Result<&'a str> {
        let a = requested.trim();
        let a = if a.is_empty() {
            self.cfg.node.author.trim()
        } else {
            a
        };
        if a.chars().any(char::is_control) || a.chars().count() > 120 {
            return Err(invalid(
                "an author name is one line of at most 120 characters",
            ));
        }
        Ok(a)
    }

    fn actor<'a>(&'a self, author: &'a str, node_id: &'a str) -> Actor<'a> {
        Actor {
            author,
            institution: &self.cfg.node.name,
            node_id,
        }
    }

    /// Resolves a space given by name or id.
    pub(crate) fn space_id(&self, space: &str) -> Result<DocId> {
        let space = space.trim();
        if space.is_empty() {
            return Err(invalid("name a space (`kp space list` shows them)"));
        }
        let mut spaces: Vec<(DocId, Arc<DocMeta>)> = Vec::new();
        self.repo.visit(|id, m| {
            if m.kind == DocKind::Space {
                spaces.push((*id, Arc::clone(m)));
            }
        });
        if let Ok(id) = space.parse::<DocId>()
            && spaces.iter().any(|(i, _)| *i == id)
        {
            return Ok(id);
        }
        let exact: Vec<&DocId> = spaces
            .iter()
            .filter(|(_, m)| m.title == space)
            .map(|(i, _)| i)
            .collect();
        match exact.as_slice() {
            [one] => Ok(**one),
            [] => Err(not_found(format!(
                "no space named `{space}` on this node (`kp space list` shows them)"
            ))),
            many => Err(invalid(format!(
                "{} spaces are named `{space}` here (made on two nodes while apart, say): give \
                 the id of the one you mean: {}",
                many.len(),
                many.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn doc_id(&self, id: &str, kind: DocKind) -> Result<DocId> {
        let parsed: DocId = id
            .trim()
            .parse()
            .map_err(|e: kp_core::ids::ParseDocIdError| invalid(e.to_string()))?;
        match self.repo.meta(&parsed) {
            Some(m) if m.kind == kind => Ok(parsed),
            Some(m) => Err(ApiError::Model(ModelError::WrongKind(format!(
                "{parsed} is {}, not {}",
                m.kind.with_article(),
                kind.with_article()
            )))),
            None => Err(not_found(format!(
                "no {} {parsed} on this node",
                kind.as_str()
            ))),
        }
    }

    pub(crate) fn check_text_size(&self, what: &str, text: &str) -> Result<()> {
        let max = self.cfg.limits.max_text_kib * 1024;
        if text.len() > max {
            return Err(ApiError::Model(ModelError::TooLarge(format!(
                "{what} is {} KiB; the limit is {} KiB (limits.max_text_kib in kpd.toml)",
                text.len() / 1024,
                self.cfg.limits.max_text_kib
            ))));
        }
        Ok(())
    }

    /// `kp status`.
    pub(crate) fn status(&self) -> pb::StatusReply {
        let (mut spaces, mut drafts, mut datasets) = (0, 0, 0);
        self.repo.visit(|_, m| match m.kind {
            DocKind::Space => spaces += 1,
            DocKind::Draft => drafts += 1,
            DocKind::Dataset => datasets += 1,
            _ => {}
        });
        pb::StatusReply {
            node_id: self.node.to_string(),
            node_name: self.cfg.node.name.clone(),
            data_dir: self.data_dir.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            default_author: self.cfg.node.author.clone(),
            incarnation: self.repo.incarnation(),
            uptime_secs: self.started.elapsed().as_secs(),
            spaces,
            drafts,
            datasets,
            cached_documents: self.repo.cached() as u64,
            store_bytes: self.repo.stored_bytes(),
            peer_address: self.peers.listen_address(),
            web_url: self.web.as_ref().map(|w| w.url()).unwrap_or_default(),
            web_error: self.web.as_ref().err().cloned().unwrap_or_default(),
            metrics_url: self.metrics_url.clone().unwrap_or_default(),
            metrics_error: self.metrics_url.as_ref().err().cloned().unwrap_or_default(),
            portal_url: self.portal.clone().unwrap_or_default(),
            portal_error: self.portal.as_ref().err().cloned().unwrap_or_default(),
            limits: Some(pb::NodeLimits {
                max_text_kib: self.cfg.limits.max_text_kib as u64,
                max_csv_kib: self.cfg.limits.max_csv_kib as u64,
                max_request_kib: self.cfg.limits.max_request_kib as u64,
                max_wasm_kib: self.cfg.plugins.max_wasm_kib as u64,
            }),
        }
    }

    fn user_login(&self, name: String, token: String) -> pb::UserLogin {
        pb::UserLogin {
            link: self
                .web
                .as_ref()
                .map(|w| format!("{}/login?token={token}", w.url()))
                .unwrap_or_default(),
            name,
            token,
            expires: now_secs() + crate::accounts::LOGIN_DAYS * 86_400,
        }
    }

    /// `kp user add`.
    pub(crate) fn add_user(&self, req: pb::AddUserRequest) -> Result<pb::UserLogin> {
        let token = self.accounts.add(&req.name)?;
        tracing::info!(person = %req.name, "account added");
        Ok(self.user_login(req.name, token))
    }

    /// `kp user login`.
    pub(crate) fn new_login(&self, req: pb::NewLoginRequest) -> Result<pb::UserLogin> {
        let token = self.accounts.new_login(&req.name)?;
        Ok(self.user_login(req.name, token))
    }

    /// `kp user list`.
    pub(crate) fn list_users(&self) -> pb::UserList {
        pb::UserList {
            users: self
                .accounts
                .list()
                .into_iter()
                .map(|a| pb::User {
                    name: a.name,
                    created: a.created,
                    sessions: a.sessions as u64,
                    login_expires: a.login_expires.unwrap_or(0),
                    last_seen: a.last_seen.unwrap_or(0),
                })
                .collect(),
        }
    }

    /// `kp user remove`: the account's sessions end at once.
    pub(crate) fn remove_user(&self, req: pb::RemoveUserRequest) -> Result<pb::RemoveUserReply> {
        let ended = self.accounts.remove(&req.name)?;
        tracing::info!(person = %req.name, sessions = ended, "account removed");
        Ok(pb::RemoveUserReply {
            sessions_ended: ended as u64,
        })
    }

    /// `kp peer add`.
    pub(crate) fn add_peer(&self, req: pb::AddPeerRequest) -> Result<pb::Peer> {
        let p = self.peers.add(&req.node_id, &req.address)?;
        Ok(peer_reply(p))
    }

    /// `kp peer list`.
    pub(crate) fn list_peers(&self) -> pb::PeerList {
        pb::PeerList {
            peers: self.peers.list().into_iter().map(peer_reply).collect(),
        }
    }

    /// `kp peer remove`.
    pub(crate) fn remove_peer(&self, req: pb::RemovePeerRequest) -> Result<pb::RemovePeerReply> {
        self.peers.remove(&req.node_id)?;
        Ok(pb::RemovePeerReply {})
    }

    fn space_reply(&self, id: DocId, s: space::Space) -> pb::Space {
        let key = id.to_string();
        // Its drafts and datasets, counted in one walk of the index.
        let (mut drafts, mut datasets) = (0, 0);
        self.repo.visit(|_, m| {
            if m.space.as_deref() == Some(key.as_str()) {
                match m.kind {
                    DocKind::Draft => drafts += 1,
                    DocKind::Dataset => datasets += 1,
                    _ => {}
                }
            }
        });
        pb::Space {
            id: key.clone(),
            theme_name: space::theme_name(s.theme).unwrap_or("").into(),
            name: s.name,
            theme: s.theme,
            description: s.description,
            members: s
                .members
                .into_iter()
                .map(|m| pb::Member {
                    node_id: m.node_id,
                    role: m.role,
                    institution: m.institution,
                    region: m.region,
                    income_group: m.income_group,
                })
                .collect(),
            people: s
                .people
                .into_iter()
                .map(|p| pb::Person {
                    name: p.name,
                    node_id: p.node_id,
                    role: p.role,
                    title: p.title,
                })
                .collect(),
            created_at: s.created_at,
            drafts,
            datasets,
            former: s
                .former
                .into_iter()
                .map(|f| pb::FormerMember {
                    node_id: f.node_id,
                    role: f.role,
                    removed_at: f.removed_at,
                    removed_by: f.removed_by,
                    documents: f.heads.len() as u64,
                })
                .collect(),
        }
    }

    /// `kp space create`.
    pub(crate) fn create_space(&self, req: pb::CreateSpaceRequest) -> Result<pb::Space> {
        let name = req.name.trim();
        if self
            .repo
            .list()
            .iter()
            .any(|(_, m)| m.kind == DocKind::Space && m.title == name)
        {
            return Err(ApiError::Model(ModelError::Exists(format!(
                "a space named `{name}` exists already"
            ))));
        }
        let author = self.author(&req.author)?;
        let admin = Member {
            node_id: self.node.to_string(),
            role: space::Role::Admin.as_str().into(),
            institution: self.cfg.node.name.clone(),
            region: self.cfg.node.region.clone(),
            income_group: self.cfg.node.income_group.clone(),
        };
        let note = ChangeNote::new(author, "create space");
        let now = now_secs();
        let (id, ()) = self.repo.create(&note, |doc| {
            space::init(doc, name, req.theme, &req.description, &admin, now)
        })?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    /// `kp space list`.
    pub(crate) fn list_spaces(&self) -> Result<pb::SpaceList> {
        let mut spaces = Vec::new();
        for (id, meta) in self.repo.list() {
            if meta.kind == DocKind::Space {
                let s = self.repo.read(&id, |doc| space::read(doc))??;
                spaces.push(self.space_reply(id, s));
            }
        }
        spaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pb::SpaceList { spaces })
    }

    /// `kp space show`.
    pub(crate) fn get_space(&self, req: pb::GetSpaceRequest) -> Result<pb::Space> {
        let id = self.space_id(&req.space)?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    /// Names of the spaces this node holds, by id.
    pub(crate) fn space_names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        self.repo.visit(|id, m| {
            if m.kind == DocKind::Space {
                names.insert(id.to_string(), m.title.clone());
            }
        });
        names
    }

    /// `kp space add-member`.
    pub(crate) fn add_member(&self, req: pb::AddMemberRequest) -> Result<pb::Space> {
        let id = self.space_id(&req.space)?;
        let node: kp_core::identity::NodeId = req
            .node_id
            .trim()
            .parse()
            .map_err(|e: kp_core::identity::ParseNodeIdError| invalid(e.to_string()))?;
        let author = self.author(&req.author)?;
        let member = Member {
            node_id: node.to_string(),
            role: req.role.trim().to_owned(),
            institution: req.institution.trim().to_owned(),
            region: req.region.trim().to_owned(),
            income_group: req.income_group.trim().to_owned(),
        };
        let note = ChangeNote::new(
            author,
            format!("add member {} as {}", node.short(), member.role),
        );
        let me = self.node.to_string();
        let now = now_secs();
        self.repo
            .change_durably(&id, &note, |doc| space::add_member(doc, &me, &member, now))?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    fn person_node(&self, node_id: &str) -> Result<kp_core::identity::NodeId> {
        if node_id.trim().is_empty() {
            return Ok(self.node);
        }
        node_id
            .trim()
            .parse()
            .map_err(|e: kp_core::identity::ParseNodeIdError| invalid(e.to_string()))
    }

    /// `kp space add-person`.
    pub(crate) fn add_person(&self, req: pb::AddPersonRequest) -> Result<pb::Space> {
        let id = self.space_id(&req.space)?;
        let node = self.person_node(&req.node_id)?;
        let author = self.author(&req.author)?;
        let person = space::Person {
            name: req.name.trim().to_owned(),
            node_id: node.to_string(),
            role: req.role.trim().to_owned(),
            title: req.title.trim().to_owned(),
        };
        let note = ChangeNote::new(
            author,
            format!(
                "add person {} at {} as {}",
                person.name,
                node.short(),
                person.role
            ),
        );
        let me = self.node.to_string();
        self.repo
            .change_durably(&id, &note, |doc| space::add_person(doc, &me, &person))?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    /// `kp space remove-person`.
    pub(crate) fn remove_person(&self, req: pb::RemovePersonRequest) -> Result<pb::Space> {
        let id = self.space_id(&req.space)?;
        let node = self.person_node(&req.node_id)?.to_string();
        let author = self.author(&req.author)?;
        let name = req.name.trim().to_owned();
        let note = ChangeNote::new(author, format!("remove person {name}"));
        let me = self.node.to_string();
        self.repo.change_durably(&id, &note, |doc| {
            space::remove_person(doc, &me, &name, &node)
        })?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    /// The documents of `space` (itself included) that node `node_id` wrote
    /// in, with the heads this node holds of each, in hex: what a removal
    /// keeps as the node's work while a member.
    fn written_by(&self, space: &DocId, node_id: &str) -> BTreeMap<String, Vec<String>> {
        let Ok(node) = node_id.parse::<kp_core::identity::NodeId>() else {
            return BTreeMap::new();
        };
        let key = space.to_string();
        self.repo
            .list()
            .into_iter()
            .filter(|(id, m)| id == space || m.space.as_deref() == Some(key.as_str()))
            .filter_map(|(id, _)| {
                self.repo
                    .read(&id, |doc| {
                        let wrote = doc.get_changes_meta(&[]).iter().any(|c| {
                            kp_core::ids::parse_actor(&c.actor).is_some_and(|(n, _)| n == node)
                        });
                        wrote.then(|| heads_hex(&doc.get_heads()))
                    })
                    .ok()
                    .flatten()
                    .map(|h| (id.to_string(), h))
            })
            .collect()
    }

    /// `kp space remove-member`.
    pub(crate) fn remove_member(&self, req: pb::RemoveMemberRequest) -> Result<pb::Space> {
        let id = self.space_id(&req.space)?;
        let author = self.author(&req.author)?;
        let node_id = req.node_id.trim().to_owned();
        let note = ChangeNote::new(
            author,
            format!(
                "remove member {}",
                node_id.chars().take(10).collect::<String>()
            ),
        );
        let me = self.node.to_string();
        let held = self.written_by(&id, &node_id);
        let now = now_secs();
        self.repo.change_durably(&id, &note, |doc| {
            space::remove_member(doc, &me, &node_id, &held, now)
        })?;
        let s = self.repo.read(&id, |doc| space::read(doc))??;
        Ok(self.space_reply(id, s))
    }

    fn summary(id: DocId, meta: &DocMeta, spaces: &HashMap<String, String>) -> pb::DraftSummary {
        let space_id = meta.space.clone().unwrap_or_default();
        pb::DraftSummary {
            id: id.to_string(),
            space_name: spaces.get(&space_id).cloned().unwrap_or_default(),
            space_id,
            title: meta.title.clone(),
            draft_type: meta.subtype.to_string(),
            status: meta.status.to_string(),
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            heads: kp_repo::heads_hex(&meta.heads),
        }
    }

    /// `kp draft new`.
    pub(crate) fn new_draft(&self, req: pb::NewDraftRequest) -> Result<pb::DraftSummary> {
        let space = self.space_id(&req.space)?;
        self.may_write(&space, DocKind::Draft, false)?;
        self.check_text_size("the text", &req.body)?;
        let author = self.author(&req.author)?;
        let node_id = self.node.to_string();
        let by = self.actor(author, &node_id);
        let note = ChangeNote::new(author, "create draft");
        let now = now_secs();
        let draft_type = draft::parse_type(&req.draft_type)?;
        let (id, ()) = self.repo.create(&note, |doc| {
            draft::init(doc, &space, &req.title, draft_type, &req.body, &by, now)
        })?;
        let meta = self
            .repo
            .meta(&id)
            .ok_or_else(|| not_found(format!("no draft {id}")))?;
        Ok(Self::summary(id, &meta, &self.space_names()))
    }

    /// The drafts that match `req`, newest first, in one list.
    pub(crate) fn list_drafts(&self, req: pb::ListDraftsRequest) -> Result<pb::DraftList> {
        let mut list = pb::DraftList::default();
        self.draft_pages(req, usize::MAX, |page| {
            list.total = page.total;
            list.drafts.extend(page.drafts);
            true
        })?;
        Ok(list)
    }

    /// `kp draft list`, from the index alone: the drafts that match `req`,
    /// newest first, sent in pages of at most `page` (at least one page, which
    /// carries the total even when no draft is shown). Stops when `send`
    /// returns false (the reader went away).
    pub(crate) fn draft_pages(
        &self,
        req: pb::ListDraftsRequest,
        page: usize,
        mut send: impl FnMut(pb::DraftList) -> bool,
    ) -> Result<()> {
        let space = if req.space.is_empty() {
            None
        } else {
            Some(self.space_id(&req.space)?.to_string())
        };
        if !req.status.is_empty() {
            req.status.parse::<kp_model::Status>()?;
        }
        let spaces = self.space_names();
        // The entries are shared with the index, not copied; only what is
        // asked for is ordered in full, and summaries are made a page at a
        // time (a node of 100,000 drafts never holds them all as replies).
        let mut found: Vec<(DocId, Arc<DocMeta>)> = Vec::new();
        self.repo.visit(|id, m| {
            if m.kind == DocKind::Draft
                && (space.is_none() || m.space == space)
                && (req.status.is_empty() || m.status == req.status)
            {
                found.push((*id, Arc::clone(m)));
            }
        });
        let total = found.len();
        let offset = (req.offset as usize).min(total);
        let end = match req.limit {
            0 => total,
            n => offset.saturating_add(n as usize).min(total),
        };
        keep_newest(&mut found, end);
        let shown = &found[offset..];
        let mut pages = shown.chunks(page.max(1)).peekable();
        if pages.peek().is_none() {
            send(pb::DraftList {
                drafts: Vec::new(),
                total: total as u64,
            });
            return Ok(());
        }
        for chunk in pages {
            let drafts = chunk
                .iter()
                .map(|(id, m)| Self::summary(*id, m, &spaces))
                .collect();
            if !send(pb::DraftList {
                drafts,
                total: total as u64,
            }) {
                break;
            }
        }
        Ok(())
    }

    /// For each status word in order: how many drafts have it, and the
    /// `per_status` most recent of them as `kp draft list --status` lists
    /// them first, from one walk of the index (the workspace's home).
    pub(crate) fn recent_drafts_by_status(
        &self,
        per_status: usize,
    ) -> Vec<(&'static str, usize, Vec<pb::DraftSummary>)> {
        let words = kp_model::Status::WORDS;
        let mut found: Vec<Vec<(DocId, Arc<DocMeta>)>> = vec![Vec::new(); words.len()];
        self.repo.visit(|id, m| {
            if m.kind == DocKind::Draft
                && let Some(i) = words.iter().position(|w| *w == m.status)
            {
                found[i].push((*id, Arc::clone(m)));
            }
        });
        let spaces = self.space_names();
        words
            .iter()
            .zip(found)
            .map(|(word, mut found)| {
                let total = found.len();
                keep_newest(&mut found, per_status.min(total));
                let drafts = found
                    .iter()
                    .map(|(id, m)| Self::summary(*id, m, &spaces))
                    .collect();
                (*word, total, drafts)
            })
            .collect()
    }

    /// `kp draft show`.
    pub(crate) fn get_draft(&self, req: pb::GetDraftRequest) -> Result<pb::Draft> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        let current = req.version.is_empty() || req.version == "current";
        let (d, heads, open) =
            self.repo
                .read(&id, |doc| -> std::result::Result<_, ModelError> {
                    let heads = draft::base_heads(doc, &req.version)?;
                    let d = draft::read(doc, if current { None } else { Some(&heads) })?;
                    let open = draft::comments(doc)?.iter().filter(|c| !c.resolved).count();
                    Ok((d, heads, open))
                })??;
        if current {
            // The body at these heads: an edit made from it need not read it.
            self.bodies
                .keep(id, heads.clone(), Arc::from(d.body.as_str()), d.body.len());
        }
        let meta = self
            .repo
            .meta(&id)
            .ok_or_else(|| not_found(format!("no draft {id}")))?;
        Ok(pb::Draft {
            summary: Some(Self::summary(id, &meta, &self.space_names())),
            authors: d
                .authors
                .into_iter()
                .map(|a| pb::Author {
                    name: a.name,
                    institution: a.institution,
                })
                .collect(),
            body: d.body,
            versions: d.versions.into_iter().map(version_reply).collect(),
            heads: heads_hex(&heads),
            open_comments: open as u64,
        })
    }

    /// `kp draft edit`.
    pub(crate) fn edit_draft(&self, req: pb::EditDraftRequest) -> Result<pb::EditReply> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        self.may_write_doc(&id, DocKind::Draft, false)?;
        self.check_text_size("the text", &req.text)?;
        let base = match (req.base_heads.is_empty(), req.base_version.trim()) {
            (true, "") => Vec::new(),
            (false, "") => draft::parse_heads(&req.base_heads)?,
            (true, named) => self.repo.read(&id, |doc| draft::base_heads(doc, named))??,
            (false, _) => {
                return Err(invalid(
                    "give the version the text was made from once: as heads or by name",
                ));
            }
        };
        let author = self.author(&req.author)?;
        let node_id = self.node.to_string();
        let by = self.actor(author, &node_id);
        let note = ChangeNote::new(author, "edit body");
        let base = (!base.is_empty()).then_some(base);
        // One read of the body as it is now decides: text made from a version
        // and sent again (a file sent twice, say, or whose last line was not
        // updated) changes nothing, as the draft already reads it or a change
        // already made it from that version (read as a change, so what it
        // finds is durable first); made from the current heads, the edit is
        // made there and then; otherwise on the draft isolated at the base.
        if let Some(base) = &base {
            let known = self.bodies.last(&id);
            let known = known.as_ref().map(|(h, t)| (h.as_slice(), &**t));
            let (edit, now) = self.repo.change_at(&id, None, &note, |doc| {
                draft::edit_from(doc, base, &req.text, known, &by)
            })?;
            if matches!(edit, draft::BodyEdit::Made(_))
                || matches!(&edit, draft::BodyEdit::Already(v) if *v == now)
            {
                self.bodies.keep(
                    id,
                    now.clone(),
                    Arc::from(req.text.as_str()),
                    req.text.len(),
                );
            }
            let done = match edit {
                draft::BodyEdit::Already(version) => Some((version, draft::EditStats::default())),
                draft::BodyEdit::Made(stats) => Some((now.clone(), stats)),
                draft::BodyEdit::AtBase => None,
            };
            if let Some((version, stats)) = done {
                return Ok(pb::EditReply {
                    heads: heads_hex(&now),
                    version: heads_hex(&version),
                    changed: stats.inserted + stats.deleted > 0,
                    inserted: stats.inserted as u64,
                    deleted: stats.deleted as u64,
                });
            }
        }
        let (stats, version) = self.repo.change_at(&id, base.as_deref(), &note, |doc| {
            draft::set_body(doc, &req.text, &by)
        })?;
        let heads = self.repo.read(&id, |doc| heads_hex(&doc.get_heads()))?;
        Ok(pb::EditReply {
            heads,
            version: heads_hex(&version),
            changed: stats.inserted + stats.deleted > 0,
            inserted: stats.inserted as u64,
            deleted: stats.deleted as u64,
        })
    }

    /// `kp draft log`.
    pub(crate) fn draft_log(&self, req: pb::DraftLogRequest) -> Result<pb::ChangeLog> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        self.change_log(&id, req.limit, req.verify)
    }

    /// `kp doc blame`: [`Service::draft_log`] with signatures, for any document.
    pub(crate) fn blame(&self, req: pb::BlameRequest) -> Result<pb::ChangeLog> {
        let id: DocId = req
            .id
            .trim()
            .parse()
            .map_err(|e: kp_core::ids::ParseDocIdError| invalid(e.to_string()))?;
        if self.repo.meta(&id).is_none() {
            return Err(not_found(format!("no document {id} on this node")));
        }
        self.change_log(&id, req.limit, true)
    }

    fn change_log(&self, id: &DocId, limit: u64, verify: bool) -> Result<pb::ChangeLog> {
        let mut changes: Vec<pb::ChangeEntry> = self
            .repo
            .changes(id, verify)?
            .into_iter()
            .map(|c| {
                let (node_id, incarnation) = match (parse_actor(&c.actor), c.node) {
                    (Some((n, i)), _) => (n.to_string(), i),
                    // A client's actor, vouched for by its node.
                    (None, Some(n)) => (n.to_string(), 0),
                    (None, None) => (c.actor.to_hex_string(), 0),
                };
                let signature = match (verify, c.verified) {
                    (false, _) => "",
                    (true, true) => "verified",
                    (true, false) => "unverified",
                };
                pb::ChangeEntry {
                    hash: c.hash.to_string(),
                    time: c.time,
                    node_id,
                    incarnation,
                    seq: c.seq,
                    author: c.note.author,
                    message: c.note.what,
                    ops: c.ops,
                    institution: String::new(),
                    signature: signature.into(),
                }
            })
            .collect();
        // Institutions as the document's space lists its members.
        let space = match self.repo.meta(id) {
            Some(m) if m.kind == DocKind::Space => Some(*id),
            Some(m) => m.space.as_deref().and_then(|s| s.parse::<DocId>().ok()),
            None => None,
        };
        if let Some(space) = space
            && let Ok(Ok(s)) = self.repo.read(&space, |d| space::read(d))
        {
            for c in &mut changes {
                if let Some(m) = s.members.iter().find(|m| m.node_id == c.node_id) {
                    c.institution = m.institution.clone();
                }
            }
        }
        let total = changes.len() as u64;
        // Newest first: reverse causal order, then a stable sort by time.
        changes.reverse();
        changes.sort_by_key(|c| std::cmp::Reverse(c.time));
        if limit > 0 {
            changes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(pb::ChangeLog { changes, total })
    }

    /// `kp draft diff`.
    pub(crate) fn diff_draft(&self, req: pb::DiffDraftRequest) -> Result<pb::DiffReply> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        let (old, new) = self
            .repo
            .read(&id, |doc| -> std::result::Result<_, ModelError> {
                let from = draft::version_heads(doc, &req.from)?;
                let to = draft::version_heads(doc, &req.to)?;
                Ok((
                    draft::read(doc, Some(&from))?.body,
                    draft::read(doc, Some(&to))?.body,
                ))
            })??;
        let hunks = draft::word_diff(&old, &new);
        let words = |tag: HunkTag| -> u64 {
            hunks
                .iter()
                .filter(|h| h.tag == tag)
                .map(|h| h.text.split_whitespace().count() as u64)
                .sum()
        };
        Ok(pb::DiffReply {
            words_inserted: words(HunkTag::Insert),
            words_deleted: words(HunkTag::Delete),
            hunks: hunks
                .into_iter()
                .map(|h| pb::DiffHunk {
                    tag: h.tag.as_str().into(),
                    text: h.text,
                })
                .collect(),
        })
    }

    /// `kp draft version`.
    pub(crate) fn tag_version(&self, req: pb::TagVersionRequest) -> Result<pb::Version> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        self.may_write_doc(&id, DocKind::Draft, false)?;
        let author = self.author(&req.author)?;
        let node_id = self.node.to_string();
        let by = self.actor(author, &node_id);
        let note = ChangeNote::new(author, format!("name version {}", req.label.trim()));
        let now = now_secs();
        let v = self.repo.change_durably(&id, &note, |doc| {
            draft::tag_version(doc, &req.label, &by, now)
        })?;
        Ok(version_reply(v))
    }

    fn comment_change(
        &self,
        id: &str,
        author: &str,
        what: &str,
        f: impl FnOnce(
            &mut automerge::AutoCommit,
            &Actor<'_>,
            i64,
        ) -> std::result::Result<draft::Comment, ModelError>,
    ) -> Result<pb::Comment> {
        let id = self.doc_id(id, DocKind::Draft)?;
        self.may_write_doc(&id, DocKind::Draft, true)?;
        let author = self.author(author)?;
        let node_id = self.node.to_string();
        let by = self.actor(author, &node_id);
        let note = ChangeNote::new(author, what);
        let now = now_secs();
        let c = self
            .repo
            .change_durably(&id, &note, |doc| f(doc, &by, now))?;
        Ok(comment_reply(c))
    }

    /// `kp comment add`.
    pub(crate) fn add_comment(&self, req: pb::AddCommentRequest) -> Result<pb::Comment> {
        self.comment_change(&req.id, &req.author, "comment", |doc, by, now| {
            draft::add_comment_near(
                doc,
                &kp_core::ids::comment_id(),
                &req.quote,
                req.near.and_then(|n| usize::try_from(n).ok()),
                &req.body,
                by,
                now,
            )
        })
    }

    /// `kp comment reply`.
    pub(crate) fn reply_comment(&self, req: pb::ReplyCommentRequest) -> Result<pb::Comment> {
        self.comment_change(&req.id, &req.author, "reply to comment", |doc, by, now| {
            draft::reply(doc, &req.comment, &req.body, by, now)
        })
    }

    /// `kp comment resolve`.
    pub(crate) fn resolve_comment(&self, req: pb::ResolveCommentRequest) -> Result<pb::Comment> {
        self.comment_change(&req.id, &req.author, "resolve comment", |doc, by, now| {
            draft::resolve(doc, &req.comment, by, now)
        })
    }

    /// `kp comment list`.
    pub(crate) fn list_comments(&self, req: pb::ListCommentsRequest) -> Result<pb::CommentList> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        let comments = self.repo.read(&id, |doc| draft::comments(doc))??;
        Ok(pb::CommentList {
            comments: comments.into_iter().map(comment_reply).collect(),
        })
    }

    /// `kp dataset import`.
    pub(crate) fn import_dataset(
        &self,
        req: pb::ImportDatasetRequest,
    ) -> Result<pb::DatasetSummary> {
        let space = self.space_id(&req.space)?;
        self.may_write(&space, DocKind::Dataset, false)?;
        let max = self.cfg.limits.max_csv_kib * 1024;
        if req.csv.len() > max {
            return Err(ApiError::Model(ModelError::TooLarge(format!(
                "the CSV file is {} KiB; the limit is {} KiB (limits.max_csv_kib in kpd.toml)",
                req.csv.len() / 1024,
                self.cfg.limits.max_csv_kib
            ))));
        }
        let file = if req.file_name.is_empty() {
            "input"
        } else {
            req.file_name.as_str()
        };
        let table = dataset::read_csv(&req.csv, file)?;
        let author = self.author(&req.author)?;
        let note = ChangeNote::new(author, "import dataset");
        let now = now_secs();
        let info = dataset::Info {
            title: &req.title,
            source: &req.source,
            licence: &req.licence,
        };
        let (id, ()) = self.repo.create(&note, |doc| {
            dataset::init_csv(doc, &space, info, &table, now)
        })?;
        // The parsed columns go into the reply as they are (a wide table's
        // names are most of it), as many as were asked for.
        let rows = table.rows();
        let mut columns = table.columns;
        let count = columns.len();
        if req.reply_columns > 0 {
            columns.truncate(req.reply_columns as usize);
        }
        let mut reply = dataset_summary(id, req.title.trim(), columns, rows, now, &space);
        reply.column_count = count as u64;
        Ok(reply)
    }

    /// `kp dataset show`.
    pub(crate) fn get_dataset(&self, req: pb::GetDatasetRequest) -> Result<pb::Dataset> {
        let id = self.doc_id(&req.id, DocKind::Dataset)?;
        let limit = (req.limit > 0).then(|| usize::try_from(req.limit).unwrap_or(usize::MAX));
        let d = self.repo.read(&id, |doc| dataset::read(doc, limit))??;
        let space: DocId = d.space.parse().unwrap_or(id);
        Ok(pb::Dataset {
            summary: Some(dataset_summary(
                id,
                &d.title,
                d.table.columns,
                d.total_rows,
                d.created_at,
                &space,
            )),
            source: d.source,
            licence: d.licence,
            rows: d
                .table
                .rows
                .into_iter()
                .map(|r| pb::Row {
                    cells: r.into_iter().map(cell_reply).collect(),
                })
                .collect(),
            open: d.open,
        })
    }

    /// `kp dataset open` / `kp dataset close`.
    pub(crate) fn set_dataset_open(&self, req: pb::SetDatasetOpenRequest) -> Result<pb::Dataset> {
        let id = self.doc_id(&req.id, DocKind::Dataset)?;
        self.may_write_doc(&id, DocKind::Dataset, false)?;
        let author = self.author(&req.author)?;
        let what = if req.open {
            "open dataset"
        } else {
            "close dataset"
        };
        let note = ChangeNote::new(author, what);
        self.repo.change_durably(&id, &note, |doc| {
            dataset::set_open(
                doc,
                req.open,
                Some(req.source.as_str()),
                Some(req.licence.as_str()),
            )
        })?;
        self.get_dataset(pb::GetDatasetRequest {
            id: id.to_string(),
            limit: 1,
        })
        .map(|mut d| {
            d.rows.clear();
            d
        })
    }
}

/// Analysis plugins and analyses.
impl Service {
    /// `kp plugin install`.
    pub(crate) fn install_plugin(&self, req: pb::InstallPluginRequest) -> Result<pb::PluginInfo> {
        let file = if req.file_name.is_empty() {
            "the component"
        } else {
            req.file_name.as_str()
        };
        let p = self.plugins.install(&req.wasm, file)?;
        Ok(plugin_reply(p))
    }

    /// `kp plugin list`.
    pub(crate) fn list_plugins(&self) -> Result<pb::PluginList> {
        Ok(pb::PluginList {
            plugins: self.plugins.list()?.into_iter().map(plugin_reply).collect(),
        })
    }

    /// `kp plugin show`.
    pub(crate) fn get_plugin(&self, req: pb::GetPluginRequest) -> Result<pb::PluginInfo> {
        Ok(plugin_reply(self.plugins.get(&req.name)?))
    }

    /// `kp plugin remove`.
    pub(crate) fn remove_plugin(
        &self,
        req: pb::RemovePluginRequest,
    ) -> Result<pb::RemovePluginReply> {
        self.plugins.remove(&req.name)?;
        Ok(pb::RemovePluginReply {})
    }

    /// The themes of a document's space.
    fn themes_of(&self, space: &str) -> Vec<u8> {
        space
            .parse::<DocId>()
            .ok()
            .and_then(|id| {
                self.repo
                    .read(&id, |doc| space::read(doc).ok())
                    .ok()
                    .flatten()
            })
            .and_then(|s| u8::try_from(s.theme).ok())
            .into_iter()
            .collect()
    }

    /// A document of any kind on this node, by id.
    fn any_doc(&self, raw: &str) -> Result<(DocId, Arc<kp_repo::DocMeta>)> {
        let id: DocId = raw
            .trim()
            .parse()
            .map_err(|e: kp_core::ids::ParseDocIdError| invalid(e.to_string()))?;
        let meta = self
            .repo
            .meta(&id)
            .ok_or_else(|| not_found(format!("no document {id} on this node")))?;
        Ok((id, meta))
    }

    /// `kp analyze`: runs a plugin on a draft or dataset (as it is now) and
    /// stores the report as an analysis document in the same space.
    pub(crate) fn analyze(&self, req: pb::AnalyzeRequest) -> Result<pb::Analysis> {
        let (id, meta) = self.any_doc(&req.doc_id)?;
        let space_id = meta.space.clone().unwrap_or_default();
        if let Ok(space) = space_id.parse() {
            self.may_write(&space, DocKind::Analysis, false)?;
        }
        let themes = self.themes_of(&space_id);
        let key = id.to_string();
        let reading = Instant::now();
        let view = match meta.kind {
            DocKind::Draft => {
                self.repo
                    .read(&id, |doc| -> std::result::Result<_, ModelError> {
                        let d = draft::read(doc, None)?;
                        let heads = heads_hex(&doc.get_heads());
                        Ok(kp_model::view::draft(key, heads, &d, themes))
                    })??
            }
            DocKind::Dataset => {
                self.repo
                    .read(&id, |doc| -> std::result::Result<_, ModelError> {
                        let d = dataset::read(doc, None)?;
                        let heads = heads_hex(&doc.get_heads());
                        Ok(kp_model::view::dataset(key, heads, &d, themes))
                    })??
            }
            other => {
                return Err(ApiError::Model(ModelError::WrongKind(format!(
                    "{id} is a {}; plugins analyse drafts and datasets",
                    other.as_str()
                ))));
            }
        };
        let mut given = std::collections::BTreeMap::new();
        for p in &req.params {
            let name = p.name.trim();
            if name.is_empty() {
                return Err(invalid(
                    "a parameter has no name (write --param name=value)",
                ));
            }
            if given.insert(name.to_owned(), p.value.clone()).is_some() {
                return Err(invalid(format!("parameter `{name}` is given twice")));
            }
        }
        let author = self.author(&req.author)?.to_owned();
        let read_ms = reading.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let ran = self.plugins.run(&req.plugin, view, &given);
        let seconds = started.elapsed().as_secs_f64();
        let name = req.plugin.trim();
        match &ran {
            Ok((plugin, out, _)) => {
                self.metrics
                    .plugin_run(&plugin.info.name, true, out.fuel_used, seconds);
            }
            // Only installed plugins are labels (a name not installed would
            // make a label of any word).
            Err(_) => {
                if let Ok(p) = self.plugins.get(name) {
                    self.metrics.plugin_run(&p.info.name, false, 0, seconds);
                }
            }
        }
        let (plugin, out, view) = ran?;
        let space: DocId = space_id
            .parse()
            .map_err(|_| invalid(format!("{id} belongs to no space on this node")))?;
        let logs = out
            .logs
            .iter()
            .filter_map(|l| serde_json::to_string(l).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let record = kp_model::analysis::Analysis {
            space: space_id.clone(),
            title: format!("{} on {}", plugin.info.name, view.title),
            doc: id.to_string(),
            doc_heads: view.heads.clone(),
            plugin: plugin.info.name.clone(),
            plugin_version: plugin.info.version.clone(),
            plugin_sha256: plugin.sha256.clone(),
            params: view.params.into_iter().collect(),
            fuel_used: out.fuel_used,
            report: String::from_utf8_lossy(&out.report_json).into_owned(),
            logs,
            author: author.clone(),
            created_at: now_secs(),
        };
        let note = ChangeNote::new(&author, format!("analysis by {}", plugin.info.name));
        let storing = Instant::now();
        let (aid, ()) = self
            .repo
            .create(&note, |doc| kp_model::analysis::init(doc, &space, &record))?;
        // Where the time of an analysis goes, for an operator.
        tracing::info!(
            analysis = %aid,
            doc = %id,
            plugin = %plugin.info.name,
            read_ms = format_args!("{read_ms:.1}"),
            run_ms = format_args!("{:.1}", seconds * 1e3),
            store_ms = format_args!("{:.1}", storing.elapsed().as_secs_f64() * 1e3),
            report_bytes = record.report.len(),
            "analysed"
        );
        Ok(analysis_reply(aid, record))
    }

    /// `kp analysis list`: the analyses of a document, oldest first.
    pub(crate) fn list_analyses(&self, req: pb::ListAnalysesRequest) -> Result<pb::AnalysisList> {
        let (id, meta) = self.any_doc(&req.doc_id)?;
        let key = id.to_string();
        let mut analyses = Vec::new();
        for (aid, m) in self.repo.list() {
            if m.kind != DocKind::Analysis || m.space != meta.space {
                continue;
            }
            let a = self
                .repo
                .read(&aid, |doc| kp_model::analysis::read(doc))??;
            if a.doc == key {
                analyses.push(analysis_reply(aid, a));
            }
        }
        analyses.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(pb::AnalysisList { analyses })
    }

    /// `kp analysis show`.
    pub(crate) fn get_analysis(&self, req: pb::GetAnalysisRequest) -> Result<pb::Analysis> {
        let id = self.doc_id(&req.id, DocKind::Analysis)?;
        let a = self.repo.read(&id, |doc| kp_model::analysis::read(doc))??;
        Ok(analysis_reply(id, a))
    }
}

/// Keeps the first `end` of `found` in the order `kp draft list` shows
/// (most recently updated first, then by title, then by id), sorted; only
/// what is kept is ordered in full.
fn keep_newest(found: &mut Vec<(DocId, Arc<DocMeta>)>, end: usize) {
    let newest_first = |a: &(DocId, Arc<DocMeta>), b: &(DocId, Arc<DocMeta>)| {
        b.1.updated_at
            .cmp(&a.1.updated_at)
            .then_with(|| a.1.title.cmp(&b.1.title))
            .then(a.0.cmp(&b.0))
    };
    if end < found.len() {
        if end == 0 {
            found.clear();
            return;
        }
        found.select_nth_unstable_by(end - 1, newest_first);
        found.truncate(end);
    }
    found.sort_unstable_by(newest_first);
}

fn plugin_reply(p: crate::plugins::Installed) -> pb::PluginInfo {
    pb::PluginInfo {
        name: p.info.name,
        version: p.info.version,
        summary: p.info.summary,
        kinds: p.info.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        themes: p.info.themes.iter().map(|t| u32::from(*t)).collect(),
        params: p
            .info
            .params
            .into_iter()
            .map(|q| pb::PluginParam {
                name: q.name,
                description: q.description,
                has_default: q.default.is_some(),
                default_value: q.default.unwrap_or_default(),
                kind: q.kind.as_str().to_owned(),
                choices: match q.kind {
                    kp_plugin_host::view::ParamKind::Choice(words) => words,
                    _ => Vec::new(),
                },
            })
            .collect(),
        sha256: p.sha256,
        size: p.size,
        installed_at: p.installed_at,
        api: p.contract,
    }
}

fn analysis_reply(id: DocId, a: kp_model::analysis::Analysis) -> pb::Analysis {
    pb::Analysis {
        id: id.to_string(),
        space_id: a.space,
        doc_id: a.doc,
        doc_heads: a.doc_heads,
        plugin: a.plugin,
        plugin_version: a.plugin_version,
        plugin_sha256: a.plugin_sha256,
        params: a
            .params
            .into_iter()
            .map(|(name, value)| pb::Param { name, value })
            .collect(),
        fuel_used: a.fuel_used,
        created_at: a.created_at,
        report_json: a.report,
        logs: a
            .logs
            .lines()
            .filter_map(|l| serde_json::from_str::<kp_plugin_host::LogLine>(l).ok())
            .map(|l| pb::LogLine {
                level: l.level,
                message: l.message,
            })
            .collect(),
        author: a.author,
    }
}

fn dataset_summary(
    id: DocId,
    title: &str,
    columns: Vec<dataset::Column>,
    rows: usize,
    created_at: i64,
    space: &DocId,
) -> pb::DatasetSummary {
    pb::DatasetSummary {
        id: id.to_string(),
        space_id: space.to_string(),
        title: title.to_owned(),
        column_count: columns.len() as u64,
        columns: columns
            .into_iter()
            .map(|c| pb::Column {
                name: c.name,
                column_type: c.column_type.as_str().into(),
            })
            .collect(),
        rows: rows as u64,
        created_at,
        space: String::new(),
    }
}

fn cell_reply(c: Cell) -> pb::Cell {
    use pb::cell::Value;
    pb::Cell {
        value: match c {
            Cell::Empty => None,
            Cell::Integer(n) => Some(Value::Integer(n)),
            Cell::Number(x) => Some(Value::Number(x)),
            Cell::Boolean(b) => Some(Value::Boolean(b)),
            Cell::Text(t) => Some(Value::Text(t)),
        },
    }
}

fn peer_reply(p: PeerInfo) -> pb::Peer {
    pb::Peer {
        node_id: p.id.to_string(),
        address: p.address,
        name: p.name,
        connected: p.sessions > 0,
        sessions: p.sessions,
        last_seen: p.last_seen,
        bytes_in: p.bytes_in,
        bytes_out: p.bytes_out,
        edits_in: p.edits_in,
        edits_out: p.edits_out,
        last_error: p.last_error,
        documents_behind: p.behind,
        documents_missing: p.missing,
        documents_shared: p.shared,
        catching_up_from: p.catching_up_from,
        in_sync: p.sessions > 0 && p.behind == 0 && p.missing == 0,
        refusal: p.refusal.map(|r| pb::peer::Refusal {
            reason: r.reason().into(),
            refused_by: r.refused_by().to_string(),
            refused: r.refused().to_string(),
            fix_on: r.fix_on().to_string(),
            fix: r.fix(),
        }),
        source: match p.source {
            Source::Config => "config",
            Source::Added => "added",
        }
        .into(),
    }
}

fn version_reply(v: draft::Version) -> pb::Version {
    pb::Version {
        label: v.label,
        heads: v.heads,
        created_at: v.created_at,
        author: v.author,
        node_id: v.node_id,
        note: v.note,
    }
}

fn comment_reply(c: draft::Comment) -> pb::Comment {
    pb::Comment {
        id: c.id,
        author: c.author,
        node_id: c.node_id,
        body: c.body,
        created_at: c.created_at,
        quote: c.quote,
        passage: c.passage,
        anchor: c.anchor.as_str().into(),
        start: c.start as u64,
        end: c.end as u64,
        resolved: c.resolved,
        replies: c
            .replies
            .into_iter()
            .map(|r| pb::Reply {
                author: r.author,
                node_id: r.node_id,
                body: r.body,
                created_at: r.created_at,
            })
            .collect(),
    }
}
