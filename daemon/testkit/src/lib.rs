//! Test support for kp's crates, linked by tests, benchmarks and the fuzz target
//! only: the in-memory store ([`MemStore`]), a disk that knows what is durable
//! and the store on it, whose power can be cut ([`Disk`], [`TwinStore`]), and
//! what a partner can send, recorded and replayable ([`peer_input`]).

mod disk;
mod mem;
pub mod peer_input;

pub use disk::{Disk, DiskFile, Entry, TwinStore};
pub use mem::MemStore;

use kp_proto::replication as rp;
use kp_repo::{Repo, RepoError};
use kp_sync::{Session, SyncError};

/// Frames into a session, as the node's driver takes them (round by round,
/// see [`Session::rounds`]): the session's answer, once what it took is
/// durable in `repo`.
pub fn receive_durably(
    repo: &Repo,
    session: &mut Session,
    frames: Vec<rp::Frame>,
) -> Result<Vec<rp::Frame>, SyncError> {
    let out = session.receive_in_rounds(frames, |t| wait_all(repo, t));
    wait_pending(repo, session)?;
    out
}

/// Waits until what `session` took from its peer is durable in `repo`.
pub fn wait_pending(repo: &Repo, session: &mut Session) -> Result<(), RepoError> {
    wait_all(repo, session.take_pending())
}

fn wait_all(repo: &Repo, tickets: Vec<kp_repo::Ticket>) -> Result<(), RepoError> {
    tickets.into_iter().try_for_each(|t| repo.wait(t))
}

/// Stores the sync states of `session` that changed, as the driver does.
pub fn save_states(repo: &Repo, session: &mut Session) -> Result<(), RepoError> {
    repo.put_metas(session.unsaved_states())?;
    session.states_saved();
    Ok(())
}
