//! The local gRPC API: the tonic service over [`Service`], and how errors become
//! gRPC statuses.

use std::sync::Arc;

use kp_proto::local as pb;
use kp_proto::local::local_server::Local;
use tonic::{Request, Response, Status};

use crate::accounts::AccountError;
use crate::peers::PeerError;
use crate::plugins::PluginError;
use crate::service::{ApiError, Service};
use kp_model::ModelError;
use kp_repo::RepoError;

/// The tonic service.
#[derive(Debug, Clone)]
pub(crate) struct LocalApi {
    service: Arc<Service>,
}

impl LocalApi {
    /// The API over `service`.
    pub(crate) fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// Runs `f` on a blocking thread: document work is CPU-bound and may wait
    /// for a commit round.
    async fn run<T, F>(&self, f: F) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
    {
        let service = Arc::clone(&self.service);
        match tokio::task::spawn_blocking(move || f(&service)).await {
            Ok(Ok(reply)) => Ok(Response::new(reply)),
            Ok(Err(e)) => Err(status(e)),
            Err(join) => Err(panicked(&join)),
        }
    }
}

/// The status of a request whose handler panicked, logged once here: the
/// one answer of [`LocalApi::run`] and [`LocalApi::stream`] alike.
fn panicked(what: &dyn std::fmt::Display) -> Status {
    tracing::error!("a request handler panicked: {what}");
    Status::internal("the request failed inside the node; see its log")
}

/// A reply streamed from a blocking thread.
type Stream<T> = tokio_stream::wrappers::ReceiverStream<Result<T, Status>>;

/// Drafts in one message of a streamed list.
const LIST_PAGE: usize = 1000;

impl LocalApi {
    /// Runs `f` on a blocking thread, streaming what it sends (a few messages
    /// ahead of the reader; a reader that goes away stops it). An error, or a
    /// panic, ends the stream with its status, so a reader never takes a
    /// stream cut short for a whole one.
    fn stream<T, F>(&self, f: F) -> Stream<T>
    where
        T: Send + 'static,
        F: FnOnce(&Service, &mut dyn FnMut(T) -> bool) -> Result<(), ApiError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let service = Arc::clone(&self.service);
        tokio::task::spawn_blocking(move || {
            let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(&service, &mut |item| tx.blocking_send(Ok(item)).is_ok())
            }));
            let end = match sent {
                Ok(Ok(())) => return,
                Ok(Err(e)) => status(e),
                Err(payload) => {
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a streamed reply".to_owned());
                    panicked(&what)
                }
            };
            let _ = tx.blocking_send(Err(end));
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// Maps an error to the gRPC status the `.proto` documents: the one place
/// where the node's errors meet the wire.
pub(crate) fn status(e: ApiError) -> Status {
    match e {
        ApiError::Model(m) => model_status(m),
        ApiError::Repo(r) => repo_status(r),
        ApiError::Plugin(PluginError::Refused(m)) => model_status(m),
        ApiError::Plugin(PluginError::Repo(r)) => repo_status(r),
        ApiError::Plugin(e) => Status::unavailable(e.to_string()),
        ApiError::Peer(PeerError::Store(r)) => repo_status(r),
        ApiError::Peer(e @ PeerError::Unknown(_)) => Status::not_found(e.to_string()),
        ApiError::Peer(e) => Status::invalid_argument(e.to_string()),
        ApiError::Account(AccountError::Repo(r)) => repo_status(r),
        ApiError::Account(e @ AccountError::Unknown(_)) => Status::not_found(e.to_string()),
        ApiError::Account(e @ AccountError::Exists(_)) => Status::already_exists(e.to_string()),
        ApiError::Account(e) => Status::invalid_argument(e.to_string()),
    }
}

fn model_status(m: ModelError) -> Status {
    match m {
        ModelError::Invalid(msg) | ModelError::WrongKind(msg) => Status::invalid_argument(msg),
        ModelError::NotFound(msg) => Status::not_found(msg),
        ModelError::Exists(msg) => Status::already_exists(msg),
        ModelError::TooLarge(msg) => Status::resource_exhausted(msg),
        ModelError::Plugin(msg) | ModelError::State(msg) => Status::failed_precondition(msg),
        ModelError::Forbidden(msg) => Status::permission_denied(msg),
        other => Status::internal(other.to_string()),
    }
}

fn repo_status(e: RepoError) -> Status {
    match e {
        RepoError::Model(m) => model_status(m),
        RepoError::NotFound(id) => Status::not_found(format!("no document {id} on this node")),
        RepoError::Exists(id) => {
            Status::already_exists(format!("a document {id} exists already on this node"))
        }
        e @ (RepoError::NotDurable(_) | RepoError::Store(_) | RepoError::ShuttingDown) => {
            Status::unavailable(e.to_string())
        }
        other => Status::internal(other.to_string()),
    }
}

/// Writes the `Local` impl: each rpc runs one [`Service`] method on a blocking
/// thread. (The impl is generated whole so that `async_trait` sees plain fns.)
macro_rules! local_impl {
    ($($name:ident($req:ty) -> $reply:ty = |$svc:ident, $r:ident| $body:expr;)*) => {
        #[tonic::async_trait]
        impl Local for LocalApi {
            $(
                async fn $name(&self, request: Request<$req>) -> Result<Response<$reply>, Status> {
                    let $r = request.into_inner();
                    self.run(move |$svc: &Service| $body).await
                }
            )*

            type BackupStream = Stream<pb::BackupChunk>;

            /// Streams the archive as the service writes it.
            async fn backup(
                &self,
                request: Request<pb::BackupRequest>,
            ) -> Result<Response<Self::BackupStream>, Status> {
                let with_key = request.into_inner().with_key;
                Ok(Response::new(self.stream(move |s, send| s.backup(with_key, send))))
            }

            type ListDraftsStream = Stream<pb::DraftList>;

            /// Streams the list a page at a time.
            async fn list_drafts(
                &self,
                request: Request<pb::ListDraftsRequest>,
            ) -> Result<Response<Self::ListDraftsStream>, Status> {
                let req = request.into_inner();
                Ok(Response::new(
                    self.stream(move |s, send| s.draft_pages(req, LIST_PAGE, send)),
                ))
            }
        }
    };
}

local_impl! {
    status(pb::StatusRequest) -> pb::StatusReply = |s, _r| Ok(s.status());
    create_space(pb::CreateSpaceRequest) -> pb::Space = |s, r| s.create_space(r);
    list_spaces(pb::ListSpacesRequest) -> pb::SpaceList = |s, _r| s.list_spaces();
    get_space(pb::GetSpaceRequest) -> pb::Space = |s, r| s.get_space(r);
    add_member(pb::AddMemberRequest) -> pb::Space = |s, r| s.add_member(r);
    remove_member(pb::RemoveMemberRequest) -> pb::Space = |s, r| s.remove_member(r);
    add_person(pb::AddPersonRequest) -> pb::Space = |s, r| s.add_person(r);
    remove_person(pb::RemovePersonRequest) -> pb::Space = |s, r| s.remove_person(r);
    new_draft(pb::NewDraftRequest) -> pb::DraftSummary = |s, r| s.new_draft(r);
    get_draft(pb::GetDraftRequest) -> pb::Draft = |s, r| s.get_draft(r);
    edit_draft(pb::EditDraftRequest) -> pb::EditReply = |s, r| s.edit_draft(r);
    draft_log(pb::DraftLogRequest) -> pb::ChangeLog = |s, r| s.draft_log(r);
    diff_draft(pb::DiffDraftRequest) -> pb::DiffReply = |s, r| s.diff_draft(r);
    tag_version(pb::TagVersionRequest) -> pb::Version = |s, r| s.tag_version(r);
    add_comment(pb::AddCommentRequest) -> pb::Comment = |s, r| s.add_comment(r);
    list_comments(pb::ListCommentsRequest) -> pb::CommentList = |s, r| s.list_comments(r);
    reply_comment(pb::ReplyCommentRequest) -> pb::Comment = |s, r| s.reply_comment(r);
    resolve_comment(pb::ResolveCommentRequest) -> pb::Comment = |s, r| s.resolve_comment(r);
    import_dataset(pb::ImportDatasetRequest) -> pb::DatasetSummary = |s, r| s.import_dataset(r);
    get_dataset(pb::GetDatasetRequest) -> pb::Dataset = |s, r| s.get_dataset(r);
    list_datasets(pb::ListDatasetsRequest) -> pb::DatasetList = |s, r| s.datasets_of(r);
    set_dataset_open(pb::SetDatasetOpenRequest) -> pb::Dataset = |s, r| s.set_dataset_open(r);
    verify(pb::VerifyRequest) -> pb::VerifyReply = |s, _r| s.verify();
    portal_paths(pb::PortalPathsRequest) -> pb::PortalPaths = |s, _r| crate::portal::paths(s);
    portal_file(pb::PortalFileRequest) -> pb::PortalFile = |s, r| crate::portal::file(s, r);
    new_event(pb::EventRequest) -> pb::Event = |s, r| s.new_event(r);
    edit_event(pb::EventRequest) -> pb::Event = |s, r| s.edit_event(r);
    get_event(pb::GetEventRequest) -> pb::Event = |s, r| s.get_event(r);
    list_events(pb::ListEventsRequest) -> pb::EventList = |s, r| s.list_events(r);
    add_peer(pb::AddPeerRequest) -> pb::Peer = |s, r| s.add_peer(r);
    list_peers(pb::ListPeersRequest) -> pb::PeerList = |s, _r| Ok(s.list_peers());
    remove_peer(pb::RemovePeerRequest) -> pb::RemovePeerReply = |s, r| s.remove_peer(r);
    install_plugin(pb::InstallPluginRequest) -> pb::PluginInfo = |s, r| s.install_plugin(r);
    list_plugins(pb::ListPluginsRequest) -> pb::PluginList = |s, _r| s.list_plugins();
    get_plugin(pb::GetPluginRequest) -> pb::PluginInfo = |s, r| s.get_plugin(r);
    remove_plugin(pb::RemovePluginRequest) -> pb::RemovePluginReply = |s, r| s.remove_plugin(r);
    analyze(pb::AnalyzeRequest) -> pb::Analysis = |s, r| s.analyze(r);
    list_analyses(pb::ListAnalysesRequest) -> pb::AnalysisList = |s, r| s.list_analyses(r);
    get_analysis(pb::GetAnalysisRequest) -> pb::Analysis = |s, r| s.get_analysis(r);
    review(pb::ReviewRequest) -> pb::ReviewState = |s, r| s.review(r);
    get_review(pb::GetReviewRequest) -> pb::ReviewState = |s, r| s.get_review(r);
    review_inbox(pb::ReviewInboxRequest) -> pb::ReviewInbox = |s, r| s.review_inbox(r);
    export_draft(pb::ExportDraftRequest) -> pb::ExportReply = |s, r| s.export_draft(r);
    blame(pb::BlameRequest) -> pb::ChangeLog = |s, r| s.blame(r);
    indicators(pb::IndicatorsRequest) -> pb::IndicatorsReply = |s, r| s.indicators(r);
    add_user(pb::AddUserRequest) -> pb::UserLogin = |s, r| s.add_user(r);
    list_users(pb::ListUsersRequest) -> pb::UserList = |s, _r| Ok(s.list_users());
    remove_user(pb::RemoveUserRequest) -> pb::RemoveUserReply = |s, r| s.remove_user(r);
    new_login(pb::NewLoginRequest) -> pb::UserLogin = |s, r| s.new_login(r);
}
